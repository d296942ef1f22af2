from __future__ import annotations

import itertools
from collections import Counter

import pytest
from billing.domain.variations import choose_variations
from billing.errors import DomainError


def test_consecutive_contacts_never_get_the_same_variation() -> None:
    picks = choose_variations([1, 1, 1], 1000, seed=1)
    assert all(a != b for a, b in itertools.pairwise(picks))


def test_consecutive_rule_holds_even_with_very_uneven_weights() -> None:
    picks = choose_variations([100, 1], 50, seed="batch-1")
    assert picks[::2] == [0] * 25 or picks[1::2] == [0] * 25


def test_weights_bias_the_choice() -> None:
    counts = Counter(choose_variations([6, 3, 1], 10_000, seed=42))
    assert counts[0] > counts[1] > counts[2] > 0


def test_inactive_variations_are_never_chosen() -> None:
    assert set(choose_variations([0, 5, 0, 2], 500, seed=9)) == {1, 3}


def test_a_single_active_variation_repeats() -> None:
    assert choose_variations([0, 3, 0], 4, seed=1) == [1, 1, 1, 1]


def test_the_same_seed_gives_the_same_sequence() -> None:
    assert choose_variations([1, 2, 3], 100, seed="erp-run-1") == choose_variations([1, 2, 3], 100, seed="erp-run-1")
    assert choose_variations([1, 2, 3], 100, seed=1) != choose_variations([1, 2, 3], 100, seed=2)


def test_previous_chains_slices_of_one_batch() -> None:
    assert choose_variations([1, 1], 1, seed=3, previous=0) == [1]


def test_no_active_variation_is_an_error() -> None:
    with pytest.raises(DomainError):
        choose_variations([0, 0], 3, seed=1)
    with pytest.raises(DomainError):
        choose_variations([], 3)


def test_zero_count_gives_nothing() -> None:
    assert choose_variations([1, 1], 0, seed=1) == []
