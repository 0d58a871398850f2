# cython: language_level=3
"""wsframe's native hot path: masking, UTF-8 validation and frame coding over C/SIMD kernels.

The same API as ``wsframe._fallback``, the readable reference; see that package's modules.
"""

__all__ = [
    "mask",
    "mask_inplace",
    "Utf8Validator",
    "validate_utf8",
    "encode_header",
    "encode_frame",
    "FrameEncoder",
    "decode_header",
    "FrameDecoder",
]

include "buffers.pxi"
include "mask.pxi"
include "utf8.pxi"
include "framing.pxi"
