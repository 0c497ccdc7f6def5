"""The datasets every chapter uses: pretext tuples and labelled videos, uint8 until the device;
and `open_videos`, which says which videos a chapter has."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import numbered_frames, write_video

from ssvlib.data import decode
from ssvlib.data.datasets import (
    TupleDataset,
    VideoDataset,
    cut,
    decode_elements,
    eval_starts,
    patch_boxes,
    place_patch,
    split_channels,
    subset_by_fraction,
    window_boxes,
)
from ssvlib.data.index import VideoRecord, present
from ssvlib.data.loader import make_loader
from ssvlib.data.ucf101 import UCF101Error, load_split
from ssvlib.data.videos import open_videos
from ssvlib.settings import Element, View
from ssvlib.tasks.o3n import O3N
from ssvlib.tasks.permutations import order_to_class
from ssvlib.tasks.vcop import VCOP

H, W = 24, 32


def fit_with(model, loader, *, epochs, val_loader=None, **options):
    """`fit` with the `Trainer`'s fields as keywords (checkpoint_dir: its folder)."""
    from ssvlib.train import Trainer, fit

    options["folder"] = options.pop("checkpoint_dir", None)
    if "max_steps_per_epoch" in options:
        options["max_steps"] = options.pop("max_steps_per_epoch")
    return fit(model, loader, val_loader, epochs, Trainer(**options))


def fake_frames(num_frames: int) -> np.ndarray:
    """Frames that say where they come from: R = frame index, G = 4*column, B = 4*row."""
    t, y, x = np.meshgrid(np.arange(num_frames), np.arange(H), np.arange(W), indexing="ij")
    return np.stack([t, 4 * x, 4 * y], axis=-1).astype(np.uint8)


@pytest.fixture
def fake_videos(monkeypatch):
    """Replace the readers: a video's frame count is in its file name; log every decode."""
    calls: list[list[int]] = []

    def info(path, backend="auto"):
        return decode.VideoInfo(int(Path(path).stem.split("_")[-1]), 25.0, H, W)

    def read(path, indices, backend="auto"):
        indices = [int(i) for i in indices]
        n = info(path).num_frames
        assert all(0 <= i < n for i in indices), f"asked for {indices} of {n} frames"
        calls.append(indices)
        return fake_frames(n)[indices]

    monkeypatch.setattr(decode, "video_info", info)
    monkeypatch.setattr(decode, "read_frames", read)
    return calls


def record(num_frames: int, label: int = 0, group: int = 1, clip: int = 1) -> VideoRecord:
    """A record whose (fake) video has `num_frames` frames."""
    name = f"C{label}/v_C{label}_g{group:02d}_c{clip:02d}_{num_frames}.avi"
    return VideoRecord(name, Path("/fake") / name, label, f"C{label}", group, clip)


def channels(x: torch.Tensor) -> np.ndarray:
    """uint8 (..., T, C, H, W) -> int array (C, ..., T, H, W): R, G, B planes first."""
    return np.moveaxis(x.numpy().astype(int), -3, 0)


TUPLE = VCOP(num_clips=3, clip_len=2, gap=1)  # 3 clips of 2 frames: an 8-frame window


# --------------------------------------------------------------------------- spatial rule


