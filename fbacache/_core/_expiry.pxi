# The expiry queue of the index (included by _index_c.pyx, after _heaps.pxi).
#
# Entries expire in (deadline, order of setting) order: ties go first-set first,
# as in the twin's heap of (deadline, stamp).  Deadlines usually arrive sorted —
# a TTLCache, or a manager with one TTL, sets ``now + ttl`` on a monotonic clock —
# and while they do the queue is a doubly linked list in set order: O(1) to add,
# to move a re-set entry to the end, to unlink and to find the first, with no
# per-entry stamp.  The first deadline set earlier than the list's last one turns
# the list into an indexed heap of (deadline, stamp) once, in O(n) (a sorted array
# is already a heap), and the queue stays a heap until the index is reset.
#
# ``deadline[s]`` is +inf for a slot without one, so the hot expiry test of a
# lookup reads one double and the clock only when the entry can expire.
#
# Costs: list mode O(1) for every operation; heap mode O(log n) per set/remove.
# Memory per slot: 16 bytes in list mode (deadline, two links), 24 in heap mode
# (deadline, stamp, position; plus 4 per queued entry).

cdef extern from "<math.h>" nogil:
    const double INFINITY

cdef enum:
    ABSENT = -2  # eprev of a slot that is not queued (the head's eprev is NIL)


cdef struct Expiry:
    double* deadline   # per slot; +inf when not queued
    int32_t cap        # slots the per-slot arrays cover
    bint heap_mode
    # list mode
    int32_t* eprev
    int32_t* enext
    int32_t head
    int32_t tail
    int32_t count
    # heap mode
    Heap heap
    uint64_t* stamp
    uint64_t stamps


cdef void expiry_init(Expiry* e) noexcept:
    e.deadline = NULL
    e.cap = 0
    e.heap_mode = False
    e.eprev = e.enext = NULL
    e.head = e.tail = NIL
    e.count = 0
    heap_init(&e.heap)
    e.stamp = NULL
    e.stamps = 0


cdef void expiry_free(Expiry* e) noexcept:
    free(e.deadline)
    free(e.eprev)
    free(e.enext)
    free(e.stamp)
    heap_free(&e.heap)
    expiry_init(e)


cdef inline bint expiry_enabled(Expiry* e) noexcept:
    return e.deadline != NULL


cdef int _expiry_cover(Expiry* e, int32_t old, int32_t cap) except -1:
    """Grow the per-slot arrays from ``old`` to ``cap`` slots, new slots not queued."""
    cdef int32_t i
    e.deadline = <double*>_grow(e.deadline, cap, sizeof(double))
    if e.heap_mode:
        heap_reserve_pos(&e.heap, cap)
        e.stamp = <uint64_t*>_grow(e.stamp, cap, sizeof(uint64_t))
        for i in range(old, cap):
            e.heap.pos[i] = NIL
    else:
        e.eprev = <int32_t*>_grow(e.eprev, cap, sizeof(int32_t))
        e.enext = <int32_t*>_grow(e.enext, cap, sizeof(int32_t))
        for i in range(old, cap):
            e.eprev[i] = ABSENT
    for i in range(old, cap):
        e.deadline[i] = INFINITY
    e.cap = cap
    return 0


cdef int expiry_enable(Expiry* e, int32_t cap) except -1:
    """Allocate the queue for ``cap`` slots (no-op once enabled)."""
    if e.deadline == NULL:
        _expiry_cover(e, 0, cap)
    return 0


cdef int expiry_reserve(Expiry* e, int32_t cap) except -1:
    """Cover ``cap`` slots if the queue is enabled."""
    if e.deadline != NULL and cap > e.cap:
        _expiry_cover(e, e.cap, cap)
    return 0


cdef inline bint expiry_has(Expiry* e, int32_t s) noexcept:
    """True if slot ``s`` has a deadline (the queue must be enabled)."""
    if e.heap_mode:
        return e.heap.pos[s] != NIL
    return e.eprev[s] != ABSENT


cdef inline int32_t expiry_count(Expiry* e) noexcept:
    return e.heap.count if e.heap_mode else e.count


