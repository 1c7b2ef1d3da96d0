# The compiled store (included into ``_index_c.pyx`` so that it calls the index's C
# methods directly, with no Python call in between; ``_store_c`` re-exports it).
#
# What it is: index + TTLs + counters + metadata + lock, one C call per operation.
#
# Same names and behaviour as the reference twin ``_store_py.py`` (read its module
# docstring for the semantics); this file only adds how the lock is taken.
#
# Locking. Every method takes the store's own lock (a ``PyThread`` lock, a real
# mutex on free-threaded builds too), except ``get``/``peek`` of a *plain* key on
# a build with the GIL and the native monotonic clock. A plain key is an exact
# str, int, float, bytes, bool or None, or a tuple of those (and of such tuples):
# hashing and comparing it is C code. As long as every key ever stored was plain
# (``mixed`` is False), such a lookup runs no Python code at all, so with the GIL
# it cannot interleave with a writer: one call into the compiled index is atomic.
# The one exception is an expired entry dropped by the lookup, whose value's
# finaliser may run; the index releases departing objects only once it is
# consistent, so a writer resuming there finds it whole. A key with Python
# ``__hash__``/``__eq__`` (or a timer written in Python) could switch threads in
# the middle of a lookup, so from the first such key on, reads take the lock and
# the index's re-entrancy-safe lookup does the rest.
#
# The lock is re-entrant (an owner thread id and a depth around a ``PyThread``
# lock, as ``threading.RLock``): the index runs a key's ``__hash__``/``__eq__``
# with the lock held, and such code may call back into the same store from the
# same thread (a logging or metrics hook writing to the cache); the index is built
# to survive that. Waiting for the lock releases the GIL (a holder may need it to
# finish).
from cpython.pythread cimport (PyThread_type_lock, PyThread_allocate_lock, PyThread_free_lock,
                               PyThread_acquire_lock, PyThread_release_lock, WAIT_LOCK,
                               NOWAIT_LOCK, PyThread_get_thread_ident)

import sys as _sys

# One sentinel for both twins (a caller may hold either's): "use the default TTL".
from fbacache._core._store_py import DEFAULT, SWEEP_EVERY

cdef int _SWEEP_EVERY = SWEEP_EVERY
cdef object _DEFAULT = DEFAULT
cdef object _monotonic = _time.monotonic
cdef object _getsizeof = _sys.getsizeof

cdef extern from *:
    """
    /* sys.getsizeof of an exact bytes or compact ASCII str, computed as their __sizeof__
       does (neither is a GC object, so getsizeof adds no header); -1: ask getsizeof. */
    static Py_ssize_t fba_plain_size(PyObject *o) {
        if (PyBytes_CheckExact(o))
            return Py_TYPE(o)->tp_basicsize + Py_SIZE(o);
        if (PyUnicode_CheckExact(o) && PyUnicode_IS_COMPACT_ASCII(o)
    #if PY_VERSION_HEX < 0x030C0000
                && PyUnicode_IS_READY(o) && ((PyASCIIObject *)o)->wstr == NULL
    #endif
            )
            return (Py_ssize_t)sizeof(PyASCIIObject) + PyUnicode_GET_LENGTH(o) + 1;
        return -1;
    }
    """
    Py_ssize_t fba_plain_size(object o)


# Vectorcall (PEP 590) for the front-end callables: the interpreter hands over its
# argument array as it is, with no tuple built per call (see "the call slots").
cdef extern from *:
    """
    typedef PyObject *(*fba_vectorcall)(PyObject *, PyObject *const *, size_t, PyObject *);
    /* Set once at import, before any instance is called: instances keep the function in
       the field at this offset (filled by __cinit__). tp_call stays for PyObject_Call. */
    static void fba_set_vectorcall(PyObject *t, Py_ssize_t offset) {
        ((PyTypeObject *)t)->tp_vectorcall_offset = offset;
        ((PyTypeObject *)t)->tp_flags |= Py_TPFLAGS_HAVE_VECTORCALL;
    }
    """
    ctypedef void* fba_vectorcall
    void fba_set_vectorcall(object t, Py_ssize_t offset)
    Py_ssize_t PyVectorcall_NARGS(size_t nargsf)
    object PyObject_Vectorcall(object callable, PyObject** args, size_t nargsf, PyObject* kwnames)
    object PyBytes_FromStringAndSize(char* s, Py_ssize_t n)
    char* PyBytes_AS_STRING(object o)
    Py_ssize_t PyBytes_GET_SIZE(object o)


