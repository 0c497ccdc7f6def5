"""Tests for ssvlib.data.transforms: shapes, shared crop boxes, jitter, channel split, seeds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssvlib.data import transforms as T


def coordinate_clip(
    frames: int = 6, height: int = 40, width: int = 50, pan: int = 0
) -> torch.Tensor:
    """A clip whose pixels name their own position: channel 0 = row, channel 1 = column.

    With ``pan`` > 0, frame t is the scene shifted by ``pan * t`` pixels down and right, as if the
    camera panned, so frame t's pixel (y, x) holds (y + pan*t, x + pan*t).
    """
    rows = torch.arange(height).view(height, 1).expand(height, width)
    cols = torch.arange(width).view(1, width).expand(height, width)
    clip = []
    for t in range(frames):
        shift = pan * t
        clip.append(torch.stack([rows + shift, cols + shift, torch.full_like(rows, 7 * t)]))
    return torch.stack(clip).to(torch.uint8)


def test_to_clip_shape_dtype_and_content():
    frames = np.random.default_rng(0).integers(0, 256, (4, 6, 8, 3), dtype=np.uint8)
    clip = T.to_clip(frames)
    assert clip.shape == (4, 3, 6, 8) and clip.dtype == torch.uint8
    assert torch.equal(clip[2, 1], torch.from_numpy(frames[2, :, :, 1]))


def test_to_clip_rejects_wrong_layout():
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\) uint8"):
        T.to_clip(np.zeros((4, 3, 6, 8), np.uint8))
    with pytest.raises(ValueError, match="dtype float32"):
        T.to_clip(np.zeros((4, 6, 8, 3), np.float32))


def test_resize_short_side_and_pair_stay_uint8():
    clip = torch.full((3, 3, 48, 64), 100, dtype=torch.uint8)
    small = T.resize(clip, 24)
    assert small.shape == (3, 3, 24, 32) and small.dtype == torch.uint8
    assert torch.all(small == 100)  # a flat image stays flat (no rounding drift)
    tall = T.resize(clip.transpose(-1, -2), 24)
    assert tall.shape == (3, 3, 32, 24)
    assert T.resize(clip, (10, 20)).shape == (3, 3, 10, 20)


def test_resize_antialias_keeps_mean_of_fine_pattern():
    checker = ((torch.arange(64).view(1, -1) + torch.arange(64).view(-1, 1)) % 2) * 255
    clip = checker.to(torch.uint8).expand(2, 3, 64, 64)
    small = T.resize(clip, 16)
    # Antialiasing averages the checkerboard to mid-gray instead of sampling it.
    assert (small.float() - 127.5).abs().max() < 2


def test_resize_rejects_bad_size():
    with pytest.raises(ValueError, match="size"):
        T.resize(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), 0)


def test_crop_uses_the_same_box_for_every_frame_of_a_panning_clip():
    clip = coordinate_clip(frames=5, pan=2)
    box = (7, 11, 16, 20)
    out = T.crop(clip, box)
    assert out.shape == (5, 3, 16, 20)
    for t in range(5):
        # Same box on every frame: the content moves with the pan, the box does not.
        assert out[t, 0, 0, 0] == 7 + 2 * t and out[t, 1, 0, 0] == 11 + 2 * t
        assert torch.equal(out[t], clip[t, :, 7:23, 11:31])


def test_random_crop_same_box_across_frames_and_inside_frame():
    clip = coordinate_clip(frames=8, height=40, width=50, pan=1)
    rng = np.random.default_rng(3)
    steps = torch.arange(8)
    for _ in range(20):
        out = T.random_crop(clip, (12, 15), rng)
        assert out.shape == (8, 3, 12, 15)
        tops = out[:, 0, 0, 0].long() - steps  # undo the pan: the box each frame was cut at
        lefts = out[:, 1, 0, 0].long() - steps
        assert len(set(tops.tolist())) == 1 and len(set(lefts.tolist())) == 1
        assert 0 <= tops[0] <= 40 - 12 and 0 <= lefts[0] <= 50 - 15


def test_random_crop_box_reproducible_from_seed_and_varies_with_seed():
    boxes = [T.random_crop_box(100, 120, 32, np.random.default_rng(s)) for s in range(6)]
    again = [T.random_crop_box(100, 120, 32, np.random.default_rng(s)) for s in range(6)]
    assert boxes == again
    assert len(set(boxes)) > 1


def test_center_crop_box_and_center_crop():
    assert T.center_crop_box(40, 50, (20, 30)) == (10, 10, 20, 30)
    out = T.center_crop(coordinate_clip(height=40, width=50), 20)
    assert out[0, 0, 0, 0] == 10 and out[0, 1, 0, 0] == 15


def test_crop_too_large_or_outside_is_a_clear_error():
    clip = coordinate_clip(height=20, width=30)
    with pytest.raises(ValueError, match="does not fit in frames of 20x30"):
        T.random_crop(clip, 25, np.random.default_rng(0))
    with pytest.raises(ValueError, match="not inside frames of 20x30"):
        T.crop(clip, (10, 0, 15, 5))


def test_jitter_crops_stay_within_max_shift_of_the_centre():
    clip = coordinate_clip(frames=40, height=50, width=60)
    size, shift = 30, 4
    top0, left0, _, _ = T.center_crop_box(50, 60, size)
    out = T.jitter_crops(clip, size, shift, np.random.default_rng(1))
    assert out.shape == (40, 3, 30, 30)
    tops = out[:, 0, 0, 0].int() - top0
    lefts = out[:, 1, 0, 0].int() - left0
    assert tops.abs().max() <= shift and lefts.abs().max() <= shift
    assert len(set(zip(tops.tolist(), lefts.tolist(), strict=True))) > 1  # frames differ
    # Each crop is a contiguous box of the frame (no resampling).
    assert torch.equal(out[5, 1, 0], out[5, 1, 0, 0] + torch.arange(30, dtype=torch.uint8))


def test_jitter_boxes_clamped_at_the_border_and_reproducible():
    boxes = T.jitter_boxes(32, 32, 30, 5, np.random.default_rng(2), num=50)
    assert all(0 <= top <= 2 and 0 <= left <= 2 and (h, w) == (30, 30) for top, left, h, w in boxes)
    assert boxes == T.jitter_boxes(32, 32, 30, 5, np.random.default_rng(2), num=50)


def test_channel_split_makes_channels_equal_per_frame():
    frames = 32
    clip = torch.stack([torch.full((8, 8), v) for v in (10, 20, 30)]).expand(frames, 3, 8, 8)
    out = T.channel_split(clip.to(torch.uint8), np.random.default_rng(0))
    assert out.shape == clip.shape and out.dtype == torch.uint8
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 1], out[:, 2])
    picked = set(out[:, 0, 0, 0].tolist())
    assert picked <= {10, 20, 30} and len(picked) > 1  # a channel per frame, not per clip
    again = T.channel_split(clip.to(torch.uint8), np.random.default_rng(0))
    assert torch.equal(out, again)


def test_channel_split_needs_rgb():
    with pytest.raises(ValueError, match="3 channels"):
        T.channel_split(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), np.random.default_rng(0))


def test_normalize_layout_and_values():
    clip = torch.zeros(4, 3, 5, 6, dtype=torch.uint8)
    clip[:, :, 0, 0] = 255
    out = T.normalize(clip)
    assert out.shape == (3, 4, 5, 6) and out.dtype == torch.float32
    assert out[0, 0, 0, 0] == 1.0 and out[0, 0, 1, 1] == -1.0
    imagenet = T.normalize(clip, T.IMAGENET_MEAN, T.IMAGENET_STD)
    assert imagenet[1, 2, 1, 1].item() == pytest.approx(-0.456 / 0.224, rel=1e-5)


def test_normalize_rejects_float_and_wrong_stats():
    with pytest.raises(ValueError, match="uint8"):
        T.normalize(torch.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError, match="one value per channel"):
        T.normalize(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), mean=(0.5,), std=(0.5,))


def test_residual_cancels_still_background_and_keeps_motion():
    clip = torch.full((5, 3, 8, 8), 50, dtype=torch.uint8)
    clip[3, :, 2, 2] = 255  # something appears in frame 3, gone again in frame 4
    diffs = T.frame_differences(clip)
    assert diffs.shape == (4, 3, 8, 8)
    assert diffs[2, 0, 2, 2] == pytest.approx(205 / 255) and diffs[3, 0, 2, 2] == pytest.approx(
        -205 / 255
    )
    assert diffs.abs().sum() == pytest.approx(2 * 3 * 205 / 255)
    res = T.residual(clip)
    assert res.shape == (3, 4, 8, 8) and torch.equal(res, diffs.permute(1, 0, 2, 3))
    with pytest.raises(ValueError, match="at least 2 frames"):
        T.residual(clip[:1])


def test_wrong_clip_layout_names_the_fix():
    with pytest.raises(ValueError, match="to_clip"):
        T.center_crop(torch.zeros(3, 8, 8, dtype=torch.uint8), 4)
