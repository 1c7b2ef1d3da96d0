"""The redis backend on a real 3-master Redis Cluster: batches split by hash slot."""
from __future__ import annotations

from redis.cluster import RedisCluster


def test_batches_across_slots(redis_cluster_url, redis_cluster, make_manager):
    cache = make_manager("redis", redis_cluster_url.replace("redis://", "redis+cluster://"))
    client = cache.backend.client
    assert isinstance(client, RedisCluster)
    data = {f"user:{i}": {"id": i} for i in range(200)}
    slots = {client.keyslot(cache.backend.codec.encode(k)) for k in data}
    nodes = {client.get_node_from_key(cache.backend.codec.encode(k)).name for k in data}
    assert len(slots) > 100 and len(nodes) == 3  # the batch really spans slots and nodes
    cache.set_many(data, ttl=60)
    assert cache.get_many(list(data) + ["absent"]) == data
    assert sorted(cache.keys("user:1?")) == sorted(f"user:{i}" for i in range(10, 20))
    assert len(cache) == 200
    assert cache.delete_many([f"user:{i}" for i in range(50)] + ["absent"]) == 50
    # after deleting 0..49, user:100..199 are the keys left that match
    assert cache.invalidate("user:1*") == 100
    assert len(cache) == 50
    foreign = redis_cluster.client()
    foreign.set("outside", "x")
    cache.clear()
    assert cache.keys() == [] and foreign.get("outside") == b"x"
    assert cache.get_metrics()["backend_state"] == "redis"


def test_hash_tags_keep_keys_in_one_slot(redis_cluster_url, make_manager):
    cache = make_manager("redis", redis_cluster_url, cluster=True)
    client, codec = cache.backend.client, cache.backend.codec
    keys = [f"{{user:7}}:{field}" for field in ("name", "email", "prefs")]
    assert len({client.keyslot(codec.encode(k)) for k in keys}) == 1
    cache.set_many({k: k for k in keys})
    assert cache.get_many(keys) == {k: k for k in keys}
    assert cache.delete_many(keys) == 3
