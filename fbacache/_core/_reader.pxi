# A codec's read path in one C call (included into ``_index_c.pyx`` after ``_store.pxi``,
# so that it reads a store with a C call; ``_store_c`` re-exports it).
#
# Same names and behaviour as the reference twin ``_reader_py.py`` (read its docstring
# for the semantics); this file adds how the payload reaches ``loads``:
#
# * Without ``buffers``, a raw frame's payload is copied out of the stored blob (one
#   ``PyBytes_FromStringAndSize``, the marker byte left behind): ``loads`` gets bytes.
# * With ``buffers`` (a ``loads`` that takes any read-only buffer: ``pickle.loads``,
#   ``msgpack.unpackb``), nothing is copied: ``loads`` gets a ``_Payload``, a small
#   object exporting the stored blob's bytes past the marker as a read-only buffer.
#   With the GIL, the reader keeps one spare ``_Payload`` and reuses it: a read takes
#   it out of the reader (a re-entrant read, from ``loads`` running Python code, finds
#   none and makes its own), points it at the blob, calls ``loads``, and puts it back
#   only if nothing else holds it then (``loads`` keeping its argument keeps that
#   object, still pointing at its blob). So a hit allocates nothing but the value.
#   Free-threaded builds make a fresh ``_Payload`` per read (no shared spare).
#
# The stored blobs and their format are untouched: this is only how a payload is
# handed over.
#
# The call of loads, and of the reader (sixth pass, benchmarks/README.md): a hit runs the
# store's lookup and ``loads`` back to back, and with pickle their code together overflows
# sets of the 32 KiB instruction cache (a pickle hit cost ~200 ns more than the store's
# get and ``pickle.loads`` timed apart; msgpack ~90). So the hot path runs as little code
# beyond those two as it can:
#
# * ``loads`` is called through ``fba_callee``: a builtin taking (args, nargs, kwnames)
#   (``pickle.loads``) through its C function, as the interpreter's own fast path for
#   builtins calls it (no ``PyObject_Vectorcall`` and its checks); any other callable
#   through its vectorcall slot (``KeywordCall``, Python functions), else a plain call.
# * ``Reader.method`` is the reader as a builtin method (a ``PyCFunction`` bound to the
#   reader, the function being the vectorcall below): the manager installs that as its
#   ``get``, so the interpreter calls it by the same specialised instruction as it calls
#   ``pickle.loads``, not by the generic call of an object with a vectorcall slot.
#
# The sampled timing: with ``stats``, the one load in ``sample`` that is timed reads
# CLOCK_MONOTONIC (the clock of ``time.perf_counter`` on Linux) around it here and adds
# the time, times ``sample``, to ``stats.deserialization_s``; no Python frame runs.
from cpython.object cimport PyObject


cdef char* _UNSIGNED_BYTE = "B"


@cython.final
cdef class _Payload:
    """The payload of a raw frame (a stored blob past its marker byte) as a
    read-only buffer, lent to a codec's ``loads`` for one call (see above)."""

    cdef object blob      # an exact bytes object of at least 1 byte, or None between reads
    cdef Py_ssize_t size  # len(blob) - 1 (the buffer's shape)

    def __getbuffer__(self, Py_buffer* buffer, int flags):
        if self.blob is None:
            raise BufferError("a codec payload is only readable during its load")
        if flags & PyBUF_WRITABLE:
            raise BufferError("a codec payload is read-only")
        buffer.buf = PyBytes_AS_STRING(self.blob) + 1
        buffer.obj = self
        buffer.len = self.size
        buffer.readonly = 1
        buffer.itemsize = 1
        buffer.format = NULL  # unsigned bytes, as PyBuffer_FillInfo exports bytes
        if flags & PyBUF_FORMAT:
            buffer.format = _UNSIGNED_BYTE
        buffer.ndim = 1
        buffer.shape = NULL
        if flags & PyBUF_ND:
            buffer.shape = &self.size
        buffer.strides = NULL
        if (flags & PyBUF_STRIDES) == PyBUF_STRIDES:
            buffer.strides = &buffer.itemsize
        buffer.suboffsets = NULL
        buffer.internal = NULL

    # no __releasebuffer__: nothing to undo (the slot stays NULL, so releasing the
    # buffer is only the decref of ``buffer.obj``, no call)

    def __len__(self):
        return self.size if self.blob is not None else 0

    def __repr__(self):
        return f"<fbacache codec payload of {self.size if self.blob is not None else 0} bytes>"


