"""Clip datasets for downstream action recognition: one random clip to train, K clips to test.

A *clip* is ``clip_len`` frames taken every ``step`` frames. Training draws one clip per video at a
random start, with one random crop box and one random mirror for the whole clip. Testing takes
``clips_per_video`` clips whose starts are evenly spaced over the video (the first at frame 0, the
last ending on the last frame, as VCOP's code does; a single clip is the middle one), each
centre-cropped.

Rules a user can rely on:

- Every random choice of sample ``index`` comes from ``np.random.default_rng((seed, epoch, index))``,
  so a sample is the same whenever it is asked for again with the same seed and epoch.
- A video shorter than a clip never crashes: frame indices past its end repeat its last frame.
- Only the frames a sample needs are decoded (``ssvlib.data.video.read_frames``), each at most once.
- ``residual=True`` feeds the *stack of differences* (O3N): ``clip_len + 1`` frames are read and the
  ``clip_len`` differences of consecutive frames are returned (``transforms.residual``, values in
  [-1, 1]), the same input the pretext tasks build. Otherwise frames go through
  ``transforms.normalize`` (mean = std = 0.5, values in [-1, 1]).

With DataLoader workers that persist between epochs (``persistent_workers=True``), calling
``dataset.set_epoch`` in the main process does not reach the workers' copies of the dataset: wrap
the sampler with :class:`WithEpoch` so every index carries its epoch with it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from ssvlib.data import transforms as T
from ssvlib.data import video


@dataclass(frozen=True)
class ClipSpec:
    """How to cut a clip: length, frame stride, resize, crop, raw or residual frames, reader."""

    clip_len: int = 16
    step: int = 1
    size: int | tuple[int, int] | None = 128
    crop: int | tuple[int, int] = 112
    residual: bool = False
    backend: str = "auto"

    def __post_init__(self) -> None:
        """Reject lengths, strides and crops that cannot make a clip."""
        for name in ("clip_len", "step"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"ClipSpec.{name}={value!r}: must be an integer >= 1")
        crops = self.crop if isinstance(self.crop, tuple) else (self.crop,)
        if any(not isinstance(c, int) or c < 1 for c in crops):
            raise ValueError(f"ClipSpec.crop={self.crop!r}: must be a positive int or (h, w)")

    @property
    def frames_read(self) -> int:
        """Frames decoded per clip: clip_len, plus one when residual frames are differenced."""
        return self.clip_len + int(self.residual)

    @property
    def span(self) -> int:
        """Frames of the video one clip covers, first to last inclusive."""
        return (self.frames_read - 1) * self.step + 1


def clip_indices(start: int, spec: ClipSpec, num_frames: int) -> np.ndarray:
    """Frame indices of the clip starting at `start`; indices past the end repeat the last frame."""
    if num_frames < 1:
        raise ValueError(f"num_frames={num_frames}: a video needs at least one frame")
    idx = start + spec.step * np.arange(spec.frames_read)
    return np.minimum(idx, num_frames - 1)


def max_start(spec: ClipSpec, num_frames: int) -> int:
    """Largest start frame whose clip still fits in the video (0 when the video is too short)."""
    return max(0, num_frames - spec.span)


def eval_starts(spec: ClipSpec, num_frames: int, clips_per_video: int) -> np.ndarray:
    """Starts of `clips_per_video` clips evenly spaced from frame 0 to the last start that fits."""
    if clips_per_video == 1:
        return np.array([max_start(spec, num_frames) // 2])
    return np.linspace(0, max_start(spec, num_frames), clips_per_video).astype(int)


def load_frames(path, indices: np.ndarray, backend: str = "auto") -> torch.Tensor:
    """Decode each distinct frame of `indices` once and return them in order as a (N,C,H,W) clip."""
    unique, inverse = np.unique(indices, return_inverse=True)
    frames = video.read_frames(path, [int(i) for i in unique], backend=backend)
    return T.to_clip(frames)[torch.as_tensor(inverse.reshape(-1))]


def to_input(clip: torch.Tensor, residual: bool) -> torch.Tensor:
    """A (T,C,H,W) uint8 clip as model input: float (C,T,H,W), or (C,T-1,H,W) differences."""
    return T.residual(clip) if residual else T.normalize(clip)


class WithEpoch(Sampler):
    """Wrap a sampler so it yields (epoch, index) pairs: the epoch then reaches every worker."""

    def __init__(self, sampler: Sampler | Sequence[int], epoch: int = 0) -> None:
        self.sampler = sampler
        self.epoch = epoch

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch to tag indices with (and pass it on to the inner sampler if it has one)."""
        self.epoch = epoch
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = self.epoch
        return ((epoch, int(i)) for i in self.sampler)

    def __len__(self) -> int:
        return len(self.sampler)


