"""O3N, odd-one-out networks (Fernando et al., CVPR 2017): which element is out of order?

A question has `num_elements` sub-sequences of `length` frames from one video: all but one are in
temporal order, the odd one has its frames shuffled (any order but the right one). The odd
element's position is drawn uniformly, and it is the label: a num_elements-way classification
(the paper: 6 elements of 6 frames). Each sub-sequence starts at its own random frame. An
element reaches the 2D encoder in one of the paper's three encodings: a stack of its frames, a
stack of their differences (the paper's best) or a dynamic image (approximate rank pooling).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..settings import Element, Sample, check_length

ENCODINGS = ("frames", "differences", "dynamic")
"""How an element reaches the encoder: a stack of its frames, of their differences, or one
dynamic image."""


@dataclass(frozen=True)
class O3N:
    """Odd-one-out among `num_elements` sub-sequences of `length` frames, `step` apart."""

    num_elements: int = 6
    length: int = 6
    step: int = 2
    encoding: str = "differences"
    name: str = field(default="o3n", init=False)
    motion_aware: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        """Reject encodings and sizes that cannot make a question."""
        if self.encoding not in ENCODINGS:
            raise ValueError(f"encoding={self.encoding!r} is not valid; choose one of {ENCODINGS}")
        for key in ("num_elements", "length"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 2:
                raise ValueError(f"{key}={value!r} must be an integer >= 2")

    @property
    def element(self) -> Element:
        """`length` frames `step` apart, encoded as `encoding` says, for a 2D encoder.

        For "differences", `length` differences are taken, of `length` + 1 frames."""
        layout = "dynamic" if self.encoding == "dynamic" else "stack"
        return Element(self.length, self.step, self.encoding == "differences", layout)

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


"""How the branches' features are fused: the paper's sum of differences, or concatenation."""


ENCODING_NAMES = {
    "frames": "stack of frames",
    "differences": "stack of differences",
    "dynamic": "dynamic image",
}


def uneven_motion_guess(x: torch.Tensor) -> int:
    """A guess at the odd element that learns nothing: the element whose frame-to-frame change
    is most uneven. `x`: one question as `TupleDataset` yields it, uint8 (N, T, C, H, W).

    A shuffled sub-sequence jumps back and forth, an ordered one moves smoothly: how often this
    rule is right measures how much of the pretext a low-level cue gives away.
    """
    frames = x.float() / 255
    change = (frames[:, 1:] - frames[:, :-1]).abs().mean(dim=(2, 3, 4))  # (N, T - 1)
    return int(change.std(dim=1).argmax())
