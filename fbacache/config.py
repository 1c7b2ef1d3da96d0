"""CacheManagerConfig: every setting of a :class:`fbacache.CacheManager`, validated.

Invalid values raise :class:`fbacache.errors.ConfigError` whose ``field`` names
the offending field (or the environment variable it came from).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence, Union

from fbacache._util import POLICIES
from fbacache._validate import MAX_SIZE, check_duration, check_number
from fbacache.errors import ConfigError

__all__ = ["CacheManagerConfig", "POLICY_NAMES", "SERIALIZATION_FORMATS", "COMPRESSION_NAMES"]

POLICY_NAMES = POLICIES  # the name config callers know
SERIALIZATION_FORMATS = ("pickle", "msgpack", "json", "none")
COMPRESSION_NAMES = ("zlib", "zstd")
MiB = 1024 * 1024

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "m": MiB, "g": 1024 * MiB, "t": 1024 * 1024 * MiB}


def parse_size(text: str) -> int:
    """Parse ``"1048576"``, ``"512KB"``, ``"64MiB"`` or ``"1.5G"`` into bytes (powers of 1024).

    >>> parse_size("64MB"), parse_size("1.5k"), parse_size("10")
    (67108864, 1536, 10)
    """
    m = _SIZE_RE.match(text)
    if not m:
        raise ValueError(f"not a size: {text!r}")
    unit = (m.group(2) or "").lower()[:1]
    number = m.group(1)
    if "." not in number:  # exact: no float rounding, no overflow (range is checked later)
        return int(number) * _SIZE_UNITS[unit]
    value = float(number) * _SIZE_UNITS[unit]
    if math.isinf(value):  # "1" * 400 + ".5" is inf as a float
        raise ValueError(f"size out of range: {text!r}")
    return int(value)


def _usable_key(key: Any) -> bool:
    # A blank key ("   " from an unset template variable) is no secret at all.
    return isinstance(key, (bytes, str)) and len(key) >= 16 and bool(key.strip())


@dataclass
class CacheManagerConfig:
    """Settings of a :class:`fbacache.CacheManager`.

    Fields:
        backend_type: registered backend name: ``memory`` (default), ``redis``,
            ``tiered`` or any name added with ``fbacache.backends.register_backend``.
        backend_config: backend-specific options (e.g. ``{"url": "redis://..."}``).
        default_ttl: seconds until an entry expires; None or ``math.inf`` = never
            (stored as None). A finite TTL above ``fbacache._validate.MAX_SECONDS``
            (1e11 s) is refused rather than overflowing a backend.
        max_entries: capacity in entries (None = unbounded; at most ``sys.maxsize``).
        max_bytes: capacity in stored bytes (None = unbounded). A byte budget needs
            bytes: left at its default, ``serialization_format`` is then pickle. With
            an explicit ``none`` sizes are the shallow ``sys.getsizeof`` of the objects.
        eviction_policy: lru | lfu | fifo | random | probability | adaptive.
        max_entry_size: largest stored form of one value in bytes (EntryTooLarge above).
        serialization_format: pickle | msgpack | json | none (objects stored as they
            are; memory backend only, no compression) | None (the default: ``none``
            on an in-process backend, as functools/cachetools/cachebox do; pickle when
            ``compression`` or ``max_bytes`` is set or the backend is shared).
        compression: zlib | zstd | None. compression_threshold: compress payloads of
            at least this many bytes. compression_level: None = the codec's default.
        max_decompressed_size: cap on a decoded payload (decompression bomb guard);
            at most ``sys.maxsize - 1``, what the decoders can take.
        key_prefix: namespace for shared backends (the memory backend ignores it).
        signing_key / signing_keys: HMAC key for payloads, and older keys still
            accepted while rotating. Required for pickle on a shared backend.
        lock_timeout: seconds a ``get_or_set`` waiter waits for another thread's factory;
            ``math.inf`` = as long as the factory runs. A finite value above
            ``threading.TIMEOUT_MAX`` (the longest wait the platform has) is refused.
        prefetch_queue_size: bound of the prefetch queue.
        prefetch_loader: ``loader(endpoint, params) -> value``; when set, a background
            worker fills the cache from the prefetch queue.
        seed: seed of the random eviction policy. timer: monotonic clock in seconds
            (inject a fake one in tests).

    >>> CacheManagerConfig(max_entries=0)
    Traceback (most recent call last):
    ...
    fbacache.errors.ConfigError: max_entries: must be an integer >= 1, got 0
    """

    backend_type: str = "memory"
    backend_config: dict[str, Any] = field(default_factory=dict)
    default_ttl: Optional[float] = None
    max_entries: Optional[int] = 10_000
    max_bytes: Optional[int] = None
    eviction_policy: str = "lru"
    max_entry_size: int = MiB
    serialization_format: Optional[str] = None
    compression: Optional[str] = None
    compression_threshold: int = 1024
    compression_level: Optional[int] = None
    max_decompressed_size: int = 64 * MiB
    key_prefix: str = ""
    signing_key: Optional[Union[bytes, str]] = None
    signing_keys: Sequence[Union[bytes, str]] = ()
    lock_timeout: float = 30.0
    prefetch_queue_size: int = 1000
    prefetch_loader: Optional[Callable[[str, Optional[Mapping[str, Any]]], Any]] = None
    seed: Optional[int] = None
    timer: Optional[Callable[[], float]] = None

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Check every field; raise :class:`ConfigError` naming the first bad one."""
        def bad(name: str, msg: str) -> ConfigError:
            return ConfigError(name, f"{msg}, got {getattr(self, name)!r}")

        if not isinstance(self.backend_type, str) or not self.backend_type:
            raise bad("backend_type", "must be a backend name")
        if not isinstance(self.backend_config, dict):
            raise bad("backend_config", "must be a dict")
        # math.inf is another spelling of "never" (None); 0, NaN, 1e300, 10**400 are refused.
        if self.default_ttl is not None:
            self.default_ttl = check_duration(self.default_ttl, "default_ttl")
        for name in ("max_entries", "max_bytes"):
            v = getattr(self, name)
            if v is not None:
                check_number(v, name, integer=True, minimum=1)
        if self.eviction_policy not in POLICY_NAMES:
            raise bad("eviction_policy", f"must be one of {POLICY_NAMES}")
        for name in ("max_entry_size", "prefetch_queue_size"):
            check_number(getattr(self, name), name, integer=True, minimum=1)
        # The decoders take the cap (+1, to tell "exactly the cap" from "more") as a C
        # Py_ssize_t: a larger cap made every compressed read fail, a silent miss.
        check_number(self.max_decompressed_size, "max_decompressed_size", integer=True,
                     minimum=1, maximum=MAX_SIZE - 1)
        if self.max_decompressed_size < self.max_entry_size:
            raise bad("max_decompressed_size", "must be at least max_entry_size")
        if self.serialization_format is not None \
                and self.serialization_format not in SERIALIZATION_FORMATS:
            raise bad("serialization_format", f"must be one of {SERIALIZATION_FORMATS} or None")
        if self.compression is not None and self.compression not in COMPRESSION_NAMES:
            raise bad("compression", f"must be one of {COMPRESSION_NAMES} or None")
        if self.compression is not None and self.serialization_format == "none":
            raise bad("compression", "needs a serializer (serialization_format 'none' "
                      "stores objects, there are no bytes to compress)")
        check_number(self.compression_threshold, "compression_threshold", integer=True,
                     minimum=0)
        lvl = self.compression_level
        if lvl is not None:
            lo, hi = (0, 9) if self.compression == "zlib" else (-7, 22)
            check_number(lvl, "compression_level", integer=True, minimum=lo, maximum=hi)
        if not isinstance(self.key_prefix, str):
            raise bad("key_prefix", "must be a str")
        if self.signing_key is not None and not _usable_key(self.signing_key):
            raise ConfigError("signing_key", "must be bytes or str of at least 16 characters, "
                              "not all of them blank")
        if isinstance(self.signing_keys, (bytes, str)) or not all(
                _usable_key(k) for k in self.signing_keys):
            raise ConfigError("signing_keys", "must be a sequence of keys of at least 16 "
                              "bytes, none of them blank")
        if self.signing_keys and self.signing_key is None:
            raise ConfigError("signing_keys", "older keys need a current signing_key")
        # math.inf: waiters wait as long as the factory runs; a finite wait must fit
        # threading.TIMEOUT_MAX (beyond it every contended waiter raised OverflowError).
        check_duration(self.lock_timeout, "lock_timeout", wait=True)
        if self.prefetch_loader is not None and not callable(self.prefetch_loader):
            raise bad("prefetch_loader", "must be callable or None")
        if self.seed is not None:  # any int: the core keeps its low 64 bits
            check_number(self.seed, "seed", integer=True, maximum=math.inf)
        if self.timer is not None and not callable(self.timer):
            raise bad("timer", "must be a zero-argument callable returning seconds")

    def resolved_format(self, stores_objects: bool) -> str:
        """The serialization format in effect on a backend that does (not) hold objects.

        >>> CacheManagerConfig().resolved_format(True), CacheManagerConfig().resolved_format(False)
        ('none', 'pickle')
        >>> CacheManagerConfig(max_bytes=1 << 20).resolved_format(True)
        'pickle'
        """
        if self.serialization_format is not None:
            return self.serialization_format
        if stores_objects and self.compression is None and self.max_bytes is None:
            return "none"
        return "pickle"

    def signing_key_bytes(self) -> tuple[Optional[bytes], tuple[bytes, ...]]:
        """(current key, older keys) as bytes (str keys are UTF-8 encoded)."""
        def enc(k: Union[bytes, str]) -> bytes:
            return k.encode("utf-8") if isinstance(k, str) else bytes(k)
        cur = None if self.signing_key is None else enc(self.signing_key)
        return cur, tuple(enc(k) for k in self.signing_keys)

    def replace(self, **changes: Any) -> "CacheManagerConfig":
        """A validated copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ environment
    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None, prefix: str = "FBACACHE_",
                 **overrides: Any) -> "CacheManagerConfig":
        """Build a config from environment variables (``os.environ`` by default).

        ``FBACACHE_<FIELD>`` sets any scalar field (e.g. ``FBACACHE_MAX_ENTRIES``,
        ``FBACACHE_COMPRESSION=zstd``, ``FBACACHE_BACKEND_CONFIG`` as JSON,
        ``FBACACHE_SIGNING_KEYS`` comma-separated). The legacy names
        ``CACHE_TTL`` (default_ttl), ``MAX_MEMORY_SIZE``, ``COMPRESSION_THRESHOLD``
        and ``REDIS_URL`` are read when the ``FBACACHE_`` form is absent.
        ``MAX_MEMORY_SIZE`` keeps the meaning it has in the dashboard system: a bare
        number is a count of entries (``max_entries``), a number with a unit
        (``"64MB"``, ``"512k"``) is bytes (``max_bytes``). ``REDIS_URL`` sets
        ``backend_config["url"]`` for backends that take a URL (not ``memory`` or
        ``filesystem``); it does not switch the backend type. Keyword ``overrides``
        win over both. A value that does not parse raises :class:`ConfigError`
        naming the variable, and so do a ``FBACACHE_BACKEND_CONFIG`` nested deeper
        than 32 levels and a blank ``FBACACHE_SIGNING_KEY`` (it would silently
        disable signing).

        >>> CacheManagerConfig.from_env({"CACHE_TTL": "60", "FBACACHE_COMPRESSION": "zlib"}).default_ttl
        60.0
        """
        env = os.environ if environ is None else environ
        legacy = {"default_ttl": "CACHE_TTL", "compression_threshold": "COMPRESSION_THRESHOLD"}
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name in ("timer", "prefetch_loader"):
                continue
            var = prefix + f.name.upper()
            raw = env.get(var)
            if raw is None and f.name in legacy:
                var = legacy[f.name]
                raw = env.get(var)
            if raw is None:
                continue
            try:
                kwargs[f.name] = _parse_env(f.name, raw)
            except (ValueError, TypeError, RecursionError) as exc:
                raise ConfigError(var, f"cannot parse {raw!r}: {exc}") from None
        raw = env.get("MAX_MEMORY_SIZE")
        if raw is not None:
            name, value = _parse_memory_size(raw)
            if prefix + name.upper() not in env:  # the FBACACHE_ form wins
                kwargs[name] = value
        url = env.get(prefix + "REDIS_URL") or env.get("REDIS_URL")
        backend = overrides.get("backend_type", kwargs.get("backend_type", "memory"))
        if url and backend not in _NO_URL_BACKENDS:
            kwargs["backend_config"] = {"url": url, **kwargs.get("backend_config", {})}
        kwargs.update(overrides)
        return cls(**kwargs)


_INTS = {"max_entries", "max_bytes", "max_entry_size", "compression_threshold",
         "compression_level", "max_decompressed_size", "prefetch_queue_size", "seed"}
_FLOATS = {"default_ttl", "lock_timeout"}
_NONE_WORDS = {"", "none", "null"}
_NO_URL_BACKENDS = {"memory", "filesystem"}  # built-ins that refuse a "url" option
_MAX_JSON_DEPTH = 32  # backend configs are shallow; deeper is a mistake or an attack


def _parse_memory_size(raw: str) -> tuple[str, int]:
    """(field, value) of the legacy ``MAX_MEMORY_SIZE``: bare number = entries, unit = bytes."""
    text = raw.strip()
    try:
        if re.fullmatch(r"\d+", text):
            return "max_entries", int(text)
        if re.fullmatch(r"\d*\.\d*", text):
            raise ValueError("a count of entries is a whole number")
        return "max_bytes", parse_size(text)
    except ValueError as exc:
        raise ConfigError("MAX_MEMORY_SIZE", f"cannot parse {raw!r}: {exc}; give a number "
                          "of entries (10000) or a size with a unit (64MB)") from None


def _json_depth(value: Any) -> int:
    """Nesting depth of parsed JSON, iteratively (a recursive walk would overflow)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, depth)
            if depth > _MAX_JSON_DEPTH:
                break
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _parse_env(name: str, raw: str) -> Any:
    text = raw.strip()
    if name in _INTS or name in _FLOATS:
        if text.lower() in _NONE_WORDS and name not in ("max_entry_size", "compression_threshold"):
            return None
        if name in _FLOATS:
            value = float(text)
            # "inf" spells "never"; "1e400" is a number out of range, not a spelling of it
            if math.isinf(value) and text.lstrip("+-").lower() not in ("inf", "infinity"):
                raise ValueError("out of range")
            return value
        if name in ("max_bytes", "max_entry_size", "max_decompressed_size"):
            return parse_size(text)
        return int(text)
    if name == "backend_config":
        value = json.loads(text)  # RecursionError when absurdly deep: from_env reports it
        if not isinstance(value, dict):
            raise ValueError("must be a JSON object")
        if _json_depth(value) > _MAX_JSON_DEPTH:
            raise ValueError(f"nested deeper than {_MAX_JSON_DEPTH} levels")
        return value
    if name == "compression":
        return None if text.lower() in _NONE_WORDS else text.lower()
    if name == "signing_key":
        if not text:  # set but blank: refusing beats silently storing unsigned data
            raise ValueError("the key is blank; unset the variable to disable signing")
        return text
    if name == "signing_keys":
        return tuple(k for k in (p.strip() for p in text.split(",")) if k)
    if name in ("backend_type", "eviction_policy", "serialization_format"):
        return text.lower()
    return raw  # key_prefix: kept verbatim
