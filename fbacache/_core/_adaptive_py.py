"""Reference twin of the ``adaptive`` eviction policy (W-TinyLFU, climbing window, LRU guard).

Layout (all segments are LRU lists, head = least recently used)::

    insert -> [ window ] --overflow--> [ probation ] --hit--> [ protected ]
                                           ^   demoted when protected is over its share   |
                                           +-----------------------------------------------+

* A frequency sketch (count-min, 4 counters of 4 bits per key, periodic halving) estimates how
  often each key was requested recently, including keys that are not resident.
* A new key enters the *window*; when the window overflows, its LRU key moves to the tail of
  *probation*.  The index evicts *before* it inserts, so :meth:`victim` plays the duel that
  the coming insert causes: when the window is full, its LRU key (the *candidate*, about to
  be pushed out) duels probation's LRU key, and the one with the lower sketch frequency goes
  (TinyLFU admission).  Ties keep the incumbent, which is what makes the policy scan resistant.
* A hill climber resizes the window every sample period from the change of the hit rate
  (Caffeine's approach), and an LRU *guard* — a small LRU simulated on a hash-sampled
  substream — grows the window whenever plain LRU is measurably beating the policy on the same
  requests, so recency-friendly traces converge towards LRU instead of away from it.

Every decision is integer arithmetic on 64-bit values (``& M64``) derived from ``hash(key)``,
so the compiled port (uint64 arithmetic) makes bit-for-bit the same decisions.  See
docs/adaptive.md for the rationale and the measured hit ratios.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Dict, Hashable, List, Optional, Set

M64 = 0xFFFFFFFFFFFFFFFF
WINDOW, PROBATION, PROTECTED = 0, 1, 2

COUNTERS_PER_ENTRY = 16   # sketch width: counters = ceil_pow2(max(capacity, 16) * 16)
SAMPLE_PER_ENTRY = 10     # sketch halves after 10 * capacity increments
COUNTER_MAX = 15          # 4-bit counters
JITTER_FREQ = 6           # a candidate this frequent is admitted with probability 1/128
CLIMB_SAMPLE_MAX = 5000   # climber period: min(10 * capacity, 5000) lookups
RESTART_RATE = 3277       # |hit-rate change| >= 5% (x 2**16) restarts the step size
GUARD_SIZE = 1024         # LRU guard: at most this many sampled fingerprints
GUARD_PERIOD_MIN = 128    # guard compares after max(128, guard size) sampled lookups
# Bounds for weight-bounded indexes, whose capacity is in weight units (bytes, say), not
# keys: the policy never sizes itself past CAPACITY_MAX keys, nor its sketch past
# SKETCH_CAPACITY_MAX keys (16M counters: 8 MB packed in C), so max_bytes=2**30 stays cheap.
CAPACITY_MAX = 2**31 - 2
SKETCH_CAPACITY_MAX = 1 << 20


def mix64(x: int) -> int:
    """Return the splitmix64 finalizer of the 64-bit integer ``x``.

    >>> mix64(1) == mix64(1) and mix64(1) != mix64(2)
    True
    """
    x &= M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def key_hash(key: Hashable) -> int:
    """Return the mixed 64-bit hash of ``key`` (``hash(key)`` as two's complement, mixed)."""
    return mix64(hash(key) & M64)


class FrequencySketch:
    """Count-min sketch of 4-bit counters with periodic halving ("reset").

    Counters are kept one per byte here; the compiled port may pack them in
    nibbles — only their values matter.
    """

    def __init__(self, capacity: int) -> None:
        capacity = min(capacity, SKETCH_CAPACITY_MAX)
        n = 1
        while n < max(capacity, 16) * COUNTERS_PER_ENTRY:
            n <<= 1
        self.mask = n - 1
        self.table = bytearray(n)
        self.sample_size = SAMPLE_PER_ENTRY * max(capacity, 16)
        self.additions = 0

    def _slots(self, h: int) -> List[int]:
        lo = h & 0xFFFFFFFF
        hi = (h >> 32) | 1
        m = self.mask
        return [lo & m, (lo + hi) & m, (lo + 2 * hi) & m, (lo + 3 * hi) & m]

    def frequency(self, h: int) -> int:
        """Return the estimated recent frequency (0..15) of the key with mixed hash ``h``."""
        t = self.table
        return min(t[i] for i in self._slots(h))

    def increment(self, h: int) -> None:
        """Count one request; halve every counter once ``sample_size`` increments were counted."""
        t = self.table
        added = False
        for i in self._slots(h):  # a repeated slot is incremented once per occurrence
            if t[i] < COUNTER_MAX:
                t[i] += 1
                added = True
        if added:
            self.additions += 1
            if self.additions >= self.sample_size:
                self.table = bytearray(v >> 1 for v in t)
                self.additions >>= 1

    def clear(self) -> None:
        """Zero every counter."""
        self.table = bytearray(len(self.table))
        self.additions = 0


class AdaptivePolicy:
    """Adaptive W-TinyLFU eviction policy (the ``adaptive`` policy of the core).

    Parameters: ``capacity`` is the maximum number of resident keys the caller keeps (it
    calls :meth:`victim` / :meth:`remove` while over it); ``seed`` seeds the admission jitter.
    Raises ``ValueError`` for a negative capacity.

    >>> p = AdaptivePolicy(2, seed=1)
    >>> for k in ("a", "b"):
    ...     p.miss(k); p.insert(k)
    >>> p.access("a"); p.miss("c"); p.insert("c")
    >>> v = p.victim(); p.remove(v); v in ("b", "c")
    True
    >>> p.check({"a", "b", "c"} - {v})
    """

    def __init__(self, capacity: int, seed: Optional[int] = None) -> None:
        if capacity < 0:
            raise ValueError("capacity must be >= 0")
        self._seed = (seed if seed is not None else 0x5EED) & M64
        self._segs = (OrderedDict(), OrderedDict(), OrderedDict())  # window, probation, protected
        self._where: Dict[Hashable, int] = {}
        self._hashes: Dict[Hashable, int] = {}
        self._setup(capacity)

    # -- configuration --------------------------------------------------------------------
    def _setup(self, capacity: int) -> None:
        capacity = min(capacity, CAPACITY_MAX)
        self.capacity = capacity
        cap = max(capacity, 1)
        self.window_max = max(1, cap // 100)
        self.protected_max = (cap - self.window_max) * 4 // 5
        self._sketch = FrequencySketch(cap)
        self._rng = self._seed
        self._last_miss = -1  # mixed hash of the last miss(), consumed by insert()
        # hill climber: integer hit rates scaled by 2**16, step in 1/1024 entries
        self._climb_period = max(16, min(SAMPLE_PER_ENTRY * cap, CLIMB_SAMPLE_MAX))
        self._hits = self._misses = 0
        self._prev_rate = 0
        self._step = cap << 6  # 6.25% of capacity
        self._up = True
        # LRU guard on a hash-sampled substream (exact when capacity <= GUARD_SIZE)
        self._guard: "OrderedDict[int, None]" = OrderedDict()
        self._guard_cap = min(cap, GUARD_SIZE)
        self._guard_thr = 1 << 24 if cap <= GUARD_SIZE else (GUARD_SIZE << 24) // cap
        self._guard_period = max(GUARD_PERIOD_MIN, self._guard_cap)
        self._g_n = self._g_ours = self._g_lru = 0

    def resize(self, capacity: int) -> None:
        """Change the capacity; learned state restarts, residents keep their segments.

        The caller evicts with :meth:`victim` / :meth:`remove` while it is over the new capacity.
        """
        if capacity < 0:
            raise ValueError("capacity must be >= 0")
        self._setup(capacity)
        self._rebalance()

    def _rebalance(self) -> None:
        window, probation, protected = self._segs
        while len(window) > self.window_max:
            self._move(next(iter(window)), PROBATION)
        self._fix_protected()

    # -- protocol -------------------------------------------------------------------------
    def insert(self, key: Hashable) -> None:
        """Record a new resident key (it enters the window)."""
        h = key_hash(key)
        if h != self._last_miss:
            self._sketch.increment(h)
        self._last_miss = -1
        self._hashes[key] = h
        self._where[key] = WINDOW
        window = self._segs[WINDOW]
        window[key] = None
        self._rng = (self._rng + 0x9E3779B97F4A7C15) & M64  # this insert's coin was spent
        if len(window) > self.window_max:
            self._move(next(iter(window)), PROBATION)  # victim() already held its duel

    def access(self, key: Hashable) -> None:
        """Record a hit on the resident ``key``."""
        h = self._hashes[key]
        self._sketch.increment(h)
        seg = self._where[key]
        if seg == PROBATION:
            self._move(key, PROTECTED)
            self._fix_protected()
        else:
            self._segs[seg].move_to_end(key)
        self._observe(h, True)

    def miss(self, key: Hashable) -> None:
        """Record a lookup of the absent ``key``."""
        h = key_hash(key)
        self._sketch.increment(h)
        self._last_miss = h
        self._observe(h, False)

    def remove(self, key: Hashable) -> None:
        """Forget the resident ``key`` (deleted, expired or evicted)."""
        seg = self._where.pop(key)
        del self._segs[seg][key]
        del self._hashes[key]

    def victim(self) -> Hashable:
        """Return the next key to evict (does not remove it; the caller calls :meth:`remove`).

        The caller evicts to make room for an insert, so when the window is full its LRU key
        is about to move to probation: it duels probation's LRU key now (it is the victim
        outright when probation is empty).  Otherwise the victim is probation's LRU key, else
        protected's, else the window's.  Pure: nothing changes until :meth:`remove`.
        Raises ``KeyError`` when no key is resident.
        """
        window, probation, protected = self._segs
        if window and len(window) >= self.window_max:
            cand = next(iter(window))
            if not probation:
                return cand
            v = next(iter(probation))
            return v if self._admit(cand, v) else cand
        for seg in (probation, protected, window):
            if seg:
                return next(iter(seg))
        raise KeyError("victim(): no resident key")

    def order(self) -> List[Hashable]:
        """Return every resident key in the order successive evictions would take them.

        Simulates :meth:`victim` / :meth:`remove` on copies of the segments (a removal only
        ever takes a head, and the sketch and coin do not change), so this is exactly what a
        ``set`` evicts: ``Index.victims_for`` relies on it.  O(n).
        """
        window, probation, protected = (list(seg) for seg in self._segs)
        wi = pi = ri = 0  # how many keys were taken from the head of each segment
        out: List[Hashable] = []
        for _ in range(len(self._where)):
            if len(window) - wi >= self.window_max and wi < len(window):
                cand = window[wi]
                if pi == len(probation) or not self._admit(cand, probation[pi]):
                    out.append(cand)
                    wi += 1
                else:
                    out.append(probation[pi])
                    pi += 1
            elif pi < len(probation):
                out.append(probation[pi])
                pi += 1
            elif ri < len(protected):
                out.append(protected[ri])
                ri += 1
            else:
                out.append(window[wi])
                wi += 1
        return out

    def clear(self) -> None:
        """Forget every key and everything learned."""
        for seg in self._segs:
            seg.clear()
        self._where.clear()
        self._hashes.clear()
        self._setup(self.capacity)

    def frequency(self, key: Hashable) -> int:
        """Return the sketch's estimate (0..15) of the recent request count of ``key``."""
        return self._sketch.frequency(key_hash(key))

    def segment_sizes(self) -> Dict[str, int]:
        """Return the current sizes and maxima of the segments (for tests and metrics)."""
        window, probation, protected = self._segs
        return {"window": len(window), "probation": len(probation), "protected": len(protected),
                "window_max": self.window_max, "protected_max": self.protected_max}

    def check(self, resident: Set[Hashable]) -> None:
        """Assert the internal invariants against the caller's set of resident keys."""
        window, probation, protected = self._segs
        assert set(self._where) == set(resident), "policy keys differ from residents"
        assert set(self._hashes) == set(resident), "hash table differs from residents"
        assert len(window) + len(probation) + len(protected) == len(resident), "key in 2 segments"
        for seg, keys in enumerate(self._segs):
            for k in keys:
                assert self._where[k] == seg, f"{k!r} in wrong segment"
                assert self._hashes[k] == key_hash(k), f"stale hash for {k!r}"
        cap = max(self.capacity, 1)
        assert 1 <= self.window_max <= cap and 0 <= self.protected_max
        assert self.window_max + self.protected_max <= cap
        assert len(window) <= self.window_max, "window over its maximum"
        assert len(protected) <= self.protected_max, "protected over its maximum"
        sk = self._sketch
        assert max(sk.table) <= COUNTER_MAX and 0 <= sk.additions < sk.sample_size
        assert len(self._guard) <= self._guard_cap
        assert 0 <= self._g_n < self._guard_period and self._hits + self._misses < self._climb_period

    # -- internals --------------------------------------------------------------------------
    def _move(self, key: Hashable, seg: int) -> None:
        del self._segs[self._where[key]][key]
        self._segs[seg][key] = None
        self._where[key] = seg

    def _fix_protected(self) -> None:
        protected = self._segs[PROTECTED]
        while len(protected) > self.protected_max:
            self._move(next(iter(protected)), PROBATION)

    def _admit(self, cand: Hashable, vict: Hashable) -> bool:
        fc = self._sketch.frequency(self._hashes[cand])
        fv = self._sketch.frequency(self._hashes[vict])
        if fc > fv:
            return True
        # a frequent candidate sometimes wins a tie or loss, so an attacker who inflates the
        # victim's counters (hash flooding) cannot pin the main space forever; the coin is
        # the one of the insert the duel makes room for
        coin = mix64((self._rng + 0x9E3779B97F4A7C15) & M64)
        return fc >= JITTER_FREQ and (coin & 127) == 0

    def _observe(self, h: int, hit: bool) -> None:
        if hit:
            self._hits += 1
        else:
            self._misses += 1
        if self._hits + self._misses >= self._climb_period:
            self._climb()
        if (h >> 40) < self._guard_thr:
            self._guard_observe(h, hit)

    def _climb(self) -> None:
        n = self._hits + self._misses
        rate = (self._hits << 16) // n
        change = rate - self._prev_rate
        if change < 0:
            self._up = not self._up  # the last move hurt: go back
        amount = self._step >> 10
        if abs(change) >= RESTART_RATE:
            self._step = max(self.capacity, 1) << 6
        else:
            self._step = (self._step * 251) >> 8  # decay ~0.98
        self._prev_rate = rate
        self._hits = self._misses = 0
        if amount:
            if self._up:
                self._grow(amount)
            else:
                self._shrink(amount)

    def _guard_observe(self, h: int, hit: bool) -> None:
        guard = self._guard
        self._g_n += 1
        if hit:
            self._g_ours += 1
        if h in guard:
            guard.move_to_end(h)
            self._g_lru += 1
        else:
            guard[h] = None
            if len(guard) > self._guard_cap:
                guard.popitem(last=False)
        if self._g_n >= self._guard_period:
            lru_ahead = (self._g_lru - self._g_ours) * 200 > self._g_n  # LRU better by > 0.5%
            self._g_n = self._g_ours = self._g_lru = 0
            if lru_ahead:
                self._up = True
                self._grow(max(1, max(self.capacity, 1) >> 4))

    def _grow(self, q: int) -> None:
        q = min(q, self.protected_max)
        if q <= 0:
            return
        self.window_max += q
        self.protected_max -= q
        self._fix_protected()
        window, probation, protected = self._segs
        main_max = max(self.capacity, 1) - self.window_max
        # a weight-bounded index may hold more keys than the capacity (weight-0 keys): the
        # window never takes more than its maximum, the main space keeps the rest
        while len(probation) + len(protected) > main_max and len(window) < self.window_max:
            self._move(next(iter(probation if probation else protected)), WINDOW)

    def _shrink(self, q: int) -> None:
        q = min(q, self.window_max - 1)
        if q <= 0:
            return
        self.window_max -= q
        self.protected_max += q
        window = self._segs[WINDOW]
        while len(window) > self.window_max:
            self._move(next(iter(window)), PROBATION)
