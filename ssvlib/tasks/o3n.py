"""O3N, odd-one-out networks (Fernando et al., CVPR 2017): which element is out of order?

A question has `num_elements` sub-sequences of `length` frames from one video: all but one are in
temporal order, the odd one has its frames shuffled (any order but the right one). The odd
element's position is drawn uniformly, and it is the label: a num_elements-way classification
(the paper: 6 elements of 6 frames). Each sub-sequence starts at its own random frame. Elements
are channel stacks for a 2D encoder; residual=True makes them stacks of differences.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .task import Element, Sample, check_length


@dataclass(frozen=True)
class O3N:
    """Odd-one-out among `num_elements` sub-sequences of `length` frames, `step` apart."""

    num_elements: int = 6
    length: int = 6
    step: int = 2
    residual: bool = False
    name: str = field(default="o3n", init=False)
    motion_aware: bool = field(default=False, init=False)

    @property
    def element(self) -> Element:
        """A stack of `length` frames (or of their differences) for a 2D encoder."""
        return Element(self.length, self.step, self.residual, "stack")

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
