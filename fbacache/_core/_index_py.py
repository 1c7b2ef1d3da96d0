"""The pure-Python twin of the native index: the reference implementation.

``Index`` maps keys to entries ``(value, weight, deadline)`` and asks a policy
object (``_policies_py``) which key to evict.  The compiled twin
(``_index_c.pyx``) has the same names and must behave identically: a
hypothesis state machine drives both with the same operations.

Not thread-safe: the caller owns locking.  See docs/core-api.md (in the sdist) for the
complexity of every operation.
"""
from __future__ import annotations

import heapq
import time
from typing import Any, Callable, Dict, Hashable, Iterator, List, Optional, Tuple

from fbacache._util import MISSING as _MISSING
from fbacache._util import POLICIES

from ._policies_py import make_policy


class _Entry:
    """A resident entry; also its own key in ``Index._data`` and its policy token.

    Stored entries compare by identity with each other, so removing or
    re-linking one never runs user code: a user key's ``__eq__`` runs only when
    a ``_Probe`` looks a key up, at the start of an operation, before any change.
    """

    __slots__ = ("key", "hash", "value", "weight", "deadline", "stamp")
    probe = False

    def __init__(self, key: Any, hash_: int, value: Any, weight: int, stamp: int) -> None:
        self.key = key
        self.hash = hash_
        self.value = value
        self.weight = weight
        self.deadline: Optional[float] = None
        self.stamp = stamp

    def __hash__(self) -> int:
        return self.hash

    def __eq__(self, other: object) -> bool:
        if getattr(other, "probe", False):
            return self.key is other.key or bool(self.key == other.key)  # type: ignore[attr-defined]
        return self is other


class _Probe:
    """A lookup of a user key (the only place user ``__eq__`` code runs)."""

    __slots__ = ("key", "hash")
    probe = True

    def __init__(self, key: Any) -> None:
        self.key = key
        self.hash = hash(key)

    def __hash__(self) -> int:
        return self.hash


