"""O3N, odd-one-out networks (Fernando et al., CVPR 2017): which element is out of order?

A question has `num_elements` sub-sequences of `length` frames from one video: all but one are in
temporal order, the odd one has its frames shuffled (any order but the right one). The odd
element's position is drawn uniformly, and it is the label: a num_elements-way classification
(the paper: 6 elements of 6 frames). Each sub-sequence starts at its own random frame. An
element reaches the 2D encoder in one of the paper's three encodings: a stack of its frames, a
stack of their differences (the paper's best) or a dynamic image (approximate rank pooling).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..data.datasets import View
from ..evaluate import Downstream
from ..models.heads import ConcatHead, SumOfDifferencesHead
from ..models.tuple_model import TupleModel
from ..pretrain import Pretext
from ..recipe import TSN_RGB_FINETUNE, Recipe, caffe_sgd, cpu_adamw
from .task import Element, Sample, check_length

ENCODINGS = ("frames", "differences", "dynamic")
"""How an element reaches the encoder: a stack of its frames, of their differences, or one
dynamic image."""


@dataclass(frozen=True)
class O3N:
    """Odd-one-out among `num_elements` sub-sequences of `length` frames, `step` apart."""

    num_elements: int = 6
    length: int = 6
    step: int = 2
    encoding: str = "differences"
    name: str = field(default="o3n", init=False)
    motion_aware: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        """Reject encodings and sizes that cannot make a question."""
        if self.encoding not in ENCODINGS:
            raise ValueError(f"encoding={self.encoding!r} is not valid; choose one of {ENCODINGS}")
        for key in ("num_elements", "length"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 2:
                raise ValueError(f"{key}={value!r} must be an integer >= 2")

    @property
    def element(self) -> Element:
        """`length` frames `step` apart, encoded as `encoding` says, for a 2D encoder.

        For "differences", `length` differences are taken, of `length` + 1 frames."""
        layout = "dynamic" if self.encoding == "dynamic" else "stack"
        return Element(self.length, self.step, self.encoding == "differences", layout)

    @property
    def num_classes(self) -> int:
        """The odd element's position."""
        return self.num_elements

    @property
    def min_frames(self) -> int:
        """One sub-sequence."""
        return self.element.span

    def for_validation(self) -> O3N:
        """Validation samples are drawn as training ones: every class is equally likely."""
        return self

    def sample(
        self, num_frames: int, rng: np.random.Generator, motion: np.ndarray | None = None
    ) -> Sample:
        """Ordered sub-sequences at random starts, one of them (the label) shuffled."""
        check_length(self, num_frames)
        elements = [
            self.element.indices(int(rng.integers(0, num_frames - self.min_frames + 1)), num_frames)
            for _ in range(self.num_elements)
        ]
        odd = int(rng.integers(self.num_elements))
        n = self.element.frames_read
        order = np.arange(n)
        while np.array_equal(order, np.arange(n)):
            order = rng.permutation(n)
        elements[odd] = [elements[odd][k] for k in order]
        return Sample(elements, odd)


FUSIONS: dict[str, type[nn.Module]] = {
    "sum_of_differences": SumOfDifferencesHead,
    "concat": ConcatHead,
}
"""How the branches' features are fused: the paper's sum of differences, or concatenation."""


def build_model(net: nn.Module, recipe: Recipe) -> TupleModel:
    """The O3N network: one 2D encoder for every element (weight-shared branches), fc6 per
    branch, fused by `recipe.head["fusion"]`, then the (N+1)-way classifier."""
    return recipe.tuple_model(net, FUSIONS)


def with_switches(
    recipe: Recipe,
    *,
    encoding: str | None = None,
    fusion: str | None = None,
    num_elements: int | None = None,
) -> Recipe:
    """`recipe` with the element encoding, the fusion or the number of elements set where given
    (None keeps the recipe's)."""
    if fusion is not None:
        recipe = recipe.with_fusion(fusion, FUSIONS)
    changes = {
        k: v for k, v in (("encoding", encoding), ("num_elements", num_elements)) if v is not None
    }
    if changes:
        task = dataclasses.replace(recipe.task, **changes)
        recipe = dataclasses.replace(recipe, task=task, eval_element=task.element)
    return recipe


