# Buffer access shared by the native hot path: the same errors as wsframe/_fallback/buffers.py.
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE


cdef int get_contiguous_buffer(object obj, Py_buffer *view) except -1:
    """Acquires obj's raw bytes (PyBUF_SIMPLE); the caller releases view with PyBuffer_Release."""
    try:
        PyObject_GetBuffer(obj, view, PyBUF_SIMPLE)
    except (TypeError, BufferError):
        raise TypeError(f"expected a contiguous bytes-like object, not {type(obj).__name__}") from None
    return 0
