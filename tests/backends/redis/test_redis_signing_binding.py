"""Signatures bind the namespace, the key's type and the metadata (issue #12, item 5).

Each test stores a real value through the manager, then moves or rewrites the stored
bytes in a real redis-server with redis-py, as anyone with write access to Redis can.
The copy must be a counted miss and must never be unpickled.
"""
from __future__ import annotations

import os
from pathlib import Path

import redis

from fbacache.backends.redis.backend import unwrap_entry, wrap_entry

SIGNED = {"serialization_format": "pickle", "signing_key": b"s" * 32}


class _Boom:
    """Unpickling this creates a directory: a visible side effect of pickle.loads."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (str(self.path),))


def _copy(r: redis.Redis, src: bytes, dst: bytes) -> None:
    assert r.copy(src, dst, replace=True)


def test_a_signed_value_copied_to_a_key_of_another_type_is_a_counted_miss(
        redis_url, make_manager, tmp_path):
    cache = make_manager("redis", redis_url, manager=SIGNED)
    r = redis.Redis.from_url(redis_url)
    codec = cache.backend.codec
    marker = tmp_path / "unpickled"
    cache.set("abc", _Boom(marker))   # legitimately signed, for str key 'abc'
    cache.set(1, _Boom(marker))       # and for int key 1
    _copy(r, codec.encode("abc"), codec.encode(b"abc"))
    _copy(r, codec.encode(1), codec.encode('{"i":"1"}'))
    _copy(r, codec.encode(1), codec.encode("1"))
    before = cache.get_metrics()
    for key in (b"abc", '{"i":"1"}', "1"):
        assert cache.get(key, "miss") == "miss"
    assert not marker.exists(), "a moved signed value was unpickled"
    after = cache.get_metrics()
    assert after["signature_failures"] - before["signature_failures"] == 3
    assert after["misses"] - before["misses"] == 3


def test_a_signed_value_copied_to_another_namespace_is_a_counted_miss(
        redis_url, make_manager, tmp_path):
    mine = make_manager("redis", redis_url, manager={**SIGNED, "key_prefix": "tenant-a"})
    theirs = make_manager("redis", redis_url, manager={**SIGNED, "key_prefix": "tenant-b"})
    r = redis.Redis.from_url(redis_url)
    marker = tmp_path / "unpickled"
    mine.set("profile", _Boom(marker))
    _copy(r, mine.backend.codec.encode("profile"), theirs.backend.codec.encode("profile"))
    before = theirs.get_metrics()["signature_failures"]
    assert theirs.get("profile", "miss") == "miss"
    assert not marker.exists()
    assert theirs.get_metrics()["signature_failures"] == before + 1
    # an explicit backend_config namespace is what is bound, not key_prefix
    ns_a = make_manager("redis", redis_url, manager=SIGNED, namespace="same-prefix-1")
    ns_b = make_manager("redis", redis_url, manager=SIGNED, namespace="same-prefix-2")
    ns_a.set("k", "v")
    _copy(r, ns_a.backend.codec.encode("k"), ns_b.backend.codec.encode("k"))
    assert ns_a.get("k") == "v" and ns_b.get("k", "miss") == "miss"


def test_rewritten_metadata_is_refused(redis_url, make_manager):
    cache = make_manager("redis", redis_url, manager=SIGNED)
    r = redis.Redis.from_url(redis_url)
    rkey = cache.backend.codec.encode("doc")
    cache.set("doc", {"body": 1}, metadata={"role": "user"})
    cache.set("bare", 2)
    assert cache.get_metadata("doc") == {"role": "user"} and cache.get_metadata("bare") == {}
    blob, meta = unwrap_entry(r.get(rkey))
    before = cache.get_metrics()["signature_failures"]
    # rewritten, stripped, and added where there was none
    r.set(rkey, wrap_entry(blob, {"role": "admin"}))
    assert cache.get_metadata("doc") is None
    r.set(rkey, wrap_entry(blob))
    assert cache.get_metadata("doc") is None
    bare = cache.backend.codec.encode("bare")
    r.set(bare, wrap_entry(unwrap_entry(r.get(bare))[0], {"role": "admin"}))
    assert cache.get_metadata("bare") is None
    assert cache.get_metrics()["signature_failures"] == before + 3
    # the value itself is still authentic; its original metadata verifies again
    assert cache.get("doc") == {"body": 1}
    r.set(rkey, wrap_entry(blob, meta))
    assert cache.get_metadata("doc") == {"role": "user"}


def test_tiered_backend_binds_the_same(redis_url, make_manager):
    cache = make_manager("tiered", redis_url, manager=SIGNED)
    r = redis.Redis.from_url(redis_url)
    codec = cache.backend.l2.codec
    cache.set("abc", "for str", metadata={"m": 1})
    _copy(r, codec.encode("abc"), codec.encode(b"abc"))
    assert cache.get(b"abc", "miss") == "miss"
    rkey = codec.encode("abc")
    r.set(rkey, wrap_entry(unwrap_entry(r.get(rkey))[0], {"m": 2}))
    assert cache.get_metadata("abc") is None


def test_rotation_keeps_values_and_metadata_readable(redis_url, make_manager):
    old = make_manager("redis", redis_url, manager=SIGNED)
    old.set("k", [1, 2], metadata={"v": 1})
    rotated = make_manager("redis", redis_url, manager={
        **SIGNED, "signing_key": b"n" * 32, "signing_keys": [b"s" * 32]})
    assert rotated.get("k") == [1, 2] and rotated.get_metadata("k") == {"v": 1}
    rotated.set("fresh", 3, metadata={"v": 2})
    assert rotated.get("fresh") == 3 and rotated.get_metadata("fresh") == {"v": 2}
    # a server still on the old key alone cannot read entries signed with the new one
    # (and drops them as unreadable: docs/redis.md, key rotation)
    assert old.get_metadata("fresh") is None and old.get("fresh", "miss") == "miss"
