"""VCOP (Xu et al., CVPR 2019): predict the order of shuffled clips.

A sample takes `num_clips` clips of `clip_len` frames from one window of the video, `gap` frames
apart, shuffles them, and asks which of the num_clips! orders they are shown in (the label is the
order's index in `permutations(num_clips)`). With the paper's sizes, 3 clips of 16 frames 8 apart
cover a 64-frame window, and there are 3! = 6 classes. The window is placed uniformly at random.

Videos shorter than the window are dropped, as the official code does: padding a short video by
repeating its last frame would make a frozen last clip, a shortcut that says "this one is last".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..settings import Element, Sample, check_length
from .permutations import num_classes, shuffle_with_label


@dataclass(frozen=True)
class VCOP:
    """The shape of a VCOP tuple: how many clips, how long, how far apart, raw or residual."""

    num_clips: int = 3
    clip_len: int = 16
    gap: int = 8
    step: int = 1
    residual: bool = False
    name: str = field(default="vcop", init=False)
    motion_aware: bool = field(default=False, init=False)

    @property
    def element(self) -> Element:
        """A clip of `clip_len` frames for a 3D encoder."""
        return Element(self.clip_len, self.step, self.residual, "clip")

    @property
    def num_elements(self) -> int:
        """Clips per tuple."""
        return self.num_clips

    @property
    def num_classes(self) -> int:
        """num_clips! orders."""
        return num_classes(self.num_clips)

    @property
    def min_frames(self) -> int:
        """The window: every clip and the gaps between them."""
        return self.num_clips * self.element.span + (self.num_clips - 1) * self.gap

    def for_validation(self) -> VCOP:
        """Validation samples are drawn as training ones: every class is equally likely."""
        return self

    def sample(
        self, num_frames: int, rng: np.random.Generator, motion: np.ndarray | None = None
    ) -> Sample:
        """Cut the clips from a random window, then shuffle them; the label names the order."""
        check_length(self, num_frames)
        start = int(rng.integers(0, num_frames - self.min_frames + 1))
        clips = [
            self.element.indices(start + k * (self.element.span + self.gap), num_frames)
            for k in range(self.num_clips)
        ]
        order, label = shuffle_with_label(self.num_clips, rng)
        return Sample([clips[k] for k in order], label)
