"""Tests for ssvlib.data.clips: clip sampling, crops, reproducibility and label subsets."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from ssvlib.data import clips, video
from ssvlib.data.clips import ClipDataset, ClipSpec, WithEpoch, subset_by_fraction
from ssvlib.data.ucf101 import VideoRecord

H, W = 24, 32


def fake_frames(num_frames: int) -> np.ndarray:
    """Frames that say where they come from: R = frame index, G = 4*column, B = 4*row."""
    t, y, x = np.meshgrid(np.arange(num_frames), np.arange(H), np.arange(W), indexing="ij")
    return np.stack([t, 4 * x, 4 * y], axis=-1).astype(np.uint8)


@pytest.fixture
def fake_videos(monkeypatch):
    """Replace the readers: a video's frame count is in its file name; log every decode."""
    calls: list[list[int]] = []

    def info(path, backend="auto"):
        return video.VideoInfo(int(Path(path).stem.split("_")[-1]), 25.0, H, W)

    def read(path, indices, backend="auto"):
        indices = [int(i) for i in indices]
        n = info(path).num_frames
        assert all(0 <= i < n for i in indices), f"asked for {indices} of {n} frames"
        calls.append(indices)
        return fake_frames(n)[indices]

    monkeypatch.setattr(video, "video_info", info)
    monkeypatch.setattr(video, "read_frames", read)
    return calls


def record(num_frames: int, label: int = 0, group: int = 1, clip: int = 1) -> VideoRecord:
    """A record whose (fake) video has `num_frames` frames."""
    name = f"C{label}/v_C{label}_g{group:02d}_c{clip:02d}_{num_frames}.avi"
    return VideoRecord(name, Path("/fake") / name, label, f"C{label}", group, clip)


def pixels(x: torch.Tensor) -> np.ndarray:
    """Undo transforms.normalize (mean = std = 0.5): float (C,T,H,W) back to 0..255 integers."""
    return np.rint((x.numpy() * 0.5 + 0.5) * 255).astype(int)


def test_train_clip_shape_frames_and_one_crop_for_all_frames(fake_videos):
    spec = ClipSpec(clip_len=4, step=2, size=None, crop=(16, 20))
    ds = ClipDataset([record(50, label=3)] * 8, spec, train=True)
    for i in range(len(ds)):
        x, label = ds[i]
        assert x.shape == (3, 4, 16, 20) and x.dtype == torch.float32 and label == 3
        p = pixels(x)
        frame_ids = p[0, :, 0, 0]
        assert np.all(np.diff(frame_ids) == 2)  # consecutive frames `step` apart
        assert np.all(p[0] == frame_ids[:, None, None])  # R is constant per frame
        # the same box (and the same mirror) in every frame: G and B identical over time
        assert np.all(p[1] == p[1][:1]) and np.all(p[2] == p[2][:1])
        columns = p[1, 0, 0] // 4
        assert np.all(np.abs(np.diff(columns)) == 1)  # a contiguous crop, possibly mirrored


def test_train_mirrors_some_clips_and_not_others(fake_videos):
    ds = ClipDataset([record(40)] * 40, ClipSpec(clip_len=2, size=None, crop=16), train=True)
    directions = {int(np.sign(np.diff(pixels(ds[i][0])[1, 0, 0]))[0]) for i in range(len(ds))}
    assert directions == {-1, 1}


def test_train_sample_reproducible_from_seed_epoch_index(fake_videos):
    spec = ClipSpec(clip_len=3, size=None, crop=12)
    records = [record(60, label=i) for i in range(6)]
    a = ClipDataset(records, spec, train=True, seed=7)
    b = ClipDataset(records, spec, train=True, seed=7)
    a.set_epoch(2)
    b.set_epoch(2)
    for i in reversed(range(len(records))):  # order of requests does not matter
        assert torch.equal(a[i][0], b[i][0])
    first = [a[i][0] for i in range(len(records))]
    a.set_epoch(3)
    assert any(not torch.equal(first[i], a[i][0]) for i in range(len(records)))
    other_seed = ClipDataset(records, spec, train=True, seed=8)
    other_seed.set_epoch(2)
    assert any(not torch.equal(first[i], other_seed[i][0]) for i in range(len(records)))


