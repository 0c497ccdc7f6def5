"""Unit responses: the strongest regions of a unit are found where it fires, scored for motion."""

from __future__ import annotations

import numpy as np
import torch
from conftest import numbered_frames, write_video
from torch import nn

from ssvlib import unit_patches
from ssvlib.data.index import VideoRecord


class Brightness(nn.Module):
    """A one-unit 'encoder' whose map is the mean brightness of 8x8 cells: it fires where light."""

    feature_dim = 1

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))  # so that the encoder has a device

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.avg_pool2d(x.mean(1, keepdim=True), 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.feature_map(x).mean((2, 3))


def frames_with_a_moving_square(n: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Frames with a bright square that moves, and the same frames before it moved."""
    frames = np.full((n, 32, 64, 3), 30, np.uint8)
    before = frames.copy()
    for k in range(n):
        frames[k, 8:16, 8 + 8 * k : 16 + 8 * k] = 200 + 5 * k  # brighter in later frames
    return frames, before


def test_top_patches_find_where_the_unit_fires_and_score_it_as_moving():
    frames, before = frames_with_a_moving_square()
    net = Brightness().train()
    (patches,) = unit_patches.top_patches(net, frames, before, k=3)
    assert net.training  # left in the mode it came in
    assert [p.frame for p in patches] == [5, 4, 3]  # the brightest frames first
    for p in patches:
        top, left, h, w = p.box
        assert (h, w) == (16, 16) and 0 <= top <= 16 and 0 <= left <= 48
        assert top <= 8 < top + h and left <= 8 + 8 * p.frame < left + w  # covers the square
        assert p.motion > 2  # the square changed, the background did not
    summary = unit_patches.motion_summary([patches])
    assert summary["share_moving"] == 1.0 and summary["median_motion"] > 2


def test_a_still_region_scores_about_one():
    frames, _ = frames_with_a_moving_square()
    noise = np.random.default_rng(0).integers(0, 20, frames.shape).astype(np.uint8)
    (patches,) = unit_patches.top_patches(Brightness(), frames + noise, frames, k=2)
    assert all(0.5 < p.motion < 1.5 for p in patches)  # changes everywhere alike


def test_strongest_units_orders_by_mean_activation():
    make = lambda unit, a: [unit_patches.Patch(unit, 0, (0, 0, 1, 1), a, 1.0)]  # noqa: E731
    ranked = unit_patches.strongest_units([make(0, 1.0), make(1, 3.0), make(2, 2.0)], 2)
    assert [u[0].unit for u in ranked] == [1, 2]


def test_probe_frames_pairs_each_frame_with_the_one_step_earlier(tmp_path):
    path = write_video(tmp_path / "Up/v_Up_g01_c01.avi", numbered_frames(40, 24, 32))
    record = VideoRecord("Up/v_Up_g01_c01.avi", path, 0, "Up", 1, 1)
    frames, before = unit_patches.probe_frames([record], per_video=3, step=4)
    assert frames.shape == before.shape == (3, 24, 32, 3)
    step = 4 * 255 / 39
    assert np.allclose(frames.mean((1, 2, 3)) - before.mean((1, 2, 3)), step, atol=3)


def test_probe_frames_come_at_the_size_the_view_gives(tmp_path):
    from ssvlib.settings import View

    path = write_video(tmp_path / "Up/v_Up_g01_c01.avi", numbered_frames(40, 24, 32))
    record = VideoRecord("Up/v_Up_g01_c01.avi", path, 0, "Up", 1, 1)
    frames, before = unit_patches.probe_frames(
        [record], per_video=2, view=View(size=(60, 80), crop=56)
    )
    assert frames.shape == before.shape == (2, 60, 80, 3)
