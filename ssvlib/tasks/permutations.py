"""Permutations <-> class ids, shared by every order-prediction task.

Convention: an ``order`` is a tuple of the chronological indices 0..n-1 in the order the
network sees them; ``order[i]`` is the element shown at position i, so a task builds its
input as ``apply_order(elements, order)`` (``[elements[k] for k in order]``). The identity
(0, 1, ..., n-1) is "in order". This is the VCOP code's convention: the class of an order is
its index in ``list(itertools.permutations(range(n)))`` (lexicographic order).

With ``merge_reverse=True`` (OPN), an order and its reverse share a class: n! / 2 classes
for n >= 2 (4 frames: 24 orders, 12 classes). Each merged class is represented by the
lexicographically smaller order of its pair, and the classes are numbered in the
lexicographic order of those representatives.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from itertools import permutations as _itertools_permutations

import numpy as np


def _check_n(n: int) -> None:
    """Reject tuple lengths that are not positive integers (or too large to enumerate)."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or not 1 <= n <= 8:
        raise ValueError(f"n={n!r}: the tuple length must be an integer from 1 to 8")


@cache
def _classes(n: int, merge_reverse: bool) -> tuple[tuple[int, ...], ...]:
    """The representative order of every class, indexed by class id."""
    orders = _itertools_permutations(range(n))
    if merge_reverse:
        return tuple(p for p in orders if p <= p[::-1])
    return tuple(orders)


@cache
def _class_index(n: int, merge_reverse: bool) -> dict[tuple[int, ...], int]:
    """Map every order (both members of a merged pair) to its class id."""
    index = {}
    for k, order in enumerate(_classes(n, merge_reverse)):
        index[order] = k
        if merge_reverse:
            index[order[::-1]] = k
    return index


def permutations(n: int) -> list[tuple[int, ...]]:
    """All n! orders of range(n), in itertools (lexicographic) order; index = unmerged class id."""
    _check_n(n)
    return list(_classes(int(n), False))


def num_classes(n: int, merge_reverse: bool = False) -> int:
    """How many classes an n-element order task has: n!, or n!/2 when reverses are merged."""
    _check_n(n)
    return len(_classes(int(n), merge_reverse))


def order_to_class(order: Sequence[int], n: int | None = None, merge_reverse: bool = False) -> int:
    """The class id of `order` (a permutation of range(n); n defaults to len(order))."""
    order = tuple(int(k) for k in order)
    n = len(order) if n is None else n
    _check_n(n)
    if len(order) != n or sorted(order) != list(range(n)):
        raise ValueError(
            f"order={order} is not a permutation of 0..{n - 1}; an order lists each "
            f"chronological index 0..{n - 1} exactly once"
        )
    return _class_index(int(n), merge_reverse)[order]


def class_to_order(k: int, n: int, merge_reverse: bool = False) -> tuple[int, ...]:
    """The order that represents class `k` (with merge_reverse: the lexicographically smaller one)."""
    total = num_classes(n, merge_reverse)
    if not 0 <= int(k) < total:
        raise ValueError(
            f"class {k} is out of range for n={n} (merge_reverse={merge_reverse}): "
            f"valid ids are 0..{total - 1}"
        )
    return _classes(int(n), merge_reverse)[int(k)]


def shuffle_with_label(
    n: int, rng: np.random.Generator, merge_reverse: bool = False
) -> tuple[tuple[int, ...], int]:
    """A random order and its class: the class is uniform; with merge_reverse, either of its two
    orders is returned with probability 1/2 (so every one of the n! orders is equally likely)."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator, got {type(rng).__name__}; "
            "make one with numpy.random.default_rng(seed)"
        )
    label = int(rng.integers(num_classes(n, merge_reverse)))
    order = class_to_order(label, n, merge_reverse)
    if merge_reverse and rng.random() < 0.5:
        order = order[::-1]
    return order, label


def apply_order(elements: Sequence, order: Sequence[int]) -> list:
    """Rearrange `elements` (in chronological order) into the order seen: [elements[k] for k in order]."""
    if len(order) != len(elements):
        raise ValueError(f"order has {len(order)} positions but there are {len(elements)} elements")
    return [elements[k] for k in order]
