"""``CacheManager.get_many`` on Redis loads the MGET reply in one pass (``load_many`` +
``Codec.load_replies``) and reads, counts and drops exactly what the per-key path does.

The per-key path is what a manager whose class overrides ``_decode`` takes (every blob
decoded on its own): both managers read the same stored bytes, written under their own
namespace, hostile ones included (two objects in one frame, a cut frame, invalid UTF-8,
foreign envelopes, a header claiming 4 GiB), and must agree on the values, the hits,
misses and corrupt counts, and on which entries are left in Redis.
"""
from __future__ import annotations

from typing import Any

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fbacache import CacheManager

ENVELOPE_RAW = b"\x00\x00"  # envelope without metadata + raw codec frame

values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1), st.text(max_size=30),
              st.binary(max_size=30), st.floats(allow_nan=False)),
    lambda inner: st.one_of(st.lists(inner, max_size=6),
                            st.dictionaries(st.text(max_size=6), inner, max_size=6)),
    max_leaves=12)


class PerKey(CacheManager):
    """The per-key read path: with ``_decode`` overridden, get_many decodes blob by blob."""

    def _decode(self, key: Any, item: Any) -> Any:
        return super()._decode(key, item)


def _hostile(data: st.DataObject) -> bytes:
    one = msgpack.packb(data.draw(values), use_bin_type=True)
    return data.draw(st.sampled_from([
        ENVELOPE_RAW + one + one,                       # two objects in one frame
        ENVELOPE_RAW + one[:-1] if len(one) > 1 else ENVELOPE_RAW,  # cut short
        ENVELOPE_RAW + b"\xa2\xff\xfe",                 # a str that is not UTF-8
        ENVELOPE_RAW + b"\xdd\xff\xff\xff\xff" + one,   # an array claiming 2**32-1 items
        ENVELOPE_RAW + b"\xc1",                         # a byte msgpack never uses
        b"\x00\x07" + one,                              # an unknown frame marker
        b"\x01\x00\x00\x00\xff" + one,                  # metadata longer than the entry
        b"\x09" + one,                                  # an unknown envelope
        b"",
    ]))


def _fill(cache: CacheManager, plan: list[tuple[str, str, Any]]) -> None:
    client, codec = cache.backend.client, cache.backend.codec
    for key, kind, payload in plan:
        if kind == "value":
            cache.set(key, payload, ttl=60)
        elif kind == "meta":
            cache.set(key, payload, ttl=60, metadata={"m": 1})
        elif kind == "raw":
            client.set(codec.encode(key), payload, px=60_000)


def _state(cache: CacheManager, keys: list[str]) -> tuple[Any, ...]:
    m = cache.get_metrics()
    present = [k for k in keys if cache.backend.client.exists(cache.backend.codec.encode(k))]
    return m["hits"], m["misses"], m["corrupt_entries"], present


# redis_url: the session server, emptied once; every example clears its own namespaces
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data(), compression=st.sampled_from([None, "zlib"]))
def test_get_many_reads_counts_and_drops_as_the_per_key_path(redis_url: str,
                                                             data: st.DataObject,
                                                             compression: Any) -> None:
    plan = []
    for i in range(data.draw(st.integers(0, 30))):
        kind = data.draw(st.sampled_from(["value", "value", "value", "meta", "raw", "absent"]))
        payload = _hostile(data) if kind == "raw" else data.draw(values)
        plan.append((f"k{i}", kind, payload))
    keys = [k for k, _, _ in plan] + ["k0", "never"]  # a duplicate and an absent key
    made = []
    try:
        for cls, ns in ((CacheManager, "batch"), (PerKey, "perkey")):
            cache = cls.from_url(redis_url, key_prefix=ns, compression=compression,
                                 compression_threshold=16)
            made.append(cache)
            cache.clear()
            _fill(cache, plan)
        fast, slow = made
        assert "load_many" in dir(fast.backend)
        got = fast.get_many(keys)
        assert got == slow.get_many(keys)
        assert _state(fast, keys) == _state(slow, keys)
        expected = {k: p for k, kind, p in plan if kind in ("value", "meta")}
        assert got == msgpack.unpackb(msgpack.packb(expected, use_bin_type=True), raw=False,
                                      strict_map_key=False)  # tuples come back as lists
    finally:
        for cache in made:
            cache.clear()
            cache.close()


