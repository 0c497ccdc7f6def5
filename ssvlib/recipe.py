"""A paper's recipe as one value: its task, the view of the frames, its head, and both budgets.

Each paper module (`ssvlib.papers`) holds ``PRESETS = {"cpu": Recipe(...), "paper": Recipe(...)}``:
"cpu" runs in minutes on a laptop with the built-in dataset, "paper" follows the paper's sizes
and schedule. `Chapter.open` picks one by name and overrides what the parameters cell says::

    recipe = select(paper.presets, preset, dataset=dataset, epochs=epochs, batch_size=batch_size)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from torch import nn

from .config import is_smoke
from .data.videos import DATASETS
from .models.encoders import build_encoder
from .models.tuple_model import ElementEncoder, TupleModel
from .settings import Downstream, Element, Optim, Pretext, Task, View, check_choice

REAL_VIDEO = ("ucf101", "hmdb51")  # evaluated with the papers' own protocols


@dataclass(frozen=True)
class Recipe:
    """Everything a run needs besides the data and the encoder."""

    task: Task
    view: View
    pretext: Pretext
    downstream: Downstream
    head: dict = field(default_factory=dict)  # the fusion head's settings (paper-specific)
    eval_element: Element | None = None  # what the encoder is evaluated on; None: task.element
    eval_view: View | None = None  # how evaluation videos are cut; None: `view`'s own way
    grid: int = 1  # the encoder's map pooled to grid x grid cells (1: global average)
    motion: str | None = None  # the motion curve motion-aware tasks sample by: "diff", "farneback"

    def new_encoder(self, backbone: str) -> nn.Module:
        """A fresh `backbone` for this recipe's elements: 3 input channels, or a stack's."""
        channels = self.task.element.channels
        return build_encoder(backbone, **({} if channels == 3 else {"in_channels": channels}))

    def encoder(self, net: nn.Module) -> ElementEncoder:
        """`net` behind the input step of the task's element, as the pretext trains it."""
        return ElementEncoder(net, self.task.element, self.grid)

    def tuple_model(
        self, net: nn.Module, head: type[nn.Module] | dict[str, type[nn.Module]]
    ) -> TupleModel:
        """The pretext network: `net` shared by every element, fused by a `head` built from the
        encoder's feature size, the task's element and class counts, and `self.head`.

        `head` is a head class, or a paper's fusions by name: then ``self.head["fusion"]``
        picks one (default: the first).
        """
        settings = dict(self.head)
        if isinstance(head, dict):
            name = settings.pop("fusion", next(iter(head)))
            check_choice("fusion", name, tuple(head))
            head = head[name]
        encoder = self.encoder(net)
        fusion = head(
            encoder.feature_dim, self.task.num_elements, self.task.num_classes, **settings
        )
        return TupleModel(encoder, fusion)

    def with_fusion(self, fusion: str, fusions: dict[str, type[nn.Module]]) -> Recipe:
        """This recipe with the head named `fusion`, one of a paper's `fusions`."""
        check_choice("fusion", fusion, tuple(fusions))
        return dataclasses.replace(self, head={**self.head, "fusion": fusion})

    def eval_encoder(self, net: nn.Module) -> ElementEncoder:
        """`net` ready for evaluation: behind the input step of the evaluation element.

        Clip and stack encoders are evaluated on the element they were pretrained on. Frame
        encoders on the built-in data are evaluated on T ordered frames (layout "frames"),
        since a single frame cannot tell its classes apart.
        """
        return ElementEncoder(net, self.eval_element or self.task.element, self.grid)

    @property
    def evaluation_view(self) -> View:
        """The View evaluation videos are cut with: `eval_view`, else `view` without the steps
        that only pretext tuples take (OPN's patch, jitter and channel splitting)."""
        return self.eval_view or self.view.for_videos()

    def for_dataset(self, dataset: str) -> Recipe:
        """The recipe as evaluated on `dataset`: on real video (UCF-101, HMDB-51), frame encoders
        use the papers' protocol.

        Shuffle and Learn and OPN classify single frames, FRAMES_PER_VIDEO of them spread over
        each test video, and average the predictions; on the built-in data, whose classes a
        single frame cannot tell apart, the preset's `eval_element` stands in. A retrieval pool
        over (time, height, width) windows of ordered frames keeps its spatial part.
        """
        single_frame = self.task.element.layout == "stack" and self.task.element.length == 1
        if dataset not in REAL_VIDEO or not single_frame:
            return self
        pool = self.downstream.retrieval_pool  # a single frame's map has no time axis to pool
        downstream = dataclasses.replace(
            self.downstream,
            clips_per_video=FRAMES_PER_VIDEO,
            retrieval_pool=pool[1:] if pool is not None and len(pool) == 3 else pool,
        )
        return dataclasses.replace(self, eval_element=None, downstream=downstream)

    def with_epochs(self, epochs: int, name: str = "epochs") -> Recipe:
        """This recipe with `epochs` pretext epochs; `name` is the parameter named in the error."""
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"{name}={epochs!r} must be a positive integer")
        return dataclasses.replace(self, pretext=dataclasses.replace(self.pretext, epochs=epochs))

    def smoke(self) -> Recipe:
        """The same recipe shrunk to seconds (SSV_SMOKE=1): one epoch each, two clips per video."""
        return dataclasses.replace(
            self,
            pretext=dataclasses.replace(self.pretext, epochs=1),
            downstream=dataclasses.replace(
                self.downstream, epochs=1, clips_per_video=min(2, self.downstream.clips_per_video)
            ),
        )


