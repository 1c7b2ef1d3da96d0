"""Streamed backups (manifest format 3): sorted scan, incremental merge, restore merge,
old-format manifests, hostile manifest lines.

Everything goes through ``Maintenance`` or the ``maintain`` CLI on a real tree; the
manifests and archives are real files, edited on disk the way damage or an attacker
would edit them.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile

import pytest

from fbacache.fba import manifest
from fbacache.fba.cli import main
from fbacache.fba.manifest import MAX_ENTRY_LINE, MAX_HEADER_LINE
from fbacache.fba.scan import scan_dir

from .conftest import DAY, snapshot, write_json

#: Names whose string order differs from their path-component order ('.' < '/' < 'A' < 'a').
NESTED = ["a.json", "a/x.json", "a/b/y.json", "a-b/z.json", "A.json", "amazon_ZZ.json",
          "amazon_Ä.json", "sub dir/amazon_1.json"]


def _add_nested(tree):
    for i, rel in enumerate(NESTED):
        write_json(os.path.join(tree.amazon_dir, *rel.split("/")), {"n": i, "rel": rel},
                   mtime=tree.now - (i + 2) * DAY)


def _state(tree):
    return snapshot(tree.amazon_dir)


def _wipe(tree):
    """Delete every file a backup holds (the operator's accident); results stay."""
    for f in list(scan_dir("amazon_cache", tree.amazon_dir)):
        if f.kind in ("entry", "other"):
            os.unlink(f.path)


def _cli(tree, *argv):
    return main([*tree.cli_args(*argv)])


def _lines(path):
    with open(path, "rb") as fh:
        return fh.read().split(b"\n")


def _entry_paths(path):
    return [json.loads(ln.rstrip(b","))["path"] for ln in _lines(path)[1:-2]]


def test_ordered_scan_is_sorted_by_component_and_finds_the_same_files(tree):
    _add_nested(tree)
    os.mkfifo(os.path.join(tree.amazon_dir, "a", "pipe"))
    plain = {(f.rel, f.kind, f.size, f.mtime) for f in scan_dir("amazon_cache", tree.amazon_dir)}
    ordered = [f for f in scan_dir("amazon_cache", tree.amazon_dir, ordered=True)]
    assert {(f.rel, f.kind, f.size, f.mtime) for f in ordered} == plain
    rels = [f.rel for f in ordered]
    assert rels == sorted(rels, key=lambda r: r.split("/"))
    assert rels.index("a/x.json") < rels.index("a.json")  # string order would say otherwise
    assert "a/pipe" in rels


def test_incremental_after_adds_changes_deletes_restores_each_state(tree):
    _add_nested(tree)
    m = tree.maintenance()
    (b1,) = m.backup(["amazon_cache"], prune=False).created
    state1 = _state(tree)
    # the manifest is one JSON document (any JSON reader, older fbacache too, reads it) and
    # also one header line plus one sorted entry per line
    with open(b1.manifest) as fh:
        doc = json.load(fh)
    header = json.loads(_lines(b1.manifest)[0][:-len(b', "files": [')] + b"}")
    assert doc["format"] == header["format"] == 3 and header["file_count"] == b1.file_count
    assert _entry_paths(b1.manifest) == [f["path"] for f in doc["files"]]
    assert [f["path"] for f in doc["files"]] == sorted((f["path"] for f in doc["files"]),
                                                       key=lambda p: p.split("/"))
    with tarfile.open(b1.archive) as tar:
        assert tar.getnames() == [f["path"] for f in doc["files"]]  # same order as the manifest

    write_json(os.path.join(tree.amazon_dir, "a", "x.json"), {"changed": True}, mtime=tree.now)
    os.unlink(os.path.join(tree.amazon_dir, "a-b", "z.json"))
    write_json(os.path.join(tree.amazon_dir, "a", "b", "new.json"), {"new": 1}, mtime=tree.now)
    (b2,) = m.backup(["amazon_cache"], prune=False).created
    state2 = _state(tree)
    assert b2.file_count == b1.file_count  # one deleted, one added
    assert b2.referenced_count == b1.file_count - 2  # neither the changed nor the deleted file
    assert b2.depends_on == [b1.id]
    with tarfile.open(b2.archive) as tar:
        assert tar.getnames() == ["a/b/new.json", "a/x.json"]
    assert "a-b/z.json" not in _entry_paths(b2.manifest)

    _wipe(tree)
    assert m.restore(["amazon_cache"], backup_id=b2.id).status == "ok"
    assert _state(tree) == state2  # byte-exact, nested dirs recreated, the chain resolved
    r = m.restore(["amazon_cache"], backup_id=b1.id)
    assert r.status == "ok" and "a/b/new.json" in _state(tree)  # restore never deletes
    assert {k: v for k, v in _state(tree).items() if k != "a/b/new.json"} == state1
    changed = {os.path.relpath(p, tree.amazon_dir) for p in r.files}
    assert changed == {"a/x.json", "a-b/z.json"}  # only what differed was written


def _rewrite_as_format_2(backup):
    """Turn a backup into what fbacache wrote before format 3: one indent=1 document,
    entries (and archive members) in scan order (here: reversed), no counts in a header."""
    with open(backup.manifest) as fh:
        m = json.load(fh)
    with tarfile.open(backup.archive) as tar:
        members = [(i, tar.extractfile(i).read()) for i in tar.getmembers()]
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for info, data in reversed(members):
                tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    with open(backup.archive, "wb") as fh:
        fh.write(raw)
    m.update(format=2, archive_bytes=len(raw), archive_sha256=hashlib.sha256(raw).hexdigest(),
             files=list(reversed(m["files"])))
    for key in ("file_count", "referenced_count"):
        del m[key]
    with open(backup.manifest, "w") as fh:
        json.dump(m, fh, indent=1)


def test_old_format_backups_restore_and_serve_as_incremental_base(tree):
    _add_nested(tree)
    m = tree.maintenance()
    (b1,) = m.backup(["amazon_cache"], prune=False).created
    state1 = _state(tree)
    _rewrite_as_format_2(b1)
    (listed,) = m.backups("amazon_cache")
    assert (listed.id, listed.file_count, listed.referenced_count) == (b1.id, b1.file_count, 0)

    write_json(os.path.join(tree.amazon_dir, "A.json"), {"changed": 1}, mtime=tree.now)
    (b2,) = m.backup(["amazon_cache"], prune=False).created  # base: the old-format manifest
    state2 = _state(tree)
    assert b2.depends_on == [b1.id] and b2.referenced_count == b2.file_count - 1
    _wipe(tree)
    # the new manifest streams; the old archive (members unsorted) is matched by index
    assert m.restore(["amazon_cache"], backup_id=b2.id).status == "ok"
    assert _state(tree) == state2
    os.unlink(os.path.join(tree.amazon_dir, "a", "b", "y.json"))
    # the old backup itself: its manifest read whole, its own archive matched by index
    assert m.restore(["amazon_cache"], backup_id=b1.id).status == "ok"
    assert _state(tree) == state1


# -- hostile or damaged lines of a streamed manifest ------------------------------------------
def _swap(lines):
    lines[1], lines[2] = lines[2], lines[1]


def _dup(lines):
    lines.insert(2, lines[1])


def _drop_close(lines):
    lines[-2:] = [b""]


def _count(lines):
    head = json.loads(lines[0][:-len(b', "files": [')] + b"}")
    head["file_count"] += 1
    lines[0] = json.dumps(head).encode()[:-1] + b', "files": ['


def _no_comma(lines):
    lines[1] = lines[1].rstrip(b",")


def _trailing_comma(lines):
    lines[-3] += b","


def _not_object(lines):
    lines[1] = b"[1, 2],"


def _escape(lines):
    entry = json.loads(lines[1].rstrip(b","))
    entry["path"] = "../../escaped.json"
    lines.insert(1, json.dumps(entry).encode() + b",")
    _count(lines)


def _after_end(lines):
    lines[-1] = b'{"path": "x"}'


def _long_line(lines):
    # valid JSON, but longer than any entry fbacache writes: refused before it is parsed
    lines[1] = b" " * MAX_ENTRY_LINE + lines[1]


@pytest.mark.parametrize("damage, message", [
    (_swap, "out of order"), (_dup, "listed twice"), (_drop_close, "truncated"),
    (_count, "its header says"), (_no_comma, "truncated or damaged"),
    (_trailing_comma, "truncated or damaged"), (_not_object, "is list, not an object"),
    (_escape, "escapes"), (_after_end, "after the end"),
    (_long_line, f"longer than {MAX_ENTRY_LINE} bytes"),
])
def test_hostile_manifest_lines_change_nothing(tree, tmp_path, capsys, damage, message):
    _add_nested(tree)
    m = tree.maintenance()
    (b,) = m.backup(["amazon_cache"], prune=False).created
    os.unlink(os.path.join(tree.amazon_dir, "a", "x.json"))  # a good restore would write it
    lines = _lines(b.manifest)
    damage(lines)
    with open(b.manifest, "wb") as fh:
        fh.write(b"\n".join(lines))
    before = snapshot(str(tmp_path))
    assert _cli(tree, "restore", "--cache-type", "amazon_cache", "--backup", b.id, "--yes") == 2
    out = capsys.readouterr().out
    assert "restore failed, nothing changed" in out and message in out, out
    after = snapshot(str(tmp_path))
    # the only new files are the pre-restore safety backup's
    assert {k: v for k, v in after.items() if "/backups/" not in k} == \
        {k: v for k, v in before.items() if "/backups/" not in k}
    assert not os.path.exists(os.path.join(str(tmp_path), "escaped.json"))


def test_a_header_line_beyond_its_cap_is_read_as_one_bounded_document(tree):
    # still valid JSON, so it is read whole (as formats 1-2 are) and restores
    _add_nested(tree)
    m = tree.maintenance()
    (b,) = m.backup(["amazon_cache"], prune=False).created
    lines = _lines(b.manifest)
    lines[0] = b"{" + b" " * MAX_HEADER_LINE + lines[0][1:]
    with open(b.manifest, "wb") as fh:
        fh.write(b"\n".join(lines))
    want = _state(tree)
    _wipe(tree)
    assert m.restore(["amazon_cache"], backup_id=b.id).status == "ok"
    assert _state(tree) == want


def test_a_whole_manifest_beyond_its_cap_is_refused_not_read(tree, tmp_path, capsys,
                                                            monkeypatch):
    _add_nested(tree)
    m = tree.maintenance()
    (b,) = m.backup(["amazon_cache"], prune=False).created
    _rewrite_as_format_2(b)
    size = os.path.getsize(b.manifest)
    monkeypatch.setattr(manifest, "MAX_WHOLE_MANIFEST", size - 1)  # a 256 MiB file, scaled
    os.unlink(os.path.join(tree.amazon_dir, "a", "x.json"))
    before = snapshot(str(tmp_path))
    assert _cli(tree, "restore", "--cache-type", "amazon_cache", "--backup", b.id, "--yes") == 2
    out = capsys.readouterr().out
    assert "restore failed, nothing changed" in out and \
        f"a manifest of {size} bytes is larger than the {size - 1} bytes" in out, out
    assert _cli(tree, "backups", "--cache-type", "amazon_cache") == 1  # a warning
    out = capsys.readouterr().out
    assert f"a manifest of {size} bytes is larger than the {size - 1} bytes" in out, out
    after = snapshot(str(tmp_path))
    assert {k: v for k, v in after.items() if "/backups/" not in k} == \
        {k: v for k, v in before.items() if "/backups/" not in k}
    monkeypatch.setattr(manifest, "MAX_WHOLE_MANIFEST", size)  # at the cap: read
    assert m.restore(["amazon_cache"], backup_id=b.id).status == "ok"


@pytest.mark.parametrize("line", [1, 4])
def test_damaged_previous_manifest_is_no_trap_for_the_next_backup(tree, line):
    _add_nested(tree)
    m = tree.maintenance()
    (b1,) = m.backup(["amazon_cache"], prune=False).created
    lines = _lines(b1.manifest)
    lines[line] = b'{"path": 5},'
    with open(b1.manifest, "wb") as fh:
        fh.write(b"\n".join(lines))
    write_json(os.path.join(tree.amazon_dir, "sub dir", "amazon_1.json"), {"changed": 1},
               mtime=tree.now)  # the last file in sorted order
    (b2,) = m.backup(["amazon_cache"], prune=False).created
    # entries before the damage are still references, the rest is archived again
    assert b2.referenced_count == line - 1 and b2.depends_on == ([b1.id] if line > 1 else [])
    want = _state(tree)
    _wipe(tree)
    assert m.restore(["amazon_cache"], backup_id=b2.id).status == "ok"
    assert _state(tree) == want
    r = m.restore(["amazon_cache"], backup_id=b1.id)  # the damaged one itself: refused
    assert r.status == "error" and "files[%d] has no path" % (line - 1) in r.errors[0]


def test_undecodable_file_names_round_trip(tree):
    if os.uname().sysname == "Darwin":  # pragma: no cover - APFS refuses non-UTF-8 names
        pytest.skip("the filesystem refuses non-UTF-8 names")
    raw = os.path.join(os.fsencode(tree.amazon_dir), b"amazon_caf\xe9.json")
    with open(raw, "wb") as fh:
        fh.write(b'{"latin-1": "name"}')
    m = tree.maintenance()
    (b,) = m.backup(["amazon_cache"], prune=False).created
    want = _state(tree)
    os.unlink(raw)
    r = m.restore(["amazon_cache"], backup_id=b.id)
    assert r.status == "ok" and _state(tree) == want and os.path.exists(raw)
