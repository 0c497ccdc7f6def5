"""OPN (Lee et al., ICCV 2017): sort four shuffled frames.

Four frames, `gap` frames apart, come from one window of the video (a high-motion window when a
motion curve is given); they are shuffled, and the label is one of 4!/2 = 12 classes, since an
order and its reverse share a class (many motions look plausible played backwards). The spatial
side of OPN (one high-motion patch per tuple, per-frame jittered crops, channel splitting) lives
in `ssvlib.data.motion` and `ssvlib.data.transforms`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..data.motion import window_start
from ..settings import Element, Sample, check_length
from .permutations import num_classes, shuffle_with_label


@dataclass(frozen=True)
class OPN:
    """Order prediction of `tuple_len` frames `gap` apart; an order and its reverse merged."""

    tuple_len: int = 4
    gap: int = 6
    motion_aware: bool = True
    name: str = field(default="opn", init=False)
    element: Element = field(default=Element(1, 1, False, "stack"), init=False)

    @property
    def num_elements(self) -> int:
        """Frames per tuple."""
        return self.tuple_len

    @property
    def num_classes(self) -> int:
        """tuple_len! / 2 orders (12 for four frames)."""
        return num_classes(self.tuple_len, merge_reverse=True)

    @property
    def min_frames(self) -> int:
        """The window of the tuple's frames."""
        return (self.tuple_len - 1) * self.gap + 1

    def for_validation(self) -> OPN:
        """Validation samples are drawn as training ones: every class is equally likely."""
        return self

    def sample(
        self, num_frames: int, rng: np.random.Generator, motion: np.ndarray | None = None
    ) -> Sample:
        """Frames from a (high-motion) window, shown in a random order; the label names it."""
        check_length(self, num_frames)
        start = window_start(
            num_frames, self.min_frames, rng, motion if self.motion_aware else None
        )
        frames = [start + k * self.gap for k in range(self.tuple_len)]
        order, label = shuffle_with_label(self.tuple_len, rng, merge_reverse=True)
        return Sample([[frames[k]] for k in order], label)


"""How the frames' fc6 vectors are joined: OPN's pairwise fc7 on each of the 6 frame pairs, or
one fc7 on the concatenation of all four (the paper's baseline)."""
