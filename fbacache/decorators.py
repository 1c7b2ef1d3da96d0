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
The keys are the same in every process. Calls whose arguments are all str, int,
float, bool, None, bytes or tuples of those find their key in a per-function memo
(the same key, without encoding and hashing again).

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
import functools
import glob
import inspect
import itertools
import secrets
import sys
import threading
import weakref
from typing import (TYPE_CHECKING, Any, Callable, Collection, Generic, Iterable, MutableMapping,
                    NamedTuple, Optional, TypeVar, Union, overload)

if sys.version_info >= (3, 10):
    from typing import ParamSpec
else:  # pragma: no cover - 3.9
    from typing_extensions import ParamSpec

if TYPE_CHECKING:
    from fbacache.memo import MemoizedFunction

from fbacache._callkeys import hashkey
from fbacache._util import is_async
from fbacache._core import MemoCall
from fbacache import decorator_manager
from fbacache.decorator_manager import (ManagerRef, _is_manager, _resolve, default_manager,
                                       set_default_manager)
from fbacache.decorator_options import CallKeyer, FunctionBound, Uncached
from fbacache.errors import ConfigError
from fbacache.keys import (_MEMO_CHARS, _MEMO_SIZE, _qualname, argument_form, fixed_form,
                           form_digest, key_plan, make_key, memo_key, remember)
from fbacache.log import describe_key, get_logger
from fbacache.memo import is_cache_mapping, memoize
from fbacache.metrics import Counter

__all__ = ["cached", "cache_invalidate", "CacheInfo", "CachedFunction", "make_key",
           "default_manager", "set_default_manager"]

log = get_logger("decorators")

_HEX = 32
_EMPTY = inspect.Parameter.empty
_NONCE = secrets.token_hex(6)  # tokens unique across processes sharing a backend
_token_counter = itertools.count(1)
_NONE: Any = object()  # "not a method call"
_DYNAMIC: Any = object()  # tags computed per call
_UNSET: Any = object()  # cached(): no first argument / no ttl given
P = ParamSpec("P")
R = TypeVar("R")


class CacheInfo(NamedTuple):
    """Like ``functools._CacheInfo``: calls served without running the function
    (``hits``), calls that ran it (``misses``), the manager's ``max_entries``
    and the number of this function's keys in the cache."""

    hits: int
    misses: int
    maxsize: Optional[int]
    currsize: int


# --------------------------------------------------------------------------- keys
# The key encoding lives in fbacache.keys; _canon/_digest/_simple_params keep their old names here.
_canon = argument_form
_digest = form_digest
_simple_params = key_plan


def _default_prefix(func: Callable[..., Any]) -> str:
    prefix = f"{func.__module__}.{func.__qualname__}"
    if "<lambda>" in prefix:  # two lambdas of one module must not share keys
        prefix += f"@{func.__code__.co_firstlineno}"
    return prefix


