"""A preprocessed copy of a dataset for repeated runs: every video decoded and resized once.

`make_cache(ROOT, OUT)` (``ssv data cache ROOT OUT``) writes the videos of a UCF-101 or HMDB-51
root resized to `size` (128x171, VCOP's paper size, by default) into OUT in the same layout,
split files included, so that a chapter reads it with ``data_root=OUT``: a View whose size is
the cache's then only crops, and the decoder works on a third of the pixels.

The cached videos are motion JPEG in AVI (every frame a JPEG of quality `QUALITY`, about as
many bytes as the source's MPEG-4 at a third of the pixels), which any player opens and which
ssvlib's reader decodes frame by frame: a sample decodes its own frames and no other, with
OpenCV's JPEG decoder (`ssvlib.data.decode`). Each video is written under a temporary name, checked
(its frame count equals the frames the source decodes to, and its first, middle and last
frames match the source decoded and resized on the fly within `MAX_MEAN_ERROR` grey levels)
and only then renamed into place: an interrupted run resumes where it stopped, and a video in
OUT is always a finished, checked one. Videos that cannot be read are listed, not cached.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..files import atomic_write, atomic_write_text
from . import hmdb51, ucf101
from .decode import VideoError, read_all_frames, read_frames, video_info

VERSION = 1  # bump when the cached files change, so that an old cache is not mixed with a new
INFO_NAME = ".ssv-cache.json"
QUALITY = 5  # FFmpeg's MJPEG quantiser scale: 2 is the finest, 31 the coarsest
MAX_MEAN_ERROR = 6.0  # grey levels, mean over a frame: what re-encoding may change
LAYOUTS = {  # dataset: (video folder, split folder)
    "ucf101": (ucf101.VIDEO_DIR, ucf101.SPLIT_DIR),
    "hmdb51": (hmdb51.VIDEO_DIR, hmdb51.SPLIT_DIR),
}


class CacheError(RuntimeError):
    """The cache folder belongs to another source or size, or a cached video failed its check."""


@dataclass(frozen=True)
class Job:
    """One video to cache: where it is, where it goes, at which size."""

    source: Path
    target: Path
    size: tuple[int, int]


def parse_size(text: str) -> tuple[int, int]:
    """'128x171' -> (128, 171): height x width."""
    try:
        height, width = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"size {text!r}: write it as HEIGHTxWIDTH, e.g. 128x171") from None
    if height < 16 or width < 16:
        raise ValueError(f"size {text!r}: both sides must be at least 16 pixels")
    return height, width


def resize_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(T, H, W, 3) frames resized to `size` (h, w), interpolated as the datasets' crops are."""
    from .datasets import interpolation_for

    (height, width), (h, w) = frames.shape[1:3], size
    flag = interpolation_for((height, width), (h, w))
    return np.stack([cv2.resize(frame, (w, h), interpolation=flag) for frame in frames])


def write_video(path: Path, frames: np.ndarray, fps: float) -> None:
    """Encode (T, H, W, 3) uint8 RGB frames as the cache's motion-JPEG AVI."""
    import av

    q = str(QUALITY)
    with av.open(str(path), "w", format="avi") as container:
        stream = container.add_stream(
            "mjpeg", rate=round(fps or 25), options={"qmin": q, "qmax": q}
        )
        stream.codec_context.thread_count = 1
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuvj420p"
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())


