# The ``adaptive`` policy (included by _index_c.pyx): W-TinyLFU whose window is sized by
# miniature simulations of itself at five window sizes (SHARDS-sampled, sharing the sketch).  The reference is fbacache/_core/_adaptive_py.py; every decision
# here is the same 64-bit integer arithmetic, so both make the same choices for the same
# ``hash(key)`` values (tests/core/test_twin_agreement.py).  docs/adaptive.md has the design.
#
# Per resident slot the policy uses no memory of its own: the three segments (window,
# probation, protected) are linked lists over the index's prev/next arrays, ``aux[slot]``
# holds the segment, and the key's mixed hash is recomputed from ``hashes[slot]`` (three
# multiplies are cheaper than an 8-byte array's cache misses).  Shared state: the sketch
# (16 4-bit counters per entry of capacity, packed 16 to a uint64 word) and five miniature
# simulations of at most 1024 fingerprints each (linear-probing table with inline keys plus
# list links: 45 bytes per fingerprint, at most about 230 KB in all).

from libc.stdint cimport uint8_t

cdef enum:
    SEG_WINDOW = 0
    SEG_PROBATION = 1
    SEG_PROTECTED = 2

cdef enum:
    AD_COUNTERS_PER_ENTRY = 16
    AD_SAMPLE_PER_ENTRY = 10
    AD_JITTER_FREQ = 6
    AD_SKETCH_CAPACITY_MAX = 1 << 20
    AD_SIMS = 5             # simulated windows: i * 16 / 64 of capacity (at least 1 entry)
    AD_SIM_SIZE = 1024
    AD_SIM_CHECK = 64
    AD_SIM_Z2 = 16
    AD_SIM_MARGIN = 200
    AD_SIM_HALF = 16


cdef struct GuardSlot:
    uint64_t key            # a fingerprint (mixed hash), stored inline: one load per probe
    int32_t node            # its node in the simulation's lists; -1: empty


cdef struct MiniSim:
    # a miniature copy of the policy over fingerprints: three segments linked through
    # prev/next, found by fingerprint through table (gpos[node]: the node's table position)
    int32_t head[3]
    int32_t tail[3]
    int64_t size[3]
    int64_t capacity
    int64_t window_max
    int64_t protected_max
    int32_t count           # nodes in use (a simulation never deletes, it only replaces)
    int32_t* prev
    int32_t* next
    int32_t* pos
    uint8_t* seg
    GuardSlot* table
    uint64_t tmask


cdef struct Adaptive:
    int32_t head[3]
    int32_t tail[3]
    int64_t size[3]
    int64_t capacity
    int64_t window_max
    int64_t protected_max
    bint has_last_miss
    uint64_t last_miss      # mixed hash of the last miss(), consumed by the next insert
    uint64_t seed
    uint64_t rng            # advanced by every insert; a duel uses the coming insert's coin
    # frequency sketch
    uint64_t* table
    uint64_t mask           # counters - 1
    int64_t sample_size
    int64_t additions
    # miniature simulations and the referee
    MiniSim sims[AD_SIMS]
    uint64_t sim_thr        # a lookup is sampled iff (h >> 40) < sim_thr
    int32_t cur             # the simulation whose window the cache follows
    int64_t lead[AD_SIMS]   # hits minus the current one's hits, since the last switch
    int64_t disagree[AD_SIMS]
    int64_t sim_n
    int64_t half_period


cdef inline uint64_t _mix64(uint64_t x) noexcept nogil:
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL
    return x ^ (x >> 31)


cdef void adaptive_init(Adaptive* a):
    cdef int i
    a.table = NULL
    for i in range(AD_SIMS):
        a.sims[i].prev = a.sims[i].next = a.sims[i].pos = NULL
        a.sims[i].seg = NULL
        a.sims[i].table = NULL


cdef void adaptive_free(Adaptive* a):
    cdef int i
    free(a.table)
    for i in range(AD_SIMS):
        free(a.sims[i].prev); free(a.sims[i].next); free(a.sims[i].pos)
        free(a.sims[i].seg); free(a.sims[i].table)
    adaptive_init(a)