cdef inline Py_ssize_t _shallow_size(object value) except -1:
    # sys.getsizeof costs about what a whole store write does; str and bytes values,
    # the common case, get the same number without the call.
    cdef Py_ssize_t size = fba_plain_size(value)
    if size >= 0:
        return size
    return _getsizeof(value)


cdef bint _plain(object key, int depth) noexcept:
    """True for keys whose hash and equality are C code (see the module docstring)."""
    cdef type t = type(key)
    if t is str or t is int or t is float or t is bytes or t is bool or key is None:
        return True
    if t is tuple and depth < 3:
        for item in <tuple>key:
            if not _plain(item, depth + 1):
                return False
        return True
    return False


@cython.final
cdef class Store:
    """Thread-safe index + TTLs + counters + metadata behind one lock (see ``_store_py``).

    ``Store(policy, max_entries=None, max_weight=None, timer=time.monotonic,
    seed=None, default_ttl=None)``; raises ``ValueError`` for an unknown policy.
    """

    cdef readonly Index index
    cdef readonly object timer
    cdef public dict meta
    cdef readonly unsigned long long sets
    cdef readonly bint lock_free  # plain-key reads may skip the lock (GIL + native clock)
    cdef readonly bint mixed      # a key that is not plain has been stored since clear()
    cdef bint fast_clock
    cdef bint has_default
    cdef double default_ttl_
    cdef int since_sweep
    cdef PyThread_type_lock lock
    cdef unsigned long owner      # thread holding the lock (valid while depth > 0)
    cdef unsigned long depth      # re-entrant acquisitions by the owner
    cdef object _ipeek

    def __cinit__(self, *args, **kwargs):
        self.lock = PyThread_allocate_lock()
        if self.lock == NULL:
            raise MemoryError("cannot allocate the store's lock")

    def __init__(self, policy="lru", max_entries=None, max_weight=None, timer=_monotonic,
                 seed=None, default_ttl=None):
        self.index = Index(policy, max_entries=max_entries, max_weight=max_weight,
                           timer=timer, seed=seed)
        self.timer = timer
        self.fast_clock = timer is _monotonic
        self.default_ttl = default_ttl
        self.meta = {}
        gil = getattr(_sys, "_is_gil_enabled", lambda: True)()
        self.lock_free = bool(gil) and self.fast_clock
        self._ipeek = self.index.peek

    def __dealloc__(self):
        if self.lock != NULL:
            PyThread_free_lock(self.lock)

    # ------------------------------------------------------------------ lock
    cdef inline int _acquire(self) except -1:
        cdef unsigned long me = PyThread_get_thread_ident()
        # Only the owner itself can see owner == me while depth > 0: another thread
        # reads either a stale other id or 0, never its own (it wrote 0 before release).
        if self.depth and self.owner == me:
            self.depth += 1
            return 0
        if not PyThread_acquire_lock(self.lock, NOWAIT_LOCK):
            with nogil:  # the holder may need the GIL to finish
                PyThread_acquire_lock(self.lock, WAIT_LOCK)
        self.owner = me
        self.depth = 1
        return 0

    cdef inline void _release(self) noexcept:
        self.depth -= 1
        if self.depth == 0:
            self.owner = 0
            PyThread_release_lock(self.lock)

    def __enter__(self):
        self._acquire()
        return self

    def __exit__(self, *exc):
        self._release()

    @property
    def default_ttl(self):
        """Seconds ``set`` uses when no ``ttl`` is given (None: never expire)."""
        return self.default_ttl_ if self.has_default else None

    @default_ttl.setter
    def default_ttl(self, value):
        self.has_default = value is not None
        self.default_ttl_ = 0.0 if value is None else value

    cdef inline bint _unlocked_read(self, object key) noexcept:
        return self.lock_free and not self.mixed and _plain(key, 0)

    # ------------------------------------------------------------------ reads
    # A builtin method, not a Cython function: ``store.get`` is then what the interpreter
    # calls with its fastest call of a C function (a CacheManager's ``get`` is this bound
    # method, so this is the default hit path); _memo.pxi recognises it to read the store
    # with a C call. The docstring's first lines are the signature that ``inspect`` reads.
    @cython.binding(False)
    def get(self, key, default=None):
        """get($self, key, default=None)
--

Value of ``key`` (a hit for the policy and the counters) or ``default``."""
        return self._get(key, default)

    cdef object _get(self, object key, object default):
        cdef object value
        if self._unlocked_read(key):
            value = self.index.get(key, _MISSING)
            if value is _MISSING:
                if self.meta:
                    self.meta.pop(key, None)  # it may have just expired
                return default
            return value
        self._acquire()
        try:
            value = self.index.get(key, _MISSING)
            if value is _MISSING:
                if self.meta:
                    self.meta.pop(key, None)
                return default
            return value
        finally:
            self._release()

    def peek(self, key, default=None):
        """Value of ``key`` or ``default``, with no policy update and nothing counted."""
        cdef object value
        if self._unlocked_read(key):
            value = self._ipeek(key, _MISSING)
        else:
            self._acquire()
            try:
                value = self._ipeek(key, _MISSING)
            finally:
                self._release()
        if value is _MISSING:
            if self.meta:
                self._acquire()
                try:
                    self.meta.pop(key, None)
                finally:
                    self._release()
            return default
        return value

    cdef bint _contains_locked(self, object key) except -1:
        if self.index.contains(key):
            return True
        if self.meta:
            self.meta.pop(key, None)
        return False

    def contains(self, key):
        """True if ``key`` is resident and not expired (nothing counted)."""
        self._acquire()
        try:
            return self._contains_locked(key)
        finally:
            self._release()

    def get_meta(self, key):
        """Copy of the metadata of a resident key ({} if none), None if absent."""
        self._acquire()
        try:
            if not self._contains_locked(key):
                return None
            return dict(self.meta.get(key, ()))
        finally:
            self._release()

    def remaining(self, key):
        """Seconds until ``key`` expires (``inf`` without a deadline), None if absent."""
        self._acquire()
        try:
            if not self._contains_locked(key):
                return None
            deadline = self.index.expiry(key)
        finally:
            self._release()
        if deadline is None:
            return float("inf")
        return max(0.0, deadline - self._now())

    # ------------------------------------------------------------------ writes
    cdef double _now(self) except? -1.0:
        cdef timespec ts
        if self.fast_clock:
            clock_gettime(CLOCK_MONOTONIC, &ts)
            return ts.tv_sec + ts.tv_nsec * 1e-9
        return float(self.timer())

    cdef object _deadline(self, object ttl):
        if ttl is _DEFAULT:
            if not self.has_default:
                return None
            return self._now() + self.default_ttl_
        if ttl is None:
            return None
        return self._now() + ttl

    def set(self, key, value, weight=1, ttl=DEFAULT, meta=None):
        """Insert or replace ``key`` for ``ttl`` seconds (DEFAULT: ``default_ttl``; None: never).

        ``meta`` (a dict, kept as given) replaces the key's metadata; None drops it.
        Raises ``ValueError`` (nothing changed) if ``weight`` can never fit.
        """
        self._set(key, value, weight, ttl, meta)

    cdef int _set(self, object key, object value, object weight, object ttl,
                  object meta) except -1:
        deadline = self._deadline(ttl)
        self._acquire()
        try:
            self.index._set(key, value, weight if type(weight) is int else int(weight),
                                deadline, NAN)
            self._after_set_locked(key, meta)
        finally:
            self._release()
        return 0

    cdef int _after_set_locked(self, object key, object meta) except -1:
        if not self.mixed and not _plain(key, 0):
            self.mixed = True  # from now on reads take the lock (see the module docstring)
        if meta is not None:
            if not self.meta:
                self.index.on_evict = self._evicted
            self.meta[key] = meta
            if len(self.meta) > 2 * len(self.index) + 64:
                contains = self.index.contains
                # contains() runs the key's __hash__, which may re-enter and write meta:
                # iterate over a snapshot.
                self.meta = {k: v for k, v in list(self.meta.items()) if contains(k)}
        elif self.meta:
            self.meta.pop(key, None)
        self.sets += 1
        self.since_sweep += 1
        if self.since_sweep >= _SWEEP_EVERY:
            self.since_sweep = 0
            self._sweep_locked()
        return 0

    def set_many(self, items, ttl=DEFAULT):
        """``set`` of every ``(key, value, weight)`` with one deadline, under one lock hold.

        Stops at the first item that can never fit (``ValueError``); those before it stay.
        """
        deadline = self._deadline(ttl)
        self._acquire()
        try:
            for key, value, weight in items:
                self.index._set(key, value, weight if type(weight) is int else int(weight),
                                deadline, NAN)
                self._after_set_locked(key, None)
        finally:
            self._release()

    def _evicted(self, key, value):
        # The index calls this inside set(), i.e. with our lock held.
        self.meta.pop(key, None)

    def touch(self, key, ttl=DEFAULT):
        """New deadline ``ttl`` seconds from now (DEFAULT / None as in ``set``); False if absent."""
        deadline = self._deadline(ttl)
        self._acquire()
        try:
            if not self._contains_locked(key):
                return False
            return bool(self.index.set_expiry(key, deadline))
        finally:
            self._release()

    def delete(self, key):
        """Remove ``key``; True if it was resident."""
        self._acquire()
        try:
            if self.meta:
                self.meta.pop(key, None)
            return bool(self.index.delete(key))
        finally:
            self._release()

    def discard_if(self, key, value):
        """Remove ``key`` only if it still holds exactly ``value`` (identity)."""
        self._acquire()
        try:
            if self._ipeek(key, _MISSING) is not value:
                return False
            if self.meta:
                self.meta.pop(key, None)
            return bool(self.index.delete(key))
        finally:
            self._release()

    def clear(self):
        """Remove every entry and all metadata (counters are kept)."""
        self._acquire()
        try:
            self.index.clear()
            self.meta.clear()
            self.mixed = False
        finally:
            self._release()

    # ------------------------------------------------------------------ housekeeping
    cdef Py_ssize_t _sweep_locked(self) except -1:
        expired = self.index.expire()
        if self.meta:
            for k, _ in expired:
                self.meta.pop(k, None)
        return len(expired)

    def expire(self):
        """Drop every expired entry now; the number dropped."""
        self._acquire()
        try:
            return self._sweep_locked()
        finally:
            self._release()

    def _check(self):
        """Verify the index and the metadata bookkeeping (AssertionError if broken)."""
        self._acquire()
        try:
            self.index._check()
            assert len(self.meta) <= 2 * len(self.index) + 64, "metadata not pruned"
            assert (self.index.on_evict is not None) or not self.meta, "metadata without on_evict"
        finally:
            self._release()


