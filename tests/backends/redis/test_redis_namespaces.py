"""Namespaces never nest (issue #12, item 1): one namespace never sees, counts or deletes
another one's keys, whatever characters either contains, on a real redis-server."""
from __future__ import annotations

import itertools

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fbacache import CacheManager
import fbacache.backends.redis.client as redis_client
from fbacache.backends.redis.client import KeyCodec

# Characters that matter to the layout (separator, glob, hash tag, escape), plus anything.
_TRICKY = st.sampled_from(list(":*?[]\\{}%!/ .-_") + ["é", "☃", "\x00", "\U0001f600"])
namespaces = st.text(alphabet=st.one_of(_TRICKY, st.characters(blacklist_categories=("Cs",))),
                     max_size=10)
cache_keys = st.one_of(st.text(alphabet=st.one_of(_TRICKY, st.characters(
    blacklist_categories=("Cs",))), max_size=10), st.binary(max_size=8), st.integers())


@pytest.mark.parametrize("backend", ["redis", "tiered"])
def test_a_namespace_does_not_contain_its_extensions(backend, redis_url, make_manager):
    app = make_manager(backend, redis_url, manager={"key_prefix": "app"})
    tenant = make_manager(backend, redis_url, manager={"key_prefix": "app:tenant1"})
    app_s = make_manager(backend, redis_url, manager={"key_prefix": "app:s"})
    tenant.set("user:1", "tenant's")
    app_s.set("foo", "app:s's foo")
    app.set("x", "app's")
    # app's key "s:foo" is not app:s's "foo"
    assert app.get("s:foo") is None and not app.exists("s:foo")
    app.set("s:foo", "app's s:foo")
    assert app_s.get("foo") == "app:s's foo"
    # counts and listings stay within the namespace
    assert len(app) == 2 and sorted(app.keys()) == ["s:foo", "x"]
    assert sorted(app.keys("*")) == ["s:foo", "x"] and app.keys("tenant1*") == []
    assert len(tenant) == 1 and tenant.keys() == ["user:1"]
    # clear() of app deletes nothing of app:tenant1 or app:s
    app.clear()
    assert len(app) == 0
    assert tenant.get("user:1") == "tenant's" and app_s.get("foo") == "app:s's foo"
    assert len(tenant) == 1 and len(app_s) == 1


def test_glob_characters_in_a_namespace_are_literal(redis_url, make_manager):
    star = make_manager("redis", redis_url, manager={"key_prefix": "*"})
    qmark = make_manager("redis", redis_url, manager={"key_prefix": "?"})
    bracket = make_manager("redis", redis_url, manager={"key_prefix": "[a]"})
    plain = make_manager("redis", redis_url, manager={"key_prefix": "a"})
    for m in (qmark, bracket, plain):
        m.set("k", "v")
    star.set("mine", 1)
    assert star.keys() == ["mine"] and len(star) == 1
    star.clear()
    assert all(m.get("k") == "v" for m in (qmark, bracket, plain))
    assert bracket.keys() == ["k"] and plain.keys() == ["k"]


def test_hash_tag_braces_in_a_namespace_do_not_pin_a_slot(redis_cluster_url, make_manager):
    url = redis_cluster_url.replace("redis://", "redis+cluster://")
    braces = make_manager("redis", url, manager={"key_prefix": "{t}"})
    other = make_manager("redis", url, manager={"key_prefix": "{t}x"})
    client = braces.backend.client
    slots = {client.keyslot(braces.backend.codec.encode(f"k{i}")) for i in range(50)}
    assert len(slots) > 10  # the namespace's braces are encoded, not a hash tag
    # the user's own hash tag still groups keys
    assert len({client.keyslot(braces.backend.codec.encode(f"{{u}}:{i}"))
                for i in range(10)}) == 1
    braces.set_many({f"k{i}": i for i in range(50)})
    other.set("k1", "other")
    assert len(braces) == 50
    braces.clear()
    assert other.get("k1") == "other" and len(other) == 1


def test_old_layout_keys_are_not_read(redis_url, make_manager):
    # Version 1 wrote fbacache:v1:<namespace>:...; version 2 never reads, counts or clears them.
    r = redis.Redis.from_url(redis_url)
    r.set(b"fbacache:v1:test:s:old", b"\x00\x00\xa3old")
    cache = make_manager("redis", redis_url)
    assert cache.get("old") is None and len(cache) == 0
    cache.clear()
    assert r.exists(b"fbacache:v1:test:s:old") == 1


@settings(max_examples=500, deadline=None)
@given(a=namespaces, b=namespaces, key_a=cache_keys, key_b=cache_keys)
def test_property_key_spaces_are_disjoint(a: str, b: str, key_a: object, key_b: object):
    # Empty namespaces included: the codec is injective and prefix-free on its own.
    ca, cb = KeyCodec(a), KeyCodec(b)
    ra = ca.encode(key_a)
    assert ca.decode(ra) == key_a and type(ca.decode(ra)) is type(key_a)
    enc = redis_client.encode_namespace(a)
    assert not set(enc) & set(b":*?[]\\{}")
    if a != b:
        assert not ra.startswith(cb.prefix) and cb.decode(ra) is None
        assert ca.channel != cb.channel
    else:
        assert (ra == cb.encode(key_b)) == (type(key_a) is type(key_b) and key_a == key_b)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(names=st.lists(namespaces.filter(bool), min_size=2, max_size=3, unique=True),
       keys=st.lists(st.text(alphabet=_TRICKY, max_size=6), min_size=1, max_size=4,
                     unique=True))
def test_property_managers_in_real_redis_stay_apart(redis_url, names, keys):
    redis.Redis.from_url(redis_url).flushall()
    managers = [CacheManager(backend_type="redis", serialization_format="msgpack",
                             key_prefix=name, backend_config={"url": redis_url,
                                                              "fallback": False})
                for name in names]
    try:
        for i, m in enumerate(managers):
            m.set_many({k: [i, k] for k in keys})
        for i, m in enumerate(managers):
            assert sorted(m.keys()) == sorted(keys) and len(m) == len(keys)
            assert m.get_many(keys) == {k: [i, k] for k in keys}
            for k in keys:  # a glob of the literal key (escaped) finds exactly that key
                literal = "".join(f"[{c}]" if c in "*?[]" else c for c in k)
                if "\\" not in k:
                    assert m.keys(literal) == [k]
        managers[0].clear()
        assert managers[0].keys() == []
        for i, m in itertools.islice(enumerate(managers), 1, None):
            assert m.get_many(keys) == {k: [i, k] for k in keys} and len(m) == len(keys)
    finally:
        for m in managers:
            m.close()
