"""VCOP: the paper's recipe point by point, the model, and one training step per paper backbone
at the paper's sizes, so a GPU run starts clean."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from conftest import numbered_frames, train_one_step, write_video

from ssvlib.data.datasets import TupleDataset
from ssvlib.data.index import VideoRecord
from ssvlib.evaluate import pool_feature_map
from ssvlib.models.encoders import Small3D, build_encoder
from ssvlib.models.heads import PairwiseHead
from ssvlib.papers import vcop
from ssvlib.settings import View
from ssvlib.tasks.vcop import VCOP

# Xu et al., "Self-supervised Spatiotemporal Learning via Video Clip Order Prediction", CVPR 2019,
# and the official code (github.com/xudejing/video-clip-order-prediction: train_vcop.py,
# ft_classify.py, retrieve_clips.py).
PAPER = {
    "clips per tuple": 3,
    "frames per clip": 16,
    "frame step": 1,
    "gap between clips": 8,
    "tuple window": 64,  # 3 x 16 + 2 x 8
    "order classes": 6,  # 3!
    "frames resized to": (128, 171),
    "crop": (112, 112),
    "input": "raw frames",
    "optimizer": "sgd",
    "lr": 1e-3,
    "schedule": "none",  # ReduceLROnPlateau is created but never stepped: the rate stays 1e-3
    "momentum": 0.9,
    "weight decay": 5e-4,
    "batch": 8,
    "epochs": 300,
    "head hidden": 512,
    "finetune optimizer": "sgd",
    "finetune lr": 1e-3,
    "finetune schedule": "none",
    "finetune epochs": 150,
    "finetune batch": 8,
    "clips per test video": 10,
    "retrieval pool": (1, 2, 2),  # conv5 max-pooled over 1x2x2 windows, flattened
    "retrieval feature size": 9216,  # nn.MaxPool3d rounds down: 512 x 2 x 3 x 3
    "horizontal flip": False,  # the official transforms: Resize, RandomCrop, ToTensor
    "finetune epoch kept": "val_loss",  # the lowest validation loss, as in pretext training
}


def test_paper_preset_matches_the_official_recipe_point_by_point():
    recipe = vcop.PRESETS["paper"]
    task, view, pretext, down = recipe.task, recipe.view, recipe.pretext, recipe.downstream
    ours = {
        "clips per tuple": task.num_clips,
        "frames per clip": task.clip_len,
        "frame step": task.step,
        "gap between clips": task.gap,
        "tuple window": task.min_frames,
        "order classes": task.num_classes,
        "frames resized to": view.resized(240, 320),  # a UCF-101 frame
        "crop": view.crop_hw,
        "input": "residual frames" if task.residual else "raw frames",
        "optimizer": pretext.optim.name,
        "lr": pretext.optim.lr,
        "schedule": pretext.optim.schedule,
        "momentum": pretext.optim.momentum,
        "weight decay": pretext.optim.weight_decay,
        "batch": pretext.batch_size,
        "epochs": pretext.epochs,
        "head hidden": recipe.head["hidden"],
        "finetune optimizer": down.optim.name,
        "finetune lr": down.optim.lr,
        "finetune schedule": down.optim.schedule,
        "finetune epochs": down.epochs,
        "finetune batch": down.batch_size,
        "clips per test video": down.clips_per_video,
        "retrieval pool": down.retrieval_pool,
        "retrieval feature size": pool_feature_map(
            torch.zeros(1, 512, 2, 7, 7), down.retrieval_pool
        ).shape[1],  # the conv5 map of C3D, R3D and R(2+1)D at 16x112x112
        "horizontal flip": view.mirror,
        "finetune epoch kept": down.monitor,
    }
    differing = {k: (ours[k], PAPER[k]) for k in PAPER if ours[k] != PAPER[k]}
    assert not differing, f"ours vs the paper: {differing}"
    assert pretext.optim.warmup_epochs == 0 and down.optim.warmup_epochs == 0
    assert down.encoder_lr_scale == 1.0  # the whole network fine-tuned at one rate


@pytest.mark.parametrize("preset", ["cpu", "paper"])
def test_each_preset_builds_a_model_its_task_fits(preset):
    recipe = vcop.PRESETS[preset]
    net = Small3D(widths=(4, 4, 8, 8))
    model = vcop.build_model(net, recipe)
    assert model.encoder.element == recipe.task.element and model.encoder.net is net
    assert isinstance(model.head, PairwiseHead)
    assert model.head.num_pairs == 3 and model.head.num_classes == recipe.task.num_classes
    assert model.head.classifier.in_features == 3 * recipe.head["hidden"]


def test_paper_task_drops_a_50_frame_video(ucf_sized_video, tmp_path):
    short = write_video(tmp_path / "Up/v_Up_g02_c01.avi", numbered_frames(50, 24, 32))
    record = VideoRecord("Up/v_Up_g02_c01.avi", short, 0, "Up", 2, 1)
    recipe = vcop.PRESETS["paper"]
    data = TupleDataset([record, ucf_sized_video], recipe.task, recipe.view)
    assert data.dropped == [record] and data.records == [ucf_sized_video]


def test_small_model_trains_on_real_tuples(tmp_path):
    path = write_video(tmp_path / "Up/v_Up_g01_c01.avi", numbered_frames(20, 24, 32))
    task = VCOP(clip_len=4, gap=2)
    data = TupleDataset(
        [VideoRecord("Up/v_Up_g01_c01.avi", path, 0, "Up", 1, 1)] * 2,
        task,
        View(size=None, crop=16),
    )
    x = torch.stack([data[0][0], data[1][0]])
    labels = torch.tensor([data[0][1], data[1][1]])
    torch.manual_seed(0)
    recipe = dataclasses.replace(vcop.PRESETS["cpu"], task=task, head={"hidden": 8})
    model = vcop.build_model(Small3D(widths=(4, 4, 8, 8)), recipe)
    logits = model(x)
    assert logits.shape == (2, 6)
    torch.nn.functional.cross_entropy(logits, labels).backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.slow
@pytest.mark.parametrize("backbone", ["c3d", "r3d", "r21d"])
def test_paper_preset_trains_one_step(ucf_sized_video, backbone):
    recipe = vcop.PRESETS["paper"]
    data = TupleDataset([ucf_sized_video], recipe.task, recipe.view, seed=0)
    x, label = data[0]
    assert x.shape == (3, 16, 3, 112, 112) and x.dtype == torch.uint8
    torch.manual_seed(0)
    model = vcop.build_model(build_encoder(backbone), recipe)
    assert model(x[None]).shape == (1, 6)
    train_one_step(model, x[None], torch.tensor([label]), recipe.pretext.optim)
