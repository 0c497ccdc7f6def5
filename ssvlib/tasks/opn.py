"""OPN (Lee et al., ICCV 2017): sort four shuffled frames.

Four frames, `gap` frames apart, come from one window of the video (a high-motion window when a
motion curve is given); they are shuffled, and the label is one of 4!/2 = 12 classes, since an
order and its reverse share a class (many motions look plausible played backwards). The spatial
side of OPN (one high-motion patch per tuple, per-frame jittered crops, channel splitting) lives
in `ssvlib.data.motion` and `ssvlib.data.transforms`.
"""

from __future__ import annotations

import numpy as np

from ..data.motion import window_start
from .permutations import shuffle_with_label


def sample_indices(num_frames: int, rng: np.random.Generator, num_frames_per_tuple: int = 4,
                   gap: int = 6, motion: np.ndarray | None = None
                   ) -> tuple[list[int], tuple[int, ...], int]:
    """Frames in the order shown, the order, and its class (order and reverse merged)."""
    gap = max(1, min(gap, (num_frames - 1) // max(1, num_frames_per_tuple - 1)))
    span = (num_frames_per_tuple - 1) * gap + 1
    start = window_start(num_frames, span, rng, motion)
    frames = [min(start + k * gap, num_frames - 1) for k in range(num_frames_per_tuple)]
    order, label = shuffle_with_label(num_frames_per_tuple, rng, merge_reverse=True)
    return [frames[k] for k in order], order, label
