"""Deterministic workloads for the core benchmarks: scrambled int keys and Zipf samples.

Keys are ints spread over 62 bits by an odd multiplier (a bijection modulo
2**62), so that hash tables do not get the unrealistically friendly layout of
consecutive integers.  The Zipf sampler draws ranks by inverse CDF: ``bisect``
over precomputed cumulative weights (pure Python, no numpy dependency).
"""
from __future__ import annotations

import bisect
import itertools
import random
from typing import List

_MASK62 = (1 << 62) - 1
_MULT = 0x9E3779B97F4A7C15  # odd, so i -> i * _MULT mod 2**62 is a bijection


def scrambled_keys(start: int, count: int) -> List[int]:
    """Return ``count`` distinct ints for the indices ``start .. start+count-1``.

    Disjoint index ranges give disjoint key sets.

    >>> len(set(scrambled_keys(0, 1000) + scrambled_keys(1000, 1000)))
    2000
    """
    return [(i * _MULT) & _MASK62 for i in range(start, start + count)]


def zipf_ranks(requests: int, universe: int, s: float = 0.99, seed: int = 42) -> List[int]:
    """Return ``requests`` ranks in ``[0, universe)`` drawn from Zipf(``s``).

    Rank ``r`` (0-based) has probability proportional to ``1 / (r + 1) ** s``.
    The same arguments always return the same list.

    Raises ``ValueError`` when ``universe`` or ``requests`` is not positive.

    >>> ranks = zipf_ranks(10_000, 1_000, seed=1)
    >>> ranks.count(0) > ranks.count(999)
    True
    >>> ranks == zipf_ranks(10_000, 1_000, seed=1)
    True
    """
    if universe <= 0 or requests <= 0:
        raise ValueError("universe and requests must be positive")
    cumulative = list(itertools.accumulate((r + 1) ** -s for r in range(universe)))
    total = cumulative[-1]
    rng = random.Random(seed)
    draw = rng.random
    find = bisect.bisect_left
    last = universe - 1
    # min() guards the float edge where draw() * total rounds onto the last bound
    return [min(find(cumulative, draw() * total), last) for _ in range(requests)]


def zipf_keys(requests: int, universe: int, s: float = 0.99, seed: int = 42) -> List[int]:
    """Return a Zipf(``s``) request sequence over ``universe`` scrambled int keys.

    >>> seq = zipf_keys(1000, 100, seed=3)
    >>> len(seq), len(set(seq)) <= 100
    (1000, True)
    """
    keys = scrambled_keys(0, universe)
    return [keys[r] for r in zipf_ranks(requests, universe, s, seed)]
