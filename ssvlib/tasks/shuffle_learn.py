"""Shuffle and Learn (Misra et al., ECCV 2016): is a 3-frame tuple in temporal order?

Five frames a < b < c < d < e are taken from one window of the video (a high-motion window when a
per-frame motion curve is given). The positive tuple is (b, c, d); the negatives are (b, a, d) and
(b, e, d): the first and last frames are the same, only the middle one is out of place, so the
network has to look at what changed. Label 1 = in order, 0 = not.

The paper's gaps (tau_max = 60 frames between a and e, negatives at least tau_min = 15 frames from
the positive's middle) were not released with code; ours: the five frames split a window of
`span` frames into four gaps of at least `min_gap` frames each, drawn at random.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..data.motion import window_start
from .task import Element, Sample, check_length


@dataclass(frozen=True)
class ShuffleLearn:
    """Temporal order verification of three frames, 1 - positive_fraction of them negatives."""

    positive_fraction: float = 0.25
    span: int = 60
    min_gap: int = 4
    motion_aware: bool = True
    name: str = field(default="shuffle_learn", init=False)
    element: Element = field(default=Element(1, 1, False, "stack"), init=False)
    num_elements: int = field(default=3, init=False)
    num_classes: int = field(default=2, init=False)

    @property
    def min_frames(self) -> int:
        """Five distinct frames at least `min_gap` apart."""
        return 4 * self.min_gap + 1

    def five_frames(
        self, num_frames: int, rng: np.random.Generator, motion: np.ndarray | None = None
    ) -> list[int]:
        """Sorted frames a < b < c < d < e inside one window of at most `span` frames."""
        check_length(self, num_frames)
        span = min(self.span, num_frames)
        start = window_start(num_frames, span, rng, motion if self.motion_aware else None)
        slack = span - 1 - 4 * self.min_gap
        cuts = np.sort(rng.integers(0, slack + 1, size=4))
        gaps = self.min_gap + np.diff(np.concatenate([[0], cuts]))
        return [start + int(v) for v in np.concatenate([[0], np.cumsum(gaps)])]

    def pick(self, five: list[int], rng: np.random.Generator) -> Sample:
        """From five frames a < b < c < d < e: (b, c, d), label 1, or (b, a, d) / (b, e, d), 0."""
        a, b, c, d, e = five
        if rng.random() < self.positive_fraction:
            return Sample([[b], [c], [d]], 1)
        return Sample([[b], [a] if rng.random() < 0.5 else [e], [d]], 0)

    def sample(
        self, num_frames: int, rng: np.random.Generator, motion: np.ndarray | None = None
    ) -> Sample:
        """Five frames from a (high-motion) window, then a positive or a negative tuple."""
        return self.pick(self.five_frames(num_frames, rng, motion), rng)
