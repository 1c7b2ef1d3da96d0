"""Tiered mode on a real Redis Cluster: L1 invalidation over a sharded channel, and its faults.

The invalidation channel hashes to one slot, so it lives on one master; the keys in these
tests are chosen on purpose on that master or on another one. Faults (a stalled, killed or
failed-over channel master, a killed subscription) are injected in private clusters, never in
the session one, except the subscription kill, which the cluster survives untouched.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

import pytest
from redis.crc import key_slot
from test_tiered_processes import Peer, _stress

from fbacache.testing import RedisCluster


def wait_for(cond: Callable[[], Any], timeout: float = 15.0, what: str = "") -> None:
    """Poll ``cond`` until true; fail after a generous ``timeout`` (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.005)


def cluster_url(cluster: RedisCluster) -> str:
    return cluster.url.replace("redis://", "redis+cluster://")


def channel_slot(manager: Any) -> int:
    return key_slot(manager.backend.bus.channel)


def key_on(cluster: RedisCluster, manager: Any, node: Any, same: bool = True,
           stem: str = "k") -> str:
    """A cache key whose Redis key lives on ``node`` (or, with ``same=False``, elsewhere)."""
    codec = manager.backend.l2.codec
    for i in range(10_000):
        key = f"{stem}{i}"
        if (cluster.master_of(key_slot(codec.encode(key))) is node) == same:
            return key
    raise AssertionError("no such key")  # 10k tries over 3 masters cannot all miss


def address(node: Any) -> str:
    return f"{node.host}:{node.port}"


def tiered(make_manager: Callable[..., Any], url: str, **options: Any) -> Any:
    m = make_manager("tiered", url, **options)
    assert m.backend.bus.wait_up(15)
    return m


def delivered(manager: Any, n: int) -> None:
    wait_for(lambda: manager.backend.bus.received.value >= n, what=f"{n} invalidations")


def test_writes_deletes_and_clear_reach_another_process(redis_cluster_url, redis_cluster,
                                                        make_manager):
    """A second interpreter on the same cluster: each set/delete/clear here invalidates its L1,
    for keys on every master (so on the channel's shard and on the two others)."""
    url = redis_cluster_url.replace("redis://", "redis+cluster://")
    local = tiered(make_manager, url)
    owner = redis_cluster.master_of(channel_slot(local))
    assert local.backend.bus.node == address(owner)
    keys = [key_on(redis_cluster, local, node) for node in redis_cluster.nodes]
    assert len({redis_cluster.master_of(key_slot(local.backend.l2.codec.encode(k)))
                for k in keys}) == 3
    peer = Peer(url, "test")
    try:
        local.set_many({k: 0 for k in keys}, ttl=60)
        assert peer(op="wait", n=1, timeout=10)["ok"]  # one message for the batch
        for k in keys:
            assert peer(op="get", key=k) == {"value": 0, "in_l1": True}
        sent = 1
        for version in range(1, _stress(10) + 1):
            for k in keys:
                local.set(k, version)
                sent += 1
                assert peer(op="wait", n=sent, timeout=10)["ok"]
                assert peer(op="get", key=k) == {"value": version, "in_l1": True}
        local.delete(keys[0])
        assert peer(op="wait", n=sent + 1, timeout=10)["ok"]
        assert peer(op="get", key=keys[0]) == {"value": None, "in_l1": False}
        local.clear()
        assert peer(op="wait", n=sent + 2, timeout=10)["ok"]
        for k in keys[1:]:
            assert peer(op="get", key=k) == {"value": None, "in_l1": False}
        # and the other way round: the peer's writes invalidate our L1 (wait for the
        # invalidation of "first" too: landing after our get's L1 fill, it drops it)
        before = local.backend.bus.received.value
        peer(op="set", key=keys[1], value="first")
        delivered(local, before + 1)
        assert local.get(keys[1]) == "first" and local.backend.l1.peek(keys[1]) is not None
        before = local.backend.bus.received.value
        peer(op="set", key=keys[1], value="second")
        delivered(local, before + 1)
        assert local.get(keys[1]) == "second"
    finally:
        peer.close()


def test_readers_never_keep_a_value_older_than_a_delivered_invalidation(
        redis_cluster_url, redis_cluster, make_manager):
    """The key lives on another master than the channel, so write and message travel on
    different connections to different nodes. Reader threads hammer B while A writes: once B
    has applied the invalidation of version i, no read in B returns less than i. (Were the
    message sent with the write rather than after its reply, B could re-read the old value
    from L2 and keep it in L1.)"""
    url = redis_cluster_url.replace("redis://", "redis+cluster://")
    a, b = tiered(make_manager, url), tiered(make_manager, url)
    owner = redis_cluster.master_of(channel_slot(a))
    key = key_on(redis_cluster, a, owner, same=False)
    a.set(key, 0)
    delivered(b, 1)
    stop = threading.Event()
    errors: list[str] = []
    floor = [0]

    def reader() -> None:
        while not stop.is_set():
            seen = floor[0]
            value = b.get(key)
            if value is None or value < seen:
                errors.append(f"read {value} after the invalidation of {seen}")

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for i in range(1, _stress(60) + 1):
            a.set(key, i)
            delivered(b, i + 1)
            floor[0] = i
            time.sleep(0.001)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == [], errors[:5]
    assert b.get_metrics()["l1_hits"] > 0  # L1 was really in play


