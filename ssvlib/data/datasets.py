"""The datasets every chapter uses: pretext tuples and labelled videos, as uint8 until the device.

Two datasets share one decoding path (`decode_elements`):

- `TupleDataset(records, task, view)`: any pretext task's samples, (uint8 (N, T, C, H, W), label),
  the N elements in the order the network sees them.
- `VideoDataset(records, element, view)`: labelled videos for evaluation. In train mode one element
  at a random start, (uint8 (T, C, H, W), label); in eval mode `clips_per_video` elements evenly
  spaced over the video, (uint8 (K, T, C, H, W), label).

Samples stay uint8 (4x smaller than float, and cheap to batch); `ssvlib.data.transforms.prepare`
normalises them or takes frame differences on the device.

Spatial rule (`View`): each element gets one crop box, the same for all its frames (random in
train mode, centred otherwise; with `view.shared_crop`, one box for the whole sample), and one
mirror decision covers the whole sample, since mirroring
one element alone would reverse its apparent motion. Frames are resized to `view.size` first, but
only the crop's source region is resized (rounded to whole source pixels), in uint8 with OpenCV:
the costly per-pixel work touches only the pixels that are kept.

Every random choice of sample `index` comes from ``np.random.default_rng((seed, epoch, index))``;
`ssvlib.train.fit` calls `set_epoch` before every epoch. Eval mode always uses epoch 0.

Unreadable videos do not stop a long run (unless `strict`, or SSV_STRICT=1): one whose container
cannot be read is dropped when the dataset is built, with a warning that names it; one that fails
to decode during training is replaced by the next readable video of the dataset, and the sample
carries its name, which `ssvlib.train.fit` counts in the run's history and lists at the end. In
eval mode a decoding failure still raises: a test set must not change under a result.
`ssv data check` finds such files before a run.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ..config import is_strict
from ..settings import Element, Task, View
from . import decode
from .loader import Skipped
from .motion import high_motion_patch, video_motion


def crop_box(
    height: int, width: int, view: View, rng: np.random.Generator | None
) -> tuple[int, int, int, int]:
    """A (top, left, h, w) crop in resized coordinates: random with `rng`, else centred."""
    rh, rw = view.resized(height, width)
    ch, cw = view.crop_hw
    if ch > rh or cw > rw:
        raise ValueError(
            f"crop {view.crop} does not fit in frames resized to {rh}x{rw} (from {height}x"
            f"{width}); choose a smaller crop or a larger size"
        )
    if rng is None:
        return (rh - ch) // 2, (rw - cw) // 2, ch, cw
    return int(rng.integers(0, rh - ch + 1)), int(rng.integers(0, rw - cw + 1)), ch, cw


def place_patch(
    frames: np.ndarray, view: View, rng: np.random.Generator | None
) -> tuple[int, int, int]:
    """(top, left, side) in resized coordinates of the square patch of `view.patch` pixels (OPN).

    The patch goes where `frames` (a sample's frames in time order, source size) move most in train
    mode with `view.patch_by_motion`, at random without it, in the centre in eval mode.
    """
    height, width = frames.shape[1:3]
    rh, rw = view.resized(height, width)
    side, (ch, cw) = int(view.patch), view.crop_hw
    if not (max(ch, cw) <= side <= min(rh, rw)):
        raise ValueError(
            f"patch={view.patch} must hold the crop {view.crop} and fit in frames resized to "
            f"{rh}x{rw}; choose a patch between them"
        )
    if rng is None:
        return (rh - side) // 2, (rw - side) // 2, side
    if view.patch_by_motion:
        found = high_motion_patch(frames, (round(side * height / rh), round(side * width / rw)))
        top = min(round(found[0] * rh / height), rh - side)
        left = min(round(found[1] * rw / width), rw - side)
        return top, left, side
    return int(rng.integers(0, rh - side + 1)), int(rng.integers(0, rw - side + 1)), side


def window_boxes(
    patch: tuple[int, int, int], count: int, view: View, rng: np.random.Generator | None
) -> list[tuple[int, int, int, int]]:
    """`count` crop boxes inside `patch`: as OPN's data layer, one window at random in the patch,
    each box that window shifted on its own by up to +-`view.jitter` pixels per axis (a shift
    that would leave the patch is dropped). In eval mode (no `rng`) every box is centred."""
    top, left, side = patch
    ch, cw = view.crop_hw
    if rng is None:
        return [(top + (side - ch) // 2, left + (side - cw) // 2, ch, cw)] * count
    y0, x0 = int(rng.integers(0, side - ch + 1)), int(rng.integers(0, side - cw + 1))
    boxes = []
    for _ in range(count):
        dy, dx = (int(v) for v in rng.integers(-view.jitter, view.jitter + 1, size=2))
        y = y0 + dy if 0 <= y0 + dy <= side - ch else y0
        x = x0 + dx if 0 <= x0 + dx <= side - cw else x0
        boxes.append((top + y, left + x, ch, cw))
    return boxes


def patch_boxes(
    frames: np.ndarray, count: int, view: View, rng: np.random.Generator | None
) -> list[tuple[int, int, int, int]]:
    """`count` crop boxes (resized coordinates) inside one patch of `view.patch` pixels (OPN):
    `place_patch`, then `window_boxes`. `frames` must be in time order (not in the order
    shown), or the patch's place would depend on the shuffle, that is on the label."""
    return window_boxes(place_patch(frames, view, rng), count, view, rng)


def split_channels(stacked: np.ndarray, picks: np.ndarray, axis: int = 4) -> np.ndarray:
    """(N, T, ...) uint8 frames, colour on `axis` ((N, T, H, W, 3) by default; 2 for planar
    (N, T, 3, H, W)): frame (n, t) keeps colour channel picks[n, t], copied into all three."""
    index = picks.reshape(picks.shape + (1,) * (stacked.ndim - 2))
    return np.repeat(np.take_along_axis(stacked, index, axis=axis), 3, axis=axis)


def interpolation_for(source: tuple[int, int], target: tuple[int, int]) -> int:
    """OpenCV's interpolation for resizing (h, w) `source` to `target`: INTER_AREA where a side
    shrinks to less than half (it averages away what would alias), INTER_LINEAR otherwise, as
    the papers' code resizes (and 4x faster: at VCOP's 128x171 the resize was half of the
    loader's time)."""
    shrinks = source[0] > 2 * target[0] or source[1] > 2 * target[1]
    return cv2.INTER_AREA if shrinks else cv2.INTER_LINEAR


def cut(
    frames: np.ndarray,
    box: tuple[int, int, int, int],
    view: View,
    rows: Sequence[int] | None = None,
) -> np.ndarray:
    """Crop `box` (resized coordinates) out of (n, H, W, 3) frames (or out of those at `rows`):
    (n, h, w, 3). Only the crop's source region is resized, and only where it must be
    (`interpolation_for`)."""
    height, width = frames.shape[1:3]
    rh, rw = view.resized(height, width)
    top, left, ch, cw = box
    y0, y1 = round(top * height / rh), round((top + ch) * height / rh)
    x0, x1 = round(left * width / rw), round((left + cw) * width / rw)
    y1, x1 = max(y1, y0 + 1), max(x1, x0 + 1)
    rows = np.arange(len(frames)) if rows is None else np.asarray(rows)
    if (y1 - y0, x1 - x0) == (ch, cw):
        return frames[rows, y0:y1, x0:x1]  # one copy of the crop, nothing else
    out = np.empty((len(rows), ch, cw, 3), np.uint8)
    interpolation = interpolation_for((y1 - y0, x1 - x0), (ch, cw))
    for row, target in zip(rows, out, strict=True):
        cv2.resize(frames[row, y0:y1, x0:x1], (cw, ch), dst=target, interpolation=interpolation)
    return out


def decode_elements(
    path,
    elements: Sequence[Sequence[int]],
    view: View,
    rng: np.random.Generator | None,
    backend: str = "auto",
) -> torch.Tensor:
    """Decode the frames of every element once, crop each element, mirror the whole sample.

    Returns uint8 (N, T, C, H, W). With `rng` the crops are random and the sample is mirrored
    with probability 1/2 (if `view.mirror`); without, crops are centred and nothing is mirrored.
    """
    flat = np.concatenate([np.asarray(e, dtype=np.int64) for e in elements])
    unique, inverse = np.unique(flat, return_inverse=True)
    in_time = decode.read_frames(path, unique.tolist(), backend=backend)  # in time order
    height, width = in_time.shape[1:3]
    if view.patch is not None:  # placed by the motion in time order: the shuffle must not tell
        boxes = patch_boxes(in_time, len(elements), view, rng)
    elif view.shared_crop:
        boxes = [crop_box(height, width, view, rng)] * len(elements)
    else:
        boxes = [crop_box(height, width, view, rng) for _ in elements]
    (ch, cw), length = view.crop_hw, len(elements[0])
    if any(len(e) != length for e in elements):
        raise ValueError(f"elements of one sample must be equally long: {elements}")
    # Planar (N, T, C, H, W) memory, filled element by element with one channel split each:
    # batches then stack as plain copies (a permuted tensor made collating 15x slower).
    planar = np.empty((len(elements), length, 3, ch, cw), np.uint8)
    for k, box in enumerate(boxes):
        element = cut(in_time, box, view, rows=inverse[k * length : (k + 1) * length])
        for channel, plane in enumerate(cv2.split(element.reshape(length * ch, cw, 3))):
            planar[k, :, channel] = plane.reshape(length, ch, cw)
    if rng is not None and view.mirror and rng.random() < 0.5:
        rows = planar.reshape(-1, cw)  # every row of every plane, reversed in place in one call
        cv2.flip(rows, 1, dst=rows)
    if rng is not None and view.channel_split:  # each frame: one channel, copied into all three
        planar = split_channels(planar, rng.integers(0, 3, size=planar.shape[:2]), axis=2)
    return torch.from_numpy(planar)


class _DecodedSamples(Dataset):
    """Records with their frame counts, a seed and an epoch: what both datasets share, and the
    rule for unreadable videos (see the module docstring)."""

    def __init__(
        self, records: Sequence, *, train: bool, seed: int, backend: str, strict: bool | None
    ) -> None:
        if len(records) == 0:
            raise ValueError(
                f"{type(self).__name__} got no videos: check the data root and split "
                "(`ssv data check ROOT`) and the label fraction"
            )
        self.strict = is_strict() if strict is None else strict
        self.records, self.num_frames, self.unreadable = [], [], []
        for record in records:
            try:
                count = decode.video_info(record.path).num_frames
            except decode.VideoError:
                if self.strict:
                    raise
                self.unreadable.append(str(record.path))
                continue
            self.records.append(record)
            self.num_frames.append(count)
        if self.unreadable:
            shown = "\n  ".join(sorted(set(self.unreadable))[:10])
            warnings.warn(
                f"{type(self).__name__}: {len(self.unreadable)} unreadable videos left out:\n"
                f"  {shown}\nRun `ssv data check ROOT` to list them all; strict=True (or "
                "SSV_STRICT=1) stops instead.",
                stacklevel=3,
            )
        if not self.records:
            raise decode.VideoError(
                f"{type(self).__name__}: not one of the {len(records)} videos can be read, "
                f"the first being {self.unreadable[0]}; run `ssv data check ROOT`"
            )
        self.train, self.seed, self.backend, self.epoch = train, seed, backend, 0

    def sample(self, index: int) -> tuple[torch.Tensor, int]:
        """Sample `index` (each dataset defines it)."""
        raise NotImplementedError

    def describe_sample(self, index: int) -> str:
        """What sample `index` reads: its video (named when a loader worker is stuck on it)."""
        return str(self.records[index].path)

    def __getitem__(self, index: int) -> tuple:
        """`sample(index)`; in train mode, a video that fails to decode gives way to the next one,
        and the sample is (x, label, (the failed video's path,))."""
        try:
            return self.sample(index)
        except decode.VideoError as err:
            if self.strict or not self.train:
                raise
            failed = str(self.records[index].path)
            warnings.warn(f"skipped an unreadable video during training: {err}", stacklevel=2)
            for step in range(1, len(self)):
                try:
                    x, label = self.sample((index + step) % len(self))
                except decode.VideoError:
                    continue
                return x, label, Skipped((failed,))
            raise

    def __len__(self) -> int:
        return len(self.records)

    @property
    def labels(self) -> list[int]:
        """The class label of every video, in dataset order."""
        return [r.label for r in self.records]

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch that seeds the random choices of the next samples (train mode)."""
        self.epoch = epoch

    def rng(self, index: int) -> np.random.Generator:
        """The generator of sample `index` at the current epoch (always epoch 0 in eval mode)."""
        return np.random.default_rng((self.seed, self.epoch if self.train else 0, index))


class TupleDataset(_DecodedSamples):
    """Any pretext task's samples: (uint8 (N, T, C, H, W), label), elements in the order shown.

    Videos shorter than ``task.min_frames`` are dropped (listed in `dropped`). For a motion-aware
    task, `motion` ("diff" or "farneback") names the per-frame motion curve handed to the sampler;
    None samples uniformly.
    """

    def __init__(
        self,
        records: Sequence,
        task: Task,
        view: View,
        *,
        train: bool = True,
        seed: int = 0,
        motion: str | None = None,
        backend: str = "auto",
        strict: bool | None = None,
    ) -> None:
        super().__init__(records, train=train, seed=seed, backend=backend, strict=strict)
        fits = [n >= task.min_frames for n in self.num_frames]
        if not any(fits):
            raise ValueError(
                f"every one of the {len(self.records)} videos is shorter than the {task.min_frames} "
                f"frames a {task.name} sample needs; use a smaller task or longer videos"
            )
        self.dropped = [r for r, ok in zip(self.records, fits, strict=True) if not ok]
        self.records = [r for r, ok in zip(self.records, fits, strict=True) if ok]
        self.num_frames = [n for n, ok in zip(self.num_frames, fits, strict=True) if ok]
        self.task, self.view, self.motion = task, view, motion

    def sample(self, index: int) -> tuple[torch.Tensor, int]:
        """Sample `index`: (uint8 (N, T, C, H, W), label)."""
        record, rng = self.records[index], self.rng(index)
        motion = None
        if self.motion is not None and self.task.motion_aware:
            motion = video_motion(record.path, self.motion)
        elements, label = self.task.sample(self.num_frames[index], rng, motion)
        x = decode_elements(
            record.path, elements, self.view, rng if self.train else None, self.backend
        )
        return x, label


def eval_starts(element: Element, num_frames: int, clips_per_video: int) -> np.ndarray:
    """Starts of `clips_per_video` elements evenly spaced from frame 0 to the last that fits.

    As VCOP's code: the first starts at frame 0, the last ends on the last frame; a single
    element is the middle one.
    """
    last = max(0, num_frames - element.span)
    if clips_per_video == 1:
        return np.array([last // 2])
    return np.linspace(0, last, clips_per_video).astype(int)


class VideoDataset(_DecodedSamples):
    """Labelled videos as elements: train -> (uint8 (T, C, H, W), label), one random element;
    eval -> (uint8 (K, T, C, H, W), label), K = clips_per_video evenly spaced, centre-cropped.

    A video shorter than an element never crashes: frame indices past its end repeat its last
    frame.
    """

    def __init__(
        self,
        records: Sequence,
        element: Element,
        view: View,
        *,
        train: bool,
        clips_per_video: int = 1,
        seed: int = 0,
        backend: str = "auto",
        strict: bool | None = None,
    ) -> None:
        if not isinstance(clips_per_video, int) or clips_per_video < 1:
            raise ValueError(f"clips_per_video={clips_per_video!r}: must be an integer >= 1")
        super().__init__(records, train=train, seed=seed, backend=backend, strict=strict)
        self.element, self.view, self.clips_per_video = element, view.for_videos(), clips_per_video

    def sample(self, index: int) -> tuple[torch.Tensor, int]:
        """Sample `index`: one element (train) or `clips_per_video` of them (eval), and a label."""
        record, n = self.records[index], self.num_frames[index]
        if self.train:
            rng = self.rng(index)
            start = int(rng.integers(0, max(0, n - self.element.span) + 1))
            x = decode_elements(
                record.path, [self.element.indices(start, n)], self.view, rng, self.backend
            )
            return x[0], record.label
        starts = eval_starts(self.element, n, self.clips_per_video)
        elements = [self.element.indices(int(s), n) for s in starts]
        return decode_elements(record.path, elements, self.view, None, self.backend), record.label


def subset_by_fraction(records: Sequence, fraction: float, seed: int = 0) -> list:
    """Keep `fraction` of the videos of every class (at least one each), chosen by `seed`.

    Stratified by ``record.label``; the kept records stay in their original order.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(
            f"fraction={fraction!r}: must be in (0, 1], e.g. 0.1 for 10% of the labels"
        )
    by_class: dict[int, list[int]] = defaultdict(list)
    for i, record in enumerate(records):
        by_class[record.label].append(i)
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    for label in sorted(by_class):
        members = by_class[label]
        count = max(1, round(fraction * len(members)))
        keep.extend(members[i] for i in rng.permutation(len(members))[:count])
    return [records[i] for i in sorted(keep)]
