"""Hostile files under the root: forged manifests, symlinked tool directories, FIFOs, empty backups.

Everything here goes through the CLI (``fbacache.maintain.main`` in-process, or
``python -m fbacache.maintain`` in a subprocess where a defect would hang) on a
tree the test builds itself. Each test plants something an attacker (or an
accident) could put on disk and checks that nothing outside the root changes.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile

import pytest

from fbacache.fba.atomic import read_json
from fbacache.fba.cli import main

from .conftest import build_tree, digest, snapshot, write_json

# retention that keeps only the newest backup of each type: anything older gets pruned
TIGHT = {"strategies": {"backup": {"retention_policy": {"daily_backups": 1, "weekly_backups": 0,
                                                         "monthly_backups": 0}}}}


def _cli(tree, *argv):
    return main([*argv, "--config", tree.config_path, "--root", tree.root])


def _cli_json(tree, capsys, *argv):
    code = _cli(tree, *argv, "--json")
    return code, json.loads(capsys.readouterr().out)


def _backup_dir(tree, cache_type="amazon_cache"):
    return tree.path(".fbacache", "backups", cache_type)


def _victim(tmp_path, name="victim.txt"):
    path = tmp_path / "outside" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("precious data outside the root")
    return str(path)


# -- item 2: manifests are data, not paths ---------------------------------------------------
def _forge_manifest(directory, bid, **fields):
    m = {"format": 1, "id": bid, "cache_type": "amazon_cache", "created": 1000.0,
         "reason": "manual", "archive": bid + ".tar.gz", "archive_bytes": 1,
         "archive_sha256": "0" * 64, "files": [], "total_bytes": 0}
    m.update(fields)
    path = os.path.join(directory, bid + ".manifest.json")
    write_json(path, m)
    return path


@pytest.mark.parametrize("verb", [["backup", "--cache-type", "amazon_cache"],
                                  ["clear", "--strategy", "full", "--cache-type", "amazon_cache",
                                   "--yes"],
                                  ["optimize", "--cache-type", "amazon_cache", "--yes"]],
                         ids=["backup", "clear", "optimize"])
def test_forged_manifest_paths_are_never_deleted(tmp_path, capsys, verb):
    tree = build_tree(str(tmp_path / "fba"), config_extra=TIGHT)
    assert _cli(tree, "backup", "--cache-type", "amazon_cache") == 0
    capsys.readouterr()
    bdir = _backup_dir(tree)
    victim = _victim(tmp_path)
    # 1. `archive` naming an absolute path outside the root
    f1 = _forge_manifest(bdir, "amazon_cache_19700101_000000_000000_aaaa", archive=victim)
    # 2. `archive` climbing out with ..
    victim2 = _victim(tmp_path, "victim2.tar.gz")
    f2 = _forge_manifest(bdir, "amazon_cache_19700101_000000_000000_bbbb",
                         archive=os.path.relpath(victim2, bdir))
    # 3. `id` climbing out: the manifest path used to be rebuilt from it
    victim3 = _victim(tmp_path, "victim3.manifest.json")
    shutil.copy(victim, os.path.join(bdir, "amazon_cache_19700101_000000_000000_cccc.tar.gz"))
    f3 = _forge_manifest(bdir, "amazon_cache_19700101_000000_000000_cccc",
                         id=os.path.relpath(victim3, bdir)[: -len(".manifest.json")],
                         archive="amazon_cache_19700101_000000_000000_cccc.tar.gz")
    _cli(tree, *verb)
    for path in (victim, victim2, victim3):
        assert open(path).read() == "precious data outside the root"
    # a forged manifest is not a backup: neither listed nor pruned (left for a human to look at)
    assert all(os.path.exists(f) for f in (f1, f2, f3))
    listed = tree.maintenance().backups("amazon_cache")
    assert listed and all("19700101" not in b.id for b in listed)


def _forge_backup(tree, members, manifest_paths=None):
    """A backup whose checksums are all correct but whose paths are hostile."""
    bdir = _backup_dir(tree)
    os.makedirs(bdir, exist_ok=True)
    bid = "amazon_cache_20990101_000000_000000_ffff"
    buf = io.BytesIO()
    files = []
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for name, data, kind in members:
                info = tarfile.TarInfo(name)
                if kind == "symlink":
                    info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                    tar.addfile(info)
                else:
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
                files.append({"path": name, "size": len(data), "mtime": 1000.0,
                              "sha256": hashlib.sha256(data).hexdigest()})
    raw = buf.getvalue()
    with open(os.path.join(bdir, bid + ".tar.gz"), "wb") as fh:
        fh.write(raw)
    if manifest_paths is not None:
        for f, p in zip(files, manifest_paths):
            f["path"] = p
    _forge_manifest(bdir, bid, created=4.1e9, archive_bytes=len(raw),
                    archive_sha256=hashlib.sha256(raw).hexdigest(), files=files,
                    total_bytes=sum(f["size"] for f in files))
    return bid


@pytest.mark.parametrize("members,paths", [
    ([("../../escaped.json", b"{}", "file")], None),
    ([("/tmp/escaped-abs.json", b"{}", "file")], None),
    ([("amazon_ok.json", b"{}", "file")], ["../../escaped.json"]),
    ([("amazon_link.json", b"", "symlink")], None),
], ids=["member-dotdot", "member-absolute", "manifest-path-dotdot", "member-symlink"])
def test_restore_refuses_hostile_paths(tree, tmp_path, capsys, members, paths):
    # (main already refused these; kept so that moving restore onto fbacache.fba.safe is checked)
    bid = _forge_backup(tree, members, paths)
    before = snapshot(str(tmp_path))
    assert _cli(tree, "restore", "--cache-type", "amazon_cache", "--backup", bid, "--yes") == 2
    assert "restore failed, nothing changed" in capsys.readouterr().out
    after = {k: v for k, v in snapshot(str(tmp_path)).items() if ".fbacache" not in k}
    assert after == {k: v for k, v in before.items() if ".fbacache" not in k}
    assert not os.path.exists("/tmp/escaped-abs.json")


# -- item 3: empty and missing directories ---------------------------------------------------
def test_backup_of_missing_directory_is_an_error(tree, capsys):
    shutil.rmtree(tree.amazon_dir)
    assert _cli(tree, "backup", "--cache-type", "amazon_cache") == 2
    assert "does not exist" in capsys.readouterr().out
    assert not os.path.exists(_backup_dir(tree)) or not os.listdir(_backup_dir(tree))


def test_empty_backups_never_prune_the_last_one_holding_files(tmp_path, capsys):
    tree = build_tree(str(tmp_path / "fba"), config_extra=TIGHT)
    assert _cli(tree, "backup", "--cache-type", "amazon_cache") == 0
    (full,) = tree.maintenance().backups("amazon_cache")
    kept = {f["path"]: digest(os.path.join(tree.amazon_dir, f["path"]))
            for f in read_json(full.manifest)["files"]}
    for name in kept:  # every file a backup covers goes; the directory stays
        os.unlink(os.path.join(tree.amazon_dir, name))
    for _ in range(3):
        assert _cli(tree, "backup", "--cache-type", "amazon_cache") == 0
    counts = sorted(b.file_count for b in tree.maintenance().backups("amazon_cache"))
    assert counts[-1] == len(kept)  # the full backup survived three empty ones
    capsys.readouterr()
    code, report = _cli_json(tree, capsys, "restore", "--cache-type", "amazon_cache", "--yes")
    assert code == 0, report
    assert report["restored"] == {"amazon_cache": full.id}
    assert {n: digest(os.path.join(tree.amazon_dir, n)) for n in kept} == kept


def test_restore_of_only_empty_backups_is_an_error(tree, capsys):
    shutil.rmtree(tree.amazon_dir)
    os.mkdir(tree.amazon_dir)
    assert _cli(tree, "backup", "--cache-type", "amazon_cache") == 0
    assert _cli(tree, "restore", "--cache-type", "amazon_cache", "--yes") == 2
    assert "every backup is empty" in capsys.readouterr().out


# -- item 4: symlinked tool directories ------------------------------------------------------
def _elsewhere(tmp_path):
    d = tmp_path / "elsewhere"
    d.mkdir()
    return str(d)


def _link_tool_dir(tree, name, target):
    link = tree.path(".fbacache", name) if name else tree.path(".fbacache")
    os.makedirs(os.path.dirname(link), exist_ok=True)
    os.symlink(target, link)


def _cache_files(tree):
    return {k: v for k, v in snapshot(tree.root).items() if not k.startswith(".fbacache")}


@pytest.mark.parametrize("tool,argv", [
    ("quarantine", ["repair", "--cache-type", "amazon_cache", "--yes"]),
    ("archive", ["clear", "--strategy", "archive_old", "--cache-type", "amazon_cache", "--yes"]),
    ("backups", ["backup", "--cache-type", "amazon_cache"]),
    ("", ["backup", "--cache-type", "amazon_cache"]),
    ("", ["repair", "--cache-type", "amazon_cache", "--yes"]),
], ids=["quarantine-repair", "archive-archive_old", "backups-backup", "state-backup",
        "state-repair"])
def test_symlinked_tool_dirs_are_not_followed(tree, tmp_path, capsys, tool, argv):
    with open(os.path.join(tree.amazon_dir, "amazon_B0CORRUPT0_1.json"), "w") as fh:
        fh.write('{"asin": ')  # something for repair to move
    out = _elsewhere(tmp_path)
    _link_tool_dir(tree, tool, out)
    before = _cache_files(tree)
    assert _cli(tree, *argv) == 2
    captured = capsys.readouterr()
    assert "symlink" in captured.out + captured.err
    assert os.listdir(out) == []  # nothing written, moved or locked outside the root
    assert _cache_files(tree) == before  # and nothing taken out of the cache


def test_optimize_does_not_gzip_through_a_symlinked_archive(tree, tmp_path, capsys):
    out = _elsewhere(tmp_path)
    cold = os.path.join(out, "20250101_000000_1", "amazon_cache", "amazon_B0COLD0000_1.json")
    write_json(cold, {"asin": "B0COLD0000"})
    before = snapshot(out)
    _link_tool_dir(tree, "archive", out)
    assert _cli(tree, "optimize", "--cache-type", "amazon_cache", "--yes") == 2
    assert "optimize refused" in capsys.readouterr().out
    assert snapshot(out) == before


def test_optimize_does_not_gzip_through_a_symlinked_run_directory(tree, tmp_path, capsys):
    # (main's guard_path already refused this one; the symlinked archive itself it did not)
    out = _elsewhere(tmp_path)
    cold = os.path.join(out, "amazon_cache", "amazon_B0COLD0000_1.json")
    write_json(cold, {"asin": "B0COLD0000"})
    before = snapshot(out)
    os.makedirs(tree.path(".fbacache", "archive"))
    os.symlink(out, tree.path(".fbacache", "archive", "20250101_000000_1"))
    assert _cli(tree, "optimize", "--cache-type", "amazon_cache", "--yes") == 2
    assert snapshot(out) == before


def test_symlinked_linking_map_is_not_read(tree, tmp_path, capsys):
    # a linking map outside the root that "links" every supplier product
    outside = str(tmp_path / "evil_linking_map.json")
    products = json.load(open(tree.supplier_file))
    write_json(outside, [{"supplier_product_identifier": f"EAN_{p['ean']}"}
                         for p in products if p.get("ean")])
    os.unlink(tree.linking_map)
    os.symlink(outside, tree.linking_map)
    supplier = digest(tree.supplier_file)
    code, report = _cli_json(tree, capsys, "health", "--cache-type", "linking_map")
    assert report["types"]["linking_map"]["status"] == "critical"
    assert any("symlink" in i for i in report["types"]["linking_map"]["issues"])
    assert _cli(tree, "clear", "--strategy", "smart_selective", "--cache-type", "supplier_cache",
                "--yes") == 2
    assert digest(tree.supplier_file) == supplier


# -- item 6: FIFOs are never opened ----------------------------------------------------------
def _run_cli_subprocess(tree, *argv):
    cmd = [sys.executable, "-m", "fbacache.maintain", *argv, "--config", tree.config_path,
           "--root", tree.root, "--json"]
    # the timeout only turns a hang into a failure: a working run takes about a second
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("argv", [["health"],
                                  ["clear", "--strategy", "smart_selective", "--yes"]],
                         ids=["health", "clear-smart_selective"])
def test_fifo_linking_map_does_not_hang(tree, argv):
    os.unlink(tree.linking_map)
    os.mkfifo(tree.linking_map)
    supplier = digest(tree.supplier_file)
    proc = _run_cli_subprocess(tree, *argv)
    report = json.loads(proc.stdout)
    if argv[0] == "health":
        lm = report["types"]["linking_map"]
        assert lm["status"] == "critical" and any("FIFO" in i for i in lm["issues"])
    else:
        assert proc.returncode == 2
        assert any("FIFO" in e for e in report["errors"])
    assert digest(tree.supplier_file) == supplier


def test_fifo_in_a_cache_directory_is_reported(tree, capsys):
    fifo = os.path.join(tree.amazon_dir, "amazon_B0FIFO00000_1.json")
    os.mkfifo(fifo)
    _, metrics = _cli_json(tree, capsys, "metrics", "--cache-type", "amazon_cache")
    assert metrics["types"]["amazon_cache"]["special_skipped"] == 1
    _, report = _cli_json(tree, capsys, "validate", "--cache-type", "amazon_cache")
    checks = [f for f in report["files"] if f["path"] == fifo]
    assert checks and "not a regular file" in checks[0]["warnings"][0]
    # and backup / clear leave it alone
    assert _cli(tree, "backup", "--cache-type", "amazon_cache") == 0
    assert _cli(tree, "clear", "--strategy", "full", "--cache-type", "amazon_cache", "--yes") == 0
    assert os.path.exists(fifo)