def test_a_held_write_is_announced_only_once_it_landed(redis_cluster_url, redis_cluster,
                                                       make_manager):
    """The key's master holds writes (CLIENT PAUSE WRITE) while the channel's master does not.
    Were the message sent with the write, B would get it during the pause, re-read the old
    value (reads are served) and keep it in L1 after the write landed. Sent after the write's
    reply, it reaches B only once L2 holds the new value."""
    url = redis_cluster_url.replace("redis://", "redis+cluster://")
    a = tiered(make_manager, url, socket_timeout=5.0, retry_deadline=10.0)
    b = tiered(make_manager, url)
    owner = redis_cluster.master_of(channel_slot(a))
    key = key_on(redis_cluster, a, owner, same=False)
    key_master = redis_cluster.master_of(key_slot(a.backend.l2.codec.encode(key)))
    a.set(key, 0)
    delivered(b, 1)
    assert b.get(key) == 0
    # L1 serves it again (a transient channel loss on a loaded machine flushes L1 and
    # bypasses it for a moment: safe, so wait for it rather than assume it away)
    wait_for(lambda: b.get(key) == 0 and b.backend.l1.peek(key) is not None,
             what="B's L1 to hold 0")
    # reads L2 only (no L1): what Redis holds at the moment B sees the message
    l2 = make_manager("redis", url, manager={"key_prefix": a.config.key_prefix})
    key_master.pause(0.8, mode="WRITE")
    writer = threading.Thread(target=a.set, args=(key, 1))
    writer.start()
    early = []
    while writer.is_alive():  # B keeps reading (and refilling L1) while the write is held
        if b.backend.bus.received.value >= 2:
            # The message may arrive before the writer thread has returned (the publish goes
            # out as soon as the write's reply is in): what matters is that L2 already holds
            # the new value whenever the message is there.
            held = l2.get(key)
            if held != 1:
                early.append(held)
        b.get(key)
        time.sleep(0.002)
    writer.join()
    assert a.backend.l2.state == "redis"  # the write went to Redis, not to the fallback
    delivered(b, 2)
    assert early == []  # no message while the write was held
    assert b.get(key) == 1


def test_a_killed_subscription_flushes_l1_and_resubscribes(redis_cluster_url, redis_cluster,
                                                           make_manager):
    url = redis_cluster_url.replace("redis://", "redis+cluster://")
    a, b = tiered(make_manager, url), tiered(make_manager, url)
    owner = redis_cluster.master_of(channel_slot(a))
    key = key_on(redis_cluster, a, owner, same=False)
    a.set(key, "v1")
    delivered(b, 1)
    assert b.get(key) == "v1"
    # L1 serves it again (a transient channel loss on a loaded machine flushes L1 and
    # bypasses it for a moment: safe, so wait for it rather than assume it away)
    wait_for(lambda: b.get(key) == "v1" and b.backend.l1.peek(key) is not None,
             what="B's L1 to hold v1")
    owner.command("CLIENT", "KILL", "TYPE", "pubsub")  # both subscribers, nothing else
    wait_for(lambda: b.backend.bus.losses.value >= 1, what="the loss to be noticed")
    assert b.backend.l1.peek(key) is None  # flushed when the loss was noticed
    assert b.backend.bus.wait_up(15)
    assert a.backend.bus.wait_up(15)
    a.set(key, "v2")
    delivered(b, 2)
    assert b.get(key) == "v2"
    # L1 serves it again (a transient channel loss on a loaded machine flushes L1 and
    # bypasses it for a moment: safe, so wait for it rather than assume it away)
    wait_for(lambda: b.get(key) == "v2" and b.backend.l1.peek(key) is not None,
             what="B's L1 to hold v2")
    assert b.get_metrics()["invalidation_channel_losses"] >= 1


