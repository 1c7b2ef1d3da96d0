"""Options, key layout and client construction for the Redis backends (redis-py).

Kept apart from :mod:`fbacache.backends.redis.backend` so the backend reads as cache
logic only. Three jobs:

- :class:`RedisOptions`: ``CacheManagerConfig.backend_config`` validated into
  typed fields (URL, pool size, timeouts, retry and breaker settings...);
- :class:`KeyCodec`: the key layout. Every key we write is
  ``fbacache:v2:<ns>:<tag>:<key>`` (tag ``s`` str, ``b`` bytes, ``i`` int), where
  ``<ns>`` is the namespace percent-encoded (:func:`encode_namespace`): every byte
  outside ``[A-Za-z0-9_./-]`` becomes ``%XX``, so ``<ns>`` never contains ``:``, a
  glob metacharacter or a hash-tag brace. ``v2`` is the stored *format* version (a
  change of the layout or of the value envelope bumps it, so two releases never
  read each other's bytes). Because ``<ns>`` cannot contain ``:`` and the encoding
  is injective, no namespace's prefix is a prefix of another namespace's keys:
  everything we scan, count, delete or clear belongs to our namespace only;
- :func:`make_client`: a redis-py client whose own retries are **off** (our
  retry/backoff/circuit modules decide), with short socket timeouts and a
  bounded, blocking connection pool; or a ``RedisCluster`` client.

>>> codec = KeyCodec("app")
>>> codec.encode("user:1")
b'fbacache:v2:app:s:user:1'
>>> codec.decode(codec.encode(b"\\x00raw")), codec.decode(codec.encode(42))
(b'\\x00raw', 42)
>>> codec.match_for("user:*")
b'fbacache:v2:app:s:user:*'
>>> KeyCodec("app:s").encode("foo"), KeyCodec("{t}*").prefix
(b'fbacache:v2:app%3As:s:foo', b'fbacache:v2:%7Bt%7D%2A:')
"""
from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from dataclasses import dataclass
from typing import Any, Hashable, Iterable, Mapping, Optional

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.exceptions import ClusterDownError, ClusterError, TryAgainError
from redis.retry import Retry as RedisPyRetry

from fbacache._core import prefix_keys
from fbacache.errors import ConfigError

__all__ = ["RedisOptions", "KeyCodec", "make_client", "TRANSIENT_ERRORS", "FORMAT_VERSION",
           "group_by_slot", "disconnect_idle", "encode_namespace", "MAX_NAMESPACE", "MAX_SECONDS",
           "redact_url"]

#: Version 2 (this layout): the namespace is percent-encoded and signatures bind the
#: namespace, key type and metadata. Version 1 keys (``fbacache:v1:...``) are never read.
FORMAT_VERSION = 2

#: Errors meaning "the server is unreachable or not serving right now": retried, then the
#: fallback serves the call. Anything else (a reply error) is not a reason to fall back.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    redis.ConnectionError, redis.TimeoutError, ClusterDownError, TryAgainError, ClusterError,
    redis.exceptions.SlotNotCoveredError, redis.exceptions.ReadOnlyError,
    redis.exceptions.MasterDownError,
)

_KNOWN = {
    "url", "cluster", "namespace", "pool_size", "pool_timeout", "socket_timeout",
    "connect_timeout", "retry_attempts", "retry_backoff_base", "retry_backoff_cap",
    "retry_deadline", "failure_threshold", "cooldown_base", "cooldown_cap", "fallback",
    "fallback_max_entries", "dirty_limit", "scan_count", "health_check_interval",
    # tiered only
    "l1_max_entries", "l1_max_bytes", "l1_max_ttl", "invalidation_ping_interval",
}
#: Longest namespace accepted, in characters (its encoded form is at most 12x longer).
MAX_NAMESPACE = 256
_NS_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-/")
_GLOB_SPECIALS = "*?[\\"


_MAX_TTL = 10.0 * 365 * 86400  # l1_max_ttl: ten years is "no cap" in practice

#: Upper bound of every timeout-like option, in seconds. Longer waits are refused rather
#: than passed on: redis-py hands them to ``socket.settimeout``, where ``inf`` or ``1e300``
#: raise OverflowError on every call, and no cache call should block for hours anyway.
MAX_SECONDS = 3600.0


def _num(options: Mapping[str, Any], name: str, default: float, *, minimum: float = 0.0,
         allow_zero: bool = False, maximum: float = MAX_SECONDS) -> float:
    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not (value > minimum or (allow_zero and value == minimum)) \
            or not value <= maximum:  # also refuses NaN and inf
        low = ">=" if allow_zero else ">"
        raise ConfigError(f"backend_config.{name}",
                          f"must be a finite number of seconds {low} {minimum:g} and <= "
                          f"{maximum:g}, got {value!r}")
    return float(value)


