# Cython's declarations for _connection_core.py compiled as wsframe._connection_core_c (see its module
# doc): the state every read tests, as C fields, still readable and writable from Python.

cdef class ConnectionCore:
    cdef public object _state
    cdef public object _events
    cdef public object _unparsed
    cdef public object _input_closed
    cdef public object _eof
    cdef public object _decoder