def ablations(recipe: Recipe, epochs: int) -> dict[str, Recipe]:
    """Encoding x fusion, each trained `epochs` epochs: frames and differences with both fusions,
    the dynamic image with `recipe`'s fusion."""
    base = recipe.with_epochs(epochs, name="ablation_epochs")
    variants = {}
    for encoding in ("frames", "differences"):
        for fusion in FUSIONS:
            name = f"{ENCODING_NAMES[encoding]}, {FUSION_NAMES[fusion]}"
            variants[name] = with_switches(base, encoding=encoding, fusion=fusion)
    fusion = base.head.get("fusion", "sum_of_differences")
    name = f"{ENCODING_NAMES['dynamic']}, {FUSION_NAMES[fusion]}"
    variants[name] = with_switches(base, encoding="dynamic")
    return variants


ENCODING_NAMES = {
    "frames": "stack of frames",
    "differences": "stack of differences",
    "dynamic": "dynamic image",
}
FUSION_NAMES = {"sum_of_differences": "sum of differences", "concat": "concatenation"}


def baselines(recipe: Recipe) -> dict[str, Recipe]:
    """One random-init baseline per encoding of `ablations(recipe)`: their inputs differ."""
    return {
        f"random init, {ENCODING_NAMES[encoding]}": with_switches(recipe, encoding=encoding)
        for encoding in ENCODINGS
    }


PRESETS: dict[str, Recipe] = {
    # Minutes on a laptop CPU with the built-in dataset, all ours (there is no official code):
    # 6 elements of 6 differences of frames 2 apart (13 frames each), Small2D on 56x56 crops of
    # 64x80 frames, its map pooled to 2x2 cells, fc6 of 128 per branch, the sum of differences.
    # The encoder is evaluated on its own elements: 8 per video, features averaged. On seed 0
    # the pretext passed 95% within 15 epochs, hence 20 (a shuffled element's motion is uneven,
    # which gives it away: see the chapter).
    "cpu": Recipe(
        task=O3N(num_elements=6, length=6, step=2, encoding="differences"),
        view=View(size=64, crop=56),
        grid=2,
        head={
            "fusion": "sum_of_differences",
            "element_fc": (128,),
            "dropout": 0.5,
            "classifier_dropout": 0.5,  # both fusions drop half before the classifier
        },
        pretext=Pretext(
            epochs=20,
            batch_size=32,
            optim=cpu_adamw(warmup_epochs=1),
            val_samples_per_video=8,
            monitor="val_acc",
        ),
        downstream=Downstream(
            epochs=15,
            batch_size=16,
            clips_per_video=8,
            hidden=256,
            retrieval_pool=(2, 2),
            optim=cpu_adamw(),
        ),
    ),
    # The paper's sizes (Fernando et al. 2017): 6 elements of 6 frames, a stack of differences,
    # AlexNet-style branches (CaffeNet with batch norm, 227x227 crops of frames resized to
    # 256x340), the sum of differences, dropout 0.5. Ours, since the paper gives no code: frames
    # 2 apart, fc6 of 4,096 per branch, SGD lr 0.01, momentum 0.9, weight decay 5e-4, batch 64
    # (OPN's solver, the nearest published CaffeNet recipe for a sorting task), 120 epochs of
    # one question per training video with the rate x0.1 at 80 and 100; fine-tuning with TSN's
    # RGB recipe (as our Shuffle and Learn and OPN presets) on the encoder's own elements, 25
    # per test video.
    "paper": Recipe(
        task=O3N(num_elements=6, length=6, step=2, encoding="differences"),
        view=View(size=(256, 340), crop=227),
        grid=6,
        head={
            "fusion": "sum_of_differences",
            "element_fc": (4096,),
            "dropout": 0.5,
            "classifier_dropout": 0.5,
        },
        pretext=Pretext(epochs=120, batch_size=64, optim=caffe_sgd(0.01, milestones=(80, 100))),
        downstream=TSN_RGB_FINETUNE,
    ),
}


def uneven_motion_guess(x: torch.Tensor) -> int:
    """A guess at the odd element that learns nothing: the element whose frame-to-frame change
    is most uneven. `x`: one question as `TupleDataset` yields it, uint8 (N, T, C, H, W).

    A shuffled sub-sequence jumps back and forth, an ordered one moves smoothly: how often this
    rule is right measures how much of the pretext a low-level cue gives away.
    """
    frames = x.float() / 255
    change = (frames[:, 1:] - frames[:, :-1]).abs().mean(dim=(2, 3, 4))  # (N, T - 1)
    return int(change.std(dim=1).argmax())
