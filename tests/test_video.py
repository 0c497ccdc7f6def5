"""Video readers: both backends give the same frames; bad files give errors that name them."""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import numbered_frames, write_video

from ssvlib.data.video import VideoError, read_all_frames, read_frames, video_info


def brightness(frames: np.ndarray) -> np.ndarray:
    """Mean level of each frame."""
    return frames.reshape(len(frames), -1).mean(axis=1)


def backends() -> list[str]:
    """The backends installed here."""
    from ssvlib.data.video import has_decord

    return ["pyav", "decord"] if has_decord() else ["pyav"]


@pytest.mark.parametrize("backend", backends())
def test_frames_come_back_in_the_order_asked(numbered_video, backend):
    indices = [30, 2, 2, 39, 0, 17]
    frames = read_frames(numbered_video, indices, backend)
    assert frames.shape == (6, 48, 64, 3) and frames.dtype == np.uint8
    expected = np.array(indices) * 255 / 39
    assert np.abs(brightness(frames) - expected).max() < 4


def test_info_counts_frames_and_rate(numbered_video):
    info = video_info(numbered_video)
    assert (info.num_frames, info.height, info.width) == (40, 48, 64)
    assert info.fps == pytest.approx(25.0)
    assert info.keyframes[0] == 0 and info.seekable


@pytest.mark.skipif(len(backends()) < 2, reason="decord is not installed here")
def test_backends_agree_on_a_whole_video(numbered_video):
    a = read_all_frames(numbered_video, "pyav").astype(int)
    b = read_all_frames(numbered_video, "decord").astype(int)
    assert a.shape == b.shape and np.abs(a - b).max() <= 2


def test_frame_past_the_end_names_the_file(numbered_video):
    with pytest.raises(VideoError, match="numbered.avi has 40 frames; frame 40"):
        read_frames(numbered_video, [0, 40])


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(VideoError, match="gone.avi does not exist"):
        read_frames(tmp_path / "gone.avi", [0])
    (tmp_path / "empty.avi").write_bytes(b"")
    with pytest.raises(VideoError, match="empty.avi is empty"):
        video_info(tmp_path / "empty.avi")


@pytest.mark.parametrize("backend", backends())
def test_corrupt_file_names_the_file(tmp_path, backend):
    path = tmp_path / "noise.avi"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(VideoError, match="noise.avi"):
        read_frames(path, [0], backend)


def test_truncated_file_is_reported_as_truncated(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, (60, 48, 64, 3), dtype=np.uint8)
    path = write_video(tmp_path / "cut.avi", frames)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError, match="cut.avi is truncated"):
        video_info(path)


def test_changed_file_is_not_served_from_the_cache(tmp_path):
    path = write_video(tmp_path / "v.avi", numbered_frames(20))
    assert video_info(path).num_frames == 20
    write_video(path, numbered_frames(30))
    os.utime(path, ns=(1, 1))  # a different mtime, as any rewrite gives
    assert video_info(path).num_frames == 30


def test_unknown_backend_lists_the_valid_ones(numbered_video):
    with pytest.raises(ValueError, match="'auto', 'decord', 'pyav'"):
        read_frames(numbered_video, [0], backend="opencv")


def test_every_real_clip_decodes_with_both_readers_alike(real_root):
    paths = sorted((real_root / "UCF-101").rglob("*.avi"))
    assert len(paths) >= 19
    rng = np.random.default_rng(0)
    for path in paths:
        info = video_info(path)
        assert info.num_frames >= 64 and (info.height, info.width) == (240, 320)
        # the first and last frames, a VCOP-shaped run, and scattered frames
        start = int(rng.integers(0, info.num_frames - 64))
        indices = [
            0,
            info.num_frames - 1,
            *range(start, start + 64, 3),
            *rng.choice(info.num_frames, 5, replace=False).tolist(),
        ]
        everything = read_all_frames(path, "pyav").astype(int)
        for backend in backends():
            # [0, last] and [last] alone: seeking straight to the last frame is where decord errs
            for asked in (indices, [0, info.num_frames - 1], [info.num_frames - 1]):
                frames = read_frames(path, asked, backend).astype(int)
                assert np.abs(frames - everything[asked]).max() <= 2, (
                    f"{backend} differs on {path.name} at {asked[:3]}"
                )