class Index:
    """A bounded key -> value index with a pluggable eviction policy and expiry.

    >>> idx = Index("lru", max_entries=2)
    >>> idx.set("a", 1); idx.set("b", 2); _ = idx.get("a"); idx.set("c", 3)
    >>> sorted(idx.keys())
    ['a', 'c']
    """

    def __init__(
        self,
        policy: str = "lru",
        max_entries: Optional[int] = None,
        max_weight: Optional[int] = None,
        timer: Callable[[], float] = time.monotonic,
        seed: Optional[int] = None,
        default_probability: float = 0.5,
    ) -> None:
        if policy not in POLICIES:
            raise ValueError(f"unknown eviction policy {policy!r}; expected one of {POLICIES}")
        if max_entries is not None and max_entries < 0:
            raise ValueError("max_entries must be non-negative")
        if max_weight is not None and max_weight < 0:
            raise ValueError("max_weight must be non-negative")
        self.policy = policy
        self.max_entries = max_entries
        self.max_weight = max_weight
        self._set_timer(timer)
        self.on_evict: Optional[Callable[[Any, Any], Any]] = None
        self._sizeof: Optional[Callable[[Any], int]] = None
        self.item_ttl: Optional[float] = None  # lifetime of items set by index[key] = value
        capacity = max_entries if max_entries is not None else (max_weight or 0)
        self._policy = make_policy(policy, seed, default_probability, capacity)
        self._data: Dict[Any, _Entry] = {}  # entry -> itself, found with a _Probe
        self._weight = 0
        self._expiring = 0  # entries with a deadline
        self._heap: List[Tuple[float, int, Any]] = []  # (deadline, stamp, key-box); lazy
        self._stamp = 0
        self.hits = self.misses = self.evictions = self.expirations = 0

    # -- clock ------------------------------------------------------------------
    @property
    def timer(self) -> Callable[[], float]:
        """The zero-argument clock deadlines are measured on (monotonic seconds)."""
        return self._timer

    @timer.setter
    def timer(self, value: Callable[[], float]) -> None:
        self._set_timer(value)

    def _set_timer(self, value: Callable[[], float]) -> None:
        if not callable(value):
            raise TypeError("timer must be callable")
        # stored apart from the property so that a subclass may present another
        # ``timer`` (the cachetools classes show a freezable view of this clock)
        self._timer = value

    # -- sizes ------------------------------------------------------------------
    @property
    def currsize(self) -> int:
        """Total weight of resident entries (the entry count when weights are 1)."""
        return self._weight

    @property
    def maxsize(self) -> Optional[int]:
        """The weight capacity if set, else the entry capacity (None: unbounded)."""
        return self.max_weight if self.max_weight is not None else self.max_entries

    def __len__(self) -> int:
        return len(self._data)

    def reset_stats(self) -> None:
        """Zero the hit, miss, eviction and expiration counters."""
        self.hits = self.misses = self.evictions = self.expirations = 0

    # -- lookups ----------------------------------------------------------------
    def _find(self, key: Hashable) -> Optional[_Entry]:
        return self._data.get(_Probe(key))

    def _live(self, key: Hashable) -> Optional[_Entry]:
        """Return the entry of ``key`` unless absent or expired (expired: removed)."""
        entry = self._data.get(_Probe(key))
        if entry is None:
            return None
        if entry.deadline is not None and not (self._timer() < entry.deadline):
            self._drop(entry)
            self.expirations += 1
            return None
        return entry

    def get(self, key: Hashable, default: Any = None) -> Any:
        """Return the value of ``key`` (recording a hit) or ``default``."""
        probe = _Probe(key)
        entry = self._data.get(probe)
        if entry is not None and entry.deadline is not None and not (self._timer() < entry.deadline):
            self._drop(entry)
            self.expirations += 1
            entry = None
        if entry is None:
            self.misses += 1
            self._policy.miss(probe)
            return default
        self.hits += 1
        self._policy.access(entry)
        return entry.value

    def peek(self, key: Hashable, default: Any = None) -> Any:
        """Return the value of ``key`` without touching the policy or counters."""
        entry = self._live(key)
        return default if entry is None else entry.value

    def contains(self, key: Hashable) -> bool:
        """True if ``key`` is resident and not expired."""
        return self._live(key) is not None

    __contains__ = contains

    def expiry(self, key: Hashable) -> Optional[float]:
        """Return the deadline of a resident key (None: never); KeyError if absent."""
        entry = self._live(key)
        if entry is None:
            raise KeyError(key)
        return entry.deadline

    def weight(self, key: Hashable) -> int:
        """Return the stored weight of a resident key; KeyError if absent."""
        entry = self._live(key)
        if entry is None:
            raise KeyError(key)
        return entry.weight

    # -- mutation ---------------------------------------------------------------
    def set(self, key: Hashable, value: Any, weight: int = 1, expires_at: Optional[float] = None,
            now: Optional[float] = None) -> None:
        """Insert or replace ``key``; evict victims until it fits.

        ``now``: the caller's clock reading for this operation (None: the index
        reads ``timer`` once, if it needs the time), so one operation sees one time.
        Raises ValueError (and changes nothing) if the item can never fit.
        """
        self._set(key, value, weight, expires_at, None if now is None else float(now))

    def _set(self, key: Hashable, value: Any, weight: int, expires_at: Optional[float],
             now: Optional[float]) -> None:
        """The one insert/replace path; ``now`` is this operation's clock reading
        (None: read it on first need, at most once)."""
        weight = int(weight)
        if weight < 0:
            raise ValueError("weight must be non-negative")
        if (self.max_entries is not None and self.max_entries < 1) or (
            self.max_weight is not None and weight > self.max_weight
        ):
            raise ValueError("value too large")
        deadline = None if expires_at is None else float(expires_at)
        if deadline is not None and deadline != deadline:
            raise ValueError("expires_at must not be NaN")
        probe = _Probe(key)  # an unhashable or raising key fails here, before any change
        entry = self._data.get(probe)
        if entry is not None and entry.deadline is not None:
            if now is None:
                now = self._timer()
            if not (now < entry.deadline):
                self._drop(entry)
                self.expirations += 1
                entry = None
        # entries leaving are held until the index is consistent again: their
        # finalisers (and on_evict) may run arbitrary code, even code using this index
        victims: List[_Entry] = []
        swept: List[_Entry] = []
        if entry is not None:
            if self.max_weight is not None and self._weight - entry.weight + weight > self.max_weight:
                if self._make_room(weight - entry.weight, 0, entry, victims, swept, now):
                    entry = None
        else:
            self._make_room(weight, 1, None, victims, swept, now)
        if entry is None:
            self._stamp += 1
            entry = _Entry(key, probe.hash, value, weight, self._stamp)
            self._data[entry] = entry
            self._weight += weight
            self._policy.insert(entry)
        else:
            entry.value = value
            self._weight += weight - entry.weight
            entry.weight = weight
            if self.policy == "fifo":
                # re-setting a key counts as a new insertion (cachetools 8): to the back
                self._policy.remove(entry)
                self._policy.insert(entry)
            else:
                self._policy.access(entry)
        self._set_deadline(entry, deadline)
        if victims and self.on_evict is not None:
            for victim in victims:
                self.on_evict(victim.key, victim.value)

    def _overflow(self, extra_weight: int, extra_entries: int) -> bool:
        if self.max_entries is not None and len(self._data) + extra_entries > self.max_entries:
            return True
        return self.max_weight is not None and self._weight + extra_weight > self.max_weight

    def _make_room(
        self,
        extra_weight: int,
        extra_entries: int,
        keep: Optional[_Entry],
        victims: List[_Entry],
        swept: List[_Entry],
        now: Optional[float] = None,
    ) -> bool:
        """Evict until an item fits into ``victims`` (expired ones into ``swept``).

        Returns True if ``keep``, the entry being replaced, was itself evicted.
        """
        lost = False
        if not self._overflow(extra_weight, extra_entries):
            return lost
        if self._expiring:
            swept.extend(self._expire_entries(self._timer() if now is None else now))
        while self._data and self._overflow(extra_weight, extra_entries):
            entry: _Entry = self._policy.victim()
            self._drop(entry)
            self.evictions += 1
            victims.append(entry)
            if entry is keep and extra_entries == 0:
                # the key being replaced was itself the victim: insert it anew
                extra_weight, extra_entries = extra_weight + entry.weight, 1
                lost = True
        return lost

    def _set_deadline(self, entry: _Entry, deadline: Optional[float]) -> None:
        if (entry.deadline is None) != (deadline is None):
            self._expiring += 1 if deadline is not None else -1
        entry.deadline = deadline
        self._stamp += 1
        entry.stamp = self._stamp
        if deadline is not None:
            heapq.heappush(self._heap, (deadline, entry.stamp, _KeyBox(entry)))
            if len(self._heap) > 2 * self._expiring + 64:
                self._compact_heap()

    def _compact_heap(self) -> None:
        self._heap = [(e.deadline, e.stamp, _KeyBox(e)) for e in self._data if e.deadline is not None]
        heapq.heapify(self._heap)

    def set_expiry(self, key: Hashable, expires_at: Optional[float]) -> bool:
        """Set (or clear with None) the deadline of a resident key; False if absent."""
        deadline = None if expires_at is None else float(expires_at)
        if deadline is not None and deadline != deadline:
            raise ValueError("expires_at must not be NaN")
        entry = self._live(key)
        if entry is None:
            return False
        self._set_deadline(entry, deadline)
        return True

    def _drop(self, entry: _Entry) -> None:
        del self._data[entry]
        self._weight -= entry.weight
        if entry.deadline is not None:
            self._expiring -= 1
        self._policy.remove(entry)

    def delete(self, key: Hashable) -> bool:
        """Remove ``key``; return whether it was resident (and not expired)."""
        entry = self._data.get(_Probe(key))
        if entry is None:
            return False
        live = entry.deadline is None or self._timer() < entry.deadline
        self._drop(entry)
        if not live:
            self.expirations += 1
        return live

    def pop(self, key: Hashable, default: Any = _MISSING) -> Any:
        """Remove ``key`` and return its value, or ``default``; KeyError without one."""
        entry = self._live(key)
        if entry is None:
            if default is _MISSING:
                raise KeyError(key)
            return default
        self._drop(entry)
        return entry.value

    def clear(self) -> None:
        """Remove every entry (counters are kept)."""
        self._data.clear()
        self._policy.clear()
        self._heap.clear()
        self._weight = 0
        self._expiring = 0

    def popitem(self) -> Tuple[Hashable, Any]:
        """Remove and return the next victim ``(key, value)``; KeyError when empty."""
        if not self._data:
            # as cachetools: the message names the class, no chained context
            raise KeyError(f"{type(self).__name__} is empty") from None
        entry = self._policy.victim()
        self._drop(entry)
        return entry.key, entry.value

    def evict(self, count: int = 1) -> List[Tuple[Hashable, Any]]:
        """Remove up to ``count`` victims and return them, counted as evictions."""
        out: List[Tuple[Hashable, Any]] = []
        while self._data and len(out) < count:
            key, value = self.popitem()
            self.evictions += 1
            out.append((key, value))
        return out

    def victims_for(self, weight: int = 1) -> List[Hashable]:
        """Keys that inserting a new key of ``weight`` would evict (expiry ignored)."""
        entries, total = len(self._data), self._weight
        # the policy's tokens are the index's entries
        candidates: List[_Entry]
        if self.policy == "random":
            candidates = self._policy.predict(entries)
        else:
            candidates = self._policy.order()
        out: List[Hashable] = []
        for entry in candidates:
            if not (
                (self.max_entries is not None and entries + 1 > self.max_entries)
                or (self.max_weight is not None and total + weight > self.max_weight)
            ):
                break
            out.append(entry.key)
            entries -= 1
            total -= entry.weight
        return out

    def expire(self, now: Optional[float] = None) -> List[Tuple[Hashable, Any]]:
        """Remove every entry whose deadline is <= ``now``; return them."""
        if now is None:
            now = self._timer()
        return [(e.key, e.value) for e in self._expire_entries(now)]

    def _expire_entries(self, now: float) -> List[_Entry]:
        out = []
        heap = self._heap
        while heap and not (now < heap[0][0]):
            deadline, stamp, box = heapq.heappop(heap)
            entry = box.key
            if entry not in self._data or entry.stamp != stamp or entry.deadline != deadline:
                continue  # stale heap item
            self._drop(entry)
            self.expirations += 1
            out.append(entry)
        return out

    def set_probability(self, key: Hashable, probability: float) -> bool:
        """Assign the access probability of a resident key (PROBABILITY policy)."""
        if self.policy != "probability":
            raise TypeError("set_probability() needs the 'probability' policy")
        p = float(probability)
        entry = self._live(key)
        if entry is None:
            return False
        self._policy.set_probability(entry, p)
        return True

    def probability(self, key: Hashable) -> float:
        """Return the access probability a resident key ranks by (PROBABILITY policy).

        Raises ``TypeError`` for another policy and ``KeyError`` if ``key`` is absent.
        """
        if self.policy != "probability":
            raise TypeError("probability() needs the 'probability' policy")
        entry = self._live(key)
        if entry is None:
            raise KeyError(key)
        return self._policy.probability(entry)

    def set_probabilities(self, mapping: Any) -> int:
        """Assign many probabilities; return how many keys were resident."""
        items = mapping.items() if hasattr(mapping, "items") else mapping
        return sum(1 for k, p in items if self.set_probability(k, p))

    # -- iteration --------------------------------------------------------------
    def _live_entries(self) -> List[_Entry]:
        now = self._timer() if self._expiring else 0.0
        return [e for e in self._policy.order() if e.deadline is None or now < e.deadline]

    def items_by_expiry(self) -> List[Tuple[Hashable, Any]]:
        """Non-expired ``(key, value)`` pairs, first to expire first.

        Ties go in the order their deadlines were set; entries without a deadline
        come last, next victim first.  O(n log n) (O(n) on the compiled core while
        deadlines were set in ascending order).
        """
        live = self._live_entries()
        timed = sorted((e for e in live if e.deadline is not None),
                       key=lambda e: (e.deadline, e.stamp))
        return [(e.key, e.value) for e in timed] + [(e.key, e.value) for e in live if e.deadline is None]

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self.keys())

    def keys(self) -> List[Hashable]:
        """Non-expired keys, next victim first."""
        return [e.key for e in self._live_entries()]

    def items(self) -> List[Tuple[Hashable, Any]]:
        """Non-expired ``(key, value)`` pairs, next victim first."""
        return [(e.key, e.value) for e in self._live_entries()]

    # -- mapping protocol (used by the cachetools-compatible classes) -----------
    def __getitem__(self, key: Hashable) -> Any:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            return self.__missing__(key)
        return value

    def __missing__(self, key: Hashable) -> Any:
        raise KeyError(key)

    def __setitem__(self, key: Hashable, value: Any) -> None:
        weight = 1 if self._sizeof is None else self._sizeof(value)
        if self.item_ttl is None:
            self._set(key, value, weight, None, None)
        else:
            now = self._timer()  # one reading: the deadline and the expiry sweep agree
            self._set(key, value, weight, now + self.item_ttl, now)

    def __delitem__(self, key: Hashable) -> None:
        if not self.delete(key):
            raise KeyError(key)

    # -- invariants ----------------------------------------------------------------
    def _check(self) -> None:
        """Verify internal consistency; raise AssertionError on corruption."""
        keys = set(self._data)
        assert all(k is e for k, e in self._data.items()), "entry stored under another entry"
        self._policy.check(keys)
        assert self._weight == sum(e.weight for e in self._data.values()), "weight drift"
        assert self._expiring == sum(1 for e in self._data.values() if e.deadline is not None)
        if self.max_entries is not None:
            assert len(self._data) <= self.max_entries, "over entry capacity"
        if self.max_weight is not None:
            assert self._weight <= self.max_weight, "over weight capacity"
        live = {(e.deadline, e.stamp) for e in self._data.values() if e.deadline is not None}
        assert live <= {(d, s) for d, s, _ in self._heap}, "expiry heap lost an entry"


class _KeyBox:
    """Heap payload: keys are never compared (deadline and stamp decide)."""

    __slots__ = ("key",)

    def __init__(self, key: Any) -> None:
        self.key = key

    def __lt__(self, other: "_KeyBox") -> bool:
        return False
