"""fbacache.signing: HMAC-SHA256 sign/verify, rotation, and robustness against arbitrary bytes."""
from __future__ import annotations

import doctest
import hashlib
import hmac
import os
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fbacache.signing as signing
from fbacache.errors import ConfigError
from fbacache.signing import HEADER_SIZE, OVERHEAD, TAG_SIZE, Signer

KEY = b"k" * 32
OLD = b"o" * 32
OLDER = b"p" * 24

keys = st.binary(min_size=16, max_size=64)
payloads = st.binary(max_size=512)
contexts = st.binary(max_size=64)


def test_doctests() -> None:
    assert doctest.testmod(signing).failed == 0


def test_format_is_header_tag_bound_payload() -> None:
    blob = Signer(KEY).sign(b"hello", context=b"ctx", bound=b"dg")
    assert blob[:HEADER_SIZE] == b"FBS\x02"
    assert len(blob) == OVERHEAD + 2 + 5 and TAG_SIZE == 32 and OVERHEAD == 4 + 32 + 2
    assert blob[OVERHEAD - 2:] == b"\x00\x02dghello"
    # The tag is a standard HMAC-SHA256 over header + context length + context
    # + bound length + bound + payload.
    msg = b"FBS\x02" + (3).to_bytes(4, "big") + b"ctx" + (2).to_bytes(2, "big") + b"dghello"
    expected = hmac.new(KEY, msg, hashlib.sha256).digest()
    assert blob[HEADER_SIZE:HEADER_SIZE + TAG_SIZE] == expected


def test_bound_data_is_authenticated_and_read_back() -> None:
    signer = Signer(KEY)
    blob = signer.sign(b"payload", context=b"k", bound=b"digest")
    assert signer.verify_bound(blob, b"k") == (b"payload", b"digest")
    assert signer.verify(blob, b"k") == b"payload"
    # Moving bytes between the bound field and the payload breaks the tag.
    moved = blob[:OVERHEAD - 2] + (7).to_bytes(2, "big") + b"digestp" + b"ayload"
    assert signer.verify_bound(moved, b"k") is None
    # A bound length pointing past the end is refused, not an exception.
    assert signer.verify(blob[:OVERHEAD - 2] + b"\xff\xff" + b"x", b"k") is None
    with pytest.raises(ValueError):
        signer.sign(b"p", bound=b"x" * (signing.MAX_BOUND + 1))


def test_version_1_blobs_are_refused() -> None:
    # What version 1 wrote (no bound field): never accepted by version 2.
    msg = b"FBS\x01" + (1).to_bytes(4, "big") + b"k" + b"\x00hello"
    v1 = b"FBS\x01" + hmac.new(KEY, msg, hashlib.sha256).digest() + b"\x00hello"
    assert Signer(KEY).verify(v1, b"k") is None


@settings(max_examples=300)
@given(ns=st.text(max_size=8), other_ns=st.text(max_size=8),
       key=st.one_of(st.text(max_size=8), st.binary(max_size=8), st.integers()),
       other=st.one_of(st.text(max_size=8), st.binary(max_size=8), st.integers()))
def test_property_key_context_is_injective(ns: str, other_ns: str, key: object,
                                           other: object) -> None:
    # Same context only for the same namespace, key type and key.
    same = ns == other_ns and type(key) is type(other) and key == other
    assert (signing.key_context(ns, key) == signing.key_context(other_ns, other)) == same


def test_key_context_separates_the_issue_examples() -> None:
    ctx = signing.key_context
    assert ctx("app", "abc") != ctx("app", b"abc")
    assert ctx("app", 1) != ctx("app", '{"i":"1"}') != ctx("app", "1")
    assert ctx("app", "s:foo") != ctx("app:s", "foo")
    assert ctx("a", "bc") != ctx("ab", "c")


def test_roundtrip_and_empty_payload() -> None:
    signer = Signer(KEY)
    assert signer.verify(signer.sign(b"")) == b""
    assert signer.verify(signer.sign(b"\x00" * 10_000)) == b"\x00" * 10_000
    assert signer.verify(signer.sign(bytearray(b"ba"))) == b"ba"
    assert signer.verify(memoryview(signer.sign(b"mv"))) == b"mv"


