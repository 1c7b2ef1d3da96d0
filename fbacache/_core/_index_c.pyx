# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The compiled index: a compact open-addressing hash table with eviction policies.

Layout (per resident entry, about 40 bytes plus the hash table):

* ``_kv``: one Python list holding slot ``s``'s key at ``2*s`` and its value at
  ``2*s + 1`` (side by side: a hit reads one cache line for both).  Keeping the
  object references in a list (not a raw C array) lets the cyclic garbage
  collector see them, so a cached value that refers back to its cache is
  still collectable.
* C arrays indexed by slot: the key's hash, ``prev``/``next`` links (policy
  order, and the free list), ``aux`` (LFU bucket or adaptive
  segment; not allocated for the other policies), and, allocated only when
  first needed, weights, the expiry queue (``_expiry.pxi``) and probabilities.
  RANDOM keeps its dense-array position in ``prev`` and its table position in
  ``next`` (an eviction unlinks from the table with a store, no probe).
* ``table``: an int32 open-addressing index (CPython's perturbed probing) of
  slot numbers; -1 empty, -2 deleted.  The bits above the slot number (slots
  are below ``cap``, a power of two) hold a tag from the key's hash, so a probe
  that meets another key is rejected without reading ``hashes``, and a hit of
  an exact str/int key never reads it; the table is re-encoded when ``cap``
  doubles.

Re-entrancy: a key's ``__eq__`` may run Python code that mutates this index;
every lookup records ``_version`` before comparing and restarts if it moved.
Objects leaving the index are released only after the structure is
consistent again (their ``__del__`` may run arbitrary code).

The pure-Python twin in ``_index_py.py`` is the reference: same names, same
victims, same behaviour.
"""
cimport cython
from cpython.object cimport PyObject, PyObject_Hash, PyObject_RichCompareBool, Py_EQ
from cpython.ref cimport Py_INCREF, Py_DECREF
from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memset
from libc.math cimport isnan, NAN

import time as _time

cdef extern from "<time.h>" nogil:
    ctypedef int clockid_t
    cdef struct timespec:
        long tv_sec
        long tv_nsec
    int clock_gettime(clockid_t clk, timespec* tp)
    clockid_t CLOCK_MONOTONIC

cdef extern from *:
    """
    /* The coarse clock (CLOCK_MONOTONIC_COARSE, Linux): the monotonic clock as of the
       kernel's last tick, so never ahead of CLOCK_MONOTONIC and normally behind it by
       less than one tick (clock_getres: 1-10 ms).  Reading it costs a few ns where
       CLOCK_MONOTONIC costs tens (a TSC read and its scaling; ~12 vs ~49 ns on the
       project's VM).  A read uses it only to learn that a deadline is still far away
       (see Index._expired); anything closer is decided by CLOCK_MONOTONIC.  Where the
       clock does not exist, or ticks coarser than FBA_COARSE_MAX_RES, it is not used. */
    #include <time.h>
    #define FBA_COARSE_MAX_RES 0.02
    static double fba_coarse_margin = -1.0;  /* < 0: no usable coarse clock */

    static void fba_coarse_init(void) {
    #ifdef CLOCK_MONOTONIC_COARSE
        struct timespec res, now;
        double r;
        if (clock_getres(CLOCK_MONOTONIC_COARSE, &res) != 0
                || clock_gettime(CLOCK_MONOTONIC_COARSE, &now) != 0)
            return;
        r = res.tv_sec + res.tv_nsec * 1e-9;
        if (r <= 0.0 || r > FBA_COARSE_MAX_RES)
            return;
        /* far more than the lag of a ticking kernel (under one tick) */
        fba_coarse_margin = 0.05 + 16.0 * r;
    #endif
    }

    /* True if the monotonic clock has certainly not reached ``deadline - margin``
       (so an entry with this deadline is live); false means "read the precise clock". */
    static inline int fba_coarse_before(double deadline) {
    #ifdef CLOCK_MONOTONIC_COARSE
        struct timespec ts;
        if (fba_coarse_margin >= 0.0 && clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) == 0)
            return ts.tv_sec + ts.tv_nsec * 1e-9 < deadline - fba_coarse_margin;
    #endif
        return 0;
    }
    """
    void fba_coarse_init()
    double fba_coarse_margin
    bint fba_coarse_before(double deadline) noexcept nogil

fba_coarse_init()

# the one policy list; a policy's number is its position in it
from fbacache._util import MISSING as _PY_MISSING
from fbacache._util import POLICIES

cdef enum:
    P_LRU = 0
    P_LFU = 1
    P_FIFO = 2
    P_RANDOM = 3
    P_PROB = 4
    P_ADAPTIVE = 5

cdef enum:
    EMPTY = -1
    DUMMY = -2
    NIL = -1

cdef extern from "Python.h":
    # raw forms: move a reference out of a list slot without touching its count
    PyObject* _list_get "PyList_GET_ITEM"(PyObject* lst, Py_ssize_t i)
    void _list_put "PyList_SET_ITEM"(PyObject* lst, Py_ssize_t i, PyObject* item)

cdef extern from *:
    """
    /* Keys whose equality cannot run Python code: exact str and exact int.  Two such
       keys with equal hashes are compared here on borrowed pointers (no reference
       counting, no re-entrancy check); 1 for equal, 0 for not, -1 for "not such keys". */
    static inline int fbacache_plain_eq(PyObject* a, PyObject* b) {
        PyTypeObject* t = Py_TYPE(a);
        if (t != Py_TYPE(b)) return -1;
        if (t == &PyUnicode_Type) {
            Py_ssize_t n = PyUnicode_GET_LENGTH(a);
            if (((PyASCIIObject*)a)->hash != ((PyASCIIObject*)b)->hash) return 0;  /* both cached */
            int kind = PyUnicode_KIND(a);
            return n == PyUnicode_GET_LENGTH(b) && kind == PyUnicode_KIND(b)
                   && memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b), (size_t)n * kind) == 0;
        }
        if (t == &PyLong_Type) return PyObject_RichCompareBool(a, b, Py_EQ);
        return -1;
    }
    """
    int _plain_eq "fbacache_plain_eq"(PyObject* a, PyObject* b) noexcept

cdef extern from *:
    """
    /* hash(key) without a call through tp_hash for the common keys: an exact str whose
       hash is cached, and an exact int small enough to read directly.  The result is
       exactly Python's hash (ints: value mod 2**61 - 1 with the sign, -1 -> -2), so keys
       that compare equal across types (1, 1.0, Decimal(1)) still meet. */
    #if PY_VERSION_HEX < 0x030B0000
    #include "longintrepr.h"  /* digits of an int: in Python.h itself from 3.11 on */
    #endif
    #if defined(__GNUC__) || defined(__clang__)
    #define FBACACHE_HOT static inline __attribute__((always_inline))
    #else
    #define FBACACHE_HOT static __inline  /* MSVC and others: a hint only */
    #endif
    FBACACHE_HOT Py_hash_t fbacache_hash(PyObject* key) {
        PyTypeObject* t = Py_TYPE(key);
        if (t == &PyUnicode_Type) {
            Py_hash_t h = ((PyASCIIObject*)key)->hash;
            if (h != -1) return h;
        }
    #if PY_VERSION_HEX < 0x030C0000 && PyLong_SHIFT == 30
        else if (t == &PyLong_Type) {
            /* ob_size: the digit count, negative for a negative value; base 2**30 digits */
            Py_ssize_t size = Py_SIZE(key);
            Py_ssize_t n = size < 0 ? -size : size;
            if (n <= 3) {
                const digit* d = ((PyLongObject*)key)->ob_digit;
                const uint64_t modulus = ((uint64_t)1 << 61) - 1;
                uint64_t low = 0, high = 0;  /* value = high * 2**60 + low, low < 2**60 */
                uint64_t x;
                if (n >= 1) low = d[0];
                if (n >= 2) low |= (uint64_t)d[1] << 30;
                if (n == 3) high = d[2];
                /* 2**60 = 2**-1 mod m (2**61 = 1): high * 2**60 = (high odd ? high + m : high) / 2 */
                x = low + ((high & 1) ? (high + modulus) >> 1 : high >> 1);
                while (x >= modulus) x -= modulus;
                if (size < 0) x = (uint64_t)0 - x;
                return x == (uint64_t)-1 ? -2 : (Py_hash_t)x;
            }
        }
    #elif PY_VERSION_HEX >= 0x030C0000
        else if (t == &PyLong_Type && PyUnstable_Long_IsCompact((PyLongObject*)key)) {
            Py_ssize_t v = PyUnstable_Long_CompactValue((PyLongObject*)key);  /* |v| < 2**30 */
            return v == -1 ? -2 : (Py_hash_t)v;
        }
    #endif
        return PyObject_Hash(key);
    }
    """
    Py_hash_t _hash "fbacache_hash"(object key) except? -1

cdef extern from *:
    """
    /* The table probe for keys that never need __eq__: returns the slot of ``key`` when
       a tagged entry holds the same object or an equal exact str/int, -1 when an empty
       entry ends the probe (absent), and -2 when a tag match needs Python's __eq__ (the
       caller then runs the full, re-entrancy-safe Index._find).  For a write, ``ins``
       receives the first free (empty or deleted) position of the probe, where an insert
       of the key goes; reads pass NULL and the tracking compiles away.
       Same probe sequence and entry encoding as Index._find. */
    FBACACHE_HOT Py_ssize_t fbacache_probe(
            const int32_t* table, size_t mask, int32_t slot_mask, int32_t tag_mask,
            PyObject* kv, PyObject* key, Py_hash_t h, int32_t tag, Py_ssize_t* ins) {
        size_t perturb = (size_t)h;
        size_t i = perturb & mask;
        Py_ssize_t free_at = -1;
        for (;;) {
            int32_t e = table[i];
            if (e < 0) {
                if (ins != NULL && free_at < 0) free_at = (Py_ssize_t)i;
                if (e == -1) {
                    if (ins != NULL) *ins = free_at;
                    return -1;
                }
            } else if ((e & tag_mask) == tag) {
                int32_t s = e & slot_mask;
                PyObject* stored = PyList_GET_ITEM(kv, 2 * (Py_ssize_t)s);
                if (stored == key) return s;
                int eq = fbacache_plain_eq(stored, key);
                if (eq == 1) return s;
                if (eq != 0) return -2;
            }
            perturb >>= 5;
            i = (i * 5 + perturb + 1) & mask;
        }
    }
    """
    Py_ssize_t _probe "fbacache_probe"(int32_t* table, size_t mask, int32_t slot_mask, int32_t tag_mask,
                                       object kv, object key, Py_hash_t h, int32_t tag,
                                       Py_ssize_t* ins) noexcept

cdef object _MISSING = _PY_MISSING  # a C-level global: no module dict lookup on the hot path
cdef uint64_t GOLDEN = 0x9E3779B97F4A7C15ULL


cdef inline uint64_t _splitmix(uint64_t* state) noexcept:
    state[0] += GOLDEN
    cdef uint64_t z = state[0]
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef inline int32_t _below(uint64_t* state, int32_t n) noexcept:
    return <int32_t>(((_splitmix(state) >> 32) * <uint64_t>n) >> 32)


cdef void* _grow(void* ptr, Py_ssize_t count, size_t size) except NULL:
    cdef void* out = realloc(ptr, count * size if count > 0 else size)
    if out == NULL:
        raise MemoryError()
    return out


include "_lfu.pxi"
include "_heaps.pxi"
include "_expiry.pxi"
include "_adaptive.pxi"


cdef class Index:
    """A bounded key -> value index with a pluggable eviction policy and expiry.

    See docs/core-api.md in the sdist for every operation and its cost.

    >>> idx = Index("lru", max_entries=2)
    >>> idx.set("a", 1); idx.set("b", 2); _ = idx.get("a"); idx.set("c", 3)
    >>> sorted(idx.keys())
    ['a', 'c']
    """

    cdef list _kv  # key of slot s at 2*s, its value at 2*s + 1
    cdef object __weakref__
    cdef Py_hash_t* hashes
    cdef int32_t* prev
    cdef int32_t* next
    cdef int32_t* aux
    cdef int64_t* weights
    cdef Expiry exp  # deadlines and their order (_expiry.pxi)
    cdef bint has_item_ttl
    cdef double item_ttl_
    cdef int32_t* table
    cdef int32_t slot_mask  # cap - 1: the slot-number bits of a table entry
    cdef int32_t tag_mask   # the bits above them (below the sign): the hash tag
    cdef uint64_t table_epoch  # bumped by every rebuild: stale insert hints are dropped
    cdef Py_ssize_t mask
    cdef Py_ssize_t fill
    cdef int32_t cap
    cdef int32_t n
    cdef int32_t hiwater
    cdef int32_t free_head
    cdef int32_t head
    cdef int32_t tail
    cdef int pol
    cdef int64_t max_entries_
    cdef Py_ssize_t ins_pos
    cdef PyObject** grave
    cdef Py_ssize_t grave_n
    cdef Py_ssize_t grave_cap
    cdef int64_t max_weight_
    cdef int64_t total_weight
    cdef uint64_t _version
    cdef uint64_t rng
    cdef Buckets lfu
    cdef Adaptive ad
    cdef Py_hash_t probe_hash
    cdef Heap prob_heap
    cdef double* prob
    cdef uint64_t* pstamp
    cdef uint64_t stamp
    cdef double default_probability
    cdef int32_t* dense
    cdef object _timer
    cdef bint fast_clock
    cdef readonly str policy
    cdef public object on_evict
    cdef public object _sizeof
    cdef readonly unsigned long long hits
    cdef readonly unsigned long long misses
    cdef readonly unsigned long long evictions
    cdef readonly unsigned long long expirations

    def __cinit__(self, *args, **kwargs):
        # tp_alloc zero-fills the object: every array pointer starts NULL and every
        # count 0; only the structures whose "empty" is not all-zero need a start.
        buckets_init(&self.lfu)
        adaptive_init(&self.ad)
        expiry_init(&self.exp)
        heap_init(&self.prob_heap)

    def __init__(self, policy="lru", max_entries=None, max_weight=None, timer=_time.monotonic,
                 seed=None, default_probability=0.5):
        if policy not in POLICIES:
            raise ValueError(f"unknown eviction policy {policy!r}; expected one of {POLICIES}")
        if max_entries is not None and max_entries < 0:
            raise ValueError("max_entries must be non-negative")
        if max_weight is not None and max_weight < 0:
            raise ValueError("max_weight must be non-negative")
        self.policy = policy
        self.pol = POLICIES.index(policy)
        self.max_entries_ = -1 if max_entries is None else min(<object>max_entries, 2**31 - 2)
        self.max_weight_ = -1 if max_weight is None else min(<object>max_weight, 2**62)
        self._set_timer(timer)
        self.default_probability = float(default_probability)
        if policy == "adaptive":
            # the twin's AdaptivePolicy: capacity in entries, else weight units; seed 0x5EED
            capacity = max_entries if max_entries is not None else (max_weight or 0)
            adaptive_setup(&self.ad, min(capacity, 2**31 - 2),
                           <uint64_t>((0x5EED if seed is None else seed) & 0xFFFFFFFFFFFFFFFF))
        if seed is None:
            import random
            seed = random.getrandbits(64)
        self.rng = <uint64_t>(seed & 0xFFFFFFFFFFFFFFFF)
        self.on_evict = None
        self._sizeof = None
        self._reset_storage(8)

    def __dealloc__(self):
        self._release(0)
        free(self.grave)
        self._free_arrays()
        adaptive_free(&self.ad)

    # ------------------------------------------------------------------ graveyard
    # Keys and values leaving the index are parked here and released only once
    # the structure is consistent: their __del__ may run arbitrary code, even
    # code that uses this index.  Nested operations use it as a stack.
    @cython.final
    cdef inline int _bury(self, PyObject* obj) except -1:
        if self.grave_n == self.grave_cap:
            self.grave_cap = 16 if self.grave_cap == 0 else self.grave_cap * 2
            self.grave = <PyObject**>_grow(self.grave, self.grave_cap, sizeof(PyObject*))
        self.grave[self.grave_n] = obj
        self.grave_n += 1
        return 0

    @cython.final
    cdef inline void _release(self, Py_ssize_t base) noexcept:
        cdef PyObject* obj
        while self.grave_n > base:
            self.grave_n -= 1
            obj = self.grave[self.grave_n]
            Py_DECREF(<object>obj)

    @cython.final
    cdef list _buried_pairs(self, Py_ssize_t base, Py_ssize_t end):
        """The (key, value) pairs parked between ``base`` and ``end`` (new references)."""
        cdef Py_ssize_t i
        return [(<object>self.grave[i], <object>self.grave[i + 1]) for i in range(base, end - 1, 2)]

    @cython.final
    cdef void _free_arrays(self) noexcept:
        free(self.hashes); free(self.prev); free(self.next); free(self.aux)
        free(self.weights); free(self.table)
        free(self.prob); free(self.pstamp); free(self.dense)
        self.hashes = NULL
        self.prev = self.next = self.aux = NULL
        self.weights = NULL
        self.table = NULL
        self.prob = NULL
        self.pstamp = NULL
        self.dense = NULL
        buckets_free(&self.lfu)
        expiry_free(&self.exp)
        heap_free(&self.prob_heap)

    @cython.final
    cdef int _reset_storage(self, int32_t cap) except -1:
        self._free_arrays()
        self.cap = 0
        self.n = 0
        self.hiwater = 0
        self.free_head = NIL
        self.head = self.tail = NIL
        self.total_weight = 0
        self._kv = []
        self._version += 1
        self._grow_slots(cap)
        self._rebuild_table(8)
        return 0

    # ------------------------------------------------------------------ storage
    @cython.final
    cdef inline object _key(self, int32_t s):
        return <object>_list_get(<PyObject*>self._kv, 2 * s)

    @cython.final
    cdef inline object _value(self, int32_t s):
        return <object>_list_get(<PyObject*>self._kv, 2 * s + 1)

    @cython.final
    cdef int _grow_slots(self, int32_t cap) except -1:
        cdef int32_t old = self.cap
        self.hashes = <Py_hash_t*>_grow(self.hashes, cap, sizeof(Py_hash_t))
        self.prev = <int32_t*>_grow(self.prev, cap, sizeof(int32_t))
        self.next = <int32_t*>_grow(self.next, cap, sizeof(int32_t))
        if self.pol == P_LFU or self.pol == P_ADAPTIVE:
            self.aux = <int32_t*>_grow(self.aux, cap, sizeof(int32_t))  # 4 bytes the others save
        if self.weights != NULL:
            self.weights = <int64_t*>_grow(self.weights, cap, sizeof(int64_t))
        expiry_reserve(&self.exp, cap)
        if self.pol == P_LFU:
            buckets_reserve(&self.lfu, cap)
        elif self.pol == P_RANDOM:
            self.dense = <int32_t*>_grow(self.dense, cap, sizeof(int32_t))
        elif self.pol == P_PROB:
            self.prob = <double*>_grow(self.prob, cap, sizeof(double))
            self.pstamp = <uint64_t*>_grow(self.pstamp, cap, sizeof(uint64_t))
            heap_reserve_pos(&self.prob_heap, cap)
        self._kv.extend([None] * (2 * (cap - old)))
        self.cap = cap
        self.slot_mask = cap - 1
        self.tag_mask = 0x7FFFFFFF & ~self.slot_mask
        if self.table != NULL:
            self._rebuild_table(self.mask + 1)  # wider slot numbers: re-encode the tags
        return 0

    @cython.final
    cdef inline int32_t _tag(self, Py_hash_t h) noexcept:
        return <int32_t>((<uint64_t>h * GOLDEN) >> 33) & self.tag_mask

    @cython.final
    cdef int _enable_weights(self) except -1:
        cdef int32_t i
        if self.weights == NULL:
            self.weights = <int64_t*>_grow(NULL, self.cap, sizeof(int64_t))
            for i in range(self.cap):
                self.weights[i] = 1
        return 0

    @cython.final
    cdef inline int64_t _weight(self, int32_t s) noexcept:
        return 1 if self.weights == NULL else self.weights[s]

    @cython.final
    cdef int _rebuild_table(self, Py_ssize_t minsize) except -1:
        cdef Py_ssize_t size = 8
        cdef Py_ssize_t i, j
        cdef size_t perturb
        cdef int32_t s
        while size < minsize:
            size <<= 1
        free(self.table)
        self.table = NULL
        self.table = <int32_t*>_grow(NULL, size, sizeof(int32_t))
        memset(self.table, 0xFF, size * sizeof(int32_t))  # all EMPTY (-1)
        self.mask = size - 1
        self.fill = 0
        self.table_epoch += 1
        for s in range(self.hiwater):
            if self.prev[s] == DUMMY:  # free slot marker
                continue
            perturb = <size_t>self.hashes[s]
            i = <Py_ssize_t>(perturb & <size_t>self.mask)
            while self.table[i] != EMPTY:
                perturb >>= 5
                i = <Py_ssize_t>((<size_t>i * 5 + perturb + 1) & <size_t>self.mask)
            self.table[i] = self._tag(self.hashes[s]) | s
            if self.pol == P_RANDOM:
                self.next[s] = <int32_t>i
            self.fill += 1
        return 0

    @cython.final
    cdef Py_ssize_t _find(self, object key, Py_hash_t h) except -2:
        """Slot of ``key`` or -1.  Restarts if a key's __eq__ mutated the index."""
        cdef size_t perturb
        cdef Py_ssize_t i
        cdef int32_t s
        cdef uint64_t version
        cdef int eq
        cdef PyObject* sk
        cdef int32_t e, tag = self._tag(h)
        while True:
            perturb = <size_t>h
            i = <Py_ssize_t>(perturb & <size_t>self.mask)
            version = self._version
            self.ins_pos = -1
            while True:
                e = self.table[i]
                if e == EMPTY:
                    if self.ins_pos < 0:
                        self.ins_pos = i  # where an insert of this key will go
                    return -1
                if e == DUMMY and self.ins_pos < 0:
                    self.ins_pos = i
                if e >= 0 and (e & self.tag_mask) == tag:
                    s = e & self.slot_mask
                    sk = _list_get(<PyObject*>self._kv, 2 * s)
                    if sk == <PyObject*>key:
                        return s  # the same object: no reference counting, no __eq__
                    eq = _plain_eq(sk, <PyObject*>key)  # exact str/int: in place, no refcounts
                    if eq == 1:
                        return s
                    if eq == 0 or self.hashes[s] != h:  # __eq__ only on a full hash match
                        perturb >>= 5
                        i = <Py_ssize_t>((<size_t>i * 5 + perturb + 1) & <size_t>self.mask)
                        continue
                    stored = <object>sk  # owned: __eq__ may drop the list's reference
                    eq = PyObject_RichCompareBool(stored, key, Py_EQ)
                    if self._version != version:
                        break  # mutated by __eq__: start again
                    if eq:
                        return s
                perturb >>= 5
                i = <Py_ssize_t>((<size_t>i * 5 + perturb + 1) & <size_t>self.mask)

    @cython.final
    cdef void _table_remove(self, int32_t s) noexcept:
        if self.pol == P_RANDOM:  # next[s] holds its table position: a store, no probe
            self.table[self.next[s]] = DUMMY
            return
        cdef size_t perturb = <size_t>self.hashes[s]
        cdef Py_ssize_t i = <Py_ssize_t>(perturb & <size_t>self.mask)
        cdef int32_t entry = self._tag(self.hashes[s]) | s
        while self.table[i] != entry:
            perturb >>= 5
            i = <Py_ssize_t>((<size_t>i * 5 + perturb + 1) & <size_t>self.mask)
        self.table[i] = DUMMY

    @cython.final
    cdef int _table_insert(self, int32_t s, Py_ssize_t hint) except -1:
        """Link slot ``s``; ``hint`` is a free table position found by _find (or -1)."""
        cdef size_t perturb
        cdef Py_ssize_t i
        if (self.fill + 1) * 3 >= (self.mask + 1) * 2:
            # load <= 1/3 after a rebuild, so churn (deleted markers) rebuilds rarely; a
            # large table that is growing, not churning, takes load <= 1/2 instead: half
            # the table memory (4-8 bytes per entry), probes kept cheap by the tags
            if self.n < 65536 or (self.fill - self.n) * 4 >= self.n:
                self._rebuild_table((<Py_ssize_t>self.n + 1) * 3)
            else:
                self._rebuild_table((<Py_ssize_t>self.n + 1) * 2)
        elif hint >= 0 and self.table[hint] < 0:
            if self.table[hint] == EMPTY:
                self.fill += 1
            self.table[hint] = self._tag(self.hashes[s]) | s
            if self.pol == P_RANDOM:
                self.next[s] = <int32_t>hint
            return 0
        perturb = <size_t>self.hashes[s]
        i = <Py_ssize_t>(perturb & <size_t>self.mask)
        while self.table[i] >= 0:
            perturb >>= 5
            i = <Py_ssize_t>((<size_t>i * 5 + perturb + 1) & <size_t>self.mask)
        if self.table[i] == EMPTY:
            self.fill += 1
        self.table[i] = self._tag(self.hashes[s]) | s
        if self.pol == P_RANDOM:
            self.next[s] = <int32_t>i
        return 0

    @cython.final
    cdef int32_t _alloc_slot(self) except -1:
        cdef int32_t s
        if self.free_head != NIL:
            s = self.free_head
            self.free_head = self.next[s]
            return s
        if self.hiwater == self.cap:
            if self.cap >= 0x3FFFFFFF:
                raise MemoryError("index is full")
            self._grow_slots(self.cap * 2)
        s = self.hiwater
        self.hiwater += 1
        self.prev[s] = DUMMY  # free until the policy links it (see _rebuild_table)
        return s

    # ------------------------------------------------------------------ clock
    @property
    def timer(self):
        """The zero-argument clock deadlines are measured on (monotonic seconds)."""
        return self._timer

    @timer.setter
    def timer(self, value):
        self._set_timer(value)

    cdef int _set_timer(self, object value) except -1:
        # not through the property: a subclass may present another ``timer`` (the
        # cachetools classes show a freezable view of this clock)
        if not callable(value):
            raise TypeError("timer must be callable")
        self._timer = value
        self.fast_clock = value is _time.monotonic
        return 0

    @cython.final
    cdef double _now(self) except? -1.0:
        cdef timespec ts
        if self.fast_clock:
            clock_gettime(CLOCK_MONOTONIC, &ts)
            return ts.tv_sec + ts.tv_nsec * 1e-9
        return float(self._timer())

    @cython.final
    cdef inline bint _has_deadline(self, int32_t s) noexcept:
        return self.exp.deadline != NULL and expiry_has(&self.exp, s)

    # ------------------------------------------------------------------ policy
    @cython.final
    cdef inline void _list_unlink(self, int32_t s) noexcept:
        cdef int32_t p = self.prev[s], q = self.next[s]
        if p != NIL:
            self.next[p] = q
        else:
            self.head = q
        if q != NIL:
            self.prev[q] = p
        else:
            self.tail = p

    @cython.final
    cdef inline void _list_append(self, int32_t s) noexcept:
        self.prev[s] = self.tail
        self.next[s] = NIL
        if self.tail != NIL:
            self.next[self.tail] = s
        else:
            self.head = s
        self.tail = s

    @cython.final
    cdef int _policy_insert(self, int32_t s) except -1:
        if self.pol == P_LRU or self.pol == P_FIFO:
            self._list_append(s)
        elif self.pol == P_LFU:
            lfu_insert(&self.lfu, self.prev, self.next, self.aux, s)
        elif self.pol == P_RANDOM:
            self.prev[s] = self.n  # RANDOM: prev = position in dense, next = table position
            self.dense[self.n] = s
        elif self.pol == P_PROB:
            self.prev[s] = self.next[s] = NIL
            self.stamp += 1
            self.prob[s] = self.default_probability
            self.pstamp[s] = self.stamp
            heap_push(&self.prob_heap, s, self.prob, self.pstamp)
        elif self.pol == P_ADAPTIVE:
            adaptive_insert(&self.ad, self.prev, self.next, self.aux, s, _mix64(<uint64_t>self.hashes[s]))
        return 0

    @cython.final
    cdef inline void _policy_access(self, int32_t s) noexcept:
        """A hit on ``s``: LRU moves it in place, FIFO/RANDOM/PROBABILITY cost one test,
        LFU and adaptive call out to their structures."""
        if self.pol == P_LRU:
            if s != self.tail:
                self._list_unlink(s)
                self._list_append(s)
        elif self.pol == P_LFU or self.pol == P_ADAPTIVE:
            self._counted_access(s)

    @cython.final
    cdef void _counted_access(self, int32_t s) noexcept:
        if self.pol == P_LFU:
            lfu_access(&self.lfu, self.prev, self.next, self.aux, s)
        else:
            adaptive_access(&self.ad, self.prev, self.next, self.aux, s, _mix64(<uint64_t>self.hashes[s]))

    @cython.final
    cdef inline void _policy_miss(self) noexcept:
        """A lookup of an absent key (hash in ``probe_hash``): only the adaptive policy counts it."""
        if self.pol == P_ADAPTIVE:
            adaptive_miss(&self.ad, self.prev, self.next, self.aux, _mix64(<uint64_t>self.probe_hash))

    @cython.final
    cdef void _policy_remove(self, int32_t s) noexcept:
        cdef int32_t last
        if self.pol == P_LRU or self.pol == P_FIFO:
            self._list_unlink(s)
        elif self.pol == P_LFU:
            lfu_remove(&self.lfu, self.prev, self.next, self.aux, s)
        elif self.pol == P_RANDOM:
            # self.n has already been decremented: dense[self.n] is the last one
            last = self.dense[self.n]
            self.dense[self.prev[s]] = last
            self.prev[last] = self.prev[s]
        elif self.pol == P_PROB:
            heap_remove(&self.prob_heap, s, self.prob, self.pstamp)
        elif self.pol == P_ADAPTIVE:
            adaptive_remove(&self.ad, self.prev, self.next, self.aux, s)

    @cython.final
    cdef int32_t _policy_victim(self) noexcept:
        if self.pol == P_LRU or self.pol == P_FIFO:
            return self.head
        elif self.pol == P_LFU:
            return self.lfu.head[self.lfu.first]
        elif self.pol == P_RANDOM:
            return self.dense[_below(&self.rng, self.n)]
        elif self.pol == P_ADAPTIVE:
            return adaptive_victim(&self.ad, self.hashes, self.aux)
        else:
            return self.prob_heap.items[0]

    @cython.final
    cdef list _policy_order(self):
        """Residents, next victim first (a snapshot of slot numbers)."""
        cdef list out = []
        cdef int32_t s, b
        cdef Py_ssize_t i
        if self.pol == P_LRU or self.pol == P_FIFO:
            s = self.head
            while s != NIL:
                out.append(s)
                s = self.next[s]
        elif self.pol == P_LFU:
            b = self.lfu.first
            while b != NIL:
                s = self.lfu.head[b]
                while s != NIL:
                    out.append(s)
                    s = self.next[s]
                b = self.lfu.bnext[b]
        elif self.pol == P_RANDOM:
            for i in range(self.n):
                out.append(self.dense[i])
        elif self.pol == P_ADAPTIVE:
            out = adaptive_order(&self.ad, self.hashes, self.next, self.aux, self.n)
        else:
            out = [self.prob_heap.items[i] for i in range(self.prob_heap.count)]
            out.sort(key=lambda t: (self.prob[<int32_t>t], self.pstamp[<int32_t>t]))
        return out

    # ------------------------------------------------------------------ core ops
    @cython.final
    cdef int _unlink_slot(self, int32_t s) except -1:
        """Detach slot ``s`` from every structure; its key and value go to the graveyard."""
        self._bury(_list_get(<PyObject*>self._kv, 2 * s))
        Py_INCREF(None)
        _list_put(<PyObject*>self._kv, 2 * s, <PyObject*>None)
        self._bury(_list_get(<PyObject*>self._kv, 2 * s + 1))
        Py_INCREF(None)
        _list_put(<PyObject*>self._kv, 2 * s + 1, <PyObject*>None)
        self._table_remove(s)
        self.n -= 1
        self._policy_remove(s)
        self.total_weight -= self._weight(s)
        if self._has_deadline(s):
            expiry_remove(&self.exp, s)
        self.prev[s] = DUMMY  # marks the slot free for _rebuild_table
        self.next[s] = self.free_head
        self.free_head = s
        self._version += 1
        return 0

    @cython.final
    cdef inline bint _expired(self, int32_t s) except -1:
        cdef double d
        if self.exp.deadline == NULL:
            return False
        d = self.exp.deadline[s]  # +inf when s has no deadline: no clock read
        if d == INFINITY:
            return False
        if self.fast_clock and fba_coarse_before(d):
            return False  # far from its deadline by the coarse clock: no precise read
        return not (self._now() < d)

    @cython.final
    cdef inline bint _expired_at(self, int32_t s, double* now) except -1:
        """Like _expired, reading the clock into ``now`` only if it is still NaN."""
        cdef double d
        if self.exp.deadline == NULL:
            return False
        d = self.exp.deadline[s]
        if d == INFINITY:
            return False
        if isnan(now[0]):
            now[0] = self._now()
        return not (now[0] < d)

    @cython.final
    cdef inline Py_ssize_t _live(self, object key) except -2:
        """Slot of a resident, unexpired key, else -1 (an expired one is removed)."""
        cdef Py_hash_t h = _hash(key)
        cdef Py_ssize_t s = _probe(self.table, <size_t>self.mask, self.slot_mask, self.tag_mask,
                                   self._kv, key, h, self._tag(h), NULL)
        if s == -2:
            s = self._find(key, h)  # a key whose __eq__ is Python code: the careful path
        self.probe_hash = h
        if s >= 0 and self.exp.deadline != NULL and self._expired(<int32_t>s):
            self._drop_expired(<int32_t>s)
            return -1
        return s

    @cython.final
    cdef int _drop_expired(self, int32_t s) except -1:
        cdef Py_ssize_t base = self.grave_n
        self._unlink_slot(s)
        self.expirations += 1
        self._release(base)
        return 0

    cpdef object get(self, object key, object default=None):
        """Return the value of ``key`` (recording a hit) or ``default``."""
        cdef Py_ssize_t s = self._live(key)
        if s < 0:
            self.misses += 1
            self._policy_miss()
            return default
        self.hits += 1
        self._policy_access(<int32_t>s)
        return self._value(<int32_t>s)

    def peek(self, key, default=None):
        """Return the value of ``key`` without touching the policy or counters."""
        cdef Py_ssize_t s = self._live(key)
        return default if s < 0 else self._value(<int32_t>s)

    def contains(self, key):
        """True if ``key`` is resident and not expired."""
        return self._live(key) >= 0

    def __contains__(self, key):
        return self._live(key) >= 0

    def __len__(self):
        return self.n

    def expiry(self, key):
        """Return the deadline of a resident key (None: never); KeyError if absent."""
        cdef Py_ssize_t s = self._live(key)
        if s < 0:
            raise KeyError(key)
        return self.exp.deadline[s] if self._has_deadline(<int32_t>s) else None

    def weight(self, key):
        """Return the stored weight of a resident key; KeyError if absent."""
        cdef Py_ssize_t s = self._live(key)
        if s < 0:
            raise KeyError(key)
        return self._weight(<int32_t>s)

    @property
    def currsize(self):
        """Total weight of resident entries (the entry count when weights are 1)."""
        return self.total_weight

    @property
    def maxsize(self):
        """The weight capacity if set, else the entry capacity (None: unbounded)."""
        if self.max_weight_ >= 0:
            return self.max_weight_
        return None if self.max_entries_ < 0 else self.max_entries_

    @property
    def max_entries(self):
        """Capacity in entries (None: unbounded)."""
        return None if self.max_entries_ < 0 else self.max_entries_

    @property
    def max_weight(self):
        """Capacity in weight units (None: unbounded)."""
        return None if self.max_weight_ < 0 else self.max_weight_

    def reset_stats(self):
        """Zero the hit, miss, eviction and expiration counters."""
        self.hits = self.misses = self.evictions = self.expirations = 0

    @cython.final
    cdef inline bint _overflow(self, int64_t extra_weight, int extra_entries) noexcept:
        if self.max_entries_ >= 0 and self.n + extra_entries > self.max_entries_:
            return True
        return self.max_weight_ >= 0 and self.total_weight + extra_weight > self.max_weight_

    @cython.final
    cdef Py_ssize_t _make_room(self, int64_t extra_weight, int extra_entries, int32_t keep,
                               bint* lost, double* now) except -1:
        """Evict until an item fits, burying what leaves; return the graveyard mark
        from which the *evicted* pairs start (expired entries, swept first, are
        not evictions and come before it).  ``now``: the operation's clock reading,
        NaN until read."""
        cdef int32_t v
        cdef int64_t w
        if self.exp.deadline != NULL and expiry_count(&self.exp):
            if isnan(now[0]):
                now[0] = self._now()
            self._expire_into(now[0])
        cdef Py_ssize_t mark = self.grave_n
        while self.n and self._overflow(extra_weight, extra_entries):
            v = self._policy_victim()
            w = self._weight(v)
            self._unlink_slot(v)
            self.evictions += 1
            if v == keep and extra_entries == 0:
                lost[0] = True  # the key being replaced was the victim: insert it anew
                extra_weight += w
                extra_entries = 1
        return mark

    def set(self, key, value, weight=1, expires_at=None, now=None):
        """Insert or replace ``key``; evict victims until it fits.

        ``now``: the caller's clock reading for this operation (None: the index
        reads ``timer`` once, if it needs the time), so one operation sees one time.
        Raises ValueError (and changes nothing) if the item can never fit.
        """
        self._set(key, value, weight if type(weight) is int else int(weight), expires_at,
                  NAN if now is None else <double>float(now))

    @cython.final
    cdef int _set(self, object key, object value, int64_t w, object expires_at,
                  double now) except -1:
        """The one insert/replace path; ``now`` is the clock reading of this operation
        (NaN: read it on first need, at most once)."""
        cdef Py_hash_t h
        cdef Py_ssize_t s
        cdef bint lost = False
        cdef Py_ssize_t base = self.grave_n, mark = -1, mark_end = -1
        cdef double deadline = 0.0
        if w < 0:
            raise ValueError("weight must be non-negative")
        if self.max_entries_ == 0 or (self.max_weight_ >= 0 and w > self.max_weight_):
            raise ValueError("value too large")
        if expires_at is not None:
            deadline = expires_at
            if isnan(deadline):
                raise ValueError("expires_at must not be NaN")
        h = _hash(key)
        cdef Py_ssize_t hint = -1
        s = _probe(self.table, <size_t>self.mask, self.slot_mask, self.tag_mask,
                   self._kv, key, h, self._tag(h), &hint)
        if s == -2:
            s = self._find(key, h)  # a key whose __eq__ is Python code: the careful path
            hint = self.ins_pos if s < 0 else -1
        cdef uint64_t epoch = self.table_epoch
        if (s < 0 and self.n >= self.max_entries_ and self.max_entries_ > 0 and w == 1
                and self.weights == NULL and self.max_weight_ < 0 and self.exp.deadline == NULL
                and expires_at is None and self.on_evict is None
                and self.pol != P_PROB and self.pol != P_ADAPTIVE):
            return self._evict_into(key, value, h, hint)
        if s >= 0 and self._expired_at(<int32_t>s, &now):
            self._unlink_slot(<int32_t>s)
            self.expirations += 1
            s = -1
        if w != 1 and self.weights == NULL:
            self._enable_weights()
        if s >= 0:
            if self.max_weight_ >= 0 and self.total_weight - self._weight(<int32_t>s) + w > self.max_weight_:
                mark = self._make_room(w - self._weight(<int32_t>s), 0, <int32_t>s, &lost, &now)
                if lost:
                    s = -1
        elif self._overflow(w, 1):
            mark = self._make_room(w, 1, NIL, &lost, &now)
        mark_end = self.grave_n
        if s < 0:
            s = self._alloc_slot()
            self.hashes[s] = h
            Py_INCREF(key)
            _list_put(<PyObject*>self._kv, 2 * s, <PyObject*>key)  # replaces a counted None
            Py_INCREF(value)
            _list_put(<PyObject*>self._kv, 2 * s + 1, <PyObject*>value)
            Py_DECREF(None)
            Py_DECREF(None)
            if self.weights != NULL:
                self.weights[s] = w
            self._table_insert(<int32_t>s, hint if self.table_epoch == epoch else -1)
            self._policy_insert(<int32_t>s)
            self.n += 1
            self.total_weight += w
            self._version += 1
        else:
            self._bury(_list_get(<PyObject*>self._kv, 2 * s + 1))
            Py_INCREF(value)
            _list_put(<PyObject*>self._kv, 2 * s + 1, <PyObject*>value)
            self.total_weight += w - self._weight(<int32_t>s)
            if self.weights != NULL:
                self.weights[s] = w
            if self.pol == P_FIFO:
                # re-setting a key counts as a new insertion (cachetools 8): to the back
                if s != self.tail:
                    self._list_unlink(<int32_t>s)
                    self._list_append(<int32_t>s)
            else:
                self._policy_access(<int32_t>s)
        if expires_at is not None or self.exp.deadline != NULL:
            self._set_deadline(<int32_t>s, expires_at, deadline)
        if self.grave_n > base:
            if mark >= 0 and mark_end > mark and self.on_evict is not None:
                victims = self._buried_pairs(mark, mark_end)
                self._release(base)
                self._notify(victims)
            else:
                self._release(base)
        return 0

    @cython.final
    cdef int _evict_into(self, object key, object value, Py_hash_t h, Py_ssize_t hint) except -1:
        """Insert a new key into a full index of unit weights, without deadlines or an
        eviction callback: the victim's slot is handed straight to the new key.

        Same outcome as _make_room + insert (same victim, same policy order, same
        counters); it skips the free list and the graveyard.  The victim's key and
        value are released last, once the structure is consistent (their __del__
        may use this index)."""
        cdef int32_t v = self._policy_victim()
        cdef PyObject* old_key = _list_get(<PyObject*>self._kv, 2 * v)
        cdef PyObject* old_value = _list_get(<PyObject*>self._kv, 2 * v + 1)
        self._table_remove(v)
        self.n -= 1  # the policy's own removal and insert, around the slot's new contents
        self._policy_remove(v)
        self.prev[v] = DUMMY  # unlinked: a table rebuild in _table_insert must skip it
        self.hashes[v] = h
        Py_INCREF(key)
        _list_put(<PyObject*>self._kv, 2 * v, <PyObject*>key)
        Py_INCREF(value)
        _list_put(<PyObject*>self._kv, 2 * v + 1, <PyObject*>value)
        self._table_insert(v, hint)
        self._policy_insert(v)
        self.n += 1
        self.evictions += 1
        self._version += 1
        Py_DECREF(<object>old_key)
        Py_DECREF(<object>old_value)
        return 0

    @cython.final
    cdef int _notify(self, list victims) except -1:
        callback = self.on_evict
        for key, value in victims:
            callback(key, value)
        return 0

    @cython.final
    cdef int _set_deadline(self, int32_t s, object expires_at, double d) except -1:
        if expires_at is None:
            if self._has_deadline(s):
                expiry_remove(&self.exp, s)
            return 0
        expiry_enable(&self.exp, self.cap)
        expiry_set(&self.exp, s, d)
        return 0

    def set_expiry(self, key, expires_at):
        """Set (or clear with None) the deadline of a resident key; False if absent."""
        cdef double d = 0.0
        if expires_at is not None:
            d = expires_at
            if isnan(d):
                raise ValueError("expires_at must not be NaN")
        cdef Py_ssize_t s = self._live(key)
        if s < 0:
            return False
        self._set_deadline(<int32_t>s, expires_at, d)
        return True

    def delete(self, key):
        """Remove ``key``; return whether it was resident (and not expired)."""
        cdef Py_hash_t h = _hash(key)
        cdef Py_ssize_t s = self._find(key, h)
        cdef Py_ssize_t base = self.grave_n
        cdef bint live
        if s < 0:
            return False
        live = not self._expired(<int32_t>s)
        self._unlink_slot(<int32_t>s)
        if not live:
            self.expirations += 1
        self._release(base)
        return live

    def pop(self, key, default=_MISSING):
        """Remove ``key`` and return its value, or ``default``; KeyError without one."""
        cdef Py_ssize_t s = self._live(key)
        cdef Py_ssize_t base = self.grave_n
        if s < 0:
            if default is _MISSING:
                raise KeyError(key)
            return default
        self._unlink_slot(<int32_t>s)
        value = <object>self.grave[base + 1]
        self._release(base)
        return value

    @cython.final
    cdef list _take(self, Py_ssize_t base):
        """Release everything buried since ``base``; return it as (key, value) pairs."""
        cdef list pairs = self._buried_pairs(base, self.grave_n)
        self._release(base)
        return pairs

    def clear(self):
        """Remove every entry (counters are kept)."""
        kv = self._kv  # released after the reset
        self._reset_storage(8)
        if self.pol == P_ADAPTIVE:
            adaptive_setup(&self.ad, self.ad.capacity, self.ad.seed)  # forgets what it learned

    def popitem(self):
        """Remove and return the next victim ``(key, value)``; KeyError when empty."""
        if self.n == 0:
            # as cachetools: the message names the class, no chained context
            raise KeyError(f"{type(self).__name__} is empty") from None
        cdef Py_ssize_t base = self.grave_n
        self._unlink_slot(self._policy_victim())
        return self._take(base)[0]

    def evict(self, Py_ssize_t count=1):
        """Remove up to ``count`` victims and return them, counted as evictions."""
        cdef Py_ssize_t base = self.grave_n, done = 0
        while self.n and done < count:
            self._unlink_slot(self._policy_victim())
            self.evictions += 1
            done += 1
        return self._take(base)

    def victims_for(self, weight=1):
        """Keys that inserting a new key of ``weight`` would evict (expiry ignored)."""
        cdef int64_t entries = self.n, total = self.total_weight, w = weight
        cdef list out = []
        cdef int32_t s
        if self.pol == P_RANDOM:
            order = self._random_prediction()
        else:
            order = self._policy_order()
        for s in order:
            if not ((self.max_entries_ >= 0 and entries + 1 > self.max_entries_)
                    or (self.max_weight_ >= 0 and total + w > self.max_weight_)):
                break
            out.append(self._key(s))
            entries -= 1
            total -= self._weight(s)
        return out

    @cython.final
    cdef list _random_prediction(self):
        cdef uint64_t state = self.rng
        cdef list dense = [self.dense[i] for i in range(self.n)]
        cdef list out = []
        cdef int32_t pos
        while dense:
            pos = _below(&state, <int32_t>len(dense))
            out.append(dense[pos])
            last = dense.pop()
            if pos < len(dense):
                dense[pos] = last
        return out

    @cython.final
    cdef int _expire_into(self, double now) except -1:
        """Bury every entry whose deadline is <= ``now`` (first to expire first)."""
        cdef int32_t s = expiry_first(&self.exp)
        while s != NIL and not (now < self.exp.deadline[s]):
            self._unlink_slot(s)
            s = expiry_first(&self.exp)
            self.expirations += 1
        return 0

    def expire(self, now=None):
        """Remove every entry whose deadline is <= ``now``; return them."""
        if self.exp.deadline == NULL:
            return []
        cdef double t = self._now() if now is None else float(now)
        cdef Py_ssize_t base = self.grave_n
        self._expire_into(t)
        return self._take(base)

    def set_probability(self, key, probability):
        """Assign the access probability of a resident key (PROBABILITY policy)."""
        if self.pol != P_PROB:
            raise TypeError("set_probability() needs the 'probability' policy")
        cdef double p = probability
        cdef Py_ssize_t s = self._live(key)
        if s < 0:
            return False
        self.stamp += 1
        self.prob[s] = p
        self.pstamp[s] = self.stamp
        heap_fix(&self.prob_heap, <int32_t>s, self.prob, self.pstamp)
        return True

    def probability(self, key):
        """Return the access probability a resident key ranks by (PROBABILITY policy).

        Raises ``TypeError`` for another policy and ``KeyError`` if ``key`` is absent.
        """
        if self.pol != P_PROB:
            raise TypeError("probability() needs the 'probability' policy")
        cdef Py_ssize_t s = self._live(key)
        if s < 0:
            raise KeyError(key)
        return self.prob[s]

    def set_probabilities(self, mapping):
        """Assign many probabilities; return how many keys were resident."""
        items = mapping.items() if hasattr(mapping, "items") else mapping
        cdef Py_ssize_t count = 0
        for k, p in items:
            if self.set_probability(k, p):
                count += 1
        return count

    # ------------------------------------------------------------------ iteration
    @cython.final
    cdef list _live_slots(self):
        cdef list order = self._policy_order()
        cdef double now
        cdef int32_t s
        if self.exp.deadline == NULL or expiry_count(&self.exp) == 0:
            return order
        now = self._now()
        return [s for s in order if self.exp.deadline[s] == INFINITY or now < self.exp.deadline[s]]

    def items_by_expiry(self):
        """Non-expired ``(key, value)`` pairs, first to expire first.

        Ties go in the order their deadlines were set; entries without a deadline
        come last, next victim first.  O(n) while deadlines were set in ascending
        order (the queue is a list), else O(n log n).
        """
        cdef list slots = []
        cdef list rest
        cdef int32_t s
        cdef double now
        if self.exp.deadline == NULL or expiry_count(&self.exp) == 0:
            return [(self._key(s), self._value(s)) for s in self._live_slots()]
        now = self._now()
        if self.exp.heap_mode:
            slots = [self.exp.heap.items[i] for i in range(self.exp.heap.count)]
            slots.sort(key=lambda t: (self.exp.deadline[<int32_t>t], self.exp.stamp[<int32_t>t]))
        else:
            s = self.exp.head
            while s != NIL:
                slots.append(s)
                s = self.exp.enext[s]
        rest = [s for s in self._policy_order() if self.exp.deadline[s] == INFINITY]
        return ([(self._key(s), self._value(s)) for s in slots if now < self.exp.deadline[s]]
                + [(self._key(s), self._value(s)) for s in rest])

    def __iter__(self):
        return iter(self.keys())

    def keys(self):
        """Non-expired keys, next victim first."""
        cdef int32_t s
        return [self._key(s) for s in self._live_slots()]

    def items(self):
        """Non-expired ``(key, value)`` pairs, next victim first."""
        cdef int32_t s
        return [(self._key(s), self._value(s)) for s in self._live_slots()]

    # ------------------------------------------------------------------ mapping
    def __getitem__(self, key):
        cdef Py_ssize_t s = self._live(key)
        if s < 0:
            self.misses += 1
            self._policy_miss()
            return self.__missing__(key)
        self.hits += 1
        self._policy_access(<int32_t>s)
        return self._value(<int32_t>s)

    def __missing__(self, key):
        raise KeyError(key)

    @property
    def item_ttl(self):
        """Seconds an item set through ``index[key] = value`` lives (None: forever)."""
        return self.item_ttl_ if self.has_item_ttl else None

    @item_ttl.setter
    def item_ttl(self, value):
        if value is None:
            self.has_item_ttl = False
        else:
            self.item_ttl_ = float(value)
            if isnan(self.item_ttl_):
                raise ValueError("item_ttl must not be NaN")
            self.has_item_ttl = True

    def __setitem__(self, key, value):
        cdef int64_t w = 1
        cdef double now
        if self._sizeof is None and not self.has_item_ttl:
            self._set(key, value, 1, None, NAN)
            return
        if self._sizeof is not None:
            size = self._sizeof(value)
            w = size if type(size) is int else int(size)
        if not self.has_item_ttl:
            self._set(key, value, w, None, NAN)
            return
        now = self._now()  # one reading: the deadline and the expiry sweep agree
        self._set(key, value, w, now + self.item_ttl_, now)

    def __delitem__(self, key):
        if not self.delete(key):
            raise KeyError(key)

    # ------------------------------------------------------------------ checks
    def _check(self):
        """Verify internal consistency; raise AssertionError on corruption."""
        cdef int32_t s, count = 0, free_count = 0
        cdef int64_t weight = 0
        cdef Py_ssize_t i, live = 0, dummies = 0
        resident = set()
        for s in range(self.hiwater):
            if self.prev[s] == DUMMY:
                free_count += 1
                assert self._key(s) is None and self._value(s) is None, "free slot holds a reference"
            else:
                resident.add(s)
                weight += self._weight(s)
        s = self.free_head
        i = 0
        while s != NIL:
            assert self.prev[s] == DUMMY, "free list reaches a live slot"
            s = self.next[s]
            i += 1
            assert i <= self.hiwater, "free list cycle"
        assert i == free_count, "free list length"
        assert len(resident) == self.n, "entry count drift"
        assert weight == self.total_weight, "weight drift"
        for i in range(self.mask + 1):
            if self.table[i] >= 0:
                live += 1
                s = self.table[i] & self.slot_mask
                assert s in resident, "table points to a free slot"
                assert self.table[i] == self._tag(self.hashes[s]) | s, "table tag"
                assert (<Py_ssize_t>self._find(self._key(s), self.hashes[s]) == s), "key not reachable by probing"
            elif self.table[i] == DUMMY:
                dummies += 1
        assert live == self.n, "table entry count"
        assert live + dummies == self.fill, "table fill count"
        order = self._policy_order()
        assert len(order) == self.n and set(order) == resident, "policy order does not match residents"
        if self.pol == P_LRU or self.pol == P_FIFO:
            s = self.head
            prev = NIL
            while s != NIL:
                assert self.prev[s] == prev, "broken back link"
                prev = s
                s = self.next[s]
            assert self.tail == prev, "tail"
        elif self.pol == P_LFU:
            buckets_check(&self.lfu, self.prev, self.next, self.aux, self.n)
        elif self.pol == P_RANDOM:
            for i in range(self.n):
                assert self.prev[self.dense[i]] == i, "random position"
                assert (self.table[self.next[self.dense[i]]] & self.slot_mask) == self.dense[i], "random table position"
        elif self.pol == P_PROB:
            heap_check(&self.prob_heap, self.prob, self.pstamp)
            assert self.prob_heap.count == self.n
        elif self.pol == P_ADAPTIVE:
            adaptive_check(&self.ad, self.hashes, self.prev, self.next, self.aux, self.n)
        if self.exp.deadline != NULL:
            expiry_check(&self.exp, resident)
        if self.max_entries_ >= 0:
            assert self.n <= self.max_entries_, "over entry capacity"
        if self.max_weight_ >= 0:
            assert self.total_weight <= self.max_weight_, "over weight capacity"
include "_store.pxi"
include "_reader.pxi"
include "_memo.pxi"
include "_batch.pxi"