@cython.final
cdef class Put:
    """``put(key, value)``: ``store.set`` weighed by ``sys.getsizeof``, with the default TTL.

    The default write of a front end that stores objects as they are, in one C
    call (see ``_store_py.Put``). ``Put(store, max_size, slow)``: a call with
    any other argument, a value over ``max_size`` or one the store refuses goes
    to ``slow(key, value, *args, **kwargs)``, which owns the errors.
    """

    cdef fba_vectorcall vcall  # see "the call slots" below
    cdef Store store
    cdef Py_ssize_t max_size
    cdef readonly object slow

    def __cinit__(self, *args, **kwargs):
        self.vcall = <fba_vectorcall>_put_vcall

    def __init__(self, Store store, Py_ssize_t max_size, slow):
        self.store = store
        limit = store.index.max_weight  # fixed for the store's life: folded in once
        self.max_size = max_size if limit is None else min(max_size, limit)
        self.slow = slow

    def __call__(self, *args, **kwargs):
        return _put_call(self, args, _kwds(kwargs))

    @property
    def method(self):
        """This callable as a builtin method (see "the call slots"): ``put.method(k, v)``
        is ``put(k, v)``; ``put.method.__self__`` is ``put``."""
        return fba_put_method(self, <void*>_put_vcall)


@cython.final
cdef class GetOr:
    """``get_or(key, factory)``: the value of a resident ``key`` in one C call, else
    ``missed(key, factory)`` (see ``_store_py.GetOr``); a call with any other
    argument goes to ``slow(key, factory, *args, **kwargs)``."""

    cdef fba_vectorcall vcall  # see "the call slots" below
    cdef Store store
    cdef readonly object missed
    cdef readonly object slow

    def __cinit__(self, *args, **kwargs):
        self.vcall = <fba_vectorcall>_get_or_vcall

    def __init__(self, Store store, missed, slow):
        self.store = store
        self.missed = missed
        self.slow = slow

    def __call__(self, *args, **kwargs):
        return _get_or_call(self, args, _kwds(kwargs))

    @property
    def method(self):
        """This callable as a builtin method (see "the call slots"): ``get_or.method(k, f)``
        is ``get_or(k, f)``; ``get_or.method.__self__`` is ``get_or``."""
        return fba_get_or_method(self, <void*>_get_or_vcall)


