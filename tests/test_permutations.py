"""Permutation <-> class helpers: counts, round trips, merged reverses, uniform shuffles."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from ssvlib.tasks.permutations import (
    apply_order,
    class_to_order,
    num_classes,
    order_to_class,
    permutations,
    shuffle_with_label,
)


def test_three_elements_have_six_orders_in_itertools_order():
    orders = permutations(3)
    assert len(orders) == num_classes(3) == 6
    assert orders == list(itertools.permutations(range(3)))  # VCOP's class numbering
    assert orders[0] == (0, 1, 2)


def test_four_elements_merge_24_orders_into_12_classes():
    assert num_classes(4) == 24
    assert num_classes(4, merge_reverse=True) == 12
    merged = {order_to_class(o, merge_reverse=True) for o in permutations(4)}
    assert merged == set(range(12))


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("merge", [False, True])
def test_round_trips(n, merge):
    for k in range(num_classes(n, merge)):
        assert order_to_class(class_to_order(k, n, merge), n, merge) == k
    for order in permutations(n):
        k = order_to_class(order, merge_reverse=merge)
        assert class_to_order(k, n, merge) in (order, order[::-1] if merge else order)


def test_an_order_and_its_reverse_share_one_class_when_merged():
    for order in permutations(4):
        assert order_to_class(order, merge_reverse=True) == order_to_class(
            order[::-1], merge_reverse=True
        )
    assert order_to_class((0, 1, 2, 3)) != order_to_class((3, 2, 1, 0))


def test_a_merged_class_is_represented_by_the_smaller_order_of_its_pair():
    for k in range(num_classes(4, merge_reverse=True)):
        order = class_to_order(k, 4, merge_reverse=True)
        assert order < order[::-1]
    assert class_to_order(order_to_class((3, 2, 1, 0), merge_reverse=True), 4, True) == (0, 1, 2, 3)


@pytest.mark.parametrize("n, merge", [(3, False), (4, True)])
def test_shuffle_with_label_is_uniform_and_labels_match(n, merge):
    rng = np.random.default_rng(0)
    draws = 6000
    label_counts = np.zeros(num_classes(n, merge), dtype=int)
    order_counts: dict[tuple[int, ...], int] = {}
    for _ in range(draws):
        order, label = shuffle_with_label(n, rng, merge_reverse=merge)
        assert order_to_class(order, merge_reverse=merge) == label
        label_counts[label] += 1
        order_counts[order] = order_counts.get(order, 0) + 1
    expected = draws / len(label_counts)
    assert np.all(np.abs(label_counts - expected) < 5 * np.sqrt(expected))  # ~5 sigma
    assert len(order_counts) == math.factorial(n)  # merged: both members of a pair appear


def test_shuffle_with_label_is_reproducible_from_the_seed():
    a = [shuffle_with_label(4, np.random.default_rng(7), True) for _ in range(3)]
    b = [shuffle_with_label(4, np.random.default_rng(7), True) for _ in range(3)]
    assert a == b


def test_apply_order_puts_element_k_where_the_order_says():
    assert apply_order(["a", "b", "c"], (2, 0, 1)) == ["c", "a", "b"]
    with pytest.raises(ValueError, match="3 positions"):
        apply_order(["a", "b"], (2, 0, 1))


def test_bad_values_raise_clear_errors():
    with pytest.raises(ValueError, match="not a permutation"):
        order_to_class((0, 0, 1))
    with pytest.raises(ValueError, match="not a permutation"):
        order_to_class((0, 1, 2), n=4)
    with pytest.raises(ValueError, match="valid ids are 0..11"):
        class_to_order(12, 4, merge_reverse=True)
    with pytest.raises(ValueError, match="tuple length"):
        num_classes(0)
    with pytest.raises(TypeError, match="default_rng"):
        shuffle_with_label(3, np.random.RandomState(0))
