"""The README's first example runs as written (it is the first thing a new user copies)."""
from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_first_python_example_runs():
    text = README.read_text(encoding="utf-8")
    block = re.search(r"```python\n(.*?)```", text, flags=re.S)
    assert block is not None, "the README has no python example"
    namespace: dict = {}
    exec(compile(block.group(1), str(README), "exec"), namespace)  # noqa: S102 - our own README
    cache = namespace["cache"]
    assert namespace["lru"]["answer"] == 42
    assert namespace["price"] == 19.99
    assert cache.get("product:B08B1P9KWC") == {"title": "Desk lamp", "price": 19.99}
    assert namespace["lookup"]("B08B1P9KWC") is None  # the stub returns None; it is cached
    cache.close()


def test_readme_install_lines_name_real_extras():
    text = README.read_text(encoding="utf-8")
    pyproject = (README.parent / "pyproject.toml").read_text(encoding="utf-8")
    extras = set(re.findall(r"^(\w+) = \[", pyproject.split("[project.optional-dependencies]")[1]
                            .split("\n[")[0], flags=re.M))
    named = set(re.findall(r"fbacache\[([\w,]+)\]", text))
    assert named, "no pip install line with an extra"
    for group in named:
        assert set(group.split(",")) <= extras, (group, extras)