# --------------------------------------------------------------------------- cached
class CachedFunction(MemoCall, Generic[P, R]):
    """The wrapper ``@cached`` returns (a descriptor: methods bind per instance).

    Generic in the decorated function's parameters and result: type checkers see
    the function's own signature on every call.

    Calling it is :class:`fbacache._core.MemoCall`'s compiled ``__call__``: for a plain
    function on a CacheManager, without ``key=``/``ignore=``/``grace=``/``max_entries=``,
    a positional call of str/int/bytes/None arguments finds its (remembered) key and
    reads ``manager.get`` with no Python frame (while that is the store's own ``get``,
    the store itself, with a C call); every other call, and a miss, runs
    :meth:`_full_call`/:meth:`_fetch`. Keys are the same strings either way, so
    ``@cache_invalidate`` patterns, tags, ``invalidate`` and ``cache_info`` see them.
    Hits of the compiled path are counted in C (``memo_hits``); ``cache_info`` adds them.
    """

    def __init__(self, func: Callable[P, R], *, ttl: Optional[float], key_prefix: Optional[str],
                 manager: ManagerRef, grace: Optional[float], background: bool,
                 tags: Union[Iterable[str], Callable[..., Iterable[str]], None],
                 instance_key: Optional[Callable[[Any], Any]],
                 key: Optional[Callable[..., Any]] = None, ignore: Collection[Union[str, int]] = (),
                 unless: Optional[Callable[[Any], Any]] = None,
                 max_entries: Optional[int] = None) -> None:
        if is_async(func):  # also a partial or an object with an async __call__
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
        # The memo needs keys that depend on the given arguments only: no defaults
        # that could change (a list default can be appended to between calls).
        defaults = [p.default for p in self._sig.parameters.values() if p.default is not _EMPTY]
        self._memo: Optional[dict[tuple[tuple[type, ...], tuple], str]] = (
            {} if all(map(fixed_form, defaults)) else None)
        self._parts: dict[tuple, str] = {}  # memo of instance_key(self) -> instance part
        self.ttl = ttl
        self.key_prefix = key_prefix or _default_prefix(func)
        self._manager_ref = manager
        # A manager given directly needs no resolving at each call.
        self._manager = manager if hasattr(manager, "get_or_set") else None
        self._grace = grace
        self._background = background
        self._tags: Union[Callable[..., Iterable[str]], tuple[str, ...]]
        self._static_tags: Optional[list[str]]
        if callable(tags):
            self._tags, self._static_tags = tags, _DYNAMIC
        else:
            self._tags = tuple(tags) if tags else ()
            self._static_tags = list(self._tags) or None
        self._instance_key = instance_key
        self._is_method = False
        self._hits = Counter()
        self._misses = Counter()
        self._tokens: dict[int, tuple[weakref.ref, str]] = {}
        self._tokens_lock = threading.Lock()
        self._dead: collections.deque[str] = collections.deque()
        # key=, ignore=, unless=, max_entries= (fbacache.decorator_options)
        self._keyer = (CallKeyer(self._sig, key, ignore, False)
                       if key is not None or ignore else None)
        if unless is not None and not callable(unless):
            raise ConfigError("unless", f"must be a callable taking the result, got {unless!r}")
        self._unless = unless
        self._bound = FunctionBound(max_entries) if max_entries is not None else None
        # The compiled hit path (see the class docstring). The default manager is read
        # from decorator_manager._default_fast at each call, as _resolve reads _default.
        source: Any
        namespace: Optional[dict[str, Any]]
        if manager is None:
            source, namespace = "_default_fast", vars(decorator_manager)
        else:
            source, namespace = (manager if _is_manager(manager) else None), None
        MemoCall.__init__(self, self._fast_key, source, self._fast_missed, self._full_call,
                          _MEMO_SIZE, namespace)
        self.enabled = (source is not None and self._keyer is None and self._memo is not None
                        and grace is None and self._bound is None)

    def __set_name__(self, owner: type, name: str) -> None:
        # Defined in a class body: the first argument is the instance.
        self._is_method = True
        self.enabled = False  # method keys carry the instance part: the full path
        if self._keyer is not None:
            self._keyer.as_method()
        if self._memo is not None:
            self._memo.clear()  # keys so far were made without an instance parameter

    @overload
    def __get__(self, instance: None, owner: Optional[type] = None) -> "CachedFunction[P, R]": ...
    @overload
    def __get__(self, instance: object, owner: Optional[type] = None) -> Any: ...

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
            ident = self._instance_key(instance)
            mkey = memo_key((ident,), {})
            if mkey is None:
                return _digest(_canon(ident)), None
            part = self._parts.get(mkey)
            if part is None:
                part = _digest(_canon(ident))
                remember(self._parts, mkey, part)
            return part, None
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
    # Keys. Calls whose arguments are all of keys.MEMO_TYPES are looked up in
    # self._memo (see keys.memo_key): functions keep their whole key there, methods
    # the digest (the instance part is added per call). Any other call builds its
    # key with make_key (whose KeyPlan encodes simple arguments directly, and
    # everything else canonically).
    def _function_key(self, args: tuple, kwargs: dict) -> str:
        if self._keyer is not None:
            return f"{self.key_prefix}:{self._keyer.digest(args, kwargs)}"
        if self._memo is not None:
            mkey = memo_key(args, kwargs)
            if mkey is not None:
                key = self._memo.get(mkey)
                if key is None:
                    key = make_key(self.key_prefix, self._sig, args, kwargs, simple=self._simple)
                    remember(self._memo, mkey, key)
                return key
        return make_key(self.key_prefix, self._sig, args, kwargs, simple=self._simple)

    def _method_digest(self, instance: Any, args: tuple, kwargs: dict) -> str:
        if self._keyer is not None:
            return self._keyer.digest((instance, *args), kwargs)
        if self._memo is not None:
            mkey = memo_key(args, kwargs)
            if mkey is not None:
                digest = self._memo.get(mkey)
                if digest is None:
                    digest = make_key("", self._sig, (instance, *args), kwargs, skip_first=True,
                                      simple=self._simple)[1:]
                    remember(self._memo, mkey, digest)
                return digest
        return make_key("", self._sig, (instance, *args), kwargs, skip_first=True,
                        simple=self._simple)[1:]

    def _key(self, instance: Any, args: tuple, kwargs: dict) -> tuple[str, Optional[str]]:
        """(key of the call, the instance's cleanup tag or None)."""
        if instance is _NONE:
            return self._function_key(args, kwargs), None
        part, tag = self._instance_part(instance)
        return f"{self.key_prefix}:{part}:{self._method_digest(instance, args, kwargs)}", tag

    def _fast_key(self, args: tuple) -> Optional[str]:
        # MemoCall's key_of: long str/bytes arguments are not remembered (as in keys.remember)
        if sum(len(a) for a in args if type(a) is str or type(a) is bytes) > _MEMO_CHARS:
            return None
        return self._function_key(args, {})

    def _fast_missed(self, key: str, args: tuple) -> Any:
        # MemoCall's miss: its lookup was counted, so load without looking again.
        return self._fetch(key, None, args, {}, looked=True)

    def _fetch(self, key: str, instance_tag: Optional[str], call_args: tuple,
               kwargs: dict, looked: bool = False) -> Any:
        manager = self._manager
        if manager is None:
            manager = self.manager
        if self._dead:
            self._reap(manager)
        if instance_tag is None and self._static_tags is not _DYNAMIC:
            tags = self._static_tags
        else:
            tags = list(self._tags(*call_args, **kwargs) if callable(self._tags) else self._tags)
            if instance_tag is not None:
                tags.append(instance_tag)
        ran = []

        def compute() -> Any:
            ran.append(True)
            log.debug("miss %s: calling %s", describe_key(key), self.key_prefix)
            result = self._func(*call_args, **kwargs)
            if self._unless is not None and self._unless(result):
                raise Uncached(result)  # an exception: get_or_set stores nothing
            return result

        try:
            if looked:  # the compiled path already missed: one counted lookup per call
                value = manager._load_once(key, compute, self.ttl, None, None, tags or None,
                                           None, False)
            else:
                value = manager.get_or_set(key, compute, self.ttl, tags=tags or None,
                                           grace=self._grace, background=self._background)
        except Uncached as refused:
            self._misses.inc()
            return refused.value
        (self._misses if ran else self._hits).inc()
        if self._bound is not None:
            for old in self._bound.touch(key):
                manager.delete(old)
        return value

    def _call(self, instance: Any, args: tuple, kwargs: dict) -> Any:
        key, instance_tag = self._key(instance, args, kwargs)
        return self._fetch(key, instance_tag, (instance, *args), kwargs)

    if TYPE_CHECKING:  # at run time MemoCall.__call__ (compiled) is the call
        def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R: ...

    def _full_call(self, *args: Any, **kwargs: Any) -> Any:
        """A call through the full path (MemoCall's ``slow``)."""
        if self._is_method:
            if not args:
                # a callable without __qualname__ (a partial) is named by its key prefix
                name = getattr(self._func, "__qualname__", self.key_prefix)
                raise TypeError(f"{name}() missing its instance argument")
            return self._call(args[0], args[1:], kwargs)
        return self._fetch(self._function_key(args, kwargs), None, args, kwargs)

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
        self.reset_memo_hits()  # the compiled hit path's own count
        if self._bound is not None:
            self._bound.clear()
        return int(self.manager.invalidate(self._pattern()))

    def cache_info(self) -> CacheInfo:
        """Hits, misses, the manager's max_entries and this function's cached entries."""
        manager = self.manager
        if self._dead:
            self._reap(manager)
        return CacheInfo(self._hits.value + self.memo_hits, self._misses.value,
                         manager.config.max_entries,
                         len(manager.keys(self._pattern())))


