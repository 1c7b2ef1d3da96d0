"""``python -m fbacache.maintain`` errors, run as a real subprocess (issue #12, items 8, 14, 15).

No error ends in a traceback: one that stops the run is one line on stderr and
exit code 2 (a JSON error object on stdout with ``--json``); errors of a run that
completed are one ``error:`` line each in its report, exit code 2; a reader that
closes the pipe early ends the run quietly. Unreadable directories and read-only roots are
made real with permission bits; when the suite runs as root, the child process
gives up the capabilities that let root ignore them (CAP_DAC_OVERRIDE,
CAP_DAC_READ_SEARCH), so the kernel refuses it like any other user.
"""
from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import sys

import pytest

from fbacache.fba.cli import main

from .conftest import CONFIG, DAY, build_tree, snapshot, write_json

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# Linux: prctl(PR_CAPBSET_DROP, cap); the capabilities that let root ignore permission bits
_PR_CAPBSET_DROP, _CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 24, 1, 2


def _drop_permission_override() -> None:
    # runs in the child between fork and exec: root keeps its uid (it can still run the
    # interpreter under /root) but, without these two capabilities, obeys permission bits
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) refused")


def maintain(args, *, obey_permissions=False, check_one_line=True):
    """Run the CLI in a child process; returns the CompletedProcess.

    ``obey_permissions``: as root, run the child without the capabilities that bypass
    permission bits (as another user the bits apply anyway).
    """
    env = dict(os.environ, PYTHONPATH=REPO, PYTHONDONTWRITEBYTECODE="1")
    kw = {}
    if obey_permissions and os.geteuid() == 0:
        if not sys.platform.startswith("linux"):  # pragma: no cover
            pytest.skip("running as root, and dropping capabilities needs Linux")
        kw = dict(preexec_fn=_drop_permission_override)
    try:
        p = subprocess.run([sys.executable, "-m", "fbacache.maintain", *args], cwd=REPO, env=env,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
                           **kw)
    except subprocess.SubprocessError as exc:  # the preexec_fn failed: no CAP_SETPCAP here
        pytest.skip(f"running as root and cannot drop CAP_DAC_OVERRIDE: {exc}")
    assert "Traceback" not in p.stderr, p.stderr
    if check_one_line:
        _check_error_output(p)
    return p


def _check_error_output(p):
    # exit 2: one line on stderr when the run stopped, else the report lists its errors
    assert len(p.stderr.splitlines()) <= 1, p.stderr
    if p.returncode == 2 and not p.stderr:
        assert error_lines(p), p.stdout


def error_lines(p):
    """The error lines a run printed: stderr, the report's ``error:`` lines or JSON errors."""
    lines = p.stderr.splitlines()
    if p.stdout.startswith("{"):
        data = json.loads(p.stdout)
        return lines + data.get("errors", []) + ([data["error"]["message"]]
                                                 if "error" in data else [])
    return lines + [line for line in p.stdout.splitlines() if line.startswith("error: ")]


class Run:
    """What an in-process ``main()`` run returned and printed (shaped like CompletedProcess)."""

    def __init__(self, capsys, args):
        self.returncode = main(list(args))
        captured = capsys.readouterr()
        self.stdout, self.stderr = captured.out, captured.err
        _check_error_output(self)


def json_error(p):
    data = json.loads(p.stdout)
    assert data["status"] == "error" and data["exit_code"] == p.returncode
    return data["error"]["message"]


@pytest.fixture
def locked_tree(tmp_path):
    """A tree whose directory modes a test may take away (given back before cleanup)."""
    tree = build_tree(str(tmp_path / "fba"))
    yield tree
    os.chmod(tree.root, 0o755)
    for cur, dirs, _files in os.walk(tree.root):
        for d in dirs:
            os.chmod(os.path.join(cur, d), 0o755)


# -- config files -------------------------------------------------------------------------

def _config_file(tmp_path, text):
    p = tmp_path / "system_config.json"
    p.write_text(text)
    return str(p)