UCF101_SPLIT1_TRAIN = 9537  # videos in trainlist01.txt, where the papers' tuples came from


def iterations_to_epochs(iterations: int, batch_size: int, videos: int = UCF101_SPLIT1_TRAIN):
    """Epochs (one tuple per video each) that see as many tuples as `iterations` batches of a
    paper's solver: how a Caffe schedule becomes one of ours."""
    return round(iterations * batch_size / videos)


def caffe_sgd(lr: float, milestones: tuple[int, ...]) -> Optim:
    """The Caffe solvers of Shuffle and Learn and OPN: SGD, momentum 0.9, weight decay 5e-4,
    the rate x0.1 at each milestone epoch."""
    return Optim(
        "sgd", lr=lr, momentum=0.9, weight_decay=5e-4, schedule="step", milestones=milestones
    )


def cpu_adamw(warmup_epochs: float = 0.0) -> Optim:
    """The CPU presets' optimiser: AdamW, lr 2e-3, weight decay 5e-4, cosine decay."""
    return Optim(
        "adamw", lr=2e-3, weight_decay=5e-4, schedule="cosine", warmup_epochs=warmup_epochs
    )


FRAMES_CPU_ELEMENT = Element(8, step=8, layout="frames")
"""What frame encoders are evaluated on with the built-in data: 8 frames, every 8th (57 of the
64-112 frames of a video), their features concatenated in order; a single frame cannot tell
the built-in classes apart. (On UCF-101, `Recipe.for_dataset` switches to single frames.)"""

FRAMES_CPU_DOWNSTREAM = Downstream(
    epochs=15,
    batch_size=16,
    clips_per_video=5,
    hidden=256,  # a hidden layer that can combine the frames
    retrieval_pool=(1, 2, 2),  # per frame, max over 2x2 windows: keeps time and place
    optim=cpu_adamw(),
)
"""How the CPU presets evaluate frame encoders on the built-in data (8 ordered frames)."""

STACK_CPU_DOWNSTREAM = Downstream(
    epochs=15,
    batch_size=16,
    clips_per_video=8,
    hidden=256,
    retrieval_pool=(2, 2),  # the stack's map, max over 2x2 windows
    optim=cpu_adamw(),
)
"""How the CPU presets evaluate stack encoders (O3N, Arrow of Time) on their own elements."""

