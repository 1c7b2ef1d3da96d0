"""Private ``redis-server`` processes for tests: free loopback ports, temp dirs, no persistence.

A :class:`RedisServer` is a real server that belongs to one test session: it listens on
``127.0.0.1`` on a port the kernel reported free, keeps its files in a fresh temporary directory,
never saves to disk, and is cleaned up however the session ends:

* ``stop()`` / the context manager / an ``atexit`` hook for orderly exits;
* a tiny watchdog process per server for disorderly ones: it holds the read end of a pipe whose
  write end only this Python process has, so when this process dies (even by ``SIGKILL``) the pipe
  reaches EOF and the watchdog kills the server and removes its directory.

Two sessions can run at once: ports come from the kernel, a start that loses a port race is
retried on a new port, and the server that answers the readiness check is verified to be *ours*
(its ``process_id`` is compared) rather than someone else's server that grabbed the port.

Example (needs ``redis-server`` on PATH)::

    >>> from fbacache.testing import RedisServer
    >>> with RedisServer() as server:                        # doctest: +SKIP
    ...     server.command("SET", "k", "v")
    ...     server.command("GET", "k")
    'OK'
    b'v'
"""
from __future__ import annotations

import atexit
import functools
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from fbacache.errors import ServerProcessError
from fbacache.testing._resp import Arg, RespError, command

__all__ = [
    "RedisServer",
    "find_redis_server",
    "find_redis_cli",
    "redis_server_version",
    "free_port",
]

LOOPBACK = "127.0.0.1"
# Cluster nodes listen on port + 10000 for the cluster bus (redis' fixed convention before 7.0).
CLUSTER_BUS_OFFSET = 10000

_PORT_IN_USE = re.compile(r"Address already in use|Could not create server TCP listening socket",
                          re.IGNORECASE)


def find_redis_server() -> str | None:
    """Path of the ``redis-server`` executable (``$FBACACHE_REDIS_SERVER`` wins), or None."""
    return shutil.which(os.environ.get("FBACACHE_REDIS_SERVER") or "redis-server")


def find_redis_cli() -> str | None:
    """Path of the ``redis-cli`` executable (``$FBACACHE_REDIS_CLI`` wins), or None."""
    return shutil.which(os.environ.get("FBACACHE_REDIS_CLI") or "redis-cli")


