# A memoizing function's hit path in one C call (included into ``_index_c.pyx`` after
# ``_store.pxi``, so that it reads a store with a C call; ``_store_c`` re-exports it).
#
# Same names and behaviour as the reference twin ``_memo_py.py`` (read its docstring
# for the semantics); this file adds how the call reaches the store without Python:
#
# * Vectorcall. ``MemoCall`` (and every subclass that does not define ``__call__``)
#   is called through a vectorcall function stored in each instance: the interpreter
#   hands over its argument array, so a one-argument call builds no tuple at all (the
#   argument itself keys the memo, as functools.lru_cache keys a lone str or int).
#   CPython 3.11 does not let a class defined in Python inherit vectorcall, so the
#   first instance of such a subclass switches it on for its class, unless the class
#   has its own ``__call__`` (3.12+ inherit it the same way).
# * The store read. ``source.get`` is looked up at each call, as in the twin. When
#   it is a Store's own builtin ``get`` (what CacheManager installs while its fast path
#   is safe: running, objects stored as they are, no prefetch accounting), the store
#   is read with its C method instead of a Python call: the same code, the same
#   counters. Anything else (a stopped manager's checking ``get``, a codec reader)
#   is called. The check is made afresh at each call (no state kept between calls),
#   so nothing here can go stale; the only fields written after construction are the
#   hit counter and ``enabled`` (C integers), so a free-threaded build reads no object
#   field that another thread may be replacing (``forget_keys`` empties the dict in
#   place).
# * The hit counter is a C integer: under the GIL an increment cannot be interrupted;
#   on a free-threaded build (``Py_GIL_DISABLED``) it is an atomic add. Exact both ways.
#
# Thread safety otherwise: the memo is a dict (each operation atomic under the GIL,
# and internally locked on free-threaded builds); a race between two threads filling
# it at most remembers the same key twice or forgets it early (it maps argument
# tuples to keys that ``key_of`` computes deterministically), never a wrong key.
from cpython.object cimport PyObject

cdef extern from *:
    """
    /* Exact str, int, bytes and None: no two of different types compare equal (unlike
       1 == 1.0 == True), so the arguments themselves can key the memo. */
    static int fba_memo_distinct(PyObject *const *a, Py_ssize_t n) {
        Py_ssize_t i;
        for (i = 0; i < n; i++) {
            PyTypeObject *t = Py_TYPE(a[i]);
            if (!(t == &PyUnicode_Type || t == &PyLong_Type || t == &PyBytes_Type
                  || a[i] == Py_None))
                return 0;
        }
        return 1;
    }
    static PyObject *fba_memo_pack(PyObject *const *a, Py_ssize_t n) {
        Py_ssize_t i;
        PyObject *t = PyTuple_New(n);
        if (t == NULL) return NULL;
        for (i = 0; i < n; i++) {
            Py_INCREF(a[i]);
            PyTuple_SET_ITEM(t, i, a[i]);
        }
        return t;
    }
    #define FBA_TUPLE_ITEMS(t) (((PyTupleObject *)(t))->ob_item)
    #define FBA_NARGS(nargsf) PyVectorcall_NARGS(nargsf)
    /* ``m`` is the builtin method that the method descriptor ``descr`` (a method of
       ``cls``, defined in C) gives an instance of exactly ``cls``: that instance,
       borrowed from the method, else NULL. */
    static PyObject *fba_memo_bound_self(PyObject *m, PyObject *descr, PyObject *cls) {
        PyObject *self;
        if (!PyCFunction_CheckExact(m) || Py_TYPE(descr) != &PyMethodDescr_Type
                || PyCFunction_GET_FUNCTION(m)
                    != ((PyMethodDescrObject *)descr)->d_method->ml_meth)
            return NULL;
        self = PyCFunction_GET_SELF(m);
        return self != NULL && (PyObject *)Py_TYPE(self) == cls ? self : NULL;
    }
    /* Switch vectorcall on for ``t`` (MemoCall or a subclass): its instances keep
       the function at ``offset``; the tp_call slot takes (args, kwds) as they come. */
    static void fba_memo_enable(PyObject *t, Py_ssize_t offset, void *call) {
        PyTypeObject *tp = (PyTypeObject *)t;
        tp->tp_vectorcall_offset = offset;
        tp->tp_call = (ternaryfunc)call;
        tp->tp_flags |= Py_TPFLAGS_HAVE_VECTORCALL;
    }
    #define FBA_HAS_VECTORCALL(t) \
        ((((PyTypeObject *)(t))->tp_flags & Py_TPFLAGS_HAVE_VECTORCALL) != 0)
    #if defined(Py_GIL_DISABLED)
    #define FBA_MEMO_COUNT(x) _Py_atomic_add_uint64(&(x), 1)
    #else
    #define FBA_MEMO_COUNT(x) ((void)((x) += 1))
    #endif
    """
    bint _memo_distinct "fba_memo_distinct"(PyObject** a, Py_ssize_t n) noexcept
    object _memo_pack "fba_memo_pack"(PyObject** a, Py_ssize_t n)
    PyObject** _tuple_items "FBA_TUPLE_ITEMS"(object t) noexcept
    Py_ssize_t _nargs "FBA_NARGS"(size_t nargsf) noexcept
    PyObject* _bound_self "fba_memo_bound_self"(object m, PyObject* func, PyObject* cls) noexcept
    void _memo_enable "fba_memo_enable"(object t, Py_ssize_t offset, void* call) noexcept
    bint _has_vectorcall "FBA_HAS_VECTORCALL"(object t) noexcept
    void _memo_count "FBA_MEMO_COUNT"(uint64_t counter) noexcept