def test_channel_master_stalled_then_killed_and_restarted(redis_cluster_factory, make_manager):
    """No replicas: the channel's master is first SIGSTOPped (no error, just silence), then
    SIGKILLed and restarted empty. Each time B's L1 is flushed and bypassed; after the restart
    B never serves the value the node lost from its L1, and invalidations work again."""
    cluster = redis_cluster_factory(masters=3)
    url = cluster_url(cluster)
    a, b = tiered(make_manager, url), tiered(make_manager, url)
    owner = cluster.master_of(channel_slot(a))
    on, off = key_on(cluster, a, owner, stem="on"), key_on(cluster, a, owner, False, "off")
    a.set_many({on: "v1", off: "v1"})
    delivered(b, 1)
    assert b.get(on) == "v1" and b.get(off) == "v1" and len(b.backend.l1) == 2

    owner.suspend()
    t0 = time.monotonic()
    try:
        wait_for(lambda: not b.backend.l1_enabled, what="a stalled channel to be noticed")
        stalled = time.monotonic() - t0
        assert len(b.backend.l1) == 0
    finally:
        owner.resume()
    # documented bound: 3 x invalidation_ping_interval (0.2 s here) plus one socket timeout
    print(f"\nstalled channel noticed after {stalled:.2f} s")
    assert b.backend.bus.wait_up(15)

    b.get(off)  # back in L1
    owner.kill()
    wait_for(lambda: not b.backend.l1_enabled, what="a killed channel master to be noticed")
    assert len(b.backend.l1) == 0
    assert b.get(off) in (None, "v1")  # from L2 or the fallback: never an exception
    owner.restart()  # same node id and slots (nodes.conf), empty data set
    cluster.wait_ok(30)
    assert b.backend.bus.wait_up(30) and b.backend.bus.node == address(owner)
    wait_for(lambda: b.get(off) == "v1", what="the other shards to serve again")
    assert b.get(on) is None  # lost with the node: L1 did not keep it
    wait_for(lambda: a.set(on, "v2") and b.get(on) == "v2", what="a new write to reach B")
    wait_for(lambda: b.get(on) == "v2" and b.backend.l1.peek(on) is not None,
             what="B's L1 to be used again")
    assert b.get_metrics()["invalidation_channel_losses"] >= 2


def test_failover_manual_and_automatic(redis_cluster_factory, make_manager):
    """One replica per master. A manual CLUSTER FAILOVER moves the channel's slot (Redis
    sends sunsubscribe), then killing the new master makes the old one take over again
    (automatic failover): each time B flushes L1, resubscribes on the new master, and a
    write after the failover reaches B's L1."""
    cluster = redis_cluster_factory(masters=3, replicas=1, node_timeout_ms=1000)
    url = cluster_url(cluster)
    a, b = tiered(make_manager, url), tiered(make_manager, url)
    slot = channel_slot(a)
    first = cluster.master_of(slot)
    second = cluster.replicas_of(first)[0]
    key = key_on(cluster, a, first)  # on the channel's shard: it fails over too
    a.set(key, "v1")
    delivered(b, 1)
    assert b.get(key) == "v1"
    # L1 serves it again (a transient channel loss on a loaded machine flushes L1 and
    # bypasses it for a moment: safe, so wait for it rather than assume it away)
    wait_for(lambda: b.get(key) == "v1" and b.backend.l1.peek(key) is not None,
             what="B's L1 to hold v1")

    cluster.failover(second)
    assert cluster.master_of(slot) is second
    wait_for(lambda: b.backend.bus.losses.value >= 1, what="the sunsubscribe")
    assert b.backend.l1.peek(key) is None
    wait_for(lambda: b.backend.bus.up and b.backend.bus.node == address(second),
             what="B to resubscribe on the new master")
    assert b.get(key) == "v1"  # a manual failover loses no write
    wait_for(lambda: a.backend.bus.up)
    received = b.backend.bus.received.value
    a.set(key, "v2")
    delivered(b, received + 1)
    assert b.get(key) == "v2"
    # L1 serves it again (a transient channel loss on a loaded machine flushes L1 and
    # bypasses it for a moment: safe, so wait for it rather than assume it away)
    wait_for(lambda: b.get(key) == "v2" and b.backend.l1.peek(key) is not None,
             what="B's L1 to hold v2")

    second.kill()
    wait_for(lambda: not b.backend.l1_enabled, what="the dead master to be noticed")
    assert len(b.backend.l1) == 0
    wait_for(lambda: cluster.master_of(slot) is first, timeout=60,
             what="the replica to be promoted")
    wait_for(lambda: b.backend.bus.up and b.backend.bus.node == address(first), timeout=30,
             what="B to resubscribe on the promoted replica")
    wait_for(lambda: a.set(key, "v3") and b.get(key) == "v3", timeout=30,
             what="a write after the failover to reach B")
    received = b.backend.bus.received.value
    a.set(key, "v4")
    delivered(b, received + 1)
    assert b.get(key) == "v4"
    # L1 serves it again (a transient channel loss on a loaded machine flushes L1 and
    # bypasses it for a moment: safe, so wait for it rather than assume it away)
    wait_for(lambda: b.get(key) == "v4" and b.backend.l1.peek(key) is not None,
             what="B's L1 to hold v4")
    assert b.get_metrics()["invalidation_channel_losses"] >= 2


@pytest.mark.parametrize("via", ["redis+cluster", "cluster=True"])
def test_both_ways_of_asking_for_a_cluster_use_sharded_pubsub(via, redis_cluster_url,
                                                              redis_cluster, make_manager):
    if via == "cluster=True":
        m = tiered(make_manager, redis_cluster_url, cluster=True)
    else:
        m = tiered(make_manager, redis_cluster_url.replace("redis://", "redis+cluster://"))
    owner = redis_cluster.master_of(channel_slot(m))
    # a sharded subscription is listed by PUBSUB SHARDCHANNELS on its shard only
    assert owner.command("PUBSUB", "SHARDCHANNELS") == [m.backend.bus.channel]
    assert owner.command("PUBSUB", "CHANNELS") == []
