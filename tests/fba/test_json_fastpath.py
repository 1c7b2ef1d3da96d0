"""The optional msgspec fast path of ``parse_json_bytes`` gives the stdlib's results exactly."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SAMPLES = [b'{"a": 1}', b"[1, 2.5, -0.0, 1e308]", b'{"a": NaN, "b": Infinity}',
           b"123456789012345678901234567890", b'{"a": 1, "a": 2}', b'"caf\xe9"',
           b"\xef\xbb\xbf{}", b'{"a": ', b"[" * 5000 + b"]" * 5000, b"{} x", b"  ",
           b'{"t": "\\ud800"}', b'{"e": "\\u00e9\xc3\xa9"}']

CODE = """
import json, sys
from fbacache.errors import CorruptFile
from fbacache.fba.atomic import parse_json_bytes, fast_json
out = []
for raw in json.loads(sys.stdin.read()):
    try:
        out.append(["ok", repr(parse_json_bytes("f", raw.encode("latin-1")))])
    except CorruptFile as exc:
        out.append(["corrupt", exc.reason])
print(json.dumps({"fast": fast_json(), "out": out}))
"""


def _run(env_json):
    env = dict(os.environ, PYTHONPATH=REPO)
    if env_json:
        env["FBACACHE_JSON"] = env_json
    p = subprocess.run([sys.executable, "-c", CODE], input=json.dumps(
        [s.decode("latin-1") for s in SAMPLES]), capture_output=True, text=True, env=env,
        timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_fast_path_matches_the_stdlib():
    pytest.importorskip("msgspec")
    fast, slow = _run(None), _run("stdlib")
    assert fast["fast"] and not slow["fast"]
    assert fast["out"] == slow["out"]