def _int(options: Mapping[str, Any], name: str, default: int, minimum: int = 1) -> int:
    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"backend_config.{name}", f"must be an integer >= {minimum}, "
                                                   f"got {value!r}")
    return value


@dataclass(frozen=True)
class RedisOptions:
    """Validated ``backend_config`` of the redis and tiered backends (sdist: docs/redis.md)."""

    url: str = "redis://127.0.0.1:6379/0"
    cluster: bool = False
    namespace: str = "default"
    pool_size: int = 32
    pool_timeout: float = 1.0
    socket_timeout: float = 0.5
    connect_timeout: float = 0.5
    retry_attempts: int = 2
    retry_backoff_base: float = 0.005
    retry_backoff_cap: float = 0.05
    retry_deadline: float = 1.0
    failure_threshold: int = 3
    cooldown_base: float = 0.25
    cooldown_cap: float = 5.0
    fallback: bool = True
    fallback_max_entries: Optional[int] = None
    dirty_limit: int = 10_000
    scan_count: int = 1000
    health_check_interval: int = 0
    l1_max_entries: Optional[int] = None
    l1_max_bytes: Optional[int] = None
    l1_max_ttl: Optional[float] = None
    invalidation_ping_interval: float = 0.5

    @classmethod
    def from_config(cls, options: Mapping[str, Any], key_prefix: str = "") -> RedisOptions:
        """Validate ``options`` (a ``backend_config`` dict); ``key_prefix`` names the namespace.

        Raises ConfigError naming ``backend_config.<option>`` for unknown or invalid options.
        """
        unknown = set(options) - _KNOWN
        if unknown:
            raise ConfigError("backend_config", f"unknown option(s) {sorted(unknown)}; "
                                                f"known: {sorted(_KNOWN)}")
        url = options.get("url", cls.url)
        if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://",
                                                           "redis+cluster://")):
            raise ConfigError("backend_config.url", f"must be a redis:// URL, got {url!r}")
        cluster = options.get("cluster", False)
        if not isinstance(cluster, bool):
            raise ConfigError("backend_config.cluster", f"must be a bool, got {cluster!r}")
        if url.startswith("redis+cluster://"):
            cluster, url = True, "redis://" + url[len("redis+cluster://"):]
        _check_url(url)
        namespace = options.get("namespace") or key_prefix or "default"
        # Any characters are fine (the key layout encodes them); only the length is bounded.
        if not isinstance(namespace, str) or len(namespace) > MAX_NAMESPACE:
            raise ConfigError("backend_config.namespace",
                              f"must be a str of at most {MAX_NAMESPACE} characters, got "
                              f"{namespace!r:.80}")
        fallback = options.get("fallback", True)
        if not isinstance(fallback, bool):
            raise ConfigError("backend_config.fallback", f"must be a bool, got {fallback!r}")

        def opt_int(name: str) -> Optional[int]:
            return None if options.get(name) is None else _int(options, name, 1)

        l1_ttl = options.get("l1_max_ttl")
        base = _num(options, "retry_backoff_base", cls.retry_backoff_base, allow_zero=True)
        cool = _num(options, "cooldown_base", cls.cooldown_base)
        return cls(
            url=url, cluster=cluster, namespace=namespace,
            pool_size=_int(options, "pool_size", cls.pool_size),
            pool_timeout=_num(options, "pool_timeout", cls.pool_timeout),
            socket_timeout=_num(options, "socket_timeout", cls.socket_timeout),
            connect_timeout=_num(options, "connect_timeout", cls.connect_timeout),
            retry_attempts=_int(options, "retry_attempts", cls.retry_attempts),
            retry_backoff_base=base,
            retry_backoff_cap=max(base, _num(options, "retry_backoff_cap",
                                             cls.retry_backoff_cap, allow_zero=True)),
            retry_deadline=_num(options, "retry_deadline", cls.retry_deadline),
            failure_threshold=_int(options, "failure_threshold", cls.failure_threshold),
            cooldown_base=cool,
            cooldown_cap=max(cool, _num(options, "cooldown_cap", cls.cooldown_cap)),
            fallback=fallback,
            fallback_max_entries=opt_int("fallback_max_entries"),
            dirty_limit=_int(options, "dirty_limit", cls.dirty_limit),
            scan_count=_int(options, "scan_count", cls.scan_count),
            health_check_interval=_int(options, "health_check_interval",
                                       cls.health_check_interval, minimum=0),
            l1_max_entries=opt_int("l1_max_entries"), l1_max_bytes=opt_int("l1_max_bytes"),
            l1_max_ttl=None if l1_ttl is None else _num(options, "l1_max_ttl", 1.0,
                                                        maximum=_MAX_TTL),
            invalidation_ping_interval=_num(options, "invalidation_ping_interval",
                                            cls.invalidation_ping_interval),
        )