def test_video_train_element_shape_frames_and_one_crop_for_all_frames(fake_videos):
    ds = VideoDataset(
        [record(50, label=3)] * 8, Element(4, step=2), View(None, (16, 20)), train=True
    )
    for i in range(len(ds)):
        x, label = ds[i]
        assert x.shape == (4, 3, 16, 20) and x.dtype == torch.uint8 and label == 3
        r, g, b = channels(x)
        frame_ids = r[:, 0, 0]
        assert np.all(np.diff(frame_ids) == 2)  # consecutive frames `step` apart
        assert np.all(r == frame_ids[:, None, None])
        # the same box (and the same mirror) in every frame: G and B identical over time
        assert np.all(g == g[:1]) and np.all(b == b[:1])
        assert np.all(np.abs(np.diff(g[0, 0] // 4)) == 1)  # a contiguous crop, maybe mirrored


def test_tuple_one_crop_per_element_and_one_mirror_per_sample(fake_videos):
    ds = TupleDataset([record(40)] * 40, TUPLE, View(None, 16), train=True)
    directions = set()
    for i in range(len(ds)):
        x, label = ds[i]
        assert x.shape == (3, 2, 3, 16, 16) and x.dtype == torch.uint8 and 0 <= label < 6
        _, g, b = channels(x)  # (N, T, H, W)
        assert np.all(g == g[:, :1]) and np.all(b == b[:, :1])  # one box per element
        sample = {int(np.sign(np.diff(g[n, 0, 0, :2] // 4))[0]) for n in range(3)}
        assert len(sample) == 1  # every element mirrored, or none: motion keeps its direction
        directions |= sample
    assert directions == {-1, 1}  # some samples are mirrored, others not


def test_resize_then_crop(fake_videos):
    x, _ = VideoDataset([record(10)], Element(2), View(size=12, crop=12), train=True)[0]
    assert x.shape == (2, 3, 12, 12)
    assert View(size=128).resized(240, 320) == (128, 171)  # UCF-101 frames, the paper's resize
    assert View(size=(128, 171)).resized(100, 100) == (128, 171)
    assert View(size=None).resized(240, 320) == (240, 320)


def smooth_frame(height: int, width: int) -> np.ndarray:
    """A smooth RGB picture: slow waves, no edges, under 2 grey levels per pixel."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    picture = [
        128 + 40 * np.sin(x / 53) + 30 * np.cos(y / 41),
        128 + 90 * np.sin((x + y) / 97),
        128 + 100 * np.cos(x / 83 - y / 71),
    ]
    return np.clip(np.stack(picture, -1), 0, 255).round().astype(np.uint8)


@pytest.mark.parametrize(
    "source, view",
    [
        ((240, 320), View(size=(128, 171), crop=112)),  # the paper's: shrink, then crop
        ((240, 320), View(size=64, crop=56)),
        ((48, 64), View(size=96, crop=80)),  # enlarge
    ],
)
def test_resizing_only_the_crop_region_matches_resizing_the_whole_frame(source, view):
    frame = smooth_frame(*source)
    rh, rw = view.resized(*source)
    interpolation = cv2.INTER_AREA if 2 * rh < source[0] else cv2.INTER_LINEAR
    whole = cv2.resize(frame, (rw, rh), interpolation=interpolation).astype(int)
    rng = np.random.default_rng(0)
    for _ in range(10):
        ch, cw = view.crop_hw
        top, left = int(rng.integers(0, rh - ch + 1)), int(rng.integers(0, rw - cw + 1))
        region = cut(frame[None], (top, left, ch, cw), view)[0].astype(int)
        assert region.shape == (ch, cw, 3) and region.dtype == int
        diff = np.abs(region - whole[top : top + ch, left : left + cw])
        assert diff.max() <= 2 and diff.mean() < 0.5


def test_crop_larger_than_the_resized_frame_is_refused(fake_videos):
    with pytest.raises(ValueError, match="does not fit"):
        VideoDataset([record(10)], Element(2), View(None, 64), train=True)[0]


# --------------------------------------------------------------------------- randomness


@pytest.mark.parametrize("kind", ["tuple", "video"])
def test_train_sample_reproducible_from_seed_epoch_index(fake_videos, kind):
    records = [record(60, label=i) for i in range(6)]

    def make(seed):
        if kind == "tuple":
            return TupleDataset(records, TUPLE, View(None, 12), train=True, seed=seed)
        return VideoDataset(records, Element(3), View(None, 12), train=True, seed=seed)

    a, b = make(7), make(7)
    a.set_epoch(2)
    b.set_epoch(2)
    for i in reversed(range(len(records))):  # the order of requests does not matter
        assert torch.equal(a[i][0], b[i][0]) and a[i][1] == b[i][1]
    first = [a[i][0] for i in range(len(records))]
    a.set_epoch(3)
    assert any(not torch.equal(first[i], a[i][0]) for i in range(len(records)))
    other_seed = make(8)
    other_seed.set_epoch(2)
    assert any(not torch.equal(first[i], other_seed[i][0]) for i in range(len(records)))


def test_set_epoch_reaches_samples_through_the_loader(fake_videos):
    ds = TupleDataset([record(60)] * 4, TUPLE, View(None, 12), train=True, seed=1)
    loader = make_loader(ds, 4, train=True, device="cpu", seed=1)
    loader.sampler.set_epoch(3)
    ds.set_epoch(3)
    direct = torch.stack([ds[i][0] for _, i in loader.sampler])
    ds.set_epoch(0)  # the sampler's epoch is the one that counts
    assert torch.equal(next(iter(loader))[0], direct)


def test_eval_elements_evenly_spaced_centre_cropped_and_fixed(fake_videos):
    ds = VideoDataset(
        [record(100, label=2)], Element(4), View(None, (16, 20)), train=False, clips_per_video=5
    )
    x, label = ds[0]
    assert x.shape == (5, 4, 3, 16, 20) and x.dtype == torch.uint8 and label == 2
    r, g, b = channels(x)  # (K, T, H, W)
    starts = r[:, 0, 0, 0]
    assert starts[0] == 0 and starts[-1] + 3 == 99  # first clip at the start, last at the end
    gaps = np.diff(starts)
    assert gaps.max() - gaps.min() <= 1  # evenly spaced (up to integer rounding)
    assert np.all(g[..., 0, 0] == 4 * 6) and np.all(g[..., 0, 1] == 4 * 7)  # left = 6, unmirrored
    assert np.all(b[..., 0, 0] == 4 * 4)  # top = (24 - 16) // 2 = 4
    ds.set_epoch(5)
    assert torch.equal(ds[0][0], x)  # no randomness at test time


def test_eval_tuples_are_fixed_centred_and_never_mirrored(fake_videos):
    ds = TupleDataset([record(60)] * 3, TUPLE, View(None, (16, 20)), train=False, seed=0)
    first = [ds[i] for i in range(3)]
    ds.set_epoch(4)
    for i, (x, label) in enumerate(first):
        again, label_again = ds[i]
        assert torch.equal(again, x) and label_again == label
        _, g, b = channels(x)
        assert np.all(g[..., 0, 0] == 4 * 6) and np.all(g[..., 0, 1] == 4 * 7)
        assert np.all(b[..., 0, 0] == 4 * 4)


def test_eval_starts_rule():
    element = Element(4, step=2)  # spans 7 frames
    assert eval_starts(element, 57, 1).tolist() == [25]  # one element: the middle one
    assert eval_starts(element, 57, 3).tolist() == [0, 25, 50]  # the last ends on frame 56
    assert eval_starts(element, 5, 3).tolist() == [0, 0, 0]  # shorter than an element


# --------------------------------------------------------------------------- decoding


def test_eval_decodes_each_needed_frame_once(fake_videos):
    VideoDataset([record(20)], Element(8), View(None, 16), train=False, clips_per_video=4)[0]
    assert len(fake_videos) == 1
    asked = fake_videos[0]
    assert len(asked) == len(set(asked)) and min(asked) == 0 and max(asked) == 19


def test_tuple_decodes_each_needed_frame_once(fake_videos):
    task = O3N(num_elements=6, length=4, step=1, encoding="frames")  # six elements overlap
    x, _ = TupleDataset([record(10)], task, View(None, 16), train=True)[0]
    assert x.shape == (6, 4, 3, 16, 16)
    assert len(fake_videos) == 1 and len(fake_videos[0]) == len(set(fake_videos[0]))
    r = channels(x)[0][..., 0, 0]  # frame index of every element's frames
    assert set(r.ravel().tolist()) == set(fake_videos[0])


def test_train_decodes_only_the_element(fake_videos):
    VideoDataset([record(500)], Element(4, step=3), View(None, 16), train=True)[0]
    assert len(fake_videos) == 1 and len(fake_videos[0]) == 4


def test_short_video_repeats_its_last_frame(fake_videos):
    element, view = Element(8), View(None, 16)
    x, _ = VideoDataset([record(5)], element, view, train=True)[0]
    assert channels(x)[0][:, 0, 0].tolist() == [0, 1, 2, 3, 4, 4, 4, 4]
    clips, _ = VideoDataset([record(5)], element, view, train=False, clips_per_video=3)[0]
    for c in channels(clips)[0]:
        assert c[:, 0, 0].tolist() == [0, 1, 2, 3, 4, 4, 4, 4]
    one_frame, _ = VideoDataset([record(1)], element, view, train=True)[0]
    assert one_frame.shape == (8, 3, 16, 16)


def test_residual_element_reads_one_more_frame(fake_videos):
    x, _ = VideoDataset(
        [record(40)], Element(4, step=2, residual=True), View(None, 16), train=True
    )[0]
    assert x.shape == (5, 3, 16, 16) and x.dtype == torch.uint8
    assert len(fake_videos[0]) == 5
    assert np.all(np.diff(channels(x)[0][:, 0, 0]) == 2)


# --------------------------------------------------------------------------- which videos


def test_tuple_dataset_drops_videos_too_short_for_the_task(fake_videos):
    short, fits, long = record(7, clip=1), record(8, clip=2), record(30, clip=3)
    ds = TupleDataset([short, fits, long], TUPLE, View(None, 16))
    assert ds.dropped == [short] and ds.records == [fits, long] and len(ds) == 2
    assert ds.labels == [0, 0]
    with pytest.raises(ValueError, match="every one of the 1 videos is shorter than the 8"):
        TupleDataset([short], TUPLE, View(None, 16))


def test_bad_arguments_raise_clear_errors(fake_videos):
    with pytest.raises(ValueError, match="no videos.*ssv data check"):
        VideoDataset([], Element(), View(), train=True)
    with pytest.raises(ValueError, match="no videos"):
        TupleDataset([], TUPLE, View())
    with pytest.raises(ValueError, match="clips_per_video"):
        VideoDataset([record(10)], Element(), View(None, 16), train=False, clips_per_video=0)
    with pytest.raises(IndexError):
        VideoDataset([record(10)], Element(), View(None, 16), train=True)[1]


def test_eval_batches_through_make_loader(fake_videos):
    records = [record(30, label=i) for i in range(3)]
    ds = VideoDataset(records, Element(2), View(None, 8), train=False, clips_per_video=2)
    x, labels = next(iter(make_loader(ds, 3, train=False, device="cpu")))
    assert x.shape == (3, 2, 2, 3, 8, 8) and x.dtype == torch.uint8
    assert labels.tolist() == [0, 1, 2]


# --------------------------------------------------------------------------- real files


def brightness(x: torch.Tensor) -> np.ndarray:
    """Mean level of every frame of uint8 (..., T, C, H, W)."""
    return x.float().mean(dim=(-3, -2, -1)).numpy()


def test_reads_a_real_video_file(numbered_video):
    rec = VideoRecord("Walk/v_Walk_g01_c01.avi", numbered_video, 4, "Walk", 1, 1)
    levels = numbered_frames(40)[:, 0, 0, 0].astype(float)
    clips, label = VideoDataset([rec], Element(4), View(None, 32), train=False, clips_per_video=3)[
        0
    ]
    assert clips.shape == (3, 4, 3, 32, 32) and clips.dtype == torch.uint8 and label == 4
    expected = np.stack([levels[s : s + 4] for s in (0, 18, 36)])
    assert np.abs(brightness(clips) - expected).max() < 3
    x, _ = VideoDataset([rec], Element(4, step=2), View(size=24, crop=16), train=True)[0]
    assert x.shape == (4, 3, 16, 16)
    assert np.allclose(np.diff(brightness(x)), 2 * 255 / 39, atol=3)


def test_real_tuples_show_the_clips_in_the_order_the_label_names(numbered_video):
    rec = VideoRecord("Walk/v_Walk_g01_c01.avi", numbered_video, 0, "Walk", 1, 1)
    ds = TupleDataset([rec], VCOP(num_clips=3, clip_len=2, gap=2), View(size=24, crop=16), seed=3)
    labels = set()
    for epoch in range(12):
        ds.set_epoch(epoch)
        x, label = ds[0]
        assert x.shape == (3, 2, 3, 16, 16) and x.dtype == torch.uint8
        shown = brightness(x)[:, 0]
        order = tuple(int(r) for r in np.argsort(np.argsort(shown)))
        assert order_to_class(order) == label
        labels.add(label)
    assert len(labels) > 2


# --------------------------------------------------------------------------- label subsets


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


# --------------------------------------------------------------------------- open_videos


CLASSES = ("Archery", "Bowling")


def fake_ucf101(root: Path, groups=(1, 2, 3, 4, 5), test_groups=(1, 2), absent=()) -> Path:
    """A tiny UCF-101 root: two classes, one 8-frame video per class and group."""
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text("".join(f"{i} {c}\n" for i, c in enumerate(CLASSES, 1)))
    train, test = [], []
    for label, cls in enumerate(CLASSES):
        for group in groups:
            rel = f"{cls}/v_{cls}_g{group:02d}_c01.avi"
            if rel not in absent:
                write_video(root / "UCF-101" / rel, numbered_frames(8, 16, 16))
            if group in test_groups:
                test.append(rel + "\n")
            else:
                train.append(f"{rel} {label + 1}\n")
    (lists / "trainlist01.txt").write_text("".join(train))
    (lists / "testlist01.txt").write_text("".join(test))
    return root


def test_open_videos_holds_out_whole_training_groups(tmp_path):
    videos = open_videos("ucf101", fake_ucf101(tmp_path))
    assert videos.classes == list(CLASSES) and videos.num_classes == 2
    assert {r.group for r in videos.train} == {3, 4, 5} and {r.group for r in videos.test} == {1, 2}
    assert {r.group for r in videos.fit} == {3} and {r.group for r in videos.val} == {4, 5}
    assert sorted(r.rel for r in videos.fit + videos.val) == sorted(r.rel for r in videos.train)
    assert {r.label for r in videos.fit} == {0, 1}
    text = videos.describe()
    assert "2 classes" in text and "6 training videos" in text and "4 test videos" in text
    assert "2 to train on and 4 in 2 held-out groups" in text
    assert "present of those listed" not in text
    fewer = videos.every(2)
    assert fewer.train == videos.train[::2] and fewer.test == videos.test[::2]
    assert fewer.val and fewer.fit and {r.group for r in fewer.val} <= {4, 5}


def test_open_videos_uses_the_present_videos_and_says_so(tmp_path):
    gone = "Bowling/v_Bowling_g03_c01.avi"
    videos = open_videos("ucf101", fake_ucf101(tmp_path, absent=(gone,)))
    assert gone not in [r.rel for r in videos.train] and len(videos.train) == 5
    assert "present of those listed: 5/6 train, 4/4 test" in videos.describe()


def test_open_videos_too_few_groups_names_the_counts_and_the_check(tmp_path):
    root = fake_ucf101(tmp_path, groups=(1, 2, 3, 4))  # train groups 3 and 4: none left to fit
    with pytest.raises(UCF101Error) as err:
        open_videos("ucf101", root)
    message = str(err.value)
    assert "4 of 4 training videos are present, in 2 groups" in message
    assert "4 of 4 test videos" in message and "at least 3 groups" in message
    assert f"ssv data check {root} --dataset ucf101 --split 1" in message


def test_open_videos_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="'builtin', 'ucf101'"):
        open_videos("hmdb", tmp_path)
    with pytest.raises(ValueError, match="needs data_root"):
        open_videos("ucf101")
    with pytest.raises(ValueError, match="split"):
        open_videos("ucf101", tmp_path, split=4)


def test_open_videos_on_the_real_files(real_root):
    index = load_split(real_root, 1)
    train, test = present(index.train), present(index.test)
    if len({r.group for r in train}) >= 3 and test:  # a complete enough copy opens
        videos = open_videos("ucf101", real_root)
        assert (len(videos.train), len(videos.test)) == (len(train), len(test))
        return
    with pytest.raises(UCF101Error) as err:  # the checkout's sample: 1 train, 18 test videos
        open_videos("ucf101", real_root)
    message = str(err.value)
    assert f"{len(train)} of {len(index.train)} training videos are present" in message
    assert f"{len(test)} of {len(index.test)} test videos" in message
    assert "ssv data check" in message


def test_view_without_mirror_never_flips(tmp_path):
    frames = np.zeros((6, 32, 32, 3), np.uint8)
    frames[:, :, :16] = 255  # bright left half
    path = write_video(tmp_path / "half.avi", frames)
    for flip in (False, True):
        view = View(size=None, crop=32, mirror=flip)
        lefts = [
            decode_elements(path, [[0, 1]], view, np.random.default_rng(seed))[0, 0, 0, :, :8]
            for seed in range(12)
        ]
        bright = {bool(left.float().mean() > 128) for left in lefts}
        assert bright == ({True} if not flip else {True, False})


def test_shared_crop_lines_up_the_elements_of_a_tuple(tmp_path):
    from ssvlib.tasks.shuffle_learn import ShuffleLearn

    ramp = np.tile(np.linspace(0, 255, 64).astype(np.uint8)[None, :, None], (48, 1, 3))
    frames = np.repeat(ramp[None], 30, axis=0)  # every frame the same horizontal ramp
    path = write_video(tmp_path / "Up/v_Up_g01_c01.avi", frames)
    record = VideoRecord("Up/v_Up_g01_c01.avi", path, 0, "Up", 1, 1)
    task = ShuffleLearn(span=20, min_gap=2, motion_aware=False)
    for shared in (True, False):
        view = View(size=None, crop=24, mirror=False, shared_crop=shared)
        data = TupleDataset([record] * 8, task, view, train=True, seed=0)
        same = [torch.equal(x[0], x[1]) and torch.equal(x[1], x[2]) for x, _ in data]
        assert all(same) if shared else not all(same)


# ---------------------------------------------------------------- OPN's spatial side


def square_moving_at_top_left(count: int = 8) -> np.ndarray:
    """Frames of still random texture, with a bright square moving in the top-left corner."""
    rng = np.random.default_rng(0)
    frames = np.repeat(rng.integers(0, 120, (1, 64, 96, 3), dtype=np.uint8), count, axis=0)
    for t in range(count):
        frames[t, 4:14, 4 + 2 * t : 14 + 2 * t] = 250
    return frames


def test_the_patch_goes_where_the_sample_moves_and_jitter_stays_inside_it():
    frames = square_moving_at_top_left()
    view = View(size=None, crop=24, patch=32, jitter=3, mirror=False)
    boxes = patch_boxes(frames, 4, view, np.random.default_rng(0))
    tops, lefts = [b[0] for b in boxes], [b[1] for b in boxes]
    assert all(b[2:] == (24, 24) for b in boxes)
    assert max(tops) + 24 <= 32 and max(lefts) + 24 <= 40  # inside the top-left patch
    assert len(set(zip(tops, lefts, strict=True))) > 1  # each element its own shift
    assert max(tops) - min(tops) <= 6 and max(lefts) - min(lefts) <= 6  # +-3 around one window
    centre = patch_boxes(frames, 4, view, None)  # eval mode: centred, no jitter
    assert centre == [((64 - 32) // 2 + 4, (96 - 32) // 2 + 4, 24, 24)] * 4
    uniform = dataclasses.replace(view, patch_by_motion=False, jitter=0)
    spots = {patch_boxes(frames, 1, uniform, np.random.default_rng(s))[0] for s in range(20)}
    assert len(spots) > 5  # placed at random without the motion
    with pytest.raises(ValueError, match="patch=20 must hold the crop 24"):
        patch_boxes(frames, 1, dataclasses.replace(view, patch=20), None)


def test_patch_boxes_are_the_patch_then_its_windows():
    frames = np.zeros((4, 64, 96, 3), np.uint8)
    frames[1:, 40:60, 70:90] = 255  # the motion: bottom right
    view = View(size=None, crop=24, patch=32, jitter=2)
    patch = place_patch(frames, view, np.random.default_rng(0))
    top, left, side = patch
    assert side == 32 and top <= 40 and top + side >= 60 and left <= 70 and left + side >= 90
    boxes = window_boxes(patch, 4, view, np.random.default_rng(3))
    for y, x, h, w in boxes:
        assert (h, w) == (24, 24) and top <= y <= top + side - h and left <= x <= left + side - w
    spread = {b[:2] for b in boxes}
    assert max(abs(a[0] - b[0]) for a in spread for b in spread) <= 4  # one window, jittered
    same = patch_boxes(frames, 4, view, np.random.default_rng(5))
    rng = np.random.default_rng(5)
    assert same == window_boxes(place_patch(frames, view, rng), 4, view, rng)


def test_channel_split_copies_one_channel_per_frame():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (4, 2, 5, 6, 3), dtype=np.uint8)
    picks = np.random.default_rng(1).integers(0, 3, size=(4, 2))
    split = split_channels(x, picks)
    assert split.shape == x.shape
    for n in range(4):
        for t in range(2):
            for c in range(3):
                assert (split[n, t, ..., c] == x[n, t, ..., picks[n, t]]).all()


def test_opn_views_apply_in_pretext_tuples_only(tmp_path):
    from ssvlib.tasks.opn import OPN

    path = write_video(tmp_path / "Up/v_Up_g01_c01.avi", square_moving_at_top_left(30))
    record = VideoRecord("Up/v_Up_g01_c01.avi", path, 0, "Up", 1, 1)
    view = View(size=None, crop=24, patch=32, jitter=3, channel_split=True)
    x, _ = TupleDataset([record], OPN(gap=2, motion_aware=False), view, seed=0)[0]
    assert x.shape == (4, 1, 3, 24, 24)
    assert (x[:, :, 0] == x[:, :, 1]).all() and (x[:, :, 1] == x[:, :, 2]).all()
    clips, _ = VideoDataset([record], Element(2), view, train=False, clips_per_video=1)[0]
    assert clips.shape == (1, 2, 3, 24, 24)  # a centred crop of the whole frame, colour kept
    assert not (clips[:, :, 0] == clips[:, :, 1]).all()


def test_opn_patch_is_placed_on_the_frames_in_time_order(numbered_video, monkeypatch):
    import ssvlib.data.datasets as datasets

    seen = []
    place = datasets.place_patch

    def spy(frames, view, rng):
        seen.append(frames[:, 0, 0, 0].astype(int).tolist())
        return place(frames, view, rng)

    monkeypatch.setattr(datasets, "place_patch", spy)
    view = View(size=None, crop=24, patch=32, jitter=2)
    shown = [[30], [0], [20], [10]]  # a shuffled tuple: its place must not depend on the shuffle
    x = decode_elements(numbered_video, shown, view, np.random.default_rng(0))
    assert x.shape == (4, 1, 3, 24, 24)
    assert len(seen) == 1 and seen[0] == sorted(seen[0])  # brightness grows with time


# --------------------------------------------------------------------------- unreadable videos


@pytest.fixture
def three_videos_and_noise(tmp_path):
    """Three readable 20-frame videos (labels 0, 1, 0) and one file of noise."""
    records = []
    for i, label in enumerate((0, 1, 0, 1)):
        name = f"C{label}/v_C{label}_g{i + 1:02d}_c01.avi"
        path = write_video(tmp_path / name, numbered_frames(20, 24, 32))
        records.append(VideoRecord(name, path, label, f"C{label}", i + 1, 1))
    noise = np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes()
    records[3].path.write_bytes(noise)
    return records


def test_unreadable_videos_are_left_out_or_skipped_and_listed_by_fit(
    three_videos_and_noise, monkeypatch, capsys
):
    from ssvlib.settings import Optim
    from ssvlib.train import make_optimizer

    records = three_videos_and_noise
    with pytest.warns(UserWarning, match="1 unreadable videos left out"):
        data = VideoDataset(records, Element(4), View(None, 16), train=True, strict=False)
    assert data.unreadable == [str(records[3].path)] and len(data) == 3
    real_read = decode.read_frames
    broken = str(records[1].path)  # its header reads, its frames do not: found mid-run

    def read(path, indices, backend="auto"):
        if str(path) == broken:
            raise decode.VideoError(f"cannot decode {path}: corrupt")
        return real_read(path, indices, backend)

    monkeypatch.setattr(decode, "read_frames", read)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(2))
    loader = make_loader(data, 3, train=True, device="cpu", seed=0)
    model(data.sample(0)[0][None].float())  # materialise the lazy layer
    optimizer = make_optimizer(model.parameters(), Optim("sgd", lr=0.01))

    def loss(outputs, labels):
        return torch.nn.functional.cross_entropy(outputs, labels)

    class Float(torch.nn.Module):
        def forward(self, x):
            return model(x.float())

    with pytest.warns(UserWarning, match="skipped an unreadable video during training"):
        history = fit_with(
            Float(), loader, epochs=2, optimizer=optimizer, loss_fn=loss, device="cpu"
        )
    assert [r["skipped"] for r in history.epochs] == [[broken], [broken]]
    assert history.skipped == sorted([broken, str(records[3].path)])
    assert "2 unreadable videos were skipped" in capsys.readouterr().out
    with pytest.raises(decode.VideoError, match="cannot decode"):  # eval mode never hides one
        VideoDataset(records[:3], Element(4), View(None, 16), train=False, strict=False)[1]


def test_strict_datasets_fail_on_the_first_unreadable_video(three_videos_and_noise, monkeypatch):
    records = three_videos_and_noise
    with pytest.raises(decode.VideoError, match=records[3].path.name):
        VideoDataset(records, Element(4), View(None, 16), train=True, strict=True)
    monkeypatch.setenv("SSV_STRICT", "1")
    with pytest.raises(decode.VideoError, match=records[3].path.name):
        TupleDataset(records, VCOP(clip_len=2, gap=1), View(None, 16))
