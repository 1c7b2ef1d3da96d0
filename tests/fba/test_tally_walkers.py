"""The two walkers of ``metrics`` (``fba/tally.py``): the compiled ``_tally_c.walk`` and the
pure-Python twin ``_walk_py``, against each other and against the scanner.

* generated trees (hypothesis): any names (non-UTF-8 bytes too), files, directories,
  symlinks, FIFOs, hidden and results directories, excluded directories: every figure of
  each walker equals what :func:`~fbacache.fba.scan.scan_dir` + ``classify`` count;
* races made deterministic: the walkers ask ``tally._counts_as_other`` about every
  non-entry file name while they list a directory, before they enter its sub-directories;
  the test's version of it swaps directories for symlinks, files or nothing at that moment;
* the public CLI, in fresh processes: ``python -m fbacache.maintain metrics`` prints the
  same report with the compiled walker, with the twin (``FBACACHE_NO_EXTENSIONS=1``) and
  when the extension is missing (the fallback; ``FBACACHE_REQUIRE_EXTENSIONS=1`` makes that
  an ``ImportError``).
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fbacache.fba import tally
from fbacache.fba.scan import ENTRY_PATTERNS, scan_dir
from fbacache.fba.tally import tally_dir

from .conftest import DAY, compiled_walker_expected
from .test_metrics_report import GOLDEN, hostile_tree

NOW = 2_000_000_000.0
_SELECTED = tally._walk
FIELDS = ("entries", "size", "expired", "other", "symlinks", "special", "oldest", "newest")


def scan_figures(cache_type: str, directory: str, exclude: tuple[str, ...] = (),
                 ttl: Optional[float] = None, now: float = NOW,
                 keep_protected: bool = True) -> dict[str, Any]:
    """What ``metrics --content`` counts (scan_dir + classify), as tally's fields."""
    f: dict[str, Any] = dict.fromkeys(FIELDS, 0)
    mtimes = []
    for fi in scan_dir(cache_type, directory, exclude=exclude):
        if fi.kind == "entry":
            f["entries"] += 1
            f["size"] += fi.size
            mtimes.append(fi.mtime)
            if ttl is not None and now - fi.mtime > ttl and not (fi.protected and keep_protected):
                f["expired"] += 1
        elif fi.kind in ("other", "temp"):
            f["other"] += 1
        elif fi.kind == "symlink":
            f["symlinks"] += 1
        elif fi.kind == "special":
            f["special"] += 1
    f["oldest"], f["newest"] = (min(mtimes), max(mtimes)) if mtimes else (None, None)
    return f


def figures(cache_type: str, directory: str, **kw: Any) -> dict[str, Any]:
    t = tally_dir(cache_type, directory, **kw)
    return {k: getattr(t, k) for k in FIELDS}


# --- generated trees -------------------------------------------------------------------------

PIECES = [b"amazon_", b"B08", b"_", b".json", b".tmp", b".CSV", b"fba_summary_", b".",
          b".fbacache-tmp-", b"_ai_category_cache", b"linking_map", b"_processing_state",
          b"_products_cache", b"x", "\u0130".encode(), b"\xff", b"\xe9t\xe9", b" "]
_joined = st.lists(st.sampled_from(PIECES), min_size=1, max_size=4).map(b"".join)
# a third of the names look like entries of some type (the borders are in the pieces)
names = st.one_of(_joined, _joined.map(lambda n: n + b".json"),
                  _joined.map(lambda n: b"amazon_" + n + b".json")).filter(
    lambda n: n not in (b".", b".."))
DIRS = [b"sub", b".hidden", b"New folder", b"financial_reports", b"excluded", b"\xffdir"]
items = st.tuples(st.lists(st.sampled_from(DIRS), max_size=3), names,
                  st.sampled_from(["file", "file", "file", "dir", "symlink", "dirlink", "fifo"]),
                  st.integers(0, 3 * 86400), st.integers(0, 300))


def build(root: bytes, spec: list[tuple[list[bytes], bytes, str, int, int]]) -> None:
    """Lay out ``spec`` under ``root``; an item that collides with an earlier one is left out."""
    for parts, name, kind, age, size in spec:
        parent = os.path.join(root, *parts) if parts else root
        path = os.path.join(parent, name)
        try:
            os.makedirs(parent, exist_ok=True)
            if os.path.lexists(path):
                continue
            if kind == "file":
                with open(path, "wb") as fh:
                    fh.write(b"x" * size)
                os.utime(path, (NOW - age, NOW - age + 0.25))
            elif kind == "dir":
                os.mkdir(path)
            elif kind == "symlink":
                os.symlink(b"nowhere.json", path)
            elif kind == "dirlink":
                os.symlink(root, path)  # a loop, if it were followed
            else:
                os.mkfifo(path)
        except (FileExistsError, NotADirectoryError):
            continue


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=st.lists(items, max_size=25), cache_type=st.sampled_from([*ENTRY_PATTERNS, "x_cache"]),
       ttl=st.sampled_from([None, DAY]), keep_protected=st.booleans(), exclude=st.booleans())
