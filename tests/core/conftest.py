"""Fixtures running core tests against the compiled index and its twin (``clock``: tests/conftest.py)."""
from __future__ import annotations

import pytest

from fbacache import _core
from fbacache._core import _index_py

IMPLS = {"py": _index_py.Index}
if _core.NATIVE:
    from fbacache._core import _index_c

    IMPLS["c"] = _index_c.Index


@pytest.fixture(params=["c", "py"])
def Index(request: pytest.FixtureRequest):
    """Each core implementation in turn (the compiled one skips when not built)."""
    if request.param not in IMPLS:
        pytest.skip("compiled core not built (FBACACHE_NO_EXTENSIONS or no compiler)")
    return IMPLS[request.param]