@pytest.mark.parametrize("old, new, field", [
    ('"ttl_hours": 336, "max_size_mb": 2000', '"ttl_hours": NaN, "max_size_mb": 2000',
     "cache.cache_types.amazon_cache.ttl_hours"),
    ('"max_size_mb": 2000', '"max_size_mb": NaN', "cache.cache_types.amazon_cache.max_size_mb"),
    ('"max_size_mb": 2000', '"max_size_mb": 1e400', "cache.cache_types.amazon_cache.max_size_mb"),
    ('"daily_backups": 7', '"daily_backups": 1e400',
     "cache.strategies.backup.retention_policy.daily_backups"),
])
def test_bad_numbers_in_the_config_file(tmp_path, capsys, old, new, field):
    text = json.dumps(CONFIG)
    assert old in text
    path = _config_file(tmp_path, text.replace(old, new, 1))
    p = Run(capsys, ["metrics", "--config", path])
    assert p.returncode == 2 and p.stderr.startswith("config error: ") and field in p.stderr
    assert p.stdout == ""
    p = Run(capsys, ["metrics", "--config", path, "--json"])
    assert p.returncode == 2 and field in json_error(p)


def test_bad_number_in_a_child_process(tmp_path):
    path = _config_file(tmp_path, json.dumps(CONFIG).replace('"max_size_mb": 2000',
                                                             '"max_size_mb": 1e400', 1))
    p = maintain(["backup", "--config", path])
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr == ("config error: cache.cache_types.amazon_cache.max_size_mb: expected a "
                        "number, got infinity (a literal such as 1e400 is beyond the float "
                        "range)\n")


def test_config_nested_100k_deep(tmp_path):
    path = _config_file(tmp_path, '{"cache": ' + "[" * 100_000 + "]" * 100_000 + "}")
    p = maintain(["health", "--config", path])
    assert p.returncode == 2 and "nested too deeply" in p.stderr


def test_config_naming_a_directory(tmp_path):
    p = maintain(["validate", "--config", str(tmp_path), "--json"])
    assert p.returncode == 2 and "is a directory" in p.stderr
    assert "is a directory" in json_error(p)


def test_root_directory_next_to_another_type_is_an_overlap(tmp_path):
    other = tmp_path / "x"
    other.mkdir()
    cfg = {"cache": {"directories": {"amazon_cache": "/", "linking_map": str(other)},
                     "cache_types": {"amazon_cache": {}, "linking_map": {}}}}
    path = _config_file(tmp_path, json.dumps(cfg))
    p = maintain(["metrics", "--config", path, "--cache-type", "linking_map"])
    assert p.returncode == 2 and "overlaps the directory of 'amazon_cache'" in p.stderr
    assert "cache.directories.linking_map" in p.stderr


# -- unreadable cache directories, read-only roots ------------------------------------------

@pytest.mark.parametrize("verb", ["health", "metrics", "validate", "backup", "repair",
                                  "optimize", "clear"])
def test_cache_directory_that_is_a_file(tree, capsys, verb):
    shutil.rmtree(tree.amazon_dir)
    write_json(tree.amazon_dir, {"not": "a directory"})
    before = snapshot(tree.root)
    extra = ["--yes", "--strategy", "full"] if verb == "clear" else ["--yes"]
    p = Run(capsys, tree.cli_args(verb, *extra))
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert p.stderr == ""  # the other types were handled: an error of the report, not a stop
    (line,) = error_lines(p)  # one line naming the type, the path and what is wrong
    assert line.startswith("error: ") and "amazon_cache" in line and tree.amazon_dir in line
    assert "not a directory" in line.lower()
    if verb in ("health", "metrics", "validate", "repair"):
        assert snapshot(tree.root) == before  # and the other types were still handled:
    if verb == "metrics":
        assert "linking_map" in p.stdout and "supplier_cache" in p.stdout


def test_cache_directory_without_read_permission(locked_tree):
    os.chmod(locked_tree.amazon_dir, 0)
    p = maintain(locked_tree.cli_args("metrics", "--json"), obey_permissions=True)
    assert p.returncode == 2
    data = json.loads(p.stdout)
    assert data["errors"] == [f"amazon_cache: cannot access {locked_tree.amazon_dir}: "
                              f"Permission denied"]
    assert data["types"]["amazon_cache"]["error"].endswith("Permission denied")
    assert data["types"]["linking_map"]["file_count"] == 1  # the readable types still count
    p = maintain(locked_tree.cli_args("validate"), obey_permissions=True)
    assert p.returncode == 2 and "Permission denied" in p.stdout