def test_with_epoch_carries_the_epoch_to_the_dataset(fake_videos):
    ds = ClipDataset([record(60)] * 4, ClipSpec(clip_len=3, size=None, crop=12), train=True)
    sampler = WithEpoch(range(4))
    sampler.set_epoch(5)
    keys = list(sampler)
    assert keys == [(5, 0), (5, 1), (5, 2), (5, 3)] and len(sampler) == 4
    ds.set_epoch(5)
    expected = [ds[i][0] for i in range(4)]
    ds.set_epoch(0)  # the key's epoch wins over the dataset's own
    assert all(torch.equal(ds[key][0], x) for key, x in zip(keys, expected, strict=True))


def test_eval_clips_evenly_spaced_centre_cropped(fake_videos):
    spec = ClipSpec(clip_len=4, step=1, size=None, crop=(16, 20))
    ds = ClipDataset([record(100, label=2)], spec, train=False, clips_per_video=5)
    x, label, index = ds[0]
    assert x.shape == (5, 3, 4, 16, 20) and label == 2 and index == 0
    p = np.stack([pixels(c) for c in x])
    starts = p[:, 0, 0, 0, 0]
    assert starts[0] == 0 and starts[-1] + 3 == 99  # first clip at the start, last at the end
    gaps = np.diff(starts)
    assert gaps.max() - gaps.min() <= 1  # evenly spaced (up to integer rounding)
    assert np.all(p[:, 1, :, 0, 0] == 4 * 6)  # centre crop: left = (32 - 20) // 2 = 6
    assert np.all(p[:, 2, :, 0, 0] == 4 * 4)  # top = (24 - 16) // 2 = 4
    assert ds[0][0].equal(x)  # no randomness at test time


def test_eval_decodes_each_needed_frame_once(fake_videos):
    spec = ClipSpec(clip_len=8, size=None, crop=16)
    ClipDataset([record(20)], spec, train=False, clips_per_video=4)[0]
    assert len(fake_videos) == 1
    asked = fake_videos[0]
    assert len(asked) == len(set(asked)) and max(asked) == 19 and min(asked) == 0


def test_train_decodes_only_the_clip(fake_videos):
    ClipDataset([record(500)], ClipSpec(clip_len=4, step=3, size=None, crop=16), train=True)[0]
    assert len(fake_videos) == 1 and len(fake_videos[0]) == 4


def test_short_video_repeats_last_frame(fake_videos):
    spec = ClipSpec(clip_len=8, step=1, size=None, crop=16)
    x, _ = ClipDataset([record(5)], spec, train=True)[0]
    assert list(pixels(x)[0, :, 0, 0]) == [0, 1, 2, 3, 4, 4, 4, 4]
    clips_eval, _, _ = ClipDataset([record(5)], spec, train=False, clips_per_video=3)[0]
    for c in clips_eval:
        assert list(pixels(c)[0, :, 0, 0]) == [0, 1, 2, 3, 4, 4, 4, 4]
    one_frame, _ = ClipDataset([record(1)], spec, train=True)[0]
    assert one_frame.shape == (3, 8, 16, 16)


def test_residual_reads_one_more_frame_and_returns_differences(fake_videos):
    spec = ClipSpec(clip_len=4, step=2, size=None, crop=16, residual=True)
    x, _ = ClipDataset([record(40)], spec, train=True)[0]
    assert x.shape == (3, 4, 16, 16)
    assert len(fake_videos[0]) == 5
    assert torch.allclose(x[0], torch.full_like(x[0], 2 / 255))  # R grows by `step` per frame
    assert torch.all(x[1:] == 0)  # the same crop in every frame: nothing else changes


def test_resize_short_side_then_crop(fake_videos):
    x, _ = ClipDataset([record(10)], ClipSpec(clip_len=2, size=12, crop=12), train=True)[0]
    assert x.shape == (3, 2, 12, 12)