def test_walkers_count_generated_trees_as_the_scanner(
        spec: list[tuple[list[bytes], bytes, str, int, int]], cache_type: str,
        ttl: Optional[float], keep_protected: bool, exclude: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(os.fsencode(tmp), b"cache")
        os.mkdir(root)
        build(root, spec)
        top = os.fsdecode(root)
        kw: dict[str, Any] = {"ttl": ttl, "now": NOW, "keep_protected": keep_protected,
                              "exclude": (os.path.join(top, "excluded"),) if exclude else ()}
        want = scan_figures(cache_type, top, **kw)
        event(f"entries: {min(want['entries'], 3)}")
        for walker in _walkers():
            tally._walk = walker
            try:
                assert figures(cache_type, top, **kw) == want, (walker, spec)
            finally:
                tally._walk = _SELECTED


def _walkers() -> list[Any]:
    if tally._walk_c is None and compiled_walker_expected():
        pytest.fail("FBACACHE_REQUIRE_EXTENSIONS=1 but fbacache.fba._tally_c did not load")
    return [w for w in (tally._walk_c, tally._walk_py) if w is not None]


def test_non_utf8_names_are_counted_like_the_scanner(tmp_path: Path, tally_walker: str) -> None:
    d = os.fsencode(tmp_path / "c")
    os.mkdir(d)
    for name in (b"amazon_\xff.json", b"\xff.json", b"notes\xe9.txt", b"amazon_ok.json"):
        with open(os.path.join(d, name), "wb") as fh:
            fh.write(b"{}")
    got = figures("amazon_cache", os.fsdecode(d))
    assert got == scan_figures("amazon_cache", os.fsdecode(d))
    assert (got["entries"], got["other"]) == (2, 2)


# --- races, made deterministic ---------------------------------------------------------------

pytestmark_fd = pytest.mark.skipif(not tally._BY_FD, reason="no openat on this platform")


def _on_name(monkeypatch: pytest.MonkeyPatch, trigger: str,
             action: Callable[[], None]) -> list[str]:
    """Run ``action`` when a walker asks about the file ``trigger`` (while it lists the
    directory that holds it, before entering any of that directory's sub-directories)."""
    seen: list[str] = []
    real = tally._counts_as_other

    def spy(cache_type: str, name: str) -> bool:
        if name == trigger:
            action()
            seen.append(name)
        return real(cache_type, name)

    monkeypatch.setattr(tally, "_counts_as_other", spy)
    return seen


def _entries(d: str, *names: str) -> None:
    os.makedirs(d, exist_ok=True)
    for n in names:
        with open(os.path.join(d, n), "w") as fh:
            fh.write("{}")


@pytestmark_fd
def test_an_ancestor_swapped_for_a_symlink_does_not_lead_out(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tally_walker: str) -> None:
    """The cache directory is renamed and a symlink to another tree put in its place while
    ``sub/inner`` waits to be entered: the walk stays in the directory it started in (a
    walker opening ``<top>/sub/inner`` by path would count the other tree)."""
    top, outside = str(tmp_path / "amazon_cache"), str(tmp_path / "outside")
    _entries(os.path.join(top, "sub"), "trigger.txt")
    _entries(os.path.join(top, "sub", "inner"), "amazon_B000000001.json")
    _entries(os.path.join(outside, "sub", "inner"), *(f"amazon_X{i}.json" for i in range(3)))

    def swap() -> None:
        os.rename(top, str(tmp_path / "moved"))
        os.symlink(outside, top)

    seen = _on_name(monkeypatch, "trigger.txt", swap)
    got = figures("amazon_cache", top)
    assert seen and os.path.islink(top)
    assert (got["entries"], got["other"], got["symlinks"]) == (1, 1, 0)


@pytestmark_fd
@pytest.mark.parametrize("replacement", ["symlink", "file", "nothing"])
def test_a_directory_replaced_before_it_is_entered_counts_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tally_walker: str,
        replacement: str) -> None:
    """``sub`` was a directory when its parent was listed and is a symlink (never followed),
    a file or gone when it is reached: it counts nothing, and the walk goes on."""
    top, outside = str(tmp_path / "amazon_cache"), str(tmp_path / "outside")
    _entries(top, "trigger.txt", "amazon_B000000001.json")
    _entries(os.path.join(top, "sub"), "amazon_B000000002.json")
    _entries(outside, *(f"amazon_X{i}.json" for i in range(3)))
    sub = os.path.join(top, "sub")

    def replace() -> None:
        os.rename(sub, str(tmp_path / "sub-moved"))
        if replacement == "symlink":
            os.symlink(outside, sub)
        elif replacement == "file":
            _entries(top, "sub")

    seen = _on_name(monkeypatch, "trigger.txt", replace)
    got = figures("amazon_cache", top)
    assert seen
    assert (got["entries"], got["other"], got["symlinks"]) == (1, 1, 0)


