"""The caches compared by ``bench_core.py`` and how each one is driven.

Every contender is a :class:`Peer`: a factory taking the capacity, plus the
Python statement that performs each benchmark operation on the key ``k``.
:func:`compile_loop` pastes that statement into one shared loop template, so
every library runs the same loop shape and only the cache access differs.
The statements use each library's fastest idiomatic access (``c[k]`` for a
hit, ``get(k)`` with ``get`` hoisted to a local for a lookup that may miss).
"""
from __future__ import annotations

import functools
import importlib
import textwrap
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

OPS = ("hit", "miss", "set", "gos")
OP_TITLES = {
    "hit": "get-hit",
    "miss": "get-miss",
    "set": "set with eviction",
    "gos": "Zipf(0.99) get-or-set",
}
TTL_SECONDS = 3600.0  # long enough that nothing expires while a benchmark runs

_GOS = "if get(k, MISS) is MISS:\n    c[k] = k\n    m += 1"


@dataclass(frozen=True)
class Peer:
    """One contender: how to build it and the statement for each operation.

    A statement of ``None`` means the operation is not meaningful for this
    peer (it is shown as ``n/a``).  ``misses`` (optional) computes the miss
    count of a get-or-set run from the cache itself when the statement cannot
    count them in ``m``.  ``settle`` (optional) is called after a bulk fill,
    before memory is measured, for caches that buffer writes.
    """

    name: str
    library: str
    policy: str
    module: str
    factory: Callable[[int], Any]
    bind: str = "get = c.get"
    hit: Optional[str] = "c[k]"
    miss: Optional[str] = "get(k)"
    set: Optional[str] = "c[k] = k"
    gos: Optional[str] = _GOS
    misses: Optional[Callable[[Any, int], int]] = None
    settle: Optional[Callable[[Any], None]] = None
    note: str = ""

    def statement(self, op: str) -> Optional[str]:
        """The loop body for ``op`` (one of :data:`OPS`), or None if not meaningful."""
        return getattr(self, op)

    def available(self) -> bool:
        """True if the peer's library can be imported."""
        try:
            importlib.import_module(self.module)
        except ImportError:
            return False
        return True


_LOOP = '''
def run(c, keys, MISS, clock):
    {bind}
    m = 0
    t0 = clock()
    for k in keys:
{body}
    t1 = clock()
    return t1 - t0, m
'''


def compile_loop(bind: str, body: str) -> Callable[..., Tuple[int, int]]:
    """Return ``run(c, keys, MISS, clock) -> (elapsed_ns, m)`` executing ``body`` per key.

    >>> run = compile_loop("get = c.get", "if get(k) is None:\\n    m += 1")
    >>> run({1: 1}, [1, 2, 3], object(), time.perf_counter_ns)[1]
    2
    """
    source = _LOOP.format(bind=bind, body=textwrap.indent(body, " " * 8))
    namespace: Dict[str, Any] = {}
    exec(compile(source, f"<loop {body.splitlines()[0]!r}>", "exec"), namespace)
    return namespace["run"]


def _identity(key: Any) -> Any:
    return key


def _fbacache(cls: str, **kw: Any) -> Callable[[int], Any]:
    def make(cap: int) -> Any:
        return getattr(importlib.import_module("fbacache"), cls)(cap, **kw)
    return make


def _cachebox(cls: str, *args: Any) -> Callable[[int], Any]:
    def make(cap: int) -> Any:
        return getattr(importlib.import_module("cachebox"), cls)(cap, *args)
    return make


def _cachetools(cls: str, **kw: Any) -> Callable[[int], Any]:
    def make(cap: int) -> Any:
        return getattr(importlib.import_module("cachetools"), cls)(cap, **kw)
    return make


def _lru_dict(cap: int) -> Any:
    return importlib.import_module("lru").LRU(cap)


def _lru_cache(cap: int) -> Any:
    return functools.lru_cache(maxsize=cap)(_identity)


def _theine(cap: int) -> Any:
    # nolock: single-threaded use, as every other contender here
    return importlib.import_module("theine").Cache(cap, nolock=True)


