# cython: language_level=3, boundscheck=False, wraparound=True
"""The compiled walker of ``metrics``: :func:`walk`, the twin of ``tally._walk_py``.

``fba/tally.py`` selects it (or the pure-Python twin, its reference) and owns everything but
the loop: it opens the top directory, builds the name tests and turns the figures into a
``Tally``. This module imports nothing from fbacache, so ``metrics`` loads no core.

What the C loop does that the twin does through ``os.scandir``: each directory is read with
``fdopendir``/``readdir``; the type comes from ``d_type`` (``DT_UNKNOWN``: ``fstatat`` with
``AT_SYMLINK_NOFOLLOW``, as ``DirEntry.is_file`` does); only entries and special files are
``fstatat``-ed, relative to their directory's descriptor; every sub-directory is opened
relative to its parent's descriptor with ``O_NOFOLLOW``, so a directory renamed, or swapped
for a symlink, after its parent was listed cannot lead the walk out of the tree. A file name
becomes a ``str`` (``PyUnicode_DecodeFSDefault``: what ``os.fsdecode`` and ``scandir`` give)
only to be matched; the counters stay C integers; no ``DirEntry`` or ``stat_result`` is made.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize

__all__ = ["walk"]

cdef extern from *:
    """
    #include <dirent.h>
    #include <errno.h>
    #include <fcntl.h>
    #include <string.h>
    #include <sys/stat.h>
    #include <unistd.h>
    #ifndef O_CLOEXEC
    #define O_CLOEXEC 0
    #endif
    /* the nanoseconds of st_mtime, where CPython's os.stat reads them (posixmodule.c) */
    #if defined(__APPLE__)
    #define FBA_MTIME_NSEC(st) ((long)(st).st_mtimespec.tv_nsec)
    #else
    #define FBA_MTIME_NSEC(st) ((long)(st).st_mtim.tv_nsec)
    #endif
    #define FBA_SUBDIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    """
    ctypedef struct DIR:
        pass
    struct dirent:
        unsigned char d_type
        char d_name[1]
    struct stat_t "stat":
        unsigned int st_mode
        long long st_size
        long long st_mtime
    int DT_UNKNOWN, DT_REG, DT_DIR, DT_LNK
    int AT_SYMLINK_NOFOLLOW, FBA_SUBDIR_FLAGS
    int ENOENT, ENOTDIR, ELOOP, EINTR
    int errno
    long FBA_MTIME_NSEC(stat_t st)
    bint S_ISREG(unsigned int mode)
    bint S_ISDIR(unsigned int mode)
    bint S_ISLNK(unsigned int mode)
    DIR *fdopendir(int fd)
    dirent *readdir(DIR *d)
    int closedir(DIR *d)
    int openat(int dirfd, const char *path, int flags)
    int fstatat(int dirfd, const char *path, stat_t *buf, int flags)
    int dup(int fd)
    int close(int fd)
    size_t strlen(const char *s)

cdef extern from "Python.h":
    object PyUnicode_DecodeFSDefaultAndSize(const char *s, Py_ssize_t size)
    Py_ssize_t PyUnicode_Tailmatch(object s, object substr, Py_ssize_t start, Py_ssize_t end,
                                   int direction) except -1
    object PyErr_SetFromErrnoWithFilenameObject(object exc, object filename)


cdef inline int _lstat_at(int fd, const char *name, stat_t *st):
    """``fstatat(fd, name, AT_SYMLINK_NOFOLLOW)``, retried on EINTR as ``os`` does."""
    cdef int rc
    while True:
        rc = fstatat(fd, name, st, AT_SYMLINK_NOFOLLOW)
        if rc == 0 or errno != EINTR:
            return rc


cdef inline int _open_at(int fd, const char *name):
    cdef int rc
    while True:
        rc = openat(fd, name, FBA_SUBDIR_FLAGS)
        if rc >= 0 or errno != EINTR:
            return rc


cdef int _raise(int err, object path) except -1:
    """Raise the ``OSError`` of ``err`` (saved: building ``path`` may change errno)."""
    global errno
    errno = err
    PyErr_SetFromErrnoWithFilenameObject(OSError, path)
    return -1


cdef inline object _decode(const char *cname):
    return PyUnicode_DecodeFSDefaultAndSize(cname, strlen(cname))


cdef inline object _join(str parent, str name):
    # os.path.join(parent, name) for a name without "/" (a directory entry's name)
    if parent.endswith("/"):
        return parent + name
    return parent + "/" + name


cdef inline double _mtime(long long sec, long nsec):
    # st_mtime exactly as CPython builds it (posixmodule.c fill_time), so every age and the
    # expiry test see the same double as the twin's DirEntry.stat().st_mtime
    return <double>sec + nsec * 1e-9


