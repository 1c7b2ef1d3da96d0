"""Backend registry: ``CacheManagerConfig.backend_type`` names a class registered here.

Built-in names resolve lazily (``"module:Class"``) so that importing fbacache
never imports redis-py; a backend whose module cannot be imported is reported
as a :class:`~fbacache.errors.ConfigError` on ``backend_type``.

>>> from fbacache.backends import get_backend_class
>>> get_backend_class("memory").__name__
'MemoryBackend'
"""
from __future__ import annotations

import importlib
import threading
from typing import Union

from fbacache.backends.base import Backend, BackendSettings
from fbacache._optional import EXTRAS
from fbacache.errors import ConfigError, MissingDependency

__all__ = ["Backend", "BackendSettings", "register_backend", "get_backend_class",
           "available_backends"]

_lock = threading.Lock()
_REGISTRY: dict[str, Union[str, type[Backend]]] = {
    "memory": "fbacache.backends.memory:MemoryBackend",
    "redis": "fbacache.backends.redis.backend:RedisBackend",
    "tiered": "fbacache.backends.tiered:TieredBackend",
    "filesystem": "fbacache.backends.filesystem:FilesystemBackend",
}
# a backend whose optional packages are missing: the extra that installs them all
_BACKEND_EXTRAS = {"redis": "redis", "tiered": "redis"}


def register_backend(name: str, backend: Union[str, type[Backend]], *,
                     replace: bool = False) -> None:
    """Register ``backend`` (a :class:`Backend` subclass or ``"module:Class"``) as ``name``.

    Raises ValueError if ``name`` is taken and ``replace`` is False.
    """
    if not isinstance(name, str) or not name:
        raise ValueError("backend name must be a non-empty str")
    with _lock:
        if name in _REGISTRY and not replace and _REGISTRY[name] != backend:
            raise ValueError(f"backend {name!r} is already registered")
        _REGISTRY[name] = backend


def available_backends() -> list[str]:
    """Registered backend names (some may fail to import, e.g. without redis-py)."""
    with _lock:
        return sorted(_REGISTRY)


def get_backend_class(name: str) -> type[Backend]:
    """The backend class registered as ``name``.

    Raises ConfigError("backend_type") if it is unknown or unusable, MissingDependency naming
    the extra to install when an optional package it needs (redis-py...) is missing.
    """
    with _lock:
        entry = _REGISTRY.get(name)
    if entry is None:
        raise ConfigError("backend_type", f"unknown backend {name!r}; registered: "
                          f"{available_backends()}")
    if isinstance(entry, str):
        module_name, _, attr = entry.partition(":")
        try:
            entry = getattr(importlib.import_module(module_name), attr)
        except ImportError as exc:
            missing = (exc.name or "").partition(".")[0]
            extra = _BACKEND_EXTRAS.get(name) if missing in EXTRAS else None
            if extra is not None:  # a missing optional dependency: say how to install it
                raise MissingDependency(
                    f"backend {name!r} needs the {exc.name!r} package: "
                    f"pip install 'fbacache[{extra}]'") from exc
            raise ConfigError("backend_type",
                              f"backend {name!r} is not available: {exc}") from exc
        except AttributeError as exc:
            raise ConfigError("backend_type",
                              f"backend {name!r} is not available: {exc}") from exc
        with _lock:
            _REGISTRY[name] = entry
    if not (isinstance(entry, type) and issubclass(entry, Backend)):
        raise ConfigError("backend_type", f"{entry!r} is not a Backend subclass")
    return entry
