"""Differential: the native FrameDecoder against the fallback one, in every mode and limit setting.

The same bytes, cut into the same random reads (unconsumed bytes passed again, as the contract says),
must give the same frames or messages, consumed counts, errors (class, text, close code, offset) and
``last_frame_count``; neither may raise. Without stream mode, the fallback must also give the same
frames and error for the whole stream in one read (consumed counts differ there: a frame that fails
mid-payload had its header consumed by an earlier read).
"""

from __future__ import annotations

from wsframe import _fallback
from wsframe.events import BytesMessage, TextMessage

from .reader import FuzzInput, native_kernels, read_splits, split
from .wire import frame_stream

try:
    from wsframe import _native
except ImportError:  # without the extension only the fallback's own consistency is checked
    _native = None

LIMITS = (None, None, None, None, 0, 1, 2, 3, 7, 125, 126, 127, 300, 65535, 65536, 2**31 - 1, 2**32, 2**63, 2**64)
_BUFFER_TYPES = (bytes, bytearray, memoryview)


def _error(error):
    if error is None:
        return None
    return type(error), str(error), error.close_code, getattr(error, "offset", None)


def _item(item):
    """A frame tuple or message, with the type of every field, so that equal means the same objects."""
    return type(item), tuple((type(field), field) for field in item)


def _decode(decoder, data):
    try:
        frames, consumed, error = decoder.decode(data)
    except Exception as exc:  # compared first, then refused: decode must report errors, not raise them
        return "raised", type(exc), str(exc)
    return [_item(item) for item in frames], consumed, _error(error), decoder.last_frame_count


def _run(decoder, chunks, buffer_type):
    """Feeds the reads as a caller does: the outcome of every call, then all items and the error.

    After an exception it goes on with the next read, as an embedding server might: the decoder must
    not write anywhere it should not (issue 9), whatever it was left with.
    """
    outcomes = []
    items = []
    pending = b""
    for chunk in chunks:
        data = pending + chunk
        outcome = _decode(decoder, buffer_type(data))
        outcomes.append(outcome)
        if outcome[0] == "raised":
            pending = b""
            continue
        frames, consumed, error, _ = outcome
        items += frames
        if error is not None:
            assert _decode(decoder, buffer_type(b"more")) == ([], 0, error, 0), "a failed decoder must stay failed"
            return outcomes, items, error
        pending = data[consumed:]
        assert len(pending) < 14, f"{len(pending)} unconsumed bytes: more than a partial header"
    return outcomes, items, None


def test_one_input(data: bytes) -> None:
    inp = FuzzInput(data)
    options = dict(
        expect_mask=inp.choice((True, False, None)),
        allowed_rsv=inp.byte() & 7,
        stream=inp.byte() % 4 == 0,
        messages=inp.choice((None, (TextMessage, BytesMessage))),
        max_frame_size=inp.choice(LIMITS),
        max_message_size=inp.choice(LIMITS),
    )
    buffer_type = inp.choice(_BUFFER_TYPES)
    structured = inp.byte() % 4 != 0
    sizes = read_splits(inp)
    with native_kernels(inp):
        stream = frame_stream(inp, options["expect_mask"]) if structured else inp.rest()
        chunks = split(stream, sizes)
        reference = _run(_fallback.FrameDecoder(**options), chunks, buffer_type)
        if _native is not None:
            native = _run(_native.FrameDecoder(**options), chunks, buffer_type)
            for call, (got, expected) in enumerate(zip(native[0], reference[0])):
                assert got == expected, f"{options}, read {call}:\nnative   {got}\nfallback {expected}"
            assert len(native[0]) == len(reference[0]), f"{options}: native stopped after {len(native[0])} reads"
    outcomes, items, error = reference
    for outcome in outcomes:
        assert outcome[0] != "raised", f"{options}: decode raised {outcome[1].__name__}: {outcome[2]}"
    if not options["stream"] and len(chunks) > 1:
        whole = _run(_fallback.FrameDecoder(**options), [stream], buffer_type)
        assert whole[1:] == (items, error), f"{options}: one read and {len(chunks)} reads differ"