@pytestmark_fd
def test_an_entry_gone_before_its_lstat_is_an_error_naming_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tally_walker: str) -> None:
    """Between the listing and the ``lstat`` of an entry (both walkers match its name in
    between), the file is deleted: ``OSError`` with the entry's whole path, which
    ``metrics`` reports as that type's error."""
    top = str(tmp_path / "amazon_cache")
    _entries(os.path.join(top, "sub"), "amazon_B000000001.json")
    victim = os.path.join(top, "sub", "amazon_B000000001.json")
    real = tally._entry_regex

    class Deleting:
        def __init__(self, cache_type: str) -> None:
            self.pattern = real(cache_type)

        def match(self, name: str) -> Any:
            if os.path.exists(victim):
                os.unlink(victim)
            return self.pattern.match(name)

    monkeypatch.setattr(tally, "_entry_regex", Deleting)
    with pytest.raises(FileNotFoundError) as err:
        tally_dir("amazon_cache", top)
    assert err.value.filename == victim


# --- the public CLI, compiled / twin / extension missing ----------------------------------------

_BLOCK = """
import sys
class _NoWalker:
    def find_spec(self, name, path=None, target=None):
        if name == "fbacache.fba._tally_c":
            raise ImportError("the compiled walker is not installed (test)")
        return None
sys.meta_path.insert(0, _NoWalker())
"""
_MAIN = """
from fbacache.fba import tally
from fbacache.fba.cli import main
code = main({argv!r})
print("IMPLEMENTATION", tally.IMPLEMENTATION, code)
"""


def _cli(argv: list[str], *, env: Optional[dict[str, str]] = None,
         block: bool = False) -> subprocess.CompletedProcess[str]:
    code = (_BLOCK if block else "") + _MAIN.format(argv=argv)
    run_env = {k: v for k, v in os.environ.items()
               if k not in ("FBACACHE_NO_EXTENSIONS", "FBACACHE_REQUIRE_EXTENSIONS")}
    run_env.update(env or {})
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=run_env, timeout=120)


def _report(out: str, root: str) -> tuple[str, str]:
    lines = out.splitlines()
    *report, last = lines
    return "\n".join(report).replace(root, "<ROOT>"), last


def test_the_cli_prints_the_pinned_report_with_each_walker(tmp_path: Path) -> None:
    """``metrics --json`` in fresh processes: compiled walker (when built), the twin chosen
    by ``FBACACHE_NO_EXTENSIONS=1``, and the twin as the fallback when the extension is
    missing; each prints the pinned report byte for byte."""
    t = hostile_tree(str(tmp_path / "fba"))
    argv = t.cli_args("metrics", "--json")
    with open(GOLDEN, encoding="utf-8") as fh:
        pin = json.load(fh)["json"]
    from fbacache.fba.results import iso_utc
    runs = {"default": _cli(argv), "env": _cli(argv, env={"FBACACHE_NO_EXTENSIONS": "1"}),
            "missing": _cli(argv, block=True)}
    impl = {}
    for how, done in runs.items():
        assert done.returncode == 0, done.stderr
        report, last = _report(done.stdout, t.root)
        assert report.replace(iso_utc(t.now), "<NOW>") + "\n" == pin["stdout"], how
        _, impl[how], code = last.split()
        assert int(code) == pin["exit_code"]
    assert impl["env"] == impl["missing"] == "py"
    # the child runs without FBACACHE_NO_EXTENSIONS: the compiled walker wherever it is built
    built = importlib.util.find_spec("fbacache.fba._tally_c") is not None
    assert impl["default"] == ("c" if built or compiled_walker_expected() else "py")


def test_a_missing_walker_is_an_error_when_extensions_are_required(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"cache": {"directories": {"amazon_cache": "a"},
                                         "cache_types": {"amazon_cache": {}}}}))
    done = _cli(["metrics", "--config", str(cfg)], env={"FBACACHE_REQUIRE_EXTENSIONS": "1"},
                block=True)
    if sys.platform == "win32":  # never built there: the twin is the walker
        assert done.returncode == 0 and "IMPLEMENTATION py" in done.stdout
    else:
        assert done.returncode != 0 and "the compiled walker is not installed" in done.stderr
