"""OPN: the paper's recipe point by point against the official code, the model, and one
training step at the paper's sizes, so a GPU run starts clean."""

from __future__ import annotations

import pytest
import torch
from conftest import solver_values, train_one_step
from torch import nn

from ssvlib.data.datasets import TupleDataset
from ssvlib.models.encoders import Small2D, build_encoder
from ssvlib.models.heads import ConcatHead, PairwiseHead
from ssvlib.papers import opn
from ssvlib.recipe import UCF101_SPLIT1_TRAIN
from ssvlib.settings import View

# Lee et al., "Unsupervised Representation Learning by Sorting Sequences", ICCV 2017, and the
# official code (github.com/HsinYingLee/OPN: prototxt/solver_opn.prototxt,
# prototxt/train_opn.prototxt, UCF_datalayers.py).
PAPER = {
    "frames per tuple": 4,
    "classes": 12,  # 4! / 2: an order and its reverse share a class
    "patch": 100,  # imagesize + 20
    "crop": (80, 80),
    "jitter": 5,  # sjdis
    "channel splitting": True,
    "mirror": True,  # one random mirror per tuple
    "motion-aware": True,
    "fc6 per frame": (1024,),
    "pairwise fc7": 512,
    "fc7 batch norm": True,
    "dropout": 0.5,
    "optimizer": "sgd",
    "lr": 0.01,
    "momentum": 0.9,
    "weight decay": 5e-4,
    "batch": 64,
    "iterations": 170_000,
    "lr step at": 130_000,
    "gamma": 0.1,
}


def test_paper_preset_matches_the_official_recipe_point_by_point():
    recipe = opn.PRESETS["paper"]
    task, view, pretext, optim = recipe.task, recipe.view, recipe.pretext, recipe.pretext.optim
    ours = {
        "frames per tuple": task.num_elements,
        "classes": task.num_classes,
        "patch": view.patch,
        "crop": view.crop_hw,
        "jitter": view.jitter,
        "channel splitting": view.channel_split,
        "mirror": view.mirror,
        "motion-aware": task.motion_aware and view.patch_by_motion,
        "fc6 per frame": recipe.head["element_fc"],
        "pairwise fc7": recipe.head["hidden"],
        "fc7 batch norm": recipe.head["hidden_bn"],
        "dropout": recipe.head["dropout"],
        **solver_values(pretext, UCF101_SPLIT1_TRAIN),
    }
    differing = {k: (ours[k], PAPER[k]) for k in PAPER if ours[k] != PAPER[k]}
    assert not differing, f"ours vs the paper: {differing}"
    assert optim.schedule == "step" and len(optim.milestones) == 1


def test_evaluation_cuts_whole_frames_without_the_pretext_tricks():
    for preset in ("cpu", "paper"):
        view = opn.PRESETS[preset].evaluation_view
        assert view.patch is None and view.jitter == 0 and not view.channel_split
    assert opn.PRESETS["paper"].evaluation_view == View(size=(256, 340), crop=224)


def test_cpu_model_pairs_frame_features_into_12_classes():
    recipe = opn.PRESETS["cpu"]
    model = opn.build_model(Small2D(), recipe)
    assert isinstance(model.head, PairwiseHead) and model.head.num_pairs == 6
    x = torch.randint(0, 255, (2, 4, 1, 3, 48, 48), dtype=torch.uint8)
    assert model(x).shape == (2, 12)


def test_paper_preset_trains_one_step(ucf_sized_video):
    recipe = opn.PRESETS["paper"]
    data = TupleDataset([ucf_sized_video], recipe.task, recipe.view, seed=0)
    x, label = data[0]
    assert x.shape == (4, 1, 3, 80, 80) and x.dtype == torch.uint8
    assert (x[:, :, 0] == x[:, :, 1]).all()  # channel splitting
    torch.manual_seed(0)
    model = opn.build_model(build_encoder("caffenet"), recipe)
    assert model.encoder.feature_dim == 256 * 2 * 2  # pool5 is 2x2 at 80x80
    fcs = [
        (m.in_features, m.out_features) for m in model.head.modules() if isinstance(m, nn.Linear)
    ]
    assert fcs == [(1024, 1024), (2048, 512), (6 * 512, 12)]
    assert isinstance(model.head.pair_bn, nn.BatchNorm1d)  # fc7 has batch norm, as the code
    other = TupleDataset([ucf_sized_video], recipe.task, recipe.view, seed=1)[0]
    batch = torch.stack([x, other[0]])  # batch norm needs two tuples
    assert model(batch).shape == (2, 12)
    train_one_step(model, batch, torch.tensor([label, other[1]]), recipe.pretext.optim)


def test_switches_change_one_detail_each_and_name_bad_values():
    base = opn.PRESETS["cpu"]
    assert opn.with_switches(base) == base  # None keeps the preset's
    off = opn.with_switches(base, channel_split=False)
    assert not off.view.channel_split and off.task == base.task
    uniform = opn.with_switches(base, motion_aware=False)
    assert not uniform.task.motion_aware and not uniform.view.patch_by_motion
    assert uniform.view.channel_split
    concat = opn.build_model(Small2D(), opn.with_switches(base, fusion="concat"))
    assert isinstance(concat.head, ConcatHead)
    x = torch.randint(0, 255, (2, 4, 1, 3, 48, 48), dtype=torch.uint8)
    assert concat(x).shape == (2, 12)
    with pytest.raises(ValueError, match="fusion='sum' is not valid; choose one of"):
        opn.with_switches(base, fusion="sum")
    with pytest.raises(ValueError, match="channel_split='no' must be True, False or None"):
        opn.with_switches(base, channel_split="no")


def test_ablations_change_one_detail_each_against_the_preset():
    variants = opn.ablations(opn.PRESETS["cpu"], epochs=5)
    full = variants.pop("OPN (the preset)")
    assert full.pretext.epochs == 5 and full.view.channel_split and full.task.motion_aware
    assert full.head["fusion"] == "pairwise" and not full.head["hidden_bn"]
    assert "fc7 batch norm (the code's)" in variants
    for name, recipe in variants.items():
        changed = [
            recipe.view.channel_split != full.view.channel_split,
            recipe.head["fusion"] != full.head["fusion"],
            recipe.task.motion_aware != full.task.motion_aware,
            recipe.head["hidden_bn"] != full.head["hidden_bn"],
        ]
        assert sum(changed) == 1, name
    assert "no fc7 batch norm" in opn.ablations(opn.PRESETS["paper"], epochs=5)
    with pytest.raises(ValueError, match="ablation_epochs=0 must be a positive integer"):
        opn.ablations(opn.PRESETS["cpu"], epochs=0)