cdef class _Walk:
    """The counters and tests of one :func:`walk` (C fields: no Python object per file)."""

    cdef object fast, other, skip, results_dirs, shielded, ends
    cdef bint check_age
    cdef double ttl, now
    cdef Py_ssize_t entries, expired, others, links, special
    cdef long long size, old_s, new_s
    cdef long old_ns, new_ns

    cdef int entry(self, object name, stat_t *st) except -1:
        cdef long long sec = st.st_mtime
        cdef long ns = FBA_MTIME_NSEC(st[0])
        cdef double mt
        self.entries += 1
        self.size += st.st_size
        if self.entries == 1 or sec < self.old_s or (sec == self.old_s and ns < self.old_ns):
            self.old_s, self.old_ns = sec, ns
        if self.entries == 1 or sec > self.new_s or (sec == self.new_s and ns > self.new_ns):
            self.new_s, self.new_ns = sec, ns
        if self.check_age:
            mt = _mtime(sec, ns)
            if self.now - mt > self.ttl and not self.is_shielded(name):
                self.expired += 1
        return 0

    cdef bint is_shielded(self, object name) except -1:
        """A protected entry that this run keeps however old (tally's ``keep_protected``)."""
        if self.shielded is None:
            return False
        for end in self.ends:
            if PyUnicode_Tailmatch(name, end, 0, len(name), 1):
                return self.shielded(name) is not None
        return False

    cdef list listing(self, int fd, str path):
        """Count the files of the directory open as ``fd`` (the descriptor stays open);
        returns its sub-directories to enter, as ``(name as bytes, path)``."""
        cdef int dfd = dup(fd)
        cdef DIR *d
        cdef dirent *e
        cdef stat_t st
        cdef const char *cname
        cdef unsigned int mode
        cdef bint have_stat
        cdef int kind, err
        cdef list subdirs = []
        global errno
        if dfd < 0:
            _raise(errno, path)
        d = fdopendir(dfd)
        if d == NULL:
            err = errno
            close(dfd)
            _raise(err, path)
        try:
            while True:
                errno = 0
                e = readdir(d)
                if e == NULL:
                    if errno != 0:
                        _raise(errno, path)
                    break
                cname = e.d_name
                if cname[0] == b"." and (cname[1] == 0 or (cname[1] == b"." and cname[2] == 0)):
                    continue
                kind = e.d_type
                have_stat = False
                if kind == DT_UNKNOWN:
                    # what DirEntry.is_file() does then; vanished since the listing: skipped
                    if _lstat_at(fd, cname, &st) != 0:
                        err = errno
                        if err == ENOENT:
                            continue
                        _raise(err, _join(path, _decode(cname)))
                    have_stat = True
                    mode = st.st_mode
                    kind = (DT_REG if S_ISREG(mode) else DT_DIR if S_ISDIR(mode)
                            else DT_LNK if S_ISLNK(mode) else -1)
                if kind == DT_REG:
                    name = _decode(cname)
                    if self.fast(name) is None:
                        if self.other(name):
                            self.others += 1
                        continue
                    if not have_stat and _lstat_at(fd, cname, &st) != 0:
                        err = errno
                        _raise(err, _join(path, name))
                    self.entry(name, &st)
                elif kind == DT_DIR:
                    if cname[0] == b".":
                        continue
                    name = _decode(cname)
                    if name in self.results_dirs:
                        continue
                    sub = _join(path, name)
                    if self.skip and self.skip(sub):
                        continue
                    subdirs.append((PyBytes_FromStringAndSize(cname, strlen(cname)), sub))
                elif kind == DT_LNK:
                    self.links += 1
                else:
                    # a FIFO would block whoever opens it: count it, never open it
                    if not have_stat and _lstat_at(fd, cname, &st) != 0:
                        err = errno
                        if err == ENOENT:
                            continue
                        _raise(err, _join(path, _decode(cname)))
                    self.special += 1
        finally:
            closedir(d)
        return subdirs


def walk(int top_fd, str top, fast, other, skip, results_dirs, ttl, double now, shielded,
         tuple ends):
    """Count the tree below the directory open as ``top_fd`` (named ``top``; left open).

    ``fast(name)`` is not ``None`` for an entry (a non-hidden regular file the type's
    pattern takes); ``other(name)`` says whether any other regular file counts as other;
    ``skip(path)`` whether a sub-directory (``os.path.join`` of the names) is not entered
    (``None``: none skipped); ``results_dirs`` the names never entered; entries older than
    ``ttl`` seconds at ``now`` are expired (``ttl`` ``None``: none) unless ``shielded(name)``
    matches a name ending in one of ``ends``.

    Returns ``(entries, size, expired, other, symlinks, special, oldest, newest)``, the
    mtimes ``None`` without entries.

    Raises:
        OSError: a directory cannot be opened or read, an entry vanished before its
            ``lstat`` (the exception names the path).
    """
    cdef _Walk w = _Walk()
    cdef list frames = []
    cdef list pending
    cdef int fd = top_fd
    cdef int parent, err
    cdef str path = top
    cdef bytes cname
    w.fast, w.other, w.skip, w.results_dirs = fast, other, skip, results_dirs
    w.shielded, w.ends = shielded, ends
    w.check_age = ttl is not None
    w.ttl = 0.0 if ttl is None else ttl
    w.now = now
    try:
        frames.append((fd, path, w.listing(fd, path)))
        while frames:
            parent, path, pending = frames[-1]
            if not pending:
                frames.pop()
                if parent != top_fd:
                    close(parent)
                continue
            cname, path = pending.pop()
            fd = _open_at(parent, PyBytes_AS_STRING(cname))
            if fd < 0:
                err = errno
                if err == ENOENT or err == ENOTDIR or err == ELOOP:
                    continue  # gone, or no longer a directory, since its parent was listed
                _raise(err, path)
            frames.append((fd, path, None))  # closed by the finally below if listing fails
            frames[-1] = (fd, path, w.listing(fd, path))
    finally:
        for parent, _, _ in frames:
            if parent != top_fd:
                close(parent)
    if w.entries == 0:
        oldest = newest = None
    else:
        oldest, newest = _mtime(w.old_s, w.old_ns), _mtime(w.new_s, w.new_ns)
    return w.entries, w.size, w.expired, w.others, w.links, w.special, oldest, newest
