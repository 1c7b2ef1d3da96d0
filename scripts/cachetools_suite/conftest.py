"""Swap cachetools' public names for fbacache's before cachetools' own tests import them.

Copied next to cachetools' ``tests/`` package by ``scripts/cachetools-suite.sh``; pytest
loads it before any test module, so ``from cachetools import LRUCache`` in those modules
binds ``fbacache.LRUCache``.  ``cachetools.Cache`` (the base class) stays cachetools' own:
the decorator tests use it as "some other mutable mapping", which fbacache must accept.
"""
import os
import sys

import cachetools
import cachetools.keys

import fbacache
import fbacache.keys

_CLASSES = ("LRUCache", "LFUCache", "FIFOCache", "RRCache", "TTLCache", "TLRUCache")
_FUNCTIONS = ("cached", "cachedmethod")

for _name in _CLASSES + _FUNCTIONS:
    setattr(cachetools, _name, getattr(fbacache, _name))
cachetools.keys = fbacache.keys
sys.modules["cachetools.keys"] = fbacache.keys


def pytest_report_header(config):
    """Say which implementation ran: the point of the run is to test ours, on both cores."""
    return (f"cachetools suite against fbacache (core: {fbacache.CORE_IMPLEMENTATION}, "
            f"FBACACHE_NO_EXTENSIONS={os.environ.get('FBACACHE_NO_EXTENSIONS', '')!r})")


def pytest_sessionstart(session):
    """Fail when the compiled core was expected and the twin loaded (both runs would test the twin)."""
    want_c = not os.environ.get("FBACACHE_NO_EXTENSIONS")
    if want_c and fbacache.CORE_IMPLEMENTATION != "c":
        raise RuntimeError("compiled core expected but fbacache loaded the twin")
    if not want_c and fbacache.CORE_IMPLEMENTATION != "py":
        raise RuntimeError("FBACACHE_NO_EXTENSIONS=1 but the compiled core loaded")
