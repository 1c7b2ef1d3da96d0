"""The runnable examples in docstrings stay true."""
from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "fbacache.testing.clock",
    "fbacache.caches",
    "fbacache._core._index_py",
    "fbacache.manager",
    "fbacache._validate",
    "fbacache.config",
    "fbacache.codecs",
    "fbacache.metrics",
    "fbacache.locks",
    "fbacache.backends.filesystem",
    "fbacache.fba.safe",
    "fbacache.fba.backup",
    "fbacache.backends.redis.forksafe",
    "fbacache.decorators",
    "fbacache.tags",
    "fbacache.swr",
    "fbacache.log",
    "fbacache.extras.warming",
    "fbacache.extras.static",
    "fbacache.extras.monitor",
    "fbacache.extras.prometheus",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"
    assert result.attempted > 0, f"{name} has no examples"
