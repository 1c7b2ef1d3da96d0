"""``@cached`` and ``@cache_invalidate``: function results in a :class:`CacheManager`.

Keys are ``<key_prefix>:<digest>`` (methods: ``<key_prefix>:<instance>:<digest>``)
where ``key_prefix`` defaults to ``module.qualname`` and ``digest`` is the first
128 bits of the SHA-256 of a canonical, type-tagged encoding of the call's
arguments *after binding them to the signature* (so ``f(1)``, ``f(a=1)`` and
``f(1, b=<default>)`` share a key, while ``f(1, 23)`` and ``f(12, 3)``, ``1`` and
``1.0`` or ``True``, ``[1]`` and ``(1,)`` do not). Lists, dicts and sets are
encoded canonically (dicts and sets order-independently). Enums, dataclasses,
classes and objects with their own ``__repr__`` or a ``__cache_key__()`` method
have stable forms; an object with only the default ``<X object at 0x...>``
repr raises :class:`TypeError` (its address could be reused by another object).
The keys are the same in every process.

Methods: ``self`` is not encoded. Each instance's results are kept apart by an
*instance part*: ``instance_key(self)`` when given (instances with equal keys
share results, across processes too), otherwise a process-unique token held
through a weak reference (no instance is ever kept alive by the cache; when one
is collected its entries are invalidated by the next call of the method).

Every call goes through ``get_or_set`` (one computation per key however many
threads miss it). The wrapper has ``cache_info()``, ``cache_clear()`` and
``invalidate(*args, **kwargs)``.

>>> from fbacache import CacheManager, cached
>>> cache = CacheManager()
>>> calls = []
>>> @cached(ttl=60, manager=cache)
... def price(asin, currency="GBP"):
...     calls.append(asin)
...     return {"asin": asin, "currency": currency}
>>> price("B01"), price("B01", currency="GBP"), len(calls)
({'asin': 'B01', 'currency': 'GBP'}, {'asin': 'B01', 'currency': 'GBP'}, 1)
>>> price.cache_info()
CacheInfo(hits=1, misses=1, maxsize=10000, currsize=1)
>>> price.invalidate("B01"); _ = price("B01"); len(calls)
True
2
"""
from __future__ import annotations

import collections
import dataclasses
import enum
import functools
import glob
import hashlib
import inspect
import itertools
import json
import secrets
import string
import threading
import weakref
from typing import Any, Callable, Iterable, NamedTuple, Optional, Union

from fbacache.errors import ConfigError
from fbacache.log import describe_key, get_logger
from fbacache.metrics import Counter

__all__ = ["cached", "cache_invalidate", "CacheInfo", "CachedFunction", "make_key",
           "default_manager", "set_default_manager"]

log = get_logger("decorators")

ManagerRef = Any  # a CacheManager, a zero-argument callable returning one, or None
_HEX = 32
_NONCE = secrets.token_hex(6)  # tokens unique across processes sharing a backend
_token_counter = itertools.count(1)
_default_lock = threading.Lock()
_default: Any = None
_NONE: Any = object()  # "not a method call"


class CacheInfo(NamedTuple):
    """Like ``functools._CacheInfo``: calls served without running the function
    (``hits``), calls that ran it (``misses``), the manager's ``max_entries``
    and the number of this function's keys in the cache."""

    hits: int
    misses: int
    maxsize: Optional[int]
    currsize: int


# --------------------------------------------------------------------------- managers
def default_manager() -> Any:
    """The manager used when ``manager=None``: the one set with :func:`set_default_manager`,
    else an in-memory ``CacheManager()`` created on first use."""
    global _default
    with _default_lock:
        if _default is None:
            from fbacache.manager import CacheManager
            _default = CacheManager()
        return _default


def set_default_manager(manager: Any) -> None:
    """Make ``manager`` the default of ``@cached``/``@cache_invalidate`` (None: reset)."""
    global _default
    with _default_lock:
        _default = manager


def _resolve(manager: ManagerRef) -> Any:
    if manager is None:
        return default_manager()
    if hasattr(manager, "get_or_set"):
        return manager
    if callable(manager):
        return manager()
    raise ConfigError("manager", f"expected a CacheManager or a callable returning one, "
                      f"got {manager!r}")