cdef extern from *:
    """
    #define FBA_REFCNT(o) Py_REFCNT(o)

    /* How the reader calls ``loads`` (see "The call of loads" above). */
    typedef PyObject *(*fba_fastkw)(PyObject *, PyObject *const *, Py_ssize_t, PyObject *);
    typedef struct { fba_fastkw meth; PyObject *self; vectorcallfunc vf; } fba_callee;

    static void fba_callee_init(fba_callee *c, PyObject *f) {
        c->meth = NULL; c->self = NULL; c->vf = NULL;
        if (PyCFunction_CheckExact(f)
                && PyCFunction_GET_FLAGS(f) == (METH_FASTCALL | METH_KEYWORDS)) {
            c->meth = (fba_fastkw)(void (*)(void))PyCFunction_GET_FUNCTION(f);
            c->self = PyCFunction_GET_SELF(f);  /* borrowed: f, held by the reader, holds it */
        } else {
            c->vf = PyVectorcall_Function(f);
        }
    }

    /* f(arg), f being the callable c was made from: a new reference, or NULL with an
       exception set. */
    static inline PyObject *fba_callee_call1(fba_callee *c, PyObject *f, PyObject *arg) {
        PyObject *res;
        if (c->meth != NULL)
            return c->meth(c->self, &arg, 1, NULL);
        if (c->vf != NULL) {
            res = c->vf(f, &arg, 1, NULL);
            if (res == NULL && !PyErr_Occurred())
                PyErr_SetString(PyExc_SystemError, "loads returned NULL without an exception");
            return res;
        }
        return PyObject_CallOneArg(f, arg);
    }

    static PyMethodDef fba_reader_get_def = {
        "get", NULL, METH_FASTCALL | METH_KEYWORDS,
        "get($self, key, default=None)\\n--\\n\\n"
        "The value read for ``key`` (see ``fbacache._core.Reader``), or ``default``."};

    static PyObject *fba_reader_method(PyObject *reader, void *fn) {
        fba_reader_get_def.ml_meth = (PyCFunction)(void (*)(void))fn;
        return PyCFunction_NewEx(&fba_reader_get_def, reader, NULL);
    }
    """
    Py_ssize_t FBA_REFCNT(object o)
    ctypedef struct fba_callee:
        pass
    void fba_callee_init(fba_callee* c, object f)
    object fba_callee_call1(fba_callee* c, object f, object arg)
    object fba_reader_method(object reader, void* fn)
    enum:
        PyBUF_WRITABLE
        PyBUF_FORMAT
        PyBUF_ND
        PyBUF_STRIDES


@cython.final
cdef class Reader:
    """``read(key, default=None)``: a codec's ``get`` over a store in one C call
    (see ``_reader_py.Reader``): a raw frame's payload goes straight to ``loads``.

    ``Reader(source, loads, limit, timed, fallback, sample=16, buffers=False,
    stats=None)``; ``source`` is a :class:`Store` (read with a C call) or any
    ``fetch(key, default)`` callable (a backend's ``get``); ``sample`` is a power of
    two (else ``ValueError``).
    """

    cdef fba_vectorcall vcall  # see "the call slots" in _store.pxi
    cdef Store store           # None when reading through ``fetch``
    cdef object fetch
    cdef readonly object loads, timed, fallback, stats
    cdef fba_callee callee   # how loads is called (see fba_callee_call1)
    cdef readonly bint buffers
    cdef Py_ssize_t limit
    cdef size_t ticks, mask
    cdef bint reuse          # keep a spare _Payload (builds with the GIL)
    cdef _Payload spare      # None while lent out (or before the first read)

    def __cinit__(self, *args, **kwargs):
        self.vcall = <fba_vectorcall>_reader_vcall

    def __init__(self, source, loads, Py_ssize_t limit, timed, fallback, size_t sample=16,
                 bint buffers=False, stats=None):
        if sample == 0 or sample & (sample - 1):
            raise ValueError(f"sample must be a power of two, not {sample}")
        if isinstance(source, Store):
            self.store = <Store>source
        elif callable(source):
            self.fetch = source
        else:
            raise TypeError(f"a Reader reads a Store or a fetch(key, default) callable, "
                            f"not {type(source).__name__}")
        self.loads = loads
        fba_callee_init(&self.callee, loads)
        self.limit = limit
        self.timed = timed
        self.fallback = fallback
        self.mask = sample - 1
        self.buffers = buffers
        self.stats = stats
        self.reuse = bool(getattr(_sys, "_is_gil_enabled", lambda: True)())

    def __call__(self, key, default=None):
        return _read(self, key, default)

    @property
    def method(self):
        """This reader as a builtin method: ``reader.method(key, default)`` is
        ``reader(key, default)``; ``reader.method.__self__`` is the reader."""
        return fba_reader_method(self, <void*>_reader_vcall)


