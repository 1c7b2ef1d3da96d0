"""``fba/tally.py`` (what ``metrics`` counts without ``--content``) agrees with the scanner.

``metrics --content`` still walks :func:`~fbacache.fba.scan.scan_dir` and sorts every file
with :func:`~fbacache.fba.scan.classify`; the default ``metrics`` counts with
:func:`~fbacache.fba.tally.tally_dir`. Both must give the same figures, on hostile trees and
for any file name, with each of tally's two walkers (the fixture ``tally_walker``: the
compiled one and the pure-Python twin); tests/fba/test_tally_walkers.py holds them equal on
generated trees and through races.
"""
from __future__ import annotations

import os
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from fbacache.fba.scan import _PROTECTED, ENTRY_PATTERNS, classify
from fbacache.fba.tally import _PROTECTED_ENDS, _entry_regex, tally_dir

from .conftest import DAY
from .test_metrics_report import hostile_tree

TYPES = [*ENTRY_PATTERNS, "test_cache"]
# name pieces that sit on every border classify() draws
PIECES = ["amazon_", "B08B1P9KWC", "_", ".json", ".JSON", ".tmp", ".csv", ".CSV", ".Png", ".html",
          ".xlsx", "fba_summary_", "fba_profitable_finds_", "fba_financial_report_",
          "combined-data", ".fbacache-tmp-", ".", "_products_cache", "_ai_category_cache",
          "linking_map", "_processing_state", "x", "\u0130", "\u212a", "/", " ", "New folder"]
names = st.lists(st.sampled_from(PIECES), min_size=1, max_size=6).map("".join).filter(
    lambda n: "/" not in n)


@settings(max_examples=400, deadline=None)
@given(name=names, cache_type=st.sampled_from(TYPES))
def test_fast_entry_match_is_classify_entry(name: str, cache_type: str) -> None:
    """The one regex tally runs per file says "entry" exactly when classify() would, for a
    name that is not hidden (hidden names are skipped before either is asked)."""
    kind, protected = classify(cache_type, name)
    fast = _entry_regex(cache_type).match(name) is not None
    # tally asks the protected regex only of names with one of these endings
    assert not protected or name.endswith(_PROTECTED_ENDS)
    assert (_PROTECTED.match(name) is not None) <= name.endswith(_PROTECTED_ENDS)
    if name.startswith("."):
        assert not fast
    else:
        assert fast == (kind == "entry"), (cache_type, name, kind)


def _figures(report):  # type: ignore[no-untyped-def]
    out = {}
    for name, m in report.types.items():
        d = dict(vars(m))
        d.pop("corrupt_count")
        out[name] = d
    return out


def test_metrics_counts_equal_the_scanners(tmp_path: Path, tally_walker: str) -> None:
    """Every figure but corrupt_count: tally (default) == scan_dir + classify (--content)."""
    t = hostile_tree(str(tmp_path / "fba"))
    m = t.maintenance()
    quick, deep = m.metrics(content=False), m.metrics(content=True)
    assert _figures(quick) == _figures(deep)
    assert quick.types["amazon_cache"].file_count > 10
    assert {k: v for k, v in quick.total.items() if k != "corrupt_count"} == \
        {k: v for k, v in deep.total.items() if k != "corrupt_count"}


def test_symlinked_directories_are_counted_never_entered(tmp_path: Path, tally_walker: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    for i in range(5):
        (outside / f"amazon_B{i:09d}.json").write_text("{}")
    d = tmp_path / "amazon_cache"
    (d / "sub").mkdir(parents=True)
    (d / "sub" / "amazon_B000000009.json").write_text("{}")
    os.symlink(outside, d / "sub" / "link")
    os.symlink(outside / "amazon_B000000001.json", d / "amazon_B000000001.json")
    c = tally_dir("amazon_cache", str(d))
    assert (c.entries, c.symlinks, c.other) == (1, 2, 0)


def test_expiry_and_protected_entries(tmp_path: Path, tally_walker: str) -> None:
    now = 2_000_000_000.0
    d = tmp_path / "ai"
    d.mkdir()
    for name, age in (("s_ai_category_cache.json", 3 * DAY), ("t_ai_category_cache.json", 0.5 * DAY)):
        p = d / name
        p.write_text("{}")
        os.utime(p, (now - age, now - age))
    kept = tally_dir("ai_category_cache", str(d), ttl=DAY, now=now, keep_protected=True)
    dropped = tally_dir("ai_category_cache", str(d), ttl=DAY, now=now, keep_protected=False)
    never = tally_dir("ai_category_cache", str(d), ttl=None, now=now, keep_protected=False)
    assert (kept.expired, dropped.expired, never.expired) == (0, 1, 0)
    assert (kept.oldest, kept.newest) == (now - 3 * DAY, now - 0.5 * DAY)


def test_missing_and_empty_directories(tmp_path: Path, tally_walker: str) -> None:
    gone = tally_dir("amazon_cache", str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    empty = tally_dir("amazon_cache", str(tmp_path / "empty"))
    for c in (gone, empty):
        assert (c.entries, c.size, c.oldest, c.newest, c.other) == (0, 0, None, None, 0)
