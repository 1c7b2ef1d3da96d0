"""validate streams: counts cover every file, nothing per file is kept, verdicts unchanged.

Also the amazon fast paths (``fba/project.py``): whatever the view answers, the schema
check gives on it exactly what it gives on the stdlib's full parse; the clean check says
"clean" only when the stdlib parses the file and the check is empty, and for ordinary
JSON it says so exactly then.
"""
from __future__ import annotations

import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fbacache.fba.cli_stream import BLOCK
from fbacache.fba.project import AMAZON_KEYS, KEEPA_KEYS, amazon_clean, amazon_view
from fbacache.fba.safe import open_regular, read_sized
from fbacache.fba.schemas import check_amazon

from .conftest import amazon_entry, build_tree, write_json
from .test_cli_errors import maintain

NAME = "amazon_B000000001_5000000000001.json"


def _agree(raw: bytes) -> None:
    """If the fast path answers, the stdlib parses ``raw`` and the check agrees."""
    view = amazon_view(raw)
    if view is None:
        return
    doc = json.loads(raw)  # must not raise: the fast path vouched for the stdlib's verdict
    assert isinstance(doc, dict)
    assert set(view) == set(AMAZON_KEYS)
    assert all(view[k] == doc.get(k) for k in AMAZON_KEYS if k != "keepa")
    assert check_amazon(view, NAME) == check_amazon(doc, NAME)


HOSTILE = [
    b'{"asin": "d\xe9sk"}',  # cp1252: the stdlib refuses, msgspec would skip it
    b'{"asin": "B000000001", "x": "caf\xe9"}',
    b'{"asin": "B000000001", "x": ' + b"7" * 4301 + b"}",  # beyond int_max_str_digits
    b'{"asin": "B000000001", "x": [' + b"1" * 4300 + b"]}",  # at the limit: accepted
    b'{"asin": "B000000001", "x": "' + b"9" * 9000 + b'"}',  # digits inside a string
    b'{"asin": "B000000001", "x": NaN}', b'{"asin": "B000000001", "x": Infinity}',
    b'{"asin": "\\ud800"}', b'{"x": "\\udc00"}', b'{"asin": 1e400}',
    b'{"asin": "B000000001", "asin": 3}', b'{"keepa": {"status": 1}, "keepa": null}',
    b'{"keepa": {"product_details_tab_data": [1]}}',
    b'{"keepa": {"product_details_tab_data": "x"}}',
    b'{"keepa": {"product_details_tab_data": null}}',
    b'{"keepa": {"product_details_tab_data": {"a": {"b": []}}}}',
    b'{"keepa": [], "asin": "B000000001"}', b'{"keepa": "done"}',
    b'{"title": 12345678901234567890123}', b'{"rating": -0.0, "sales_rank": 01}',
    b'{"x": "\x01"}', b'{"x": "\\x"}', b'[{"asin": "B000000001"}]', b'"text"', b"null",
    b'{"a": ' + b"[" * 3000 + b"]" * 3000 + b"}", b'{"a": 1} x', b'{"a": 1,}', b'{\x0c}',
    b'\x00{\x00}', b'{"asin":"B000000001"}\r\n\t ', b'{"title": "\xf0\x9f\x98\x80"}',
]


@pytest.mark.parametrize("raw", HOSTILE)
def test_fast_path_vouches_only_for_the_stdlib_verdict(raw):
    _agree(raw)


def test_fast_path_refuses_what_the_stdlib_refuses():
    pytest.importorskip("msgspec")
    for raw in HOSTILE[:3]:  # not UTF-8, an integer beyond the digit limit
        with pytest.raises(ValueError):
            json.loads(raw)
        assert amazon_view(raw) is None
    assert amazon_view(HOSTILE[3]) is not None  # at the limit
    # and answers for an ordinary entry
    assert amazon_view(json.dumps(amazon_entry("B000000001")).encode()) is not None


scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                    st.floats(allow_nan=False), st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=8)
keepas = st.one_of(values, st.fixed_dictionaries(
    {}, optional={k: values for k in KEEPA_KEYS}))
asins = st.one_of(values, st.from_regex(r"[A-Z0-9]{10}", fullmatch=True),
                 st.sampled_from(["B000000001", "b000000001"]))
likely = {"asin": asins, "asin_queried": asins, "title": st.one_of(values, st.text()),
          **{k: st.one_of(values, st.floats(allow_nan=False), st.integers())
             for k in ("current_price", "original_price", "rating", "review_count",
                       "sales_rank")},
          "keepa": st.one_of(keepas, st.fixed_dictionaries(
              {"status": st.text(max_size=5)},
              optional={"product_details_tab_data": st.one_of(
                  st.none(), st.dictionaries(st.text(max_size=3), values, max_size=2))}))}
