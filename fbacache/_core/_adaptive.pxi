# The ``adaptive`` policy (included by _index_c.pyx): W-TinyLFU with a hill-climbed window
# and a sampled LRU guard.  The reference is fbacache/_core/_adaptive_py.py; every decision
# here is the same 64-bit integer arithmetic, so both make the same choices for the same
# ``hash(key)`` values (tests/core/test_twin_agreement.py).  docs/adaptive.md has the design.
#
# Per resident slot the policy uses no memory of its own: the three segments (window,
# probation, protected) are linked lists over the index's prev/next arrays, ``aux[slot]``
# holds the segment, and the key's mixed hash is recomputed from ``hashes[slot]`` (three
# multiplies are cheaper than an 8-byte array's cache misses).  Shared state: the sketch
# (16 4-bit counters per entry of capacity, packed 16 to a uint64 word) and the guard (at
# most 1024 fingerprints in a linear-probing table with inline keys, about 44 KB).

cdef enum:
    SEG_WINDOW = 0
    SEG_PROBATION = 1
    SEG_PROTECTED = 2

cdef enum:
    AD_COUNTERS_PER_ENTRY = 16
    AD_SAMPLE_PER_ENTRY = 10
    AD_JITTER_FREQ = 6
    AD_CLIMB_SAMPLE_MAX = 5000
    AD_RESTART_RATE = 3277
    AD_GUARD_SIZE = 1024
    AD_GUARD_PERIOD_MIN = 128
    AD_SKETCH_CAPACITY_MAX = 1 << 20


cdef struct GuardSlot:
    uint64_t key            # a fingerprint (mixed hash), stored inline: one load per probe
    int32_t node            # its node in the guard's LRU list; -1: empty


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
    # hill climber
    int64_t climb_period
    int64_t hits
    int64_t misses
    int64_t prev_rate
    int64_t step
    bint up
    # LRU guard: nodes in LRU order (head = oldest), found through gtable by fingerprint;
    # gpos[node] is the node's table position (updated when a deletion shifts it)
    int32_t* gpos
    int32_t* gprev
    int32_t* gnext
    GuardSlot* gtable
    uint64_t gmask
    int32_t ghead
    int32_t gtail
    int32_t gcount
    int64_t guard_cap
    uint64_t guard_thr
    int64_t guard_period
    int64_t g_n
    int64_t g_ours
    int64_t g_lru


cdef inline uint64_t _mix64(uint64_t x) noexcept nogil:
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL
    return x ^ (x >> 31)


cdef void adaptive_init(Adaptive* a):
    a.table = NULL
    a.gpos = a.gprev = a.gnext = NULL
    a.gtable = NULL


cdef void adaptive_free(Adaptive* a):
    free(a.table); free(a.gpos); free(a.gprev); free(a.gnext); free(a.gtable)
    adaptive_init(a)


