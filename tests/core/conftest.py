"""Core tests take ``Index``: each implementation in turn, from the session fixture ``core``
(tests/conftest.py), which also gives ``clock``."""
from __future__ import annotations

import pytest


@pytest.fixture
def Index(core):
    """The core implementation's Index class (compiled "c", then the twin "py")."""
    return core.Index
