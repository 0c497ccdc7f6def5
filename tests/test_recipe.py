"""A paper's recipe as one value: choosing a preset, overriding it, shrinking it for smoke runs."""

from __future__ import annotations

import dataclasses

import pytest

from ssvlib.models.encoders import Small2D, Small3D
from ssvlib.papers import PAPERS, vcop
from ssvlib.recipe import select
from ssvlib.settings import Element


@pytest.fixture(autouse=True)
def _not_smoke(monkeypatch):
    monkeypatch.delenv("SSV_SMOKE", raising=False)


def test_select_returns_the_preset_with_the_pretext_budget_overridden():
    paper = vcop.PRESETS["paper"]
    assert select(vcop.PRESETS, "paper") == paper
    chosen = select(vcop.PRESETS, "paper", epochs=3, batch_size=2)
    assert (chosen.pretext.epochs, chosen.pretext.batch_size) == (3, 2)
    assert chosen.pretext.optim == paper.pretext.optim
    assert (chosen.task, chosen.view, chosen.downstream, chosen.head) == (
        paper.task,
        paper.view,
        paper.downstream,
        paper.head,
    )
    assert vcop.PRESETS["paper"].pretext.epochs == 300  # the preset itself is left as it was


def test_unknown_preset_lists_the_valid_names():
    with pytest.raises(ValueError, match="preset='gpu'.*'cpu', 'paper'"):
        select(vcop.PRESETS, "gpu")


@pytest.mark.parametrize(
    "kwargs", [{"epochs": 0}, {"epochs": 2.5}, {"batch_size": -1}, {"batch_size": "8"}]
)
def test_bad_overrides_are_refused(kwargs):
    with pytest.raises(ValueError, match="positive integer"):
        select(vcop.PRESETS, "cpu", **kwargs)


@pytest.mark.parametrize("name", ["cpu", "paper"])
def test_smoke_mode_shrinks_every_budget(monkeypatch, name):
    monkeypatch.setenv("SSV_SMOKE", "1")
    preset = vcop.PRESETS[name]
    smoke = select(vcop.PRESETS, name, epochs=50)
    assert smoke.pretext.epochs == 1 and smoke.downstream.epochs == 1
    assert smoke.downstream.clips_per_video == min(2, preset.downstream.clips_per_video)
    assert smoke.pretext.batch_size == preset.pretext.batch_size
    assert (smoke.task, smoke.view, smoke.head) == (preset.task, preset.view, preset.head)
    monkeypatch.setenv("SSV_SMOKE", "0")
    assert select(vcop.PRESETS, name) == preset


def test_eval_encoder_uses_the_task_element_unless_the_recipe_names_another():
    recipe = vcop.PRESETS["cpu"]
    net = Small3D(widths=(4, 4, 8, 8))
    encoder = recipe.eval_encoder(net)
    assert encoder.net is net and encoder.element == recipe.task.element
    frames = Element(4, layout="frames")
    frame_recipe = dataclasses.replace(recipe, eval_element=frames)
    frame_encoder = frame_recipe.eval_encoder(Small2D(widths=(4, 4, 8, 8)))
    assert frame_encoder.element == frames and frame_encoder.feature_dim == 4 * 8


def test_clip_tasks_are_evaluated_alike_on_every_dataset():
    for name in ("cpu", "paper"):
        assert select(vcop.PRESETS, name, dataset="ucf101") == select(vcop.PRESETS, name)


def test_the_encoder_of_a_recipe_pools_to_its_grid():
    recipe = dataclasses.replace(vcop.PRESETS["cpu"], grid=2)
    net = Small3D(widths=(4, 4, 8, 8))
    assert recipe.encoder(net).feature_dim == 8 * 4
    assert recipe.eval_encoder(net).grid == 2


def test_evaluation_videos_are_cut_without_the_tuple_only_steps():
    from ssvlib.settings import View

    opn_like = View(size=64, crop=48, patch=56, jitter=1, channel_split=True)
    recipe = dataclasses.replace(vcop.PRESETS["cpu"], view=opn_like)
    assert recipe.evaluation_view == View(size=64, crop=48)
    paper_eval = View(size=(256, 340), crop=227)
    assert dataclasses.replace(recipe, eval_view=paper_eval).evaluation_view == paper_eval
    assert vcop.PRESETS["cpu"].evaluation_view == vcop.PRESETS["cpu"].view


PAPER_PRESETS = [(key, preset) for key, paper in PAPERS.items() for preset in paper.presets]


@pytest.mark.parametrize("dataset", ["builtin", "ucf101", "hmdb51"])
@pytest.mark.parametrize(("paper", "preset"), PAPER_PRESETS)
def test_every_recipe_pools_its_own_evaluation_features(paper, preset, dataset):
    """Each paper's evaluation encoder, fed what its evaluation videos give, yields retrieval
    features with the recipe's pool (Shuffle and Learn and OPN once failed on UCF-101 here)."""
    import torch

    from ssvlib.evaluate import retrieval_feature

    entry = PAPERS[paper]
    recipe = select(entry.presets, preset, dataset=dataset)
    encoder = recipe.eval_encoder(recipe.new_encoder(entry.default_backbone(preset))).eval()
    (height, width), element = recipe.evaluation_view.crop_hw, encoder.element
    clips = torch.zeros((2, element.frames_read, 3, height, width), dtype=torch.uint8)
    with torch.no_grad():
        fmap = encoder.feature_map(clips)
    features = retrieval_feature(encoder, fmap, recipe.downstream.retrieval_pool)
    assert features.shape[0] == 2 and features.ndim == 2 and features.shape[1] >= fmap.shape[1]