cdef int _sim_setup(MiniSim* m, int64_t capacity, int64_t window_max) except -1:
    cdef uint64_t tsize = 1
    cdef int g
    for g in range(3):
        m.head[g] = m.tail[g] = NIL
        m.size[g] = 0
    m.capacity = capacity
    m.window_max = window_max
    m.protected_max = (capacity - window_max) * 4 // 5
    m.count = 0
    while tsize < <uint64_t>(2 * capacity):
        tsize <<= 1
    m.tmask = tsize - 1
    m.prev = <int32_t*>_grow(NULL, capacity, sizeof(int32_t))
    m.next = <int32_t*>_grow(NULL, capacity, sizeof(int32_t))
    m.pos = <int32_t*>_grow(NULL, capacity, sizeof(int32_t))
    m.seg = <uint8_t*>_grow(NULL, capacity, sizeof(uint8_t))
    m.table = <GuardSlot*>_grow(NULL, <Py_ssize_t>tsize, sizeof(GuardSlot))
    memset(m.table, 0xFF, tsize * sizeof(GuardSlot))  # every node -1: empty
    return 0


cdef int adaptive_setup(Adaptive* a, int64_t capacity, uint64_t seed) except -1:
    """(Re)start the policy for ``capacity`` keys: nothing resident, nothing learned."""
    cdef int64_t cap = capacity if capacity > 1 else 1
    cdef int64_t sk = cap if cap < AD_SKETCH_CAPACITY_MAX else AD_SKETCH_CAPACITY_MAX
    cdef int64_t sim_cap = cap if cap < AD_SIM_SIZE else AD_SIM_SIZE
    cdef uint64_t n = 1
    cdef int g, i
    adaptive_free(a)
    a.seed = seed
    a.capacity = capacity
    for g in range(3):
        a.head[g] = a.tail[g] = NIL
        a.size[g] = 0
    a.window_max = 1  # the window of simulation 0: max(1, cap * 0 // 64)
    a.protected_max = (cap - a.window_max) * 4 // 5
    # sketch
    if sk < 16:
        sk = 16
    while n < <uint64_t>(sk * AD_COUNTERS_PER_ENTRY):
        n <<= 1
    a.mask = n - 1
    a.table = <uint64_t*>_grow(NULL, <Py_ssize_t>(n >> 4), sizeof(uint64_t))
    memset(a.table, 0, (n >> 4) * sizeof(uint64_t))
    a.sample_size = AD_SAMPLE_PER_ENTRY * sk
    a.additions = 0
    a.rng = seed
    a.has_last_miss = False
    a.last_miss = 0
    # simulations
    a.sim_thr = (1ULL << 24) if cap <= AD_SIM_SIZE else ((<uint64_t>AD_SIM_SIZE << 24) // <uint64_t>cap)
    for i in range(AD_SIMS):
        _sim_setup(&a.sims[i], sim_cap, max(1, sim_cap * (16 * i) // 64))
        a.lead[i] = a.disagree[i] = 0
    a.cur = 0
    a.sim_n = 0
    a.half_period = AD_SIM_HALF * max(sim_cap, AD_SIM_CHECK)
    return 0


# ---------------------------------------------------------------------- segments
cdef inline void _seg_append(Adaptive* a, int32_t* prev, int32_t* next, int32_t* aux,
                             int g, int32_t s) noexcept nogil:
    cdef int32_t t = a.tail[g]
    prev[s] = t
    next[s] = NIL
    if t != NIL:
        next[t] = s
    else:
        a.head[g] = s
    a.tail[g] = s
    aux[s] = g
    a.size[g] += 1


cdef inline void _seg_unlink(Adaptive* a, int32_t* prev, int32_t* next, int g, int32_t s) noexcept nogil:
    cdef int32_t p = prev[s], q = next[s]
    if p != NIL:
        next[p] = q
    else:
        a.head[g] = q
    if q != NIL:
        prev[q] = p
    else:
        a.tail[g] = p
    a.size[g] -= 1


cdef inline void _seg_move(Adaptive* a, int32_t* prev, int32_t* next, int32_t* aux,
                           int32_t s, int g) noexcept nogil:
    _seg_unlink(a, prev, next, aux[s], s)
    _seg_append(a, prev, next, aux, g, s)


cdef inline void _fix_protected(Adaptive* a, int32_t* prev, int32_t* next, int32_t* aux) noexcept nogil:
    while a.size[SEG_PROTECTED] > a.protected_max:
        _seg_move(a, prev, next, aux, a.head[SEG_PROTECTED], SEG_PROBATION)


# ---------------------------------------------------------------------- sketch
cdef inline void _sk_increment(Adaptive* a, uint64_t h) noexcept nogil:
    cdef uint64_t lo = h & 0xFFFFFFFFULL, hi = (h >> 32) | 1, j, sh, i
    cdef uint64_t* t = a.table
    cdef bint added = False
    for i in range(4):  # a repeated slot is incremented once per occurrence, as in the twin
        j = (lo + i * hi) & a.mask
        sh = (j & 15) << 2
        if ((t[j >> 4] >> sh) & 15) < 15:
            t[j >> 4] += 1ULL << sh
            added = True
    if added:
        a.additions += 1
        if a.additions >= a.sample_size:
            for i in range((a.mask + 1) >> 4):
                t[i] = (t[i] >> 1) & 0x7777777777777777ULL  # halve every nibble
            a.additions >>= 1


cdef inline int _sk_frequency(Adaptive* a, uint64_t h) noexcept nogil:
    cdef uint64_t lo = h & 0xFFFFFFFFULL, hi = (h >> 32) | 1, j, i
    cdef int f = 15, c
    for i in range(4):
        j = (lo + i * hi) & a.mask
        c = <int>((a.table[j >> 4] >> ((j & 15) << 2)) & 15)
        if c < f:
            f = c
    return f


# ---------------------------------------------------------------------- simulations
cdef inline uint64_t _sim_find(MiniSim* m, uint64_t h) noexcept nogil:
    """Table position of fingerprint ``h``, or of the empty slot where it would go."""
    cdef uint64_t i = h & m.tmask
    while m.table[i].node != NIL and m.table[i].key != h:
        i = (i + 1) & m.tmask
    return i


cdef inline void _sim_table_remove(MiniSim* m, uint64_t i) noexcept nogil:
    """Free table position ``i`` by backward-shift deletion (linear probing, no tombstones)."""
    cdef uint64_t j = i, home
    while True:
        j = (j + 1) & m.tmask
        if m.table[j].node == NIL:
            break
        home = m.table[j].key & m.tmask
        # the entry at j may fill the hole at i unless its home lies cyclically in (i, j]
        if (i <= j and i < home and home <= j) or (i > j and (i < home or home <= j)):
            continue
        m.table[i] = m.table[j]
        m.pos[m.table[i].node] = <int32_t>i
        i = j
    m.table[i].node = NIL


cdef inline void _sim_append(MiniSim* m, int g, int32_t s) noexcept nogil:
    cdef int32_t t = m.tail[g]
    m.prev[s] = t
    m.next[s] = NIL
    if t != NIL:
        m.next[t] = s
    else:
        m.head[g] = s
    m.tail[g] = s
    m.seg[s] = <uint8_t>g
    m.size[g] += 1


cdef inline void _sim_unlink(MiniSim* m, int32_t s) noexcept nogil:
    cdef int g = m.seg[s]
    cdef int32_t p = m.prev[s], q = m.next[s]
    if p != NIL:
        m.next[p] = q
    else:
        m.head[g] = q
    if q != NIL:
        m.prev[q] = p
    else:
        m.tail[g] = p
    m.size[g] -= 1


cdef inline void _sim_move(MiniSim* m, int32_t s, int g) noexcept nogil:
    _sim_unlink(m, s)
    _sim_append(m, g, s)


cdef bint _sim_request(Adaptive* a, MiniSim* m, uint64_t h) noexcept nogil:
    """Replay a lookup of fingerprint ``h`` (get, and on a miss insert); return whether it hit."""
    cdef uint64_t pos = _sim_find(m, h)
    cdef int32_t node = m.table[pos].node, c, v
    cdef int g
    if node != NIL:
        g = m.seg[node]
        if g == SEG_PROBATION:
            _sim_move(m, node, SEG_PROTECTED)
            if m.size[SEG_PROTECTED] > m.protected_max:
                _sim_move(m, m.head[SEG_PROTECTED], SEG_PROBATION)
        elif node != m.tail[g]:
            _sim_move(m, node, g)
        return True
    if m.count >= m.capacity:
        # the same victim as the policy's (no jitter); its node takes the new fingerprint
        if m.size[SEG_WINDOW] and m.size[SEG_WINDOW] >= m.window_max:
            node = c = m.head[SEG_WINDOW]
            if m.size[SEG_PROBATION]:
                v = m.head[SEG_PROBATION]
                if (_sk_frequency(a, m.table[m.pos[c]].key)
                        > _sk_frequency(a, m.table[m.pos[v]].key)):
                    node = v
        elif m.size[SEG_PROBATION]:
            node = m.head[SEG_PROBATION]
        elif m.size[SEG_PROTECTED]:
            node = m.head[SEG_PROTECTED]
        else:
            node = m.head[SEG_WINDOW]
        _sim_unlink(m, node)
        _sim_table_remove(m, <uint64_t>m.pos[node])
        pos = _sim_find(m, h)  # the removal may have shifted the free position
    else:
        node = m.count
        m.count += 1
    m.table[pos].key = h
    m.table[pos].node = node
    m.pos[node] = <int32_t>pos
    _sim_append(m, SEG_WINDOW, node)
    if m.size[SEG_WINDOW] > m.window_max:
        _sim_move(m, m.head[SEG_WINDOW], SEG_PROBATION)
    return False


cdef void _ad_set_window(Adaptive* a, int32_t* prev, int32_t* next, int32_t* aux,
                         int64_t window_max) noexcept nogil:
    """Resize the window: growth is lazy (the main space gives up keys as victims), shrinking
    moves the window's LRU keys to probation."""
    cdef int64_t cap = a.capacity if a.capacity > 1 else 1
    a.window_max = window_max
    a.protected_max = (cap - window_max) * 4 // 5
    while a.size[SEG_WINDOW] > window_max:
        _seg_move(a, prev, next, aux, a.head[SEG_WINDOW], SEG_PROBATION)
    _fix_protected(a, prev, next, aux)


cdef void _ad_observe(Adaptive* a, int32_t* prev, int32_t* next, int32_t* aux,
                      uint64_t h) noexcept nogil:
    """Replay a sampled lookup in every simulation; follow a clearly better one."""
    cdef bint hits[AD_SIMS]
    cdef bint ours
    cdef int i, best
    cdef int64_t d, cap
    if (h >> 40) >= a.sim_thr:
        return
    for i in range(AD_SIMS):
        hits[i] = _sim_request(a, &a.sims[i], h)
    ours = hits[a.cur]
    for i in range(AD_SIMS):
        if hits[i] != ours:
            a.disagree[i] += 1
            a.lead[i] += 1 if hits[i] else -1
    a.sim_n += 1
    if a.sim_n % AD_SIM_CHECK == 0:
        best = -1
        for i in range(AD_SIMS):
            # significant (a sign test: lead**2 > Z2 * disagreements) and worth a switch
            d = a.lead[i]
            if (d > 0 and d * d > AD_SIM_Z2 * a.disagree[i] and d * AD_SIM_MARGIN > a.sim_n
                    and (best < 0 or d > a.lead[best])):
                best = i
        if best >= 0:
            a.cur = best
            for i in range(AD_SIMS):
                a.lead[i] = a.disagree[i] = 0
            a.sim_n = 0
            cap = a.capacity if a.capacity > 1 else 1
            _ad_set_window(a, prev, next, aux, max(1, cap * (16 * best) // 64))
            return
    if a.sim_n >= a.half_period:
        for i in range(AD_SIMS):  # forget old evidence (halved towards 0): phases change
            d = a.lead[i]
            a.lead[i] = (d >> 1) if d >= 0 else -((-d) >> 1)
            a.disagree[i] >>= 1
        a.sim_n >>= 1


# ---------------------------------------------------------------------- protocol
cdef inline void adaptive_insert(Adaptive* a, int32_t* prev, int32_t* next, int32_t* aux,
                                 int32_t s, uint64_t h) noexcept nogil:
    if not (a.has_last_miss and a.last_miss == h):
        _sk_increment(a, h)
    a.has_last_miss = False
    _seg_append(a, prev, next, aux, SEG_WINDOW, s)
    a.rng += 0x9E3779B97F4A7C15ULL  # this insert's coin was spent
    if a.size[SEG_WINDOW] > a.window_max:
        _seg_move(a, prev, next, aux, a.head[SEG_WINDOW], SEG_PROBATION)  # victim() duelled it


cdef inline void adaptive_access(Adaptive* a, int32_t* prev, int32_t* next, int32_t* aux,
                                 int32_t s, uint64_t h) noexcept nogil:
    cdef int g = aux[s]
    cdef int64_t cap = a.capacity if a.capacity > 1 else 1
    _sk_increment(a, h)
    if (g != SEG_WINDOW and a.size[SEG_WINDOW] < a.window_max
            and a.size[SEG_PROBATION] + a.size[SEG_PROTECTED] > cap - a.window_max):
        # the window grew and the main space is over its share until evictions shrink it:
        # a key in use moves to the window instead of being evicted with the rest
        _seg_move(a, prev, next, aux, s, SEG_WINDOW)
    elif g == SEG_PROBATION:
        _seg_move(a, prev, next, aux, s, SEG_PROTECTED)
        _fix_protected(a, prev, next, aux)
    elif s != a.tail[g]:
        _seg_move(a, prev, next, aux, s, g)
    _ad_observe(a, prev, next, aux, h)


cdef inline void adaptive_miss(Adaptive* a, int32_t* prev, int32_t* next, int32_t* aux,
                               uint64_t h) noexcept nogil:
    _sk_increment(a, h)
    a.has_last_miss = True
    a.last_miss = h
    _ad_observe(a, prev, next, aux, h)


cdef inline void adaptive_remove(Adaptive* a, int32_t* prev, int32_t* next, int32_t* aux,
                                 int32_t s) noexcept nogil:
    _seg_unlink(a, prev, next, aux[s], s)


cdef inline bint _ad_admit(Adaptive* a, Py_hash_t* hashes, int32_t cand, int32_t v) noexcept nogil:
    """TinyLFU admission: ``cand`` takes ``v``'s place only if it is more frequent; a frequent
    candidate sometimes wins anyway (the coming insert's coin), so hash flooding cannot pin
    the main space."""
    cdef int fc = _sk_frequency(a, _mix64(<uint64_t>hashes[cand]))
    cdef int fv = _sk_frequency(a, _mix64(<uint64_t>hashes[v]))
    return fc > fv or (fc >= AD_JITTER_FREQ and (_mix64(a.rng + 0x9E3779B97F4A7C15ULL) & 127) == 0)


cdef inline int32_t adaptive_victim(Adaptive* a, Py_hash_t* hashes, int32_t* aux) noexcept nogil:
    """The next key to evict (at least one resident); pure until a removal.

    Evictions make room for an insert: when the window is full its LRU key is about to move
    to probation, so it duels probation's LRU key now (or goes, if probation is empty)."""
    cdef int32_t cand, v
    if a.size[SEG_WINDOW] and a.size[SEG_WINDOW] >= a.window_max:
        cand = a.head[SEG_WINDOW]
        if a.size[SEG_PROBATION] == 0:
            return cand
        v = a.head[SEG_PROBATION]
        return v if _ad_admit(a, hashes, cand, v) else cand
    if a.size[SEG_PROBATION]:
        return a.head[SEG_PROBATION]
    if a.size[SEG_PROTECTED]:
        return a.head[SEG_PROTECTED]
    return a.head[SEG_WINDOW]


cdef list adaptive_order(Adaptive* a, Py_hash_t* hashes, int32_t* next, int32_t* aux, int32_t n):
    """Residents in the order successive evictions would take them: adaptive_victim and a
    removal, simulated with one cursor per segment (removals only take heads; the sketch and
    the coin do not change).  O(n); victims_for relies on it matching set exactly."""
    cdef list out = []
    cdef int32_t w = a.head[SEG_WINDOW], p = a.head[SEG_PROBATION], r = a.head[SEG_PROTECTED]
    cdef int64_t w_left = a.size[SEG_WINDOW]
    cdef int32_t i
    for i in range(n):
        if w_left and w_left >= a.window_max:
            if p == NIL or not _ad_admit(a, hashes, w, p):
                out.append(w)
                w = next[w]
                w_left -= 1
            else:
                out.append(p)
                p = next[p]
        elif p != NIL:
            out.append(p)
            p = next[p]
        elif r != NIL:
            out.append(r)
            r = next[r]
        else:
            out.append(w)
            w = next[w]
            w_left -= 1
    return out


cdef int adaptive_check(Adaptive* a, Py_hash_t* hashes, int32_t* prev, int32_t* next,
                        int32_t* aux, int32_t n) except -1:
    """Assert the segment links and sizes, the window bounds, the sketch and the simulations."""
    cdef int32_t s, p, count, total = 0, node
    cdef int g
    cdef uint64_t i, pos
    cdef int64_t cap = a.capacity if a.capacity > 1 else 1
    for g in range(3):
        s = a.head[g]
        p = NIL
        count = 0
        while s != NIL:
            assert aux[s] == g, "adaptive: slot in the wrong segment"
            assert prev[s] == p, "adaptive: broken back link"
            p = s
            s = next[s]
            count += 1
            assert count <= n, "adaptive: segment cycle"
        assert a.tail[g] == p, "adaptive: segment tail"
        assert a.size[g] == count, "adaptive: segment size drift"
        total += count
    assert total == n, "adaptive: segments do not hold every resident"
    assert 1 <= a.window_max <= cap and 0 <= a.protected_max, "adaptive: segment maxima"
    assert a.window_max + a.protected_max <= cap, "adaptive: maxima over capacity"
    assert a.size[SEG_WINDOW] <= a.window_max, "adaptive: window over its maximum"
    assert a.size[SEG_PROTECTED] <= a.protected_max, "adaptive: protected over its maximum"
    assert a.protected_max == (cap - a.window_max) * 4 // 5, "adaptive: protected share"
    assert 0 <= a.additions < a.sample_size, "adaptive: sketch additions"
    assert 0 <= a.sim_n < a.half_period and 0 <= a.cur < AD_SIMS, "adaptive: referee"
    for g in range(AD_SIMS):
        assert -a.disagree[g] <= a.lead[g] <= a.disagree[g] <= a.sim_n, "adaptive: sim scores"
        _sim_check(&a.sims[g])
    return 0


cdef int _sim_check(MiniSim* m) except -1:
    """Assert a simulation's links, sizes and table."""
    cdef int32_t s, p, count, total = 0
    cdef int g
    cdef uint64_t i
    for g in range(3):
        s = m.head[g]
        p = NIL
        count = 0
        while s != NIL:
            assert m.seg[s] == g and m.prev[s] == p, "adaptive sim: links"
            assert m.table[m.pos[s]].node == s, "adaptive sim: position"
            assert _sim_find(m, m.table[m.pos[s]].key) == <uint64_t>m.pos[s], "adaptive sim: lost"
            p = s
            s = m.next[s]
            count += 1
            assert count <= m.count, "adaptive sim: cycle"
        assert m.tail[g] == p and m.size[g] == count, "adaptive sim: segment"
        total += count
    assert total == m.count <= m.capacity, "adaptive sim: count"
    assert m.size[SEG_WINDOW] <= m.window_max and m.size[SEG_PROTECTED] <= m.protected_max
    count = 0
    for i in range(m.tmask + 1):
        if m.table[i].node != NIL:
            count += 1
    assert count == m.count, "adaptive sim: table count"
    return 0