def _read_args(key, default=None):
    """The argument list of ``Reader.__call__``, parsed for calls with keywords."""
    return key, default


cdef object _reader_vcall(object self, PyObject** args, size_t nargsf, PyObject* kwnames):
    cdef Py_ssize_t n = PyVectorcall_NARGS(nargsf)
    if kwnames == NULL:
        if n == 1:
            return _read(<Reader>self, <object>args[0], None)
        if n == 2:
            return _read(<Reader>self, <object>args[0], <object>args[1])
    key, default = PyObject_Vectorcall(_read_args, args, nargsf, kwnames)  # raises TypeError
    return _read(<Reader>self, key, default)


cdef inline double _seconds() noexcept:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


cdef inline object _load(Reader r, object payload):
    r.ticks += 1
    if r.ticks & r.mask:
        return fba_callee_call1(&r.callee, r.loads, payload)
    if r.stats is None:
        return r.timed(payload)
    return _timed_load(r, payload)


cdef object _timed_load(Reader r, object payload):
    cdef double t0 = _seconds()
    value = r.loads(payload)
    cdef double spent = (_seconds() - t0) * <double>(r.mask + 1)
    r.stats.deserialization_s += spent
    return value


cdef object _load_lent(Reader r, object blob, Py_ssize_t n):
    # loads of a _Payload over ``blob`` (see the top of this file)
    cdef _Payload view = r.spare
    if view is None:
        view = _Payload.__new__(_Payload)
    else:
        r.spare = None  # lent out: a re-entrant read makes its own
    view.blob = blob
    view.size = n - 1
    try:
        return _load(r, view)
    finally:
        if FBA_REFCNT(view) == 1:  # nobody kept it: unpin the blob, keep it for the next read
            view.blob = None
            if r.reuse:
                r.spare = view


cdef object _read(Reader r, object key, object default):
    cdef object blob
    if r.store is not None:
        blob = r.store._get(key, _MISSING)
    else:
        blob = r.fetch(key, _MISSING)
    if blob is _MISSING:
        return default
    cdef Py_ssize_t n
    if type(blob) is bytes:
        n = PyBytes_GET_SIZE(blob)
        if 0 < n <= r.limit and PyBytes_AS_STRING(blob)[0] == 0:  # a raw frame
            try:
                if r.buffers:
                    return _load_lent(r, blob, n)
                return _load(r, PyBytes_FromStringAndSize(PyBytes_AS_STRING(blob) + 1, n - 1))
            except Exception:
                pass  # unreadable: the fallback decides (and counts it)
    return r.fallback(key, blob, default)


cdef int _install_reader_vectorcall() except -1:
    # The field's offset in the instance, measured on a blank instance.
    cdef Reader r = Reader.__new__(Reader)
    fba_set_vectorcall(Reader, <char*>&r.vcall - <char*><void*>r)
    return 0

_install_reader_vectorcall()


