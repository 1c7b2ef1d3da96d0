"""The batch read of store replies (``_core.load_replies``), its msgpack framing check
(``msgpack_extent``) and the key prefixing (``prefix_keys``): compiled and twin alike, and
each exactly the per-payload read it replaces, hostile payloads included."""
from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fbacache import _core
from fbacache._core import _batch_py
from fbacache.codecs import make_codec


def _impls():
    impls = [pytest.param(_batch_py, id="py")]
    if _core.NATIVE:
        from fbacache._core import _index_c

        impls.insert(0, pytest.param(_index_c, id="c"))
    return impls


IMPLS = _impls()
HEAD = b"\x00\x00"  # the Redis envelope's marker + the codec's raw-frame marker
UNPACKB = make_codec("msgpack").serializer.direct_loads()  # unpackb with the codec's options

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64 - 1),
                    st.floats(allow_nan=False), st.text(max_size=40), st.binary(max_size=40),
                    st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=20)))
objects = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=20), st.dictionaries(st.text(max_size=8), inner, max_size=20)),
    max_leaves=16)


def _packed(obj):
    return msgpack.packb(obj, use_bin_type=True)


def _hostile(data: st.DataObject) -> bytes:
    """A payload that is one object, two, a cut one, one with a corrupted byte, junk, or a
    header claiming far more than follows."""
    one = _packed(data.draw(objects))
    kind = data.draw(st.sampled_from(["one", "two", "cut", "flip", "junk", "claim", "bad-utf8"]))
    if kind == "two":
        return one + _packed(data.draw(objects))
    if kind == "cut":
        return one[:data.draw(st.integers(0, len(one) - 1))]
    if kind == "flip":
        i = data.draw(st.integers(0, len(one) - 1))
        return one[:i] + bytes([data.draw(st.integers(0, 255))]) + one[i + 1:]
    if kind == "junk":
        return data.draw(st.binary(max_size=30))
    if kind == "claim":  # an array32 / str32 / map32 saying 2**32-1
        return data.draw(st.sampled_from([b"\xdd", b"\xdb", b"\xdf"])) + b"\xff\xff\xff\xff" + one
    if kind == "bad-utf8":
        return b"\xa2\xff\xfe"
    return one


def _framing_ok(data: bytes) -> bool:
    """msgpack's own verdict on "exactly one whole object": unpack without building strings
    (raw) or extension values, then the position must be the end."""
    u = msgpack.Unpacker(raw=True, strict_map_key=False, max_buffer_size=max(1, len(data)),
                         ext_hook=lambda code, body: None, timestamp=0)
    u.feed(data)
    try:
        u.unpack()
    except msgpack.OutOfData:
        return False
    return u.tell() == len(data)


# ---------------------------------------------------------------------- msgpack_extent
@pytest.mark.parametrize("impl", IMPLS)
@settings(max_examples=150, deadline=None)
@given(obj=objects, other=objects)
def test_extent_accepts_exactly_one_whole_object(impl, obj, other):
    one, two = _packed(obj), _packed(obj) + _packed(other)
    assert impl.msgpack_extent(one, 0, len(one))
    assert not impl.msgpack_extent(two, 0, len(two))  # trailing bytes
    for cut in range(len(one)):
        assert not impl.msgpack_extent(one, 0, cut)  # every proper prefix is cut short
    # an offset window: the object in the middle of other bytes
    framed = b"xyz" + one + b"tail"
    assert impl.msgpack_extent(framed, 3, 3 + len(one))


@pytest.mark.parametrize("impl", IMPLS)
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_extent_agrees_with_msgpack_on_hostile_bytes(impl, data):
    payload = data.draw(st.one_of(st.binary(max_size=40), st.builds(_hostile, st.data())))
    got = impl.msgpack_extent(payload, 0, len(payload))
    try:
        expected = _framing_ok(payload)
    except Exception:  # msgpack refused it for another reason (0xc1, depth, a size limit)
        if payload[:1] == b"\xc1":
            assert not got
        return
    assert got == expected


@pytest.mark.parametrize("impl", IMPLS)
def test_extent_window_must_lie_within_the_bytes(impl):
    with pytest.raises(ValueError):
        impl.msgpack_extent(b"\x01", 0, 2)
    with pytest.raises(ValueError):
        impl.msgpack_extent(b"\x01", 1, 0)


# ---------------------------------------------------------------------- load_replies
def _per_payload(keys, replies, limit):
    """The reference: each loadable reply's payload through unpackb alone."""
    out, rest, failed, misses = {}, [], [], 0
    for key, raw in zip(keys, replies):
        if raw is None:
            misses += 1
        elif type(raw) is bytes and 0 < len(raw) - len(HEAD) <= limit and raw[:2] == HEAD:
            try:
                out[key] = UNPACKB(raw[2:])
            except Exception:
                failed.append((key, raw))
        else:
            rest.append((key, raw))
    return out, misses, rest + failed


