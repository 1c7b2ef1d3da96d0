"""A private Redis Cluster of N masters (and optional replicas) on free loopback ports, for tests.

Each node is a :class:`~fbacache.testing.redis_server.RedisServer` started with
``cluster-enabled yes`` and its ``nodes.conf`` in the node's own temp dir, so the cleanup guarantees
of ``RedisServer`` (context manager, atexit, watchdog) hold for every node. The cluster is created
with ``redis-cli --cluster create ... --cluster-replicas R --cluster-yes`` when redis-cli exists,
otherwise by hand (``CLUSTER ADDSLOTS`` / ``SET-CONFIG-EPOCH`` / ``MEET`` / ``REPLICATE``), and is
returned only once *every* node reports ``cluster_state:ok`` with all slots assigned and all nodes
known, and every replica reports its replication link up (so a failover can be tested at once).

Example (needs ``redis-server``)::

    with RedisCluster() as cluster:                 # 3 masters
        client = cluster.client()                   # redis.cluster.RedisCluster
        client.set("{user:1}:a", 1)                 # hash tags keep keys on one slot
"""
from __future__ import annotations

import re
import subprocess
import time
from typing import Any

from fbacache.errors import ServerProcessError
from fbacache.testing._resp import RespError
from fbacache.testing.redis_server import (
    CLUSTER_BUS_OFFSET,
    RedisServer,
    find_redis_cli,
    find_redis_server,
)

SLOTS = 16384


