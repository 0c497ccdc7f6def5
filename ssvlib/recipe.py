"""A paper's recipe as one value: its task, the view of the frames, its head, and both budgets.

Each task module holds ``PRESETS = {"cpu": Recipe(...), "paper": Recipe(...)}``: "cpu" runs in
minutes on a laptop with the built-in dataset, "paper" follows the paper's sizes and schedule.
A chapter picks one by name and overrides what its parameters cell says::

    recipe = select(vcop.PRESETS, preset, dataset=dataset, epochs=epochs, batch_size=batch_size)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from torch import nn

from .config import check_choice, is_smoke
from .data.datasets import View
from .data.videos import DATASETS
from .evaluate import Downstream
from .models.tuple_model import ElementEncoder
from .pretrain import Pretext
from .tasks.task import Element, Task


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

    def encoder(self, net: nn.Module) -> ElementEncoder:
        """`net` behind the input step of the task's element, as the pretext trains it."""
        return ElementEncoder(net, self.task.element, self.grid)

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
        """The recipe as evaluated on `dataset`: on UCF-101, frame encoders use the papers' protocol.

        Shuffle and Learn and OPN classify single frames, FRAMES_PER_VIDEO of them spread over
        each test video, and average the predictions; on the built-in data, whose classes a
        single frame cannot tell apart, the preset's `eval_element` stands in.
        """
        single_frame = self.task.element.layout == "stack" and self.task.element.length == 1
        if dataset != "ucf101" or not single_frame:
            return self
        downstream = dataclasses.replace(self.downstream, clips_per_video=FRAMES_PER_VIDEO)
        return dataclasses.replace(self, eval_element=None, downstream=downstream)

    def smoke(self) -> Recipe:
        """The same recipe shrunk to seconds (SSV_SMOKE=1): one epoch each, two clips per video."""
        return dataclasses.replace(
            self,
            pretext=dataclasses.replace(self.pretext, epochs=1),
            downstream=dataclasses.replace(
                self.downstream, epochs=1, clips_per_video=min(2, self.downstream.clips_per_video)
            ),
        )


FRAMES_PER_VIDEO = 25  # frames scored per test video in the frame-level protocol (TSN's)


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
