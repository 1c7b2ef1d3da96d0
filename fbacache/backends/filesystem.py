"""``backend_type='filesystem'``: one FBA cache type's directory of JSON files.

Each entry is one ``<key>.json`` file written atomically by
:class:`fbacache.fba.JsonFileStore`'s primitives, so the FBA agent keeps reading
the files the manager writes and the manager reads the agent's files. Hence:

- **JSON only.** The manager must run with ``serialization_format='json'``, no
  compression and no signing key (checked when the manager is built). Files are
  written with 2-space indentation like the agent's.
- **Expiry is the file's mtime** against the directory's TTL (``ttl_hours`` of
  the cache type, or ``ttl_seconds``), the rule every reader of the directory
  already applies. A shorter per-entry ``ttl`` is expressed by back-dating the
  mtime so that the agent and ``maintain clear --strategy selective`` agree on
  when it expires; a longer one is capped at the directory's TTL; in a directory
  that never expires (``ttl_hours: -1``) per-entry TTLs do not apply.
- **A corrupt file is a counted miss** (``corrupt_entries`` in the metrics). It
  is never deleted by a read; a later ``set`` replaces it, and
  ``python -m fbacache.maintain repair`` quarantines it.
- **Only regular files are opened** (:func:`fbacache.fba.safe.open_regular`): a
  symlink, FIFO, socket or device named ``<key>.json`` is a miss (``exists`` is
  False) and never blocks; a file larger than ``max_decompressed_size`` is a miss
  without being read (its size is checked on the opened descriptor and at most
  that many bytes plus one are ever read). Both are counted in ``stats()`` as
  ``skipped_files``.
- **Capacity is not enforced** here: ``max_entries``/``max_bytes`` never delete
  the agent's data; size is managed by ``maintain clear --strategy size_based``.
- ``shared = True``: other processes write these files, so pickle is refused.
- Metadata cannot be kept (the files are plain documents): ``set`` with
  metadata raises :class:`~fbacache.errors.ConfigError`.

``backend_config`` is either ``{"directory": PATH, "ttl_seconds": T}`` or
``{"config": "system_config.json", "cache_type": "amazon_cache", "root": DIR}``
(``root`` optional, default the config file's directory); optional ``clock``
(wall-clock seconds, default ``time.time``) and ``indent`` (default 2; ``None`` or a
whole number 0-16, anything else is a :class:`~fbacache.errors.ConfigError` at construction).
Keys are file stems (no ``/``, no leading ``.``); the manager's ``key_prefix``
is prepended to the stem.
"""
from __future__ import annotations

import json
import math
import os
import time
from typing import Any, Callable, Hashable, Mapping, Optional

from fbacache._validate import check_duration
from fbacache.backends.base import Backend, BackendSettings
from fbacache.codecs import MARKER_RAW
from fbacache.errors import ConfigError, NotRegularFile
from fbacache.fba.atomic import atomic_write_bytes
from fbacache.fba.safe import open_regular, read_bounded
from fbacache.fba.store import JsonFileStore
from fbacache.keys import compile_pattern
from fbacache.metrics import Counter

__all__ = ["FilesystemBackend"]

_OPTIONS = {"directory", "ttl_seconds", "config", "cache_type", "root", "clock", "indent"}
_RAW = bytes((MARKER_RAW,))
_MAX_INDENT = 16


