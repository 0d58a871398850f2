"""Builds a stream of WebSocket frames from a fuzz input: mostly well-formed, often not quite.

A structured input reaches deep into the decoder (fragmented text, control frames between fragments,
limits, huge announced lengths) far sooner than raw bytes would; raw streams are fuzzed as well.
"""

from __future__ import annotations

import zlib

from wsframe._fallback import mask

from .reader import FuzzInput, code_points

# Opcode by the low nibble of a frame's spec byte: data and control frames, now and then a reserved one.
_OPCODES = (0, 1, 2, 0, 1, 2, 0, 1, 2, 8, 9, 10, 3, 7, 11, 15)
# Lengths announced without the payload following: the limits, 32-bit and 63-bit edges.
HUGE_LENGTHS = (
    65536, 2**24, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**32 + 1, 2**40, 2**45, 2**62, 2**63 - 1, 2**63, 2**64 - 1,
)
_SYNC_TAIL = b"\x00\x00\xff\xff"


def _payload(inp: FuzzInput, kind: int, deflater) -> bytes:
    """A payload of the input's next bytes: raw, valid UTF-8, arbitrary code points, or deflated."""
    size = inp.byte()
    if size >= 250:  # a long payload, from the input's bytes repeated
        seed = inp.bytes(inp.byte() + 1) or b"\0"
        size = (size - 249) * 16384
        raw = (seed * (size // len(seed) + 1))[:size]
    else:
        raw = inp.bytes(size)
    if kind == 1:
        return raw.decode("latin-1").encode("utf-8")
    if kind == 2:
        return code_points(raw).encode("utf-8", "surrogatepass")
    if kind == 3:
        return deflater.compress(raw) + deflater.flush(zlib.Z_SYNC_FLUSH)[: -len(_SYNC_TAIL)]
    return raw


def frame_stream(inp: FuzzInput, masked_by_default: bool | None, max_frames: int = 64) -> bytes:
    """Frames described by the input, each by a spec byte, a form byte, a payload and maybe a key.

    Spec byte: FIN (bit 7), RSV (bits 4-6, used when the form allows), opcode by ``_OPCODES``.
    Form byte: bits 0-1 masking (the side's usual, the other, masked, unmasked), bits 2-4 the length
    encoding (minimal; 16-bit or 64-bit non-minimal; a huge announced length without its payload), bit 5
    RSV bits kept, bits 6-7 the payload's kind (raw, UTF-8, code points, deflated).
    """
    deflater = zlib.compressobj(6, zlib.DEFLATED, -15)
    out = []
    for _ in range(max_frames):
        if not inp.remaining:
            break
        spec, form = inp.byte(), inp.byte()
        first = (spec & 0x80) | ((spec & 0x70) if form & 0x20 else 0) | _OPCODES[spec & 0x0F]
        masking = form & 3
        if masking < 2:
            default = masked_by_default if masked_by_default is not None else bool(spec & 1)
            masked = default if masking == 0 else not default
        else:
            masked = masking == 2
        encoding = form >> 2 & 7
        if encoding == 7:
            length = HUGE_LENGTHS[inp.byte() % len(HUGE_LENGTHS)]
            payload = b""
        else:
            payload = _payload(inp, form >> 6, deflater)
            length = len(payload)
        mask_bit = 0x80 if masked else 0
        if encoding == 5 and length < 65536:  # 16-bit, minimal or not
            header = bytes((first, mask_bit | 126)) + length.to_bytes(2, "big")
        elif encoding >= 6:  # 64-bit, minimal or not
            header = bytes((first, mask_bit | 127)) + (length % 2**64).to_bytes(8, "big")
        elif length < 126:
            header = bytes((first, mask_bit | length))
        elif length < 65536:
            header = bytes((first, mask_bit | 126)) + length.to_bytes(2, "big")
        else:
            header = bytes((first, mask_bit | 127)) + length.to_bytes(8, "big")
        if masked:
            key = inp.bytes(4).ljust(4, b"\0")
            out.append(header + key + mask(payload, key))
        else:
            out.append(header + payload)
    return b"".join(out)
