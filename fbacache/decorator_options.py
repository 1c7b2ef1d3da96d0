"""The options of the manager form of ``@cached`` that shape keys and what is kept.

* ``key=f``: the key of a call is ``f(*args, **kwargs)`` (methods: without
  ``self``; instances are still kept apart), encoded like any argument.
* ``ignore=("session", 0)``: parameters left out of the key, by name or by
  position in the signature (methods: ``self`` excluded, so 0 is the first
  argument after it), as diskcache's ``memoize(ignore=)``.
* ``unless=pred``: a result for which ``pred(result)`` is true is returned but
  not stored (dogpile's ``should_cache_fn``, inverted), and no caller waiting for
  the same key gets it from the cache either: they receive it, uncached.
* ``max_entries=n``: at most ``n`` of this function's results are kept; the
  least recently used beyond that is deleted from the manager.  Counted per
  process (results stored by other processes sharing a backend are not seen).
"""
from __future__ import annotations

import inspect
import threading
from typing import Any, Callable, Collection, Optional, Union

from fbacache.errors import ConfigError
from fbacache.keys import argument_form, form_digest

__all__ = ["CallKeyer", "Uncached", "FunctionBound"]


class Uncached(Exception):
    """Carries a result ``unless`` refused out of ``get_or_set`` (nothing is stored)."""

    def __init__(self, value: Any) -> None:
        super().__init__("result not cached (unless)")
        self.value = value


class CallKeyer:
    """Digests of calls under ``key=`` and ``ignore=`` (see the module docstring)."""

    def __init__(self, signature: inspect.Signature, key: Optional[Callable[..., Any]],
                 ignore: Collection[Union[str, int]], method: bool) -> None:
        if key is not None and not callable(key):
            raise ConfigError("key", f"must be a callable taking the call's arguments, got {key!r}")
        if isinstance(ignore, (str, int)):
            ignore = (ignore,)
        self._key = key
        self._sig = signature
        self._ignore_spec = tuple(ignore)
        self._method = method
        self._ignored = self._names(method)

    def _names(self, method: bool) -> frozenset:
        params = list(self._sig.parameters)
        if method:
            params = params[1:]
        names = set()
        for item in self._ignore_spec:
            if isinstance(item, bool) or not isinstance(item, (str, int)):
                raise ConfigError("ignore", f"expected parameter names or positions, got {item!r}")
            if isinstance(item, int):
                if not 0 <= item < len(params):
                    raise ConfigError("ignore", f"position {item} is not a parameter of the function")
                names.add(params[item])
            elif item not in params:
                raise ConfigError("ignore", f"{item!r} is not a parameter of the function")
            else:
                names.add(item)
        return frozenset(names)

    def as_method(self) -> None:
        """The function turned out to be a method: positions count after ``self``."""
        self._method = True
        self._ignored = self._names(True)

    def digest(self, call_args: tuple, kwargs: dict) -> str:
        """The digest of a call (``call_args``: with the instance first for methods)."""
        args = call_args[1:] if self._method else call_args
        if self._key is not None:
            return form_digest(argument_form(self._key(*args, **kwargs)))
        bound = self._sig.bind(*call_args, **kwargs)
        bound.apply_defaults()
        names = list(bound.arguments)
        if self._method:
            names = names[1:]
        kept = [(n, bound.arguments[n]) for n in names if n not in self._ignored]
        return form_digest(argument_form(kept))


class FunctionBound:
    """The keys of one function's results, least recently used first; deletes beyond ``n``."""

    def __init__(self, limit: int) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigError("max_entries", f"must be a positive int, got {limit!r}")
        from fbacache.caches import LRUCache  # the caches import nothing of the decorators
        self._lock = threading.Lock()
        self._keys: Any = LRUCache(maxsize=limit)
        self._evicted: list = []
        self._keys.on_evict = lambda key, _: self._evicted.append(key)

    def touch(self, key: str) -> list:
        """Record a use of ``key``; return the keys pushed out (to delete)."""
        with self._lock:
            self._keys[key] = True
            out, self._evicted = self._evicted, []
        return out

    def clear(self) -> None:
        """Forget every key (after ``cache_clear``)."""
        with self._lock:
            self._keys.clear()
