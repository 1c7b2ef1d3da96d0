"""The caches whose items expire: ``TTLCache`` and ``TLRUCache`` (re-exported by ``fbacache.caches``).

Their ``timer`` is cachetools' view of the clock: calling it reads the clock, and
``with cache.timer as now:`` freezes it, for this cache, until the outermost
``with`` ends, so that several operations see one time.  Other attributes of the
clock are reached through the view (``cache.timer.tick()`` on a test clock).

The core measures deadlines in float seconds.  A clock returning numbers is handed
to the core as it is (``time.monotonic`` keeps the core's C fast path); a clock
returning ``datetime`` objects (cachetools' documented ``timer=datetime.now`` with
``ttl=timedelta(...)``) is converted: a datetime is its offset in seconds from
2000-01-01 (UTC for aware ones), which keeps microseconds exact for centuries around
it.  Deadlines themselves (``now + ttl``, ``ttu(...)``) are computed on the
clock's own values, so ``datetime.max + ttl`` raises ``OverflowError`` before the
cache changes, as in cachetools.
"""
from __future__ import annotations

import numbers
import time
import weakref
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Generic, Hashable, List, Optional, Tuple, TypeVar

from fbacache._cachebase import _Cache, _variant
from fbacache._core import Index

_INDEX: Any = Index  # its clock property, used unbound on a cache
__all__ = ["TTLCache", "TLRUCache"]

_KT = TypeVar("_KT")
_VT = TypeVar("_VT")
_TT = TypeVar("_TT")  # the clock's type (float, datetime, ...), as in cachetools' stubs

_EPOCH = datetime(2000, 1, 1)
_EPOCH_UTC = datetime(2000, 1, 1, tzinfo=timezone.utc)


def _to_core(value: Any) -> float:
    """A clock value (or deadline) as the core's float seconds."""
    if type(value) is float or type(value) is int:
        return value
    if isinstance(value, datetime):
        return (value - (_EPOCH if value.tzinfo is None else _EPOCH_UTC)).total_seconds()
    return float(value)  # other real numbers; anything else is a TypeError, as the core's


class _ClockView:
    """A timed cache's ``timer``: reads the clock, or the frozen time inside ``with``.

    While frozen, the core reads the frozen time too (its clock is swapped, then
    restored by the outermost ``__exit__``), so every part of an operation agrees.
    """

    __slots__ = ("_timer", "_cache", "_depth", "_frozen", "_free")

    def __init__(self, cache: Any, timer: Callable[[], Any]) -> None:
        self._timer = timer
        self._cache = weakref.ref(cache)  # the cache holds the view: no cycle
        self._depth = 0
        self._frozen: Any = None
        # the core's clock: the user's own when it returns numbers (decided on first read)
        self._free: Callable[[], float] = timer if timer is time.monotonic else self._probe
        _INDEX.timer.__set__(cache, self._free)

    def _probe(self) -> float:
        value = self._timer()
        self._free = self._timer if isinstance(value, numbers.Real) else self._converted
        if not self._depth:
            self._set_core(self._free)
        return _to_core(value)

    def _converted(self) -> float:
        return _to_core(self._timer())

    def _set_core(self, clock: Callable[[], float]) -> None:
        cache = self._cache()
        if cache is not None:
            _INDEX.timer.__set__(cache, clock)

    def __call__(self) -> Any:
        return self._frozen if self._depth else self._timer()

    def __enter__(self) -> Any:
        if not self._depth:
            self._frozen = now = self._timer()
            frozen = _to_core(now)
            self._set_core(lambda: frozen)
        self._depth += 1
        return self._frozen

    def __exit__(self, *exc: Any) -> None:
        self._depth -= 1
        if not self._depth:
            self._frozen = None
            self._set_core(self._free)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._timer, name)

    def __repr__(self) -> str:
        return f"<timer view of {self._timer!r}>"


