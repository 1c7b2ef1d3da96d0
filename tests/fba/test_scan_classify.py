"""``scan.classify``'s one-match shortcut for plain entries says what the full rules say.

``validate`` classifies every file of a 48k-file tree; most are unprotected entries at the
top of their directory, and those are recognised by one regular expression. For any
name (and any path below the directory) the answer must be the full rules' answer.
"""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fbacache.fba.scan import ENTRY_PATTERNS, _classify, classify

TYPES = [*ENTRY_PATTERNS, "custom_cache"]
# pieces on every border the rules draw (results names and extensions, temp and hidden
# names, protected endings, case, non-ASCII letters that change length in lower())
PIECES = ["amazon_", "B08B1P9KWC", "_", ".json", ".JSON", ".json\n", ".tmp", ".csv", ".CSV",
          ".Png", ".html", ".xlsx", "fba_summary_", "fba_profitable_finds_",
          "fba_financial_report_", "combined-data", ".fbacache-tmp-", ".", "_products_cache",
          "_ai_category_cache", "linking_map", "_processing_state", "x", "\u0130", "\u212a",
          " ", "New folder", "financial_reports"]
names = st.lists(st.sampled_from(PIECES), min_size=1, max_size=6).map("".join)
rels = st.one_of(names, st.tuples(names, names).map("/".join),
                 st.tuples(names, names, names).map("/".join))


@settings(max_examples=600, deadline=None)
@given(rel=rels, cache_type=st.sampled_from(TYPES))
def test_shortcut_is_the_full_rules(rel: str, cache_type: str) -> None:
    assert classify(cache_type, rel) == _classify(cache_type, rel)


def test_shortcut_borders() -> None:
    # each is one piece away from a plain entry; the shortcut must not take any of them
    cases = {
        "amazon_B08B1P9KWC_1.json": ("entry", False),
        "amazon_B08B1P9KWC_processing_state.json": ("entry", True),
        "amazon_x_ai_category_cache.json": ("entry", True),
        "fba_summary_amazon_x.json": ("results", False),
        ".fbacache-tmp-amazon_x.json": ("temp", False),
        "amazon_x.json.tmp": ("temp", False),
        "amazon_x.JSON": ("other", False),
        "sub/amazon_x.json": ("entry", False),
        "financial_reports/amazon_x.json": ("results", False),
    }
    for rel, expected in cases.items():
        assert classify("amazon_cache", rel) == _classify("amazon_cache", rel) == expected, rel
    others = {  # a custom type takes any .json name as an entry
        ("custom_cache", "x.json"): ("entry", False),
        ("custom_cache", ".fbacache-tmp-x.json"): ("temp", False),
        ("custom_cache", "linking_map.json"): ("entry", True),
        ("custom_cache", "fba_profitable_finds_x.json"): ("results", False),
        ("linking_map", "linking_map.json"): ("entry", True),
        ("ai_category_cache", "s_ai_category_cache.json"): ("entry", True),
        ("supplier_cache", "s_products_cache.json"): ("entry", False),
    }
    for (cache_type, rel), expected in others.items():
        assert classify(cache_type, rel) == _classify(cache_type, rel) == expected, rel
