"""O3N, odd-one-out networks (Fernando et al., CVPR 2017): which element is out of order?

A question has `num_elements` sub-sequences of `length` frames from one video: all but one are in
temporal order, the odd one has its frames shuffled (any order but the right one). The odd
element's position is drawn uniformly, and it is the label: a num_elements-way classification
(the paper: 6 elements of 6 frames). Each sub-sequence starts at its own random frame.
"""

from __future__ import annotations

import numpy as np


def sample_indices(num_frames: int, rng: np.random.Generator, num_elements: int = 6,
                   length: int = 6, step: int = 2) -> tuple[list[list[int]], int]:
    """Frame indices of every element (the odd one shuffled) and the odd element's position."""
    step = max(1, min(step, (num_frames - 1) // max(1, length - 1)))
    span = (length - 1) * step + 1
    elements = []
    for _ in range(num_elements):
        start = int(rng.integers(0, max(0, num_frames - span) + 1))
        elements.append([min(start + k * step, num_frames - 1) for k in range(length)])
    odd = int(rng.integers(num_elements))
    order = np.arange(length)
    while np.array_equal(order, np.arange(length)):
        order = rng.permutation(length)
    elements[odd] = [elements[odd][k] for k in order]
    return elements, odd
