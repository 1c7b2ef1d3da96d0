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
* The window's size is chosen by *miniature simulations* (SHARDS, Waldspurger et al., ATC'17):
  five small copies of this policy with fixed windows (1 entry, 25%, 50%, 75%, 100% = LRU)
  replay the same hash-sampled substream at a scaled capacity, sharing the real sketch.  When
  one of them beats the copy the cache currently follows by a statistically clear margin on
  the same requests, the cache's window takes that copy's size.  Growing is lazy (victims come
  from the main space, and a key hit there joins the window, until the window is full), so a
  switch loses no key that is in use; a 100% window is exactly LRU.

Every decision is integer arithmetic on 64-bit values (``& M64``) derived from ``hash(key)``,
so the compiled port (uint64 arithmetic) makes bit-for-bit the same decisions.  See
docs/adaptive.md in the sdist for the rationale and the measured hit ratios.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Dict, Hashable, List, Optional, Set

M64 = 0xFFFFFFFFFFFFFFFF
WINDOW, PROBATION, PROTECTED = 0, 1, 2

COUNTERS_PER_ENTRY = 16   # sketch width: counters = ceil_pow2(max(capacity, 16) * 16)
SAMPLE_PER_ENTRY = 10     # sketch halves after 10 * capacity increments
COUNTER_MAX = 15          # 4-bit counters
JITTER_FREQ = 6           # a candidate this frequent is admitted with probability 1/128
SIM_SIZE = 1024           # capacity of each miniature simulation (sampled fingerprints)
SIM_WINDOWS = (0, 16, 32, 48, 64)  # their windows in 64ths of capacity (at least 1 entry)
SIM_CHECK = 64            # the referee looks at the scores every 64 sampled lookups
SIM_Z2 = 16               # switch when lead**2 > 16 * disagreements (4 standard deviations)
SIM_MARGIN = 200          # ... and the lead is over 0.5% of the sampled lookups
SIM_HALF = 16             # scores halve every 16 * max(sim capacity, 64) sampled lookups
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


class MiniSim:
    """A miniature copy of the policy with a fixed window, over fingerprints (no jitter).

    ``capacity`` fingerprints at most; ``window_max`` of them in the window, the protected
    segment takes 4/5 of the rest.  It shares the real cache's sketch (passed to
    :meth:`request`): sampling keys by hash keeps each sampled key's full request history,
    so its frequency is the same in the substream as in the stream.

    >>> sim = MiniSim(2, 2)  # a 100% window: an LRU of 2
    >>> [sim.request(h, lambda h: 0) for h in (1, 2, 1, 3, 2)]
    [False, False, True, False, False]
    """

    def __init__(self, capacity: int, window_max: int) -> None:
        self.capacity = capacity
        self.window_max = window_max
        self.protected_max = (capacity - window_max) * 4 // 5
        self.segs: tuple = (OrderedDict(), OrderedDict(), OrderedDict())

    def request(self, h: int, frequency: Callable[[int], int]) -> bool:
        """Replay a lookup of fingerprint ``h`` (get, and on a miss insert); return whether it hit."""
        window, probation, protected = self.segs
        if h in window:
            window.move_to_end(h)
            return True
        if h in protected:
            protected.move_to_end(h)
            return True
        if h in probation:
            del probation[h]
            protected[h] = None
            if len(protected) > self.protected_max:
                probation[protected.popitem(last=False)[0]] = None
            return True
        if len(window) + len(probation) + len(protected) >= self.capacity:
            if window and len(window) >= self.window_max:
                c = next(iter(window))
                if probation:
                    v = next(iter(probation))
                    if frequency(c) > frequency(v):
                        del probation[v]
                    else:
                        del window[c]
                else:
                    del window[c]
            elif probation:
                probation.popitem(last=False)
            elif protected:
                protected.popitem(last=False)
            else:
                window.popitem(last=False)
        window[h] = None
        if len(window) > self.window_max:
            probation[window.popitem(last=False)[0]] = None
        return False

    def check(self) -> None:
        """Assert the segment bounds."""
        window, probation, protected = self.segs
        assert len(window) + len(probation) + len(protected) <= self.capacity, "sim over capacity"
        assert len(window) <= self.window_max and len(protected) <= self.protected_max
        assert not (set(window) & set(probation) or set(window) & set(protected)
                    or set(probation) & set(protected)), "sim: fingerprint in 2 segments"


