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

import numpy as np

from ..data.motion import window_start


def five_frames(num_frames: int, rng: np.random.Generator, span: int = 60, min_gap: int = 4,
                motion: np.ndarray | None = None) -> list[int]:
    """Sorted frames a < b < c < d < e inside one window of at most `span` frames."""
    span = min(span, num_frames)
    min_gap = max(1, min(min_gap, (span - 1) // 4))
    start = window_start(num_frames, span, rng, motion)
    slack = span - 1 - 4 * min_gap
    cuts = np.sort(rng.integers(0, slack + 1, size=4)) if slack > 0 else np.zeros(4, int)
    gaps = min_gap + np.diff(np.concatenate([[0], cuts]))
    return [start + int(v) for v in np.concatenate([[0], np.cumsum(gaps)])]


def sample_indices(num_frames: int, rng: np.random.Generator, positive_fraction: float = 0.25,
                   **window) -> tuple[list[int], int, list[int]]:
    """A 3-frame tuple, its label (1 = in order), and the five frames it was drawn from."""
    a, b, c, d, e = five_frames(num_frames, rng, **window)
    if rng.random() < positive_fraction:
        return [b, c, d], 1, [a, b, c, d, e]
    return ([b, a, d] if rng.random() < 0.5 else [b, e, d]), 0, [a, b, c, d, e]
