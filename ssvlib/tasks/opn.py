"""OPN (Lee et al., ICCV 2017): sort four shuffled frames.

Four frames, `gap` frames apart, come from one window of the video (a high-motion window when a
motion curve is given); they are shuffled, and the label is one of 4!/2 = 12 classes, since an
order and its reverse share a class (many motions look plausible played backwards). The spatial
side of OPN (one high-motion patch per tuple, per-frame jittered crops, channel splitting) lives
in `ssvlib.data.motion` and `ssvlib.data.transforms`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from torch import nn

from ..data.datasets import View
from ..data.motion import window_start
from ..models.heads import PairwiseHead
from ..models.tuple_model import TupleModel
from ..pretrain import Pretext
from ..recipe import (
    FRAMES_CPU_DOWNSTREAM,
    FRAMES_CPU_ELEMENT,
    TSN_RGB_FINETUNE,
    Recipe,
    caffe_sgd,
    cpu_adamw,
    iterations_to_epochs,
)
from .permutations import num_classes, shuffle_with_label
from .task import Element, Sample, check_length


@dataclass(frozen=True)
class OPN:
    """Order prediction of `tuple_len` frames `gap` apart; an order and its reverse merged."""

    tuple_len: int = 4
    gap: int = 6
    motion_aware: bool = True
    name: str = field(default="opn", init=False)
    element: Element = field(default=Element(1, 1, False, "stack"), init=False)

    @property
    def num_elements(self) -> int:
        """Frames per tuple."""
        return self.tuple_len

    @property
    def num_classes(self) -> int:
        """tuple_len! / 2 orders (12 for four frames)."""
        return num_classes(self.tuple_len, merge_reverse=True)

    @property
    def min_frames(self) -> int:
        """The window of the tuple's frames."""
        return (self.tuple_len - 1) * self.gap + 1

    def for_validation(self) -> OPN:
        """Validation samples are drawn as training ones: every class is equally likely."""
        return self

    def sample(
        self, num_frames: int, rng: np.random.Generator, motion: np.ndarray | None = None
    ) -> Sample:
        """Frames from a (high-motion) window, shown in a random order; the label names it."""
        check_length(self, num_frames)
        start = window_start(
            num_frames, self.min_frames, rng, motion if self.motion_aware else None
        )
        frames = [start + k * self.gap for k in range(self.tuple_len)]
        order, label = shuffle_with_label(self.tuple_len, rng, merge_reverse=True)
        return Sample([[frames[k]] for k in order], label)


def build_model(net: nn.Module, recipe: Recipe) -> TupleModel:
    """The OPN network: one frame encoder, fc6 per frame, pairwise fc7, a 12-way fc8."""
    return recipe.tuple_model(net, PairwiseHead)


PRESETS: dict[str, Recipe] = {
    # Minutes on a laptop CPU with the built-in dataset (calibrated on seed 0): four frames 8
    # apart, a 56-pixel high-motion patch, 48-pixel crops jittered by +-1 pixel (the built-in
    # frames are 80x64, so the paper's +-5 of 80 would be large), channel splitting, Small2D
    # with its map pooled to 2x2 cells, fc6 of 128 per frame, pairwise fc7 of 128. Evaluated
    # like Shuffle and Learn's CPU preset: 8 frames every 8th, concatenated in order.
    "cpu": Recipe(
        task=OPN(gap=8),
        view=View(size=64, crop=48, patch=56, jitter=1, channel_split=True),
        grid=2,
        motion="diff",
        head={"element_fc": (128,), "hidden": 128, "dropout": 0.5},
        eval_element=FRAMES_CPU_ELEMENT,
        pretext=Pretext(
            epochs=60,
            batch_size=32,
            optim=cpu_adamw(warmup_epochs=1),
            val_samples_per_video=8,
            monitor="val_acc",
        ),
        downstream=FRAMES_CPU_DOWNSTREAM,
    ),
    # The paper's recipe (Lee et al. 2017; HsinYingLee/OPN: solver_opn.prototxt,
    # train_opn.prototxt, UCF_datalayers.py): CaffeNet with batch norm on conv3-5, fc6 of 1,024
    # per frame (batch norm, dropout 0.5), each of the 6 frame pairs through a shared fc7 of
    # 512, the six concatenated into a 12-way fc8. Per tuple: a 100x100 patch of the whole
    # frame, one mirror, one random 80x80 window in the patch, each frame's crop shifted by up
    # to +-5 pixels, one colour channel per frame. At 80x80, pool5 is 2x2 (grid=2). Solver: SGD
    # lr 0.01, momentum 0.9, weight decay 5e-4, batch 64, 170k iterations, x0.1 at 130k: 1,141
    # epochs of one tuple per split-1 training video, step at epoch 872. Ours, since the code
    # reads precomputed tuples: four frames 6 apart, the patch placed by frame differences
    # summed over the tuple (`ssvlib.data.motion.high_motion_patch`), optical-flow windows.
    # Evaluation: 224x224 crops of frames resized to 256x340 (two-stream testing, as the README
    # says: 25 frames per video, `Recipe.for_dataset`), without its 10 crops and flips;
    # fine-tuning as our Shuffle and Learn paper preset (TSN's RGB recipe), also ours; the new
    # classifier reads pool5 pooled to 2x2 cells, as in pretext training.
    "paper": Recipe(
        task=OPN(gap=6),
        view=View(size=None, crop=80, patch=100, jitter=5, channel_split=True),
        eval_view=View(size=(256, 340), crop=224),
        grid=2,
        motion="farneback",
        head={"element_fc": (1024,), "hidden": 512, "dropout": 0.5},
        eval_element=FRAMES_CPU_ELEMENT,  # built-in data only: see for_dataset
        pretext=Pretext(
            epochs=iterations_to_epochs(170_000, 64),
            batch_size=64,
            optim=caffe_sgd(0.01, milestones=(iterations_to_epochs(130_000, 64),)),
        ),
        downstream=TSN_RGB_FINETUNE,
    ),
}
