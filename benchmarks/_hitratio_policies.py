"""Resolve policy names to cache factories for ``benchmarks/hitratio.py``.

The benchmark measures the public classes (``fbacache.LRUCache`` ...).  When one
is not importable (the core is still being written) a *prototype* stands in and
its label says so, e.g. ``adaptive (proto)``: numbers are never silently taken
from something other than the public class.
"""
from __future__ import annotations

import importlib.util
import random
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Dict, Hashable, List, Tuple

ROOT = Path(__file__).resolve().parent.parent
PUBLIC = {"lru": "LRUCache", "lfu": "LFUCache", "fifo": "FIFOCache", "random": "RRCache",
          "adaptive": "AdaptiveCache"}


class _LRU:
    def __init__(self) -> None:
        self.o: "OrderedDict[Hashable, None]" = OrderedDict()

    def insert(self, k: Hashable) -> None:
        self.o[k] = None

    def access(self, k: Hashable) -> None:
        self.o.move_to_end(k)

    def miss(self, k: Hashable) -> None:
        pass

    def remove(self, k: Hashable) -> None:
        del self.o[k]

    def victim(self) -> Hashable:
        return next(iter(self.o))


class _FIFO(_LRU):
    def access(self, k: Hashable) -> None:
        pass


class _LFU:
    """Frequency buckets, ties by recency, no aging (the core's LFU definition)."""

    def __init__(self) -> None:
        self.f: Dict[Hashable, int] = {}
        self.b: Dict[int, "OrderedDict[Hashable, None]"] = {}
        self.minf = 1

    def _put(self, k: Hashable, f: int) -> None:
        self.f[k] = f
        b = self.b.get(f)
        if b is None:
            b = self.b[f] = OrderedDict()
        b[k] = None

    def _take(self, k: Hashable) -> int:
        f = self.f.pop(k)
        b = self.b[f]
        del b[k]
        if not b:
            del self.b[f]
            if self.minf == f:
                self.minf = f + 1
        return f

    def insert(self, k: Hashable) -> None:
        self._put(k, 1)
        self.minf = 1

    def access(self, k: Hashable) -> None:
        self._put(k, self._take(k) + 1)

    def miss(self, k: Hashable) -> None:
        pass

    def remove(self, k: Hashable) -> None:
        self._take(k)
        if self.b and self.minf not in self.b:
            self.minf = min(self.b)

    def victim(self) -> Hashable:
        return next(iter(self.b[self.minf]))


class _Random:
    def __init__(self) -> None:
        self.keys: List[Hashable] = []
        self.pos: Dict[Hashable, int] = {}
        self.rng = random.Random(1)

    def insert(self, k: Hashable) -> None:
        self.pos[k] = len(self.keys)
        self.keys.append(k)

    def access(self, k: Hashable) -> None:
        pass

    miss = access

    def remove(self, k: Hashable) -> None:
        i = self.pos.pop(k)
        last = self.keys.pop()
        if i < len(self.keys):
            self.keys[i] = last
            self.pos[last] = i

    def victim(self) -> Hashable:
        return self.keys[self.rng.randrange(len(self.keys))]


def _load_adaptive_twin() -> Any:
    """Load fbacache/_core/_adaptive_py.py by path (works even if the package is mid-edit)."""
    path = ROOT / "fbacache" / "_core" / "_adaptive_py.py"
    spec = importlib.util.spec_from_file_location("_hitratio_adaptive_twin", path)
    if spec is None or spec.loader is None:
        raise ImportError(path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.AdaptivePolicy


class PolicyCache:
    """Minimal mapping (get / __setitem__) driving a policy object, as the core's index does."""

    def __init__(self, maxsize: int, policy: Any) -> None:
        self.maxsize = maxsize
        self.data: Dict[Hashable, Any] = {}
        self.p = policy

    def get(self, key: Hashable, default: Any = None) -> Any:
        data = self.data
        if key in data:
            self.p.access(key)
            return data[key]
        self.p.miss(key)
        return default

    def __setitem__(self, key: Hashable, value: Any) -> None:
        data = self.data
        if key in data:
            data[key] = value
            self.p.access(key)
            return
        data[key] = value
        p = self.p
        p.insert(key)
        while len(data) > self.maxsize:
            v = p.victim()
            p.remove(v)
            del data[v]


def _proto_factory(name: str) -> Callable[[int], Any]:
    if name == "adaptive":
        cls = _load_adaptive_twin()
        return lambda n: PolicyCache(n, cls(n, 1))
    simple = {"lru": _LRU, "lfu": _LFU, "fifo": _FIFO, "random": _Random}[name]
    return lambda n: PolicyCache(n, simple())


def resolve(name: str, allow_proto: bool = True) -> Tuple[str, Callable[[int], Any]]:
    """Return ``(label, factory)`` for a policy name; the label marks a prototype stand-in.

    Raises ``KeyError`` for an unknown name and ``ImportError`` when the public class is
    missing and ``allow_proto`` is false.
    """
    if name not in PUBLIC:
        raise KeyError(f"unknown policy {name!r}; choose from {', '.join(PUBLIC)}")
    try:
        import fbacache

        cls = getattr(fbacache, PUBLIC[name])
        probe = cls(2)  # a class may exist before its policy is built into the core
        probe[0] = 0
        probe.get(0)
        return name, cls
    except Exception as exc:  # missing module/class, or a core that cannot run it yet
        if not allow_proto:
            raise ImportError(f"fbacache.{PUBLIC[name]} unavailable: {exc}") from exc
        return f"{name} (proto)", _proto_factory(name)
