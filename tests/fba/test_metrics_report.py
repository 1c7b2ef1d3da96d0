"""``metrics`` reports pinned on a small tree with every kind of file the scan meets.

The expected text and JSON were produced by the scanner before its fast path
(``fba/tally.py``) existed; any change to what ``metrics`` prints for the same tree fails here.
Paths are shown relative to the tree (``<ROOT>``) and the run's instant as ``<NOW>``, so the
pins hold for any ``FBACACHE_TEST_NOW``.
"""
from __future__ import annotations

import copy
import json
import os

import pytest

from fbacache.fba.cli import main
from fbacache.fba.results import iso_utc

from .conftest import CONFIG, DAY, Tree, build_tree, write_json


def _touch(path: str, mtime: float, data: bytes = b"{}") -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)
    os.utime(path, (mtime, mtime))


def hostile_tree(root: str) -> Tree:
    """The fixture tree plus temp, hidden, nested, results, special and custom-type files."""
    extra = {
        "directories": {
            "test_cache": "cache/test",
            "broken_cache": "OUTPUTS/not_a_dir.json",
            "gone_cache": "OUTPUTS/gone",
        },
        "cache_types": {
            **copy.deepcopy(CONFIG["cache"]["cache_types"]),
            "test_cache": {"ttl_hours": 48, "max_size_mb": 1},
            "broken_cache": {},
            "gone_cache": {},
        },
    }
    t = build_tree(root, n_amazon_extra=4, config_extra=extra)
    now, am = t.now, t.amazon_dir
    old, fresh = now - 30 * DAY, now - 2 * 3600
    _touch(os.path.join(am, ".fbacache-tmp-1234"), fresh)          # temp (hidden but counted)
    _touch(os.path.join(am, "amazon_B0TORN0000.json.tmp"), fresh)  # temp
    _touch(os.path.join(am, ".maintain.lock"), fresh, b"")         # hidden: skipped
    _touch(os.path.join(am, ".staging", "amazon_B0HIDDEN00.json"), old)  # hidden dir: skipped
    _touch(os.path.join(am, "New folder", "amazon_B0RESULTS0.json"), old)  # results dir
    _touch(os.path.join(am, "sub", "amazon_B0NESTED00_1.json"), old, b'{"a": 1}')  # entry
    _touch(os.path.join(am, "sub", "deeper", "amazon_B0DEEP0000.json"), fresh, b"[]")
    _touch(os.path.join(am, "sub", "fba_summary_x.json"), old)     # results by name
    _touch(os.path.join(am, "REPORT.CSV"), old)                    # results by extension
    _touch(os.path.join(am, "amazon_chart.PNG"), old)              # results by extension
    _touch(os.path.join(am, "amazon_B0CORRUPT0_1.json"), old, b'{"torn": ')
    _touch(os.path.join(am, "x_processing_state.json"), old)       # protected, not an entry
    _touch(os.path.join(am, "nested", "n1.json"), old)             # other: not amazon_*
    _touch(os.path.join(am, "nested", "n2.txt"), fresh)
    os.mkfifo(os.path.join(am, "amazon_B0FIFO00000.json"))         # special: never opened
    os.symlink(os.path.dirname(t.outside), os.path.join(am, "amazon_dirlink"))
    os.symlink(os.path.join(root, "nowhere.json"), os.path.join(am, "amazon_B0DANGLE00.json"))
    tc = t.path("cache", "test")
    write_json(os.path.join(tc, "a.json"), {"k": 1}, old)
    write_json(os.path.join(tc, "b.json"), [1, 2, 3], fresh)
    write_json(os.path.join(tc, "deep", "c.json"), {"deep": True}, fresh)
    _touch(os.path.join(tc, "readme.txt"), old, b"notes")
    _touch(os.path.join(tc, "bad.json"), fresh, b"\x93cp1252\x94")
    _touch(t.path("OUTPUTS", "not_a_dir.json"), old)
    # the linking map is protected and preserved: old, never expired; the supplier map too
    _touch(os.path.join(t.path("OUTPUTS", "cached_products"), "old_products_cache.json"),
           now - 400 * DAY, b"[]")
    return t


def _run(capsys: pytest.CaptureFixture[str], t: Tree, *args: str) -> tuple[int, str]:
    code = main(t.cli_args("metrics", *args))
    out = capsys.readouterr().out
    return code, out.replace(t.root, "<ROOT>").replace(iso_utc(t.now), "<NOW>")


GOLDEN = os.path.join(os.path.dirname(__file__), "golden", "metrics_hostile_tree.json")


def _expected(name: str) -> tuple[int, str]:
    with open(GOLDEN, encoding="utf-8") as fh:
        pin = json.load(fh)[name]
    return pin["exit_code"], pin["stdout"]


@pytest.fixture
def hostile(tmp_path) -> Tree:  # type: ignore[no-untyped-def]
    return hostile_tree(str(tmp_path / "fba"))


@pytest.mark.parametrize("name,args", [("text", ()), ("json", ("--json",)),
                                       ("content", ("--json", "--content"))])
def test_metrics_report_is_pinned(hostile: Tree, capsys, name: str,  # type: ignore[no-untyped-def]
                                  args: tuple[str, ...], tally_walker: str) -> None:
    """Byte for byte the report the scanner printed before the fast path (exit 2: one
    type's directory is a file), with either walker of tally (``--content`` uses neither)."""
    assert _run(capsys, hostile, *args) == _expected(name)


def test_the_pinned_tree_has_every_kind(hostile: Tree, capsys) -> None:  # type: ignore[no-untyped-def]
    """The pins are worth something only if the tree holds what the scan must sort out."""
    report = json.loads(_run(capsys, hostile, "--json")[1])
    am = report["types"]["amazon_cache"]
    assert am["symlinks_skipped"] == 3 and am["special_skipped"] == 1
    assert am["other_files"] == 6  # 2 temp, notes.txt, processing state, nested/n1, n2
    assert 0 < am["expired_count"] < am["file_count"]
    assert report["types"]["broken_cache"]["error"]
    assert not report["types"]["gone_cache"]["exists"]
