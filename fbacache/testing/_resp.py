"""A minimal blocking RESP2 client used by the test-server helpers.

The helpers must work (start, health-check, pause, flush) without redis-py, and without redis-py's
own retry/reconnect behaviour getting between a test and the raw server: a health check that
silently retries would hide exactly the faults the fault tests provoke. One command per connection
is plenty for that job.
"""
from __future__ import annotations

import socket
from typing import Any, BinaryIO, Union

Arg = Union[str, bytes, int, float]


class RespError(Exception):
    """The server answered a command with an error reply (``-ERR ...``)."""


def _encode(args: tuple[Arg, ...]) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode()
        else:
            data = str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _read_reply(stream: BinaryIO) -> Any:
    line = stream.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("connection closed in the middle of a reply")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RespError(rest.decode(errors="replace"))
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        if size < 0:
            return None
        data = stream.read(size + 2)
        if len(data) != size + 2:
            raise ConnectionError("connection closed in the middle of a bulk reply")
        return data[:-2]
    if kind == b"*":
        count = int(rest)
        if count < 0:
            return None
        return [_read_reply(stream) for _ in range(count)]
    raise ConnectionError(f"unexpected RESP reply type {kind!r}")


def command(host: str, port: int, *args: Arg, timeout: float = 2.0) -> Any:
    """Send one command on a fresh connection and return its decoded reply.

    Simple strings come back as ``str``, bulk strings as ``bytes``, integers as ``int`` and
    arrays as lists.

    Raises:
        RespError: the server replied with an error.
        OSError: connecting, sending or receiving failed (includes ``socket.timeout``).
    """
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(_encode(args))
        with sock.makefile("rb") as stream:
            return _read_reply(stream)
