"""Video readers: decode only the frames a sample needs.

Two backends give the same output, a uint8 RGB array shaped (frames, height, width, 3):

- ``pyav`` (the default, everywhere): seeks to the keyframe before the first frame asked for where
  the file's timestamps are frame indices, else decodes from the start counting frames (some UCF-101
  files have B-frames whose timestamps cannot be trusted); it stops after the last frame asked for
  and converts to RGB only the frames asked for.
- ``decord`` (on request, where its wheel exists): seeks and decodes in C++. On UCF-101's clips it
  was slower than the PyAV path here (`ssv bench decode`), and it sometimes returns a wrong last
  frame for B-frame files, so its last frames are read with PyAV.

Audio tracks are ignored. Frame counts and frame rates come from the container and are cached
per file (path, size, mtime). A missing, empty, truncated or corrupt file raises `VideoError`
naming the file.
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BACKENDS = ("auto", "decord", "pyav")
_TAIL = 4  # decord reads of the last frames are unreliable; see _decord_frames


class VideoError(RuntimeError):
    """A video could not be opened or decoded; the message names the file and what to do."""


@dataclass(frozen=True)
class VideoInfo:
    """What a sampler needs to know about a video before decoding any frame."""

    num_frames: int
    fps: float
    height: int
    width: int
    keyframes: tuple[int, ...] = (0,)
    seekable: bool = False


@functools.cache
def has_decord() -> bool:
    """True when the decord package can be imported."""
    return importlib.util.find_spec("decord") is not None


def resolve_backend(backend: str = "auto") -> str:
    """Turn 'auto' into 'pyav' (measured faster here, see the module docstring); check the name."""
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is not valid; choose one of {BACKENDS}")
    if backend == "auto":
        return "pyav"
    if backend == "decord" and not has_decord():
        raise ValueError("backend='decord' asked for, but decord is not installed; use 'pyav'")
    return backend


def _checked(path: str | Path) -> Path:
    """The path as a Path, after checking that the file exists and is not empty."""
    path = Path(path)
    if not path.is_file():
        raise VideoError(
            f"video file {path} does not exist (check the data root, or run `ssv data check`)"
        )
    if path.stat().st_size == 0:
        raise VideoError(f"video file {path} is empty: delete it and extract or download it again")
    return path


def _broken(path: Path, err: Exception) -> VideoError:
    """The error for a file the decoder rejects."""
    return VideoError(
        f"cannot decode {path}: {type(err).__name__}: {err}. The file is corrupt or truncated: "
        f"delete it and extract or download it again"
    )


def video_info(path: str | Path) -> VideoInfo:
    """Frame count, frame rate and size of a video, read from its container (cached per file).

    Frames are counted by demuxing the video packets, without decoding, for both backends. A file
    holding fewer frames than its header announces is reported as truncated.
    """
    path = _checked(path)
    stat = path.stat()
    return _video_info(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=65536)
def _video_info(path: str, size: int, mtime_ns: int) -> VideoInfo:
    """Uncached video_info; the size and mtime arguments make a changed file a new cache entry."""
    import av

    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise VideoError(f"{path} has no video stream: is it really a video?")
            stream = container.streams.video[0]
            announced = stream.frames
            packets = [p for p in container.demux(stream) if p.size > 0]
            count = len(packets)
            fps = float(stream.average_rate or stream.guessed_rate or 0.0)
            keyframes = tuple(i for i, p in enumerate(packets) if p.is_keyframe) or (0,)
            # Seeking is safe when every packet's timestamps equal its frame index (no B-frames).
            seekable = all(p.pts == p.dts == i for i, p in enumerate(packets))
            info = VideoInfo(count, fps, stream.height, stream.width, keyframes, seekable)
    except VideoError:
        raise
    except Exception as err:  # PyAV raises its own error types
        raise _broken(Path(path), err) from err
    if count == 0:
        raise VideoError(
            f"video file {path} holds no frame: delete it and extract or download it again"
        )
    if announced > count:
        raise VideoError(
            f"video file {path} is truncated: its header announces {announced} frames but it holds "
            f"{count}; delete it and extract or download it again"
        )
    return info


def _decord_reader(path: str):
    """A single-threaded decord VideoReader (threads belong to DataLoader workers)."""
    import decord

    return decord.VideoReader(path, num_threads=1)


def read_frames(path: str | Path, indices: Sequence[int], backend: str = "auto") -> np.ndarray:
    """Decode the frames at `indices` (any order, repeats allowed) as uint8 RGB (n, H, W, 3)."""
    path = _checked(path)
    backend = resolve_backend(backend)
    indices = [int(i) for i in indices]
    if not indices:
        raise ValueError("read_frames needs at least one frame index")
    info = video_info(path)
    bad = [i for i in indices if not 0 <= i < info.num_frames]
    if bad:
        raise VideoError(
            f"{path} has {info.num_frames} frames; frame {bad[0]} was asked for. The video is too "
            f"short for this sample: use shorter clips, a smaller step, or drop the video"
        )
    wanted = sorted(set(indices))
    try:
        if backend == "decord":
            frames = _decord_frames(path, wanted, info)
        else:
            frames = _pyav_frames(path, wanted, info)
    except VideoError:
        raise
    except Exception as err:
        raise _broken(path, err) from err
    position = {index: k for k, index in enumerate(wanted)}
    return frames[[position[i] for i in indices]]


def _decord_frames(path: Path, wanted: list[int], info: VideoInfo) -> np.ndarray:
    """Decode the wanted (sorted, unique) frames with decord, the last few with PyAV.

    decord sometimes returns a wrong picture for the last frames of a file with B-frames (UCF-101's
    ApplyEyeMakeup clips, for one): about 1 read in 30 that seeks to the last frame, at random. The
    last `_TAIL` frames are therefore decoded with PyAV, which gets them right.
    """
    body = [i for i in wanted if i < info.num_frames - _TAIL]
    tail = [i for i in wanted if i >= info.num_frames - _TAIL]
    parts = []
    if body:
        parts.append(_decord_reader(str(path)).get_batch(body).asnumpy())
    if tail:
        parts.append(_pyav_frames(path, tail, info))
    return np.concatenate(parts)


_local = threading.local()


def _reformatter():
    """This thread's PyAV reformatter: reusing it keeps its conversion context (3x faster)."""
    if not hasattr(_local, "reformatter"):
        from av.video.reformatter import VideoReformatter

        _local.reformatter = VideoReformatter()
    return _local.reformatter