def _theine_settle(c: Any) -> None:
    drain = getattr(c, "_force_drain_write", None)  # pushes buffered writes into the policy
    if drain is not None:
        drain()


def _dict(cap: int) -> Any:
    return {}


BASELINE = Peer("dict", "builtins", "-", "builtins", _dict, note="no eviction: grows to every key")
EMPTY_LOOP = Peer(
    "(empty loop)", "builtins", "-", "builtins", _dict, bind="pass",
    hit="pass", miss="pass", set="pass", gos="pass", note="loop overhead included in every row",
)

PEERS: List[Peer] = [
    # LRU
    Peer("fbacache.LRUCache", "fbacache", "LRU", "fbacache", _fbacache("LRUCache")),
    Peer("cachebox.LRUCache", "cachebox", "LRU", "cachebox", _cachebox("LRUCache")),
    Peer("cachetools.LRUCache", "cachetools", "LRU", "cachetools", _cachetools("LRUCache")),
    Peer("lru.LRU (lru-dict)", "lru-dict", "LRU", "lru", _lru_dict),
    Peer(
        "functools.lru_cache", "functools", "LRU", "functools", _lru_cache,
        bind="pass", hit="c(k)", miss=None, set="c(k)", gos="c(k)",
        misses=lambda c, m: c.cache_info().misses,
        note="calls of a cached identity function (includes the call)",
    ),
    # LFU
    Peer("fbacache.LFUCache", "fbacache", "LFU", "fbacache", _fbacache("LFUCache")),
    Peer("cachebox.LFUCache", "cachebox", "LFU", "cachebox", _cachebox("LFUCache")),
    Peer("cachetools.LFUCache", "cachetools", "LFU", "cachetools", _cachetools("LFUCache")),
    # FIFO
    Peer("fbacache.FIFOCache", "fbacache", "FIFO", "fbacache", _fbacache("FIFOCache")),
    Peer("cachebox.FIFOCache", "cachebox", "FIFO", "cachebox", _cachebox("FIFOCache")),
    Peer("cachetools.FIFOCache", "cachetools", "FIFO", "cachetools", _cachetools("FIFOCache")),
    # random replacement
    Peer("fbacache.RRCache", "fbacache", "RR", "fbacache", _fbacache("RRCache")),
    Peer("cachebox.RRCache", "cachebox", "RR", "cachebox", _cachebox("RRCache")),
    Peer("cachetools.RRCache", "cachetools", "RR", "cachetools", _cachetools("RRCache")),
    # TTL (nothing expires during a run: this measures the bookkeeping)
    Peer("fbacache.TTLCache", "fbacache", "TTL", "fbacache", _fbacache("TTLCache", ttl=TTL_SECONDS)),
    Peer("cachebox.TTLCache", "cachebox", "TTL", "cachebox", _cachebox("TTLCache", TTL_SECONDS)),
    Peer("cachetools.TTLCache", "cachetools", "TTL", "cachetools",
         _cachetools("TTLCache", ttl=TTL_SECONDS)),
    # W-TinyLFU: fbacache's adaptive policy and theine (theine 2 has no other policy)
    Peer("fbacache.AdaptiveCache", "fbacache", "W-TinyLFU", "fbacache", _fbacache("AdaptiveCache")),
    Peer(
        "theine.Cache", "theine", "W-TinyLFU", "theine", _theine,
        bind="get = c.get; put = c.set", hit="get(k)", miss="get(k)", set="put(k, k)",
        gos="if not get(k)[1]:\n    put(k, k)\n    m += 1", settle=_theine_settle,
        note="get() returns (value, found); writes are buffered",
    ),
]

# fbacache policy -> the cachebox class it is held against
TARGET_POLICIES = ("LRU", "LFU", "FIFO", "RR", "TTL")


def peer_by_name(name: str) -> Peer:
    """Return the peer (or baseline) called ``name``; KeyError if unknown."""
    for peer in [BASELINE, EMPTY_LOOP, *PEERS]:
        if peer.name == name:
            return peer
    raise KeyError(name)


def now_ns() -> int:
    """The benchmark clock (``time.perf_counter_ns``)."""
    return time.perf_counter_ns()
