"""O3N (Fernando, Bilen, Gavves and Gould, CVPR 2017): the paper's presets, network, ablations
and their baselines.

The sampler is `ssvlib.tasks.o3n.O3N`.
"""

from __future__ import annotations

import dataclasses

from torch import nn

from ..models.encoders import ENCODERS_2D
from ..models.heads import ConcatHead, SumOfDifferencesHead
from ..models.tuple_model import TupleModel
from ..recipe import (
    STACK_CPU_DOWNSTREAM,
    TSN_RGB_FINETUNE,
    Recipe,
    caffe_sgd,
    cpu_adamw,
)
from ..settings import Pretext, View
from ..tasks.o3n import ENCODING_NAMES, ENCODINGS, O3N
from .paper import Paper, Reported

FUSIONS: dict[str, type[nn.Module]] = {
    "sum_of_differences": SumOfDifferencesHead,
    "concat": ConcatHead,
}


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
        downstream=STACK_CPU_DOWNSTREAM,
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


PAPER = Paper(
    key="o3n",
    title="O3N",
    notebook="03_o3n",
    cite="fernando2017o3n",
    presets=PRESETS,
    build_model=build_model,
    backbones=ENCODERS_2D,
    default_backbones={"cpu": "small2d", "paper": "caffenet"},
    reported=Reported("AlexNet", 60.3, 32.5),
)
