"""Cost of a ``@cached`` hit against ``CacheManager.get`` of the same key, from one run.

Command::

    .venv/bin/python benchmarks/bench_decorators.py [--rounds 9] [--distinct 500] [--churn 5000]

For each manager configuration (serialization 'none': values stored as they
are, the cheapest ``get``; and the default 'pickle') and each call shape, the
table gives ns per call for a cache hit through ``@cached`` and its ratio to
``CacheManager.get`` and ``CacheManager.get_or_set`` on the very keys the
decorator uses (every one resident). Each variant loops over ``--distinct``
argument sets; variants are interleaved round by round and the best round
counts (noise on a shared machine only makes things slower); a round runs the
loop four times.

Call shapes: positional ints and strs (the digest memo serves them), four
simple arguments including a float and a tuple (encoded and hashed at each
call), a keyword call, a method with ``instance_key``, a dict argument (the
general canonical encoder), and positional ints and strs over more distinct
argument sets than the memo keeps (``--churn``; encoded and hashed at each call).
Target: the first shape within ~4x of ``CacheManager.get``.
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from typing import Any, Callable

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from fbacache import CORE_IMPLEMENTATION, CacheManager, cached  # noqa: E402


def _best(fn: Callable[[], Any], calls: int, best: float, inner: int) -> float:
    gc.disable()
    try:
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        return min(best, (time.perf_counter() - t0) / (calls * inner))
    finally:
        gc.enable()


def _shapes(manager: CacheManager, n: int, churn: int) -> dict[str, tuple[Any, list, Callable]]:
    """name -> (cached function or bound method, keys it uses, loop over its calls)."""

    @cached(manager=manager, key_prefix="bench.two")
    def two(item_id, sku):
        return item_id

    @cached(manager=manager, key_prefix="bench.four")
    def four(item_id, name, ratio=1.0, dims=None):
        return item_id

    class Shop:
        def __init__(self, shop_id: int) -> None:
            self.shop_id = shop_id

        @cached(manager=manager, key_prefix="bench.Shop.stock",
                instance_key=lambda self: self.shop_id)
        def stock(self, item_id):
            return item_id

    @cached(manager=manager, key_prefix="bench.query")
    def query(filters):
        return 0

    pairs = [(i, f"sku-{i}") for i in range(n)]
    quads = [(i, f"name-{i}", i / 7, (i, 2)) for i in range(n)]
    dicts = [{"id": i, "lang": "en"} for i in range(n)]
    many = [(i, f"sku-{i}") for i in range(churn)]
    shop = Shop(7)

    def loop_two() -> None:
        for a, b in pairs:
            two(a, b)

    def loop_four() -> None:
        for a, b, c, d in quads:
            four(a, b, c, d)

    def loop_kw() -> None:
        for a, b in pairs:
            two(a, sku=b)

    def loop_method() -> None:
        stock = shop.stock
        for a, _ in pairs:
            stock(a)

    def loop_dict() -> None:
        for d in dicts:
            query(d)

    def loop_churn() -> None:
        for a, b in many:
            two(a, b)

    return {
        "2 positional (int, str)": (two, [two.key_for(a, b) for a, b in pairs], loop_two),
        "4 simple incl. float, tuple": (four, [four.key_for(*q) for q in quads], loop_four),
        "keyword call f(1, sku=...)": (two, [two.key_for(a, sku=b) for a, b in pairs], loop_kw),
        "method, instance_key": (shop.stock, [shop.stock.key_for(a) for a, _ in pairs],
                                 loop_method),
        "dict argument (general path)": (query, [query.key_for(d) for d in dicts], loop_dict),
        f"2 positional, {churn} distinct": (two, [two.key_for(a, b) for a, b in many],
                                            loop_churn),
    }


def bench(serialization: str, rounds: int, n: int, churn: int,
          inner: int = 4) -> list[tuple[str, float, float, float]]:
    """[(shape, ns per @cached hit, x get, x get_or_set)] for one manager configuration."""
    manager = CacheManager(serialization_format=serialization, max_entries=4 * (n + churn))
    shapes = _shapes(manager, n, churn)
    out = []
    for name, (_, keys, loop) in shapes.items():
        loop()  # fill: every later call is a hit
        for k in keys:
            assert k in manager, k
        get, get_or_set = manager.get, manager.get_or_set

        def loop_get(keys: list = keys) -> None:
            for k in keys:
                get(k)

        def loop_get_or_set(keys: list = keys) -> None:
            for k in keys:
                get_or_set(k, int)

        t_get = t_gos = t_dec = float("inf")
        for _ in range(rounds):
            t_get = _best(loop_get, len(keys), t_get, inner)
            t_gos = _best(loop_get_or_set, len(keys), t_gos, inner)
            t_dec = _best(loop, len(keys), t_dec, inner)
        out.append((name, t_dec * 1e9, t_dec / t_get, t_dec / t_gos))
        out.append((f"  (CacheManager.get {t_get * 1e9:.0f} ns, get_or_set "
                    f"{t_gos * 1e9:.0f} ns)", 0.0, 0.0, 0.0))
    return out


def main(argv: list[str] | None = None) -> int:
    """Print one table per manager configuration; exit 0."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--distinct", type=int, default=500)
    ap.add_argument("--churn", type=int, default=5000)
    args = ap.parse_args(argv)
    print(f"core implementation: {CORE_IMPLEMENTATION}; python {sys.version.split()[0]}")
    for serialization in ("none", "pickle"):
        print(f"\n@cached hit, serialization {serialization!r}, {args.distinct} argument sets, "
              f"best of {args.rounds}")
        print(f"{'call shape':34} {'ns/call':>8} {'x get':>7} {'x get_or_set':>13}")
        for name, ns, x_get, x_gos in bench(serialization, args.rounds, args.distinct,
                                            args.churn):
            if ns:
                print(f"{name:34} {ns:8.0f} {x_get:7.2f} {x_gos:13.2f}")
            else:
                print(name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
