"""OPN (Lee et al., ICCV 2017): sort four shuffled frames.

Four frames, `gap` frames apart, come from one window of the video (a high-motion window when a
motion curve is given); they are shuffled, and the label is one of 4!/2 = 12 classes, since an
order and its reverse share a class (many motions look plausible played backwards). The spatial
side of OPN (one high-motion patch per tuple, per-frame jittered crops, channel splitting) lives
in `ssvlib.data.motion` and `ssvlib.data.transforms`.
"""

from __future__ import annotations

import numpy as np

from ..data.motion import sample_high_motion_window
from .permutations import shuffle_with_label

HIGH_MOTION_QUANTILE = 0.75  # windows are drawn from the top quarter by mean motion


def sample_indices(num_frames: int, rng: np.random.Generator, num_frames_per_tuple: int = 4,
                   gap: int = 6, motion: np.ndarray | None = None
                   ) -> tuple[list[int], tuple[int, ...], int]:
    """Frames in the order shown, the order, and its class (order and reverse merged)."""
    gap = max(1, min(gap, (num_frames - 1) // max(1, num_frames_per_tuple - 1)))
    span = (num_frames_per_tuple - 1) * gap + 1
    if motion is not None and len(motion) >= span:
        start = sample_high_motion_window(motion, span, rng, quantile=HIGH_MOTION_QUANTILE)
    else:
        start = int(rng.integers(0, max(0, num_frames - span) + 1))
    frames = [min(start + k * gap, num_frames - 1) for k in range(num_frames_per_tuple)]
    order, label = shuffle_with_label(num_frames_per_tuple, rng, merge_reverse=True)
    return [frames[k] for k in order], order, label
