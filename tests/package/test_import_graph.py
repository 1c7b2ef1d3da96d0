"""The package's import graph has no circles, and every module imports on its own.

Edges are the ``fbacache`` imports a module runs when it is imported (module level, outside
``if TYPE_CHECKING:``); imports inside functions are lazy on purpose and do not count.
"""
from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import fbacache

ROOT = Path(fbacache.__file__).resolve().parent
# importing these has a side effect or needs a process of its own
SKIP_IMPORT = {"fbacache.maintain.__main__", "fbacache.demo"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _edges(module: str) -> set[str]:
    """Modules of the package that importing ``module`` imports directly."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If) and not _is_type_checking(node):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for h in node.handlers:
                    visit(h.body)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(module, node)
                for a in node.names:
                    sub = f"{base}.{a.name}"
                    found.add(sub if sub in MODULES else base)

    visit(tree.body)
    return {m for m in found if m in MODULES and m != module}


def _cycles() -> list[list[str]]:
    graph = {m: _edges(m) for m in MODULES}
    cycles, state = [], {}

    def walk(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                walk(nxt, stack)
        stack.pop()
        state[node] = 2

    for m in sorted(graph):
        if m not in state:
            walk(m, [])
    return cycles


def test_the_graph_walker_sees_imports() -> None:
    assert "fbacache.prefetch" in _edges("fbacache.manager")
    assert "fbacache._manager_fast" in _edges("fbacache.manager")
    assert "fbacache._util" in _edges("fbacache._core._index_py")  # absolute import
    assert "fbacache._core._index_py" in _edges("fbacache._core")  # `from . import x`


def test_no_import_circles() -> None:
    assert _cycles() == []


def test_components_do_not_know_the_manager() -> None:
    """The manager composes its components; none of them imports it (dogpile's Lock)."""
    for name in ("swr", "prefetch", "locks", "tags", "metrics", "codecs", "signing", "keys",
                 "config", "log", "_util", "errors",
                 # the manager's own parts: handed the pieces, never the manager
                 "_manager_build", "_manager_fast", "_manager_batch", "_manager_metrics"):
        modules = [m for m in MODULES if m == f"fbacache.{name}" or m.startswith(f"fbacache.{name}.")]
        assert modules, name
        for module in modules:
            assert "fbacache.manager" not in _edges(module), module


def test_fba_depends_on_nothing_above_it() -> None:
    """fbacache.fba (the maintenance product) uses only errors, _util and itself (and the
    package root for ``__version__``: its ``__init__`` imports nothing eagerly)."""
    allowed = ("fbacache.fba", "fbacache.errors", "fbacache._util", "fbacache._optional")
    for module in MODULES:
        if module.startswith("fbacache.fba"):
            bad = [e for e in _edges(module) if e != "fbacache" and not e.startswith(allowed)]
            assert not bad, (module, bad)


@pytest.mark.parametrize("name", sorted(set(MODULES) - SKIP_IMPORT))
def test_module_imports(name: str) -> None:
    importlib.import_module(name)


def _loaded_by(argv: list[str]) -> set[str]:
    """The fbacache modules (and heavy stdlib ones) a CLI run imports, in a fresh process."""
    code = ("import sys\nfrom fbacache.fba.cli import main\n"
            f"main({argv!r})\n"
            "print(' '.join(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    return set(out.splitlines()[-1].split())


def test_metrics_loads_only_what_it_uses(tmp_path: Path) -> None:
    """``metrics`` (the verb an operator runs on the whole tree every night) starts without
    the other verbs' machinery and report classes; ``clear`` is the control."""
    (tmp_path / "a").mkdir()
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"cache": {"directories": {"amazon_cache": "a"},
                                         "cache_types": {"amazon_cache": {}}}}))
    heavy = {"fbacache.fba.results_ops", "fbacache.fba.backup", "fbacache.fba.restore",
             "fbacache.fba.strategies", "fbacache.fba.schemas", "fbacache.fba.project",
             "fbacache.fba.health", "fbacache.fba.execute", "msgspec", "tarfile",
             "fbacache.manager", "fbacache._core"}
    from fbacache.fba import tally
    for args in (["metrics"], ["metrics", "--json"]):
        loaded = _loaded_by([*args, "--config", str(cfg)])
        assert "fbacache.fba.tally" in loaded
        assert not loaded & heavy, sorted(loaded & heavy)
        # the compiled walker, when built, is what runs (and it brings no core with it)
        assert ("fbacache.fba._tally_c" in loaded) == (tally.IMPLEMENTATION == "c")
    control = _loaded_by(["clear", "--dry-run", "--config", str(cfg)])
    assert {"fbacache.fba.results_ops", "fbacache.fba.strategies"} <= control