# --------------------------------------------------------------------------- keys
def _qualname(t: type) -> str:
    return f"{t.__module__}.{t.__qualname__}"


def _canon(obj: Any) -> Any:
    """JSON-able, type-tagged form of an argument (TypeError if it has none)."""
    if obj is None or isinstance(obj, bool) or type(obj) is str:
        return obj
    t = type(obj)
    if t is int:
        return {"i": str(obj)}
    if t is float:
        return {"f": repr(obj)}
    if t is bytes:
        return {"b": obj.hex()}
    if isinstance(obj, enum.Enum):
        return {"e": _qualname(t), "n": obj.name}
    hook = getattr(obj, "__cache_key__", None)
    if hook is not None and callable(hook) and not isinstance(obj, type):
        return {"k": _qualname(t), "v": _canon(hook())}
    if isinstance(obj, (list, tuple)):
        tag = {list: "l", tuple: "t"}.get(t)
        items = [_canon(x) for x in obj]
        return {tag: items} if tag else {"seq": _qualname(t), "v": items}
    if isinstance(obj, (set, frozenset)):
        return {"fs" if isinstance(obj, frozenset) else "s":
                sorted(json.dumps(_canon(x), sort_keys=True) for x in obj)}
    if isinstance(obj, collections.abc.Mapping):
        pairs = sorted((json.dumps(_canon(k), sort_keys=True), _canon(v))
                       for k, v in obj.items())
        return {"d": pairs} if t is dict else {"map": _qualname(t), "v": pairs}
    if isinstance(obj, type):
        return {"T": _qualname(obj)}
    if dataclasses.is_dataclass(obj):
        return {"dc": _qualname(t),
                "v": [[f.name, _canon(getattr(obj, f.name))] for f in dataclasses.fields(obj)]}
    if isinstance(obj, (str, int, float, bytes)):  # subclasses: value plus type
        return {"sub": _qualname(t), "v": _canon(t.__mro__[-2](obj))}
    if t.__repr__ is object.__repr__:
        raise TypeError(
            f"cannot build a cache key from a {_qualname(t)} argument: its repr holds a "
            "memory address; give the class __repr__ or __cache_key__(), or pass key=...")
    return {"o": _qualname(t), "r": repr(obj)}


_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def _digest(form: Any) -> str:
    return hashlib.sha256(_encode(form).encode("utf-8")).hexdigest()[:_HEX]


_EMPTY = inspect.Parameter.empty


def _simple_params(signature: inspect.Signature) -> Optional[tuple[tuple[str, ...], tuple]]:
    """(names, defaults) when every parameter is positional-or-keyword, else None."""
    params = list(signature.parameters.values())
    if any(p.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params):
        return None
    return tuple(p.name for p in params), tuple(p.default for p in params)


def _bind_fast(simple: tuple[tuple[str, ...], tuple], args: tuple,
               kwargs: dict) -> Optional[list[tuple[str, Any]]]:
    """What ``bind`` + ``apply_defaults`` give for a simple signature; None: use bind."""
    names, defaults = simple
    n = len(args)
    if n > len(names):
        return None
    items = list(zip(names, args))
    used = 0
    for name, default in zip(names[n:], defaults[n:]):
        if name in kwargs:
            items.append((name, kwargs[name]))
            used += 1
        elif default is _EMPTY:
            return None
        else:
            items.append((name, default))
    return items if used == len(kwargs) else None


def make_key(prefix: str, signature: inspect.Signature, args: tuple, kwargs: dict,
             skip_first: bool = False,
             simple: Optional[tuple[tuple[str, ...], tuple]] = None) -> str:
    """``<prefix>:<digest>`` of a call bound to ``signature`` (defaults applied).

    >>> import inspect
    >>> sig = inspect.signature(lambda a, b=2: None)
    >>> make_key("f", sig, (1,), {}) == make_key("f", sig, (), {"a": 1, "b": 2})
    True
    >>> make_key("f", sig, (1, 23), {}) != make_key("f", sig, (12, 3), {})
    True
    """
    items = _bind_fast(simple, args, kwargs) if simple is not None else None
    if items is None:  # general signatures, and errors reported by bind itself
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        items = list(bound.arguments.items())
    if skip_first:
        items = items[1:]
    if simple is not None:
        return f"{prefix}:{_digest([[name, _canon(value)] for name, value in items])}"
    form = []
    for name, value in items:
        kind = signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            form.append([name, {"l": [_canon(v) for v in value]}])
        else:
            form.append([name, _canon(value)])
    return f"{prefix}:{_digest(form)}"


