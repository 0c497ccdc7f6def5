"""Arrow of Time: forwards or reversed groups of frame differences, the label, the balance of
the two directions, and the network's two logits, on both presets."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from conftest import numbered_frames, train_one_step, write_video

from ssvlib.data.datasets import TupleDataset
from ssvlib.data.index import VideoRecord
from ssvlib.data.transforms import prepare
from ssvlib.papers import PAPERS, arrow_of_time
from ssvlib.settings import Sample, View
from ssvlib.tasks.arrow_of_time import ArrowOfTime

TASKS = [ArrowOfTime(), ArrowOfTime(num_groups=3, length=4, step=2), ArrowOfTime(1, 1, 1)]


def frames_of(sample: Sample) -> list[int]:
    """The frames a sample shows, in the order shown, each boundary frame once."""
    first, *rest = sample.elements
    return first + [i for group in rest for i in group[1:]]


@pytest.mark.parametrize("task", TASKS, ids=str)
def test_a_sample_is_one_unbroken_stretch_forwards_or_backwards_with_its_label(task):
    rng = np.random.default_rng(0)
    for num_frames in (task.min_frames, task.min_frames + 1, 4 * task.min_frames):
        for _ in range(40):
            sample = task.sample(num_frames, rng)
            assert len(sample.elements) == task.num_elements == task.num_groups
            assert all(
                len(g) == task.element.frames_read == task.length + 1 for g in sample.elements
            )
            for before, after in zip(sample.elements, sample.elements[1:], strict=False):
                assert before[-1] == after[0]  # consecutive groups share their boundary frame
            shown = frames_of(sample)
            steps = set(np.diff(shown).tolist())
            assert steps == ({task.step} if sample.label == 0 else {-task.step})
            assert 0 <= min(shown) and max(shown) < num_frames
            assert max(shown) - min(shown) + 1 == task.min_frames  # the whole stretch, no padding


def test_the_reversed_sample_plays_the_same_stretch_backwards():
    task = ArrowOfTime(num_groups=3, length=4, step=2)
    forward, backward = task.groups(5, reverse=False), task.groups(5, reverse=True)
    assert frames_of(Sample(backward, 1)) == frames_of(Sample(forward, 0))[::-1]
    assert backward[0][0] == forward[-1][-1] and backward[-1][-1] == forward[0][0]
    assert [g[::-1] for g in forward[::-1]] == backward  # groups and their frames both reversed


def test_reversing_negates_and_reverses_the_differences_the_encoder_sees():
    task = ArrowOfTime(num_groups=2, length=3, step=1)
    video = torch.randint(0, 255, (task.min_frames, 3, 8, 8), dtype=torch.uint8)
    forward = torch.stack([video[g] for g in task.groups(0, reverse=False)])
    backward = torch.stack([video[g] for g in task.groups(0, reverse=True)])
    fwd, bwd = prepare(forward, task.element), prepare(backward, task.element)  # (N, 3L, H, W)
    assert fwd.shape == (2, 3 * task.length, 8, 8) and task.element.channels == 3 * task.length
    diffs = fwd.unflatten(1, (-1, 3)).flatten(0, 1)  # every difference, in time order
    back = bwd.unflatten(1, (-1, 3)).flatten(0, 1)
    assert torch.allclose(back, -diffs.flip(0), atol=1e-6)


@pytest.mark.parametrize("task", TASKS, ids=str)
def test_both_directions_are_equally_likely_and_validation_keeps_the_balance(task):
    rng = np.random.default_rng(1)
    labels = [task.sample(task.min_frames + 10, rng).label for _ in range(4000)]
    assert set(labels) == {0, 1}
    assert abs(np.mean(labels) - 0.5) < 0.03
    assert task.for_validation() == task


def test_min_frames_is_the_stretch_and_shorter_videos_are_refused():
    task = ArrowOfTime(num_groups=2, length=6, step=2)
    assert task.min_frames == 2 * 6 * 2 + 1
    sample = task.sample(task.min_frames, np.random.default_rng(0))
    assert sorted(frames_of(sample)) == list(range(0, task.min_frames, task.step))
    with pytest.raises(ValueError, match=rf"arrow_of_time: a video of {task.min_frames - 1}"):
        task.sample(task.min_frames - 1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="length=0 must be an integer >= 1"):
        ArrowOfTime(length=0)


def test_the_task_is_a_frozen_value_named_by_its_fields():
    task = ArrowOfTime()
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.name = "other"
    assert dataclasses.asdict(task)["name"] == "arrow_of_time" and not task.motion_aware
    assert "name" not in {f.name for f in dataclasses.fields(task) if f.init}


def test_decoded_samples_show_the_frames_in_the_order_of_the_label(tmp_path):
    path = write_video(tmp_path / "Up/v_Up_g01_c01.avi", numbered_frames(40, 32, 32))
    record = VideoRecord("Up/v_Up_g01_c01.avi", path, 0, "Up", 1, 1)
    task = ArrowOfTime(num_groups=2, length=3, step=2)
    data = TupleDataset([record] * 16, task, View(crop=32, mirror=False), train=False)
    seen = set()
    for x, label in (data[i] for i in range(len(data))):
        assert x.shape == (2, 4, 3, 32, 32)
        brightness = x.float().mean(dim=(2, 3, 4)).flatten()  # frame i is about i * 255 / 39
        steps = brightness[1:] - brightness[:-1]
        steps = torch.cat([steps[:3], steps[4:]])  # within each group
        assert (steps > 0).all() if label == 0 else (steps < 0).all()
        seen.add(label)
    assert seen == {0, 1}


@pytest.mark.parametrize("preset", ["cpu", "paper"])
def test_the_network_gives_two_logits_and_trains(preset):
    recipe = arrow_of_time.PRESETS[preset]
    paper = PAPERS["arrow_of_time"]
    assert paper.build_model is arrow_of_time.build_model and paper.reported is None
    net = recipe.new_encoder(paper.default_backbone(preset))
    model = arrow_of_time.build_model(net, recipe)
    task = recipe.task
    size = 64 if preset == "cpu" else 96  # the paper's 224 is slow on a CPU; any size fits
    x = torch.randint(
        0, 255, (4, task.num_groups, task.length + 1, 3, size, size), dtype=torch.uint8
    )
    assert model(x).shape == (4, 2)
    train_one_step(model, x, torch.tensor([0, 1, 0, 1]), recipe.pretext.optim)