class _TimedCache(_Cache[_KT, _VT]):
    """Shared parts of the caches whose entries expire."""

    _clock: _ClockView

    def _setup(self) -> None:
        self._clock = _ClockView(self, _INDEX.timer.__get__(self))

    @property  # type: ignore[misc]
    def timer(self) -> Any:
        """The clock, as a view: ``timer()`` reads it, ``with timer as now:`` freezes it."""
        return self._clock

    def _ordered_items(self) -> List[Tuple[Hashable, Any]]:
        # as cachetools' TTLCache: first to expire first (set order for one ttl)
        return Index.items_by_expiry(self)

    def _ordered_keys(self) -> List[Hashable]:
        return [k for k, _ in Index.items_by_expiry(self)]

    def _expiry_order(self) -> Optional[List[Hashable]]:
        return self._ordered_keys()

    def __len__(self) -> int:
        Index.expire(self)
        return Index.__len__(self)

    @property
    def currsize(self) -> int:
        """The current size of the cache, after removing expired entries."""
        Index.expire(self)
        return Index.currsize.__get__(self)

    def expire(self, time: Any = None) -> list:
        """Remove expired items and return them as ``(key, value)`` pairs."""
        return Index.expire(self, None if time is None else _to_core(time))

    def popitem(self) -> Tuple[Any, Any]:
        """Remove and return the next victim among the live items; KeyError when none."""
        Index.expire(self)
        return Index.popitem(self)

    def __repr__(self) -> str:
        Index.expire(self)
        return super().__repr__()


class TTLCache(_TimedCache[_KT, _VT], Generic[_KT, _VT, _TT]):
    """LRU cache whose items expire ``ttl`` after they were set.

    ``ttl`` is in the clock's units (seconds for ``time.monotonic``; a ``timedelta``
    for ``timer=datetime.now``).

    >>> now = [0.0]
    >>> c = TTLCache(maxsize=10, ttl=5, timer=lambda: now[0])
    >>> c["a"] = 1; now[0] = 6
    >>> "a" in c
    False
    """

    _policy_name = "lru"

    def __init__(
        self,
        maxsize: float,
        ttl: Any,
        timer: Callable[[], Any] = time.monotonic,
        getsizeof: Optional[Callable[[Any], float]] = None,
    ) -> None:
        super().__init__(maxsize, getsizeof, timer=timer)
        self._ttl = ttl
        if isinstance(ttl, numbers.Real):
            self.item_ttl = float(ttl)  # the core stamps every item set through the mapping protocol
        elif not isinstance(self, _ClockTTL):
            # a timedelta: deadlines computed on the clock's values, in Python
            self.__class__ = _variant(type(self), _ClockTTL)

    @property
    def ttl(self) -> Any:
        """The time-to-live value of the cache's items."""
        return self._ttl


if TYPE_CHECKING:
    _ClockTTLBase = TTLCache
else:
    _ClockTTLBase = object


class _ClockTTL(_ClockTTLBase):
    """Mixin for a ``TTLCache`` whose ``ttl`` is not a number (a ``timedelta``)."""

    def __setitem__(self, key: Hashable, value: Any) -> None:
        now = self._clock()  # one reading for the deadline, the expiry test and the sweep
        expires = now + self._ttl  # OverflowError here: nothing has changed yet
        size = 1 if self._sizeof is None else self._sizeof(value)
        Index.set(self, key, value, size, _to_core(expires), _to_core(now))


class TLRUCache(_TimedCache[_KT, _VT], Generic[_KT, _VT, _TT]):
    """LRU cache with a per-item expiry computed by ``ttu(key, value, now)``.

    >>> now = [0.0]
    >>> c = TLRUCache(maxsize=10, ttu=lambda k, v, t: t + v, timer=lambda: now[0])
    >>> c["short"] = 1; c["long"] = 10; now[0] = 5
    >>> list(c)
    ['long']
    """

    _policy_name = "lru"

    def __init__(
        self,
        maxsize: float,
        ttu: Callable[[Any, Any, Any], Any],
        timer: Callable[[], Any] = time.monotonic,
        getsizeof: Optional[Callable[[Any], float]] = None,
    ) -> None:
        super().__init__(maxsize, getsizeof, timer=timer)
        self._ttu = ttu

    @property
    def ttu(self) -> Callable[[Any, Any, Any], Any]:
        """The function computing an item's expiry time."""
        return self._ttu

    def __setitem__(self, key: Hashable, value: Any) -> None:
        now = self._clock()  # one reading for ttu, the expiry test and the sweep
        expires = self._ttu(key, value, now)
        if not (now < expires):
            # an already expired item replaces nothing: it removes the old one
            Index.delete(self, key)
            return
        size = 1 if self._sizeof is None else self._sizeof(value)
        Index.set(self, key, value, size, _to_core(expires), _to_core(now))
