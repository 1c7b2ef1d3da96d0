"""Our keys on the server: multi-key commands batched per hash slot, and ``SCAN`` within our prefix.

:class:`Keyspace` sends the commands of :class:`~fbacache.backends.redis.backend.RedisBackend`
that touch many keys: ``MGET`` (with ``PTTL``), ``UNLINK``, the clear of our prefix and the
count of its entries. On one server a batch is one command; on a cluster it is one command
per hash slot, all in one pipeline (one round trip per node). ``keys``/``clear`` walk our
prefix with ``SCAN`` and delete with ``UNLINK``; ``KEYS`` and ``FLUSHDB`` are never sent.

``publish`` (the tiered backend's invalidation, ``publish(pipe, rkeys)``; ``rkeys`` None means
everything) is handed to each call that writes, never stored: the backend's owner may set it
after the backend was built. :func:`execute` runs a write pipeline with it.

The backend builds a new :class:`Keyspace` with each client (a forked child builds its own).
"""
from __future__ import annotations

from typing import Any, Callable, Hashable, Iterator, Optional

from fbacache.backends.redis.client import KeyCodec, group_by_slot
from fbacache.keys import compile_pattern

__all__ = ["Keyspace", "Publish", "execute"]

#: ``publish(pipe, rkeys)`` appends the invalidation of ``rkeys`` (None: everything) to a
#: write pipeline, or returns what must run once the pipeline's replies are in.
Publish = Callable[[Any, Optional[list[bytes]]], Any]

_BATCH = 1000  # keys per UNLINK / STRLEN pipeline while walking the prefix


def execute(pipe: Any, rkeys: Optional[list[bytes]], publish: Optional[Publish]) -> list[Any]:
    """Run the write pipeline ``pipe``; the replies.

    With ``publish``, the invalidation of ``rkeys`` (None: everything) goes with the writes
    (one round trip), or after their replies where it cannot be ordered with them.
    """
    after = None if publish is None else publish(pipe, rkeys)
    replies: list[Any] = pipe.execute()
    if after is not None:
        after()
    return replies


class Keyspace:
    """The keys of one namespace (``codec``) on the server(s) of ``client``."""

    def __init__(self, client: Any, cluster: bool, codec: KeyCodec, scan_count: int) -> None:
        self.client = client
        self.cluster = cluster
        self.codec = codec
        self.scan_count = scan_count

    def groups(self, rkeys: list[bytes]) -> list[list[bytes]]:
        """``rkeys`` batched per multi-key command: all on one server, per slot on a cluster."""
        if not self.cluster:
            return [rkeys] if rkeys else []
        return group_by_slot(self.client, rkeys)

    def scan(self, match: bytes) -> Iterator[bytes]:
        """``SCAN MATCH match`` (on every primary of a cluster)."""
        if self.cluster:
            return iter(self.client.scan_iter(match=match, count=self.scan_count,
                                              target_nodes=self.client.PRIMARIES))
        return iter(self.client.scan_iter(match=match, count=self.scan_count))

    def mget(self, keys: list[Hashable]) -> tuple[list[Hashable], list[Any]]:
        """``(keys, MGET replies)`` in matching order (the order changes on a cluster)."""
        rkeys = self.codec.encode_many(keys)
        groups = self.groups(rkeys)
        if len(groups) == 1:
            return keys, self.client.mget(rkeys)
        # One MGET per hash slot, all in one pipeline (one round trip per node).
        # (execute_command: redis-py's cluster pipeline blocks its mget() helper, but a
        # single-slot MGET is a valid pipelined command)
        by_rkey = dict(zip(rkeys, keys))
        pipe = self.client.pipeline(transaction=False)
        for group in groups:
            pipe.execute_command("MGET", *group)
        replies = pipe.execute()
        return [by_rkey[k] for g in groups for k in g], [v for r in replies for v in r]

    def mget_pttl(self, rkeys: list[bytes]) -> tuple[list[bytes], list[Any], list[Any]]:
        """``(rkeys, MGET replies, PTTL replies)`` in matching order, one pipeline."""
        groups = self.groups(rkeys)
        pipe = self.client.pipeline(transaction=False)
        for group in groups:
            pipe.execute_command("MGET", *group)
        order = [k for g in groups for k in g]
        for rkey in order:
            pipe.pttl(rkey)
        replies = pipe.execute()
        return order, [v for r in replies[:len(groups)] for v in r], replies[len(groups):]

    def unlink(self, rkeys: list[bytes], publish: Optional[Publish]) -> int:
        """``UNLINK`` (one round trip; per slot on a cluster), announced with ``publish``;
        the number of keys that existed."""
        groups = self.groups(rkeys)
        if not groups:
            return 0
        if len(groups) == 1 and publish is None:
            return int(self.client.unlink(*groups[0]))
        pipe = self.client.pipeline(transaction=False)
        for group in groups:
            pipe.execute_command("UNLINK", *group)
        results = execute(pipe, rkeys, publish)
        return sum(int(r) for r in results[:len(groups)])

    def clear(self, publish: Optional[Publish]) -> None:
        """Delete every key under our prefix (``SCAN`` + ``UNLINK``), announced once."""
        batch: list[bytes] = []
        for rkey in self.scan(self.codec.match_all):
            batch.append(rkey)
            if len(batch) >= _BATCH:
                self.unlink(batch, None)  # a clear announces itself once, below
                batch = []
        self.unlink(batch, None)
        if publish is not None:
            execute(self.client.pipeline(transaction=False), None, publish)

    def matching(self, pattern: Optional[str]) -> list[Hashable]:
        """Our keys (``SCAN``), optionally only str keys matching the glob ``pattern``."""
        decode = self.codec.decode
        found = [k for k in (decode(r) for r in self.scan(self.codec.match_for(pattern)))
                 if k is not None]
        if pattern is None:
            return found
        match = compile_pattern(pattern)
        return [k for k in found if isinstance(k, str) and match(k)]

    def count(self) -> tuple[int, int]:
        """``(entries, bytes)`` under our prefix (``SCAN``, then ``STRLEN`` in pipelines)."""
        entries = size = 0
        batch: list[bytes] = []

        def flush() -> int:
            if not batch:
                return 0
            pipe = self.client.pipeline(transaction=False)
            for rkey in batch:
                pipe.strlen(rkey)
            return sum(int(n) for n in pipe.execute())
        for rkey in self.scan(self.codec.match_all):
            entries += 1
            batch.append(rkey)
            if len(batch) >= _BATCH:
                size += flush()
                batch = []
        size += flush()
        return entries, size
