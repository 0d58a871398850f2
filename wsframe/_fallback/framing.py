"""TODO"""
def encode_header(*a, **k): raise NotImplementedError
def encode_frame(*a, **k): raise NotImplementedError
def decode_header(*a, **k): raise NotImplementedError
class FrameDecoder: pass
