"""Docstring examples are collected from every module of the package (``--doctest-modules``,
pyproject's pytest config), so none can silently stop running.

These tests check the collection itself: the modules whose examples used to be listed by hand
still have examples, and pytest's doctest collection is switched on for the package.
"""
from __future__ import annotations

import doctest
import importlib

import pytest

# The modules of the former hand-written doctest lists (one for the package, one for the Redis
# backend modules): each keeps at least one example.
WITH_EXAMPLES = [
    "fbacache.testing.clock", "fbacache.caches", "fbacache._core._index_py", "fbacache.manager",
    "fbacache.backends.filesystem", "fbacache.backends.redis.forksafe", "fbacache.decorators",
    "fbacache.tags", "fbacache.swr", "fbacache.log", "fbacache.extras.warming",
    "fbacache.extras.static", "fbacache.extras.monitor", "fbacache.extras.prometheus",
    "fbacache.backends.redis.client", "fbacache.backends.redis.fallback",
    "fbacache.backends.redis.envelope", "fbacache.backends.redis.invalidation",
    "fbacache.backends.redis.replies", "fbacache.backends.redis.outage",
    "fbacache._validate", "fbacache.config", "fbacache.codecs", "fbacache.metrics", "fbacache.locks",
    "fbacache.fba.safe", "fbacache.fba.backup", "fbacache.urls", "fbacache._timed",
    "fbacache._callkeys", "fbacache.memo", "fbacache.memo_method",
]


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_module_has_examples(name: str) -> None:
    tests = doctest.DocTestFinder().find(importlib.import_module(name))
    assert sum(len(t.examples) for t in tests) > 0, f"{name} has no examples"


def test_doctest_collection_is_on(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.getini("doctest_optionflags") == ["ELLIPSIS"]
    assert "fbacache" in pytestconfig.getini("testpaths")
    assert "--doctest-modules" in pytestconfig.getini("addopts")