class BoundCachedMethod:
    """A cached method bound to one instance (created on attribute access)."""

    __slots__ = ("_cf", "_instance", "__weakref__")

    def __init__(self, cf: CachedFunction[..., Any], instance: Any) -> None:
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


@overload
def cached(cache_or_ttl: Callable[P, R], /) -> CachedFunction[P, R]: ...
@overload
def cached(cache_or_ttl: MutableMapping[Any, Any], /, key: Optional[Callable[..., Any]] = None,
           lock: Any = None, condition: Any = None,
           info: bool = False) -> Callable[[Callable[P, R]], "MemoizedFunction[P, R]"]: ...
@overload
def cached(cache_or_ttl: Optional[float] = ..., /, key: Optional[Callable[..., Any]] = None, *,
           ttl: Optional[float] = ..., key_prefix: Optional[str] = None, manager: ManagerRef = None,
           grace: Optional[float] = None, background: bool = False,
           tags: Union[Iterable[str], Callable[..., Iterable[str]], None] = None,
           instance_key: Optional[Callable[[Any], Any]] = None,
           ignore: Collection[Union[str, int]] = (), unless: Optional[Callable[[Any], Any]] = None,
           max_entries: Optional[int] = None) -> Callable[[Callable[P, R]], CachedFunction[P, R]]: ...


