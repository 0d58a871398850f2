# Frame header coding and the batch frame decoder, RFC 6455 section 5.2.
# wsframe/_fallback/framing.py is the readable reference: same results, same errors in the same order.
cimport cython
from cpython.mem cimport PyMem_Free, PyMem_Realloc
from cpython.pyport cimport PY_SSIZE_T_MAX
from cpython.unicode cimport PyUnicode_AsUTF8String, PyUnicode_DecodeUTF8
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.number cimport PyNumber_Index
from cpython.ref cimport Py_DECREF, Py_INCREF, Py_XDECREF, PyObject
from cpython.list cimport PyList_GET_ITEM
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_New, PyTuple_SET_ITEM
from libc.stdint cimport uint64_t, uintptr_t
from libc.string cimport memcpy, memset

from os import urandom

from wsframe.errors import InvalidUTF8, MessageTooBig, ProtocolError

cdef extern from "mask.h":
    void wsf_mask(unsigned char *dst, const unsigned char *src, Py_ssize_t n, const unsigned char key[4], int phase) nogil

cdef extern from "utf8.h":
    ctypedef struct wsf_utf8_state:
        pass
    Py_ssize_t wsf_utf8_feed(wsf_utf8_state *st, const unsigned char *p, Py_ssize_t n) nogil
    int wsf_utf8_complete(const wsf_utf8_state *st) nogil

cdef extern from "Python.h":
    long long PyLong_AsLongLongAndOverflow(object value, int *overflow) except? -1
    int _PyBytes_Resize(PyObject **bytes, Py_ssize_t size) except -1  # realloc of an unshared bytes object
    void PyObject_GC_UnTrack(object op)

cdef extern from *:
    """
    /* cls((first, second)) for a tuple subclass cls, without running Python code: what tuple.__new__
       does for a subclass. first and second are atomic (str, bytes, bool): without a __dict__ the pair
       cannot be part of a reference cycle, so it is not tracked by the GC, as the GC untracks such exact
       tuples (which spares a collection every few hundred messages). A subclass laid out as a tuple is
       allocated untracked and unzeroed (both items are set at once); others through tp_alloc, which
       zero-fills the extra fields and tracks the object. */
    static PyObject *wsf_new_pair(PyObject *cls, PyObject *first, PyObject *second) {
        PyTypeObject *type = (PyTypeObject *)cls;
        int has_dict = type->tp_dictoffset != 0
    #ifdef Py_TPFLAGS_MANAGED_DICT
            || (type->tp_flags & Py_TPFLAGS_MANAGED_DICT)
    #endif
            ;
        int tuple_layout = !has_dict && type->tp_alloc == PyType_GenericAlloc
            && type->tp_basicsize == PyTuple_Type.tp_basicsize && type->tp_itemsize == PyTuple_Type.tp_itemsize;
        PyObject *pair = tuple_layout ? (PyObject *)PyObject_GC_NewVar(PyTupleObject, type, 2) : type->tp_alloc(type, 2);
        if (pair == NULL)
            return NULL;
    #if PY_VERSION_HEX >= 0x030E0000
        ((PyTupleObject *)pair)->ob_hash = -1;  /* 3.14+ caches tuple hashes: mark it "not computed" */
    #endif
        Py_INCREF(first);
        PyTuple_SET_ITEM(pair, 0, first);
        Py_INCREF(second);
        PyTuple_SET_ITEM(pair, 1, second);
        if (!tuple_layout && !has_dict)
            PyObject_GC_UnTrack(pair);
        return pair;
    }
    """
    object wsf_new_pair(object cls, object first, object second)

cdef extern from *:
    """
    /* The str of UTF-8 text already checked (wsf_utf8_feed, wsf_utf8_complete). CPython's decoder checks
       it again and widens its output as wider characters come; here the largest lead byte gives the
       width at once (no overlong forms: leads C4-EF start U+0100-U+FFFF, F0-F4 U+10000 and up). */
    static PyObject *wsf_decode_checked_utf8(const unsigned char *s, Py_ssize_t n) {
        Py_ssize_t i, j = 0, count = 0;
        unsigned char top = 0;
        for (i = 0; i < n; i++) {
            count += (s[i] & 0xC0) != 0x80;
            top = s[i] > top ? s[i] : top;
        }
        if (top < 0xC4)  /* ASCII or Latin-1: CPython's decoder has fast paths for these */
            return PyUnicode_DecodeUTF8((const char *)s, n, NULL);
        PyObject *str = PyUnicode_New(count, top < 0xF0 ? 0xFFFF : 0x10FFFF);
        if (str == NULL)
            return NULL;
        int kind = PyUnicode_KIND(str);
        void *data = PyUnicode_DATA(str);
        for (i = 0; i < n; j++) {
            unsigned int c = s[i];
            Py_UCS4 ch;
            if (c < 0x80) {
                ch = c;
                i += 1;
            } else if (c < 0xE0) {
                ch = ((c & 0x1F) << 6) | (s[i + 1] & 0x3F);
                i += 2;
            } else if (c < 0xF0) {
                ch = ((c & 0x0F) << 12) | ((s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F);
                i += 3;
            } else {
                ch = ((c & 0x07) << 18) | ((s[i + 1] & 0x3F) << 12) | ((s[i + 2] & 0x3F) << 6) | (s[i + 3] & 0x3F);
                i += 4;
            }
            PyUnicode_WRITE(kind, data, j, ch);
        }
        return str;
    }
    """
    object wsf_decode_checked_utf8(const unsigned char *s, Py_ssize_t n)

