"""Pretext samplers: the tuples the four papers build, reproducible from a seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import write_video

from ssvlib.data.ucf101 import VideoRecord
from ssvlib.tasks import o3n, opn, shuffle_learn, vcop
from ssvlib.tasks.permutations import class_to_order, order_to_class


def test_vcop_clips_follow_the_paper_geometry():
    spec = vcop.VCOPSpec()  # 3 clips of 16 frames, 8 apart: a 64-frame window, 6 classes
    assert spec.window() == 64 and spec.num_classes == 6
    rng = np.random.default_rng(0)
    for _ in range(50):
        clips, order, label = vcop.sample_indices(100, spec, rng)
        chronological = [None] * 3
        for shown, k in enumerate(order):
            chronological[k] = clips[shown]
        starts = [c[0] for c in chronological]
        assert np.diff(starts).tolist() == [24, 24]  # 16 frames + a gap of 8
        assert all(np.diff(c).tolist() == [1] * 15 for c in clips)
        assert 0 <= starts[0] and chronological[-1][-1] < 100
        assert order_to_class(order) == label and class_to_order(label, 3) == order


def test_vcop_labels_cover_all_orders_uniformly():
    rng = np.random.default_rng(1)
    labels = [vcop.sample_indices(80, vcop.VCOPSpec(), rng)[2] for _ in range(3000)]
    counts = np.bincount(labels, minlength=6)
    assert counts.min() > 400  # 500 expected per class


def test_vcop_short_video_shrinks_the_gap_then_repeats_the_last_frame():
    spec = vcop.VCOPSpec(clip_len=16, gap=8)
    rng = np.random.default_rng(0)
    clips, order, _ = vcop.sample_indices(52, spec, rng)  # 48 frames of clips + gaps of 2
    starts = sorted(c[0] for c in clips)
    assert np.diff(starts).tolist() == [18, 18]
    clips, _, _ = vcop.sample_indices(30, spec, rng)  # too short even with no gap
    assert max(max(c) for c in clips) == 29


def test_vcop_same_seed_same_sample():
    a = vcop.sample_indices(90, vcop.VCOPSpec(), np.random.default_rng(7))
    b = vcop.sample_indices(90, vcop.VCOPSpec(), np.random.default_rng(7))
    assert a == b


def test_shuffle_and_learn_tuples():
    rng = np.random.default_rng(0)
    labels = []
    for _ in range(400):
        triple, label, five = shuffle_learn.sample_indices(120, rng, positive_fraction=0.25)
        a, b, c, d, e = five
        assert a < b < c < d < e and e - a < 60
        assert triple in ([b, c, d], [b, a, d], [b, e, d])
        assert label == int(triple == [b, c, d])
        labels.append(label)
    assert 0.18 < np.mean(labels) < 0.32


def test_shuffle_and_learn_prefers_high_motion_windows():
    rng = np.random.default_rng(0)
    motion = rng.random(200) * 0.1
    motion[150:190] += 1.0
    fives = [shuffle_learn.sample_indices(200, rng, span=30, motion=motion)[2] for _ in range(200)]
    assert all(f[-1] >= 150 and f[0] < 190 for f in fives)  # every window overlaps the burst
    uniform = [shuffle_learn.sample_indices(200, rng, span=30)[2] for _ in range(200)]
    assert not all(f[-1] >= 150 and f[0] < 190 for f in uniform)


def test_opn_merges_an_order_with_its_reverse():
    rng = np.random.default_rng(0)
    seen = {}
    for _ in range(2000):
        frames, order, label = opn.sample_indices(100, rng, gap=5)
        assert sorted(frames) == [frames[order.index(k)] for k in range(4)]
        assert np.diff(sorted(frames)).tolist() == [5, 5, 5]
        seen.setdefault(label, set()).add(order)
    assert len(seen) == 12
    assert all(len(orders) == 2 and {o[::-1] for o in orders} == orders for orders in seen.values())


def test_o3n_has_exactly_one_shuffled_element():
    rng = np.random.default_rng(0)
    positions = []
    for _ in range(300):
        elements, odd = o3n.sample_indices(100, rng, num_elements=6, length=6, step=2)
        assert len(elements) == 6 and all(len(e) == 6 for e in elements)
        ordered = [e == sorted(e) for e in elements]
        assert ordered.count(False) == 1 and not ordered[odd]
        positions.append(odd)
    assert set(positions) == set(range(6))


@pytest.fixture
def video_records(tmp_path):
    """Two small videos whose frames move a bright bar right, one pixel column per frame."""
    records = []
    for k in range(2):
        frames = np.zeros((70, 40, 48, 3), np.uint8)
        for t in range(70):
            frames[t, :, (t // 2) % 48] = 255
        path = write_video(tmp_path / f"Up/v_Up_g0{k + 1}_c01.avi", frames)
        records.append(VideoRecord(f"Up/{path.name}", path, 0, "Up", k + 1, 1))
    return records


def test_vcop_dataset_shapes_labels_and_reproducibility(video_records):
    spec = vcop.VCOPSpec(num_clips=3, clip_len=4, gap=2)
    ds = vcop.VCOPDataset(video_records, spec, size=None, crop=32, residual=False, seed=3)
    clips, label = ds[0]
    assert clips.shape == (3, 3, 4, 32, 32) and clips.dtype == torch.float32 and 0 <= label < 6
    again, label_again = ds[0]
    assert torch.equal(clips, again) and label == label_again
    ds.set_epoch(1)
    assert any(not torch.equal(ds[i][0], vcop.VCOPDataset(
        video_records, spec, size=None, crop=32, seed=3)[i][0]) for i in range(2))
    residual = vcop.VCOPDataset(video_records, spec, size=None, crop=32, residual=True)[1][0]
    assert residual.shape == (3, 3, 4, 32, 32)


def test_vcop_dataset_validation_mode_is_fixed_and_centred(video_records):
    spec = vcop.VCOPSpec(num_clips=3, clip_len=4, gap=2)
    ds = vcop.VCOPDataset(video_records, spec, size=None, crop=32, train=False, seed=0)
    first = ds[0][0]
    ds.set_epoch(5)
    assert torch.equal(first, ds[0][0])
