"""Optional third-party packages, imported when a feature first needs them.

``import fbacache`` and the default ``CacheManager()`` need nothing beyond the standard library
(and the compiled core). msgpack, zstandard, redis-py, filelock and prometheus-client come with
extras; asking for a feature whose package is missing raises
:class:`~fbacache.errors.MissingDependency` naming the extra that installs it.

>>> require("json", "none").dumps([1])
'[1]'
>>> require("surely_not_installed_pkg", "zstd")
Traceback (most recent call last):
...
fbacache.errors.MissingDependency: this feature needs the 'surely_not_installed_pkg' package: pip install 'fbacache[zstd]'
"""
from __future__ import annotations

import importlib
from types import ModuleType

from fbacache.errors import MissingDependency

__all__ = ["EXTRAS", "require"]

#: top-level package -> the extra that installs it
EXTRAS = {"msgpack": "msgpack", "zstandard": "zstd", "redis": "redis", "filelock": "fba",
          "prometheus_client": "prometheus"}


def require(module: str, extra: str) -> ModuleType:
    """Import ``module``; MissingDependency naming ``pip install 'fbacache[extra]'`` if absent."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if exc.name is not None and exc.name != module and not module.startswith(exc.name + "."):
            raise  # the package is there but broken: show the real error
        raise MissingDependency(f"this feature needs the {module!r} package: "
                                f"pip install 'fbacache[{extra}]'") from exc