class RedisCluster:
    """``masters`` cluster-mode redis-servers joined into one cluster covering all 16384 slots.

    Parameters:
        masters: number of master nodes (>= 3, redis-cli's minimum; the manual path allows 1+).
        replicas: replicas per master (default 0). ``nodes[:masters]`` are the masters at
            creation, ``nodes[masters:]`` the replicas (roles change after a failover: ask
            :meth:`master_of` / :meth:`replicas_of`).
        use_redis_cli: True forces ``redis-cli --cluster create``, False forces the manual
            ``CLUSTER ADDSLOTS``/``MEET`` path, None (default) uses redis-cli when it is installed.
        node_timeout_ms: ``cluster-node-timeout``.
        startup_timeout: seconds to wait for ``cluster_state:ok`` on every node.

    Attributes: ``nodes`` (list of RedisServer), ``startup_nodes`` (list of ``(host, port)``),
    ``url`` (``redis://`` URL of the first node; redis-py discovers the rest).

    Raises:
        ServerProcessError: a node fails to start or the cluster does not converge in time.
    """

    def __init__(self, masters: int = 3, *, replicas: int = 0,
                 use_redis_cli: bool | None = None,
                 node_timeout_ms: int = 5000, startup_timeout: float = 30.0,
                 executable: str | None = None) -> None:
        if masters < 1:
            raise ServerProcessError("a cluster needs at least one master")
        if replicas < 0:
            raise ServerProcessError("replicas must be >= 0")
        self.masters, self.replicas = masters, replicas
        self.nodes: list[RedisServer] = []
        self.created_with = ""
        try:
            for _ in range(masters * (1 + replicas)):
                self.nodes.append(RedisServer(
                    executable=executable or find_redis_server(),
                    extra_args=["--cluster-enabled", "yes",
                                "--cluster-config-file", "nodes.conf",
                                "--cluster-node-timeout", str(node_timeout_ms)],
                    _bus_offset=CLUSTER_BUS_OFFSET))
            cli = find_redis_cli()
            if use_redis_cli is None:
                use_redis_cli = cli is not None and masters >= 3
            if use_redis_cli:
                if cli is None:
                    raise ServerProcessError("use_redis_cli=True but redis-cli is not installed")
                self._create_with_cli(cli)
            else:
                self._create_by_hand()
            self._wait_until_ok(startup_timeout)
        except BaseException:
            self.stop()
            raise

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        """``(host, port)`` of every node, e.g. for ``redis.cluster.ClusterNode(host, port)``."""
        return [(node.host, node.port) for node in self.nodes]

    @property
    def url(self) -> str:
        """``redis://`` URL of the first node; a cluster client discovers the others from it."""
        return f"redis://{self.nodes[0].host}:{self.nodes[0].port}/0"

    def _create_with_cli(self, cli: str) -> None:
        cmd = [cli, "--cluster", "create", *(f"{h}:{p}" for h, p in self.startup_nodes),
               "--cluster-replicas", str(self.replicas), "--cluster-yes"]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                                  stdin=subprocess.DEVNULL, check=False)
        except subprocess.TimeoutExpired as exc:
            raise ServerProcessError(f"redis-cli --cluster create timed out: {exc}") from exc
        if done.returncode != 0:
            raise ServerProcessError(f"redis-cli --cluster create failed ({done.returncode}):\n"
                                     f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        self.created_with = "redis-cli"

    def _create_by_hand(self) -> None:
        masters, count = self.nodes[:self.masters], self.masters
        for index, node in enumerate(masters):
            first = index * SLOTS // count
            last = (index + 1) * SLOTS // count - 1
            if node.version >= (7, 0, 0):
                node.command("CLUSTER", "ADDSLOTSRANGE", first, last)
            else:
                node.command("CLUSTER", "ADDSLOTS", *range(first, last + 1), timeout=10.0)
            # Distinct epochs up front, as redis-cli does, so nodes need not resolve collisions.
            node.command("CLUSTER", "SET-CONFIG-EPOCH", index + 1)
        head = self.nodes[0]
        for node in self.nodes[1:]:
            head.command("CLUSTER", "MEET", node.host, node.port)
        if self.replicas:
            # REPLICATE needs the master known to the replica: wait for the gossip first.
            self._wait_for(lambda: all(_fields(n.command("CLUSTER", "INFO").decode()).get(
                "cluster_known_nodes") == str(len(self.nodes)) for n in self.nodes), 30.0,
                "every node to know every other")
            for index, node in enumerate(self.nodes[self.masters:]):
                master = masters[index % count]
                node.command("CLUSTER", "REPLICATE", master.command("CLUSTER", "MYID").decode())
        self.created_with = "manual"

    def _wait_for(self, ready: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                if ready():
                    return
            except (OSError, RespError) as exc:
                last = repr(exc)
            time.sleep(0.05)
        raise ServerProcessError(f"timed out after {timeout}s waiting for {what} {last}")

    def _wait_until_ok(self, timeout: float) -> None:
        self.wait_ok(timeout)

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Block until every running node reports ``cluster_state:ok``, all slots assigned and
        every node known, and every running replica has its replication link up.

        Raises:
            ServerProcessError: not so within ``timeout`` seconds.
        """
        want = len(self.nodes)

        def ready() -> bool:
            live = [n for n in self.nodes if n.is_running()]
            if not all(_cluster_ready(n.command("CLUSTER", "INFO").decode(), want)
                       for n in live):
                return False
            for node in live:
                repl = _fields(node.command("INFO", "replication").decode())
                if repl.get("role") == "slave" and repl.get("master_link_status") != "up":
                    return False
            return True
        self._wait_for(ready, timeout, "cluster_state:ok on every node")

    # -- topology (for fault tests) ----------------------------------------------------------

    def keyslot(self, key: bytes | str) -> int:
        """Hash slot of ``key`` (``CLUSTER KEYSLOT`` on a running node)."""
        node = next(n for n in self.nodes if n.is_running())
        return int(node.command("CLUSTER", "KEYSLOT", key))

    def _by_port(self, port: int) -> RedisServer:
        return next(n for n in self.nodes if n.port == port)

    def _owner_seen_by(self, node: RedisServer, slot: int) -> RedisServer | None:
        for first, last, master, *_ in node.command("CLUSTER", "SLOTS"):
            if int(first) <= slot <= int(last):
                return self._by_port(int(master[1]))
        return None

    def master_of(self, slot: int) -> RedisServer:
        """The node that currently serves ``slot`` as master (asked of a running node; right
        after a failover, use the view :meth:`failover` waited for).

        Raises:
            ServerProcessError: no running node knows an owner for the slot.
        """
        for node in self.nodes:
            if not node.is_running():
                continue
            try:
                owner = self._owner_seen_by(node, slot)
            except (OSError, RespError):
                continue
            if owner is not None:
                return owner
        raise ServerProcessError(f"no running node knows the owner of slot {slot}")

    def replicas_of(self, master: RedisServer) -> list[RedisServer]:
        """Running nodes that replicate ``master`` (``INFO replication`` of each node)."""
        out = []
        for node in self.nodes:
            if node is master or not node.is_running():
                continue
            repl = _fields(node.command("INFO", "replication").decode())
            if repl.get("role") == "slave" and repl.get("master_port") == str(master.port):
                out.append(node)
        return out

    def failover(self, replica: RedisServer, timeout: float = 30.0) -> None:
        """Promote ``replica`` with a manual ``CLUSTER FAILOVER`` (its master must be up; no
        writes are lost) and wait until it is master and the cluster is ok again."""
        replica.command("CLUSTER", "FAILOVER")
        self._wait_for(lambda: _fields(replica.command("INFO", "replication").decode())
                       .get("role") == "master", timeout, f"{replica!r} to become master")
        # The other nodes learn it by gossip: wait until every one names the new owner.
        slot = next(int(first) for first, _, master, *_ in replica.command("CLUSTER", "SLOTS")
                    if int(master[1]) == replica.port)
        self._wait_for(lambda: all(self._owner_seen_by(n, slot) is replica
                                   for n in self.nodes if n.is_running()),
                       timeout, f"every node to see {replica!r} as master")
        self.wait_ok(timeout)

    def flushall(self) -> None:
        """``FLUSHALL`` on every running master of this private cluster (replicas follow)."""
        for node in self.nodes:
            if node.is_running() and _fields(
                    node.command("INFO", "replication").decode()).get("role") == "master":
                node.flushall()

    def client(self, **kwargs: Any) -> Any:
        """A ``redis.cluster.RedisCluster`` for this cluster (needs redis-py)."""
        from redis.cluster import ClusterNode
        from redis.cluster import RedisCluster as Client

        return Client(startup_nodes=[ClusterNode(h, p) for h, p in self.startup_nodes], **kwargs)

    def stop(self) -> None:
        """Stop every node and delete their directories. Idempotent."""
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> "RedisCluster":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<RedisCluster {self.startup_nodes}>"


def _fields(info: str) -> dict[str, str]:
    return dict(re.findall(r"^(\w+):(\S+)", info, re.MULTILINE))


def _cluster_ready(info: str, nodes: int) -> bool:
    fields = _fields(info)
    return (fields.get("cluster_state") == "ok"
            and fields.get("cluster_slots_assigned") == str(SLOTS)
            and fields.get("cluster_known_nodes") == str(nodes))
