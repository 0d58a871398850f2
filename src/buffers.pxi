# Buffer access shared by the native hot path: the same errors as wsframe/_fallback/buffers.py.
from cpython.buffer cimport PyBuffer_Release, PyBUF_SIMPLE
from cpython.exc cimport PyErr_Clear, PyErr_ExceptionMatches

cdef extern from "Python.h":
    # No exception spec: the caller inspects the error itself, so that the success path (every call
    # of the hot path) does not pay for the exception-state save a try block costs.
    int get_buffer_or_fail "PyObject_GetBuffer"(object obj, Py_buffer *view, int flags) noexcept


cdef int get_contiguous_buffer(object obj, Py_buffer *view) except -1:
    """Acquires obj's raw bytes (PyBUF_SIMPLE); the caller releases view with PyBuffer_Release."""
    if get_buffer_or_fail(obj, view, PyBUF_SIMPLE) == 0:
        return 0
    if PyErr_ExceptionMatches(TypeError) or PyErr_ExceptionMatches(BufferError):
        PyErr_Clear()
        raise TypeError(f"expected a contiguous bytes-like object, not {type(obj).__name__}")
    return -1
