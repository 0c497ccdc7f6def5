"""Benchmarks that print numbers (speed targets live here, never in timed tests)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .data.video import read_frames, resolve_backend, video_info
from .tasks.vcop import VCOP


def vcop_indices(num_frames: int, rng: np.random.Generator) -> list[int]:
    """Frame indices of one sample of the paper's VCOP task (3 clips of 16 frames, 8 apart).

    A video shorter than the 64-frame window gives the indices of its first 64 frames, clipped
    to the video (the benchmark times decoding, not the dropping rule).
    """
    task = VCOP()
    if num_frames < task.min_frames:
        return [min(i, num_frames - 1) for i in range(task.min_frames)]
    return [int(i) for element in task.sample(num_frames, rng).elements for i in element]


def decode_whole_video(path: Path) -> np.ndarray:
    """Decode every frame with OpenCV, as the published implementations do (BGR to RGB)."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    capture.release()
    return np.stack(frames)


def bench_decode(
    root: str | Path,
    repeats: int = 3,
    backend: str = "auto",
    limit: int | None = None,
    seed: int = 0,
) -> dict:
    """Compare whole-video decoding with ssvlib's reader on VCOP-shaped samples, one worker.

    Both read the same samples, alternating video by video so that both see the same machine;
    of `repeats` passes, the fastest of each side counts (the least disturbed by other work).
    """
    import cv2

    cv2.setNumThreads(1)
    paths = sorted(Path(root).expanduser().rglob("*.avi"))[:limit]
    if not paths:
        raise FileNotFoundError(
            f"no .avi video under {root}: pass a UCF-101 root or its UCF-101/ folder"
        )
    resolve_backend(backend)  # checks the name; "auto" chooses per video in read_frames
    counts = [video_info(path).num_frames for path in paths]  # cached, as a run's index is
    read_frames(paths[0], [0], backend)  # warm-up: imports and first open
    whole_s, ours_s = [], []
    for _ in range(max(1, repeats)):
        rng, whole, ours = np.random.default_rng(seed), 0.0, 0.0
        for path, count in zip(paths, counts, strict=True):
            indices = vcop_indices(count, rng)
            start = time.perf_counter()
            frames = decode_whole_video(path)
            frames[[min(i, len(frames) - 1) for i in indices]]
            middle = time.perf_counter()
            read_frames(path, indices, backend)
            whole += middle - start
            ours += time.perf_counter() - middle
        whole_s.append(whole)
        ours_s.append(ours)
    whole_rate, ours_rate = len(paths) / min(whole_s), len(paths) / min(ours_s)
    return {
        "videos": len(paths),
        "passes": max(1, repeats),
        "sample": "3 clips x 16 frames, 8 frames apart",
        "backend": backend,
        "whole_video_samples_per_s": round(whole_rate, 2),
        "ssvlib_samples_per_s": round(ours_rate, 2),
        "ratio": round(ours_rate / whole_rate, 2),
    }


PAPERS = ("shuffle_learn", "opn", "o3n", "vcop")


def paper_presets(paper: str) -> dict:
    """The PRESETS of a paper's task module (`ssvlib.tasks.<paper>`)."""
    import importlib

    from .config import check_choice

    check_choice("paper", paper, PAPERS)
    return importlib.import_module(f"ssvlib.tasks.{paper}").PRESETS


def present_videos(root: str | Path, dataset: str = "ucf101", split: int = 1) -> list:
    """Every present video of a root's official split, training and test (any number)."""
    from .data.ucf101 import present
    from .data.videos import load_index

    index = load_index(dataset, root, split)
    records = present(index.train + index.test)
    if not records:
        raise FileNotFoundError(
            f"no video of {dataset} split {split} is present under {root}: run "
            f"`ssv data check {root} --dataset {dataset}`"
        )
    return records


