"""The values a recipe is made of, as plain frozen dataclasses that import nothing of the runtime.

- `Element`, `Sample`, `Task`: what a pretext task samples (the task contract, below).
- `View`: how frames become pixels.
- `Optim`: an optimiser and its schedule; `Pretext` and `Downstream`: the two training budgets.

`ssvlib.recipe.Recipe` bundles them per paper; `ssvlib.data`, `ssvlib.train`, `ssvlib.pretrain`
and `ssvlib.evaluate` import them from here, never the reverse.

The task contract.
The contract every pretext task keeps, and the element each one is built from.

A task is a small frozen dataclass holding its parameters, with one method::

    task.sample(num_frames, rng, motion=None) -> Sample(elements, label)

`elements` lists, for each element of the tuple in the order the network sees them, the frame
indices it is made of; `label` is the class the network must predict. Everything random comes from
`rng` (a ``numpy.random.Generator``), so a sample is reproducible from a seed. `motion` is a
per-frame motion curve (``ssvlib.data.motion.video_motion``) for the tasks that sample where
things move (``task.motion_aware``); others ignore it.

`task.for_validation()` is the task that samples the held-out validation groups: the task
itself where its classes are equally likely, a balanced version where they are not (Shuffle and
Learn trains on 75% negatives and validates on 50%, so that chance is 50%).

Besides `sample`, a task says how many elements a tuple has (`num_elements`), how many classes
(`num_classes`), the shortest video it can sample from (`min_frames`), and what one element is
(`element`, an :class:`Element`). The element is what the encoder sees, in pretext training and in
evaluation alike: `ssvlib.data.datasets` decodes it, `ssvlib.data.transforms.prepare` turns it
into the encoder's input on the device.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import numpy as np


def check_choice(name: str, value, valid) -> None:
    """Raise a ValueError that lists the valid values when `value` is not among them."""
    valid = tuple(valid)
    if value not in valid:
        raise ValueError(
            f"{name}={value!r} is not valid; choose one of: {', '.join(map(repr, valid))}"
        )


LAYOUTS = ("clip", "stack", "frames", "dynamic")


@dataclass(frozen=True)
class Element:
    """One element: `length` frames every `step` frames, as a clip, a channel stack or frames.

    layout "clip": the encoder gets (C, T, H, W), a 3D CNN's input (VCOP). layout "stack": the
    frames are stacked along the channels, (T * C, H, W), a 2D CNN's input; a single frame is a
    stack of one (Shuffle and Learn, OPN). layout "frames": a 2D CNN encodes each of the T frames
    on its own and the T features are concatenated in order (how this book evaluates frame
    encoders on the built-in data, whose classes a single frame cannot tell apart). layout
    "dynamic": the T frames are summed into one image with approximate rank pooling's weights
    (O3N's "dynamic image"), (C, H, W), a 2D CNN's input.
    residual=True feeds differences of consecutive frames (O3N's "stack of differences"): one
    more frame is read than the encoder sees.
    """

    length: int = 1
    step: int = 1
    residual: bool = False
    layout: str = "clip"

    def __post_init__(self) -> None:
        """Reject lengths, steps and layouts that cannot make an element."""
        for name in ("length", "step"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"Element.{name}={value!r}: must be an integer >= 1")
        if self.layout not in LAYOUTS:
            raise ValueError(f"Element.layout={self.layout!r}: choose one of {LAYOUTS}")
        if self.layout == "dynamic" and (self.residual or self.length < 2):
            raise ValueError(
                "a dynamic image sums raw frames: use residual=False and length >= 2, got "
                f"residual={self.residual}, length={self.length}"
            )

    @property
    def frames_read(self) -> int:
        """Frames decoded per element: `length`, plus one when differences are taken."""
        return self.length + int(self.residual)

    @property
    def span(self) -> int:
        """Frames of the video one element covers, first to last inclusive."""
        return (self.frames_read - 1) * self.step + 1

    @property
    def channels(self) -> int:
        """Input channels of the encoder for RGB frames: 3, or 3 * length for a stack."""
        return 3 * self.length if self.layout == "stack" else 3

    def indices(self, start: int, num_frames: int) -> list[int]:
        """Frame indices of the element starting at `start`; past the end, the last frame repeats."""
        return [min(start + k * self.step, num_frames - 1) for k in range(self.frames_read)]


class Sample(NamedTuple):
    """A pretext sample before decoding: frame indices per element (in the order shown), label."""

    elements: list[list[int]]
    label: int


class Task(Protocol):
    """What the dataset and the training code need from a pretext task."""

    name: str
    element: Element
    num_elements: int
    num_classes: int
    min_frames: int
    motion_aware: bool

    def sample(
        self, num_frames: int, rng: np.random.Generator, motion: np.ndarray | None = None
    ) -> Sample:
        """Element frame indices and the label, drawn from `rng`."""
        ...

    def for_validation(self) -> Task:
        """The task the held-out groups are sampled with: itself, or its class-balanced twin."""
        ...


def check_length(task: Task, num_frames: int) -> None:
    """Raise a clear error when a video has fewer frames than `task` needs."""
    if num_frames < task.min_frames:
        raise ValueError(
            f"{task.name}: a video of {num_frames} frames is shorter than the {task.min_frames} "
            f"frames one sample needs; drop short videos (TupleDataset does) or shrink the task"
        )


@dataclass(frozen=True)
class View:
    """How frames become pixels: resize to `size` (short side, or (h, w); None keeps), crop,
    and in train mode a random mirror of the whole sample (`mirror=False`: never).

    Each element gets its own crop box (VCOP's code crops every clip on its own); with
    `shared_crop`, one box serves every element of a sample, so that the frames of a tuple line
    up pixel for pixel (Shuffle and Learn: a shift between the frames' crops would swamp the
    motion the network must judge). With `patch` (OPN), a square patch is placed where the
    sample's frames move most, each element's crop is cut near its centre, shifted by up to
    `jitter` pixels on its own, and `channel_split` keeps one colour channel per frame: both
    stop the network from ordering frames by low-level cues (pixel alignment, lens colour
    fringes) instead of by what moved.
    """

    size: int | tuple[int, int] | None = None
    crop: int | tuple[int, int] = 112
    mirror: bool = True
    shared_crop: bool = False
    # OPN's spatial side, for pretext tuples only (`for_videos` drops it for evaluation):
    patch: int | None = None  # crops come from one square patch of this side per sample
    patch_by_motion: bool = True  # the patch where the sample moves most (train mode), or random
    jitter: int = 0  # each element's crop shifted by up to +-jitter px from the patch centre
    channel_split: bool = False  # train mode: each frame keeps one random RGB channel, in all 3

    def for_videos(self) -> View:
        """This view without the tuple-only spatial steps: how evaluation videos are cut."""
        return dataclasses.replace(self, patch=None, jitter=0, channel_split=False)

    def resized(self, height: int, width: int) -> tuple[int, int]:
        """The (h, w) that frames of height x width are resized to."""
        if self.size is None:
            return height, width
        if isinstance(self.size, (int, np.integer)):
            scale = self.size / min(height, width)
            return max(1, round(height * scale)), max(1, round(width * scale))
        return int(self.size[0]), int(self.size[1])

    @property
    def crop_hw(self) -> tuple[int, int]:
        """The crop as (h, w)."""
        crop = self.crop
        return (int(crop), int(crop)) if isinstance(crop, (int, np.integer)) else tuple(crop)


OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "step", "none")
MONITORS = ("val_loss", "val_acc")


@dataclass(frozen=True)
class Optim:
    """An optimiser and its learning-rate schedule, as one value.

    schedule "cosine" decays to 0 over the run after `warmup_epochs` of linear warm-up; "step"
    multiplies by `gamma` at each epoch in `milestones`; "none" keeps the rate constant.
    """

    name: str = "sgd"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "none"
    warmup_epochs: float = 0.0
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1

    def __post_init__(self) -> None:
        """Reject unknown names and impossible values at once, not hours into a run."""
        check_choice("optimizer", self.name, OPTIMIZERS)
        check_choice("schedule", self.schedule, SCHEDULES)
        if not self.lr > 0:
            raise ValueError(
                f"lr={self.lr!r} must be a positive number (the papers use 1e-3 to 1e-2)"
            )
        if self.warmup_epochs < 0:
            raise ValueError(f"warmup_epochs={self.warmup_epochs!r} must be >= 0")


@dataclass(frozen=True)
class Pretext:
    """How long and how a pretext task is trained.

    `balance_classes` weights the cross-entropy by the inverse of each class's frequency among
    the task's samples, so that every class counts the same (for tasks whose classes are not
    equally likely, such as Shuffle and Learn with 75% negatives). `val_samples_per_video`
    draws that many fixed samples from each validation video: a two-class task needs a few
    hundred validation samples before one epoch's accuracy can be told from the next.
    """

    epochs: int
    batch_size: int
    optim: Optim
    balance_classes: bool = False
    val_samples_per_video: int = 1  # fixed validation samples drawn from each held-out video
    monitor: str = "val_loss"  # the epoch kept: lowest "val_loss" or best "val_acc"


@dataclass(frozen=True)
class Downstream:
    """The evaluation recipe: fine-tuning budget and optimiser, clips per video, retrieval pool.

    `epochs` is the most a fine-tuning run trains; the epoch kept is the one with the best
    video-level accuracy (or, with ``monitor="val_loss"``, the lowest loss) on the held-out
    training groups. `encoder_lr_scale` multiplies the
    encoder's learning rate (the new layer gets `optim.lr`).
    """

    epochs: int
    batch_size: int
    optim: Optim
    encoder_lr_scale: float = 1.0
    dropout: float = 0.0
    clips_per_video: int = 10
    retrieval_pool: tuple[int, int, int] | None = None
    monitor: str = "val_acc"  # how the epoch is chosen: best "val_acc" or lowest "val_loss"
    hidden: int | None = None  # a hidden layer (Linear, ReLU) under the new classifier

    def __post_init__(self) -> None:
        """Reject settings that cannot run."""
        if self.epochs < 1 or self.batch_size < 1 or self.clips_per_video < 1:
            raise ValueError(
                f"Downstream needs epochs, batch_size and clips_per_video >= 1, got {self}"
            )
        if self.encoder_lr_scale < 0:
            raise ValueError(f"encoder_lr_scale={self.encoder_lr_scale} must be >= 0")
        check_choice("monitor", self.monitor, ("val_acc", "val_loss"))


def _parameter(default, help: str):
    """A run parameter: its default, and the one line that documents it everywhere."""
    return dataclasses.field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class RunParameters:
    """The parameters of one paper run, declared once: a chapter's parameters cell sets them
    (papermill's ``-p name value``), `ssv pretrain` takes them as flags, and the results file
    records them. `Chapter.open` checks their values."""

    dataset: str = _parameter("builtin", '"builtin" (generated on first use) or "ucf101"')
    data_root: str | None = _parameter(
        None, '"ucf101": the folder with UCF-101/, ucfTrainTestlist/'
    )
    downstream: str | None = _parameter(None, 'evaluate on: None (the same), "ucf101", "hmdb51"')
    downstream_root: str | None = _parameter(None, '"hmdb51": the folder with videos/ and splits')
    split: int = _parameter(1, "official split 1, 2 or 3")
    backbone: str | None = _parameter(None, "the encoder (None: the paper's for the preset)")
    preset: str = _parameter("cpu", '"cpu": minutes on a CPU; "paper": the paper\'s recipe')
    device: str = _parameter("auto", '"auto" (CUDA, MPS, CPU), "cuda", "mps" or "cpu"')
    seed: int = _parameter(0, "the model, the sampling and the label subset")
    epochs: int | None = _parameter(None, "pretext epochs (None: the preset's)")
    batch_size: int | None = _parameter(None, "tuples per batch (None: the preset's)")
    num_workers: int | None = _parameter(None, "loader processes (None: 0 on a CPU, 8 with a GPU)")
    label_fraction: float = _parameter(0.1, "also fine-tune on this fraction of the labels")
    strict: bool = _parameter(False, "True: an unreadable video stops the run (else skipped)")

    @classmethod
    def from_cell(cls, namespace: dict) -> RunParameters:
        """The values a notebook's parameters cell set (`globals()`); other names are ignored."""
        names = [f.name for f in dataclasses.fields(cls)]
        return cls(**{name: namespace[name] for name in names if name in namespace})