cdef extern from *:
    """
    static int wsf_is_ascii(const unsigned char *p, Py_ssize_t n) {
        uint64_t any = 0, word;
        Py_ssize_t i = 0;
        for (; i + 8 <= n; i += 8) {
            memcpy(&word, p + i, 8);
            any |= word;
        }
        for (; i < n; i++)
            any |= p[i];
        return (any & 0x8080808080808080ULL) == 0;
    }

    /* The str of a text payload of n bytes at src, unmasked with key (NULL: not masked): ASCII is unmasked
       straight into the str; other text is decoded by CPython's strict UTF-8 decoder, which accepts
       exactly what RFC 3629 allows. Returns 1 with the new reference in *text; 0, no exception set, when
       the payload is not UTF-8 (the caller's general path locates the error); -1 with an exception. */
    static int wsf_text_payload(const unsigned char *src, Py_ssize_t n, const unsigned char *key, PyObject **text) {
        PyObject *ascii = PyUnicode_New(n, 127);
        if (ascii == NULL)
            return -1;
        if (n == 0) {  /* the shared empty str: nothing to write */
            *text = ascii;
            return 1;
        }
        unsigned char *data = PyUnicode_1BYTE_DATA(ascii);
        if (key != NULL)
            wsf_mask(data, src, n, key, 0);
        else
            memcpy(data, src, n);
        if (wsf_is_ascii(data, n)) {
            *text = ascii;
            return 1;
        }
        *text = PyUnicode_DecodeUTF8((const char *)data, n, NULL);
        Py_DECREF(ascii);
        if (*text != NULL)
            return 1;
        if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError))
            return -1;
        PyErr_Clear();
        return 0;
    }
    """
    int wsf_text_payload(const unsigned char *src, Py_ssize_t n, const unsigned char *key, PyObject **text) except -1

cdef enum:
    RESERVED_OPCODES = 0xF8F8  # bit n set: opcode n is reserved (3-7, 11-15)
    EXPECT_EITHER = -1  # expect_mask=None
    ASSEMBLY_KEPT = 65536  # a reassembly buffer up to this size is kept for the next message
    GROWTH_START = 65536  # a payload buffer's first size when its frame announces more than arrived
    GROWTH_AHEAD = 4  # a growing buffer takes up to this many times the bytes received so far
    HOLD_MAX = 8  # pieces of a frame's payload kept uncopied before its buffer is allocated


# Opcodes and rsv values as Python ints, to build frame tuples without conversions.
cdef tuple SMALL_INTS = tuple(range(16))


cdef struct frame_header:
    bint fin
    int rsv
    int opcode
    uint64_t length
    bint masked
    unsigned char key[4]
    Py_ssize_t header_length


cdef long long int_argument(object value, long long high, str name) except? -1:
    """value (an int or an __index__ object) if it is in 0..high, else ValueError(f"invalid {name} {value}")."""
    cdef int overflow
    cdef long long result = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow or result < 0 or result > high:
        raise ValueError(f"invalid {name} {PyNumber_Index(value)}")
    return result


cdef int limit_argument(object value, str name, uint64_t *limit) except -1:
    """Stores a size limit in limit: None (no limit) and limits past sys.maxsize become sys.maxsize, the
    most bytes a buffer can hold, so that every length and total within the limit fits a Py_ssize_t."""
    if value is None:
        limit[0] = PY_SSIZE_T_MAX
        return 0
    value = PyNumber_Index(value)
    if value < 0:
        raise ValueError(f"{name} must be None or >= 0, not {value}")
    limit[0] = <uint64_t>value if value < PY_SSIZE_T_MAX else PY_SSIZE_T_MAX
    return 0


cdef object message_types_argument(object messages):
    """The pair (text_type, bytes_type), or None. A type is accepted when tuple.__new__ may build it
    (Python's own safety check): tuple subclasses of another C layout, like time.struct_time, are not."""
    if messages is None:
        return None
    if type(messages) is tuple and len(messages) == 2 and all(
            isinstance(cls, type) and issubclass(cls, tuple) for cls in messages):
        try:
            for cls in messages:
                tuple.__new__(cls, ())
            return messages
        except TypeError:
            pass
    raise TypeError(f"messages must be None or a pair of tuple subclasses, not {messages!r}")


cdef inline Py_ssize_t grown_capacity(Py_ssize_t capacity, Py_ssize_t needed, Py_ssize_t most) noexcept nogil:
    """A buffer size for needed bytes: doubling from GROWTH_START, or GROWTH_AHEAD times needed when that
    is more (fewer reallocations, each of which may copy, for a big frame arriving in reads), but never
    past most (the end the peer announced), so memory follows the bytes received, not the lengths announced."""
    cdef Py_ssize_t grown
    if capacity < GROWTH_START // 2:
        grown = GROWTH_START
    elif capacity > PY_SSIZE_T_MAX // 2:
        grown = PY_SSIZE_T_MAX
    else:
        grown = capacity * 2
    if needed <= PY_SSIZE_T_MAX // GROWTH_AHEAD and grown < needed * GROWTH_AHEAD:
        grown = needed * GROWTH_AHEAD
    if grown > most:
        grown = most
    return needed if grown < needed else grown


cdef inline int expect_mask_argument(object expect_mask) except -2:
    if expect_mask is None:
        return EXPECT_EITHER
    return 1 if expect_mask else 0


cdef bint get_mask_key(object mask_key, unsigned char key[4]) except -1:
    """Copies the 4-byte mask_key into key; False when mask_key is None."""
    cdef Py_buffer view
    if mask_key is None:
        return False
    if PyBytes_CheckExact(mask_key) and PyBytes_GET_SIZE(mask_key) == 4:
        memcpy(key, PyBytes_AS_STRING(mask_key), 4)
        return True
    get_contiguous_buffer(mask_key, &view)
    try:
        if view.len != 4:
            raise ValueError(f"mask key must be 4 bytes, not {view.len}")
        memcpy(key, view.buf, 4)
    finally:
        PyBuffer_Release(&view)
    return True


cdef inline int first_byte(object opcode, bint fin, object rsv) except -1:
    """FIN, RSV1-3 and opcode as the header's first byte, after checking the argument ranges."""
    cdef int op = <int>int_argument(opcode, 15, "opcode")
    cdef int bits = <int>int_argument(rsv, 7, "rsv")
    return (0x80 if fin else 0) | bits << 4 | op


cdef inline Py_ssize_t header_size(uint64_t length, bint masked) noexcept nogil:
    return (2 if length < 126 else 4 if length < 65536 else 10) + (4 if masked else 0)


