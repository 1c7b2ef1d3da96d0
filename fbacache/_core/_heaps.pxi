# An indexed binary min-heap of slot numbers (included by _index_c.pyx).
#
# Used twice: the expiry heap (ordered by deadline) and the PROBABILITY
# policy (ordered by probability, then by the stamp of its assignment).
# ``pos[slot]`` is the slot's position in ``items`` (-1 when absent), so
# removing or re-ranking an arbitrary entry costs O(log n).

cdef struct Heap:
    int32_t* items
    int32_t* pos
    int32_t count
    int32_t cap
    int32_t pos_cap


cdef void heap_init(Heap* h) noexcept:
    h.items = NULL
    h.pos = NULL
    h.count = 0
    h.cap = 0
    h.pos_cap = 0


cdef void heap_free(Heap* h) noexcept:
    free(h.items)
    free(h.pos)
    heap_init(h)


cdef int heap_reserve_pos(Heap* h, int32_t cap) except -1:
    if cap > h.pos_cap:
        h.pos = <int32_t*>_grow(h.pos, cap, sizeof(int32_t))
        h.pos_cap = cap
    return 0


cdef inline bint _less(int32_t a, int32_t b, double* key, uint64_t* tie) noexcept:
    if key[a] != key[b]:
        return key[a] < key[b]
    if tie != NULL:
        return tie[a] < tie[b]
    return a < b


cdef inline void _place(Heap* h, int32_t i, int32_t s) noexcept:
    h.items[i] = s
    h.pos[s] = i


cdef void _sift_up(Heap* h, int32_t i, double* key, uint64_t* tie) noexcept:
    cdef int32_t s = h.items[i], parent
    while i > 0:
        parent = (i - 1) >> 1
        if not _less(s, h.items[parent], key, tie):
            break
        _place(h, i, h.items[parent])
        i = parent
    _place(h, i, s)


cdef void _sift_down(Heap* h, int32_t i, double* key, uint64_t* tie) noexcept:
    cdef int32_t s = h.items[i], child
    while True:
        child = 2 * i + 1
        if child >= h.count:
            break
        if child + 1 < h.count and _less(h.items[child + 1], h.items[child], key, tie):
            child += 1
        if not _less(h.items[child], s, key, tie):
            break
        _place(h, i, h.items[child])
        i = child
    _place(h, i, s)


cdef int heap_push(Heap* h, int32_t s, double* key, uint64_t* tie) except -1:
    if h.count == h.cap:
        h.cap = 16 if h.cap == 0 else h.cap * 2
        h.items = <int32_t*>_grow(h.items, h.cap, sizeof(int32_t))
    _place(h, h.count, s)
    h.count += 1
    _sift_up(h, h.count - 1, key, tie)
    return 0


cdef void heap_remove(Heap* h, int32_t s, double* key, uint64_t* tie) noexcept:
    cdef int32_t i = h.pos[s]
    cdef int32_t last
    h.count -= 1
    h.pos[s] = -1
    if i == h.count:
        return
    last = h.items[h.count]
    _place(h, i, last)
    _sift_up(h, i, key, tie)
    _sift_down(h, h.pos[last], key, tie)


cdef void heap_fix(Heap* h, int32_t s, double* key, uint64_t* tie) noexcept:
    _sift_up(h, h.pos[s], key, tie)
    _sift_down(h, h.pos[s], key, tie)


cdef int heap_check(Heap* h, double* key, uint64_t* tie) except -1:
    cdef int32_t i
    for i in range(h.count):
        assert h.pos[h.items[i]] == i, "heap position"
        if i > 0:
            assert not _less(h.items[i], h.items[(i - 1) >> 1], key, tie), "heap order"
    return 0
