"""The docstring examples of the Redis backend modules stay true (no server needed)."""
from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["fbacache.backends.redis.client", "fbacache.backends.redis.fallback",
           "fbacache.backends.redis.backend", "fbacache.backends.redis.invalidation"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
