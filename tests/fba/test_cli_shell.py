"""Issue #17, part 1: a CLI that fits the shell, every point through ``python -m fbacache.maintain``.

Subcommands with their own ``--help``, global flags on either side of the verb,
``--version``, the console script, closed pipes on every verb, one exit-code table,
the ``backups`` verb, copy-pasteable advice, the JSON envelope, ISO timestamps, issue
codes, human sizes, ``would free``, progress on a TTY only (a real pty), ``--quiet``
and the old manager's keys.
"""
from __future__ import annotations

import json
import os
import pty
import re
import select
import shlex
import subprocess
import sys

import pytest

from fbacache.fba.issues import CODES
from fbacache.fba.results import FileCheck

from .conftest import build_tree, write_json
from .test_cli_errors import REPO, maintain

ISO_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\Z")


def _json(p):
    data = json.loads(p.stdout)
    assert data["schema_version"] == 1 and data["exit_code"] == p.returncode
    assert ISO_Z.match(data["generated_at"])
    return data


def test_each_verb_has_its_own_help():
    clear = maintain(["clear", "--help"])
    health = maintain(["health", "--help"])
    restore = maintain(["restore", "--help"])
    assert clear.returncode == health.returncode == restore.returncode == 0
    assert "--strategy" in clear.stdout and "--batch-size" in clear.stdout
    assert "--strategy" not in health.stdout and "--backup" in restore.stdout
    assert "--config" in health.stdout  # global flags are listed on every verb


def test_global_flags_before_or_after_the_verb(tree):
    common = ["--config", tree.config_path, "--root", tree.root, "--now", repr(tree.now)]
    after = maintain(["metrics", *common, "--json"])
    before = maintain([*common, "--json", "metrics"])
    mixed = maintain(["--config", tree.config_path, "metrics", "--root", tree.root, "--json",
                      "--now", repr(tree.now)])
    assert after.returncode == before.returncode == mixed.returncode == 0
    assert json.loads(after.stdout) == json.loads(before.stdout) == json.loads(mixed.stdout)
    # a verb's copy of a global flag never resets a value given before the verb
    # (--cache-type takes several names, so before the verb it is written with "=")
    p = maintain(["--cache-type=amazon_cache", "metrics", *common, "--json"])
    assert list(json.loads(p.stdout)["types"]) == ["amazon_cache"]


def test_version():
    p = maintain(["--version"])
    assert p.returncode == 0 and re.match(r"fbacache-maintain \d+\.\d+\.\d+", p.stdout)