# ---------------------------------------------------------------------- batches
def load_frames(frames, loads, Py_ssize_t limit, bint buffers=False):
    """``(values, rest)`` of a batch ``{key: frame}`` (see ``_reader_py.load_frames``)."""
    cdef dict src = frames if type(frames) is dict else dict(frames)
    cdef dict out = {}
    cdef list rest = []
    cdef _Payload view = None
    cdef Py_ssize_t n
    for key, frame in src.items():
        if type(frame) is bytes:
            n = PyBytes_GET_SIZE(frame)
            if 0 < n <= limit and PyBytes_AS_STRING(frame)[0] == 0:  # a raw frame
                try:
                    if buffers:
                        if view is None:
                            view = _Payload.__new__(_Payload)
                        view.blob = frame
                        view.size = n - 1
                        try:
                            out[key] = loads(view)
                        finally:
                            if FBA_REFCNT(view) == 1:
                                view.blob = None  # reusable for the next frame
                            else:
                                view = None  # kept by loads: it keeps its frame
                    else:
                        out[key] = loads(PyBytes_FromStringAndSize(PyBytes_AS_STRING(frame) + 1,
                                                                   n - 1))
                    continue
                except Exception:
                    pass  # unreadable: left to the caller (who counts it)
        rest.append((key, frame))
    return out, rest


def strip_marker(keys, raws, int marker=0):
    """``(items, misses, rest)`` of zipped ``keys``/``raws`` (see ``_reader_py.strip_marker``)."""
    cdef dict out = {}
    cdef list rest = []
    cdef Py_ssize_t misses = 0, n
    for key, raw in zip(keys, raws):
        if raw is None:
            misses += 1
            continue
        if type(raw) is bytes:
            n = PyBytes_GET_SIZE(raw)
            if n and <unsigned char>PyBytes_AS_STRING(raw)[0] == marker:
                out[key] = PyBytes_FromStringAndSize(PyBytes_AS_STRING(raw) + 1, n - 1)
                continue
        rest.append((key, raw))
    return out, misses, rest


# ---------------------------------------------------------------------- keyword calls
@cython.final
cdef class KeywordCall:
    """``KeywordCall(func, **keywords)(arg)`` is ``func(arg, **keywords)``, passed by
    vectorcall with the keywords' names (see ``_reader_py.KeywordCall``): no dict is
    built per call, as ``functools.partial`` with keywords builds one."""

    cdef fba_vectorcall vcall  # see "the call slots" in _store.pxi
    cdef readonly object func
    cdef tuple names, values
    cdef Py_ssize_t n

    def __cinit__(self, *args, **kwargs):
        self.vcall = <fba_vectorcall>_keyword_vcall

    def __init__(self, func, **keywords):
        if len(keywords) > 7:
            raise ValueError("at most 7 keywords")
        self.func = func
        self.names = tuple(keywords)
        self.values = tuple(keywords.values())
        self.n = len(keywords)

    @property
    def keywords(self):
        """The fixed keywords, as a new dict."""
        return dict(zip(self.names, self.values))

    def __call__(self, *args, **kwargs):
        return self.func(*args, **self.keywords, **kwargs)

    def __repr__(self):
        return f"KeywordCall({self.func!r}, **{self.keywords!r})"


cdef object _keyword_vcall(object self, PyObject** args, size_t nargsf, PyObject* kwnames):
    cdef KeywordCall c = <KeywordCall>self
    cdef PyObject* stack[8]
    cdef Py_ssize_t i
    if kwnames != NULL or PyVectorcall_NARGS(nargsf) != 1:
        return _keyword_slow(c, args, nargsf, kwnames)
    stack[0] = args[0]
    if c.n == 0:
        return PyObject_Vectorcall(c.func, stack, 1, NULL)  # no names: NULL, not ()
    for i in range(c.n):
        stack[i + 1] = <PyObject*>(<tuple>c.values)[i]
    return PyObject_Vectorcall(c.func, stack, 1, <PyObject*>c.names)


cdef object _keyword_slow(KeywordCall c, PyObject** args, size_t nargsf, PyObject* kwnames):
    # any other call: as functools.partial would make it (a duplicate keyword: TypeError)
    cdef Py_ssize_t n = PyVectorcall_NARGS(nargsf), i
    positional = [<object>args[i] for i in range(n)]
    extra = {}
    if kwnames != NULL:
        names = <tuple>kwnames
        extra = {names[i]: <object>args[n + i] for i in range(len(names))}
    return c.func(*positional, **c.keywords, **extra)


cdef int _install_keyword_vectorcall() except -1:
    cdef KeywordCall k = KeywordCall.__new__(KeywordCall)
    fba_set_vectorcall(KeywordCall, <char*>&k.vcall - <char*><void*>k)
    return 0

_install_keyword_vectorcall()
