# UTF-8 validation: see utf8.h for the kernels.
cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.string cimport memset

from wsframe.errors import InvalidUTF8


cdef extern from "utf8.h":
    ctypedef struct wsf_utf8_state:
        pass
    Py_ssize_t wsf_utf8_feed(wsf_utf8_state *st, const unsigned char *p, Py_ssize_t n) nogil
    int wsf_utf8_complete(const wsf_utf8_state *st) nogil
    void wsf_utf8_init()
    int wsf_utf8_use_kernel(int k)
    int WSF_UTF8_KERNEL_COUNT
    const char *wsf_utf8_kernel_names[]
    int wsf_utf8_kernel_available[]
    int wsf_utf8_kernel

wsf_utf8_init()


cdef inline Py_ssize_t utf8_feed_object(wsf_utf8_state *st, object data, Py_ssize_t *length) except -2:
    """Feeds data's raw bytes to st: -1 if valid so far, else the index of the first invalid byte."""
    cdef Py_buffer view
    cdef Py_ssize_t bad
    if type(data) is bytes:
        length[0] = PyBytes_GET_SIZE(data)
        return wsf_utf8_feed(st, <const unsigned char *>PyBytes_AS_STRING(data), length[0])
    get_contiguous_buffer(data, &view)
    length[0] = view.len
    bad = wsf_utf8_feed(st, <const unsigned char *>view.buf, view.len)
    PyBuffer_Release(&view)
    return bad


cdef class Utf8Validator:
    """Validates a UTF-8 stream fed in pieces; fails fast at the first byte that can never be valid."""

    cdef wsf_utf8_state _state
    cdef Py_ssize_t _bytes_fed
    cdef object _error  # (message, offset) once the stream is invalid

    @property
    def bytes_fed(self):
        """Bytes fed since creation or the last reset, including a feed that failed."""
        return self._bytes_fed

    def reset(self):
        """Starts over with an empty stream."""
        with cython.critical_section(self):  # free-threaded builds: feed and reset never interleave
            memset(&self._state, 0, sizeof(self._state))
            self._bytes_fed = 0
            self._error = None

    def feed(self, data, bint final=False):
        """Validates the next piece of the stream.

        Returns True if everything fed so far is valid and ends on a character boundary, False if it is
        valid so far but ends inside a multi-byte sequence. Raises InvalidUTF8 (offset absolute in the
        stream) at the first invalid byte, or with ``final`` for a stream ending inside a sequence; once
        failed, every later feed raises the same error until :meth:`reset`.
        """
        with cython.critical_section(self):
            return self.feed_locked(data, final)

    cdef bint feed_locked(self, object data, bint final) except -1:
        cdef Py_ssize_t length, offset
        if self._error is not None:
            raise InvalidUTF8(*self._error)
        cdef Py_ssize_t bad = utf8_feed_object(&self._state, data, &length)
        self._bytes_fed += length
        if bad < 0:
            if wsf_utf8_complete(&self._state):
                return True
            if not final:
                return False
            offset = self._bytes_fed
            self._error = (f"truncated UTF-8 sequence at byte {offset}", offset)
        else:
            offset = self._bytes_fed - length + bad
            self._error = (f"invalid UTF-8 at byte {offset}", offset)
        raise InvalidUTF8(*self._error)


def validate_utf8(data):
    """Raises InvalidUTF8 unless data is complete, valid UTF-8: ``Utf8Validator().feed(data, final=True)``."""
    cdef wsf_utf8_state state
    cdef Py_ssize_t length
    memset(&state, 0, sizeof(state))
    cdef Py_ssize_t bad = utf8_feed_object(&state, data, &length)
    if bad >= 0:
        raise InvalidUTF8(f"invalid UTF-8 at byte {bad}", bad)
    if not wsf_utf8_complete(&state):
        raise InvalidUTF8(f"truncated UTF-8 sequence at byte {length}", length)


def _utf8_kernels():
    """Names of the UTF-8 kernels this CPU runs (test hook)."""
    return [wsf_utf8_kernel_names[k].decode() for k in range(WSF_UTF8_KERNEL_COUNT) if wsf_utf8_kernel_available[k]]


def _utf8_kernel():
    """Name of the active UTF-8 kernel (test hook)."""
    return wsf_utf8_kernel_names[wsf_utf8_kernel].decode()


def _use_utf8_kernel(name):
    """Makes the named UTF-8 kernel the active one (test hook); ValueError if this CPU lacks it."""
    for k in range(WSF_UTF8_KERNEL_COUNT):
        if wsf_utf8_kernel_names[k].decode() == name and wsf_utf8_use_kernel(k):
            return
    raise ValueError(f"UTF-8 kernel {name!r} is not available")