class AdaptivePolicy:
    """Adaptive W-TinyLFU eviction policy (the ``adaptive`` policy of the core).

    The window is sized by miniature simulations of the policy at five window sizes (see
    the module docstring); ``window_max`` ranges over 1..capacity (capacity: plain LRU).

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
        self.window_max = max(1, cap * SIM_WINDOWS[0] // 64)
        self.protected_max = (cap - self.window_max) * 4 // 5
        self._sketch = FrequencySketch(cap)
        self._rng = self._seed
        self._last_miss = -1  # mixed hash of the last miss(), consumed by insert()
        # miniature simulations on the substream of fingerprints with (h >> 40) < sim_thr
        sim_cap = min(cap, SIM_SIZE)
        self._sim_thr = 1 << 24 if cap <= SIM_SIZE else (SIM_SIZE << 24) // cap
        self._sims = [MiniSim(sim_cap, max(1, sim_cap * w // 64)) for w in SIM_WINDOWS]
        self._cur = 0                      # the simulation whose window the cache follows
        self._lead = [0] * len(SIM_WINDOWS)  # its hits minus the current one's, since the switch
        self._disagree = [0] * len(SIM_WINDOWS)  # sampled lookups where they differed
        self._sim_n = 0                    # sampled lookups since the switch (halved with them)
        self._half_period = SIM_HALF * max(sim_cap, SIM_CHECK)

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
        window, probation, protected = self._segs
        if (seg != WINDOW and len(window) < self.window_max
                and len(probation) + len(protected) > max(self.capacity, 1) - self.window_max):
            # the window grew and the main space is over its share until evictions shrink
            # it: a key in use moves to the window instead of being evicted with the rest
            self._move(key, WINDOW)
        elif seg == PROBATION:
            self._move(key, PROTECTED)
            self._fix_protected()
        else:
            self._segs[seg].move_to_end(key)
        self._observe(h)

    def miss(self, key: Hashable) -> None:
        """Record a lookup of the absent ``key``."""
        h = key_hash(key)
        self._sketch.increment(h)
        self._last_miss = h
        self._observe(h)

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
        assert self.protected_max == (cap - self.window_max) * 4 // 5, "protected share"
        assert 0 <= self._sim_n < self._half_period and 0 <= self._cur < len(self._sims)
        for i, sim in enumerate(self._sims):
            sim.check()
            assert abs(self._lead[i]) <= self._disagree[i] <= self._sim_n, "sim scores"

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

    def _observe(self, h: int) -> None:
        """Replay a sampled lookup in every simulation; follow a clearly better one."""
        if (h >> 40) >= self._sim_thr:
            return
        frequency = self._sketch.frequency
        hits = [sim.request(h, frequency) for sim in self._sims]
        ours = hits[self._cur]
        lead, disagree = self._lead, self._disagree
        for i, hit in enumerate(hits):
            if hit != ours:
                disagree[i] += 1
                lead[i] += 1 if hit else -1
        self._sim_n += 1
        if self._sim_n % SIM_CHECK == 0:
            best = -1
            for i, d in enumerate(lead):
                # a lead that is significant (d**2 > Z2 * disagreements: a sign test) and
                # worth a switch (over 1/SIM_MARGIN of the lookups); the largest one wins
                if (d > 0 and d * d > SIM_Z2 * disagree[i] and d * SIM_MARGIN > self._sim_n
                        and (best < 0 or d > lead[best])):
                    best = i
            if best >= 0:
                self._cur = best
                for i in range(len(lead)):
                    lead[i] = disagree[i] = 0
                self._sim_n = 0
                self._set_window(max(1, max(self.capacity, 1) * SIM_WINDOWS[best] // 64))
                return
        if self._sim_n >= self._half_period:
            for i, d in enumerate(lead):  # forget old evidence (halved towards 0): phases change
                lead[i] = d >> 1 if d >= 0 else -((-d) >> 1)
                disagree[i] >>= 1
            self._sim_n >>= 1

    def _set_window(self, window_max: int) -> None:
        """Resize the window; growth is lazy, shrinking moves the window's LRU keys to probation."""
        cap = max(self.capacity, 1)
        self.window_max = window_max
        self.protected_max = (cap - window_max) * 4 // 5
        window = self._segs[WINDOW]
        while len(window) > window_max:
            self._move(next(iter(window)), PROBATION)
        self._fix_protected()