def test_unsigned_truncated_tampered_and_wrong_key_are_none() -> None:
    signer = Signer(KEY)
    blob = signer.sign(b"payload")
    assert signer.verify(b"payload") is None                  # unsigned
    assert signer.verify(b"") is None
    assert signer.verify(blob[:OVERHEAD - 1]) is None         # truncated inside the tag
    assert signer.verify(blob[:-1]) is None                   # truncated payload
    assert signer.verify(blob + b"x") is None                 # extended payload
    for i in range(len(blob)):                                # any single flipped bit
        flipped = bytearray(blob)
        flipped[i] ^= 0x01
        assert signer.verify(bytes(flipped)) is None, i
    assert Signer(OLD).verify(blob) is None                   # unknown key
    assert signer.verify(b"FBS\x01" + blob[HEADER_SIZE:]) is None  # relabelled version


@pytest.mark.parametrize("junk", [None, "text", 12, 1.5, object(), [b"x"], {"a": 1}])
def test_non_bytes_input_is_none_not_an_exception(junk: object) -> None:
    assert Signer(KEY).verify(junk) is None
    assert Signer(KEY).verify(Signer(KEY).sign(b"x"), context=junk) is None  # type: ignore[arg-type]


def test_context_binds_a_blob_to_its_key() -> None:
    signer = Signer(KEY)
    blob = signer.sign(b"value-of-a", context=b"cache:a")
    assert signer.verify(blob, context=b"cache:a") == b"value-of-a"
    assert signer.verify(blob, context=b"cache:b") is None
    assert signer.verify(blob) is None
    # The length prefix keeps (context, payload) splits apart: moving bytes between them fails.
    blob2 = signer.sign(b"Xpayload", context=b"ctx")
    assert signer.verify(b"FBS\x01" + blob2[HEADER_SIZE:OVERHEAD] + b"payload",
                         context=b"ctxX") is None


def test_rotation_accepts_old_keys_and_reports_which() -> None:
    before = Signer(OLD).sign(b"old-entry", context=b"k1")
    oldest = Signer(OLDER).sign(b"oldest-entry")
    rotated = Signer(KEY, old_keys=[OLD, OLDER])
    assert rotated.verify(before, context=b"k1") == b"old-entry"
    assert rotated.verify_with_index(before, context=b"k1") == (b"old-entry", 1)
    assert rotated.verify_with_index(oldest) == (b"oldest-entry", 2)
    fresh = rotated.sign(b"new")
    assert rotated.verify_with_index(fresh) == (b"new", 0)
    # New blobs use the new key only: a server still on the old key cannot read them...
    assert Signer(OLD).verify(fresh) is None
    # ...and once an old key is dropped, its blobs are misses.
    assert Signer(KEY, old_keys=[OLDER]).verify(before, context=b"k1") is None


def test_duplicate_keys_are_collapsed() -> None:
    assert Signer(KEY, old_keys=[KEY, OLD, OLD]).key_count == 2


@pytest.mark.parametrize("bad", ["a-string-key-that-is-long", 1234, None, b"short"])
def test_bad_current_key_is_a_config_error(bad: object) -> None:
    with pytest.raises(ConfigError) as info:
        Signer(bad)  # type: ignore[arg-type]
    assert info.value.field == "signing_key"


def test_bad_old_keys_are_config_errors() -> None:
    with pytest.raises(ConfigError) as info:
        Signer(KEY, old_keys=[b"short"])
    assert info.value.field == "signing_keys"
    with pytest.raises(ConfigError):
        Signer(KEY, old_keys=OLD)  # one key, not a list of keys


def test_sign_rejects_non_bytes() -> None:
    with pytest.raises(TypeError):
        Signer(KEY).sign("text")  # type: ignore[arg-type]


def test_repr_hides_keys() -> None:
    assert "k" * 8 not in repr(Signer(KEY)) and "keys=1" in repr(Signer(KEY))


def test_looks_signed() -> None:
    assert Signer.looks_signed(Signer(KEY).sign(b"x"))
    assert not Signer.looks_signed(b"\x80\x04pickle")
    assert not Signer.looks_signed(None)