_DB_PATH = re.compile(r"/?([0-9]*)")


def _check_url(url: str) -> None:
    """ConfigError (``backend_config.url``) unless redis-py can use ``url`` as written.

    redis-py raises a bare ValueError for a bad port or option, and silently ignores a
    database path that is not a number (``redis://h/x`` would use db 0): both are refused
    here, at construction, instead of failing (or misleading) on the first call.
    """
    def bad(why: str) -> ConfigError:
        return ConfigError("backend_config.url", f"{why}: {redact_url(url)!r}")
    try:
        parsed = urlsplit(url)
        kwargs = redis.connection.parse_url(url)
        port = parsed.port
    except ValueError as exc:
        raise bad(f"malformed URL ({exc})") from None
    if url.startswith("unix://"):
        if not parsed.path:
            raise bad("a unix:// URL needs a socket path")
    else:
        if not parsed.hostname:
            raise bad("the URL names no host")
        if port == 0:
            raise bad("port must be 1-65535")
        if not _DB_PATH.fullmatch(parsed.path):
            raise bad("the path must be a database number, like /0")
    db = kwargs.get("db", 0)
    if not isinstance(db, int) or db < 0:
        raise bad("the database number must be an integer >= 0")


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for errors and log lines): the one in
    the user-info part and any query parameter whose name holds "password" (redis-py reads
    ``?password=`` and ``?ssl_password=`` from the query).

    >>> redact_url("redis://user:secret@host:6380/1")
    'redis://user:***@host:6380/1'
    >>> redact_url("rediss://host/0?password=secret&ssl_ca_certs=/ca.pem")
    'rediss://host/0?password=***&ssl_ca_certs=/ca.pem'
    """
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<unparsable URL>"
    if password is not None:
        netloc = parts.netloc.rpartition("@")
        user = (parts.username or "") + ":***"
        parts = parts._replace(netloc=f"{user}@{netloc[2]}")
    if "password" in parts.query.lower():
        fields = [(name, "***" if "password" in name.lower() else value)
                  for name, value in parse_qsl(parts.query, keep_blank_values=True)]
        parts = parts._replace(query=urlencode(fields, safe="/*"))
    return urlunsplit(parts)


def encode_namespace(namespace: str) -> bytes:
    """The namespace as it appears in Redis keys and channel names: injective, no ``:``.

    Bytes of the UTF-8 form (lone surrogates kept with ``surrogatepass``) outside
    ``[A-Za-z0-9_./-]`` become ``%XX``; ``%`` itself is encoded, so two namespaces never
    share an encoding. The result holds no ``:`` (the separator), no glob metacharacter
    (``* ? [ ] \\``) and no ``{``/``}`` (a Redis Cluster hash tag), whatever the namespace.

    >>> encode_namespace("app"), encode_namespace("app:s"), encode_namespace("50%{x}")
    (b'app', b'app%3As', b'50%25%7Bx%7D')
    """
    raw = namespace.encode("utf-8", "surrogatepass")
    return b"".join(bytes((c,)) if c in _NS_SAFE else b"%%%02X" % c for c in raw)


def _escape_glob(text: bytes) -> bytes:
    """Escape Redis MATCH glob metacharacters (``* ? [ ] \\``) in a literal."""
    return re.sub(rb"([*?\[\]\\])", rb"\\\1", text)


class KeyCodec:
    """Maps cache keys (str, bytes, int) to Redis keys under our versioned prefix and back."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.prefix = b"fbacache:v%d:%s:" % (FORMAT_VERSION, encode_namespace(namespace))
        self._n = len(self.prefix)
        #: MATCH pattern of every key we own.
        self.match_all = _escape_glob(self.prefix) + b"*"
        #: Pub/sub channel of the tiered backend (a channel, not a key: SCAN never sees it).
        self.channel = self.prefix + b"!invalidate"
        self._str = self.prefix + b"s:"  # the prefix of str keys, the common case

    def encode(self, key: Hashable) -> bytes:
        """Redis key of ``key``. Raises TypeError for key types other than str, bytes, int."""
        if type(key) is str:
            return self._str + key.encode("utf-8", "surrogatepass")
        if isinstance(key, bytes):
            return self.prefix + b"b:" + key
        if isinstance(key, int) and not isinstance(key, bool):
            return self.prefix + b"i:" + str(int(key)).encode("ascii")
        if isinstance(key, str):
            return self._str + str(key).encode("utf-8", "surrogatepass")
        raise TypeError(f"Redis backends store str, bytes or int keys, not "
                        f"{type(key).__name__}; use fbacache.keys.generate_cache_key")

    def encode_many(self, keys: Iterable[Hashable]) -> list[bytes]:
        """``[encode(k) for k in keys]``, ASCII str keys without a call each.

        >>> KeyCodec("app").encode_many(["a", 1])
        [b'fbacache:v2:app:s:a', b'fbacache:v2:app:i:1']
        """
        # the ASCII str keys joined to the prefix in one compiled call, the others encoded
        return prefix_keys(self._str, keys, self.encode)

    def decode(self, rkey: bytes) -> Optional[Hashable]:
        """Cache key of a Redis key we wrote; None for keys not in our layout."""
        if not rkey.startswith(self.prefix) or rkey[self._n + 1:self._n + 2] != b":":
            return None
        tag, body = rkey[self._n:self._n + 1], rkey[self._n + 2:]
        try:
            if tag == b"s":
                return body.decode("utf-8", "surrogatepass")
            if tag == b"b":
                return body
            if tag == b"i":
                return int(body)
        except (UnicodeDecodeError, ValueError):
            return None
        return None

    def match_for(self, pattern: Optional[str]) -> bytes:
        """A Redis MATCH pattern that is a superset of the str keys matching the glob ``pattern``.

        The literal head of the pattern narrows the scan; the caller still filters with
        :func:`fbacache.keys.compile_pattern` (Redis globs and ours differ on ``[!a]``/``\\``).
        """
        if pattern is None:
            return self.match_all
        head = pattern
        for i, ch in enumerate(pattern):
            if ch in _GLOB_SPECIALS:
                head = pattern[:i]
                break
        literal = self.prefix + b"s:" + head.encode("utf-8", "surrogatepass")
        return _escape_glob(literal) + b"*"