def _indent(value: Any) -> Optional[int]:
    """The validated ``indent`` option: json.dumps would accept a str and write invalid JSON."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_INDENT:
        raise ConfigError("backend_config.indent",
                          f"must be None or a whole number 0-{_MAX_INDENT}, got {value!r}")
    return value


def _resolve(options: Mapping[str, Any]) -> tuple[str, Optional[float]]:
    """(directory, ttl_seconds) from ``backend_config``; ConfigError naming the bad option."""
    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        raise ConfigError("backend_config", f"unknown filesystem option(s) {unknown}; "
                          f"known: {sorted(_OPTIONS)}")
    ttl = options.get("ttl_seconds")
    if ttl is not None:  # math.inf = never expires, like None; 1e300 would overflow mtimes
        ttl = check_duration(ttl, "backend_config.ttl_seconds")
    if "directory" in options:
        if "config" in options or "cache_type" in options:
            raise ConfigError("backend_config", "give either 'directory' or "
                              "'config' + 'cache_type', not both")
        directory = options["directory"]
        if not isinstance(directory, (str, os.PathLike)):
            raise ConfigError("backend_config.directory", f"must be a path, got {directory!r}")
        return os.path.abspath(os.fspath(directory)), ttl
    if "config" not in options or "cache_type" not in options:
        raise ConfigError("backend_config", "the filesystem backend needs 'directory', or "
                          "'config' (a system_config.json path) and 'cache_type'")
    from fbacache.fba.config import load_config

    try:
        cfg = load_config(os.fspath(options["config"]), options.get("root"))
    except OSError as exc:  # a directory, unreadable, ...: a config mistake, not a crash
        raise ConfigError("backend_config.config",
                          f"cannot read {options['config']!r}: {exc.strerror or exc}") from None
    name = options["cache_type"]
    if name not in cfg.cache_types:
        raise ConfigError("backend_config.cache_type",
                          f"{name!r} is not a cache type of {options['config']}; "
                          f"known: {sorted(cfg.cache_types)}")
    t = cfg.cache_types[name]
    return t.directory, ttl if ttl is not None else t.ttl_seconds


class FilesystemBackend(Backend):
    """JSON files in one directory, shared with the FBA agent (see the module doc).

    >>> import tempfile
    >>> from fbacache import CacheManager
    >>> d = tempfile.mkdtemp()
    >>> with CacheManager(backend_type="filesystem", serialization_format="json",
    ...                   backend_config={"directory": d, "ttl_seconds": 3600}) as cache:
    ...     cache.set("amazon_B000000001", {"asin": "B000000001", "price": 9.5})
    ...     cache.get("amazon_B000000001")
    True
    {'asin': 'B000000001', 'price': 9.5}
    >>> print(open(os.path.join(d, "amazon_B000000001.json")).read())
    {
      "asin": "B000000001",
      "price": 9.5
    }
    """

    name = "filesystem"
    shared = True
    stores_objects = False

    def __init__(self, settings: BackendSettings) -> None:
        super().__init__(settings)
        options = dict(settings.options)
        directory, self._ttl = _resolve(options)
        clock = options.get("clock", time.time)
        if not callable(clock):
            raise ConfigError("backend_config.clock", "must be a callable returning seconds")
        self._clock: Callable[[], float] = clock
        self._indent = _indent(options.get("indent", 2))
        self._max_size = settings.max_item_size
        self._prefix = settings.key_prefix
        self.store = JsonFileStore(directory, self._ttl, clock=clock)
        self.directory = self.store.directory
        self._hits = Counter()
        self._misses = Counter()
        self._expired = Counter()
        self._skipped = Counter()

    @classmethod
    def check_manager_config(cls, config: Any) -> None:
        """Refuse manager settings that would write files the FBA agent cannot read."""
        if config.serialization_format != "json":
            raise ConfigError("serialization_format", "the filesystem backend stores the FBA "
                              "agent's JSON files: use serialization_format='json'")
        if config.compression is not None:
            raise ConfigError("compression", "the filesystem backend writes plain JSON files; "
                              "compression must be None")
        if config.signing_key is not None:
            raise ConfigError("signing_key", "the filesystem backend writes plain JSON files; "
                              "signing is not supported")

    # ------------------------------------------------------------------ helpers
    def _stem(self, key: Hashable) -> Optional[str]:
        """File stem of ``key``, or None when the key cannot name a file."""
        if not isinstance(key, str):
            return None
        stem = self._prefix + key
        try:
            self.store.path(stem)
        except ConfigError:
            return None
        return stem

    def _stem_or_raise(self, key: Hashable) -> str:
        stem = self._stem(key)
        if stem is None:
            raise ConfigError("key", f"{key!r} cannot name a file (str without '/', NUL or a "
                              "leading '.', at most 200 characters)")
        return stem

    def _read(self, key: Hashable, count: bool) -> Any:
        """Framed bytes of a fresh file, or None (missing, expired, not regular, too big, bad key)."""
        stem = self._stem(key)
        if stem is None:
            return None
        path = self.store.path(stem)
        try:
            fd, st = open_regular(path)  # O_NOFOLLOW | O_NONBLOCK, then fstat: a FIFO never blocks
        except NotRegularFile:
            self._skipped.inc()
            return None
        except OSError:  # missing, permission denied
            return None
        try:
            if self._ttl is not None and self._clock() - st.st_mtime >= self._ttl:
                if count:
                    self._expired.inc()
                return None
            cap = self._max_size
            if cap is not None and st.st_size > cap:
                self._skipped.inc()  # refused on its size, before a byte is read
                return None
            data = read_bounded(fd, cap)  # a file growing while read stops at cap + 1 bytes
        finally:
            os.close(fd)
        if data is None:
            self._skipped.inc()
            return None
        # The codec sees a raw JSON frame: a corrupt file fails there and is
        # counted as a corrupt entry, which the metrics report as a miss.
        return _RAW + data

    def _mtime_for(self, ttl: Optional[float]) -> float:
        now = self._clock()
        if self._ttl is None or ttl is None or ttl >= self._ttl:
            return now
        return now - (self._ttl - ttl)  # back-dated: every reader sees it expire at now+ttl

    # ------------------------------------------------------------------ reads
    def get(self, key: Hashable, default: Any = None) -> Any:
        """Framed bytes of the fresh file of ``key`` or ``default``; counts a hit or miss."""
        item = self._read(key, count=True)
        if item is None:
            self._misses.inc()
            return default
        self._hits.inc()
        return item

    def peek(self, key: Hashable, default: Any = None) -> Any:
        """Like :meth:`get` without counting."""
        item = self._read(key, count=False)
        return default if item is None else item

    def contains(self, key: Hashable) -> bool:
        """A fresh, regular file exists for ``key`` (a corrupt one counts)."""
        stem = self._stem(key)
        return stem is not None and self.store.exists(stem)

    def keys(self, pattern: Optional[str] = None) -> list[Hashable]:
        """Keys with a fresh file (prefix stripped), optionally glob-filtered."""
        prefix, n = self._prefix, len(self._prefix)
        match = None if pattern is None else compile_pattern(pattern)
        out: list[Hashable] = []
        for stem in self.store.keys():
            if stem.startswith(prefix):
                key = stem[n:]
                if match is None or match(key):
                    out.append(key)
        return out

    def ttl(self, key: Hashable) -> Optional[float]:
        """Seconds until the file's mtime leaves the window; inf without a TTL; None if missing."""
        if not self.contains(key):
            return None
        if self._ttl is None:
            return math.inf
        age = self.store.age(self._stem_or_raise(key))
        if age is None:
            return None
        return max(0.0, self._ttl - age)

    # ------------------------------------------------------------------ writes
    def set(self, key: Hashable, item: Any, ttl: Optional[float], size: int,
            metadata: Optional[Mapping[str, Any]] = None) -> None:
        """Write the JSON document of ``item`` to ``<key>.json`` atomically."""
        if metadata:
            raise ConfigError("metadata", "the filesystem backend stores plain JSON documents "
                              "and cannot keep metadata")
        stem = self._stem_or_raise(key)
        if not isinstance(item, (bytes, bytearray)) or not item or item[0] != MARKER_RAW:
            raise ConfigError("serialization_format", "the filesystem backend needs raw JSON "
                              "frames (json, no compression, no signing)")
        data = bytes(item[1:])
        if self._indent is not None:
            data = json.dumps(json.loads(data), indent=self._indent,
                              ensure_ascii=False).encode("utf-8")
        os.makedirs(self.directory, exist_ok=True)
        atomic_write_bytes(self.store.path(stem), data, mtime=self._mtime_for(ttl))

    def delete(self, key: Hashable) -> bool:
        """Remove the file of ``key``; True if there was one."""
        stem = self._stem(key)
        return stem is not None and self.store.delete(stem)

    def discard_if(self, key: Hashable, item: Any) -> bool:
        """Never delete on a failed decode: corrupt files are left for ``maintain repair``."""
        return False

    def touch(self, key: Hashable, ttl: Optional[float]) -> bool:
        """Reset the mtime so the entry is fresh for ``ttl`` more seconds; False if missing."""
        if not self.contains(key):
            return False
        stamp = self._mtime_for(ttl)
        try:
            os.utime(self.store.path(self._stem_or_raise(key)), (stamp, stamp),
                     follow_symlinks=False)
        except FileNotFoundError:
            return False
        return True

    def clear(self) -> None:
        """Delete every entry file of this directory (only the prefixed ones with a prefix)."""
        if not self._prefix:
            self.store.clear()
            return
        for stem in list(self.store._names()):
            if stem.startswith(self._prefix):
                self.store.delete(stem)

    # ------------------------------------------------------------------ housekeeping
    def stats(self) -> dict[str, Any]:
        """Hit/miss counters of this process and the directory's fresh files and bytes."""
        entries = size = 0
        for stem in self.store.keys():
            if stem.startswith(self._prefix):
                try:
                    size += os.lstat(self.store.path(stem)).st_size
                    entries += 1
                except FileNotFoundError:
                    pass
        return {"hits": self._hits.value, "misses": self._misses.value, "evictions": 0,
                "expirations": self._expired.value, "current_entries": entries,
                "skipped_files": self._skipped.value,
                "current_size_bytes": size, "directory": self.directory}
