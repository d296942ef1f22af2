"""Which message variation each contact of a batch gets.

Weighted random choice, except that two consecutive contacts never get the same variation when
more than one is active (identical consecutive texts are what spam filters look for). A seed makes
the sequence reproducible, so a re-run of ingest (or a test) assigns the same variations.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from billing.errors import DomainError

MAX_VARIATIONS = 5


def choose_variations(
    weights: Sequence[int],
    count: int,
    *,
    seed: int | str | None = None,
    previous: int | None = None,
) -> list[int]:
    """``count`` indexes into ``weights``; weight <= 0 means inactive.

    ``previous`` is the variation of the contact before this slice, so chunks chain correctly.
    """
    eligible = [i for i, w in enumerate(weights) if w > 0]
    if not eligible:
        raise DomainError("no active variation (every weight is zero)")
    if len(eligible) == 1:
        return [eligible[0]] * max(count, 0)
    rng = random.Random(seed)
    choices = rng.choices
    picks: list[int] = []
    last = previous
    # Precomputed candidate lists without each variation, to keep the loop cheap for big batches.
    without = {i: ([j for j in eligible if j != i], [weights[j] for j in eligible if j != i]) for i in eligible}
    everything = (eligible, [weights[j] for j in eligible])
    for _ in range(max(count, 0)):
        population, cum = without.get(last, everything) if last is not None else everything
        last = choices(population, weights=cum)[0]
        picks.append(last)
    return picks
