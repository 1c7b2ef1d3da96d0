# Frequency buckets of the LFU policy (included by _index_c.pyx).
#
# Buckets form a list in ascending frequency; each bucket holds its entries in
# a doubly linked list (the index's prev/next arrays), least recently used
# first, so ties at the lowest frequency go to the least recently used key.
# Every operation is O(1): an access moves an entry to the bucket of the next
# frequency, creating it right after the current one when missing.

cdef struct Buckets:
    int64_t* freq
    int32_t* head
    int32_t* tail
    int32_t* bprev
    int32_t* bnext
    int32_t first
    int32_t free
    int32_t cap
    int32_t hiwater


cdef void buckets_init(Buckets* b) noexcept:
    b.freq = NULL
    b.head = b.tail = b.bprev = b.bnext = NULL
    b.first = -1
    b.free = -1
    b.cap = 0
    b.hiwater = 0


cdef void buckets_free(Buckets* b) noexcept:
    free(b.freq); free(b.head); free(b.tail); free(b.bprev); free(b.bnext)
    buckets_init(b)


cdef int buckets_reserve(Buckets* b, int32_t cap) except -1:
    if cap <= b.cap:
        return 0
    b.freq = <int64_t*>_grow(b.freq, cap, sizeof(int64_t))
    b.head = <int32_t*>_grow(b.head, cap, sizeof(int32_t))
    b.tail = <int32_t*>_grow(b.tail, cap, sizeof(int32_t))
    b.bprev = <int32_t*>_grow(b.bprev, cap, sizeof(int32_t))
    b.bnext = <int32_t*>_grow(b.bnext, cap, sizeof(int32_t))
    b.cap = cap
    return 0


cdef inline int32_t _bucket_new(Buckets* b, int64_t freq, int32_t after) noexcept:
    """A new empty bucket linked after ``after`` (-1: at the front)."""
    cdef int32_t k
    if b.free != -1:
        k = b.free
        b.free = b.bnext[k]
    else:
        k = b.hiwater  # buckets <= entries <= slot capacity, reserved by the index
        b.hiwater += 1
    b.freq[k] = freq
    b.head[k] = b.tail[k] = -1
    b.bprev[k] = after
    if after == -1:
        b.bnext[k] = b.first
        b.first = k
    else:
        b.bnext[k] = b.bnext[after]
        b.bnext[after] = k
    if b.bnext[k] != -1:
        b.bprev[b.bnext[k]] = k
    return k


cdef inline void _bucket_drop(Buckets* b, int32_t k) noexcept:
    cdef int32_t p = b.bprev[k], q = b.bnext[k]
    if p != -1:
        b.bnext[p] = q
    else:
        b.first = q
    if q != -1:
        b.bprev[q] = p
    b.bnext[k] = b.free
    b.free = k


cdef inline void _bucket_append(Buckets* b, int32_t* prev, int32_t* next, int32_t* aux,
                                int32_t k, int32_t s) noexcept:
    prev[s] = b.tail[k]
    next[s] = -1
    if b.tail[k] != -1:
        next[b.tail[k]] = s
    else:
        b.head[k] = s
    b.tail[k] = s
    aux[s] = k


cdef inline void _bucket_unlink(Buckets* b, int32_t* prev, int32_t* next, int32_t k, int32_t s) noexcept:
    cdef int32_t p = prev[s], q = next[s]
    if p != -1:
        next[p] = q
    else:
        b.head[k] = q
    if q != -1:
        prev[q] = p
    else:
        b.tail[k] = p


cdef void lfu_insert(Buckets* b, int32_t* prev, int32_t* next, int32_t* aux, int32_t s) noexcept:
    cdef int32_t k = b.first
    if k == -1 or b.freq[k] != 1:
        k = _bucket_new(b, 1, -1)
    _bucket_append(b, prev, next, aux, k, s)


cdef inline void lfu_access(Buckets* b, int32_t* prev, int32_t* next, int32_t* aux, int32_t s) noexcept:
    cdef int32_t k = aux[s]
    cdef int64_t f = b.freq[k]
    cdef int32_t nk = b.bnext[k]
    if b.head[k] == s and b.tail[k] == s and (nk == -1 or b.freq[nk] != f + 1):
        b.freq[k] = f + 1  # sole member and no f+1 bucket: bump in place
        return
    if nk == -1 or b.freq[nk] != f + 1:
        nk = _bucket_new(b, f + 1, k)
    _bucket_unlink(b, prev, next, k, s)
    if b.head[k] == -1:
        _bucket_drop(b, k)
    _bucket_append(b, prev, next, aux, nk, s)


cdef void lfu_remove(Buckets* b, int32_t* prev, int32_t* next, int32_t* aux, int32_t s) noexcept:
    cdef int32_t k = aux[s]
    _bucket_unlink(b, prev, next, k, s)
    if b.head[k] == -1:
        _bucket_drop(b, k)


cdef int buckets_check(Buckets* b, int32_t* prev, int32_t* next, int32_t* aux, int32_t n) except -1:
    cdef int32_t k = b.first, s, p, count = 0
    cdef int64_t last = 0
    while k != -1:
        assert b.freq[k] > last, "LFU buckets out of order"
        last = b.freq[k]
        assert b.head[k] != -1, "empty LFU bucket kept"
        if b.bnext[k] != -1:
            assert b.bprev[b.bnext[k]] == k, "LFU bucket back link"
        s = b.head[k]
        p = -1
        while s != -1:
            assert aux[s] == k, "entry in the wrong LFU bucket"
            assert prev[s] == p, "LFU entry back link"
            p = s
            s = next[s]
            count += 1
            assert count <= n, "LFU cycle"
        assert b.tail[k] == p, "LFU bucket tail"
        k = b.bnext[k]
    assert count == n, "LFU entry count"
    return 0
