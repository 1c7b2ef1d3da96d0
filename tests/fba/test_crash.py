"""Crash safety: SIGKILL a real process at random points of clear, backup and restore.

After every kill: each cache file is its old or its new version (never torn,
never a third state), the linking map is intact, every listed backup verifies,
and running the operation again completes to the expected final state.
Iterations per operation: ``max(5, int(BASE * FBACACHE_STRESS))``.
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest

from fbacache.fba.atomic import TMP_PREFIX, read_json
from fbacache.fba.backup import verify_archive
from fbacache.fba.restore import STAGING_PREFIX

from .conftest import PINNED_NOW, build_tree, snapshot, write_json

BASE = 30  # per operation; ~90 kills in total, about 60-80 s on a 2-core machine
N = max(5, int(BASE * float(os.environ.get("FBACACHE_STRESS", "1"))))
CHILD = os.path.join(os.path.dirname(__file__), "crash_child.py")
EXTRA = {"directories": {"linking_map_backups": "OUTPUTS/FBA_ANALYSIS/linking_map_backups"}}

pytestmark = pytest.mark.slow


def cache_state(root):
    """Snapshot without the tool's own state and without garbage of killed runs."""
    return {k: v for k, v in snapshot(root).items()
            if not k.startswith(".fbacache") and TMP_PREFIX not in k and STAGING_PREFIX not in k}


def run_child(tree, op, arg="", kill_after=None):
    env = dict(os.environ, PYTHONPATH=os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, CHILD, tree.config_path, tree.root, repr(tree.now), op]
    cmd += [arg] if arg else []
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert p.stdout.readline() == b"ready\n", p.stderr.read()
    t0 = time.monotonic()
    if kill_after is None:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        return time.monotonic() - t0
    time.sleep(kill_after)
    p.send_signal(signal.SIGKILL)
    p.communicate(timeout=60)
    return None


def check(root, tree, old, new):
    cur = cache_state(root)
    for rel in set(old) | set(new) | set(cur):
        assert cur.get(rel) in (old.get(rel), new.get(rel)), rel
    lm = read_json(tree.linking_map)  # never lost, never torn
    assert isinstance(lm, list) and lm
    m = tree.maintenance()
    for t in ("supplier_cache", "amazon_cache", "linking_map"):
        for b in m.backups(t):
            verify_archive(b)


def fresh(tmp_path, i):
    d = tmp_path / f"t{i}"
    if d.exists():
        shutil.rmtree(d)
    return build_tree(str(d), n_amazon_extra=20, config_extra=EXTRA, now=PINNED_NOW)


@pytest.mark.parametrize("strategy", ["smart_selective", "full", "archive_old"])
def test_kill_during_clear(tmp_path, strategy):
    ref = fresh(tmp_path, "ref")
    old = cache_state(ref.root)
    dur = run_child(ref, "clear", strategy)
    new = cache_state(ref.root)
    assert new != old
    for i in range(max(2, N // 3)):
        t = fresh(tmp_path, i % 2)
        run_child(t, "clear", strategy, kill_after=random.uniform(0, dur * 1.2))
        check(t.root, t, old, new)
        r = t.maintenance().clear(strategy)  # the next run completes
        assert r.status == "ok", r.errors
        assert cache_state(t.root) == new


def test_kill_during_backup(tmp_path):
    ref = fresh(tmp_path, "ref")
    dur = run_child(ref, "backup")
    for i in range(N):
        t = fresh(tmp_path, i % 2)
        before = cache_state(t.root)
        run_child(t, "backup", kill_after=random.uniform(0, dur * 1.2))
        check(t.root, t, before, before)
        m = t.maintenance()
        r = m.backup()
        assert r.status == "ok", r.errors
        for typ in ("supplier_cache", "amazon_cache", "linking_map"):
            bdir = os.path.join(t.root, ".fbacache", "backups", typ)
            names = os.listdir(bdir)
            assert not [n for n in names if n.startswith(TMP_PREFIX)]  # leftovers cleaned
            assert len([n for n in names if n.endswith(".tar.gz")]) == len(m.backups(typ))


def _mutate(t):
    lm = read_json(t.linking_map)
    write_json(t.linking_map, lm + [{"supplier_product_identifier": "EAN_NEW",
                                     "chosen_amazon_asin": "B0NEW00000"}])
    write_json(t.supplier_file, [])
    for n in sorted(os.listdir(t.amazon_dir))[:10]:
        p = os.path.join(t.amazon_dir, n)
        if n.startswith("amazon_") and not os.path.islink(p):
            os.unlink(p)


def test_kill_during_restore(tmp_path):
    ref = fresh(tmp_path, "ref")
    ref.maintenance().backup()
    original = cache_state(ref.root)
    _mutate(ref)
    dur = run_child(ref, "restore")
    assert cache_state(ref.root) == original
    for i in range(N):
        t = fresh(tmp_path, i % 2)
        t.maintenance().backup()
        _mutate(t)
        mutated = cache_state(t.root)
        run_child(t, "restore", kill_after=random.uniform(0, dur * 1.2))
        check(t.root, t, mutated, original)
        r = t.maintenance().restore()  # picks the same backup, not the pre-restore copy
        assert r.status == "ok", r.errors
        assert cache_state(t.root) == original
