"""Every file the installed package or the README points at exists where a reader looks.

The wheel holds the package only; the guides (``docs/``), tests, benchmarks and scripts are in
the sdist, whose top directory is this test suite's parent (a checkout has the same layout).
So every ``docs/...``, ``tests/...``, ``benchmarks/...`` or ``scripts/...`` path in the
installed package's sources (docstrings, comments, messages) or in a compiled module's
docstrings must (1) exist beside ``tests/`` and (2) say it is in the sdist, since a user reading
``help()`` from a wheel has no ``docs/`` beside it.  scripts/test-dist.sh and
scripts/test-pythons.sh run this against the installed wheel from an unpacked sdist, so a
guide missing from the sdist (MANIFEST.in) fails there.
"""
from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path
from urllib.parse import unquote

import pytest

import fbacache

PACKAGE = Path(fbacache.__file__).resolve().parent  # the installed package, or the checkout's
PROJECT = Path(__file__).resolve().parents[2]  # the sdist's (or the checkout's) top directory
REFERENCE = re.compile(r"(?<![\w/.-])((?:docs|tests|benchmarks|scripts)/[\w./-]*\w)")
QUALIFIED = ("sdist", "source distribution")


def _texts() -> dict[str, str]:
    """Installed source text by file, plus the docstrings of the compiled modules."""
    texts = {str(p.relative_to(PACKAGE.parent)): p.read_text(encoding="utf-8")
             for p in sorted(PACKAGE.rglob("*.py"))}
    for name in ("fbacache._core._index_c", "fbacache._core._store_c"):
        try:
            module = importlib.import_module(name)
        except ImportError:  # pure-Python install: nothing compiled to read
            continue
        objects = [module]
        for _, obj in inspect.getmembers(module):
            if inspect.isclass(obj) or inspect.isroutine(obj):
                objects.append(obj)
            if inspect.isclass(obj):
                objects += list(vars(obj).values())
        docs = [getattr(o, "__doc__", None) for o in objects]
        texts[f"{name} (compiled docstrings)"] = "\n".join(d for d in docs if isinstance(d, str))
    return texts


def _references(texts: dict[str, str]) -> list[tuple[str, str, str]]:
    """(where, path, the text around it) for every path reference."""
    found = []
    for where, text in texts.items():
        for m in REFERENCE.finditer(text):
            around = text[max(0, m.start() - 90): m.end() + 90]
            found.append((where, m.group(1), around))
    return found


TEXTS = _texts()
REFS = _references(TEXTS)


def test_the_scan_finds_the_references_it_checks() -> None:
    """The scanner sees references in .py sources and in the compiled core's docstrings."""
    where = {w for w, _, _ in REFS}
    assert "fbacache/manager.py" in where and "fbacache/fba/cli.py" in where
    paths = {p for _, p, _ in REFS}
    assert {"docs/manager.md", "docs/redis.md", "docs/maintain.md"} <= paths
    if fbacache.NATIVE:
        assert "fbacache._core._index_c (compiled docstrings)" in where
    assert [m.group(1) for m in REFERENCE.finditer("see docs/a.md, not x/docs/b.md.")] == \
        ["docs/a.md"]


@pytest.mark.parametrize("where,path,around", REFS, ids=[f"{w}:{p}" for w, p, _ in REFS])
def test_every_referenced_file_is_in_the_sdist(where: str, path: str, around: str) -> None:
    assert (PROJECT / path).exists(), f"{where} names {path}, which the sdist does not hold"


@pytest.mark.parametrize("where,path,around", REFS, ids=[f"{w}:{p}" for w, p, _ in REFS])
def test_every_reference_says_it_is_in_the_sdist(where: str, path: str, around: str) -> None:
    """A wheel user reading help() must learn where the named file is."""
    flat = " ".join(around.split())
    assert any(q in flat for q in QUALIFIED), f"{where}: {path} without 'sdist': ...{flat}..."


def test_readme_links_resolve_in_the_sdist() -> None:
    """The README's relative links (repository view, and the sdist's top directory)."""
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)\s]+)\)", readme)
    relative = [u for u in links if "://" not in u and not u.startswith(("#", "mailto:"))]
    assert relative, "the README has no relative links to check"
    missing = [u for u in relative if not (PROJECT / unquote(u.split("#")[0])).exists()]
    assert missing == []