def _default_prefix(func: Callable[..., Any]) -> str:
    prefix = f"{func.__module__}.{func.__qualname__}"
    if "<lambda>" in prefix:  # two lambdas of one module must not share keys
        prefix += f"@{func.__code__.co_firstlineno}"
    return prefix


# --------------------------------------------------------------------------- cached
class CachedFunction:
    """The wrapper ``@cached`` returns (a descriptor: methods bind per instance)."""

    def __init__(self, func: Callable[..., Any], *, ttl: Optional[float], key_prefix: Optional[str],
                 manager: ManagerRef, grace: Optional[float], background: bool,
                 tags: Union[Iterable[str], Callable[..., Iterable[str]], None],
                 instance_key: Optional[Callable[[Any], Any]]) -> None:
        if inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func):
            raise TypeError("@cached wraps synchronous functions only")
        if inspect.isgeneratorfunction(func):
            raise TypeError("@cached cannot cache a generator function (its result is "
                            "a one-shot iterator); return a list instead")
        if key_prefix is not None and (not isinstance(key_prefix, str) or not key_prefix):
            raise ConfigError("key_prefix", f"must be a non-empty str, got {key_prefix!r}")
        if instance_key is not None and not callable(instance_key):
            raise ConfigError("instance_key", "must be a callable taking the instance")
        functools.update_wrapper(self, func)
        self.__wrapped__ = func
        self._func = func
        self._sig = inspect.signature(func)
        self._simple = _simple_params(self._sig)
        self.ttl = ttl
        self.key_prefix = key_prefix or _default_prefix(func)
        self._manager_ref = manager
        self._grace = grace
        self._background = background
        self._tags = tags if callable(tags) else (tuple(tags) if tags else ())
        self._instance_key = instance_key
        self._is_method = False
        self._hits = Counter()
        self._misses = Counter()
        self._tokens: dict[int, tuple[weakref.ref, str]] = {}
        self._tokens_lock = threading.Lock()
        self._dead: collections.deque[str] = collections.deque()

    def __set_name__(self, owner: type, name: str) -> None:
        # Defined in a class body: the first argument is the instance.
        self._is_method = True

    def __get__(self, instance: Any, owner: Optional[type] = None) -> Any:
        if instance is None:
            return self
        return BoundCachedMethod(self, instance)

    def __repr__(self) -> str:
        return f"<cached {self.key_prefix}>"

    @property
    def manager(self) -> Any:
        """The CacheManager this function caches into."""
        return _resolve(self._manager_ref)

    # ------------------------------------------------------------------ instances
    def _token(self, instance: Any) -> str:
        oid = id(instance)
        with self._tokens_lock:
            entry = self._tokens.get(oid)
            if entry is not None and entry[0]() is instance:
                return entry[1]
            token = f"{_NONCE}{next(_token_counter)}"
            dead = self._dead
            tokens = self._tokens

            def gone(ref: weakref.ref, oid: int = oid, token: str = token) -> None:
                # May run inside any allocation, even with a lock of ours held:
                # take no lock, only atomic dict/deque operations.
                current = tokens.get(oid)
                if current is not None and current[0] is ref:
                    tokens.pop(oid, None)
                dead.append(token)
            try:
                ref = weakref.ref(instance, gone)
            except TypeError:
                raise TypeError(
                    f"{_qualname(type(instance))} instances cannot be weakly referenced; pass "
                    "instance_key=lambda self: ... to @cached") from None
            self._tokens[oid] = (ref, token)
            return token

    def _instance_part(self, instance: Any) -> tuple[str, Optional[str]]:
        """(instance part of the key, tag for cleanup or None)."""
        if self._instance_key is not None:
            return _digest(_canon(self._instance_key(instance))), None
        token = self._token(instance)
        return token, f"{self.key_prefix}#instance:{token}"

    def _reap(self, manager: Any) -> None:
        tags = []
        while self._dead:
            try:
                tags.append(f"{self.key_prefix}#instance:{self._dead.popleft()}")
            except IndexError:  # drained by another thread
                break
        if tags:
            n = manager.invalidate_tags(*tags)
            log.debug("%s: dropped %d entries of %d collected instances",
                      self.key_prefix, n, len(tags))

    # ------------------------------------------------------------------ calls
    def _key(self, instance: Any, args: tuple, kwargs: dict) -> tuple[str, Optional[str]]:
        if instance is _NONE:
            return make_key(self.key_prefix, self._sig, args, kwargs, simple=self._simple), None
        part, tag = self._instance_part(instance)
        key = make_key(f"{self.key_prefix}:{part}", self._sig, (instance, *args), kwargs,
                       skip_first=True, simple=self._simple)
        return key, tag

    def _call(self, instance: Any, args: tuple, kwargs: dict) -> Any:
        manager = self.manager
        if self._dead:
            self._reap(manager)
        key, instance_tag = self._key(instance, args, kwargs)
        call_args = args if instance is _NONE else (instance, *args)
        tags = list(self._tags(*call_args, **kwargs) if callable(self._tags) else self._tags)
        if instance_tag is not None:
            tags.append(instance_tag)
        ran = []

        def compute() -> Any:
            ran.append(True)
            log.debug("miss %s: calling %s", describe_key(key), self.key_prefix)
            return self._func(*call_args, **kwargs)

        value = manager.get_or_set(key, compute, self.ttl, tags=tags or None, grace=self._grace,
                                   background=self._background)
        (self._misses if ran else self._hits).inc()
        return value

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._is_method:
            if not args:
                raise TypeError(f"{self.__qualname__}() missing its instance argument")
            return self._call(args[0], args[1:], kwargs)
        return self._call(_NONE, args, kwargs)

    # ------------------------------------------------------------------ management
    def key_for(self, *args: Any, **kwargs: Any) -> str:
        """The cache key of a call with these arguments (methods: pass the instance first)."""
        if self._is_method:
            return self._key(args[0], args[1:], kwargs)[0]
        return self._key(_NONE, args, kwargs)[0]

    def invalidate(self, *args: Any, **kwargs: Any) -> bool:
        """Drop the cached result of this call; True if there was one."""
        return bool(self.manager.delete(self.key_for(*args, **kwargs)))

    def _pattern(self, part: Optional[str] = None) -> str:
        base = glob.escape(self.key_prefix)
        return f"{base}:{part}:*" if part is not None else f"{base}:*"

    def cache_clear(self) -> int:
        """Drop every cached result of this function (all instances); the number dropped.
        Also resets the hit/miss counts."""
        self._hits, self._misses = Counter(), Counter()
        return int(self.manager.invalidate(self._pattern()))

    def cache_info(self) -> CacheInfo:
        """Hits, misses, the manager's max_entries and this function's cached entries."""
        manager = self.manager
        if self._dead:
            self._reap(manager)
        return CacheInfo(self._hits.value, self._misses.value, manager.config.max_entries,
                         len(manager.keys(self._pattern())))


