"""The contract every pretext task keeps, and the element each one is built from.

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

from dataclasses import dataclass
from typing import NamedTuple, Protocol

import numpy as np

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
