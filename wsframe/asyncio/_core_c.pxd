# Cython's declarations for _core.py compiled as wsframe.asyncio._core_c (see _core.py's module doc):
# the per-message state of WebSocket as C fields, still readable and writable from Python.

from wsframe._connection_core_c cimport ConnectionCore


cdef class WebSocketCore:
    cdef public ConnectionCore connection  # also makes this module import the compiled connection core
    cdef public object transport
    cdef public object _read_buffer
    cdef public object _on_message
    cdef public object _messages
    cdef public object _queued_bytes
    cdef public object _sent_close
    cdef public object _write_batch