class BoundCachedMethod:
    """A cached method bound to one instance (created on attribute access)."""

    __slots__ = ("_cf", "_instance", "__weakref__")

    def __init__(self, cf: CachedFunction, instance: Any) -> None:
        self._cf = cf
        self._instance = instance

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._cf._call(self._instance, args, kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cf, name)

    def invalidate(self, *args: Any, **kwargs: Any) -> bool:
        """Drop this instance's cached result for these arguments."""
        return self._cf.invalidate(self._instance, *args, **kwargs)

    def key_for(self, *args: Any, **kwargs: Any) -> str:
        """The cache key of this instance's call with these arguments."""
        return self._cf.key_for(self._instance, *args, **kwargs)

    def cache_clear(self) -> int:
        """Drop this instance's cached results; the number dropped."""
        part, _ = self._cf._instance_part(self._instance)
        return int(self._cf.manager.invalidate(self._cf._pattern(part)))

    def cache_info(self) -> CacheInfo:
        """The function's counters; ``currsize`` counts this instance's entries."""
        info = self._cf.cache_info()
        part, _ = self._cf._instance_part(self._instance)
        return info._replace(currsize=len(self._cf.manager.keys(self._cf._pattern(part))))


def cached(ttl: Any = None, *, key_prefix: Optional[str] = None, manager: ManagerRef = None,
           grace: Optional[float] = None, background: bool = False,
           tags: Union[Iterable[str], Callable[..., Iterable[str]], None] = None,
           instance_key: Optional[Callable[[Any], Any]] = None) -> Any:
    """Cache a function's results in a CacheManager (see the module docstring).

    Args:
        ttl: seconds (None: the manager's ``default_ttl``; ``math.inf``: never).
        key_prefix: namespace of the keys (default ``module.qualname``).
        manager: a CacheManager, a callable returning one (resolved at each call,
            so the app can create it later), or None for :func:`default_manager`.
        grace: serve an expired result for ``grace`` more seconds while one caller
            refreshes it (``background=True``: on a daemon thread). See fbacache.swr.
        tags: tags for every result, or a callable taking the call's arguments and
            returning tags (for ``manager.invalidate_tags``).
        instance_key: for methods, ``instance_key(self)`` identifies the instance
            in keys (default: a process-unique token per live instance).

    Usable bare (``@cached``) or called (``@cached(ttl=60)``). Raises TypeError
    for coroutine and generator functions, and at call time for arguments that
    have no stable key.
    """
    if callable(ttl) and not isinstance(ttl, (int, float)):
        return CachedFunction(ttl, ttl=None, key_prefix=key_prefix, manager=manager,
                              grace=grace, background=background, tags=tags,
                              instance_key=instance_key)

    def decorate(func: Callable[..., Any]) -> CachedFunction:
        return CachedFunction(func, ttl=ttl, key_prefix=key_prefix, manager=manager, grace=grace,
                              background=background, tags=tags, instance_key=instance_key)
    return decorate


