"""VCOP (Xu et al., CVPR 2019): predict the order of shuffled clips.

A sample takes `num_clips` clips of `clip_len` frames from one window of the video, `gap` frames
apart, shuffles them, and asks which of the num_clips! orders they are shown in (the label is the
order's index in `permutations(num_clips)`). With the paper's sizes, 3 clips of 16 frames 8 apart
cover a 64-frame window, and there are 3! = 6 classes.

Rule for a video shorter than the window: the gap between clips shrinks first (down to 0); if the
clips still do not fit, frame indices past the end repeat the last frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from ..data import transforms as T
from ..data.clips import load_frames, to_input
from ..data.video import video_info
from ..models.heads import PairwiseHead
from ..models.tuple_model import TupleModel
from .permutations import num_classes, shuffle_with_label


@dataclass(frozen=True)
class VCOPSpec:
    """The shape of a VCOP tuple: how many clips, how long, how far apart."""

    num_clips: int = 3
    clip_len: int = 16
    gap: int = 8
    step: int = 1

    @property
    def num_classes(self) -> int:
        """num_clips! orders."""
        return num_classes(self.num_clips)

    @property
    def clip_span(self) -> int:
        """Frames of the video one clip covers."""
        return (self.clip_len - 1) * self.step + 1

    def window(self, gap: int | None = None) -> int:
        """Frames covered by all clips and the gaps between them."""
        gap = self.gap if gap is None else gap
        return self.num_clips * self.clip_span + (self.num_clips - 1) * gap


def clip_starts(num_frames: int, spec: VCOPSpec, rng: np.random.Generator) -> list[int]:
    """Chronological start frames of the clips, the window placed uniformly at random."""
    gap = spec.gap
    while gap > 0 and spec.window(gap) > num_frames:
        gap -= 1
    start = int(rng.integers(0, max(0, num_frames - spec.window(gap)) + 1))
    return [start + k * (spec.clip_span + gap) for k in range(spec.num_clips)]


def sample_indices(num_frames: int, spec: VCOPSpec, rng: np.random.Generator,
                   extra: int = 0) -> tuple[list[list[int]], tuple[int, ...], int]:
    """Frame indices of each clip in the order shown, the order, and its class.

    `extra` frames are added to the end of every clip (1 for residual frames, whose differences
    need clip_len + 1 frames).
    """
    starts = clip_starts(num_frames, spec, rng)
    clips = [[min(s + t * spec.step, num_frames - 1) for t in range(spec.clip_len + extra)]
             for s in starts]
    order, label = shuffle_with_label(spec.num_clips, rng)
    return [clips[k] for k in order], order, label


class VCOPDataset(Dataset):
    """Videos as VCOP samples: (clips (num_clips, C, T, H, W) float in the order shown, label).

    Each clip gets its own crop box, the same for all its frames; one mirror decision covers the
    whole tuple, since mirroring one clip alone would reverse its apparent motion. With
    `train=False` the crops are centred and sample `index` is fixed (epoch 0), for validation.
    Every random choice comes from (seed, epoch, index).
    """

    def __init__(self, records: Sequence, spec: VCOPSpec, *, size: int | tuple[int, int] | None,
                 crop: int, residual: bool = False, train: bool = True, seed: int = 0,
                 backend: str = "auto") -> None:
        if len(records) == 0:
            raise ValueError("VCOPDataset got no videos: check the split and data root")
        self.records, self.spec, self.size, self.crop = list(records), spec, size, crop
        self.residual, self.train, self.seed, self.backend = residual, train, seed, backend
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch that seeds the next samples (training only)."""
        self.epoch = epoch

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, int]:
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        record = self.records[int(index)]
        rng = np.random.default_rng((self.seed, epoch if self.train else 0, int(index)))
        num_frames = video_info(record.path).num_frames
        clips, _, label = sample_indices(num_frames, self.spec, rng, extra=int(self.residual))
        frames = load_frames(record.path, np.concatenate(clips), self.backend)
        if self.size is not None:
            frames = T.resize(frames, self.size)
        mirror = self.train and rng.random() < 0.5
        out = []
        for clip in frames.split(len(clips[0])):
            clip = T.random_crop(clip, self.crop, rng) if self.train else T.center_crop(clip, self.crop)
            clip = T.hflip(clip) if mirror else clip
            out.append(to_input(clip, self.residual))
        return torch.stack(out), label


PRESETS: dict[str, dict] = {
    # Minutes on a laptop CPU with the built-in dataset: short, strided clips of residual frames
    # (differences of consecutive frames, which made the order signal learnable in our prototype).
    "cpu": dict(clip_len=8, step=2, gap=4, size=64, crop=56, residual=True, batch_size=16,
                epochs=25, optimizer="adamw", lr=2e-3, weight_decay=5e-4, hidden=128,
                finetune_epochs=6, finetune_lr=0.02, clips_per_video=5),
    # The paper's recipe (Xu et al. 2019, and their public code): 3 clips of 16 frames 8 apart,
    # 112x112 crops of 128x171 frames, SGD lr 1e-3, batch 8, 300 epochs; fine-tuning 150 epochs;
    # 10 clips per test video.
    "paper": dict(clip_len=16, step=1, gap=8, size=(128, 171), crop=112, residual=False,
                  batch_size=8, epochs=300, optimizer="sgd", lr=1e-3, weight_decay=5e-4,
                  hidden=512, finetune_epochs=150, finetune_lr=1e-3, clips_per_video=10),
}


def build_model(encoder: torch.nn.Module, spec: VCOPSpec, hidden: int, dropout: float = 0.5):
    """The VCOP network: a shared clip encoder and the pairwise order head."""
    head = PairwiseHead(encoder.feature_dim, spec.num_clips, spec.num_classes, hidden=hidden,
                        dropout=dropout)
    return TupleModel(encoder, head)
