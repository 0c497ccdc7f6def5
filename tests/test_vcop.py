"""VCOP end to end at the paper's sizes: one training step per backbone, so a GPU run starts clean."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import write_video

from ssvlib.data.ucf101 import VideoRecord
from ssvlib.models.encoders import build_encoder
from ssvlib.tasks import vcop
from ssvlib.train import make_optimizer


@pytest.fixture(scope="module")
def ucf_sized_video(tmp_path_factory):
    """A 70-frame 320x240 video, UCF-101's size, with a moving bright square."""
    frames = np.full((70, 240, 320, 3), 40, np.uint8)
    for t in range(70):
        frames[t, 100:140, 3 * t: 3 * t + 40] = 230
    path = write_video(tmp_path_factory.mktemp("ucf") / "Up/v_Up_g01_c01.avi", frames)
    return VideoRecord("Up/v_Up_g01_c01.avi", path, 0, "Up", 1, 1)


def test_presets_name_the_paper_recipe():
    paper = vcop.PRESETS["paper"]
    assert (paper["clip_len"], paper["gap"], paper["crop"], paper["size"]) == (16, 8, 112, (128, 171))
    assert vcop.VCOPSpec(clip_len=paper["clip_len"], gap=paper["gap"]).window() == 64
    assert set(vcop.PRESETS["cpu"]) == set(paper)


@pytest.mark.slow
@pytest.mark.parametrize("backbone", ["c3d", "r3d", "r21d"])
def test_paper_preset_trains_one_step(ucf_sized_video, backbone):
    p = vcop.PRESETS["paper"]
    spec = vcop.VCOPSpec(clip_len=p["clip_len"], gap=p["gap"], step=p["step"])
    data = vcop.VCOPDataset([ucf_sized_video], spec, size=p["size"], crop=p["crop"],
                            residual=p["residual"], seed=0)
    x, label = data[0]
    assert x.shape == (3, 3, 16, 112, 112)
    torch.manual_seed(0)
    model = vcop.build_model(build_encoder(backbone), spec, hidden=p["hidden"])
    optimizer = make_optimizer(model.parameters(), p["optimizer"], p["lr"],
                               weight_decay=p["weight_decay"])
    before = [q.detach().clone() for q in model.parameters()]
    logits = model(x[None])
    assert logits.shape == (1, spec.num_classes) == (1, 6)
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor([label]))
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    changed = sum(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert changed == len(before)
