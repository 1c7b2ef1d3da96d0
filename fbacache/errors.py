"""Typed exceptions raised by fbacache.

Every error the library raises on purpose derives from :class:`FbaCacheError`,
so ``except fbacache.FbaCacheError`` catches all of them.
"""
from __future__ import annotations


class FbaCacheError(Exception):
    """Base class of every error raised by fbacache."""


class ConfigError(FbaCacheError, ValueError):
    """A configuration value is invalid; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class ManagerNotRunning(FbaCacheError, RuntimeError):
    """An operation was attempted on a stopped :class:`CacheManager`."""


class EntryTooLarge(FbaCacheError, ValueError):
    """The stored form of a value exceeds ``max_entry_size``."""


class SerializationError(FbaCacheError, ValueError):
    """A value cannot be encoded by the configured serializer."""


class BackendError(FbaCacheError):
    """A backend failed and no fallback could serve the request."""


class UnsafeConfiguration(FbaCacheError, ValueError):
    """The configuration would unpickle data that other processes can write."""


class SingleFlightTimeout(FbaCacheError, TimeoutError):
    """A ``get_or_set`` waiter gave up waiting for another thread's factory."""


class CorruptFile(FbaCacheError, ValueError):
    """A cache file exists but cannot be decoded; it is corrupt, never "empty"."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class UnsafePath(FbaCacheError, ValueError):
    """A path resolves outside the configured directories or through a symlink."""


class NotRegularFile(CorruptFile, UnsafePath):
    """A file to be read is a symlink, FIFO, socket, device or directory: it is not opened.

    It is both :class:`CorruptFile` (as cache data it is unusable: a counted miss,
    a "corrupt" health verdict) and :class:`UnsafePath` (it was never followed).
    """


class BackupError(FbaCacheError):
    """A backup could not be written, or a backup failed its checksum verification."""


class MaintenanceAborted(FbaCacheError):
    """A maintenance operation stopped before changing anything (e.g. its safety backup failed)."""


class ServerProcessError(FbaCacheError, RuntimeError):
    """A helper server of :mod:`fbacache.testing` (e.g. redis-server) failed to start or stop."""


class LockTimeout(FbaCacheError, TimeoutError):
    """A cross-process file lock could not be acquired in time."""


class MissingDependency(FbaCacheError, ImportError):
    """An optional dependency is not installed; the message names the pip extra to install."""


class InvariantViolation(FbaCacheError, AssertionError):
    """A ``check()`` found broken internal bookkeeping (a bug, or memory corruption).

    Raised explicitly, never by ``assert``, so the checks also run under ``python -O``;
    it stays an AssertionError for callers that catch that.
    """


class PurePythonCoreWarning(RuntimeWarning):
    """The compiled core is not installed (no C compiler at install time): fbacache runs on
    its pure-Python core, with the same results but slower. Not raised when the pure-Python
    core was asked for with ``FBACACHE_NO_EXTENSIONS=1``."""