TSN_RGB_FINETUNE = Downstream(
    epochs=iterations_to_epochs(4_500, 256),
    batch_size=256,
    dropout=0.8,
    clips_per_video=25,
    optim=caffe_sgd(
        1e-3, milestones=(iterations_to_epochs(2_000, 256), iterations_to_epochs(4_000, 256))
    ),
)
"""Fine-tuning after TSN's RGB solver (yjxiong/temporal-segment-networks,
models/ucf101/tsn_bn_inception_rgb_solver.prototxt), for the frame-based papers, whose own
fine-tuning settings are not published (Shuffle and Learn's README says it used TSN's code). At
commit 85245ac that solver has SGD lr 1e-3, momentum 0.9, weight decay 5e-4, 32 clips per GPU on
4 GPUs with iter_size 2 (batch 256), 4,500 iterations, x0.1 every 2,000, clip_gradients 40; its
latest version (c0249f1) has iter_size 1 (batch 128), 3,500 iterations, x0.1 every 1,500. Both
train BN-Inception on 3 segments; dropout 0.8 is in its train_val prototxt. Ours: the 85245ac
schedule, no gradient clipping, one frame per sample and the papers' own networks."""

FRAMES_PER_VIDEO = 25  # frames scored per test video in the frame-level protocol (TSN's)


def _optim_text(optim: Optim) -> str:
    """An optimiser in a few words: "sgd lr 0.001, momentum 0.9, wd 0.0005, x0.1 at 8, 16"."""
    words = f"{optim.name} lr {optim.lr:g}"
    if optim.name == "sgd":
        words += f", momentum {optim.momentum:g}"
    words += f", wd {optim.weight_decay:g}"
    if optim.schedule == "step":
        words += f", x{optim.gamma:g} at epochs {', '.join(map(str, optim.milestones))}"
    elif optim.schedule == "cosine":
        warmup = f" after {optim.warmup_epochs:g} warm-up" if optim.warmup_epochs else ""
        words += f", cosine{warmup}"
    return words


def recipe_rows(recipe: Recipe, backbone: str) -> dict[str, str]:
    """The settings of a recipe that a reader compares, as {setting: value in a few words}."""
    task, view, pretext, down = recipe.task, recipe.view, recipe.pretext, recipe.downstream
    fields = [f for f in dataclasses.fields(task) if f.init]
    rows = {f"task: {f.name}": str(getattr(task, f.name)) for f in fields}
    frames = f"resized to {view.size}, crop {view.crop}" if view.size else f"crop {view.crop}"
    frames += ", mirrored" if view.mirror else ""
    if view.patch:
        frames += f", from a {view.patch}-px patch, jitter {view.jitter}"
    rows["frames"] = frames + (", one channel each" if view.channel_split else "")
    rows["motion-aware sampling"] = recipe.motion or "no"
    rows["encoder"] = backbone
    rows["head"] = ", ".join(f"{k} {v}" for k, v in recipe.head.items()) or "the paper's"
    rows["pretext"] = f"{pretext.epochs} epochs, batch {pretext.batch_size}"
    rows["pretext optimiser"] = _optim_text(pretext.optim)
    rows["fine-tuning"] = (
        f"{down.epochs} epochs, batch {down.batch_size}, {down.clips_per_video} clips per video"
    )
    rows["fine-tuning optimiser"] = _optim_text(down.optim)
    return rows


def select(
    presets: dict[str, Recipe],
    name: str,
    *,
    dataset: str = "builtin",
    epochs: int | None = None,
    batch_size: int | None = None,
) -> Recipe:
    """Preset `name` for `dataset`, with the pretext's epochs and batch size overridden if given.

    In smoke mode (SSV_SMOKE=1) the result is shrunk with `Recipe.smoke`.
    """
    check_choice("preset", name, tuple(presets))
    check_choice("dataset", dataset, DATASETS)
    for key, value in (("epochs", epochs), ("batch_size", batch_size)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ValueError(
                f"{key}={value!r} must be a positive integer, or None for the preset's"
            )
    recipe = presets[name]
    pretext = dataclasses.replace(
        recipe.pretext,
        epochs=epochs or recipe.pretext.epochs,
        batch_size=batch_size or recipe.pretext.batch_size,
    )
    recipe = dataclasses.replace(recipe, pretext=pretext).for_dataset(dataset)
    return recipe.smoke() if is_smoke() else recipe