entries = st.fixed_dictionaries({}, optional={**{k: st.one_of(values, likely[k])
                                                 for k in AMAZON_KEYS}, "extra": values})


@settings(max_examples=300, deadline=None)
@given(doc=entries, indent=st.sampled_from([None, 2]), ascii_only=st.booleans())
def test_fast_path_agrees_with_the_full_parse(doc, indent, ascii_only):
    _agree(json.dumps(doc, indent=indent, ensure_ascii=ascii_only).encode())


def test_read_sized_reads_the_whole_file_whatever_fstat_said(tmp_path):
    p = str(tmp_path / "f.json")
    with open(p, "wb") as fh:
        fh.write(b"x" * 1000)
    fd, st_ = open_regular(p)
    try:
        with open(p, "ab") as fh:  # grows after the fstat
            fh.write(b"y" * 5000)
        assert read_sized(fd, st_.st_size) == b"x" * 1000 + b"y" * 5000
    finally:
        os.close(fd)
    fd, st_ = open_regular(p)
    try:
        os.truncate(p, 10)  # shrinks after the fstat
        assert read_sized(fd, st_.st_size) == b"x" * 10
    finally:
        os.close(fd)


def _corrupt_tree(tmp_path, n_extra=600, n_bad=BLOCK + 40):
    """A tree with more invalid files than one text block, of every kind of damage."""
    tree = build_tree(str(tmp_path / "fba"), n_amazon_extra=n_extra)
    for i in range(n_bad):
        path = os.path.join(tree.amazon_dir, f"amazon_B9{i:08d}_1.json")
        kind = i % 4
        if kind == 0:
            with open(path, "wb") as fh:  # a torn write
                fh.write(json.dumps(amazon_entry(f"B9{i:08d}")).encode()[:40])
        elif kind == 1:
            with open(path, "wb") as fh:  # cp1252 bytes
                fh.write(json.dumps(amazon_entry(f"B9{i:08d}")).encode().replace(
                    b"Title", "T\u00eftle".encode("cp1252")))
        elif kind == 2:
            write_json(path, ["not", "an", "entry"], tree.now)
        else:
            write_json(path, {**amazon_entry(f"B9{i:08d}"), "rating": "five"}, tree.now)
    return tree, n_bad


def test_streamed_validate_counts_everything_and_keeps_nothing(tmp_path):
    tree, n_bad = _corrupt_tree(tmp_path)
    m = tree.maintenance()
    full = m.validate()
    seen = []
    streamed = m.validate(on_file=seen.append, keep=0)
    assert streamed.files == [] and streamed.omitted_files == full.checked_files
    assert [f.to_dict() for f in seen] == [f.to_dict() for f in full.files]
    for r in (full, streamed):
        assert r.checked_files == len(full.files) > 600 + n_bad
        assert r.invalid_count == len(full.invalid) == n_bad // 4 * 3
        assert r.corrupt_count == n_bad // 2
        assert r.status == "error"
    assert streamed.to_dict()["invalid_files"] == full.to_dict()["invalid_files"]
    # only the files with findings get an object at all
    issues = []
    m.validate(on_file=issues.append, every_file=False, keep=0)
    assert [f.path for f in issues] == [f.path for f in full.files if f.errors or f.warnings]
    # a bounded report keeps the first ones and still counts all
    bounded = m.validate(keep=5)
    assert len(bounded.files) == 5 and bounded.checked_files == full.checked_files
    assert bounded.omitted_files == full.checked_files - 5


def test_fast_path_and_stdlib_give_the_same_report(tmp_path, monkeypatch):
    pytest.importorskip("msgspec")
    tree, _ = _corrupt_tree(tmp_path, n_extra=50, n_bad=40)
    fast = maintain(tree.cli_args("validate", "--json"))
    monkeypatch.setenv("FBACACHE_JSON", "stdlib")
    slow = maintain(tree.cli_args("validate", "--json"))
    assert fast.returncode == slow.returncode == 2
    a, b = json.loads(fast.stdout), json.loads(slow.stdout)
    assert a["files"] == b["files"] and a["issues"] == b["issues"]


