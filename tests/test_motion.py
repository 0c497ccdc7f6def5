"""Tests for ssvlib.data.motion: per-frame motion, motion windows, motion patches, the cache."""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import write_video

from ssvlib.data import decode
from ssvlib.data import motion as M


def textured_background(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A still, textured (H, W, 3) uint8 background."""
    rng = np.random.default_rng(seed)
    gray = rng.integers(60, 120, (height, width, 1), dtype=np.uint8)
    return gray.repeat(3, axis=-1)


def square_video(
    positions: list[int], height: int = 48, width: int = 96, top: int = 16, side: int = 12
) -> np.ndarray:
    """(T, H, W, 3) frames of a bright textured square at row `top`, column positions[t]."""
    background = textured_background(height, width)
    square = np.random.default_rng(1).integers(160, 256, (side, side, 3), dtype=np.uint8)
    frames = []
    for left in positions:
        frame = background.copy()
        frame[top : top + side, left : left + side] = square
        frames.append(frame)
    return np.stack(frames)


def moving(speed: int, frames: int = 12, start: int = 4) -> list[int]:
    """Column positions of a square moving right at `speed` px per frame."""
    return [start + speed * t for t in range(frames)]


@pytest.mark.parametrize("method", M.METHODS)
def test_static_video_has_about_zero_motion(method):
    motion = M.frame_motion(square_video([10] * 6), method)
    assert motion.shape == (6,) and motion.dtype == np.float32
    assert motion.max() < 0.01


@pytest.mark.parametrize("method", M.METHODS)
def test_fast_mover_ranks_above_slow_mover(method):
    still = M.frame_motion(square_video([10] * 12), method).mean()
    slow = M.frame_motion(square_video(moving(1)), method).mean()
    fast = M.frame_motion(square_video(moving(4)), method).mean()
    assert still < slow < fast


def test_first_entry_copies_the_second_and_single_frame_is_zero():
    motion = M.frame_motion(square_video([4, 6, 12, 13]), "diff")
    assert motion[0] == motion[1] and motion[2] > motion[3] > 0
    assert M.frame_motion(square_video([4]), "diff").tolist() == [0.0]


def test_frame_motion_rejects_bad_input():
    with pytest.raises(ValueError, match="method='flow'"):
        M.frame_motion(square_video([1, 2]), "flow")
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        M.frame_motion(np.zeros((2, 8, 8, 4), np.uint8))


def burst_positions() -> list[int]:
    """60 frames: still until frame 30, moving at 3 px/frame for frames 31-39, then still."""
    positions = [4] * 31
    for _ in range(9):
        positions.append(positions[-1] + 3)
    return positions + [positions[-1]] * 20


@pytest.mark.parametrize("method", M.METHODS)
def test_high_motion_windows_pick_the_burst(method):
    motion = M.frame_motion(square_video(burst_positions()), method)
    assert len(motion) == 60
    # Frames 30..39 hold all nine moving steps; no other 10-frame window does.
    assert M.high_motion_windows(motion, 10, top_k=1) == [30]


def test_high_motion_windows_respect_min_gap_and_top_k():
    motion = np.zeros(50)
    motion[[5, 6, 30, 31]] = [4, 4, 2, 2]
    starts = M.high_motion_windows(motion, 4, top_k=3)
    assert starts[:2] == [3, 28] and len(starts) == 3
    assert all(abs(a - b) >= 4 for i, a in enumerate(starts) for b in starts[i + 1 :])
    assert len(M.high_motion_windows(motion, 4, min_gap=1)) == 47  # every window, ranked


def test_window_scores_use_the_motion_between_the_window_frames():
    motion = np.array([1.0, 1.0, 3.0, 5.0, 7.0])
    # Window starting at 1 covers frames 1, 2, 3: steps into frames 2 and 3.
    np.testing.assert_allclose(M.window_scores(motion, 3), [2.0, 4.0, 6.0])
    with pytest.raises(ValueError, match="shorter window"):
        M.window_scores(motion, 6)


def test_sample_high_motion_window_avoids_still_windows_and_is_reproducible():
    motion = M.frame_motion(square_video(burst_positions()), "diff")
    scores = M.window_scores(motion, 8)
    threshold = np.quantile(scores, 0.8)
    rng = np.random.default_rng(0)
    starts = [M.sample_high_motion_window(motion, 8, rng, quantile=0.8) for _ in range(100)]
    assert all(scores[s] >= threshold for s in starts)
    assert all(scores[s] > 0 for s in starts)  # never a still window
    assert len(set(starts)) > 1  # still random among the moving ones
    again = np.random.default_rng(0)
    assert starts == [
        M.sample_high_motion_window(motion, 8, again, quantile=0.8) for _ in range(100)
    ]


def test_high_motion_patch_finds_the_moving_square():
    # An 8x8 square moves from column 40 to 48 at row 10; everything else is still.
    frames = square_video([40, 42, 44, 46, 48], height=64, width=64, top=10, side=8)
    top, left = M.high_motion_patch(frames, 16)
    # The moving region spans rows 10-17 and columns 40-55; the patch must cover it.
    assert top <= 10 and top + 16 >= 18
    assert left <= 40 and left + 16 >= 56


def test_high_motion_patch_rectangular_still_and_too_big():
    frames = square_video([4, 8, 12], height=40, width=64, top=2, side=6)
    top, left = M.high_motion_patch(frames, (10, 20))
    assert top <= 2 and top + 10 >= 8 and left <= 4 and left + 20 >= 18
    assert M.high_motion_patch(square_video([4] * 3, height=40, width=64), (10, 20)) == (15, 22)
    with pytest.raises(ValueError, match="fit in frames of 40x64"):
        M.high_motion_patch(frames, 50)


@pytest.fixture
def counted_reader(monkeypatch):
    """Count calls to ssvlib.data.decode.read_all_frames; returns (calls, the real reader)."""
    calls = []
    real = decode.read_all_frames

    def reader(path, backend="auto"):
        calls.append(path)
        return real(path, backend=backend)

    monkeypatch.setattr(decode, "read_all_frames", reader)
    return calls, real


def test_video_motion_caches_and_recomputes_when_the_file_changes(
    tmp_path, monkeypatch, counted_reader
):
    monkeypatch.setenv("SSV_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "data"
    data.mkdir()
    path = data / "clip.avi"
    frames = square_video(moving(3, frames=10), height=48, width=64)
    write_video(path, frames)

    calls, read_all_frames = counted_reader
    first = M.video_motion(path, "diff")
    assert len(calls) == 1 and first.shape == (10,)
    np.testing.assert_allclose(first, M.frame_motion(read_all_frames(path), "diff"), rtol=1e-6)
    assert M.video_motion(path, "diff").tolist() == first.tolist()
    assert len(calls) == 1  # loaded from the cache, not decoded again
    [cached] = (tmp_path / "cache" / "motion").iterdir()  # one file, no temporary left over
    assert cached.suffix == ".npy"
    assert [p.name for p in data.iterdir()] == ["clip.avi"]  # nothing written beside the video

    cached.write_bytes(b"damaged")
    assert M.video_motion(path, "diff").tolist() == first.tolist()
    assert len(calls) == 2  # a damaged cache file is measured again

    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    M.video_motion(path, "diff")
    assert len(calls) == 3  # a touched file is measured again

    M.video_motion(path, "farneback")
    assert len(calls) == 4  # another method has its own cache entry


def test_video_motion_missing_file_names_it(tmp_path, monkeypatch):
    monkeypatch.setenv("SSV_CACHE", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match="nope.avi"):
        M.video_motion(tmp_path / "nope.avi")


def test_motion_map_of_rgb_frames_is_the_summed_gray_differences():
    frames = np.random.default_rng(0).integers(0, 256, (4, 30, 40, 3), dtype=np.uint8)
    expected = np.abs(np.diff(M.to_gray(frames), axis=0)).sum(0)
    assert np.array_equal(M.motion_map(frames), expected)
    assert np.array_equal(M.motion_map(frames[:1]), np.zeros((30, 40), np.float32))