class ClipDataset(Dataset):
    """Videos as clips: train -> (clip (C,T,H,W), label); eval -> (clips (K,C,T,H,W), label, index)."""

    def __init__(
        self,
        records: Sequence,
        spec: ClipSpec,
        *,
        train: bool,
        clips_per_video: int = 10,
        seed: int = 0,
    ) -> None:
        if len(records) == 0:
            raise ValueError("ClipDataset got no records: check the split and the label fraction")
        if not isinstance(clips_per_video, int) or clips_per_video < 1:
            raise ValueError(f"clips_per_video={clips_per_video!r}: must be an integer >= 1")
        self.records = list(records)
        self.spec = spec
        self.train = train
        self.clips_per_video = clips_per_video
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.records)

    @property
    def labels(self) -> list[int]:
        """The label of every video, in dataset order."""
        return [r.label for r in self.records]

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch that seeds the random choices of the next samples."""
        self.epoch = epoch

    def rng(self, index: int, epoch: int | None = None) -> np.random.Generator:
        """The generator of sample `index` at `epoch` (default: the current epoch)."""
        epoch = self.epoch if epoch is None else epoch
        return np.random.default_rng((self.seed, epoch, index))

    def __getitem__(self, key: int | tuple[int, int]):
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        index = int(index)
        if not 0 <= index < len(self.records):
            raise IndexError(f"index {index} out of range for {len(self.records)} videos")
        record = self.records[index]
        if self.train:
            return self.train_clip(record, self.rng(index, epoch)), record.label
        return self.eval_clips(record), record.label, index

    def train_clip(self, record, rng: np.random.Generator) -> torch.Tensor:
        """One clip at a random start, one random crop box and mirror for all frames: (C,T,H,W)."""
        spec = self.spec
        num_frames = video.video_info(record.path).num_frames
        start = int(rng.integers(0, max_start(spec, num_frames) + 1))
        clip = load_frames(record.path, clip_indices(start, spec, num_frames), spec.backend)
        if spec.size is not None:
            clip = T.resize(clip, spec.size)
        clip = T.maybe_hflip(T.random_crop(clip, spec.crop, rng), rng)
        return to_input(clip, spec.residual)

    def eval_clips(self, record) -> torch.Tensor:
        """`clips_per_video` evenly spaced, centre-cropped clips: (K,C,T,H,W)."""
        spec = self.spec
        num_frames = video.video_info(record.path).num_frames
        starts = eval_starts(spec, num_frames, self.clips_per_video)
        indices = np.stack([clip_indices(int(s), spec, num_frames) for s in starts])
        unique, inverse = np.unique(indices, return_inverse=True)
        frames = load_frames(record.path, unique, spec.backend)
        if spec.size is not None:
            frames = T.resize(frames, spec.size)
        frames = T.center_crop(frames, spec.crop)
        inverse = torch.as_tensor(inverse.reshape(indices.shape))
        return torch.stack([to_input(frames[row], spec.residual) for row in inverse])


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
