"""VCOP (Xu et al., CVPR 2019): predict the order of shuffled clips.

A sample takes `num_clips` clips of `clip_len` frames from one window of the video, `gap` frames
apart, shuffles them, and asks which of the num_clips! orders they are shown in (the label is the
order's index in `permutations(num_clips)`). With the paper's sizes, 3 clips of 16 frames 8 apart
cover a 64-frame window, and there are 3! = 6 classes.

Rule for a video shorter than the window: the gap between clips shrinks first (down to 0); if the
clips still do not fit, frame indices past the end repeat the last frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .permutations import num_classes, shuffle_with_label


@dataclass(frozen=True)
class VCOPSpec:
    """The shape of a VCOP tuple: how many clips, how long, how far apart."""

    num_clips: int = 3
    clip_len: int = 16
    gap: int = 8
    step: int = 1

    @property
    def num_classes(self) -> int:
        """num_clips! orders."""
        return num_classes(self.num_clips)

    @property
    def clip_span(self) -> int:
        """Frames of the video one clip covers."""
        return (self.clip_len - 1) * self.step + 1

    def window(self, gap: int | None = None) -> int:
        """Frames covered by all clips and the gaps between them."""
        gap = self.gap if gap is None else gap
        return self.num_clips * self.clip_span + (self.num_clips - 1) * gap


def clip_starts(num_frames: int, spec: VCOPSpec, rng: np.random.Generator) -> list[int]:
    """Chronological start frames of the clips, the window placed uniformly at random."""
    gap = spec.gap
    while gap > 0 and spec.window(gap) > num_frames:
        gap -= 1
    start = int(rng.integers(0, max(0, num_frames - spec.window(gap)) + 1))
    return [start + k * (spec.clip_span + gap) for k in range(spec.num_clips)]


def sample_indices(num_frames: int, spec: VCOPSpec, rng: np.random.Generator,
                   extra: int = 0) -> tuple[list[list[int]], tuple[int, ...], int]:
    """Frame indices of each clip in the order shown, the order, and its class.

    `extra` frames are added to the end of every clip (1 for residual frames, whose differences
    need clip_len + 1 frames).
    """
    starts = clip_starts(num_frames, spec, rng)
    clips = [[min(s + t * spec.step, num_frames - 1) for t in range(spec.clip_len + extra)]
             for s in starts]
    order, label = shuffle_with_label(spec.num_clips, rng)
    return [clips[k] for k in order], order, label