def test_shared_signer_across_threads() -> None:
    signer = Signer(KEY, old_keys=[OLD])
    errors: list[str] = []

    def work(seed: int) -> None:
        for i in range(300):
            payload = os.urandom(seed % 50 + i % 7)
            ctx = str(i).encode()
            if signer.verify(signer.sign(payload, ctx), ctx) != payload:
                errors.append(f"{seed}/{i}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


# --- properties -----------------------------------------------------------------------------------


@settings(max_examples=300)
@given(key=keys, payload=payloads, context=contexts)
def test_property_roundtrip(key: bytes, payload: bytes, context: bytes) -> None:
    signer = Signer(key)
    assert signer.verify(signer.sign(payload, context), context) == payload


@settings(max_examples=500)
@given(blob=st.binary(max_size=256), context=contexts)
def test_fuzz_arbitrary_bytes_never_raise_and_never_verify(blob: bytes, context: bytes) -> None:
    assert Signer(KEY, old_keys=[OLD]).verify(blob, context) is None


@settings(max_examples=300)
@given(blob=st.binary(max_size=200))
def test_fuzz_with_valid_header_prefix(blob: bytes) -> None:
    # Arbitrary bytes behind a correct header get past the cheap checks; the MAC must still fail.
    assert Signer(KEY).verify(b"FBS\x02" + blob) is None


@settings(max_examples=300)
@given(payload=payloads, context=contexts, data=st.data())
def test_property_any_mutation_is_rejected(payload: bytes, context: bytes,
                                           data: st.DataObject) -> None:
    signer = Signer(KEY)
    blob = signer.sign(payload, context)
    index = data.draw(st.integers(0, len(blob) - 1))
    xor = data.draw(st.integers(1, 255))
    mutated = bytearray(blob)
    mutated[index] ^= xor
    assert signer.verify(bytes(mutated), context) is None
    cut = data.draw(st.integers(0, len(blob) - 1))
    assert signer.verify(blob[:cut], context) is None


@settings(max_examples=200)
@given(old=st.lists(keys, min_size=1, max_size=4, unique=True), payload=payloads, data=st.data())
def test_property_rotation(old: list[bytes], payload: bytes, data: st.DataObject) -> None:
    current = data.draw(keys.filter(lambda k: k not in old))
    which = data.draw(st.integers(0, len(old) - 1))
    blob = Signer(old[which]).sign(payload)
    result = Signer(current, old_keys=old).verify_with_index(blob)
    assert result == (payload, which + 1)


@settings(max_examples=200, deadline=None)
@given(key=st.binary(min_size=16, max_size=200), head=st.binary(max_size=300),
       payload=st.binary(max_size=3000))
def test_precomputed_hmac_states_give_the_stdlib_hmac(key: bytes, head: bytes,
                                                      payload: bytes) -> None:
    import hashlib
    import hmac

    expected = hmac.new(key, head + payload, hashlib.sha256).digest()
    assert signing._Mac(key).tag(head, payload) == expected


def test_wire_format_is_the_documented_hmac() -> None:
    # Blobs written before the HMAC states were cached must still verify, and the format is
    # exactly the module docstring's: built here from the stdlib hmac, not from Signer.
    import hashlib
    import hmac

    key, ctx, bound, payload = b"w" * 40, b"\x00\x00\x00\x02nssk", b"d" * 32, b"\x00payload"
    msg = (b"FBS\x02" + len(ctx).to_bytes(4, "big") + ctx + len(bound).to_bytes(2, "big")
           + bound + payload)
    blob = (b"FBS\x02" + hmac.new(key, msg, hashlib.sha256).digest()
            + len(bound).to_bytes(2, "big") + bound + payload)
    signer = signing.Signer(key)
    assert signer.sign(payload, ctx, bound) == blob
    assert signer.verify_bound(blob, ctx) == (payload, bound)
    assert signer.sign(bytearray(payload), memoryview(ctx), bytearray(bound)) == blob
    rotated = signing.Signer(b"n" * 32, old_keys=[key])
    assert rotated.verify_with_index(blob, ctx) == (payload, 1)
    with pytest.raises(TypeError):
        signer.sign("text", ctx)  # type: ignore[arg-type]