@functools.lru_cache(maxsize=None)
def redis_server_version(executable: str) -> tuple[int, int, int]:
    """Version of a ``redis-server`` binary as ``(major, minor, patch)``.

    Raises:
        ServerProcessError: the binary cannot be run or prints no ``v=X.Y.Z``.
    """
    try:
        out = subprocess.run([executable, "--version"], capture_output=True, text=True,
                             timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise ServerProcessError(f"cannot run {executable} --version: {exc}") from exc
    match = re.search(r"v=(\d+)\.(\d+)\.(\d+)", out)
    if not match:
        raise ServerProcessError(f"unrecognised `{executable} --version` output: {out!r}")
    return int(match[1]), int(match[2]), int(match[3])


def free_port(host: str = LOOPBACK, *, also_free_offset: int | None = None) -> int:
    """A TCP port on ``host`` that is free right now (the caller must still handle losing a race).

    With ``also_free_offset``, ``port + offset`` must be free too (cluster bus ports).

    Raises:
        ServerProcessError: no such port was found after many tries.
    """
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((host, 0))
            port = int(probe.getsockname()[1])
        if also_free_offset is None:
            return port
        other = port + also_free_offset
        if other > 65535:
            continue
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.bind((host, other))
        except OSError:
            continue
        return port
    raise ServerProcessError(f"no free port found on {host}")


# --- cleanup of everything this process started -------------------------------------------------

_LIVE: set["RedisServer"] = set()
_LIVE_LOCK = threading.Lock()
_OWNER_PID = os.getpid()


def _stop_all_at_exit() -> None:
    # A forked child (os.fork, multiprocessing "fork") inherits _LIVE but does not own those
    # servers: only the process that started them may stop them.
    if os.getpid() != _OWNER_PID:
        return
    with _LIVE_LOCK:
        servers = list(_LIVE)
    for server in servers:
        server.stop()


atexit.register(_stop_all_at_exit)

# The watchdog: blocks on stdin until this process closes it or dies, then kills the server and
# deletes its temp dir. Arguments are positional so no path is ever parsed by the shell.
_WATCHDOG_SCRIPT = 'read _ignored; kill -9 "$1" 2>/dev/null; sleep 0.2; rm -rf -- "$2"'


class RedisServer:
    """A private ``redis-server`` on a free loopback port, started by the constructor.

    Parameters:
        port: listen here instead of a free port (a port race is then not retried).
        extra_args: more ``--name value`` arguments for ``redis-server``.
        executable: path of ``redis-server``; default :func:`find_redis_server`.
        startup_timeout: seconds to wait for the first PING answer.

    Attributes: ``host``, ``port``, ``url`` (``redis://127.0.0.1:PORT/0``), ``pid``, ``dir``,
    ``version``.

    Raises:
        ServerProcessError: ``redis-server`` is missing, exits early, or does not answer in time.

    Example::

        with RedisServer() as server:
            client = server.client()
            server.pause(0.5)      # the next commands of every client wait ~0.5 s
            server.kill()          # SIGKILL: connections break, nothing is saved
            server.restart()       # same port, empty data set
    """

    def __init__(self, *, port: int | None = None, extra_args: Sequence[str] = (),
                 executable: str | None = None, startup_timeout: float = 10.0,
                 _bus_offset: int | None = None) -> None:
        exe = executable or find_redis_server()
        if not exe:
            raise ServerProcessError("redis-server not found on PATH: install it (e.g. apt-get "
                                     "install redis-server; the sdist's "
                                     "scripts/install-redis.sh does) or set FBACACHE_REDIS_SERVER")
        self.executable = exe
        self.version = redis_server_version(exe)
        if self.version[0] < 6:
            raise ServerProcessError(f"redis-server >= 6 is required, found {self.version}")
        self.host = LOOPBACK
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self._bus_offset = _bus_offset
        self._proc: subprocess.Popen[bytes] | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None
        self.dir = Path(tempfile.mkdtemp(prefix="fbacache-redis-"))
        self._closed = False
        with _LIVE_LOCK:
            _LIVE.add(self)
        try:
            if port is not None:
                self.port = port
                self._launch_and_wait(retry_port_race=False)
            else:
                self._start_on_free_port()
        except BaseException:
            self.stop()
            raise

    # -- properties --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0`` for redis-py's ``from_url``."""
        return f"redis://{self.host}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """Process id of the running server, or None when it is not running."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    @property
    def log_path(self) -> Path:
        """The server's log file (useful in failure messages)."""
        return self.dir / "redis.log"

    def is_running(self) -> bool:
        """True while the server process is alive (it may still be paused or suspended)."""
        return self.pid is not None

    # -- lifecycle ---------------------------------------------------------------------------

    def _start_on_free_port(self) -> None:
        last: ServerProcessError | None = None
        for _ in range(5):
            self.port = free_port(self.host, also_free_offset=self._bus_offset)
            try:
                self._launch_and_wait(retry_port_race=True)
                return
            except _PortRace as exc:  # someone took the port between probe and bind
                last = exc
        raise ServerProcessError(f"could not bind a free port after 5 tries: {last}")

    def _command_line(self) -> list[str]:
        args = [
            self.executable,
            "--port", str(self.port),
            "--bind", self.host,
            "--dir", str(self.dir),
            "--logfile", str(self.log_path),
            "--daemonize", "no",
            "--save", "",
            "--appendonly", "no",
        ]
        if self.version >= (7, 0, 0):
            # DEBUG SLEEP / DEBUG commands from loopback, for slow-server tests.
            args += ["--enable-debug-command", "local"]
        return args + self.extra_args

    def _launch_and_wait(self, *, retry_port_race: bool) -> None:
        stdio = open(self.dir / "stdio.log", "ab")
        try:
            # Own session: a Ctrl-C in the terminal reaches pytest, which tears down in order,
            # instead of racing that teardown by killing the server first.
            self._proc = subprocess.Popen(self._command_line(), stdin=subprocess.DEVNULL,
                                          stdout=stdio, stderr=subprocess.STDOUT,
                                          start_new_session=True)
        except OSError as exc:
            raise ServerProcessError(f"cannot start {self.executable}: {exc}") from exc
        finally:
            stdio.close()
        self._start_watchdog()
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self._proc.poll() is not None:
                logs = self._read_logs()
                self._proc = None
                self._stop_watchdog()
                if retry_port_race and _PORT_IN_USE.search(logs):
                    raise _PortRace(f"port {self.port} taken")
                raise ServerProcessError(f"redis-server exited during startup on port {self.port}:"
                                         f"\n{logs[-2000:]}")
            if self._answers_as_ours():
                return
            if time.monotonic() > deadline:
                self._terminate()
                logs = self._read_logs()[-2000:]
                raise ServerProcessError(f"redis-server on port {self.port} did not answer PING "
                                         f"within {self.startup_timeout}s:\n{logs}")
            time.sleep(0.01)

    def _answers_as_ours(self) -> bool:
        # The PING must come from our process: a concurrent session may own this port.
        try:
            info = command(self.host, self.port, "INFO", "server", timeout=1.0)
        except (OSError, RespError):  # not listening yet, or still LOADING
            return False
        match = re.search(rb"process_id:(\d+)", info or b"")
        return match is not None and self._proc is not None and int(match[1]) == self._proc.pid

    def _read_logs(self) -> str:
        chunks = []
        for name in ("stdio.log", "redis.log"):
            try:
                chunks.append((self.dir / name).read_text(errors="replace"))
            except OSError:
                pass
        return "\n".join(chunks)

    def _start_watchdog(self) -> None:
        assert self._proc is not None
        self._watchdog = subprocess.Popen(
            ["/bin/sh", "-c", _WATCHDOG_SCRIPT, "fbacache-redis-watchdog",
             str(self._proc.pid), str(self.dir)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)

    def _stop_watchdog(self) -> None:
        # SIGKILL, not closing the pipe: closing would make it kill a pid we have already reaped
        # (and that the kernel may have handed to an unrelated process).
        dog, self._watchdog = self._watchdog, None
        if dog is not None:
            dog.kill()
            dog.wait()
            if dog.stdin is not None:
                dog.stdin.close()

    def _terminate(self, timeout: float = 5.0) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            try:
                proc.send_signal(signal.SIGCONT)  # a suspended server cannot act on SIGTERM
                proc.terminate()
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        elif proc is not None:
            proc.wait()
        self._stop_watchdog()

    def stop(self) -> None:
        """Stop the server (SIGTERM; SIGKILL after 5 s) and delete its directory. Idempotent."""
        self._terminate()
        if not self._closed:
            self._closed = True
            shutil.rmtree(self.dir, ignore_errors=True)
        with _LIVE_LOCK:
            _LIVE.discard(self)

    def kill(self) -> None:
        """SIGKILL the server, as a crash would; :meth:`restart` brings it back on the same port."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        self._stop_watchdog()

    def restart(self, *, timeout: float = 10.0) -> None:
        """(Re)start the server on the same port with an empty data set.

        Stops it first if it is running. A port briefly held by another socket is retried until
        ``timeout``.

        Raises:
            ServerProcessError: the server is closed, or the port stays unavailable.
        """
        if self._closed:
            raise ServerProcessError("restart() after stop(): start a new RedisServer")
        self._terminate()
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._launch_and_wait(retry_port_race=True)
                return
            except _PortRace as exc:
                if time.monotonic() > deadline:
                    raise ServerProcessError(
                        f"port {self.port} stayed in use for {timeout}s") from exc
                time.sleep(0.05)

    def suspend(self) -> None:
        """SIGSTOP the server: connections still open (the kernel queues them), nothing answers."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT a server stopped by :meth:`suspend`."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGCONT)

    # -- commands ----------------------------------------------------------------------------

    def command(self, *args: Arg, timeout: float = 2.0) -> Any:
        """Run one command on a fresh raw connection (no redis-py, no retries) and return the reply.

        Raises:
            RespError: error reply. OSError: the server is unreachable or too slow.
        """
        return command(self.host, self.port, *args, timeout=timeout)

    def pause(self, seconds: float, mode: str = "ALL") -> None:
        """``CLIENT PAUSE`` clients for ``seconds`` (``mode`` "ALL" or "WRITE"); returns at once.

        The pause is issued on a separate connection, so the caller's clients simply see a slow
        server: their commands are held by the server until the pause ends.
        """
        args: list[Arg] = ["CLIENT", "PAUSE", max(1, int(seconds * 1000))]
        if self.version >= (6, 2, 0):
            args.append(mode)
        self.command(*args)

    def unpause(self, timeout: float = 2.0) -> None:
        """End a ``mode="WRITE"`` :meth:`pause` early (``CLIENT UNPAUSE``, redis >= 6.2).

        An ``ALL`` pause also holds the ``CLIENT UNPAUSE`` command itself, so it can only run out
        (or end with :meth:`restart`); this then raises ``OSError`` (timeout) after ``timeout``.
        Before 6.2 (no modes, no UNPAUSE) this is a no-op.
        """
        if self.version >= (6, 2, 0):
            self.command("CLIENT", "UNPAUSE", timeout=timeout)

    def flushall(self) -> None:
        """Delete every key on this private server (``FLUSHALL``); never point it at shared data."""
        self.command("FLUSHALL")

    def client(self, **kwargs: Any) -> Any:
        """A ``redis.Redis`` for this server (needs redis-py); kwargs go to ``from_url``."""
        import redis

        return redis.Redis.from_url(self.url, **kwargs)

    # -- context manager ---------------------------------------------------------------------

    def __enter__(self) -> "RedisServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.is_running() else ("stopped" if self._closed else "down")
        return f"<RedisServer {self.host}:{self.port} {state} pid={self.pid}>"


class _PortRace(ServerProcessError):
    """Internal: the chosen port was taken before redis-server could bind it."""