def test_read_only_root(locked_tree):
    for cur, dirs, _files in os.walk(locked_tree.root):
        for d in dirs:
            os.chmod(os.path.join(cur, d), 0o555)
    os.chmod(locked_tree.root, 0o555)
    before = snapshot(locked_tree.root)
    p = maintain(locked_tree.cli_args("metrics"), obey_permissions=True)
    assert p.returncode == 0, p.stderr  # reading needs no write access
    for args in (["backup"], ["clear", "--strategy", "full", "--yes"], ["optimize", "--yes"]):
        p = maintain(locked_tree.cli_args(*args, "--json"), obey_permissions=True)
        lock = os.path.join(locked_tree.root, ".fbacache", ".maintain.lock")
        assert p.returncode == 2, (args, p.stderr)
        assert p.stderr.startswith(f"error: cannot create the lock file {lock}: "), p.stderr
        assert "cannot create the lock file" in json_error(p)
    assert snapshot(locked_tree.root) == before


# -- damaged backup manifests ------------------------------------------------------------------

def _set(entry, key, value):
    entry[key] = value


DAMAGE = [
    (lambda e: e.pop("path"), "files[0] has no path"),
    (lambda e: _set(e, "path", 5), "files[0] has no path"),
    (lambda e: e.pop("mtime"), "files[0] has no valid mtime"),
    (lambda e: _set(e, "mtime", "yesterday"), "files[0] has no valid mtime"),
    (lambda e: _set(e, "mtime", 1e300), "files[0] has no valid mtime"),
    (lambda e: _set(e, "size", "12"), "files[0] has no valid size"),
    (lambda e: e.clear(), "files[0] has no path"),
]


def _damaged_backup(tree, damage):
    (info,) = tree.maintenance().backup(["amazon_cache"]).created
    manifest = json.load(open(info.manifest))
    damage(manifest["files"][0])
    write_json(info.manifest, manifest)
    victim = os.path.join(tree.amazon_dir, "amazon_B07XX85HCW.json")
    os.unlink(victim)  # a restore from the backup would bring it back
    return info, victim


@pytest.mark.parametrize("damage, says", DAMAGE)
def test_damaged_manifest_entries(tree, damage, says):
    info, victim = _damaged_backup(tree, damage)
    m = tree.maintenance()
    for dry_run in (True, False):
        r = m.restore(["amazon_cache"], backup_id=info.id, dry_run=dry_run)
        assert r.status == "error" and r.files == []
        assert any(says in e and f"manifest of {info.id}" in e for e in r.errors), r.errors
        assert not os.path.exists(victim)  # nothing restored from a damaged manifest


@pytest.mark.parametrize("damage, says", [DAMAGE[0], DAMAGE[3]])
def test_damaged_manifest_entries_cli(tree, damage, says):
    info, victim = _damaged_backup(tree, damage)
    p = maintain(tree.cli_args("restore", "--yes", "--json", "--cache-type", "amazon_cache",
                               "--backup", info.id))
    assert p.returncode == 2 and not os.path.exists(victim)
    assert says in json.loads(p.stdout)["errors"][0]


def test_manifest_mtime_beyond_the_float_range(tree):
    m = tree.maintenance()
    (info,) = m.backup(["amazon_cache"]).created
    text = open(info.manifest).read()
    stamp = repr(json.load(open(info.manifest))["files"][0]["mtime"])
    with open(info.manifest, "w") as fh:  # json.dump cannot write 1e400: edit the text
        fh.write(text.replace(f'"mtime": {stamp}', '"mtime": 1e400', 1))
    p = maintain(tree.cli_args("restore", "--yes", "--cache-type", "amazon_cache"))
    assert p.returncode == 2 and "files[0] has no valid mtime (got inf)" in p.stdout


