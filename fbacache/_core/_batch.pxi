# A batch of stored replies loaded in one C call (included at the end of ``_index_c.pyx``).
#
# Same names and behaviour as the reference twin ``_batch_py.py`` (read its docstrings for the
# semantics). The replies are classified in one pass over the reply list; with ``msgpack`` the
# size fields of each loadable payload are walked in C (``fba_msgpack_extent``, no object
# built) and the payloads holding exactly one object are copied once, back to back after an
# array header, into the one buffer that ``loads`` reads.
from libc.string cimport memcmp, memcpy

BATCH_MAX = 1 << 20  # see _batch_py.BATCH_MAX

cdef extern from *:
    """
    /* 1 if p[0:n] is exactly one whole msgpack object by its size fields (see
       _batch_py.msgpack_extent, the reference), else 0. */
    static int fba_msgpack_extent(const unsigned char *p, Py_ssize_t n) {
        Py_ssize_t pos = 0;
        unsigned long long pending = 1, len;
        unsigned char b;
        int width;
        while (pending) {
            if (pending > (unsigned long long)(n - pos)) return 0;  /* >= 1 byte each */
            b = p[pos++];
            pending--;
            if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) continue;
            if (b <= 0x8f) { pending += 2u * (b & 0x0f); continue; }     /* fixmap */
            if (b <= 0x9f) { pending += b & 0x0f; continue; }            /* fixarray */
            if (b <= 0xbf) { len = b & 0x1f; goto skip; }                 /* fixstr */
            switch (b) {
            case 0xcc: case 0xd0: len = 1; goto skip;
            case 0xcd: case 0xd1: len = 2; goto skip;
            case 0xca: case 0xce: case 0xd2: len = 4; goto skip;
            case 0xcb: case 0xcf: case 0xd3: len = 8; goto skip;
            case 0xd4: len = 2; goto skip;   /* fixext: type byte + data */
            case 0xd5: len = 3; goto skip;
            case 0xd6: len = 5; goto skip;
            case 0xd7: len = 9; goto skip;
            case 0xd8: len = 17; goto skip;
            case 0xc4: case 0xc7: case 0xd9: width = 1; break;
            case 0xc5: case 0xc8: case 0xda: case 0xdc: case 0xde: width = 2; break;
            case 0xc6: case 0xc9: case 0xdb: case 0xdd: case 0xdf: width = 4; break;
            default: return 0;  /* 0xc1 */
            }
            if (n - pos < width) return 0;
            len = 0;
            for (int i = 0; i < width; i++) len = (len << 8) | p[pos + i];
            pos += width;
            if (b == 0xdc || b == 0xdd) { pending += len; continue; }          /* array */
            if (b == 0xde || b == 0xdf) { pending += 2 * len; continue; }      /* map */
            if (b == 0xc7 || b == 0xc8 || b == 0xc9) len += 1;  /* ext: its type byte */
        skip:
            if (len > (unsigned long long)(n - pos)) return 0;
            pos += (Py_ssize_t)len;
        }
        return pos == n;
    }
    """
    int fba_msgpack_extent(const unsigned char* p, Py_ssize_t n) noexcept


def msgpack_extent(bytes data not None, Py_ssize_t start, Py_ssize_t end):
    """True if ``data[start:end]`` is exactly one whole msgpack object
    (see ``_batch_py.msgpack_extent``)."""
    if start < 0 or end > PyBytes_GET_SIZE(data) or start > end:
        raise ValueError("start and end must lie within data")
    return fba_msgpack_extent(<const unsigned char*>PyBytes_AS_STRING(data) + start,
                              end - start) == 1


