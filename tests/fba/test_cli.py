"""python -m fbacache.maintain: exit codes, --json, --yes, no progress bar off a TTY."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from fbacache.fba.cli import main


def _args(tree, *rest):
    return tree.cli_args(*rest)


def test_every_verb_json(tree, capsys):
    codes = {}
    for verb in ("health", "metrics", "validate", "backup", "clear", "restore", "repair",
                 "optimize"):
        extra = ["--yes"] if verb in ("clear", "restore", "repair", "optimize") else []
        codes[verb] = main(_args(tree, verb, "--json", *extra))
        data = json.loads(capsys.readouterr().out)
        assert data["verb"] == verb and data["status"] in ("ok", "warning", "error")
    assert codes["metrics"] == 0 and codes["backup"] == 0
    assert codes["health"] == 1  # a symlink was skipped: a warning
    assert codes["validate"] == 1  # warnings only (product with no ean/url)


def test_validate_errors_exit_2(tree, capsys):
    with open(tree.linking_map, "w") as fh:
        fh.write("[")
    assert main(_args(tree, "validate")) == 2
    assert "INVALID" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["frobnicate"], ["clear", "--strategy", "nuke"],
                                  ["metrics", "--cache-type", "nope"]])
def test_usage_errors_exit_3(tree, argv, capsys):
    assert main(_args(tree, *argv)) == 3


def test_config_error_exit_2(tmp_path, capsys):
    p = tmp_path / "c.json"
    p.write_text('{"cache": {"cache_types": {"amazon_cache": {"ttl_hours": "x"}}, '
                 '"directories": {"amazon_cache": "a"}}}')
    assert main(["metrics", "--config", str(p)]) == 2
    assert "cache.cache_types.amazon_cache.ttl_hours" in capsys.readouterr().err


def test_destructive_needs_yes_without_tty(tree):
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    cmd = [sys.executable, "-m", "fbacache.maintain", *_args(tree, "clear", "--strategy", "full")]
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env,
                       timeout=60)
    assert p.returncode == 3 and "--yes" in p.stderr
    assert os.path.exists(os.path.join(tree.amazon_dir, "amazon_B07XX85HCW.json"))
    p = subprocess.run(cmd + ["--dry-run"], stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, env=env, timeout=60)
    assert p.returncode == 0 and "would:" in p.stdout and "delete" in p.stdout
    assert p.stderr == ""  # no progress bar when stderr is not a terminal
    p = subprocess.run(cmd + ["--yes"], stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    assert not os.path.exists(os.path.join(tree.amazon_dir, "amazon_B07XX85HCW.json"))


def test_human_tables(tree, capsys):
    assert main(_args(tree, "metrics")) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:3] == ["type", "files", "bytes"] and "TOTAL" in out
    main(_args(tree, "clear", "--strategy", "smart_selective", "--dry-run"))
    out = capsys.readouterr().out
    assert "would: 3 delete, 1 rewrite" in out and "drop 6 processed" in out