cdef inline int32_t expiry_first(Expiry* e) noexcept:
    """The slot that expires first, NIL when none is queued."""
    if e.heap_mode:
        return e.heap.items[0] if e.heap.count else NIL
    return e.head


cdef inline void _elist_unlink(Expiry* e, int32_t s) noexcept:
    cdef int32_t p = e.eprev[s], q = e.enext[s]
    if p != NIL:
        e.enext[p] = q
    else:
        e.head = q
    if q != NIL:
        e.eprev[q] = p
    else:
        e.tail = p
    e.eprev[s] = ABSENT
    e.count -= 1


cdef inline void _elist_append(Expiry* e, int32_t s) noexcept:
    e.eprev[s] = e.tail
    e.enext[s] = NIL
    if e.tail != NIL:
        e.enext[e.tail] = s
    else:
        e.head = s
    e.tail = s
    e.count += 1


cdef int _expiry_to_heap(Expiry* e) except -1:
    """Turn the sorted list into the heap: its order becomes the stamps 1..count."""
    cdef int32_t i, s
    e.heap.pos = <int32_t*>_grow(NULL, e.cap, sizeof(int32_t))
    e.heap.pos_cap = e.cap
    e.heap.cap = e.count if e.count > 16 else 16
    e.heap.items = <int32_t*>_grow(NULL, e.heap.cap, sizeof(int32_t))
    e.stamp = <uint64_t*>_grow(NULL, e.cap, sizeof(uint64_t))
    for i in range(e.cap):
        e.heap.pos[i] = NIL
    i = 0
    s = e.head
    while s != NIL:  # ascending (deadline, set order) is a valid min-heap as it stands
        e.heap.items[i] = s
        e.heap.pos[s] = i
        i += 1
        e.stamp[s] = <uint64_t>i
        s = e.enext[s]
    e.heap.count = i
    e.stamps = <uint64_t>i
    free(e.eprev)
    free(e.enext)
    e.eprev = e.enext = NULL
    e.head = e.tail = NIL
    e.count = 0
    e.heap_mode = True
    return 0


cdef int expiry_set(Expiry* e, int32_t s, double d) except -1:
    """Queue slot ``s`` with deadline ``d`` (re-queue it at the end of its ties if queued)."""
    if not e.heap_mode:
        if e.eprev[s] != ABSENT:
            _elist_unlink(e, s)
        if e.tail == NIL or not (d < e.deadline[e.tail]):
            e.deadline[s] = d
            _elist_append(e, s)
            return 0
        _expiry_to_heap(e)  # out of order: from now on a heap
    e.deadline[s] = d
    e.stamps += 1
    e.stamp[s] = e.stamps
    if e.heap.pos[s] != NIL:
        heap_fix(&e.heap, s, e.deadline, e.stamp)
    else:
        heap_push(&e.heap, s, e.deadline, e.stamp)
    return 0


cdef void expiry_remove(Expiry* e, int32_t s) noexcept:
    """Unqueue slot ``s`` (it must be queued)."""
    if e.heap_mode:
        heap_remove(&e.heap, s, e.deadline, e.stamp)
    else:
        _elist_unlink(e, s)
    e.deadline[s] = INFINITY


cdef int expiry_check(Expiry* e, set resident) except -1:
    """Assert the queue's links/heap order and that exactly the queued slots have deadlines."""
    cdef int32_t s, prev = NIL, n = 0
    cdef Py_ssize_t queued = 0
    if e.heap_mode:
        heap_check(&e.heap, e.deadline, e.stamp)
        n = e.heap.count
    else:
        s = e.head
        while s != NIL:
            assert e.eprev[s] == prev, "broken expiry back link"
            assert prev == NIL or not (e.deadline[s] < e.deadline[prev]), "expiry list out of order"
            prev = s
            s = e.enext[s]
            n += 1
            assert n <= e.cap, "expiry list cycle"
        assert e.tail == prev, "expiry tail"
        assert n == e.count, "expiry count"
    for s in range(e.cap):
        if expiry_has(e, s):
            assert s in resident, "a free slot is queued for expiry"
            queued += 1
        else:
            assert e.deadline[s] == INFINITY, "an unqueued slot has a deadline"
    assert queued == n, "queued slots"
    return 0
