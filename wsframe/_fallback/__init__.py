"""The pure-Python hot path: the readable reference that the native one (``wsframe._native``) matches."""

from .framing import FrameDecoder, FrameEncoder, decode_header, encode_frame, encode_header
from .mask import mask, mask_inplace
from .utf8 import Utf8Validator, validate_utf8

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