class _Timed:
    """Wraps a function and adds the seconds spent in it to `seconds`."""

    def __init__(self, function: Callable) -> None:
        self.function, self.seconds = function, 0.0

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.function(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start


def _loader_pass(data, order: list[int], frames_of: Callable, batch_size: int, cached=None) -> dict:
    """One pass over `order`: seconds of decoding alone, of the dataset (and of decoding inside
    it), of collating its samples batch by batch, and of the `cached` dataset's samples (with
    their collating), alternating sample by sample."""
    from torch.utils.data import default_collate

    from .data import video

    timed = _Timed(video.read_frames)
    seconds = {"decode_only": 0.0, "dataset": 0.0, "collate": 0.0, "cached": 0.0}
    made, made_cached = [], []
    video.read_frames = timed
    try:
        for n, i in enumerate(order, start=1):  # alternating: all see the same machine
            start = time.perf_counter()
            timed.function(data.records[i].path, frames_of(i))
            middle = time.perf_counter()
            made.append(data[i])
            seconds["decode_only"] += middle - start
            seconds["dataset"] += time.perf_counter() - middle
            if cached is not None:
                decoding = timed.seconds
                start = time.perf_counter()
                made_cached.append(cached[i])
                seconds["cached"] += time.perf_counter() - start
                timed.seconds = decoding  # the decoding split is the on-the-fly dataset's
            if len(made) == batch_size or n == len(order):
                start = time.perf_counter()
                default_collate(made)  # then dropped, as a loader hands it on
                middle = time.perf_counter()
                if made_cached:
                    default_collate(made_cached)
                seconds["collate"] += middle - start
                seconds["cached"] += time.perf_counter() - middle
                made, made_cached = [], []
    finally:
        video.read_frames = timed.function
    return {**seconds, "decode": timed.seconds}


def bench_loader(
    root: str | Path,
    paper: str = "vcop",
    preset: str = "paper",
    *,
    dataset: str = "ucf101",
    cache: str | Path | None = None,
    samples: int = 64,
    passes: int = 3,
    seed: int = 0,
) -> dict:
    """Per-core samples/s of a paper's pretext dataset against decoding its frames alone.

    Both sides draw the same samples (the task's sampler on the same generators) from the
    present videos of `root`, in one process on one thread, alternating sample by sample; the
    fastest of `passes` passes counts for each side. The dataset's time is split into decoding
    (inside the reader), the rest of making a sample (sampling, motion lookup, crop, resize,
    mirror, layout: "transforms") and collating batches of the preset's size. Motion curves
    (motion-aware tasks) are computed before timing, as a run's first epoch does. With `cache`
    (a folder made by `ssv data cache`), the same samples are also made from the cached videos,
    and their rate is compared with the on-the-fly dataset's.
    """
    import cv2
    import torch

    from .data import datasets

    cv2.setNumThreads(1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        recipe = paper_presets(paper)[preset]
        records = present_videos(root, dataset)
        data = datasets.TupleDataset(
            records, recipe.task, recipe.view, train=True, seed=seed, motion=recipe.motion
        )
        order = [i % len(data) for i in range(samples)]
        motions = {}
        if recipe.motion and recipe.task.motion_aware:
            from .data.motion import video_motion

            for i in sorted(set(order)):
                motions[i] = video_motion(data.records[i].path, recipe.motion)

        def frames_of(i: int) -> list[int]:
            elements, _ = recipe.task.sample(data.num_frames[i], data.rng(i), motions.get(i))
            return sorted({int(f) for element in elements for f in element})

        cached = None
        if cache is not None:
            cached = datasets.TupleDataset(
                cached_records(data.records, root, cache, dataset), recipe.task, recipe.view,
                train=True, seed=seed, motion=recipe.motion,
            )  # fmt: skip
        for i in sorted(set(order)):  # warm-up: imports, first opens, the file cache
            data[i]
            if cached is not None:
                cached[i]
        batch = recipe.pretext.batch_size
        runs = [_loader_pass(data, order, frames_of, batch, cached) for _ in range(passes)]
    finally:
        torch.set_num_threads(threads)
    decode_only = min(run["decode_only"] for run in runs)
    best = min(runs, key=lambda run: run["dataset"] + run["collate"])
    total = best["dataset"] + best["collate"]
    extra = {}
    if cached is not None:
        fastest = min(run["cached"] for run in runs)
        extra = {
            "cache": str(cache),
            "cached_samples_per_s": round(samples / fastest, 2),
            "cache_speedup": round(total / fastest, 2),
        }
    return {
        "paper": paper,
        "preset": preset,
        "dataset": dataset,
        "videos": len(data),
        "samples": samples,
        "passes": passes,
        "frames_per_sample": len(frames_of(order[0])),
        "decode_only_samples_per_s": round(samples / decode_only, 2),
        "dataset_samples_per_s": round(samples / total, 2),
        "ratio": round(decode_only / total, 2),
        "ms_per_sample": {
            "decode": round(1000 * best["decode"] / samples, 2),
            "transforms": round(1000 * (best["dataset"] - best["decode"]) / samples, 2),
            "collate": round(1000 * best["collate"] / samples, 2),
        },
        **extra,
    }


def cached_records(records: list, root: str | Path, cache: str | Path, dataset: str) -> list:
    """The same videos in a cache made by `ssv data cache` from `root` (checked to be there)."""
    import dataclasses

    from .data.cache import LAYOUTS

    folder = Path(cache).expanduser().resolve() / LAYOUTS[dataset][0]
    moved = [dataclasses.replace(r, path=folder / r.rel) for r in records]
    absent = [r.rel for r in moved if not r.path.is_file()]
    if absent:
        raise FileNotFoundError(
            f"{len(absent)} videos of {root} are not in the cache {cache}, e.g. {absent[0]}: "
            f"run `ssv data cache {root} {cache}` first"
        )
    return moved
