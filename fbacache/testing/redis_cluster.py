"""A private Redis Cluster of N masters (no replicas) on free loopback ports, for tests.

Each node is a :class:`~fbacache.testing.redis_server.RedisServer` started with
``cluster-enabled yes`` and its ``nodes.conf`` in the node's own temp dir, so the cleanup guarantees
of ``RedisServer`` (context manager, atexit, watchdog) hold for every node. The cluster is created
with ``redis-cli --cluster create ... --cluster-replicas 0 --cluster-yes`` when redis-cli exists,
otherwise by hand (``CLUSTER ADDSLOTS`` / ``SET-CONFIG-EPOCH`` / ``MEET``), and is returned only
once *every* node reports ``cluster_state:ok`` with all slots assigned and all nodes known.

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
        use_redis_cli: True forces ``redis-cli --cluster create``, False forces the manual
            ``CLUSTER ADDSLOTS``/``MEET`` path, None (default) uses redis-cli when it is installed.
        node_timeout_ms: ``cluster-node-timeout``.
        startup_timeout: seconds to wait for ``cluster_state:ok`` on every node.

    Attributes: ``nodes`` (list of RedisServer), ``startup_nodes`` (list of ``(host, port)``),
    ``url`` (``redis://`` URL of the first node; redis-py discovers the rest).

    Raises:
        ServerProcessError: a node fails to start or the cluster does not converge in time.
    """

    def __init__(self, masters: int = 3, *, use_redis_cli: bool | None = None,
                 node_timeout_ms: int = 5000, startup_timeout: float = 30.0,
                 executable: str | None = None) -> None:
        if masters < 1:
            raise ServerProcessError("a cluster needs at least one master")
        self.nodes: list[RedisServer] = []
        self.created_with = ""
        try:
            for _ in range(masters):
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
               "--cluster-replicas", "0", "--cluster-yes"]
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
        count = len(self.nodes)
        for index, node in enumerate(self.nodes):
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
        self.created_with = "manual"

    def _wait_until_ok(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        want = len(self.nodes)
        last = ""
        while time.monotonic() < deadline:
            try:
                infos = [n.command("CLUSTER", "INFO").decode() for n in self.nodes]
            except (OSError, RespError) as exc:
                last = repr(exc)
            else:
                if all(_cluster_ready(info, want) for info in infos):
                    return
                last = infos[0]
            time.sleep(0.05)
        raise ServerProcessError(f"cluster did not reach cluster_state:ok in {timeout}s:\n{last}")

    def flushall(self) -> None:
        """``FLUSHALL`` on every master of this private cluster."""
        for node in self.nodes:
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


def _cluster_ready(info: str, nodes: int) -> bool:
    fields = dict(re.findall(r"^(\w+):(\S+)", info, re.MULTILINE))
    return (fields.get("cluster_state") == "ok"
            and fields.get("cluster_slots_assigned") == str(SLOTS)
            and fields.get("cluster_known_nodes") == str(nodes))