def check_cached(path: Path, source: Path, size: tuple[int, int]) -> None:
    """Raise CacheError unless `path` has the source's frames, at `size`, close to them."""
    info, expected = video_info(path), video_info(source).num_frames
    if info.num_frames != expected or (info.height, info.width) != size:
        raise CacheError(
            f"cached {path} has {info.num_frames} frames of {info.height}x{info.width}; "
            f"expected {expected} of {size[0]}x{size[1]} from {source}"
        )
    picks = sorted({0, expected // 2, expected - 1})
    wanted = resize_frames(read_frames(source, picks), size).astype(np.int16)
    error = np.abs(read_frames(path, picks).astype(np.int16) - wanted).mean(axis=(1, 2, 3))
    if error.max() > MAX_MEAN_ERROR:
        raise CacheError(
            f"cached {path} differs from {source} by {error.max():.1f} grey levels on average "
            f"(at most {MAX_MEAN_ERROR} allowed): delete it and run `ssv data cache` again"
        )


def cache_video(job: Job) -> dict:
    """Decode, resize, encode, check and move one video into place; a summary of what it did."""
    if job.target.is_file():
        return {"video": str(job.source), "skipped": True, "bytes": job.target.stat().st_size}
    try:
        frames = read_all_frames(job.source)
        fps = video_info(job.source).fps
    except VideoError as err:
        return {"video": str(job.source), "error": str(err)}
    job.target.parent.mkdir(parents=True, exist_ok=True)

    def write(tmp: Path) -> None:
        write_video(tmp, resize_frames(frames, job.size), fps)
        check_cached(tmp, job.source, job.size)

    atomic_write(job.target, write)
    return {"video": str(job.source), "frames": len(frames), "bytes": job.target.stat().st_size}


def _jobs(root: Path, out: Path, dataset: str, size: tuple[int, int]) -> tuple[list[Job], int]:
    """Every present video named by any split file, and how many named videos are absent."""
    from .videos import load_index

    video_dir = LAYOUTS[dataset][0]
    records = {}
    for split in (1, 2, 3):
        index = load_index(dataset, root, split)
        records.update({r.rel: r for r in index.train + index.test})
    present = [r for r in records.values() if r.path.is_file()]
    jobs = [Job(r.path, out / video_dir / r.rel, size) for r in present]
    return sorted(jobs, key=lambda job: job.target), len(records) - len(present)


def _claim(out: Path, root: Path, dataset: str, size: tuple[int, int]) -> None:
    """Write OUT's description, or check that OUT already caches this source at this size."""
    info = {
        "version": VERSION,
        "source": str(root),
        "dataset": dataset,
        "size": list(size),
        "quality": QUALITY,
    }
    path = out / INFO_NAME
    if path.is_file():
        found = json.loads(path.read_text())
        if {k: found.get(k) for k in info} != info:
            raise CacheError(
                f"{out} already caches {found.get('dataset')} from {found.get('source')} at "
                f"{found.get('size')} (version {found.get('version')}); choose another folder "
                "or delete it"
            )
        return
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(info, indent=2) + "\n")


def make_cache(
    root: str | Path,
    out: str | Path,
    *,
    dataset: str = "ucf101",
    size: tuple[int, int] = (128, 171),
    workers: int | None = None,
    progress: bool = True,
) -> dict:
    """Cache every present video of `root` into `out` at `size` (h, w); resumable. Returns a
    summary: videos cached now and before, unreadable ones, bytes, frames and seconds."""
    from tqdm.auto import tqdm

    from ..settings import check_choice

    check_choice("dataset", dataset, tuple(LAYOUTS))
    root, out = Path(root).expanduser().resolve(), Path(out).expanduser().resolve()
    if out == root or root in out.parents:
        raise CacheError(f"the cache {out} must lie outside the source root {root}")
    jobs, absent = _jobs(root, out, dataset, size)
    _claim(out, root, dataset, size)
    split_dir = LAYOUTS[dataset][1]
    shutil.copytree(root / split_dir, out / split_dir, dirs_exist_ok=True)
    workers = workers or max(1, min(len(jobs), os.cpu_count() or 1))
    started = time.perf_counter()
    with ProcessPoolExecutor(workers) if workers > 1 else contextlib.nullcontext() as pool:
        results = pool.map(cache_video, jobs, chunksize=4) if pool else map(cache_video, jobs)
        bar = tqdm(results, total=len(jobs), desc="caching", unit="video", disable=not progress)
        done = list(bar)
    made = [r for r in done if "frames" in r]
    return {
        "root": str(root),
        "cache": str(out),
        "size": f"{size[0]}x{size[1]}",
        "videos_cached": len(made),
        "videos_already_cached": sum(1 for r in done if r.get("skipped")),
        "unreadable": [r["video"] for r in done if "error" in r],
        "absent_from_root": absent,
        "frames_cached": sum(r["frames"] for r in made),
        "bytes": sum(r.get("bytes", 0) for r in done),
        "seconds": round(time.perf_counter() - started, 1),
    }
