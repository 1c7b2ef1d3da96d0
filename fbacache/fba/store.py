"""A small key -> JSON-file store over one cache directory, with mtime TTL.

This is the storage half a ``backend_type='filesystem'`` CacheManager backend
needs: ``get/set/delete/exists/keys/clear`` plus ``update`` for locked
read-modify-write. Keys are file stems (``amazon_B08B1P9KWC_5053249240312``
is stored as ``amazon_B08B1P9KWC_5053249240312.json``), so the store reads and
writes the FBA system's own files.

Guarantees: writes are atomic and durable (temp + fsync + rename + dir fsync);
a corrupt file raises :class:`~fbacache.errors.CorruptFile` from ``get`` and
``update`` (a backend should count it as a miss) and is never overwritten by
``update``; freshness is ``now - mtime < ttl``.

Example:
    >>> import tempfile
    >>> s = JsonFileStore(tempfile.mkdtemp(), ttl_seconds=3600)
    >>> s.set("amazon_B000000001", {"asin": "B000000001"})
    >>> s.get("amazon_B000000001")
    {'asin': 'B000000001'}
    >>> s.update("links", lambda old: (old or []) + [1], default=None)
    [1]
    >>> sorted(s.keys())
    ['amazon_B000000001', 'links']
"""
from __future__ import annotations

import os
import stat
import time
from typing import Any, Callable, Iterator, Optional

from fbacache._util import MISSING
from fbacache.errors import ConfigError
from fbacache.fba.atomic import Writer, atomic_write_json, fsync_dir, is_temp_name, read_json
from fbacache.fba.locking import file_lock

__all__ = ["JsonFileStore"]

_SUFFIX = ".json"


class JsonFileStore:
    """JSON documents in ``directory``, one file per key, fresh for ``ttl_seconds``.

    Args:
        directory: where the files live (created on first write).
        ttl_seconds: freshness window by mtime; ``None`` means entries never expire.
        writer: optional ``writer(fd, chunk)`` seam for fault injection.
        clock: time source for freshness.
        indent: JSON indentation of written files (the FBA system writes 2).
    """

    def __init__(self, directory: str, ttl_seconds: Optional[float] = None, *,
                 writer: Optional[Writer] = None, clock: Callable[[], float] = time.time,
                 indent: Optional[int] = 2, lock_timeout: float = 30.0) -> None:
        self.directory = os.path.abspath(directory)
        self.ttl_seconds = ttl_seconds
        self._writer = writer
        self._clock = clock
        self._indent = indent
        self._lock_timeout = lock_timeout

    def path(self, key: str) -> str:
        """The file holding ``key``.

        Raises:
            ConfigError: the key is not a safe file stem (separators, ``..``, hidden, NUL).
        """
        if (not key or "/" in key or "\\" in key or "\0" in key or key.startswith(".")
                or len(key) > 200):
            raise ConfigError("key", f"{key!r} is not a valid file-store key")
        return os.path.join(self.directory, key + _SUFFIX)

    def _fresh(self, path: str) -> bool:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            return False  # a symlink is never followed, a FIFO never opened: no entry
        return self.ttl_seconds is None or self._clock() - st.st_mtime < self.ttl_seconds

    def get(self, key: str, default: Any = None) -> Any:
        """The stored value, or ``default`` when absent or expired.

        Raises:
            CorruptFile: the file exists but does not parse, or (``NotRegularFile``)
                was swapped for a symlink or FIFO after the freshness check.
        """
        path = self.path(key)
        try:
            if not self._fresh(path):
                return default
            return read_json(path)
        except FileNotFoundError:
            return default

    def set(self, key: str, value: Any) -> None:
        """Store ``value`` atomically (readers see the old or the new file, never a mix)."""
        os.makedirs(self.directory, exist_ok=True)
        atomic_write_json(self.path(key), value, writer=self._writer, indent=self._indent)

    def delete(self, key: str) -> bool:
        """Remove ``key``; returns whether a file was removed."""
        try:
            os.unlink(self.path(key))
        except FileNotFoundError:
            return False
        fsync_dir(self.directory)
        return True

    def exists(self, key: str) -> bool:
        """True when ``key`` has a fresh regular file (corrupt ones count; links, FIFOs do not)."""
        try:
            return self._fresh(self.path(key))
        except FileNotFoundError:
            return False

    def age(self, key: str) -> Optional[float]:
        """Seconds since ``key`` was written, or ``None`` when absent."""
        try:
            return max(0.0, self._clock() - os.lstat(self.path(key)).st_mtime)
        except FileNotFoundError:
            return None

    def _names(self) -> Iterator[str]:
        try:
            entries = os.scandir(self.directory)
        except FileNotFoundError:
            return
        with entries:
            for de in entries:
                n = de.name
                if n.endswith(_SUFFIX) and not n.startswith(".") and not is_temp_name(n) \
                        and de.is_file(follow_symlinks=False):
                    yield n[: -len(_SUFFIX)]

    def keys(self) -> list[str]:
        """Keys with a fresh entry."""
        return [k for k in self._names() if self.exists(k)]

    def clear(self) -> int:
        """Delete every entry file of this store (fresh or not); returns the count."""
        n = 0
        for k in list(self._names()):
            try:
                os.unlink(self.path(k))
                n += 1
            except FileNotFoundError:
                pass
        if n:
            fsync_dir(self.directory)
        return n

    def update(self, key: str, fn: Callable[[Any], Any], default: Any = MISSING) -> Any:
        """Read-modify-write ``key`` under its cross-process lock; returns the new value.

        ``fn`` receives the current value (``default`` when absent). Expiry is
        ignored here: an append-only document like the linking map must never be
        restarted from scratch because it is old.

        Raises:
            CorruptFile: the current file is corrupt; it is left untouched.
            KeyError: absent and no ``default`` given.
            LockTimeout: another process held the lock too long.
        """
        path = self.path(key)
        os.makedirs(self.directory, exist_ok=True)
        with file_lock(path, timeout=self._lock_timeout):
            try:
                current = read_json(path)
            except FileNotFoundError:
                if default is MISSING:
                    raise KeyError(key) from None
                current = default
            new = fn(current)
            atomic_write_json(path, new, writer=self._writer, indent=self._indent)
            return new
