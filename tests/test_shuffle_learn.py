"""Shuffle and Learn: the paper's recipe point by point, its tuples and their variants, the
model, and one training step at the paper's sizes, so a GPU run starts clean."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import solver_values, train_one_step
from torch import nn

from ssvlib.data.datasets import TupleDataset
from ssvlib.models.encoders import Small2D, build_encoder, count_parameters
from ssvlib.models.heads import ConcatHead
from ssvlib.papers import shuffle_learn
from ssvlib.recipe import UCF101_SPLIT1_TRAIN, iterations_to_epochs, select
from ssvlib.settings import View
from ssvlib.tasks.shuffle_learn import ShuffleLearn
from ssvlib.train import lr_factor

# Misra et al., "Shuffle and Learn", ECCV 2016, and the official code
# (github.com/imisra/shuffle-tuple: networks/tuple_train.prototxt, networks/tuple_solver.prototxt,
# python_layers/multiple_image_multiple_label_data_layer.py).
PAPER = {
    "frames per tuple": 3,
    "classes": 2,
    "negatives": "hard",  # (b, a, d) and (b, e, d)
    "negative fraction": 0.75,
    "motion-aware windows": True,
    "window (tau_max)": 60,
    "motion": "farneback",  # mean optical-flow magnitude
    "input": (227, 227),  # frames squashed to 227x227: no crop, no flip in the training layer
    "mirror": False,
    "encoder": "caffenet",
    "pool5 flattened": 9216,  # 256 x 6 x 6, what fc6 reads
    "fc6, fc7": (4096, 4096),
    "fusion": "fc7 x 3 concatenated into a 2-way fc8",
    "dropout": 0.5,
    "optimizer": "sgd",
    "lr": 1e-3,
    "momentum": 0.9,
    "weight decay": 5e-4,
    "batch": 128,  # 32 x iter_size 4
    "iterations": 100_000,
    "lr step at": 80_000,
    "gamma": 0.1,
}


def paper_values(recipe) -> dict:
    """The preset's values under the names of PAPER."""
    task, view, pretext = recipe.task, recipe.view, recipe.pretext
    return {
        "frames per tuple": task.num_elements,
        "classes": task.num_classes,
        "negatives": task.negatives,
        "negative fraction": 1 - task.positive_fraction,
        "motion-aware windows": task.motion_aware,
        "window (tau_max)": task.span,
        "motion": recipe.motion,
        "input": (view.resized(240, 320), view.crop_hw)[0],
        "mirror": view.mirror,
        "encoder": "caffenet",
        "pool5 flattened": 256 * recipe.grid**2,
        "fc6, fc7": recipe.head["element_fc"],
        "fusion": "fc7 x 3 concatenated into a 2-way fc8" if not recipe.head.get("hidden") else "",
        "dropout": recipe.head["dropout"],
        **solver_values(pretext, UCF101_SPLIT1_TRAIN),
    }


def test_paper_preset_matches_the_official_recipe_point_by_point():
    recipe = shuffle_learn.PRESETS["paper"]
    ours = paper_values(recipe)
    differing = {k: (ours[k], PAPER[k]) for k in PAPER if ours[k] != PAPER[k]}
    assert not differing, f"ours vs the paper: {differing}"
    assert recipe.view.crop_hw == (227, 227) and recipe.pretext.optim.schedule == "step"
    assert recipe.pretext.optim.warmup_epochs == 0
    assert len(recipe.pretext.optim.milestones) == 1


def test_iterations_become_epochs_of_split_1_train():
    assert iterations_to_epochs(100_000, 128) == 1342  # 12.8 M tuples / 9,537
    assert iterations_to_epochs(80_000, 128) == 1074
    assert iterations_to_epochs(10, 10, videos=100) == 1


def test_the_step_schedule_drops_the_rate_tenfold_at_80k_iterations():
    optim = shuffle_learn.PRESETS["paper"].pretext.optim
    epochs, steps = shuffle_learn.PRESETS["paper"].pretext.epochs, 75  # 9,537 / 128
    assert lr_factor(optim, 0, epochs, steps) == 1.0
    assert lr_factor(optim, 1073 * steps, epochs, steps) == 1.0
    assert lr_factor(optim, 1075 * steps, epochs, steps) == pytest.approx(0.1)


def test_on_ucf101_single_frames_are_scored_25_per_video(monkeypatch):
    monkeypatch.delenv("SSV_SMOKE", raising=False)
    for preset in ("cpu", "paper"):
        builtin = select(shuffle_learn.PRESETS, preset)
        ucf = select(shuffle_learn.PRESETS, preset, dataset="ucf101")
        assert builtin.eval_element.layout == "frames"  # one frame cannot tell built-in classes
        assert ucf.eval_element is None and ucf.downstream.clips_per_video == 25
        net = Small2D(widths=(4, 4, 8, 8))
        assert ucf.eval_encoder(net).element == ucf.task.element  # one frame, as pretrained
    with pytest.raises(ValueError, match="dataset='hmdb'"):
        select(shuffle_learn.PRESETS, "cpu", dataset="hmdb")


