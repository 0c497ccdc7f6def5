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


def _rate(
    sample: Callable[[Path, np.random.Generator], np.ndarray],
    paths: list[Path],
    repeats: int,
    seed: int,
) -> float:
    """Samples per second of `sample` over `repeats` passes through `paths`."""
    rng = np.random.default_rng(seed)
    count, start = 0, time.perf_counter()
    for _ in range(repeats):
        for path in paths:
            sample(path, rng)
            count += 1
    return count / (time.perf_counter() - start)


def bench_decode(
    root: str | Path,
    repeats: int = 3,
    backend: str = "auto",
    limit: int | None = None,
    seed: int = 0,
) -> dict:
    """Compare whole-video decoding with ssvlib's reader on VCOP-shaped samples, one worker."""
    import cv2

    cv2.setNumThreads(1)
    paths = sorted(Path(root).expanduser().rglob("*.avi"))[:limit]
    if not paths:
        raise FileNotFoundError(
            f"no .avi video under {root}: pass a UCF-101 root or its UCF-101/ folder"
        )
    backend = resolve_backend(backend)
    for path in paths:  # frame counts are cached once, as a training run's index would be
        video_info(path)

    def whole(path: Path, rng: np.random.Generator) -> np.ndarray:
        frames = decode_whole_video(path)
        return frames[vcop_indices(len(frames), rng)]

    def ours(path: Path, rng: np.random.Generator) -> np.ndarray:
        return read_frames(path, vcop_indices(video_info(path).num_frames, rng), backend)

    ours(paths[0], np.random.default_rng(seed))  # warm-up: imports and first open
    whole_rate = _rate(whole, paths, repeats, seed)
    ours_rate = _rate(ours, paths, repeats, seed)
    return {
        "videos": len(paths),
        "samples": len(paths) * repeats,
        "sample": "3 clips x 16 frames, 8 frames apart",
        "backend": backend,
        "whole_video_samples_per_s": round(whole_rate, 2),
        "ssvlib_samples_per_s": round(ours_rate, 2),
        "ratio": round(ours_rate / whole_rate, 2),
    }