def _pyav_frames(path: Path, wanted: list[int], info: VideoInfo) -> np.ndarray:
    """Decode forward from the keyframe before the first wanted frame, converting only wanted ones.

    Where the timestamps are frame indices (`info.seekable`), the reader seeks; otherwise it decodes
    from the start and counts frames, since timestamps of B-frame files cannot be trusted.
    """
    import av

    first, last, need = wanted[0], wanted[-1], set(wanted)
    start = max(k for k in info.keyframes if k <= first) if info.seekable else 0
    frames, index = [], -1
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if start > 0:
            container.seek(start, stream=stream, backward=True, any_frame=False)
        for frame in container.decode(stream):
            index = frame.pts if info.seekable else index + 1
            if index in need:
                rgb = _reformatter().reformat(frame, format="rgb24", interpolation="AREA")
                frames.append(rgb.to_ndarray())
            if index >= last:
                break
    if len(frames) < len(wanted):
        raise VideoError(
            f"{path} decoded only up to frame {index} but frame {last} was asked for: the file is "
            f"truncated or corrupt; delete it and extract or download it again"
        )
    return np.stack(frames)


def read_all_frames(path: str | Path, backend: str = "auto") -> np.ndarray:
    """Decode every frame of a video as uint8 RGB (T, H, W, 3)."""
    return read_frames(path, range(video_info(path).num_frames), backend)