@st.composite
def _replies(draw):
    n = draw(st.integers(0, 16))
    replies = []
    for _ in range(n):
        kind = draw(st.sampled_from(["good", "good", "good", "hostile", "none", "other"]))
        if kind == "good":
            replies.append(HEAD + _packed(draw(objects)))
        elif kind == "hostile":
            replies.append(HEAD + draw(st.builds(_hostile, st.data())))
        elif kind == "none":
            replies.append(None)
        else:  # another envelope or frame marker, an empty reply, a str
            replies.append(draw(st.one_of(st.binary(max_size=8), st.just(HEAD), st.text(max_size=3))))
    return replies


@pytest.mark.parametrize("impl", IMPLS)
@settings(max_examples=150, deadline=None)
@given(replies=_replies(), limit=st.sampled_from([1 << 20, 8, 1]))
def test_a_batch_loads_as_each_payload_alone(impl, replies, limit):
    keys = [f"k{i}" for i in range(len(replies))]
    expected = _per_payload(keys, replies, limit)
    for batch in (True, False):
        values, misses, rest = impl.load_replies(keys, replies, HEAD, limit, UNPACKB, batch)
        assert (values, misses, rest) == expected
        assert list(values) == list(expected[0])  # the batch's order


@pytest.mark.parametrize("impl", IMPLS)
def test_a_hostile_payload_cannot_shift_its_neighbours(impl):
    # Decoded as one msgpack array of 6, these bytes parse: the header b"\x92" takes the
    # next two payloads as its items and the last payload's three objects make up the
    # count, so every value would land under another key. Each payload alone: the header
    # and the three objects are unreadable, the others are their own values.
    good = [{"id": i} for i in range(4)]
    replies = [HEAD + _packed(good[0]), HEAD + b"\x92", HEAD + _packed(good[1]),
               HEAD + _packed(good[2]), HEAD + _packed(good[3]),
               HEAD + _packed(1) + _packed(2) + _packed(3)]
    shifted = UNPACKB(b"\x96" + b"".join(r[2:] for r in replies))
    assert len(shifted) == 6 and shifted[1] == [good[1], good[2]]  # the attack is real
    keys = list("abcdef")
    values, misses, rest = impl.load_replies(keys, replies, HEAD, 1 << 20, UNPACKB, True)
    assert values == {"a": good[0], "c": good[1], "d": good[2], "e": good[3]}
    assert rest == [("b", replies[1]), ("f", replies[5])] and misses == 0


@pytest.mark.parametrize("impl", IMPLS)
def test_one_bad_string_sends_the_batch_back_to_one_call_per_payload(impl):
    calls = []

    def loads(payload):
        calls.append(len(payload))
        return UNPACKB(payload)

    replies = [HEAD + _packed("x"), HEAD + b"\xa2\xff\xfe", HEAD + _packed([1])]
    values, misses, rest = impl.load_replies(list("abc"), replies, HEAD, 64, loads, True)
    assert values == {"a": "x", "c": [1]} and rest == [("b", replies[1])]
    # compiled: the batch call failed, then one per payload; the twin: one per payload
    assert len(calls) == (4 if impl is not _batch_py else 3)


@pytest.mark.parametrize("impl", IMPLS)
def test_batches_over_the_size_cap_and_of_many_payloads(impl):
    # BATCH_MAX: the compiled version's cap, documented in the twin
    calls = []

    def loads(payload):
        calls.append(len(payload))
        return UNPACKB(payload)

    big = [HEAD + _packed("v" * (impl.BATCH_MAX // 2)) for _ in range(3)]
    values, _, rest = impl.load_replies(["a", "b", "c"], big, HEAD, 1 << 30, loads, True)
    assert len(values) == 3 and not rest and len(calls) == 3  # over the cap: one by one
    for n in (15, 16, 0x10000):  # fixarray, array16 and array32 headers
        calls.clear()
        replies = [HEAD + _packed(i) for i in range(n)]
        values, _, rest = impl.load_replies(range(n), replies, HEAD, 64, loads, True)
        assert values == {i: i for i in range(n)} and not rest
        assert len(calls) == (1 if impl is not _batch_py else n)  # the twin: one by one


@pytest.mark.parametrize("impl", IMPLS)
def test_loads_raising_a_base_exception_propagates(impl):
    def loads(payload):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        impl.load_replies(["a", "b"], [HEAD + b"\x01", HEAD + b"\x02"], HEAD, 64, loads, True)


# ---------------------------------------------------------------------- prefix_keys
@pytest.mark.parametrize("impl", IMPLS)
@settings(max_examples=200, deadline=None)
@given(keys=st.lists(st.one_of(st.text(max_size=6), st.integers(), st.binary(max_size=4),
                               st.sampled_from(["\ud800", "caf\u00e9", ""])), max_size=10))
def test_prefix_keys_is_encode_per_key(impl, keys):
    from fbacache.backends.redis.client import KeyCodec

    codec = KeyCodec("ns")
    assert impl.prefix_keys(codec.prefix + b"s:", keys, codec.encode) == \
        [codec.encode(k) for k in keys]