# --------------------------------------------------------------------------- tuples


def draw(task: ShuffleLearn, n: int = 600, seed: int = 0):
    """(five frames, triple shown, label) for n samples of a 120-frame video."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        state = rng.bit_generator.state
        five = task.five_frames(120, rng)
        rng.bit_generator.state = state  # sample draws the same five frames first
        sample = task.sample(120, rng)
        out.append((five, [x[0] for x in sample.elements], sample.label))
    return out


def test_hard_negatives_keep_the_first_and_last_frame():
    for (a, b, c, d, e), triple, label in draw(ShuffleLearn()):
        assert triple in ([b, c, d], [b, a, d], [b, e, d])
        assert label == int(triple == [b, c, d])


def test_easy_negatives_are_wrong_orders_of_the_positive_frames():
    seen = set()
    for (_, b, c, d, _), triple, label in draw(ShuffleLearn(negatives="easy")):
        assert sorted(triple) == [b, c, d]
        assert label == int(triple == [b, c, d])
        seen.add(tuple(np.argsort(triple)))
    assert len(seen) == 6  # the positive and all five wrong orders


def test_reverse_positives_show_every_tuple_both_ways():
    samples = draw(ShuffleLearn(reverse_positives=True))
    shown = {(label, triple[0] < triple[-1]) for _, triple, label in samples}
    assert shown == {(0, True), (0, False), (1, True), (1, False)}
    for (a, b, c, d, e), triple, label in samples:
        assert triple in ([b, c, d], [d, c, b], [b, a, d], [d, a, b], [b, e, d], [d, e, b])
        assert label == int(triple[1] == c)
    easy = draw(ShuffleLearn(reverse_positives=True, negatives="easy"))
    assert all(t[1] != c for (_, _, c, _, _), t, label in easy if label == 0)


@pytest.mark.parametrize("fraction", [0.25, 0.5])
def test_positive_fraction_sets_the_mix_and_validation_is_balanced(fraction):
    task = ShuffleLearn(positive_fraction=fraction)
    labels = [label for _, _, label in draw(task, 2000)]
    assert abs(np.mean(labels) - fraction) < 0.04
    balanced = [label for _, _, label in draw(task.for_validation(), 2000)]
    assert abs(np.mean(balanced) - 0.5) < 0.04
    assert task.for_validation().negatives == task.negatives


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"negatives": "medium"}, "negatives='medium'.*'hard', 'easy'"),
        ({"positive_fraction": 1.5}, "positive_fraction=1.5"),
        ({"span": 10, "min_gap": 4}, "span=10 cannot hold five frames"),
    ],
)
def test_bad_settings_are_refused_with_the_valid_ones(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ShuffleLearn(**kwargs)


# --------------------------------------------------------------------------- model


def test_cpu_model_has_a_frame_fc_and_a_hidden_layer_after_the_concatenation():
    recipe = shuffle_learn.PRESETS["cpu"]
    model = shuffle_learn.build_model(Small2D(), recipe)
    assert isinstance(model.head, ConcatHead)
    assert model.encoder.feature_dim == 128 * recipe.grid**2
    assert model.head.classifier.out_features == 2
    x = torch.randint(0, 255, (2, 3, 1, 3, 56, 56), dtype=torch.uint8)
    assert model(x).shape == (2, 2)


@pytest.mark.slow
def test_paper_preset_trains_one_step(ucf_sized_video):
    recipe = shuffle_learn.PRESETS["paper"]
    data = TupleDataset([ucf_sized_video], recipe.task, recipe.view, seed=0)
    x, label = data[0]
    assert x.shape == (3, 1, 3, 227, 227) and x.dtype == torch.uint8
    torch.manual_seed(0)
    model = shuffle_learn.build_model(build_encoder("caffenet"), recipe)
    fcs = [m for m in model.head.modules() if isinstance(m, nn.Linear)]
    assert [(f.in_features, f.out_features) for f in fcs] == [
        (9216, 4096),
        (4096, 4096),
        (3 * 4096, 2),
    ]
    assert 55e6 < count_parameters(model) < 60e6  # CaffeNet's size
    other = TupleDataset([ucf_sized_video], recipe.task, recipe.view, seed=1)[0][0]
    batch = torch.stack([x, other])  # batch norm needs two tuples
    assert model(batch).shape == (2, 2)
    train_one_step(model, batch, torch.tensor([label, 1 - label]), recipe.pretext.optim)


def test_view_of_the_paper_squashes_whole_frames():
    view = shuffle_learn.PRESETS["paper"].view
    assert view == View(size=(227, 227), crop=227, mirror=False, shared_crop=True)
