"""Arrow of Time (Wei, Lim, Zisserman and Freeman, CVPR 2018): is the video playing backwards?

A sample is one stretch of a video, shown forwards or reversed with probability 1/2; the label
is 1 when reversed. As in the paper's T-CAM network, the stretch is cut into `num_groups`
consecutive groups that one encoder sees one at a time, and a head fuses the groups' features
in the order shown. The official code (donglaiw/AoT_TCAM, `vggbn_tcam_pair2`) feeds two groups
of 10 optical-flow fields each, computed on the video played forwards or on the video reversed.

We have no optical flow, and computing it would cost a CPU run more than the training does. A
group is a stack of `length` differences of consecutive frames `step` apart instead (the
"residual" `Element`, layout "stack", O3N's "stack of differences"): like flow, it cancels what
stands still and keeps what moved, and played backwards, each difference changes sign and the
differences come in reverse order. Consecutive groups share their boundary frame, so the groups
together are one unbroken run of `num_groups * length` differences. Reversing plays that whole
run backwards: the groups come in reverse order and each group's frames too.

The stretch is placed uniformly at random in the video. Videos shorter than the stretch are
dropped (`min_frames`), never padded: a frozen repeated frame at one end would say which end
is which.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..settings import Element, Sample, check_length


@dataclass(frozen=True)
class ArrowOfTime:
    """Forwards or backwards: `num_groups` groups of `length` frame differences, `step` apart."""

    num_groups: int = 2
    length: int = 10
    step: int = 1
    name: str = field(default="arrow_of_time", init=False)
    motion_aware: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        """Reject sizes that cannot make a sample."""
        for key in ("num_groups", "length", "step"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{key}={value!r} must be an integer >= 1")

    @property
    def element(self) -> Element:
        """One group: `length` differences of `length` + 1 frames, stacked for a 2D encoder."""
        return Element(self.length, self.step, residual=True, layout="stack")

    @property
    def num_elements(self) -> int:
        """Groups per sample."""
        return self.num_groups

    @property
    def num_classes(self) -> int:
        """Forwards (0) or reversed (1)."""
        return 2

    @property
    def min_frames(self) -> int:
        """The stretch: every group's differences and the one frame they start from."""
        return self.num_groups * self.length * self.step + 1

    def for_validation(self) -> ArrowOfTime:
        """Validation samples are drawn as training ones: both directions are equally likely."""
        return self

    def groups(self, start: int, reverse: bool) -> list[list[int]]:
        """The frame indices of each group of the stretch that starts at frame `start`, in the
        order shown: played forwards, or the whole stretch played backwards."""
        frames = [start + k * self.step for k in range(self.num_groups * self.length + 1)]
        if reverse:
            frames = frames[::-1]
        return [frames[g * self.length : (g + 1) * self.length + 1] for g in range(self.num_groups)]

    def sample(
        self, num_frames: int, rng: np.random.Generator, motion: np.ndarray | None = None
    ) -> Sample:
        """A random stretch, reversed with probability 1/2; the label says whether it was."""
        check_length(self, num_frames)
        start = int(rng.integers(0, num_frames - self.min_frames + 1))
        reverse = bool(rng.integers(2))
        return Sample(self.groups(start, reverse), int(reverse))
