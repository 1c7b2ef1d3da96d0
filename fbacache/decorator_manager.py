"""Which CacheManager ``@cached`` and ``@cache_invalidate`` use: the default manager.

``manager=None`` means :func:`default_manager`: the one set with
:func:`set_default_manager`, else an in-memory ``CacheManager()`` created on first
use. A manager may also be given directly, or as a zero-argument callable returning
one (resolved at each call, so the application can create it later).

>>> from fbacache import CacheManager
>>> mine = CacheManager()
>>> set_default_manager(mine); default_manager() is mine
True
>>> set_default_manager(None)
"""
from __future__ import annotations

import threading
from typing import Any

from fbacache.errors import ConfigError

__all__ = ["default_manager", "set_default_manager", "ManagerRef"]

ManagerRef = Any  # a CacheManager, a zero-argument callable returning one, or None
_default_lock = threading.Lock()
_default: Any = None
# The default manager when it is a CacheManager (else None): what the compiled hit path
# of @cached reads at each call (this module's namespace is fbacache._core.MemoCall's).
_default_fast: Any = None


def default_manager() -> Any:
    """The manager used when ``manager=None``: the one set with :func:`set_default_manager`,
    else an in-memory ``CacheManager()`` created on first use."""
    global _default, _default_fast
    with _default_lock:
        if _default is None:
            from fbacache.manager import CacheManager
            _default = _default_fast = CacheManager()
        return _default


def set_default_manager(manager: Any) -> None:
    """Make ``manager`` the default of ``@cached``/``@cache_invalidate`` (None: reset)."""
    global _default, _default_fast
    with _default_lock:
        _default = manager
        _default_fast = manager if _is_manager(manager) else None


def _is_manager(obj: Any) -> bool:
    # The compiled hit path reads obj.get and loads misses with obj._load_once.
    from fbacache.manager import CacheManager
    return isinstance(obj, CacheManager)


def _resolve(manager: ManagerRef) -> Any:
    if manager is None:
        current = _default  # read without the lock: set once, replaced only by a setter
        return current if current is not None else default_manager()
    if hasattr(manager, "get_or_set"):
        return manager
    if callable(manager):
        return manager()
    raise ConfigError("manager", f"expected a CacheManager or a callable returning one, "
                      f"got {manager!r}")