cdef inline void write_header(unsigned char *out, int first, uint64_t length, const unsigned char *key) noexcept nogil:
    """Writes the header_size(length, key != NULL) bytes of the header with the minimal length encoding."""
    cdef int i, mask_bit = 0x80 if key != NULL else 0
    out[0] = <unsigned char>first
    if length < 126:
        out[1] = <unsigned char>(mask_bit | length)
        out += 2
    elif length < 65536:
        out[1] = <unsigned char>(mask_bit | 126)
        out[2] = <unsigned char>(length >> 8)
        out[3] = <unsigned char>length
        out += 4
    else:
        out[1] = <unsigned char>(mask_bit | 127)
        for i in range(8):
            out[2 + i] = <unsigned char>(length >> (56 - 8 * i))
        out += 10
    if key != NULL:
        memcpy(out, key, 4)


cdef inline void write_frame(unsigned char *out, int first, const unsigned char *payload, Py_ssize_t n,
                             const unsigned char *key) noexcept nogil:
    """Writes the header and the payload (masked with key unless it is NULL): header_size(n, ...) + n bytes."""
    cdef Py_ssize_t header_length = header_size(<uint64_t>n, key != NULL)
    write_header(out, first, <uint64_t>n, key)
    if key != NULL:
        wsf_mask(out + header_length, payload, n, key, 0)
    else:
        memcpy(out + header_length, payload, n)


def encode_header(opcode, length, *, bint fin=True, rsv=0, mask_key=None):
    """The header of a frame with a payload of ``length`` bytes (masked when ``mask_key`` is given)."""
    cdef unsigned char key[4]
    cdef int first = first_byte(opcode, fin, rsv)
    cdef uint64_t n = <uint64_t>int_argument(length, 0x7FFFFFFFFFFFFFFF, "payload length")
    cdef bint masked = get_mask_key(mask_key, key)
    header = PyBytes_FromStringAndSize(NULL, header_size(n, masked))
    write_header(<unsigned char *>PyBytes_AS_STRING(header), first, n, key if masked else NULL)
    return header


cdef bytes build_frame(int first, const unsigned char *payload, Py_ssize_t n, object mask_key):
    cdef unsigned char key[4]
    cdef bint masked = get_mask_key(mask_key, key)
    cdef Py_ssize_t header_length = header_size(<uint64_t>n, masked)
    frame = PyBytes_FromStringAndSize(NULL, header_length + n)
    write_frame(<unsigned char *>PyBytes_AS_STRING(frame), first, payload, n, key if masked else NULL)
    return frame


def encode_frame(opcode, payload, *, bint fin=True, rsv=0, mask_key=None):
    """A whole frame, header and payload (masked with ``mask_key`` if given), as one bytes object."""
    cdef Py_buffer view
    cdef int first = first_byte(opcode, fin, rsv)
    if PyBytes_CheckExact(payload):
        return build_frame(first, <const unsigned char *>PyBytes_AS_STRING(payload), PyBytes_GET_SIZE(payload),
                           mask_key)
    get_contiguous_buffer(payload, &view)
    try:
        return build_frame(first, <const unsigned char *>view.buf, view.len, mask_key)
    finally:
        PyBuffer_Release(&view)


cdef extern from "Python.h":
    int PyUnicode_IS_ASCII(object text)
    const char *PyUnicode_DATA_AS_CHARS "(const char *)PyUnicode_DATA"(object text)
    Py_ssize_t PyUnicode_GET_LENGTH(object text)


cdef enum:
    MASK_POOL_SIZE = 4096  # random bytes drawn per os.urandom call: 1024 mask keys


