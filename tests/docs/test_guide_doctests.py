"""Every `>>>` example of docs/guide/*.md runs (one test per page)."""
from __future__ import annotations

import doctest
import pathlib

import pytest

GUIDE = pathlib.Path(__file__).resolve().parents[2] / "docs" / "guide"
PAGES = sorted(p.name for p in GUIDE.glob("*.md") if p.name != "README.md")


def test_every_feature_has_a_page():
    assert {"decorators.md", "tags.md", "stale-while-revalidate.md", "warming.md",
            "monitoring.md", "prometheus.md", "logging.md", "filesystem-backend.md"} <= set(PAGES)


@pytest.mark.parametrize("page", PAGES)
def test_guide_examples(page):
    result = doctest.testfile(str(GUIDE / page), module_relative=False,
                              optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{result.failed} example(s) failed in docs/guide/{page}"
    assert result.attempted > 0, f"docs/guide/{page} has no runnable example"