cdef int adaptive_setup(Adaptive* a, int64_t capacity, uint64_t seed) except -1:
    """(Re)start the policy for ``capacity`` keys: nothing resident, nothing learned."""
    cdef int64_t cap = capacity if capacity > 1 else 1
    cdef int64_t sk = cap if cap < AD_SKETCH_CAPACITY_MAX else AD_SKETCH_CAPACITY_MAX
    cdef uint64_t n = 1, gsize = 1
    cdef int g
    adaptive_free(a)
    a.seed = seed
    a.capacity = capacity
    for g in range(3):
        a.head[g] = a.tail[g] = NIL
        a.size[g] = 0
    a.window_max = max(1, cap // 100)
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
    # climber
    a.climb_period = max(16, min(AD_SAMPLE_PER_ENTRY * cap, AD_CLIMB_SAMPLE_MAX))
    a.hits = a.misses = 0
    a.prev_rate = 0
    a.step = cap << 6
    a.up = True
    # guard
    a.guard_cap = min(cap, AD_GUARD_SIZE)
    a.guard_thr = (1ULL << 24) if cap <= AD_GUARD_SIZE else ((<uint64_t>AD_GUARD_SIZE << 24) // <uint64_t>cap)
    a.guard_period = max(AD_GUARD_PERIOD_MIN, a.guard_cap)
    while gsize < <uint64_t>(2 * a.guard_cap):
        gsize <<= 1
    a.gmask = gsize - 1
    a.gpos = <int32_t*>_grow(NULL, a.guard_cap, sizeof(int32_t))
    a.gprev = <int32_t*>_grow(NULL, a.guard_cap, sizeof(int32_t))
    a.gnext = <int32_t*>_grow(NULL, a.guard_cap, sizeof(int32_t))
    a.gtable = <GuardSlot*>_grow(NULL, <Py_ssize_t>gsize, sizeof(GuardSlot))
    memset(a.gtable, 0xFF, gsize * sizeof(GuardSlot))  # every node -1: empty
    a.ghead = a.gtail = NIL
    a.gcount = 0
    a.g_n = a.g_ours = a.g_lru = 0
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


# ---------------------------------------------------------------------- adaptation
cdef void _ad_grow(Adaptive* a, int32_t* prev, int32_t* next, int32_t* aux, int64_t q) noexcept nogil:
    cdef int64_t main_max
    if q > a.protected_max:
        q = a.protected_max
    if q <= 0:
        return
    a.window_max += q
    a.protected_max -= q
    _fix_protected(a, prev, next, aux)
    main_max = (a.capacity if a.capacity > 1 else 1) - a.window_max
    # a weight-bounded index may hold more keys than the capacity (weight-0 keys): the
    # window never takes more than its maximum, the main space keeps the rest
    while (a.size[SEG_PROBATION] + a.size[SEG_PROTECTED] > main_max
           and a.size[SEG_WINDOW] < a.window_max):
        if a.size[SEG_PROBATION]:
            _seg_move(a, prev, next, aux, a.head[SEG_PROBATION], SEG_WINDOW)
        else:
            _seg_move(a, prev, next, aux, a.head[SEG_PROTECTED], SEG_WINDOW)


cdef void _ad_shrink(Adaptive* a, int32_t* prev, int32_t* next, int32_t* aux, int64_t q) noexcept nogil:
    if q > a.window_max - 1:
        q = a.window_max - 1
    if q <= 0:
        return
    a.window_max -= q
    a.protected_max += q
    while a.size[SEG_WINDOW] > a.window_max:
        _seg_move(a, prev, next, aux, a.head[SEG_WINDOW], SEG_PROBATION)


cdef void _ad_climb(Adaptive* a, int32_t* prev, int32_t* next, int32_t* aux) noexcept nogil:
    cdef int64_t n = a.hits + a.misses
    cdef int64_t rate = (a.hits << 16) // n
    cdef int64_t change = rate - a.prev_rate
    cdef int64_t amount
    if change < 0:
        a.up = not a.up  # the last move hurt: go back
    amount = a.step >> 10
    if change >= AD_RESTART_RATE or -change >= AD_RESTART_RATE:
        a.step = (a.capacity if a.capacity > 1 else 1) << 6
    else:
        a.step = (a.step * 251) >> 8
    a.prev_rate = rate
    a.hits = a.misses = 0
    if amount:
        if a.up:
            _ad_grow(a, prev, next, aux, amount)
        else:
            _ad_shrink(a, prev, next, aux, amount)


cdef inline uint64_t _guard_find(Adaptive* a, uint64_t h) noexcept nogil:
    """Table position of fingerprint ``h``, or of the empty slot where it would go."""
    cdef uint64_t i = h & a.gmask
    while a.gtable[i].node != NIL and a.gtable[i].key != h:
        i = (i + 1) & a.gmask
    return i


cdef inline void _guard_table_remove(Adaptive* a, uint64_t i) noexcept nogil:
    """Free table position ``i`` by backward-shift deletion (linear probing, no tombstones)."""
    cdef uint64_t j = i, home
    while True:
        j = (j + 1) & a.gmask
        if a.gtable[j].node == NIL:
            break
        home = a.gtable[j].key & a.gmask
        # the entry at j may fill the hole at i unless its home lies cyclically in (i, j]
        if (i <= j and i < home and home <= j) or (i > j and (i < home or home <= j)):
            continue
        a.gtable[i] = a.gtable[j]
        a.gpos[a.gtable[i].node] = <int32_t>i
        i = j
    a.gtable[i].node = NIL


cdef inline void _guard_unlink(Adaptive* a, int32_t node) noexcept nogil:
    cdef int32_t p = a.gprev[node], q = a.gnext[node]
    if p != NIL:
        a.gnext[p] = q
    else:
        a.ghead = q
    if q != NIL:
        a.gprev[q] = p
    else:
        a.gtail = p


cdef inline void _guard_append(Adaptive* a, int32_t node) noexcept nogil:
    a.gprev[node] = a.gtail
    a.gnext[node] = NIL
    if a.gtail != NIL:
        a.gnext[a.gtail] = node
    else:
        a.ghead = node
    a.gtail = node


cdef void _guard_observe(Adaptive* a, int32_t* prev, int32_t* next, int32_t* aux,
                         uint64_t h, bint hit) noexcept nogil:
    cdef uint64_t pos
    cdef int32_t node
    cdef bint lru_ahead
    cdef int64_t cap
    a.g_n += 1
    if hit:
        a.g_ours += 1
    pos = _guard_find(a, h)
    node = a.gtable[pos].node
    if node != NIL:
        if node != a.gtail:
            _guard_unlink(a, node)
            _guard_append(a, node)
        a.g_lru += 1
    else:
        if a.gcount == a.guard_cap:
            # full: the oldest fingerprint leaves (the twin adds, then drops the oldest)
            node = a.ghead
            _guard_table_remove(a, <uint64_t>a.gpos[node])
            _guard_unlink(a, node)
            pos = _guard_find(a, h)  # the removal may have shifted the free position
        else:
            node = a.gcount
            a.gcount += 1
        a.gtable[pos].key = h
        a.gtable[pos].node = node
        a.gpos[node] = <int32_t>pos
        _guard_append(a, node)
    if a.g_n >= a.guard_period:
        lru_ahead = (a.g_lru - a.g_ours) * 200 > a.g_n  # LRU better by > 0.5 points
        a.g_n = a.g_ours = a.g_lru = 0
        if lru_ahead:
            a.up = True
            cap = a.capacity if a.capacity > 1 else 1
            _ad_grow(a, prev, next, aux, max(1, cap >> 4))


cdef inline void _ad_observe(Adaptive* a, int32_t* prev, int32_t* next, int32_t* aux,
                             uint64_t h, bint hit) noexcept nogil:
    if hit:
        a.hits += 1
    else:
        a.misses += 1
    if a.hits + a.misses >= a.climb_period:
        _ad_climb(a, prev, next, aux)
    if (h >> 40) < a.guard_thr:
        _guard_observe(a, prev, next, aux, h, hit)


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
    _sk_increment(a, h)
    if g == SEG_PROBATION:
        _seg_move(a, prev, next, aux, s, SEG_PROTECTED)
        _fix_protected(a, prev, next, aux)
    elif s != a.tail[g]:
        _seg_move(a, prev, next, aux, s, g)
    _ad_observe(a, prev, next, aux, h, True)


cdef inline void adaptive_miss(Adaptive* a, int32_t* prev, int32_t* next, int32_t* aux,
                               uint64_t h) noexcept nogil:
    _sk_increment(a, h)
    a.has_last_miss = True
    a.last_miss = h
    _ad_observe(a, prev, next, aux, h, False)


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
    """Assert the segment links and sizes, the adaptation bounds, the sketch and the guard."""
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
    assert 0 <= a.additions < a.sample_size, "adaptive: sketch additions"
    assert a.gcount <= a.guard_cap, "adaptive: guard over its size"
    count = 0
    node = a.ghead
    p = NIL
    while node != NIL:
        assert a.gprev[node] == p, "adaptive: guard back link"
        pos = <uint64_t>a.gpos[node]
        assert a.gtable[pos].node == node, "adaptive: guard position"
        assert _guard_find(a, a.gtable[pos].key) == pos, "adaptive: guard fingerprint lost"
        p = node
        node = a.gnext[node]
        count += 1
        assert count <= a.gcount, "adaptive: guard cycle"
    assert count == a.gcount and a.gtail == p, "adaptive: guard list"
    count = 0
    for i in range(a.gmask + 1):
        if a.gtable[i].node != NIL:
            count += 1
    assert count == a.gcount, "adaptive: guard table count"
    assert 0 <= a.g_n < a.guard_period, "adaptive: guard period"
    assert a.hits + a.misses < a.climb_period, "adaptive: climber period"
    return 0
