"""VCOP (Xu et al., CVPR 2019): predict the order of shuffled clips.

A sample takes `num_clips` clips of `clip_len` frames from one window of the video, `gap` frames
apart, shuffles them, and asks which of the num_clips! orders they are shown in (the label is the
order's index in `permutations(num_clips)`). With the paper's sizes, 3 clips of 16 frames 8 apart
cover a 64-frame window, and there are 3! = 6 classes. The window is placed uniformly at random.

Videos shorter than the window are dropped, as the official code does: padding a short video by
repeating its last frame would make a frozen last clip, a shortcut that says "this one is last".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..data.datasets import View
from ..evaluate import Downstream
from ..models.heads import PairwiseHead
from ..models.tuple_model import TupleModel
from ..pretrain import Pretext
from ..recipe import Recipe
from ..train import Optim
from .permutations import num_classes, shuffle_with_label
from .task import Element, Sample, check_length


@dataclass(frozen=True)
class VCOP:
    """The shape of a VCOP tuple: how many clips, how long, how far apart, raw or residual."""

    num_clips: int = 3
    clip_len: int = 16
    gap: int = 8
    step: int = 1
    residual: bool = False
    name: str = field(default="vcop", init=False)
    motion_aware: bool = field(default=False, init=False)

    @property
    def element(self) -> Element:
        """A clip of `clip_len` frames for a 3D encoder."""
        return Element(self.clip_len, self.step, self.residual, "clip")

    @property
    def num_elements(self) -> int:
        """Clips per tuple."""
        return self.num_clips

    @property
    def num_classes(self) -> int:
        """num_clips! orders."""
        return num_classes(self.num_clips)

    @property
    def min_frames(self) -> int:
        """The window: every clip and the gaps between them."""
        return self.num_clips * self.element.span + (self.num_clips - 1) * self.gap

    def for_validation(self) -> VCOP:
        """Validation samples are drawn as training ones: every class is equally likely."""
        return self

    def sample(
        self, num_frames: int, rng: np.random.Generator, motion: np.ndarray | None = None
    ) -> Sample:
        """Cut the clips from a random window, then shuffle them; the label names the order."""
        check_length(self, num_frames)
        start = int(rng.integers(0, num_frames - self.min_frames + 1))
        clips = [
            self.element.indices(start + k * (self.element.span + self.gap), num_frames)
            for k in range(self.num_clips)
        ]
        order, label = shuffle_with_label(self.num_clips, rng)
        return Sample([clips[k] for k in order], label)


def build_model(net: torch.nn.Module, recipe: Recipe) -> TupleModel:
    """The VCOP network: a shared clip encoder and the pairwise order head."""
    return recipe.tuple_model(net, PairwiseHead)


PRESETS: dict[str, Recipe] = {
    # Minutes on a laptop CPU with the built-in dataset: short, strided clips of residual frames
    # (differences of consecutive frames, which made the order signal learnable in our prototype).
    "cpu": Recipe(
        task=VCOP(clip_len=8, step=2, gap=4, residual=True),
        view=View(size=64, crop=56),
        head={"hidden": 128},
        pretext=Pretext(
            epochs=40,
            batch_size=16,
            optim=Optim("adamw", lr=2e-3, weight_decay=5e-4, schedule="cosine", warmup_epochs=0.5),
        ),
        downstream=Downstream(
            epochs=15,
            batch_size=16,
            clips_per_video=5,
            retrieval_pool=None,
            optim=Optim("adamw", lr=2e-3, weight_decay=5e-4, schedule="cosine"),
        ),
    ),
    # The paper's recipe (Xu et al. 2019 and xudejing/video-clip-order-prediction): 3 clips of 16
    # frames 8 apart, 112x112 crops (one per clip) of frames resized to 128x171, no flip, SGD lr
    # 1e-3 held constant (the official plateau scheduler is never stepped), momentum 0.9, weight
    # decay 5e-4, batch 8, 300 epochs, lowest validation loss kept; fine-tuning SGD 1e-3
    # constant, batch 8, 150 epochs, lowest validation loss kept; 10 clips per test video;
    # retrieval on conv5 max-pooled over (1, 2, 2) windows and flattened (9,216 numbers).
    # Where we differ, on purpose: validation holds out whole groups (official: 800 random
    # training videos, which share scenes with training) on fixed, centred samples (official:
    # random ones); pixels are scaled to [-1, 1] (official: [0, 1]; batch norm after the first
    # convolution absorbs the difference); the three clips of a tuple share one batch-norm call
    # (official: one call per clip position); bf16 autocast on a GPU (official: fp32).
    "paper": Recipe(
        task=VCOP(clip_len=16, step=1, gap=8, residual=False),
        view=View(size=(128, 171), crop=112, mirror=False),
        head={"hidden": 512},
        pretext=Pretext(
            epochs=300,
            batch_size=8,
            optim=Optim("sgd", lr=1e-3, momentum=0.9, weight_decay=5e-4, schedule="none"),
        ),
        downstream=Downstream(
            epochs=150,
            batch_size=8,
            clips_per_video=10,
            retrieval_pool=(1, 2, 2),
            monitor="val_loss",
            optim=Optim("sgd", lr=1e-3, momentum=0.9, weight_decay=5e-4, schedule="none"),
        ),
    ),
}