# ---------------------------------------------------------------------- the call slots
# A ``def __call__(self, key, value, *args, **kwargs)`` allocates a dict for **kwargs on
# every call, even with no keyword: for these one-lookup callables that was a third of
# the call. So each type's tp_call slot is set to a C function taking the interpreter's
# (args, kwds) as they come, kwds NULL when there is none; the ``__call__`` methods above
# (what ``type(x).__call__`` finds) run the same functions.
#
# ``method``: the vectorcall function as a builtin method bound to the instance (a
# ``PyCFunction`` with METH_FASTCALL | METH_KEYWORDS: the same argument array, and
# ``nargs`` without the offset flag, which PyVectorcall_NARGS leaves as it is). The
# interpreter calls a builtin method by its specialised instruction for C functions, and
# an object with a vectorcall slot by its generic call, so CacheManager installs the
# methods (as it installs Store.get, a builtin method too).
from cpython.object cimport PyObject
from cpython.tuple cimport PyTuple_GET_SIZE

cdef extern from *:
    """
    static PyMethodDef fba_put_def = {
        "set", NULL, METH_FASTCALL | METH_KEYWORDS,
        "set($self, /, *args, **kwargs)\\n--\\n\\n"
        "``put(key, value)`` in one C call; any other call goes to the full method "
        "(see ``fbacache._core.Put``)."};
    static PyMethodDef fba_get_or_def = {
        "get_or_set", NULL, METH_FASTCALL | METH_KEYWORDS,
        "get_or_set($self, /, *args, **kwargs)\\n--\\n\\n"
        "``get_or(key, factory)``: a resident key's value in one C call; a miss and any "
        "other call go to the full method (see ``fbacache._core.GetOr``)."};
    /* The defs' function is set before the first method is made (always the same one). */
    static PyObject *fba_put_method(PyObject *self, void *fn) {
        fba_put_def.ml_meth = (PyCFunction)(void (*)(void))fn;
        return PyCFunction_NewEx(&fba_put_def, self, NULL);
    }
    static PyObject *fba_get_or_method(PyObject *self, void *fn) {
        fba_get_or_def.ml_meth = (PyCFunction)(void (*)(void))fn;
        return PyCFunction_NewEx(&fba_get_or_def, self, NULL);
    }
    """
    object fba_put_method(object self, void* fn)
    object fba_get_or_method(object self, void* fn)

