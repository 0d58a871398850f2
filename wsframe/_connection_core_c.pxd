# Cython's declarations for _connection_core.py compiled as wsframe._connection_core_c (see its module
# doc): the state every read tests, as C fields, still readable and writable from Python. The asyncio
# layer's compiled core (wsframe/asyncio/_core_c.pxd) cimports this type, to call receive_messages and
# read frame_encoder and deflate_parameters without a look-up by name.

cdef class ConnectionCore:
    cdef public object _state
    cdef public object _events
    cdef public object _unparsed
    cdef public object _input_closed
    cdef public object _eof
    cdef public object _decoder
    cdef public object frame_encoder
    cdef public object deflate_parameters

    cpdef receive_messages(self, data)
