"""The runnable examples in docstrings stay true."""
from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "fbacache.testing.support",
    "fbacache.caches",
    "fbacache._timed",
    "fbacache._callkeys",
    "fbacache.memo",
    "fbacache.memo_method",
    "fbacache._core._index_py",
    "fbacache.manager",
    "fbacache.backends.filesystem",
    "fbacache.backends.forksafe",
    "fbacache.decorators",
    "fbacache.tags",
    "fbacache.swr",
    "fbacache.log",
    "fbacache.warming",
    "fbacache.static",
    "fbacache.monitor",
    "fbacache.prometheus",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"
    assert result.attempted > 0, f"{name} has no examples"