# --------------------------------------------------------------------------- invalidate
def _fields(pattern: str) -> list[str]:
    names = []
    for _, field, _, _ in string.Formatter().parse(pattern):
        if field is not None:
            names.append(field.split(".")[0].split("[")[0])
    return names


def _is_glob(key: str) -> bool:
    return any(c in key for c in "*?[")


def cache_invalidate(keys: Iterable[Any] = (), *, tags: Iterable[str] = (),
                     manager: ManagerRef = None) -> Callable[[Callable[..., Any]], Any]:
    """After the decorated call *succeeds*, invalidate ``keys`` and ``tags``.

    ``keys`` holds glob patterns or exact keys (``"product:*"``), optionally with
    ``{name}`` fields filled from the call's arguments (``"product:{product_id}"``,
    ``"user:{self.user_id}:*"``), and/or ``@cached`` functions (cleared whole).
    ``tags`` may use the same fields. A call that raises invalidates nothing.
    Raises ConfigError at decoration time for a field that is not a parameter.

    >>> from fbacache import CacheManager, cache_invalidate
    >>> cache = CacheManager(); _ = cache.set("product:1", "old"); _ = cache.set("product:2", "x")
    >>> @cache_invalidate(keys=["product:{product_id}"], manager=cache)
    ... def update_product(product_id, data):
    ...     return "saved"
    >>> update_product(1, {}), cache.keys()
    ('saved', ['product:2'])
    """
    targets = list(keys)
    tag_patterns = list(tags)

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(func)
        for item in [*targets, *tag_patterns]:
            if isinstance(item, str):
                missing = [n for n in _fields(item) if n not in sig.parameters]
                if missing:
                    raise ConfigError("keys", f"{item!r} names {missing}, which are not "
                                      f"parameters of {func.__qualname__}")
            elif not isinstance(item, CachedFunction):
                raise ConfigError("keys", f"expected a key pattern or a @cached function, "
                                  f"got {item!r}")

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            result = func(*args, **kwargs)
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            values = bound.arguments
            mgr = _resolve(manager)
            removed = 0
            for item in targets:
                if isinstance(item, CachedFunction):
                    removed += item.cache_clear()
                    continue
                key = item.format_map(values) if _fields(item) else item
                removed += mgr.invalidate(key) if _is_glob(key) else int(mgr.delete(key))
            if tag_patterns:
                removed += mgr.invalidate_tags(
                    *(t.format_map(values) if _fields(t) else t for t in tag_patterns))
            log.debug("%s succeeded: %d entries invalidated", func.__qualname__, removed)
            return result
        return wrapper
    return decorate