def test_eval_batches_through_a_dataloader(fake_videos):
    records = [record(30, label=i) for i in range(3)]
    ds = ClipDataset(
        records, ClipSpec(clip_len=2, size=None, crop=8), train=False, clips_per_video=2
    )
    x, labels, index = next(iter(DataLoader(ds, batch_size=3)))
    assert x.shape == (3, 2, 3, 2, 8, 8)
    assert labels.tolist() == [0, 1, 2] and index.tolist() == [0, 1, 2]


def test_bad_arguments_raise_clear_errors(fake_videos):
    with pytest.raises(ValueError, match="clip_len"):
        ClipSpec(clip_len=0)
    with pytest.raises(ValueError, match="crop"):
        ClipSpec(crop=-1)
    with pytest.raises(ValueError, match="no records"):
        ClipDataset([], ClipSpec(), train=True)
    with pytest.raises(ValueError, match="clips_per_video"):
        ClipDataset([record(10)], ClipSpec(), train=False, clips_per_video=0)
    with pytest.raises(ValueError, match="does not fit"):
        ClipDataset([record(10)], ClipSpec(clip_len=2, size=None, crop=64), train=True)[0]
    with pytest.raises(IndexError):
        ClipDataset([record(10)], ClipSpec(), train=True)[1]


def test_reads_a_real_video_file(tmp_path):
    av = pytest.importorskip("av")
    path = tmp_path / "Walk" / "v_Walk_g01_c01.avi"
    path.parent.mkdir()
    frames = fake_frames(12)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    rec = VideoRecord("Walk/v_Walk_g01_c01.avi", path, 0, "Walk", 1, 1)
    spec = ClipSpec(clip_len=4, step=2, size=16, crop=16, backend="pyav")
    x, label = ClipDataset([rec], spec, train=True)[0]
    assert x.shape == (3, 4, 16, 16) and label == 0 and torch.isfinite(x).all()
    x_eval, _, _ = ClipDataset([rec], spec, train=False, clips_per_video=3)[0]
    assert x_eval.shape == (3, 3, 4, 16, 16)


def labelled(counts: dict[int, int]) -> list[VideoRecord]:
    """Records with counts[label] videos per class, interleaved across classes."""
    out = []
    for label, n in counts.items():
        out += [record(30, label=label, group=g + 1, clip=1) for g in range(n)]
    return sorted(out, key=lambda r: (r.group, r.label))


@pytest.mark.parametrize("fraction", [0.01, 0.1, 0.5, 1.0])
def test_subset_by_fraction_is_stratified(fraction):
    counts = {0: 20, 1: 10, 2: 3, 3: 1}
    records = labelled(counts)
    subset = subset_by_fraction(records, fraction, seed=0)
    kept = Counter(r.label for r in subset)
    assert set(kept) == set(counts)  # every class keeps at least one video
    for label, n in counts.items():
        assert abs(kept[label] - max(1.0, fraction * n)) <= 0.5 + 1e-9
    assert [r for r in records if r in subset] == subset  # original order kept, no duplicates


def test_subset_by_fraction_is_seeded():
    records = labelled({0: 30, 1: 30})
    a = subset_by_fraction(records, 0.2, seed=1)
    assert a == subset_by_fraction(records, 0.2, seed=1)
    assert a != subset_by_fraction(records, 0.2, seed=2)


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.5])
def test_subset_by_fraction_rejects_bad_fraction(fraction):
    with pytest.raises(ValueError, match="fraction"):
        subset_by_fraction(labelled({0: 3}), fraction, seed=0)


def test_clip_indices_rule():
    spec = ClipSpec(clip_len=3, step=4)
    assert list(clips.clip_indices(2, spec, 100)) == [2, 6, 10]
    assert list(clips.clip_indices(2, spec, 8)) == [2, 6, 7]
    assert clips.max_start(spec, 100) == 100 - 9 and clips.max_start(spec, 5) == 0