def make_client(opts: RedisOptions) -> Any:
    """A redis-py client for ``opts``: standalone ``redis.Redis`` or ``RedisCluster``.

    redis-py's own retries are disabled (``Retry(NoBackoff(), 0)``): a hidden retry would
    hide failures from our breaker and multiply latency (docs/redis.md in the sdist, "Quirks").
    """
    no_retry = RedisPyRetry(NoBackoff(), 0)
    try:
        if opts.cluster:
            return RedisCluster.from_url(
                opts.url, retry=no_retry, socket_timeout=opts.socket_timeout,
                socket_connect_timeout=opts.connect_timeout, max_connections=opts.pool_size,
                require_full_coverage=True)
        pool = redis.BlockingConnectionPool.from_url(
            opts.url, max_connections=opts.pool_size, timeout=opts.pool_timeout,
            socket_timeout=opts.socket_timeout, socket_connect_timeout=opts.connect_timeout,
            retry=no_retry, health_check_interval=opts.health_check_interval)
        # redis-py passes unknown query parameters (``?bogus=1``, ``?ssl_password=`` on a
        # plaintext URL) on to the connection class, which would raise TypeError at the first
        # command. Building one connection object (it does not connect) finds them now.
        pool.connection_class(**pool.connection_kwargs)
    except (ValueError, TypeError) as exc:  # redis-py's URL and option parsing
        raise ConfigError("backend_config.url", f"{exc}: {redact_url(opts.url)!r}") from None
    return redis.Redis(connection_pool=pool)


def disconnect_idle(client: Any) -> None:
    """Drop idle pooled connections (after a failure they are likely dead too)."""
    if isinstance(client, RedisCluster):
        return  # the cluster client refreshes its node table itself after connection errors
    try:
        client.connection_pool.disconnect(inuse_connections=False)
    except Exception:  # best effort on a broken client
        pass


def group_by_slot(client: Any, rkeys: Iterable[bytes]) -> list[list[bytes]]:
    """Keys grouped so each group may go in one multi-key command.

    Standalone Redis: one group. Cluster: one group per hash slot (keys sharing a
    ``{hash tag}`` share a slot, so they batch together).
    """
    keys = list(rkeys)
    if not isinstance(client, RedisCluster):
        return [keys] if keys else []
    groups: dict[int, list[bytes]] = {}
    for k in keys:
        groups.setdefault(client.keyslot(k), []).append(k)
    return list(groups.values())