def cached(cache_or_ttl: Any = _UNSET, /, key: Optional[Callable[..., Any]] = None,
           lock: Any = None, condition: Any = None, info: bool = False, *,
           ttl: Any = _UNSET, key_prefix: Optional[str] = None, manager: ManagerRef = None,
           grace: Optional[float] = None, background: bool = False,
           tags: Union[Iterable[str], Callable[..., Iterable[str]], None] = None,
           instance_key: Optional[Callable[[Any], Any]] = None,
           ignore: Collection[Union[str, int]] = (), unless: Optional[Callable[[Any], Any]] = None,
           max_entries: Optional[int] = None) -> Any:
    """Cache a function's results in a CacheManager (see the module docstring), or,
    given a mapping first, in that mapping as ``cachetools.cached`` does.

    ``cached(cache, key=hashkey, lock=None, condition=None, info=False)``: the
    mapping form (fbacache.memo); ``cache`` is any mutable mapping (an fbacache or
    cachetools cache, a dict).  ``cached(None)`` is a TypeError, as in cachetools 8.

    Args (manager form):
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
        key: ``key(*args, **kwargs)`` (methods: without ``self``) gives what the key
            is made of, instead of all the arguments.
        ignore: parameter names or positions left out of the key (a session, a client).
        unless: ``unless(result)`` true: the result is returned but not cached.
        max_entries: keep at most this many results of this function (LRU beyond).
        (See fbacache.decorator_options.)

    Usable bare (``@cached``) or called (``@cached(ttl=60)``). Raises TypeError
    for coroutine and generator functions, and at call time for arguments that
    have no stable key.
    """
    if cache_or_ttl is None:
        raise TypeError("cached(None): pass a cache mapping, or ttl=None for the manager form")
    if is_cache_mapping(cache_or_ttl):
        return memoize(cache_or_ttl, hashkey if key is None else key, lock, condition, info)
    if cache_or_ttl is not _UNSET:
        if ttl is not _UNSET:
            raise TypeError("cached() got ttl both as its first argument and as a keyword")
        ttl = cache_or_ttl
    if ttl is _UNSET:
        ttl = None
    if lock is not None or condition is not None or info:
        raise TypeError("lock, condition and info belong to the mapping form: "
                        "cached(cache, lock=..., condition=..., info=...)")
    if callable(ttl) and not isinstance(ttl, (int, float)):
        return CachedFunction(ttl, ttl=None, key_prefix=key_prefix, manager=manager,
                              grace=grace, background=background, tags=tags,
                              instance_key=instance_key, key=key, ignore=ignore, unless=unless,
                              max_entries=max_entries)

    def decorate(func: Callable[..., Any]) -> CachedFunction[..., Any]:
        return CachedFunction(func, ttl=ttl, key_prefix=key_prefix, manager=manager, grace=grace,
                              background=background, tags=tags, instance_key=instance_key,
                              key=key, ignore=ignore, unless=unless, max_entries=max_entries)
    return decorate


def __getattr__(name: str) -> Any:
    # cache_invalidate lives in fbacache.invalidate (which imports this module); it stays
    # importable from here, resolved on first use so there is no import circle
    if name == "cache_invalidate":
        from fbacache.invalidate import cache_invalidate
        return cache_invalidate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