def test_a_hostile_frame_between_good_ones_is_a_counted_miss_and_dropped(redis_url: str) -> None:
    cache = CacheManager.from_url(redis_url, key_prefix="hostile-batch")
    try:
        cache.clear()
        good = {f"g{i}": {"id": i, "tags": ["a"] * i} for i in range(6)}
        cache.set_many(good, ttl=60)
        client, codec = cache.backend.client, cache.backend.codec
        # Read as one msgpack array, "evil" (an array header of 2) would take g2 and g3 as
        # its items and "more" (three objects) would make up the count: every value after
        # g1 would land under another key.
        client.set(codec.encode("evil"), ENVELOPE_RAW + b"\x92", px=60_000)
        client.set(codec.encode("more"), ENVELOPE_RAW + b"\x01\x02\x03", px=60_000)
        keys = ["g0", "g1", "evil", "g2", "g3", "g4", "g5", "more"]
        assert cache.get_many(keys) == good
        m = cache.get_metrics()
        assert (m["hits"], m["misses"], m["corrupt_entries"]) == (6, 2, 2)  # corrupt: misses
        for bad in ("evil", "more"):  # dropped, as get() drops them
            assert not client.exists(codec.encode(bad))
        assert cache.get_many(keys) == good
        assert cache.get_metrics()["misses"] == 4  # now absent
    finally:
        cache.clear()
        cache.close()


def test_signed_get_many_still_verifies_each_key(redis_url: str) -> None:
    signing_key = b"batch-load-signing-key-0123456789"
    cache = CacheManager.from_url(redis_url, key_prefix="signed-batch", signing_key=signing_key)
    try:
        cache.clear()
        cache.set_many({"a": 1, "b": 2, "c": 3}, ttl=60)
        client, codec = cache.backend.client, cache.backend.codec
        client.set(codec.encode("c"), client.get(codec.encode("a")))  # a's blob under c
        assert cache.get_many(["a", "b", "c"]) == {"a": 1, "b": 2}
        assert cache.get_metrics()["signature_failures"] == 1
    finally:
        cache.clear()
        cache.close()


def test_get_many_while_redis_is_down_reads_the_fallback(redis_server_factory: Any) -> None:
    server = redis_server_factory()
    fast = {"socket_timeout": 0.2, "connect_timeout": 0.2, "retry_attempts": 1,
            "retry_deadline": 0.2, "failure_threshold": 1}
    cache = CacheManager.from_url(server.url, key_prefix="down-batch", backend_config=fast)
    try:
        cache.set_many({"a": 1, "b": [2]}, ttl=60)
        assert cache.get_many(["a", "b", "x"]) == {"a": 1, "b": [2]}
        server.stop()
        cache.set("c", {"v": 3}, ttl=60)  # to the local fallback
        assert cache.get_many(["a", "c"]) == {"c": {"v": 3}}
        assert cache.get_metrics()["backend_state"] != "redis"
    finally:
        cache.close()


def test_a_backend_subclass_overriding_get_many_keeps_its_reads(redis_url: str) -> None:
    from fbacache.backends import register_backend
    from fbacache.backends.redis import RedisBackend

    seen = []

    class Audited(RedisBackend):
        def get_many(self, keys):  # type: ignore[no-untyped-def]
            keys = list(keys)
            seen.append(keys)
            return super().get_many(keys)

    register_backend("audited-redis-batch", Audited, replace=True)
    cache = CacheManager(backend_type="audited-redis-batch",
                         backend_config={"url": redis_url}, key_prefix="audited",
                         serialization_format="msgpack")
    try:
        cache.set_many({"a": 1, "b": 2})
        assert cache.get_many(["a", "b", "c"]) == {"a": 1, "b": 2}
        assert seen == [["a", "b", "c"]]
    finally:
        cache.clear()
        cache.close()
