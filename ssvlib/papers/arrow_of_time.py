"""Arrow of Time (Wei, Lim, Zisserman and Freeman, CVPR 2018): the paper's presets and network.

The sampler is `ssvlib.tasks.arrow_of_time.ArrowOfTime`.
"""

from __future__ import annotations

from torch import nn

from ..models.encoders import ENCODERS_2D
from ..models.heads import ConcatHead
from ..models.tuple_model import TupleModel
from ..recipe import (
    STACK_CPU_DOWNSTREAM,
    TSN_RGB_FINETUNE,
    Recipe,
    caffe_sgd,
    cpu_adamw,
    iterations_to_epochs,
)
from ..settings import Pretext, View
from ..tasks.arrow_of_time import ArrowOfTime
from .paper import Paper


def build_model(net: nn.Module, recipe: Recipe) -> TupleModel:
    """The T-CAM stand-in: one 2D encoder for every group (shared weights), the groups'
    features concatenated in the order shown, a hidden layer, then forwards-or-backwards.

    T-CAM concatenates the groups' conv5 maps along the channels, convolves them and pools the
    result globally (a class activation map). `ConcatHead` on maps pooled to `recipe.grid` x
    `recipe.grid` cells keeps the same order of operations: the groups meet where they are in
    the picture, before the classifier."""
    return recipe.tuple_model(net, ConcatHead)


PRESETS: dict[str, Recipe] = {
    # Minutes on a laptop CPU with the built-in dataset, all ours: two groups of 6 differences
    # of frames 3 apart (37 frames of video), Small2D on 56x56 crops of 64x80 frames, its map
    # pooled to 2x2 cells, fc6 of 128 per group, the two concatenated into a hidden layer of
    # 128, dropout 0.2. Calibrated on seed 0, each run 60 epochs of batches of 16: frames 2
    # apart (25 frames) reached 64.7% held out (dropout 0.2); 3 apart, 73.7%, still rising.
    # Batches of 32 with dropout 0.5 learned more slowly (59.6% after 20 epochs). The encoder
    # is evaluated on its own element (one group), 8 per video, features averaged, as O3N's.
    "cpu": Recipe(
        task=ArrowOfTime(num_groups=2, length=6, step=3),
        view=View(size=64, crop=56),
        grid=2,
        head={"element_fc": (128,), "hidden": 128, "dropout": 0.2},
        pretext=Pretext(
            epochs=60,
            batch_size=16,
            optim=cpu_adamw(warmup_epochs=1),
            val_samples_per_video=8,
            monitor="val_acc",
        ),
        downstream=STACK_CPU_DOWNSTREAM,
    ),
    # The paper's network, as its public code builds it (donglaiw/AoT_TCAM: README.md,
    # models/vggbn_tcam_pair2_cudnn.lua, opts.lua, trainUtil.lua, donkey_video.lua): two
    # consecutive groups of 10 optical-flow fields (x and y: 20 channels each) from one stretch
    # of the video, played forwards or backwards with equal probability; one crop of 224x224
    # among the four corners and the centre of frames whose short side is 256, the same for
    # every field, no mirror; SGD, momentum 0.9, weight decay 5e-4, batches of 32 accumulated
    # 3 times (96), 20 epochs of 5,000 updates, the rate 1e-2 for the first and 1e-3 after:
    # 1,007 of our epochs (one sample per split-1 training video), the step at epoch 50.
    # Not verified: whether the paper's reported runs used exactly this demo's settings (we
    # could not read the paper's text), and the paper's UCF-101 action-recognition numbers.
    # Ours: frame differences instead of optical flow (`ssvlib.tasks.arrow_of_time`);
    # CaffeNet with batch norm instead of VGG-16 with batch norm (the book's 2D paper encoder);
    # a 2-way softmax instead of one sigmoid output; the code's head (the two conv5 maps
    # concatenated into two 3x3 convolutions of 1,024 channels with batch norm and dropout
    # 0.5, global average pooling, one linear output) becomes pool5 pooled to 6x6 cells per
    # group, concatenated into a hidden layer of 1,024 with batch norm, dropout 0.5; a random
    # 224x224 crop instead of one of five fixed ones; batches of 96 without accumulation
    # (batch norm sees 96 samples, the code's 32); fine-tuning with TSN's RGB recipe, as our
    # other 2D paper presets, on the encoder's own element, 25 per test video.
    "paper": Recipe(
        task=ArrowOfTime(num_groups=2, length=10, step=1),
        view=View(size=256, crop=224, mirror=False),
        grid=6,
        head={"hidden": 1024, "hidden_bn": True, "dropout": 0.5},
        pretext=Pretext(
            epochs=iterations_to_epochs(100_000, 96),
            batch_size=96,
            optim=caffe_sgd(0.01, milestones=(iterations_to_epochs(5_000, 96),)),
        ),
        downstream=TSN_RGB_FINETUNE,
    ),
}


PAPER = Paper(
    key="arrow_of_time",
    title="Arrow of Time",
    notebook="05_arrow_of_time",
    cite="wei2018arrow",
    presets=PRESETS,
    build_model=build_model,
    backbones=ENCODERS_2D,
    default_backbones={"cpu": "small2d", "paper": "caffenet"},
    reported=None,  # the paper's UCF-101 numbers could not be read from a source we can check
)