@cython.boundscheck(True)  # loads runs Python code between the reads of ks/rs: checked
def load_replies(keys, replies, bytes head not None, Py_ssize_t limit, loads,
                 bint msgpack=False):
    """``(values, misses, rest)`` of a batch of replies (see ``_batch_py.load_replies``)."""
    cdef list ks = keys if type(keys) is list else list(keys)
    cdef list rs = replies if type(replies) is list else list(replies)
    cdef Py_ssize_t count = min(len(ks), len(rs))
    cdef Py_ssize_t h = PyBytes_GET_SIZE(head), i, j, n, misses = 0, nload
    cdef const char* hp = PyBytes_AS_STRING(head)
    cdef dict out = {}
    cdef list rest = []
    cdef list loadable = []  # positions in ks/rs of the loadable replies
    cdef object raw
    for i in range(count):
        raw = rs[i]
        if raw is None:
            misses += 1
            continue
        if type(raw) is bytes:
            n = PyBytes_GET_SIZE(raw) - h
            if 0 < n <= limit and memcmp(PyBytes_AS_STRING(raw), hp, h) == 0:
                loadable.append(i)
                continue
        rest.append((ks[i], raw))
    nload = len(loadable)
    # with msgpack: whole[j] is 1 for the payloads read by the one call, values their values
    cdef bytearray whole = bytearray(nload)
    cdef unsigned char* w = whole
    cdef object values = None
    if msgpack and nload >= 2:
        values = _load_batch(rs, loadable, h, loads, w)
    cdef list failed = []
    cdef Py_ssize_t k = 0
    for j in range(nload):
        i = <Py_ssize_t>loadable[j]
        if values is not None and w[j]:
            out[ks[i]] = values[k]
            k += 1
            continue
        raw = rs[i]
        try:
            out[ks[i]] = loads(PyBytes_FromStringAndSize(PyBytes_AS_STRING(raw) + h,
                                                         PyBytes_GET_SIZE(raw) - h))
        except Exception:
            failed.append((ks[i], raw))
    if failed:
        rest.extend(failed)
    return out, misses, rest


@cython.boundscheck(True)
cdef object _load_batch(list rs, list loadable, Py_ssize_t h, loads, unsigned char* whole):
    # the values of the payloads that hold one whole object (marked in ``whole``), from one
    # loads call over them, in order; None if there is no such call or it fails
    cdef Py_ssize_t j, n, total = 0, pos, nload = len(loadable), nwhole = 0
    cdef object raw
    for j in range(nload):
        raw = rs[<Py_ssize_t>loadable[j]]
        n = PyBytes_GET_SIZE(raw) - h
        if fba_msgpack_extent(<const unsigned char*>PyBytes_AS_STRING(raw) + h, n):
            whole[j] = 1
            total += n
            nwhole += 1
    if nwhole < 2 or total > BATCH_MAX:
        return None
    cdef Py_ssize_t hdr = 1 if nwhole <= 15 else (3 if nwhole <= 0xffff else 5)
    cdef bytes data = PyBytes_FromStringAndSize(NULL, hdr + total)
    cdef unsigned char* dst = <unsigned char*>PyBytes_AS_STRING(data)
    if hdr == 1:
        dst[0] = 0x90 | nwhole
    elif hdr == 3:
        dst[0] = 0xdc
        dst[1] = (nwhole >> 8) & 0xff
        dst[2] = nwhole & 0xff
    else:
        dst[0] = 0xdd
        dst[1] = (nwhole >> 24) & 0xff
        dst[2] = (nwhole >> 16) & 0xff
        dst[3] = (nwhole >> 8) & 0xff
        dst[4] = nwhole & 0xff
    pos = hdr
    for j in range(nload):
        if whole[j]:
            raw = rs[<Py_ssize_t>loadable[j]]
            n = PyBytes_GET_SIZE(raw) - h
            memcpy(dst + pos, PyBytes_AS_STRING(raw) + h, n)
            pos += n
    try:
        values = loads(data)
    except Exception:
        return None
    if (type(values) is not list and type(values) is not tuple) or len(values) != nwhole:
        return None
    return values


cdef extern from *:
    """
    #define FBA_ASCII(o) (PyUnicode_IS_COMPACT_ASCII(o))
    """
    bint FBA_ASCII(object o)
    void* PyUnicode_DATA(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)


def prefix_keys(bytes head not None, keys, encode):
    """``head`` + each ASCII str key, ``encode(key)`` for any other key, as a list (see
    ``_batch_py.prefix_keys``)."""
    cdef list out = []
    cdef Py_ssize_t h = PyBytes_GET_SIZE(head), n
    cdef bytes rkey
    for key in keys:
        if type(key) is str and FBA_ASCII(key):
            n = PyUnicode_GET_LENGTH(key)
            rkey = PyBytes_FromStringAndSize(NULL, h + n)
            memcpy(PyBytes_AS_STRING(rkey), PyBytes_AS_STRING(head), h)
            memcpy(PyBytes_AS_STRING(rkey) + h, PyUnicode_DATA(key), n)
            out.append(rkey)
        else:
            out.append(encode(key))
    return out