def test_cli_streams_every_invalid_file_and_the_summary(tmp_path):
    tree, n_bad = _corrupt_tree(tmp_path)
    p = maintain(tree.cli_args("validate", "--cache-type", "amazon_cache"))
    lines = p.stdout.splitlines()
    assert p.returncode == 2 and lines[0].split()[:2] == ["path", "result"]
    rows = [ln for ln in lines if ln.startswith(tree.amazon_dir)]
    found = [f for f in tree.maintenance().validate(["amazon_cache"]).files
             if f.errors or f.warnings]
    assert len(found) > BLOCK and [r.split("  ")[0] for r in rows] == [f.path for f in found]
    assert sum(" INVALID " in r for r in rows) == n_bad // 4 * 3
    assert f"checked {600 + 9 + n_bad + 1} file(s): " in p.stdout  # + the symlink
    errors = [ln for ln in lines if ln.startswith("error: ")]
    assert len(errors) == 1 and f"{n_bad // 4 * 3} of " in errors[0]
    data = json.loads(maintain(tree.cli_args("validate", "--cache-type", "amazon_cache",
                                             "--json")).stdout)
    assert data["status"] == "error" and data["exit_code"] == 2
    assert data["schema_version"] == 1 and data["verb"] == "validate"
    assert len(data["files"]) == data["total_files"] == 600 + 9 + n_bad + 1
    assert data["invalid_files"] == n_bad // 4 * 3
    quiet = maintain(tree.cli_args("validate", "--cache-type", "amazon_cache", "--quiet"))
    assert quiet.returncode == 2 and quiet.stdout.splitlines() == errors


names = st.one_of(st.just(NAME), st.just("amazon_b000000001_x.json"), st.just("notes.json"),
                  st.just("amazon_B000000001_processing_state.json"),
                  st.from_regex(r"amazon_[A-Za-z0-9]{10}(_[a-z]{0,3})?\.json", fullmatch=True))


def _stdlib_clean(raw: bytes, name: str) -> bool:
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        return False
    return check_amazon(doc, name) == ([], [])


def _sound(raw: bytes, name: str) -> bool:
    """The clean check never vouches for a file the stdlib refuses or the check faults."""
    clean = amazon_clean(raw, name)
    if clean:
        assert _stdlib_clean(raw, name), raw[:200]
    return clean


@pytest.mark.parametrize("raw", HOSTILE)
def test_clean_check_vouches_only_for_clean_stdlib_verdicts(raw):
    for name in (NAME, "amazon_B000000002_1.json", "x.json"):
        _sound(raw, name)


@settings(max_examples=300, deadline=None)
@given(doc=entries, name=names, indent=st.sampled_from([None, 2]), ascii_only=st.booleans())
def test_clean_check_is_sound_on_any_entry(doc, name, indent, ascii_only):
    # any text (lone surrogates too), infinities, integers beyond 64 bits
    _sound(json.dumps(doc, indent=indent, ensure_ascii=ascii_only)
           .encode("utf-8", "surrogatepass"), name)


# ordinary JSON: finite floats, text without lone surrogates, shallow nesting
o_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
o_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                      st.floats(allow_nan=False, allow_infinity=False), o_text)
o_values = st.recursive(o_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(o_text, inner, max_size=3)), max_leaves=8)
o_asins = st.one_of(o_values, st.from_regex(r"[A-Z0-9]{10}", fullmatch=True),
                    st.sampled_from(["B000000001", "b000000001", "B000000001\n", "", 0, False,
                                     [], {}, None]))
o_likely = {"asin": o_asins, "asin_queried": o_asins, "title": st.one_of(o_values, o_text),
            **{k: st.one_of(o_values, st.floats(allow_nan=False, allow_infinity=False),
                            st.integers()) for k in ("current_price", "original_price",
                                                     "rating", "review_count", "sales_rank")},
            "keepa": st.one_of(o_values, st.fixed_dictionaries(
                {}, optional={"status": st.one_of(o_values, o_text),
                              "product_details_tab_data": st.one_of(
                                  st.none(), o_values,
                                  st.dictionaries(o_text, o_values, max_size=2))}))}
o_free = st.fixed_dictionaries({}, optional={**{k: st.one_of(o_values, o_likely[k])
                                                for k in AMAZON_KEYS}, "extra": o_values})
# a clean entry with at most one key dropped and two keys changed: free generation lands on
# a clean entry about once in a thousand, so without these both verdicts would not be common
_CLEAN = amazon_entry("B000000001")
o_near_clean = st.builds(
    lambda drop, changes: {**{k: v for k, v in _CLEAN.items() if k not in drop}, **changes},
    st.sets(st.sampled_from(sorted(_CLEAN)), max_size=1),
    st.dictionaries(st.sampled_from(sorted({*AMAZON_KEYS, "extra"})),
                    st.one_of(o_values, *o_likely.values()), max_size=2))
o_entries = st.one_of(o_free, o_near_clean)


