"""Shared state of one maintenance run: config, clock, I/O seams, progress.

Tests replace the seams (``writer`` for injected ``ENOSPC``, ``clock`` for ages,
``load_probe``/``sleep`` for ``performance_aware``) through the public
:class:`~fbacache.fba.ops.Maintenance` constructor, never by patching modules.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Optional

from fbacache.errors import ConfigError
from fbacache.fba.atomic import Writer
from fbacache.fba.config import CacheTypeConfig, FsConfig
from fbacache.fba.safe import anchor_for, make_dirs, real_dir
from fbacache.fba.scan import FileInfo, scan_dir

__all__ = ["Context", "Progress", "default_load_probe", "os_error_text"]

Progress = Callable[[str, int, int], None]


def default_load_probe() -> float:
    """1-minute load average divided by the CPU count (1.0 = every core busy)."""
    try:
        return os.getloadavg()[0] / (os.cpu_count() or 1)
    except OSError:  # pragma: no cover - platforms without getloadavg
        return 0.0


def os_error_text(exc: OSError, path: str) -> str:
    """One line for an ``OSError`` met while working on ``path``: ``"cannot read X: reason"``.

    Example:
        >>> os_error_text(NotADirectoryError(20, "Not a directory", "/srv/a"), "/srv")
        'cannot access /srv/a: Not a directory'
    """
    where = exc.filename if isinstance(exc.filename, str) else path
    return f"cannot access {where}: {exc.strerror or exc}"


@dataclass
class Context:
    """Config plus the replaceable seams used by every operation."""

    config: FsConfig
    writer: Optional[Writer] = None
    clock: Callable[[], float] = time.time
    load_probe: Callable[[], float] = default_load_probe
    sleep: Callable[[float], None] = time.sleep
    progress: Optional[Progress] = None
    _run_id: Optional[str] = field(default=None, repr=False)

    def select(self, names: Optional[Iterable[str]] = None) -> list[CacheTypeConfig]:
        """The configured cache types named in ``names`` (all when ``None``).

        Raises:
            ConfigError: a name is not a configured cache type.
        """
        types = self.config.cache_types
        if not names:
            return list(types.values())
        out = []
        for n in names:
            if n not in types:
                raise ConfigError("--cache-type", f"{n!r} is not a configured cache type "
                                  f"(configured: {', '.join(types) or 'none'})")
            out.append(types[n])
        return out

    def scan(self, t: CacheTypeConfig) -> list[FileInfo]:
        """All files of type ``t``'s directory, skipping other types' nested directories."""
        return list(self.iter_scan(t))

    def iter_scan(self, t: CacheTypeConfig, *, stat: bool = True,
                  ordered: bool = False) -> Iterator[FileInfo]:
        """:meth:`scan` as a stream: one file at a time, nothing kept (``metrics``, ``validate``).

        ``stat=False``: regular files come without size and mtime; ``ordered=True``: sorted
        by path component (``backup``; see :func:`~fbacache.fba.scan.scan_dir`).

        Raises (while iterating):
            OSError: the directory (or a sub-directory) cannot be read.
        """
        return scan_dir(t.name, t.directory, exclude=self.other_dirs(t), stat=stat,
                        ordered=ordered)

    def other_dirs(self, t: CacheTypeConfig) -> list[str]:
        """The other types' directories, which a scan of ``t`` never enters."""
        return [o.directory for o in self.config.cache_types.values() if o.name != t.name]

    def tool_anchor(self, name: str) -> str:
        """Where symlink checks of tool directory ``name`` start (see :func:`~fbacache.fba.safe.anchor_for`)."""
        return anchor_for(self.config.tool_dir(name), self.config.root)

    def tool_path(self, name: str, path: str, *, create: bool = False) -> bool:
        """Check (or create) ``path`` inside tool directory ``name`` without following symlinks.

        Returns whether it exists as a real directory.

        Raises:
            UnsafePath: a component between the root and ``path`` is a symlink; a
                symlinked ``.fbacache/quarantine`` is never written through.
        """
        anchor = self.tool_anchor(name)
        if create:
            make_dirs(path, anchor)
            return True
        return real_dir(path, anchor)

    def run_id(self) -> str:
        """A sortable id for this run (UTC timestamp + pid), fixed on first use."""
        if self._run_id is None:
            from datetime import datetime, timezone  # only verbs that write need it
            ts = datetime.fromtimestamp(self.clock(), timezone.utc).strftime("%Y%m%d_%H%M%S")
            self._run_id = f"{ts}_{os.getpid()}"
        return self._run_id

    def command(self, verb: str, *args: str) -> str:
        """A full, copy-pasteable command line running ``verb`` on this config and root.

        Example:
            >>> from fbacache.fba.config import parse_config
            >>> cfg = parse_config({}, "/srv/fba", source="/srv/fba/system_config.json")
            >>> Context(cfg).command("backup", "--cache-type", "amazon_cache")
            'python -m fbacache.maintain backup --config /srv/fba/system_config.json --root /srv/fba --cache-type amazon_cache'
        """
        argv = ["python", "-m", "fbacache.maintain", verb]
        if self.config.source:
            argv += ["--config", os.path.abspath(self.config.source)]
        argv += ["--root", self.config.root, *args]
        import shlex
        return shlex.join(argv)

    def tick(self, label: str, done: int, total: int) -> None:
        """Report progress (every call is cheap when no progress sink is attached)."""
        if self.progress is not None:
            self.progress(label, done, total)

    def expired(self, t: CacheTypeConfig, fi: FileInfo) -> bool:
        """True when ``fi`` is older than ``t``'s TTL (never for ``ttl_hours == -1`` or for
        protected files that ``selective_clear_config`` preserves)."""
        ttl = t.ttl_seconds
        if fi.protected and self.preserves_protected(t):
            return False
        return ttl is not None and fi.age(self.clock()) > ttl

    def preserves_protected(self, t: CacheTypeConfig) -> bool:
        """True when ``t``'s protected files (the system's memory) never expire:
        ``selective_clear_config`` preserves them."""
        sel = self.config.selective
        return not ((t.name == "ai_category_cache" and not sel["preserve_ai_categories"])
                    or (t.name == "linking_map" and not sel["preserve_linking_map"]))
