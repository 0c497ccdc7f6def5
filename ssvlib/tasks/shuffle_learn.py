"""Shuffle and Learn (Misra et al., ECCV 2016): is a 3-frame tuple in temporal order?

Five frames a < b < c < d < e are taken from one window of the video (a high-motion window when a
per-frame motion curve is given). The positive tuple is (b, c, d); the negatives are (b, a, d) and
(b, e, d): the first and last frames are the same, only the middle one is out of place, so the
network has to look at what changed. Label 1 = in order, 0 = not. The paper trains on 75%
negatives; validation here is balanced (`for_validation`: half positives, chance 50%).

Secondary sources give the paper's gaps as tau_max = 60 frames between a and e, with negatives at
least tau_min = 15 frames from the positive's middle; we could not read them in the paper itself,
and no code that used them was released. Ours: the five frames split a window of `span` frames
into four gaps of at least `min_gap` frames each, drawn at random.

Two switches serve the chapter's ablations: ``negatives="easy"`` replaces the hard negatives by
any wrong order of (b, c, d) itself, and ``reverse_positives=True`` also shows every tuple
reversed half the time, the reversed positive (d, c, b) counting as in order.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from itertools import permutations

import numpy as np

from ..data.motion import window_start
from ..settings import Element, Sample, check_choice, check_length

NEGATIVES = ("hard", "easy")


@dataclass(frozen=True)
class ShuffleLearn:
    """Temporal order verification of three frames, 1 - positive_fraction of them negatives."""

    positive_fraction: float = 0.25
    span: int = 60
    min_gap: int = 4
    motion_aware: bool = True
    negatives: str = "hard"
    reverse_positives: bool = False
    name: str = field(default="shuffle_learn", init=False)
    element: Element = field(default=Element(1, 1, False, "stack"), init=False)
    num_elements: int = field(default=3, init=False)
    num_classes: int = field(default=2, init=False)

    def __post_init__(self) -> None:
        """Reject settings that cannot make a tuple."""
        check_choice("negatives", self.negatives, NEGATIVES)
        if not 0.0 <= self.positive_fraction <= 1.0:
            raise ValueError(
                f"positive_fraction={self.positive_fraction!r} must be in [0, 1] "
                "(the paper: 0.25, i.e. 75% negatives)"
            )
        if self.min_gap < 1 or self.span < 4 * self.min_gap + 1:
            raise ValueError(
                f"span={self.span} cannot hold five frames min_gap={self.min_gap} apart: "
                f"span must be at least 4 * min_gap + 1 = {4 * self.min_gap + 1}"
            )

    @property
    def min_frames(self) -> int:
        """Five distinct frames at least `min_gap` apart."""
        return 4 * self.min_gap + 1

    def for_validation(self) -> ShuffleLearn:
        """Half positives, so that chance is 50% whatever the training mix."""
        return dataclasses.replace(self, positive_fraction=0.5)

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
        """From a < b < c < d < e: (b, c, d), label 1, or a negative, label 0.

        Hard negatives (the paper's): (b, a, d) or (b, e, d). Easy negatives: (b, c, d) in any
        other order. With `reverse_positives`, the tuple is then reversed half the time.
        """
        a, b, c, d, e = five
        positive = rng.random() < self.positive_fraction
        if positive:
            frames = [b, c, d]
        elif self.negatives == "hard":
            frames = [b, a if rng.random() < 0.5 else e, d]
        else:
            wrong = [
                list(p)
                for p in permutations((b, c, d))
                if p != (b, c, d) and not (self.reverse_positives and p == (d, c, b))
            ]
            frames = wrong[int(rng.integers(len(wrong)))]
        if self.reverse_positives and (positive or self.negatives == "hard"):
            if rng.random() < 0.5:
                frames = frames[::-1]
        return Sample([[f] for f in frames], int(positive))

    def sample(
        self, num_frames: int, rng: np.random.Generator, motion: np.ndarray | None = None
    ) -> Sample:
        """Five frames from a (high-motion) window, then a positive or a negative tuple."""
        return self.pick(self.five_frames(num_frames, rng, motion), rng)