cdef inline PyObject* _kwds(dict kwargs) noexcept:
    return <PyObject*>kwargs if kwargs else NULL


cdef inline object _slow(object slow, object args, PyObject* kwds):
    if kwds == NULL:
        return slow(*args)
    return slow(*args, **<object>kwds)


cdef object _put_call(object self, object args, PyObject* kwds):
    cdef Put put = <Put>self
    if kwds != NULL or PyTuple_GET_SIZE(args) != 2:
        return _slow(put.slow, args, kwds)
    return _put(put, (<tuple>args)[0], (<tuple>args)[1])


cdef object _put_vcall(object self, PyObject** args, size_t nargsf, PyObject* kwnames):
    if kwnames != NULL or PyVectorcall_NARGS(nargsf) != 2:
        return PyObject_Vectorcall((<Put>self).slow, args, nargsf, kwnames)
    return _put(<Put>self, <object>args[0], <object>args[1])


cdef inline object _put(Put put, object key, object value):
    cdef Py_ssize_t size = _shallow_size(value)
    if size > put.max_size:
        return put.slow(key, value)
    put.store._set(key, value, size, _DEFAULT, None)
    return True


cdef object _get_or_call(object self, object args, PyObject* kwds):
    cdef GetOr g = <GetOr>self
    if kwds != NULL or PyTuple_GET_SIZE(args) != 2:
        return _slow(g.slow, args, kwds)
    return _get_or(g, (<tuple>args)[0], (<tuple>args)[1])


cdef object _get_or_vcall(object self, PyObject** args, size_t nargsf, PyObject* kwnames):
    if kwnames != NULL or PyVectorcall_NARGS(nargsf) != 2:
        return PyObject_Vectorcall((<GetOr>self).slow, args, nargsf, kwnames)
    return _get_or(<GetOr>self, <object>args[0], <object>args[1])


cdef inline object _get_or(GetOr g, object key, object factory):
    cdef object value = g.store._get(key, _MISSING)
    if value is _MISSING:
        return g.missed(key, factory)
    return value


ctypedef object (*_call_slot)(object, object, PyObject*)
cdef extern from *:
    """
    /* Set before any instance exists (at module import). Both types are final: a
       class defined in Python would take its tp_call from the __call__ wrapper. */
    #define FBA_SET_CALL(t, f) (((PyTypeObject *)(t))->tp_call = (ternaryfunc)(f))
    """
    void FBA_SET_CALL(object t, _call_slot f)

FBA_SET_CALL(Put, _put_call)
FBA_SET_CALL(GetOr, _get_or_call)


cdef int _install_vectorcalls() except -1:
    # The field's offset in the instance, measured on a blank instance of each type.
    cdef Put p = Put.__new__(Put)
    cdef GetOr g = GetOr.__new__(GetOr)
    fba_set_vectorcall(Put, <char*>&p.vcall - <char*><void*>p)
    fba_set_vectorcall(GetOr, <char*>&g.vcall - <char*><void*>g)
    return 0

_install_vectorcalls()