@settings(max_examples=500, deadline=None)
@given(doc=o_entries, name=names, indent=st.sampled_from([None, 2]), ascii_only=st.booleans())
def test_clean_check_is_exactly_an_empty_check_on_ordinary_json(doc, name, indent, ascii_only):
    pytest.importorskip("msgspec")
    raw = json.dumps(doc, indent=indent, ensure_ascii=ascii_only).encode()
    expected = _stdlib_clean(raw, name)
    assert amazon_clean(raw, name) == expected


@pytest.mark.parametrize("asin", ["B000000001", "b000000001", "", "B00000000", None, 7])
def test_clean_check_on_ordinary_entries(asin):
    pytest.importorskip("msgspec")
    doc = amazon_entry("B000000001")
    doc["asin"] = asin
    for name in (NAME, "amazon_B000000002_1.json", "x.json"):
        raw = json.dumps(doc).encode()
        assert amazon_clean(raw, name) == _stdlib_clean(raw, name)
    assert amazon_clean(json.dumps(amazon_entry("B000000001")).encode(), NAME)


def test_generated_entries_reach_the_clean_case():
    # the strategy must produce clean entries too, or the equality above proves little
    pytest.importorskip("msgspec")
    from hypothesis import HealthCheck, find, settings
    # no deadline or speed health check: on a loaded machine generation is merely slower
    doc = find(o_entries, lambda d: amazon_clean(json.dumps(d).encode(), NAME),
               settings=settings(max_examples=2000, deadline=None,
                                 suppress_health_check=list(HealthCheck)))
    assert check_amazon(doc, NAME) == ([], [])


# files the clean check must leave to the other paths, each next to a clean twin
EDGES = {
    "name": lambda e: {**e, "asin": "B000000002", "asin_queried": "B000000002"},
    "queried": lambda e: {**e, "asin": "B000000002"},  # asin_queried is the named one
    "bool": lambda e: {**e, "rating": True},
    "big": lambda e: {**e, "sales_rank": 2 ** 80},
    "lower": lambda e: {**e, "asin": e["asin"].lower()},
    "falsy": lambda e: {**e, "asin": False, "asin_queried": e["asin"].lower()},
    "status": lambda e: {**e, "keepa": {"status": None}},
    "details": lambda e: {**e, "keepa": {"status": "ok", "product_details_tab_data": []}},
    "title": lambda e: {**e, "title": ""},
}


def test_clean_check_and_stdlib_give_the_same_report_on_edge_files(tmp_path, monkeypatch):
    pytest.importorskip("msgspec")
    tree = build_tree(str(tmp_path / "fba"))
    for i, (label, edit) in enumerate(EDGES.items()):
        asin = f"B0CASE{i:04d}"
        write_json(os.path.join(tree.amazon_dir, f"amazon_{asin}_{label}.json"),
                   amazon_entry(asin), tree.now)
        write_json(os.path.join(tree.amazon_dir, f"amazon_{asin}_{label}_edge.json"),
                   edit(amazon_entry(asin)), tree.now)
    raw = json.dumps(amazon_entry("B0CASE0100")).encode()
    damaged = {"nan": raw[:-1] + b', "x": NaN}', "inf": raw.replace(b'4.5', b'1e400'),
               "digits": raw[:-1] + b', "x": ' + b"7" * 5000 + b"}",
               "deep": raw[:-1] + b', "x": ' + b"[" * 3000 + b"]" * 3000 + b"}",
               "ctrl": raw[:-1] + b', "x": "\x01"}', "bom": b"\xef\xbb\xbf" + raw,
               "cp1252": raw.replace(b"Title", "T\u00eftle".encode("cp1252"))}
    for label, data in damaged.items():
        with open(os.path.join(tree.amazon_dir, f"amazon_B0CASE0100_{label}.json"), "wb") as fh:
            fh.write(data)
    fast = maintain(tree.cli_args("validate", "--json", "--now", "1800000000"))
    monkeypatch.setenv("FBACACHE_JSON", "stdlib")
    slow = maintain(tree.cli_args("validate", "--json", "--now", "1800000000"))
    assert fast.returncode == slow.returncode == 2
    assert fast.stdout == slow.stdout
    files = {os.path.basename(f["path"]): f for f in json.loads(fast.stdout)["files"]}
    for i, label in enumerate(EDGES):
        assert files[f"amazon_B0CASE{i:04d}_{label}.json"]["issues"] == []
        clean = files[f"amazon_B0CASE{i:04d}_{label}_edge.json"]["issues"] == []
        assert clean == (label in ("queried", "big")), label  # those two are clean entries
    assert all(files[f"amazon_B0CASE0100_{k}.json"]["corrupt"]
               for k in ("digits", "deep", "ctrl", "cp1252"))
