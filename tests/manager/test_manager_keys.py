"""generate_cache_key and canonical_bytes: deterministic across processes, collision-free."""
from __future__ import annotations

import os
import subprocess
import sys

from fbacache.keys import canonical_bytes, generate_cache_key

SCRIPT = ("from fbacache.keys import generate_cache_key as g, canonical_bytes as c;"
          "print(g('/s', {'z': [1, {'b': 2, 'a': 1}], 'a': {3, 1, 2}, 'q': 'é' * 300}));"
          "print(c({'x': frozenset({'a', 'b', 'c'}), 'y': (1, 2.5, None, b'z')}).hex())")


def test_same_key_in_processes_with_different_hash_seeds():
    outs = set()
    for seed in ("0", "1", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        outs.add(subprocess.run([sys.executable, "-c", SCRIPT], env=env, check=True,
                                capture_output=True, text=True).stdout)
    assert len(outs) == 1
    assert "/s|hash:" in outs.pop()


def test_param_order_does_not_matter_and_separators_do_not_collide():
    assert generate_cache_key("/e", {"a": 1, "b": 2}) == generate_cache_key("/e", {"b": 2, "a": 1})
    assert generate_cache_key("/e", {"a": "1&b=2"}) != generate_cache_key("/e", {"a": 1, "b": 2})
    assert generate_cache_key("/e", {"a": True}) == "/e|a=true"


def test_long_keys_are_hashed_with_the_endpoint_kept():
    key = generate_cache_key("/search", {"q": "x" * 1000})
    assert key.startswith("/search|hash:") and len(key) == len("/search|hash:") + 32
    assert key != generate_cache_key("/search", {"q": "x" * 1001})


def test_canonical_bytes_tags_types_and_keeps_boundaries():
    assert canonical_bytes((1, 23)) != canonical_bytes((12, 3))
    assert len({canonical_bytes(v) for v in (1, 1.0, True, "1", [1], (1,))}) == 6
    assert canonical_bytes({1, 2, 3}) == canonical_bytes({3, 2, 1})