cdef extern from "Python.h":
    object PyObject_Vectorcall(object callable, PyObject** args, size_t nargsf,
                               PyObject* kwnames)


cdef class MemoCall:
    """A memoizing function's hit path in one C call (see ``_memo_py.MemoCall``).

    Not final: a front end may subclass it, so that calling its own objects is this
    call (the ``@cached`` wrapper does); a subclass that defines ``__call__`` keeps it.
    """

    cdef void* vcall              # the vectorcall function (at tp_vectorcall_offset)
    cdef dict keys
    cdef readonly object key_of, source, namespace, missed, slow
    cdef readonly uint64_t memo_hits  # calls answered through the memo
    cdef public bint enabled
    cdef Py_ssize_t limit

    def __cinit__(self, *args, **kwargs):
        self.vcall = <void*>_memo_vcall
        cls = type(self)
        if not _has_vectorcall(cls) and cls.__call__ is _MEMO_CALL:
            # a subclass defined in Python (the first instance of it): see the top
            _memo_enable(cls, _VCALL_OFFSET, <void*>_memo_call)

    def __init__(self, key_of, source, missed, slow, Py_ssize_t limit=1024, namespace=None):
        self.keys = {}
        self.key_of = key_of
        self.source = source
        self.namespace = namespace
        self.missed = missed
        self.slow = slow
        self.limit = limit
        self.enabled = True

    def __call__(self, *args, **kwargs):
        return _memo_call(self, args, <PyObject*>kwargs if kwargs else NULL)

    @property
    def memo_size(self):
        """How many argument tuples have their key remembered."""
        return len(self.keys)

    def forget_keys(self):
        """Forget every remembered key."""
        self.keys.clear()

    def reset_memo_hits(self):
        """Set ``memo_hits`` back to 0."""
        self.memo_hits = 0

    # copy.copy / pickle: the fields and the instance dict, as Cython's automatic
    # reduce gave them before the vectorcall pointer (which it cannot copy) existed;
    # a new instance gets its own pointer from __cinit__.
    def __reduce__(self):
        state = (self.keys, self.key_of, self.source, self.namespace, self.missed, self.slow,
                 self.memo_hits, self.enabled, self.limit, getattr(self, "__dict__", None))
        return (_memo_new, (type(self),), state)

    def __setstate__(self, state):
        (self.keys, self.key_of, self.source, self.namespace, self.missed, self.slow,
         self.memo_hits, self.enabled, self.limit, extra) = state
        if extra:
            self.__dict__.update(extra)


def _memo_new(cls):
    """A MemoCall (subclass) instance to be filled by ``__setstate__``."""
    return cls.__new__(cls)


cdef object _memo_slow(MemoCall m, object args, PyObject* kwds):
    if kwds == NULL:
        return m.slow(*args)
    return m.slow(*args, **<object>kwds)


cdef object _memo_call(object self, object args, PyObject* kwds):
    # the tp_call slot: PyObject_Call and friends (the interpreter uses vectorcall)
    cdef MemoCall m = <MemoCall>self
    cdef Py_ssize_t n = len(<tuple>args)
    if kwds != NULL or not m.enabled or not _memo_distinct(_tuple_items(args), n):
        return _memo_slow(m, args, kwds)
    return _memo_run(m, (<tuple>args)[0] if n == 1 else args, args)


cdef object _memo_vcall(object self, PyObject** args, size_t nargsf, PyObject* kwnames):
    cdef MemoCall m = <MemoCall>self
    cdef Py_ssize_t n = _nargs(nargsf)
    if kwnames != NULL or not m.enabled or not _memo_distinct(args, n):
        return PyObject_Vectorcall(m.slow, args, n, kwnames)
    if n == 1:
        return _memo_run(m, <object>args[0], None)
    packed = _memo_pack(args, n)
    return _memo_run(m, packed, packed)


cdef object _memo_run(MemoCall m, object mkey, object args):
    """The call of distinct arguments: ``mkey`` keys the memo (the lone argument itself,
    else the tuple); ``args`` is the argument tuple, or None until one is needed."""
    cdef object source = m.source
    cdef PyObject* store
    if m.namespace is not None:
        source = (<dict>m.namespace).get(source)
        if source is None:
            return m.slow(*(args if args is not None else (mkey,)))
    key = m.keys.get(mkey)
    if key is None:
        if args is None:
            args = (mkey,)
        key = m.key_of(args)
        if key is None:
            return m.slow(*args)
        if len(m.keys) >= m.limit:
            m.keys.clear()
        m.keys[mkey] = key
    getter = source.get
    store = _bound_self(getter, <PyObject*>_STORE_GET, <PyObject*>Store)
    if store != NULL:
        value = (<Store>store)._get(key, _MISSING)
    else:
        value = getter(key, _MISSING)
    if value is _MISSING:
        return m.missed(key, args if args is not None else (mkey,))
    _memo_count(m.memo_hits)
    return value


cdef object _STORE_GET = Store.__dict__["get"]  # the descriptor of a store's builtin get


cdef Py_ssize_t _vcall_offset():
    cdef MemoCall probe = MemoCall.__new__(MemoCall)
    return <char*>&probe.vcall - <char*><PyObject*>probe


cdef Py_ssize_t _VCALL_OFFSET = _vcall_offset()
cdef object _MEMO_CALL = MemoCall.__call__  # what a subclass without its own __call__ finds
_memo_enable(MemoCall, _VCALL_OFFSET, <void*>_memo_call)
