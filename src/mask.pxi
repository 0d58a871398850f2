# XOR (un)masking, RFC 6455 section 5.3: the Python API over the kernels in mask.h.
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.long cimport PyLong_AsLongAndOverflow
from libc.string cimport memcpy

cdef extern from "mask.h":
    ctypedef struct wsf_mask_kernel:
        const char *name
    const wsf_mask_kernel wsf_mask_kernels[]
    const int WSF_MASK_KERNEL_COUNT
    const wsf_mask_kernel *wsf_mask_active
    int wsf_mask_kernel_available(int index) noexcept
    int wsf_mask_use(const char *name) noexcept
    void wsf_mask_init() noexcept
    void wsf_mask(unsigned char *dst, const unsigned char *src, Py_ssize_t n, const unsigned char *key,
                  int phase) noexcept nogil

cdef extern from *:
    """
    /* With the GIL, nothing can resize a bytearray while C code runs without calling back into Python,
     * so its pointer may be borrowed without a buffer export; free-threaded builds must export it. */
    #ifdef Py_GIL_DISABLED
    #define WSF_BORROW_BYTEARRAY 0
    #else
    #define WSF_BORROW_BYTEARRAY 1
    #endif
    """
    const bint WSF_BORROW_BYTEARRAY

wsf_mask_init()


cdef inline int read_mask_key(object key, unsigned char *out) except -1:
    """Copies the 4-byte mask key into out; the contract's TypeError / ValueError otherwise."""
    cdef Py_buffer view
    cdef Py_ssize_t length
    if type(key) is bytes:
        length = PyBytes_GET_SIZE(key)
        if length == 4:
            memcpy(out, PyBytes_AS_STRING(key), 4)
            return 0
    else:
        get_contiguous_buffer(key, &view)
        length = view.len
        if length == 4:
            memcpy(out, view.buf, 4)
        PyBuffer_Release(&view)
        if length == 4:
            return 0
    raise ValueError(f"mask key must be 4 bytes, not {length}")


cdef inline int read_mask_phase(object phase) except -1:
    """The phase as a C int 0..3; the contract's ValueError otherwise."""
    cdef int overflow = 0
    cdef long value
    # CPython's small ints are singletons: an identity test finds the usual phases without a conversion.
    if phase is 0:
        return 0
    if phase is 1:
        return 1
    if phase is 2:
        return 2
    if phase is 3:
        return 3
    if isinstance(phase, int):
        value = PyLong_AsLongAndOverflow(phase, &overflow)
        if overflow == 0 and 0 <= value <= 3:
            return <int>value
    raise ValueError(f"mask phase must be 0..3, not {phase}")


cdef bytes masked_copy(const unsigned char *src, Py_ssize_t n, object key, object phase):
    """A new bytes object of src[0:n] masked: one pass, the kernel writes straight into the result."""
    cdef unsigned char key_bytes[4]
    read_mask_key(key, key_bytes)
    cdef int phase_value = read_mask_phase(phase)
    cdef bytes result = PyBytes_FromStringAndSize(NULL, n)
    wsf_mask(<unsigned char *>PyBytes_AS_STRING(result), src, n, key_bytes, phase_value)
    return result


def mask(data, key, phase=0):
    """Returns data XOR-masked with the 4-byte key as new bytes: ``out[i] = data[i] ^ key[(phase + i) % 4]``.

    Masking and unmasking are the same operation. ``phase`` (0..3) is the number of payload bytes
    before data, mod 4, so a payload can be masked in pieces.
    """
    cdef Py_buffer view
    if type(data) is bytes:  # immutable: no buffer export needed to keep the pointer valid
        return masked_copy(<const unsigned char *>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), key, phase)
    get_contiguous_buffer(data, &view)
    try:
        return masked_copy(<const unsigned char *>view.buf, view.len, key, phase)
    finally:
        PyBuffer_Release(&view)


def mask_inplace(buffer, key, phase=0):
    """XOR-masks the writable bytes-like buffer in place with the 4-byte key; see :func:`mask`."""
    cdef Py_buffer view
    cdef unsigned char key_bytes[4]
    cdef int phase_value
    if WSF_BORROW_BYTEARRAY and type(buffer) is bytearray:
        # Key and phase first: reading a key may run Python code, which could resize the bytearray.
        read_mask_key(key, key_bytes)
        phase_value = read_mask_phase(phase)
        wsf_mask(<unsigned char *>PyByteArray_AS_STRING(buffer), <const unsigned char *>PyByteArray_AS_STRING(buffer),
                 PyByteArray_GET_SIZE(buffer), key_bytes, phase_value)
        return
    get_contiguous_buffer(buffer, &view)
    try:
        if view.readonly:
            raise TypeError(f"mask_inplace needs a writable buffer, not {type(buffer).__name__}")
        read_mask_key(key, key_bytes)
        phase_value = read_mask_phase(phase)
        wsf_mask(<unsigned char *>view.buf, <const unsigned char *>view.buf, view.len, key_bytes, phase_value)
    finally:
        PyBuffer_Release(&view)


def _mask_kernels():
    """Names of the masking kernels this CPU can run, slowest first (test hook)."""
    return [wsf_mask_kernels[i].name.decode() for i in range(WSF_MASK_KERNEL_COUNT) if wsf_mask_kernel_available(i)]


def _mask_kernel():
    """Name of the active masking kernel (test hook)."""
    return wsf_mask_active.name.decode()


def _use_mask_kernel(str name):
    """Makes the named masking kernel active; ValueError if this CPU cannot run it (test hook)."""
    if wsf_mask_use(name.encode()) != 0:
        raise ValueError(f"mask kernel {name!r} is not available on this CPU")
