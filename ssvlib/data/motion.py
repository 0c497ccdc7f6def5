"""Motion: how much moves in each frame, where in time, and where in the frame.

Shuffle and Learn samples its frame tuples inside high-motion windows of a video, and OPN picks
frames and a spatial window with large motion. Neither released that selection code; this module
is our version of it:

* `frame_motion` gives one number per frame: the mean optical-flow magnitude (Farneback) or, the
  fast mode, the mean absolute difference of consecutive gray frames;
* `video_motion` does it for a video file and caches the result under ``cache_dir()/motion``;
* `window_scores`, `high_motion_windows` and `sample_high_motion_window` turn per-frame motion into
  the start of a window of frames;
* `motion_map` and `high_motion_patch` find where in the frame things move.

Convention: ``motion[t]`` is the motion from frame t-1 to frame t; ``motion[0]`` copies
``motion[1]`` (0 for a one-frame video), so the array has one entry per frame.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ssvlib.config import cache_dir
from ssvlib.files import atomic_write

from ..settings import check_choice

METHODS = ("farneback", "diff")
CACHE_VERSION = 1  # bump when frame_motion's output changes, so old caches are not reused
_FARNEBACK = dict(
    pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0
)


def _check_frames(frames: np.ndarray) -> np.ndarray:
    """Return `frames` as an array after checking it is (T, H, W, 3) or (T, H, W)."""
    frames = np.asarray(frames)
    if frames.ndim not in (3, 4) or (frames.ndim == 4 and frames.shape[-1] != 3):
        raise ValueError(
            f"frames must be (T, H, W, 3) RGB or (T, H, W) gray, got shape {frames.shape}"
        )
    return frames


def to_gray(frames: np.ndarray, short_side: int | None = None) -> np.ndarray:
    """Gray (T, h, w) float32 frames, area-shrunk so that the short side is `short_side`."""
    frames = _check_frames(frames)
    height, width = frames.shape[1:3]
    size = None
    if short_side is not None and min(height, width) > short_side:
        scale = short_side / min(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))  # cv2 wants (w, h)
    out = []
    for frame in frames:
        gray = (
            frame
            if frame.ndim == 2
            else cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
        )
        if size is not None:
            gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        out.append(gray.astype(np.float32))
    return np.stack(out) if out else np.zeros((0, height, width), np.float32)


def _pair_motion(prev: np.ndarray, nxt: np.ndarray, method: str) -> float:
    """Mean motion between two gray float32 frames."""
    if method == "diff":
        return float(np.abs(nxt - prev).mean())
    flow = cv2.calcOpticalFlowFarneback(
        prev.astype(np.uint8), nxt.astype(np.uint8), None, **_FARNEBACK
    )
    return float(np.sqrt((flow**2).sum(-1)).mean())


def frame_motion(
    frames: np.ndarray, method: str = "farneback", short_side: int | None = 64
) -> np.ndarray:
    """Per-frame motion, float32 of length T: mean Farneback flow magnitude or mean gray difference.

    ``"farneback"`` is in pixels per frame at the reduced size; ``"diff"`` is in gray levels (0-255)
    and about 8 times faster (a 160-frame UCF-101 clip: 0.05 s against 0.4 s on one CPU core).
    Frames are first shrunk so the short side is `short_side` (None keeps full size, about 10 times
    slower for Farneback). Entry 0 copies entry 1 (0 when T == 1).
    """
    check_choice("method", method, METHODS)
    gray = to_gray(frames, short_side)
    motion = np.zeros(len(gray), np.float32)
    for t in range(1, len(gray)):
        motion[t] = _pair_motion(gray[t - 1], gray[t], method)
    if len(motion) > 1:
        motion[0] = motion[1]
    return motion


def _cache_path(path: Path, method: str, short_side: int | None) -> Path:
    """Cache file for one video and method, keyed on resolved path, size and mtime."""
    stat = path.stat()
    key = f"{path}|{stat.st_size}|{stat.st_mtime_ns}|{method}|{short_side}|v{CACHE_VERSION}"
    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    return cache_dir() / "motion" / f"{path.stem}-{method}-{digest}.npy"


def video_motion(
    path: str | Path,
    method: str = "farneback",
    backend: str = "auto",
    short_side: int | None = 64,
) -> np.ndarray:
    """`frame_motion` of a whole video file, cached as .npy under ``cache_dir()/motion``.

    The cache key is the resolved path, the file's size and modification time, the method and the
    short side, so an edited or replaced video is measured again. Nothing is written next to the
    video. A second call loads the saved array.
    """
    check_choice("method", method, METHODS)
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"video_motion: no video file at {path}")
    target = _cache_path(path, method, short_side)
    if target.is_file():
        try:
            return np.load(target)
        except (OSError, ValueError):
            target.unlink(missing_ok=True)  # a damaged cache file: measure again
    from ssvlib.data.decode import read_all_frames

    motion = frame_motion(read_all_frames(path, backend=backend), method, short_side)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, lambda tmp: _save_npy(tmp, motion))
    return motion


def _save_npy(path: Path, array: np.ndarray) -> None:
    """np.save to exactly `path` (given a name, np.save would append '.npy' to it)."""
    with open(path, "wb") as handle:
        np.save(handle, array)


def window_scores(motion: np.ndarray, length: int) -> np.ndarray:
    """Mean motion inside each window of `length` frames; entry s is the window starting at frame s.

    A window of frames s..s+length-1 is scored by the motion between its own frames,
    ``motion[s+1 : s+length]`` (``motion[s]`` when length is 1).
    """
    motion = np.asarray(motion, dtype=np.float64)
    if motion.ndim != 1:
        raise ValueError(f"motion must be a 1-D per-frame array, got shape {motion.shape}")
    if not 1 <= length <= len(motion):
        raise ValueError(
            f"window length {length} must be between 1 and the number of frames ({len(motion)}); "
            "use a shorter window for this video"
        )
    if length == 1:
        return motion.copy()
    inner = np.concatenate([[0.0], np.cumsum(motion[1:])])  # inner[k] = motion[1..k] summed
    starts = np.arange(len(motion) - length + 1)
    return (inner[starts + length - 1] - inner[starts]) / (length - 1)


def high_motion_windows(
    motion: np.ndarray, length: int, top_k: int | None = None, min_gap: int | None = None
) -> list[int]:
    """Start frames of windows of `length` frames, highest mean motion first.

    A start closer than `min_gap` frames to one already chosen is skipped (default: `length`, so
    the windows do not overlap; 1 keeps every window). `top_k` caps how many are returned.
    """
    scores = window_scores(motion, length)
    gap = length if min_gap is None else int(min_gap)
    if gap < 1:
        raise ValueError(f"min_gap={min_gap!r} must be >= 1")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k={top_k!r} must be a positive int or None")
    chosen: list[int] = []
    for start in np.argsort(-scores, kind="stable"):
        if all(abs(int(start) - c) >= gap for c in chosen):
            chosen.append(int(start))
            if top_k is not None and len(chosen) == top_k:
                break
    return chosen


def sample_high_motion_window(
    motion: np.ndarray, length: int, rng: np.random.Generator, quantile: float = 0.5
) -> int:
    """A random window start among windows whose mean motion is at least the given quantile.

    Sampling stays random (every qualifying window is equally likely) but avoids still stretches;
    ``quantile=0`` samples any window uniformly.
    """
    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"quantile={quantile!r} must be in [0, 1]")
    scores = window_scores(motion, length)
    candidates = np.flatnonzero(scores >= np.quantile(scores, quantile))
    return int(rng.choice(candidates))


HIGH_MOTION_QUANTILE = 0.75
"""Samplers given a motion curve draw windows from the top quarter by mean motion."""


def high_motion_frames(
    motion: np.ndarray, length: int, quantile: float = HIGH_MOTION_QUANTILE
) -> np.ndarray:
    """Per frame: does it lie in a window of `length` frames that `window_start` may pick?"""
    scores = window_scores(motion, length)
    covered = np.zeros(len(motion), bool)
    for start in np.flatnonzero(scores >= np.quantile(scores, quantile)):
        covered[start : start + length] = True
    return covered


def window_start(
    num_frames: int, span: int, rng: np.random.Generator, motion: np.ndarray | None = None
) -> int:
    """Start of a `span`-frame window: a high-motion one given a motion curve, else uniform."""
    if motion is not None and len(motion) >= span:
        return sample_high_motion_window(motion, span, rng, quantile=HIGH_MOTION_QUANTILE)
    return int(rng.integers(0, max(0, num_frames - span) + 1))


def motion_map(frames: np.ndarray) -> np.ndarray:
    """Where things move: |differences| of consecutive gray frames summed over time, (H, W)."""
    frames = _check_frames(frames)
    if frames.dtype == np.uint8 and frames.ndim == 4 and len(frames) >= 2:
        gray = [cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in frames]
        total = np.zeros(gray[0].shape, np.float32)
        for before, after in zip(gray[:-1], gray[1:], strict=True):  # uint8 steps: 10x faster
            total += cv2.absdiff(before, after)
        return total
    gray = to_gray(frames)
    if len(gray) < 2:
        return np.zeros(gray.shape[1:], np.float32)
    return np.abs(np.diff(gray, axis=0)).sum(0)


def high_motion_patch(frames: np.ndarray, patch: int | Sequence[int]) -> tuple[int, int]:
    """(top, left) of the patch with the largest summed motion (OPN's spatial window selection).

    The motion map (`motion_map`) is box-summed over every patch position with an integral image.
    When nothing moves, the centre patch is returned.
    """
    ph, pw = (patch, patch) if isinstance(patch, (int, np.integer)) else tuple(patch)
    amap = motion_map(frames)
    height, width = amap.shape
    if not (1 <= ph <= height and 1 <= pw <= width):
        raise ValueError(f"patch {patch!r} must be positive and fit in frames of {height}x{width}")
    integral = cv2.integral(amap.astype(np.float64))  # (H+1, W+1), zero first row and column
    sums = integral[ph:, pw:] - integral[:-ph, pw:] - integral[ph:, :-pw] + integral[:-ph, :-pw]
    if sums.max() <= 0:
        return (height - ph) // 2, (width - pw) // 2
    top, left = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(top), int(left)
