"""Experimental prototype of the adaptive policy (W-TinyLFU + hill-climbing window).

This module is the design bench: every knob is a constructor argument so that
``python benchmarks/_adaptive_proto.py`` can sweep them over the traces.  The
shipped reference lives in ``fbacache/_core/_adaptive_py.py``.
"""
from __future__ import annotations

import sys
from collections import OrderedDict
from typing import Dict, Hashable

M64 = (1 << 64) - 1


def mix64(x: int) -> int:
    """splitmix64 finalizer (Stafford variant 13) of a 64-bit integer."""
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9 & M64
    x = (x ^ (x >> 27)) * 0x94D049BB133111EB & M64
    return x ^ (x >> 31)


class Proto:
    """Window LRU + SLRU main, TinyLFU admission, hill-climbed window size."""

    def __init__(self, cap: int, *, window_pct: float = 0.01, protected_pct: float = 0.8,
                 sample_mult: float = 10.0, sketch_mult: int = 16, climb: bool = True,
                 step_pct: float = 0.0625, decay: float = 0.98, restart: float = 0.05,
                 climb_sample_mult: float = 10.0, jitter: int = 6, seed: int = 1,
                 min_sample: int = 0, ghost: float = 0.0, gstep: int = 1,
                 climb_cap: int = 0, accel: float = 0.0, max_step: float = 0.25,
                 shadow: int = 0, shadow_period: int = 0, shadow_eps: float = 0.005,
                 shadow_mode: int = 1, shadow_step: float = 0.0625) -> None:
        self.shadow = shadow
        self.sh: "OrderedDict[int, None]" = OrderedDict()
        self.sh_cap = min(cap, shadow) if shadow else 0
        self.sh_thr = (1 << 24) if not shadow or cap <= shadow else (shadow << 24) // cap
        self.sh_period = shadow_period or max(128, self.sh_cap)
        self.sh_eps = shadow_eps
        self.sh_mode = shadow_mode
        self.sh_step = shadow_step
        self.sh_n = self.sh_ours = self.sh_lru = 0
        self.accel = accel
        self.max_step = max_step
        self.ghost = ghost
        self.gstep = gstep
        self.wg: "OrderedDict[int, None]" = OrderedDict()
        self.mg: "OrderedDict[int, None]" = OrderedDict()
        self.gcap = max(1, int(ghost * cap))
        self.cap = cap
        self.window_max = max(1, int(cap * window_pct))
        self.protected_pct = protected_pct
        self.protected_max = int((cap - self.window_max) * protected_pct)
        self.window: "OrderedDict[Hashable, None]" = OrderedDict()
        self.probation: "OrderedDict[Hashable, None]" = OrderedDict()
        self.protected: "OrderedDict[Hashable, None]" = OrderedDict()
        self.where: Dict[Hashable, int] = {}
        ncounters = 1
        while ncounters < max(cap, 16) * sketch_mult:
            ncounters <<= 1
        self.mask = ncounters - 1
        self.counters = bytearray(ncounters)
        self.sample = max(int(sample_mult * cap), 16)
        self.additions = 0
        self.climb = climb
        self.step = step_pct * cap
        self.step_pct = step_pct
        self.decay = decay
        self.restart = restart
        self.climb_sample = max(int(climb_sample_mult * cap), min_sample, 16)
        if climb_cap:
            self.climb_sample = min(self.climb_sample, max(climb_cap, 16))
        self.hits_s = 0
        self.miss_s = 0
        self.prev_rate = 0.0
        self.jitter = jitter
        self.rng = seed & M64
        self.hits = 0

    # -- sketch ---------------------------------------------------------------
    def _idx(self, key):
        h = mix64(hash(key) & M64)
        lo = h & 0xFFFFFFFF
        hi = (h >> 32) | 1
        m = self.mask
        return (lo & m, (lo + hi) & m, (lo + 2 * hi) & m, (lo + 3 * hi) & m)

    def freq(self, key) -> int:
        c = self.counters
        a, b, d, e = self._idx(key)
        return min(c[a], c[b], c[d], c[e])

    def increment(self, key) -> None:
        c = self.counters
        added = False
        for i in self._idx(key):
            if c[i] < 15:
                c[i] += 1
                added = True
        if added:
            self.additions += 1
            if self.additions >= self.sample:
                self.counters = bytearray(v >> 1 for v in c)
                self.additions //= 2

    def _rand(self) -> int:
        self.rng = (self.rng + 0x9E3779B97F4A7C15) & M64
        return mix64(self.rng)

    def admit(self, cand, vict) -> bool:
        fc = self.freq(cand)
        fv = self.freq(vict)
        if fc > fv:
            return True
        if self.jitter and fc >= self.jitter:
            return (self._rand() & 127) == 0
        return False

    # -- climber --------------------------------------------------------------
    def _climb(self) -> None:
        n = self.hits_s + self.miss_s
        rate = self.hits_s / n
        change = rate - self.prev_rate
        amount = self.step if change >= 0 else -self.step
        if self.accel:
            nxt = (self.accel if change >= 0 else self.decay) * amount
            lim = self.max_step * self.cap
            self.step = max(-lim, min(lim, nxt))
            if abs(self.step) < 1:
                self.step = 1.0 if self.step >= 0 else -1.0
        elif abs(change) >= self.restart:
            self.step = self.step_pct * self.cap * (1 if amount >= 0 else -1)
        else:
            self.step = self.decay * amount
        self.prev_rate = rate
        self.hits_s = self.miss_s = 0
        adj = int(amount)
        if adj > 0:
            self._grow(adj)
        elif adj < 0:
            self._shrink(-adj)

    def _grow(self, q: int) -> None:
        q = min(q, self.protected_max)
        if q <= 0:
            return
        self.window_max += q
        self.protected_max -= q
        self._fix_protected()
        main_max = self.cap - self.window_max
        while len(self.probation) + len(self.protected) > main_max:
            src = self.probation if self.probation else self.protected
            k, _ = src.popitem(last=False)
            self.window[k] = None
            self.where[k] = 0

    def _shrink(self, q: int) -> None:
        q = min(q, self.window_max - 1)
        if q <= 0:
            return
        self.window_max -= q
        self.protected_max += q
        while len(self.window) > self.window_max:
            k, _ = self.window.popitem(last=False)
            self.probation[k] = None
            self.where[k] = 1

    def _fix_protected(self) -> None:
        while len(self.protected) > self.protected_max:
            k, _ = self.protected.popitem(last=False)
            self.probation[k] = None
            self.where[k] = 1

    # -- replay ---------------------------------------------------------------
    def _shadow(self, key, hit: bool) -> None:
        h = mix64(hash(key) & M64)
        if (h >> 40) >= self.sh_thr:
            return
        sh = self.sh
        self.sh_n += 1
        self.sh_ours += hit
        if h in sh:
            sh.move_to_end(h)
            self.sh_lru += 1
        else:
            sh[h] = None
            if len(sh) > self.sh_cap:
                sh.popitem(last=False)
        if self.sh_n >= self.sh_period:
            d = (self.sh_ours - self.sh_lru) / self.sh_n
            self.sh_n = self.sh_ours = self.sh_lru = 0
            q = max(1, int(self.sh_step * self.cap))
            if d < -self.sh_eps:
                self._grow(q)
                if self.step < 0:
                    self.step = -self.step
            elif d > self.sh_eps and self.sh_mode == 1:
                self._shrink(q)

    def request(self, key) -> bool:
        """Get, and on a miss insert; return True on a hit."""
        hit = self._request(key)
        if self.shadow:
            self._shadow(key, hit)
        return hit

    def _request(self, key) -> bool:
        self.increment(key)
        seg = self.where.get(key)
        if seg is not None:
            self.hits_s += 1
            if seg == 0:
                self.window.move_to_end(key)
            elif seg == 1:
                del self.probation[key]
                self.protected[key] = None
                self.where[key] = 2
                self._fix_protected()
            else:
                self.protected.move_to_end(key)
            hit = True
        else:
            self.miss_s += 1
            if self.ghost:
                if key in self.wg:
                    del self.wg[key]
                    d = max(1, len(self.mg) // max(1, len(self.wg))) if self.gstep else 1
                    self._grow(min(d, self.cap))
                elif key in self.mg:
                    del self.mg[key]
                    d = max(1, len(self.wg) // max(1, len(self.mg))) if self.gstep else 1
                    self._shrink(min(d, self.cap))
            self.window[key] = None
            self.where[key] = 0
            if len(self.window) > self.window_max or len(self.where) > self.cap:
                self._evict()
            hit = False
        if self.climb and self.hits_s + self.miss_s >= self.climb_sample:
            self._climb()
        return hit

    def _evict(self) -> None:
        cand = None
        if len(self.window) > self.window_max:
            cand, _ = self.window.popitem(last=False)
            self.probation[cand] = None
            self.where[cand] = 1
        while len(self.where) > self.cap:
            if self.probation:
                vict, vq = next(iter(self.probation)), self.probation
            elif self.protected:
                vict, vq = next(iter(self.protected)), self.protected
            else:
                vict, vq = next(iter(self.window)), self.window
            if cand is not None and cand != vict and not self.admit(cand, vict):
                vict, vq = cand, self.probation
            if self.ghost:
                g = self.wg if vict is cand else self.mg
                g[vict] = None
                if len(g) > self.gcap:
                    g.popitem(last=False)
            cand = None
            del vq[vict]
            del self.where[vict]


def lru_hits(keys, cap):
    """Hits of a plain LRU (fast reference)."""
    od: "OrderedDict[int, None]" = OrderedDict()
    hits = 0
    mte = od.move_to_end
    for k in keys:
        if k in od:
            hits += 1
            mte(k)
        else:
            od[k] = None
            if len(od) > cap:
                od.popitem(last=False)
    return hits


def lfu_hits(keys, cap):
    """Hits of LFU with frequency buckets, ties by recency, no aging."""
    freq: Dict[int, int] = {}
    buckets: Dict[int, "OrderedDict[int, None]"] = {}
    minf = 0
    hits = 0
    for k in keys:
        f = freq.get(k)
        if f is not None:
            hits += 1
            b = buckets[f]
            del b[k]
            if not b:
                del buckets[f]
                if minf == f:
                    minf = f + 1
            freq[k] = f + 1
            nb = buckets.get(f + 1)
            if nb is None:
                nb = buckets[f + 1] = OrderedDict()
            nb[k] = None
        else:
            if len(freq) >= cap:
                b = buckets[minf]
                v, _ = b.popitem(last=False)
                if not b:
                    del buckets[minf]
                del freq[v]
            freq[k] = 1
            nb = buckets.get(1)
            if nb is None:
                nb = buckets[1] = OrderedDict()
            nb[k] = None
            minf = 1
    return hits


def proto_hits(keys, cap, **kw):
    """Hits of the prototype with the given knobs."""
    p = Proto(cap, **kw)
    req = p.request
    return sum(1 for k in keys if req(k))


PAPER = {'oltp': [1000, 2000, 5000, 10000], 'glimpse': [500, 1000, 2000], 'loop': [250, 500],
         'multi3': [500, 1000], 'sprite': [100, 400, 1000], '2_pools': [99, 497],
         'web12': [300, 1200], 'scarab': [10000, 100000]}

if __name__ == "__main__":
    import json
    import multiprocessing as mp
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from _hitratio_traces import load_trace

    kw = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    only = sys.argv[2].split(",") if len(sys.argv) > 2 else list(PAPER)

    def run(job):
        t, s = job
        keys = load_trace(f"/work/shared/traces/{t}.txt.gz")
        return t, s, 100 * proto_hits(keys, s, **kw) / len(keys)

    jobs = [(t, s) for t in only for s in PAPER[t]]
    with mp.Pool(2) as pool:
        for t, s, r in pool.imap(run, jobs):
            print(f"{t}@{s} {r:.2f}", flush=True)
