"""Pretext tasks: the one contract they share, and the tuples each paper builds, from a seed."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ssvlib.papers import PAPERS
from ssvlib.settings import Element, Sample
from ssvlib.tasks.o3n import O3N
from ssvlib.tasks.opn import OPN
from ssvlib.tasks.permutations import class_to_order, order_to_class
from ssvlib.tasks.shuffle_learn import ShuffleLearn
from ssvlib.tasks.vcop import VCOP

TASKS = [
    VCOP(),
    VCOP(clip_len=4, step=2, gap=3, residual=True),
    ShuffleLearn(),
    OPN(),
    O3N(encoding="frames"),
    O3N(),
    O3N(encoding="dynamic"),
]
IDS = ["vcop", "vcop-residual", "shuffle_learn", "opn", "o3n-frames", "o3n", "o3n-dynamic"]
# and the task of every paper's presets, so that a paper added to PAPERS is checked here too
for _paper in PAPERS.values():
    for _preset, _recipe in _paper.presets.items():
        TASKS.append(_recipe.task)
        IDS.append(f"{_paper.key}-{_preset}")


# --------------------------------------------------------------------------- the contract


@pytest.mark.parametrize("task", TASKS, ids=IDS)
def test_every_task_keeps_the_contract(task):
    rng = np.random.default_rng(0)
    for num_frames in (task.min_frames, task.min_frames + 1, 3 * task.min_frames):
        for _ in range(20):
            sample = task.sample(num_frames, rng)
            assert isinstance(sample, Sample)
            assert len(sample.elements) == task.num_elements
            assert all(len(e) == task.element.frames_read for e in sample.elements)
            assert all(0 <= i < num_frames for e in sample.elements for i in e)
            assert 0 <= sample.label < task.num_classes


@pytest.mark.parametrize("task", TASKS, ids=IDS)
def test_a_video_shorter_than_min_frames_is_refused_by_name(task):
    with pytest.raises(ValueError, match=rf"{task.name}: a video of {task.min_frames - 1} frames"):
        task.sample(task.min_frames - 1, np.random.default_rng(0))


@pytest.mark.parametrize("task", TASKS, ids=IDS)
def test_same_seed_same_sample(task):
    draw = [task.sample(3 * task.min_frames, np.random.default_rng(7)) for _ in range(2)]
    assert draw[0] == draw[1]
    others = {str(task.sample(3 * task.min_frames, np.random.default_rng(s))) for s in range(10)}
    assert len(others) > 1


@pytest.mark.parametrize("task", TASKS, ids=IDS)
def test_tasks_are_frozen_values_that_name_their_settings(task):
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.name = "other"  # a run folder is named by these settings: they must not drift
    assert dataclasses.asdict(task)["name"] == task.name


def test_element_indices_step_and_repeat_the_last_frame_past_the_end():
    element = Element(length=3, step=4)
    assert element.indices(2, 100) == [2, 6, 10]
    assert element.indices(2, 8) == [2, 6, 7]
    assert (element.frames_read, element.span) == (3, 9)
    residual = Element(length=3, step=4, residual=True)
    assert residual.indices(0, 100) == [0, 4, 8, 12]  # one more frame for the differences
    assert (residual.frames_read, residual.span) == (4, 13)
    assert Element(length=5, layout="stack").channels == 15  # a 2D encoder's input channels
    assert Element(5).channels == Element(5, layout="frames").channels == 3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"length": 0}, "length"),
        ({"step": 0}, "step"),
        ({"length": 2.0}, "length"),
        ({"layout": "video"}, "'clip', 'stack', 'frames'"),
    ],
)
def test_element_rejects_what_cannot_make_an_element(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Element(**kwargs)


# --------------------------------------------------------------------------- VCOP


def chronological(sample: Sample) -> tuple[list[list[int]], tuple[int, ...]]:
    """The clips in time order, and the order they were shown in (shown k = clip order[k])."""
    starts = [e[0] for e in sample.elements]
    ranks = np.argsort(np.argsort(starts))
    order = tuple(int(r) for r in ranks)
    return [sample.elements[int(i)] for i in np.argsort(starts)], order


def test_vcop_clips_follow_the_paper_geometry():
    task = VCOP()  # 3 clips of 16 frames, 8 apart: a 64-frame window, 6 classes
    assert (task.min_frames, task.num_classes, task.num_elements) == (64, 6, 3)
    assert task.element == Element(16, 1, False, "clip")
    rng = np.random.default_rng(0)
    for _ in range(50):
        sample = task.sample(100, rng)
        clips, order = chronological(sample)
        assert np.diff([c[0] for c in clips]).tolist() == [24, 24]  # 16 frames + a gap of 8
        assert all(np.diff(c).tolist() == [1] * 15 for c in clips)
        assert clips[-1][-1] < 100
        assert order_to_class(order) == sample.label and class_to_order(sample.label, 3) == order


def test_vcop_window_of_exactly_min_frames_fits_from_frame_0_to_the_last():
    task = VCOP(clip_len=4, step=2, gap=3, residual=True)  # clips read 5 frames over 9
    assert task.min_frames == 3 * 9 + 2 * 3
    clips, _ = chronological(task.sample(task.min_frames, np.random.default_rng(0)))
    assert clips == [[0, 2, 4, 6, 8], [12, 14, 16, 18, 20], [24, 26, 28, 30, 32]]


def test_vcop_labels_cover_all_orders_uniformly():
    rng = np.random.default_rng(1)
    labels = [VCOP().sample(80, rng).label for _ in range(3000)]
    assert np.bincount(labels, minlength=6).min() > 400  # 500 expected per class


def test_vcop_window_is_placed_anywhere_in_the_video():
    rng = np.random.default_rng(2)
    firsts = [min(e[0] for e in VCOP().sample(100, rng).elements) for _ in range(400)]
    assert min(firsts) == 0 and max(firsts) == 100 - 64


def test_vcop_never_pads_a_short_video():
    with pytest.raises(ValueError, match="63 frames is shorter than the 64"):
        VCOP().sample(63, np.random.default_rng(0))


# --------------------------------------------------------------------------- Shuffle and Learn


def test_shuffle_and_learn_tuples():
    task = ShuffleLearn(positive_fraction=0.25)
    rng = np.random.default_rng(0)
    labels = []
    for _ in range(400):
        state = rng.bit_generator.state
        a, b, c, d, e = task.five_frames(120, rng)
        rng.bit_generator.state = state  # sample draws the same five frames first
        sample = task.sample(120, rng)
        assert a < b < c < d < e and e - a < task.span
        assert min(np.diff([a, b, c, d, e])) >= task.min_gap
        triple = [x[0] for x in sample.elements]
        assert triple in ([b, c, d], [b, a, d], [b, e, d])
        assert sample.label == int(triple == [b, c, d])
        labels.append(sample.label)
    assert 0.18 < np.mean(labels) < 0.32


def test_shuffle_and_learn_prefers_high_motion_windows():
    task = ShuffleLearn(span=30)
    rng = np.random.default_rng(0)
    motion = rng.random(200) * 0.1
    motion[150:190] += 1.0
    fives = [task.five_frames(200, rng, motion) for _ in range(200)]
    assert all(f[-1] >= 150 and f[0] < 190 for f in fives)  # every window overlaps the burst
    uniform = [task.five_frames(200, rng) for _ in range(200)]
    assert not all(f[-1] >= 150 and f[0] < 190 for f in uniform)
    blind = ShuffleLearn(span=30, motion_aware=False)
    ignored = [blind.five_frames(200, rng, motion) for _ in range(200)]
    assert not all(f[-1] >= 150 and f[0] < 190 for f in ignored)


# --------------------------------------------------------------------------- OPN


def test_opn_merges_an_order_with_its_reverse():
    task = OPN(gap=5)
    assert task.num_classes == 12 and task.min_frames == 16
    rng = np.random.default_rng(0)
    seen: dict[int, set] = {}
    for _ in range(2000):
        sample = task.sample(100, rng)
        frames = [e[0] for e in sample.elements]
        assert np.diff(sorted(frames)).tolist() == [5, 5, 5]
        order = tuple(int(r) for r in np.argsort(np.argsort(frames)))
        assert order_to_class(order, merge_reverse=True) == sample.label
        seen.setdefault(sample.label, set()).add(order)
    assert len(seen) == 12
    assert all(len(orders) == 2 and {o[::-1] for o in orders} == orders for orders in seen.values())


# --------------------------------------------------------------------------- O3N


def test_o3n_has_exactly_one_shuffled_element_at_the_label():
    task = O3N(num_elements=6, length=6, step=2, encoding="frames")
    rng = np.random.default_rng(0)
    positions = []
    for _ in range(300):
        sample = task.sample(100, rng)
        ordered = [e == sorted(e) for e in sample.elements]
        assert ordered.count(False) == 1 and not ordered[sample.label]
        assert all(np.diff(sorted(e)).tolist() == [2] * 5 for e in sample.elements)
        positions.append(sample.label)
    assert np.bincount(positions, minlength=6).min() > 25  # 50 expected at each position


def test_o3n_difference_elements_read_one_more_frame():
    task = O3N(num_elements=4, length=3, step=1, encoding="differences")
    assert task.element.layout == "stack" and task.element.frames_read == 4
    sample = task.sample(task.min_frames, np.random.default_rng(3))
    assert all(sorted(e) == [0, 1, 2, 3] for e in sample.elements)