def test_cache_file_nested_too_deeply_is_corrupt(tree):
    deep = os.path.join(tree.amazon_dir, "amazon_B0DEEP0000_1.json")
    with open(deep, "w") as fh:
        fh.write("[" * 100_000 + "]" * 100_000)
    p = maintain(tree.cli_args("validate"), check_one_line=False)  # a finding, not a failure
    assert p.returncode == 2 and "nested too deeply" in p.stdout and "INVALID" in p.stdout
    p = maintain(tree.cli_args("metrics", "--json", "--cache-type", "amazon_cache"))
    assert json.loads(p.stdout)["types"]["amazon_cache"]["corrupt_count"] == 1


# -- output ------------------------------------------------------------------------------------

def test_reader_closing_the_pipe_early(tmp_path):
    tree = build_tree(str(tmp_path / "fba"), n_amazon_extra=1000)
    env = dict(os.environ, PYTHONPATH=REPO)
    # --verbose lists every file: ~200 KB, more than a pipe holds (64 KiB), so the child is
    # still writing when the reader goes away (like `validate --verbose | head -1`)
    child = subprocess.Popen([sys.executable, "-m", "fbacache.maintain",
                              *tree.cli_args("validate", "--verbose")], cwd=REPO, env=env,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    assert child.stdout.readline().split()[:2] == [b"path", b"result"]
    child.stdout.close()
    err = child.stderr.read().decode()
    assert child.wait(timeout=120) == 1  # the run's own code (warnings), nothing else
    assert err == ""


def test_summary_counts_what_was_done_not_what_was_planned(tree):
    # the safety backup of amazon_cache cannot be written: none of its deletes may run
    blocked = os.path.join(tree.root, ".fbacache", "backups", "amazon_cache")
    write_json(blocked, "a file where the backup directory should be")
    before = snapshot(tree.amazon_dir)
    p = maintain(tree.cli_args("clear", "--strategy", "full", "--cache-type", "amazon_cache",
                               "--yes"))
    assert p.returncode == 2
    assert "did: nothing; skipped: 9 delete" in p.stdout.splitlines()
    assert "safety backup failed" in p.stdout
    assert snapshot(tree.amazon_dir) == before
    p = maintain(tree.cli_args("clear", "--strategy", "full", "--cache-type", "amazon_cache",
                               "--yes", "--json"))
    assert json.loads(p.stdout)["summary"] == {"done": {}, "failed": {}, "skipped": {"delete": 9}}
    os.unlink(blocked)
    p = maintain(tree.cli_args("clear", "--strategy", "full", "--cache-type", "amazon_cache",
                               "--yes"))
    assert p.returncode == 0 and "did: 9 delete" in p.stdout.splitlines()


# -- the clock -----------------------------------------------------------------------------------

def test_now_judges_ages_from_the_given_instant(tree, capsys):
    def expired(now):
        p = Run(capsys, ["metrics", "--json", "--config", tree.config_path, "--root", tree.root,
                      "--now", now])
        return json.loads(p.stdout)["types"]["amazon_cache"]["expired_count"]

    assert expired(repr(tree.now)) == 4  # the 20-day-old entries, TTL 14 days
    assert expired(repr(tree.now - 10 * DAY)) == 0  # ten days earlier nothing had expired
    assert expired(repr(tree.now + 14 * DAY)) == 9  # two weeks later the 1-day-old ones too


@pytest.mark.parametrize("bad", ["nan", "inf", "1e400", "yesterday", "2026-02-30"])
def test_now_must_be_a_time(tree, capsys, bad):
    p = Run(capsys, ["metrics", "--config", tree.config_path, "--now", bad])
    assert p.returncode == 3 and p.stderr.startswith("usage error: argument --now")


@pytest.mark.parametrize("arg, bad", [("--max-load", "nan"), ("--max-load", "-1"),
                                      ("--batch-size", "0"), ("--max-load", "1e400")])
def test_command_line_numbers_use_the_same_check(tree, capsys, arg, bad):
    p = Run(capsys, tree.cli_args("clear", "--dry-run", arg, bad))
    assert p.returncode == 3 and p.stderr.startswith(f"usage error: argument {arg}")