def test_console_script_is_declared_and_runs():
    text = open(os.path.join(REPO, "pyproject.toml")).read()
    m = re.search(r'^fbacache-maintain = "([\w.]+):(\w+)"$', text, re.M)
    assert m, "pyproject.toml [project.scripts] has no fbacache-maintain"
    module, func = m.groups()
    code = f"import sys; from {module} import {func}; sys.argv[0] = 'fbacache-maintain'; {func}()"
    p = subprocess.run([sys.executable, "-c", code, "--version"], cwd=REPO,
                       env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0 and p.stdout.startswith("fbacache-maintain ")
    p = subprocess.run([sys.executable, "-c", code, "nope"], cwd=REPO,
                       env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    # once installed (pip install -e .), the script itself runs the same function
    script = os.path.join(os.path.dirname(sys.executable), "fbacache-maintain")
    if os.path.exists(script):
        p = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0 and p.stdout.startswith("fbacache-maintain ")


@pytest.mark.parametrize("argv, code", [
    (["validate", "--verbose"], 1), (["validate", "--verbose", "--json"], 1),
    (["metrics", "--json", "--verbose"], 0), (["schedule", "--format", "systemd"], 0),
    (["backups", "--json"], 0)])
def test_closed_pipe_is_quiet_on_every_path(tmp_path, argv, code):
    tree = build_tree(str(tmp_path / "fba"), n_amazon_extra=1500)
    if argv[0] == "backups":
        for _ in range(60):  # enough manifests for a listing bigger than a pipe holds
            maintain(tree.cli_args("backup", "--cache-type", "linking_map", "--full"))
    env = dict(os.environ, PYTHONPATH=REPO)
    child = subprocess.Popen([sys.executable, "-m", "fbacache.maintain", *tree.cli_args(*argv)],
                             cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout.read(1)
    child.stdout.close()  # `| head -c 1`
    err = child.stderr.read().decode()
    assert child.wait(timeout=120) == code and err == ""


def _stale_backup_tree(tmp_path):
    tree = build_tree(str(tmp_path / "fba"))
    os.symlink("/nonexistent", os.path.join(tree.amazon_dir, "amazon_LINK.json"))
    return tree


# one table for every path: (setup, argv, expected code, JSON status)
def _corrupt(tree):
    with open(tree.linking_map, "w") as fh:
        fh.write("[")


def _disable(tree):
    cfg = json.load(open(tree.config_path))
    cfg["cache"]["enabled"] = False
    write_json(tree.config_path, cfg)


EXIT_TABLE = [
    ("metrics ok", None, ["metrics"], 0, "ok"),
    ("health warnings found", None, ["health"], 1, "warning"),
    ("invalid file", _corrupt, ["validate"], 2, "error"),
    ("unknown backup, dry run", None, ["restore", "--backup", "nonexistent", "--dry-run"], 2,
     "error"),
    ("unknown backup of a type", None, ["restore", "--cache-type", "linking_map", "--backup",
                                        "nonexistent", "--dry-run"], 2, "error"),
    ("nothing to restore", None, ["restore", "--dry-run"], 2, "error"),
    ("wrong --root", None, ["health", "--root", "/nonexistent-fba-root"], 2, "error"),
    ("usage", None, ["clear", "--strategy", "nuke"], 2, "error"),
    ("unknown type", None, ["metrics", "--cache-type", "nope"], 2, "error"),
    ("no --yes without a tty", None, ["clear", "--strategy", "full"], 3, "refused"),
    ("cache.enabled false", _disable, ["clear", "--strategy", "full", "--yes"], 3, "refused"),
    ("strategy not available", None, ["clear", "--strategy", "failed_extractions", "--yes"], 3,
     "refused"),
]


@pytest.mark.parametrize("setup, argv, code, status", [row[1:] for row in EXIT_TABLE],
                         ids=[row[0] for row in EXIT_TABLE])
def test_one_exit_code_table(tree, setup, argv, code, status):
    if setup:
        setup(tree)
    args = tree.cli_args(*argv)
    if "--root" in argv:  # the row's own --root comes last and wins
        args = [*args, "--root", argv[argv.index("--root") + 1]]
    p = maintain(args)
    assert p.returncode == code, (p.stdout, p.stderr)
    pj = maintain([*args, "--json"])
    data = _json(pj)
    assert pj.returncode == code and data["status"] == status
    if code in (2, 3) and "error" in data:  # a stopped run: the error object, one stderr line
        assert data["error"]["code"] and data["error"]["message"] in pj.stderr


def test_backups_verb_lists_backups(tree):
    assert maintain(tree.cli_args("backups")).stdout.startswith("no backups")
    first = _json(maintain(tree.cli_args("backup", "--cache-type", "amazon_cache", "--json")))
    bid = first["created"][0]["id"]
    p = maintain(tree.cli_args("backups", "--json"))
    listed = _json(p)["backups"]
    assert [b["id"] for b in listed["amazon_cache"]] == [bid] and listed["linking_map"] == []
    assert ISO_Z.match(listed["amazon_cache"][0]["created"])
    text = maintain(tree.cli_args("backups", "--cache-type", "amazon_cache")).stdout
    row = [ln for ln in text.splitlines() if bid in ln][0]
    assert re.search(r"\d+(\.\d)? (B|KiB|MiB)", row) and ISO_Z.match(row.split()[2])
    # the listed id is what restore takes
    assert maintain(tree.cli_args("restore", "--backup", bid, "--dry-run")).returncode == 0


def test_health_advice_is_a_command_that_runs(tree):
    data = _json(maintain(tree.cli_args("health", "--json")))
    advice = data["types"]["amazon_cache"]["recommendations"]
    backup_cmd = [a for a in advice if " backup " in a][0]
    argv = shlex.split(backup_cmd)
    assert argv[:3] == ["python", "-m", "fbacache.maintain"]
    p = subprocess.run([sys.executable, *argv[1:], "--now", repr(tree.now)], cwd="/",
                       env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    after = _json(maintain(tree.cli_args("health", "--json")))
    assert not [i for i in after["types"]["amazon_cache"]["issues"] if "backup" in i]


def _walk(value, key=""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v, key)
    else:
        yield key, value


def test_json_timestamps_are_iso_utc(tree):
    maintain(tree.cli_args("backup"))
    for verb in ("health", "metrics", "validate", "backup", "backups"):
        data = _json(maintain(tree.cli_args(verb, "--json", "--verbose")))
        for key, value in _walk(data):
            if key.endswith("_unix"):
                continue
            if key in ("created", "last_modified", "generated_at", "created_iso"):
                assert isinstance(value, str) and ISO_Z.match(value), (verb, key, value)
            # no epoch seconds anywhere else (a float in 2001..2100 is a time, not a size)
            if isinstance(value, float):
                assert not 1e9 < value < 4.1e9, (verb, key, value)


def test_errors_are_json_objects_on_stdout(tree, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    for args in (["metrics", "--config", str(bad), "--json"],
                 tree.cli_args("metrics", "--json", "--cache-type", "nope"),
                 ["metrics", "--json", "--frobnicate"]):
        p = maintain(args)
        data = json.loads(p.stdout)
        assert p.returncode == 2 and data["status"] == "error" and data["schema_version"] == 1
        assert set(data["error"]) == {"kind", "code", "message"}


def test_every_issue_has_a_stable_code(tree):
    with open(os.path.join(tree.amazon_dir, "amazon_B0TORN.json"), "w") as fh:
        fh.write('{"asin": "B0TO')  # a torn write
    with open(os.path.join(tree.amazon_dir, "amazon_B0CP1252.json"), "wb") as fh:
        fh.write(b'{"title": "caf\xe9"}')  # cp1252 bytes
    os.mkfifo(os.path.join(tree.amazon_dir, "amazon_FIFO.json"))
    seen = set()
    for verb in ("health", "metrics --content", "validate", "backups", "repair --dry-run",
                 "clear --dry-run --strategy smart_selective", "restore --dry-run"):
        data = json.loads(maintain(tree.cli_args(*verb.split(), "--json")).stdout)
        issues = data["issues"] + [i for f in data.get("files", []) for i in f["issues"]]
        for i in issues:
            assert i["code"] in CODES and i["code"] != "unclassified", (verb, i["code"], i)
            seen.add(i["code"])
    assert {"file.corrupt", "file.special", "type.corrupt_files", "restore.none"} <= seen


def test_sizes_are_human_in_text_and_exact_in_json(tree):
    cfg = json.load(open(tree.config_path))
    cfg["cache"]["cache_types"]["amazon_cache"]["max_size_mb"] = 0.001
    write_json(tree.config_path, cfg)
    text = maintain(tree.cli_args("health")).stdout
    assert re.search(r"size \d+(\.\d)? KiB exceeds max_size_mb \(1\.0 KiB\)", text), text
    text = maintain(tree.cli_args("validate", "--verbose")).stdout
    rows = [ln for ln in text.splitlines()[2:] if ln.startswith("/")]
    assert rows and all(re.search(r"  \d+(\.\d)? (B|KiB|MiB)  ", ln) for ln in rows), text
    data = json.loads(maintain(tree.cli_args("validate", "--verbose", "--json")).stdout)
    assert all(isinstance(f["file_size"], int) for f in data["files"])


def test_dry_run_never_says_freed(tree):
    dry = maintain(tree.cli_args("clear", "--strategy", "full", "--dry-run")).stdout
    assert "would free: " in dry and "\nfreed:" not in dry
    data = json.loads(maintain(tree.cli_args("clear", "--strategy", "full", "--dry-run",
                                             "--json")).stdout)
    assert "freed_bytes" not in data and data["would_free_bytes"] > 0
    real = maintain(tree.cli_args("clear", "--strategy", "full", "--yes")).stdout
    assert "\nfreed: " in real


def _run_on_pty(args):
    master, slave = pty.openpty()
    child = subprocess.Popen([sys.executable, "-m", "fbacache.maintain", *args], cwd=REPO,
                             env=dict(os.environ, PYTHONPATH=REPO), stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    err = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        err += chunk
    out = child.stdout.read()
    child.wait(timeout=60)
    os.close(master)
    return child.returncode, out.decode(), err.decode()


def test_progress_on_a_tty_only_with_counts_rate_and_eta(tmp_path):
    tree = build_tree(str(tmp_path / "fba"), n_amazon_extra=1200)
    code, out, err = _run_on_pty(tree.cli_args("validate", "--cache-type", "amazon_cache"))
    assert code == 1 and "checked" in out
    assert re.search(r"validate amazon_cache \[[# ]+\] [\d,]+/1,2\d\d ", err), err
    assert "files/s" in err and "ETA" in err
    # the same run with --json, or --quiet, or with stderr not a terminal: no progress
    for extra in ("--json", "--quiet"):
        code, out, err = _run_on_pty(tree.cli_args("validate", "--cache-type", "amazon_cache",
                                                   extra))
        assert "files/s" not in err
    p = maintain(tree.cli_args("validate", "--cache-type", "amazon_cache"))
    assert p.stderr == ""


def test_quiet_prints_only_errors(tree):
    p = maintain(tree.cli_args("health", "--quiet"))
    assert p.returncode == 1 and p.stdout == "" and p.stderr == ""
    blocked = os.path.join(tree.root, ".fbacache", "backups", "amazon_cache")
    write_json(blocked, "a file where the backup directory should be")
    p = maintain(tree.cli_args("backup", "--cache-type", "amazon_cache", "--quiet"))
    assert p.returncode == 2 and p.stdout.startswith("error: ")
    assert len(p.stdout.splitlines()) == 1


def test_old_manager_keys(tree):
    health = json.loads(maintain(tree.cli_args("health", "--json")).stdout)
    assert health["overall_status"] == health["overall"]
    res = health["system_resources"]
    assert res["disk_usage_percent"] == res["disk_used_percent"]
    assert health["cache_health"]["amazon_cache"]["status"] == \
        health["types"]["amazon_cache"]["status"]
    clear = json.loads(maintain(tree.cli_args("clear", "--strategy", "full", "--cache-type",
                                              "amazon_cache", "--yes", "--json")).stdout)
    deleted = [a for a in clear["actions"] if a["op"] == "delete" and a["done"]]
    assert clear["cache_types"]["amazon_cache"]["files_removed"] == len(deleted) > 0
    assert clear["success"] is True
    val = json.loads(maintain(tree.cli_args("validate", "--json", "--verbose")).stdout)
    assert all(f["file_path"] == f["path"] for f in val["files"])
    assert val["total_files"] == len(val["files"])
    fc = FileCheck("p", "t", True, [], [], 1, "x")
    assert fc.file_path == "p"


def test_metrics_reads_entries_only_unless_content(tree):
    with open(os.path.join(tree.amazon_dir, "amazon_B0TORN.json"), "w") as fh:
        fh.write('{"asin": ')
    quick = json.loads(maintain(tree.cli_args("metrics", "--json")).stdout)
    deep = json.loads(maintain(tree.cli_args("metrics", "--json", "--content")).stdout)
    assert quick["types"]["amazon_cache"]["corrupt_count"] is None  # not read, never "0"
    assert deep["types"]["amazon_cache"]["corrupt_count"] == 1
    assert quick["total"]["file_count"] == deep["total"]["file_count"]
    assert "not read" in maintain(tree.cli_args("metrics")).stdout


@pytest.mark.parametrize("argv", [
    ["metrics", "--config", "c.json", "--json"],
    ["--config", "c.json", "clear", "--strategy", "full", "--dry-run", "--batch-size", "3"],
    ["backup", "--cache-type", "metrics", "--config", "c.json", "--full"],
    ["--cache-type", "metrics", "backup", "--config", "c.json"],  # no verb left: an error
    ["schedule", "--format", "systemd", "--config", "c.json", "--now", "0"],
    ["restore", "--backup", "x", "--config", "metrics"],
])
def test_parser_of_the_named_verbs_parses_like_the_full_one(argv):
    """The CLI builds option sets only for verbs named in argv; the result is the same."""
    from fbacache.fba.cli import VERBS, build_parser

    def parse(verbs):  # type: ignore[no-untyped-def]
        try:
            return vars(build_parser(verbs).parse_args(argv))
        except Exception as exc:  # the usage error, compared by its message
            return repr(exc)
    assert parse({a for a in argv if a in VERBS}) == parse(None)


@pytest.mark.parametrize("columns", [None, "50", "200", "-3", "abc", "0"])
def test_help_width_follows_shutils_rule(monkeypatch, columns):
    """The CLI's help formatter finds the width as argparse's own would (it only avoids
    importing shutil at every start)."""
    import shutil

    from fbacache.fba.cli import _columns
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    assert _columns() == shutil.get_terminal_size().columns