cdef class FrameEncoder:
    """Builds whole data frames (FIN set, no rsv bits) in one call per message: the fast path for the
    messages of a connection that neither fragments nor compresses.

    ``mask``: True on a client: every frame gets a fresh key from the OS CSPRNG (RFC 6455 section 10.3),
    drawn in batches so that a small frame does not cost a system call.
    """

    cdef bint masked
    cdef bytes pool  # random bytes from os.urandom; keys are taken from its end
    cdef Py_ssize_t pool_left

    def __init__(self, *, bint mask):
        self.masked = mask
        self.pool = None
        self.pool_left = 0

    cdef int next_key(self, unsigned char key[4]) except -1:
        """Copies the next unused key of the pool into key (a copy: a refill frees the old pool)."""
        with cython.critical_section(self):  # free-threaded builds: no key is handed out twice
            if self.pool_left == 0:
                self.pool = urandom(MASK_POOL_SIZE)
                self.pool_left = MASK_POOL_SIZE
            self.pool_left -= 4
            memcpy(key, PyBytes_AS_STRING(self.pool) + self.pool_left, 4)
        return 0

    cdef bytes frame(self, int first, const unsigned char *payload, Py_ssize_t n):
        cdef unsigned char key[4]
        cdef Py_ssize_t header_length = header_size(<uint64_t>n, self.masked)
        if self.masked:
            self.next_key(key)
        frame = PyBytes_FromStringAndSize(NULL, header_length + n)
        write_frame(<unsigned char *>PyBytes_AS_STRING(frame), first, payload, n, key if self.masked else NULL)
        return frame

    def __reduce__(self):
        # A copy would hand out the same unused keys as this encoder: masks must not repeat.
        raise TypeError(f"cannot pickle or copy a {type(self).__name__}: its mask keys must not be shared")

    def mask_key(self):
        """A fresh mask key (4 bytes) from the same source, for the frames built elsewhere."""
        cdef unsigned char key[4]
        self.next_key(key)
        return PyBytes_FromStringAndSize(<char *>key, 4)

    def text(self, text):
        """The frame of a whole text message: ``text`` (a str) encoded as UTF-8."""
        if not isinstance(text, str):
            raise TypeError(f"text must be str, not {type(text).__name__}")
        if PyUnicode_IS_ASCII(text):  # the str's own bytes are its UTF-8: no encoded copy
            return self.frame(0x81, <const unsigned char *>PyUnicode_DATA_AS_CHARS(text), PyUnicode_GET_LENGTH(text))
        data = PyUnicode_AsUTF8String(text)
        return self.frame(0x81, <const unsigned char *>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))

    def binary(self, data):
        """The frame of a whole binary message: ``data``, any contiguous bytes-like object."""
        cdef Py_buffer view
        if PyBytes_CheckExact(data):
            return self.frame(0x82, <const unsigned char *>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
        get_contiguous_buffer(data, &view)
        try:
            return self.frame(0x82, <const unsigned char *>view.buf, view.len)
        finally:
            PyBuffer_Release(&view)

    def binary_into(self, buffer, data):
        """Writes the frame of a whole binary message ``data`` at the start of the writable ``buffer`` and
        returns its length (at most ``len(data) + 14``). ValueError, the buffer unchanged, when the frame
        does not fit."""
        cdef Py_buffer out, view
        get_contiguous_buffer(buffer, &out)  # exported from here on: a bytearray cannot be resized
        try:
            if out.readonly:
                raise TypeError(f"binary_into needs a writable buffer, not {type(buffer).__name__}")
            get_contiguous_buffer(data, &view)
            try:
                return self.frame_into(<unsigned char *>out.buf, out.len, <const unsigned char *>view.buf, view.len)
            finally:
                PyBuffer_Release(&view)
        finally:
            PyBuffer_Release(&out)

    cdef Py_ssize_t frame_into(self, unsigned char *out, Py_ssize_t room, const unsigned char *payload,
                               Py_ssize_t n) except -1:
        cdef unsigned char key[4]
        cdef Py_ssize_t header_length = header_size(<uint64_t>n, self.masked)
        # No overflow: n is a buffer's length and header_length at most 14, so their sum fits in size_t.
        if <size_t>header_length + <size_t>n > <size_t>room:
            raise ValueError(f"a frame of {header_length + n} bytes does not fit in a buffer of {room} bytes")
        if <uintptr_t>payload < <uintptr_t>(out + header_length + n) and <uintptr_t>out < <uintptr_t>(payload + n):
            # The payload lies in the buffer itself: the header would overwrite it before it is read.
            copy = PyBytes_FromStringAndSize(<const char *>payload, n)
            return self.frame_into(out, room, <const unsigned char *>PyBytes_AS_STRING(copy), n)
        if self.masked:
            self.next_key(key)
        write_frame(out, 0x82, payload, n, key if self.masked else NULL)
        return header_length + n


cdef int header_error(str message) except -1:
    raise ProtocolError(message)


cdef inline Py_ssize_t parse_header(const unsigned char *p, Py_ssize_t available, int expect_mask,
                                    int allowed_rsv, frame_header *h) except -1:
    """0 when p starts with a complete valid header (then in h), else the count of bytes still missing.

    Raises ProtocolError for an invalid header, the checks in the contract's order.
    """
    cdef unsigned int length7, disallowed
    cdef uint64_t length
    cdef int i
    if available < 2:
        return 2 - available
    h.fin = p[0] >> 7
    h.rsv = (p[0] >> 4) & 7
    h.opcode = p[0] & 0x0F
    h.masked = p[1] >> 7
    length7 = p[1] & 0x7F
    if (RESERVED_OPCODES >> h.opcode) & 1:
        header_error(f"reserved opcode {h.opcode}")
    disallowed = h.rsv & ~allowed_rsv
    if disallowed:
        header_error(f"reserved bits set: RSV{1 if disallowed & 4 else 2 if disallowed & 2 else 3}")
    if h.opcode >= 8:
        if not h.fin:
            header_error("fragmented control frame")
        if length7 > 125:
            header_error("control frame payload over 125 bytes")
    if expect_mask != EXPECT_EITHER and h.masked != expect_mask:
        header_error("unmasked frame from a client" if expect_mask else "masked frame from a server")
    h.header_length = 2 + (2 if length7 == 126 else 8 if length7 == 127 else 0) + (4 if h.masked else 0)
    if available < h.header_length:
        return h.header_length - available
    if length7 < 126:
        h.length = length7
    elif length7 == 126:
        h.length = (<uint64_t>p[2] << 8) | p[3]
        if h.length < 126:
            header_error("payload length not minimally encoded")
    else:
        length = 0
        for i in range(8):
            length = (length << 8) | p[2 + i]
        if length >> 63:
            header_error("payload length over 2**63-1")
        if length < 65536:
            header_error("payload length not minimally encoded")
        h.length = length
    if h.masked:
        memcpy(h.key, p + h.header_length - 4, 4)
    return 0


def decode_header(data, offset=0, *, expect_mask=None, allowed_rsv=0):
    """Parses the frame header at ``data[offset]``.

    Returns ``(fin, rsv, opcode, payload_length, mask_key, header_length)``, or the number of bytes still
    missing (an int > 0) when the header is incomplete. Raises ProtocolError for an invalid header.
    """
    cdef Py_buffer view
    cdef frame_header h
    cdef Py_ssize_t missing
    cdef int overflow
    cdef long long start
    get_contiguous_buffer(data, &view)
    try:
        start = PyLong_AsLongLongAndOverflow(offset, &overflow)
        if overflow or start < 0 or start > view.len:
            raise ValueError(f"offset {PyNumber_Index(offset)} out of range")
        missing = parse_header(<const unsigned char *>view.buf + start, view.len - <Py_ssize_t>start,
                               expect_mask_argument(expect_mask), <int>int_argument(allowed_rsv, 7, "allowed_rsv"), &h)
    finally:
        PyBuffer_Release(&view)
    if missing:
        return missing
    key = PyBytes_FromStringAndSize(<char *>h.key, 4) if h.masked else None
    return (h.fin, h.rsv, h.opcode, h.length, key, h.header_length)


cdef inline int append_frame(list frames, int opcode, bint fin, int rsv, object payload) except -1:
    """Appends the frame tuple (opcode, fin, rsv, payload), built from cached objects."""
    frame = PyTuple_New(4)
    item = <object>PyTuple_GET_ITEM(SMALL_INTS, opcode)
    Py_INCREF(item)
    PyTuple_SET_ITEM(frame, 0, item)
    item = True if fin else False
    Py_INCREF(item)
    PyTuple_SET_ITEM(frame, 1, item)
    item = <object>PyTuple_GET_ITEM(SMALL_INTS, rsv)
    Py_INCREF(item)
    PyTuple_SET_ITEM(frame, 2, item)
    Py_INCREF(payload)
    PyTuple_SET_ITEM(frame, 3, payload)
    PyObject_GC_UnTrack(frame)  # it holds no containers: the garbage collector has nothing to look for
    frames.append(frame)
    return 0


cdef class FrameDecoder:
    """Decodes every complete frame of each chunk of a byte stream: header checks, unmasking,
    message sequencing, size limits and UTF-8 validation of text messages.

    ``expect_mask``: True on a server (frames must be masked), False on a client, None for either.
    ``allowed_rsv``: the RSV bits that negotiated extensions allow (4 = RSV1).
    ``max_frame_size`` / ``max_message_size``: limits in payload bytes, None for no limit.
    ``stream``: emit data frames piece by piece as their bytes arrive instead of whole.
    ``messages``: None, or a pair ``(text_type, bytes_type)`` of tuple subclasses for message mode
    (ignored with ``stream``): each data message whose frames all have rsv 0 is emitted, once its final
    frame is in, as ONE item ``text_type((text: str, True))`` or ``bytes_type((payload: bytes, True))``
    instead of its frames (reassembled in the decoder, bounded by ``max_message_size``); control frames,
    also between fragments, and the frames of messages with rsv bits on their first frame stay
    ``(opcode, fin, rsv, payload)`` tuples, every item in the order its last byte arrived. A
    continuation frame with rsv bits in a message being reassembled ends the reassembly: what came
    before is emitted as one non-final frame tuple ``(opcode, False, 0, payload so far)``, then the
    message goes on as frame tuples. ``last_frame_count`` is the number of frame tuples (not messages)
    in the last ``decode`` result.
    """

    cdef int expect_mask  # 1, 0 or EXPECT_EITHER
    cdef int allowed_rsv
    cdef uint64_t max_frame_size  # at most PY_SSIZE_T_MAX (None is that)
    cdef uint64_t max_message_size
    cdef bint stream
    cdef object error  # the ProtocolError that ended the stream, or None
    cdef object failure  # any other exception that escaped decode(): raised again by every later call
    cdef bint busy  # inside decode(): a call from Python code run there (GC callback, thread) is refused
    cdef bint message_mode
    cdef object text_type  # message mode: the tuple subclasses of the emitted messages
    cdef object bytes_type
    cdef Py_ssize_t frame_count  # frame tuples in the last decode result
    cdef Py_ssize_t consumed  # bytes of its input the last decode used
    # The frame in progress: between its header and the end of its payload.
    cdef bint in_frame
    cdef bint fin
    cdef int rsv
    cdef int opcode
    cdef uint64_t remaining  # payload bytes still to come
    cdef bint masked
    cdef unsigned char key[4]
    cdef int phase  # payload bytes received so far, modulo 4
    # Whole-frame mode: an unshared bytes object (owned reference) holding the payload received so far,
    # resized as bytes arrive up to the frame's length; NULL until the first payload byte.
    cdef PyObject *payload
    cdef Py_ssize_t payload_capacity
    cdef Py_ssize_t filled
    # Whole-frame mode, before the payload buffer exists: the frame's first pieces, still masked, as the
    # bytes objects holding them (the caller's reads, not copied) and where in each they are.
    cdef list held
    cdef Py_ssize_t held_start[HOLD_MAX]
    cdef Py_ssize_t held_size[HOLD_MAX]
    cdef int held_count
    cdef bint piece_sent  # stream mode: a piece of this frame was emitted
    cdef bint validate  # this frame's payload is text to validate
    cdef bint into_assembly  # message mode: this frame's payload goes to the reassembly buffer
    # The data message in progress.
    cdef bint in_message  # a non-final data frame was received: continuations must follow
    cdef bint compressed  # RSV1 on its first frame
    cdef bint text  # uncompressed text: validated as UTF-8
    cdef int message_opcode  # its first frame's opcode
    cdef bint assembling  # message mode: it is emitted as one message item
    cdef unsigned char *assembly  # message mode: its payload so far (except a single binary frame's)
    cdef Py_ssize_t assembly_size
    cdef Py_ssize_t assembly_capacity
    cdef uint64_t message_size  # payload bytes announced so far (at most max_message_size)
    cdef Py_ssize_t text_size  # payload bytes validated so far
    cdef wsf_utf8_state utf8

    def __init__(self, *, expect_mask, allowed_rsv=0, max_frame_size=None, max_message_size=None, stream=False,
                 messages=None):
        # Every argument is checked before any state changes: a failed call leaves the decoder as it was.
        cdef int checked_expect_mask = expect_mask_argument(expect_mask)
        cdef int checked_allowed_rsv = <int>int_argument(allowed_rsv, 7, "allowed_rsv")
        cdef uint64_t checked_max_frame_size, checked_max_message_size
        limit_argument(max_frame_size, "max_frame_size", &checked_max_frame_size)
        limit_argument(max_message_size, "max_message_size", &checked_max_message_size)
        cdef bint checked_stream = stream
        message_types = message_types_argument(messages)
        with cython.critical_section(self):
            if self.busy:
                raise RuntimeError("FrameDecoder.__init__() called during decode()")
            self.clear()
            self.expect_mask = checked_expect_mask
            self.allowed_rsv = checked_allowed_rsv
            self.max_frame_size = checked_max_frame_size
            self.max_message_size = checked_max_message_size
            self.stream = checked_stream
            self.message_mode = message_types is not None and not checked_stream
            self.text_type, self.bytes_type = message_types if message_types is not None else (None, None)

    cdef void clear(self) noexcept:
        """Back to a fresh decoder: no frame, no message, no error, no buffers."""
        Py_XDECREF(self.payload)
        self.payload = NULL
        self.payload_capacity = 0
        self.filled = 0
        self.held = None
        self.held_count = 0
        PyMem_Free(self.assembly)
        self.assembly = NULL
        self.assembly_size = 0
        self.assembly_capacity = 0
        self.error = None
        self.failure = None
        self.frame_count = 0
        self.in_frame = False
        self.remaining = 0
        self.in_message = False
        self.assembling = False
        self.into_assembly = False
        self.message_size = 0
        self.text_size = 0
        memset(&self.utf8, 0, sizeof(wsf_utf8_state))

    def __dealloc__(self):
        Py_XDECREF(self.payload)
        PyMem_Free(self.assembly)

    @property
    def last_frame_count(self):
        """The number of frame tuples (not message objects) in the last ``decode`` result."""
        return self.frame_count

    def decode(self, data):
        """Decodes the frames in ``data`` (bytes-like) that complete in it.

        Returns ``(frames, consumed, error)``: frames as ``(opcode, fin, rsv, payload)`` tuples; consumed,
        the bytes of data used (the rest, a partial header, must be passed again with more data); error,
        None or the ProtocolError that ended the stream (then consumed counts the bytes before the frame
        that failed, and every later call returns ``([], 0, error)``). Any other exception (MemoryError)
        leaves the decoder failed: every later call raises it again.
        """
        return self.decode_buffer(data, False)

    def decode_messages(self, data):
        """``decode(data)`` shortened for the common read: the list of items alone when it holds no frame
        tuples (only message items, or nothing), no error, and every byte of data was consumed; else the
        tuple ``decode`` returns. Same state changes and exceptions as ``decode``."""
        return self.decode_buffer(data, True)

    cdef object decode_buffer(self, data, bint messages_only):
        cdef Py_buffer view
        if PyBytes_CheckExact(data):
            with cython.critical_section(self):  # free-threaded builds: one decode at a time per decoder
                return self.decode_result(data, <const unsigned char *>PyBytes_AS_STRING(data),
                                          PyBytes_GET_SIZE(data), messages_only)
        get_contiguous_buffer(data, &view)
        try:
            with cython.critical_section(self):
                return self.decode_result(None, <const unsigned char *>view.buf, view.len, messages_only)
        finally:
            PyBuffer_Release(&view)

    cdef object decode_result(self, object source, const unsigned char *data, Py_ssize_t end, bint messages_only):
        cdef list frames = self.decode_guarded(source, data, end)
        # Read before anything is allocated (a GC pass could run code that re-initialises the decoder).
        cdef Py_ssize_t consumed = self.consumed
        error = self.error  # the error that ended the stream, this call's or an earlier one: what it returns
        if messages_only and self.frame_count == 0 and error is None and consumed == end:
            return frames
        return frames, consumed, error

    cdef list decode_guarded(self, object source, const unsigned char *data, Py_ssize_t end):
        """decode_from, refusing re-entry and leaving the decoder failed after any unexpected exception.

        source: the bytes object data points into, or None when data is another buffer (which may change).
        """
        if self.failure is not None:
            raise self.failure.with_traceback(None)
        if self.busy:
            raise RuntimeError("FrameDecoder.decode() called during decode()")
        self.busy = True
        try:
            return self.decode_from(source, data, end)
        except BaseException as exc:
            self.failure = exc
            raise
        finally:
            self.busy = False

    cdef list decode_from(self, object source, const unsigned char *data, Py_ssize_t end):
        """The items decoded from data; sets consumed (and error, when one ends the stream)."""
        cdef frame_header h
        cdef Py_ssize_t pos = 0, frame_start = 0, size
        self.frame_count = 0
        if self.error is not None:
            self.consumed = 0
            return []
        cdef list frames = []
        try:
            while True:
                frame_start = pos
                if not self.in_frame:
                    if parse_header(data + pos, end - pos, self.expect_mask, self.allowed_rsv, &h):
                        break
                    if self.whole_message(&h, data + pos, end - pos, frames):
                        pos += h.header_length + <Py_ssize_t>h.length
                        continue
                    self.start_frame(&h, frames)
                    pos += h.header_length
                size = end - pos
                if <uint64_t>size > self.remaining:
                    size = <Py_ssize_t>self.remaining
                self.receive(source, data + pos, size, frames)
                pos += size
                if self.in_frame:  # the rest of the payload is in later data
                    break
        except ProtocolError as exc:
            self.error = exc
            self.consumed = frame_start
            return frames
        self.consumed = pos
        return frames

    cdef bint whole_message(self, frame_header *h, const unsigned char *frame, Py_ssize_t available,
                            list frames) except -1:
        """Message mode, a data message in one frame that is wholly in frame: its item is built straight
        from the input, leaving the decoder's state as it was between messages. False when the frame
        takes the general path instead (which also raises its errors: limits, invalid UTF-8)."""
        cdef PyObject *text
        cdef const unsigned char *src = frame + h.header_length
        cdef const unsigned char *key = h.key if h.masked else NULL
        cdef Py_ssize_t n
        if not (self.message_mode and h.fin and h.rsv == 0 and (h.opcode == 1 or h.opcode == 2)) or self.in_message:
            return False
        # available - header_length >= 0 (parse_header found the header whole), so the first test bounds n.
        if (h.length > <uint64_t>(available - h.header_length) or h.length > self.max_frame_size
                or h.length > self.max_message_size):
            return False
        n = <Py_ssize_t>h.length
        if h.opcode == 2:
            payload = PyBytes_FromStringAndSize(NULL, n)
            if n:
                if key != NULL:
                    wsf_mask(<unsigned char *>PyBytes_AS_STRING(payload), src, n, key, 0)
                else:
                    memcpy(PyBytes_AS_STRING(payload), src, n)
            frames.append(wsf_new_pair(self.bytes_type, payload, True))
            return True
        if not wsf_text_payload(src, n, key, &text):
            return False
        message = <object>text
        Py_DECREF(message)  # the reference wsf_text_payload returned; the local one remains
        frames.append(wsf_new_pair(self.text_type, message, True))
        return True

    cdef int start_frame(self, frame_header *h, list frames) except -1:
        """Checks a valid header against the message in progress and the limits, then starts the frame.

        Nothing is allocated here: buffers grow in receive() as the payload arrives.
        """
        cdef bint data_frame = h.opcode < 8
        cdef uint64_t total
        if data_frame:
            if h.opcode == 0 and not self.in_message:
                raise ProtocolError("continuation frame without a message to continue")
            if h.opcode != 0 and self.in_message:
                raise ProtocolError("new message started inside a fragmented message")
        if h.length > self.max_frame_size:
            raise MessageTooBig(f"frame of {h.length} bytes exceeds the limit of {self.max_frame_size} bytes")
        if data_frame:
            if h.opcode != 0:
                self.compressed = h.rsv & 4
                self.text = h.opcode == 1 and not self.compressed
                self.message_size = 0
                self.text_size = 0
                memset(&self.utf8, 0, sizeof(wsf_utf8_state))
                self.message_opcode = h.opcode
                self.assembling = self.message_mode and h.rsv == 0
                self.assembly_size = 0
            if not self.compressed:
                # No overflow: message_size <= PY_SSIZE_T_MAX, h.length is below 2**63.
                total = self.message_size + h.length
                if total > self.max_message_size:
                    raise MessageTooBig(
                        f"message of {total} bytes or more exceeds the limit of {self.max_message_size} bytes"
                    )
                self.message_size = total
            self.in_message = not h.fin
        self.in_frame = True
        self.fin = h.fin
        self.rsv = h.rsv
        self.opcode = h.opcode
        self.remaining = h.length
        self.masked = h.masked
        memcpy(self.key, h.key, 4)
        self.phase = 0
        self.piece_sent = False
        self.validate = data_frame and self.text
        self.filled = 0
        self.payload_capacity = 0
        # Message mode: a single binary frame is unmasked straight into its bytes object; text and
        # fragments go to the reassembly buffer.
        self.into_assembly = data_frame and self.assembling and not (h.opcode == 2 and h.fin)
        if self.into_assembly and h.rsv:
            self.end_assembly(frames)
        return 0

    cdef int reserve_payload(self, Py_ssize_t size) except -1:
        """Makes room for size more bytes in the frame's bytes object (whole-frame mode)."""
        # No overflow: filled + remaining is the frame's length, at most max_frame_size <= PY_SSIZE_T_MAX.
        cdef Py_ssize_t needed = self.filled + size
        cdef Py_ssize_t capacity
        if needed <= self.payload_capacity:
            return 0
        capacity = grown_capacity(self.payload_capacity, needed, self.filled + <Py_ssize_t>self.remaining)
        if self.payload == NULL:
            payload = PyBytes_FromStringAndSize(NULL, capacity)
            Py_INCREF(payload)
            self.payload = <PyObject *>payload
            if self.held_count:
                self.unmask_held(<unsigned char *>PyBytes_AS_STRING(payload))
        else:
            _PyBytes_Resize(&self.payload, capacity)  # on failure: payload NULL, the decoder fails
        self.payload_capacity = capacity
        return 0

    cdef bint hold(self, object source, const unsigned char *src, Py_ssize_t size, bint done) except -1:
        """Whole-frame mode, before the payload buffer exists: keeps this piece of the caller's bytes
        instead of copying it, while the frame is over GROWTH_AHEAD times what arrived. Once it is not,
        the buffer is allocated at the frame's length and the pieces are unmasked straight into it: no
        growth, each step of which may copy all received so far. False when the piece is not kept
        (the frame ends here, it is text to validate as it arrives, the data is not bytes, HOLD_MAX pieces
        are kept, or the buffer is due)."""
        cdef Py_ssize_t start
        # No overflow: filled + remaining is the frame's length, at most max_frame_size <= PY_SSIZE_T_MAX.
        if (done or self.validate or source is None or self.payload != NULL or self.held_count == HOLD_MAX
                or self.filled + size > (self.filled + <Py_ssize_t>self.remaining) // GROWTH_AHEAD):
            return False
        start = <Py_ssize_t>(src - <const unsigned char *>PyBytes_AS_STRING(source))
        if size < PyBytes_GET_SIZE(source) // 2:
            # A small part of a big read: copied, so that what is kept stays within what was received.
            source = PyBytes_FromStringAndSize(<const char *>src, size)
            start = 0
        if self.held is None:
            self.held = [source]
        else:
            self.held.append(source)
        self.held_start[self.held_count] = start
        self.held_size[self.held_count] = size
        self.held_count += 1
        return True

    cdef int unmask_held(self, unsigned char *dst) except -1:
        """Unmasks the kept pieces into dst, the start of the frame's new buffer, and lets go of them."""
        cdef Py_ssize_t offset = 0
        cdef const unsigned char *src
        cdef int i
        for i in range(self.held_count):
            src = <const unsigned char *>PyBytes_AS_STRING(<object>PyList_GET_ITEM(self.held, i)) + self.held_start[i]
            if self.masked:
                wsf_mask(dst + offset, src, self.held_size[i], self.key, <int>(offset & 3))
            else:
                memcpy(dst + offset, src, self.held_size[i])
            offset += self.held_size[i]
        self.held_count = 0
        del self.held[:]
        return 0

    cdef object take_payload(self):
        """The finished frame's bytes object (b"" for an empty frame); the decoder lets go of it."""
        if self.payload == NULL:
            return PyBytes_FromStringAndSize(NULL, 0)
        payload = <object>self.payload
        Py_DECREF(payload)  # the reference the decoder owned; the local one remains
        self.payload = NULL
        self.payload_capacity = 0
        return payload

    cdef int reserve_assembly(self, Py_ssize_t size) except -1:
        """Makes room for size more bytes in the reassembly buffer."""
        # No overflow: assembly_size + remaining is at most message_size <= max_message_size <= PY_SSIZE_T_MAX.
        cdef Py_ssize_t needed = self.assembly_size + size
        cdef Py_ssize_t capacity, most
        cdef void *grown
        if needed <= self.assembly_capacity:
            return 0
        # A final frame announces where the message ends; before it, only the limit bounds the message.
        most = self.assembly_size + <Py_ssize_t>self.remaining if self.fin else <Py_ssize_t>self.max_message_size
        capacity = grown_capacity(self.assembly_capacity, needed, most)
        grown = PyMem_Realloc(self.assembly, capacity)
        if grown == NULL:
            raise MemoryError()
        self.assembly = <unsigned char *>grown
        self.assembly_capacity = capacity
        return 0

    cdef int end_assembly(self, list frames) except -1:
        """A continuation frame with rsv bits: the message goes on as frames, starting with what came so far.

        Called once the frame's state is set (the append can run Python code); the frame itself is then
        whole-frame mode.
        """
        prefix = PyBytes_FromStringAndSize(<char *>self.assembly, self.assembly_size)
        self.assembling = False
        self.into_assembly = False
        self.release_assembly()
        self.emit_frame(frames, self.message_opcode, False, 0, prefix)
        return 0

    cdef inline void release_assembly(self) noexcept:
        """Empties the reassembly buffer; frees it when it is big (a later message may never need it)."""
        self.assembly_size = 0
        if self.assembly_capacity > ASSEMBLY_KEPT:
            PyMem_Free(self.assembly)
            self.assembly = NULL
            self.assembly_capacity = 0

    cdef int emit_frame(self, list frames, int opcode, bint fin, int rsv, object payload) except -1:
        self.frame_count += 1
        return append_frame(frames, opcode, fin, rsv, payload)

    cdef int emit_assembled(self, list frames) except -1:
        """Appends the reassembled message as one item: text decoded straight from the buffer."""
        if self.text:
            data = wsf_decode_checked_utf8(self.assembly, self.assembly_size)
            cls = self.text_type
        else:
            data = PyBytes_FromStringAndSize(<char *>self.assembly, self.assembly_size)
            cls = self.bytes_type
        self.release_assembly()
        frames.append(wsf_new_pair(cls, data, True))
        return 0

    cdef int receive(self, object source, const unsigned char *src, Py_ssize_t size, list frames) except -1:
        """Takes the next size bytes of the frame's payload; appends the frame (or a stream piece) to frames.
        source: the bytes object src points into, or None.

        Buffers grow first (an allocation that fails changes nothing); the frame's state is updated before
        the append, the one step that can run Python code (the garbage collector).
        """
        cdef bint done = <uint64_t>size == self.remaining
        cdef bint whole = not (self.stream and self.opcode < 8)
        cdef bint first_piece = not self.piece_sent
        cdef unsigned char *dst = NULL
        if not (size or done):
            return 0  # nothing arrived: no buffer for payload not received yet, no empty stream piece
        if self.into_assembly:
            self.reserve_assembly(size)
            if size:  # the buffer may still be NULL for no bytes (NULL + 0 and memcpy(NULL, ..., 0) are UB)
                dst = self.assembly + self.assembly_size
        elif whole:
            if self.hold(source, src, size, done):
                self.phase = (self.phase + <int>(size & 3)) & 3
                self.filled += size
                self.remaining -= <uint64_t>size
                self.piece_sent = True
                return 0
            self.reserve_payload(size)
            if size:
                dst = <unsigned char *>PyBytes_AS_STRING(<object>self.payload) + self.filled
        else:
            payload = PyBytes_FromStringAndSize(NULL, size)
            dst = <unsigned char *>PyBytes_AS_STRING(payload)
        if size:
            self.unmask(dst, src, size)
        # A text message that is this one piece: Python's strict UTF-8 decoder accepts exactly what RFC 3629
        # allows, so decoding it is its check (a second pass only to locate an error).
        whole_text = self.validate and self.into_assembly and done and self.fin and first_piece and self.opcode == 1
        if whole_text:
            try:
                text = PyUnicode_DecodeUTF8(<char *>dst, size, NULL)
            except UnicodeDecodeError:
                self.check_text(dst, size, True)
                raise
        elif self.validate:
            self.check_text(dst, size, done and self.fin)
        if self.into_assembly:
            self.assembly_size += size
        self.filled += size
        self.remaining -= <uint64_t>size
        self.piece_sent = True
        if done:
            self.in_frame = False
            if whole and not self.into_assembly:
                payload = self.take_payload()
        if self.into_assembly:
            if whole_text:
                self.release_assembly()
                frames.append(wsf_new_pair(self.text_type, text, True))
            elif done and self.fin:
                self.emit_assembled(frames)
        elif whole:
            if done:
                if self.assembling and self.opcode < 8:  # message mode, a single binary frame
                    frames.append(wsf_new_pair(self.bytes_type, payload, True))
                else:
                    self.emit_frame(frames, self.opcode, self.fin, self.rsv, payload)
        elif first_piece:
            self.emit_frame(frames, self.opcode, done and self.fin, self.rsv, payload)
        else:
            self.emit_frame(frames, 0, done and self.fin, 0, payload)
        return 0

    cdef inline void unmask(self, unsigned char *dst, const unsigned char *src, Py_ssize_t size) noexcept:
        if self.masked:
            wsf_mask(dst, src, size, self.key, self.phase)
            self.phase = (self.phase + <int>(size & 3)) & 3
        else:
            memcpy(dst, src, size)

    cdef int check_text(self, const unsigned char *text, Py_ssize_t size, bint message_end) except -1:
        """Validates the next bytes of a text message; at its end, checks it ends on a character."""
        cdef Py_ssize_t invalid, offset
        if size:
            invalid = wsf_utf8_feed(&self.utf8, text, size)
            if invalid >= 0:
                offset = self.text_size + invalid
                raise InvalidUTF8(f"invalid UTF-8 at byte {offset} of the text message", offset)
            self.text_size += size
        if message_end and not wsf_utf8_complete(&self.utf8):
            offset = self.text_size
            raise InvalidUTF8(f"truncated UTF-8 sequence at byte {offset} of the text message", offset)
        return 0
