"""The opening handshake's parsers and checks, on either side, fed arbitrary bytes at random splits.

Only HandshakeError may come out, with an HTTP status the module documents on the server side and
``status=None`` on the client side; whatever parses must hold the bytes after the head, unchanged.
"""

from __future__ import annotations

from wsframe import handshake
from wsframe.deflate import PerMessageDeflate
from wsframe.errors import HandshakeError, HandshakeRejected

from .reader import FuzzInput, read_splits, split

SERVER_STATUSES = {400, 405, 414, 426, 431}
KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455's example: its accept token is s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
# max_line, max_head, max_headers: the defaults, or small enough for inputs to reach them.
_READER_LIMITS = ((8192, 65536, 128), (20, 200, 3), (64, 64, 128), (100, 1000, 8))
_POLICIES = (
    PerMessageDeflate(),
    PerMessageDeflate(server_no_context_takeover=True, server_max_window_bits=9, client_max_window_bits=12),
)


def _expect_error(exc: HandshakeError, server: bool) -> None:
    if server:
        assert exc.status in SERVER_STATUSES, f"undocumented status {exc.status}: {exc}"
    else:
        assert exc.status is None, f"a client-side error with status {exc.status}: {exc}"


def _read(reader, chunks):
    """Feeds the reads; the parsed head (or None) and the read it completed in."""
    for index, chunk in enumerate(chunks):
        parsed = reader.feed(chunk)
        if parsed is not None:
            return parsed, index
    if isinstance(reader, handshake.ResponseReader):
        return reader.feed_eof(), len(chunks) - 1
    reader.feed_eof()
    raise AssertionError("feed_eof accepted an incomplete request")


def _server(chunks, limits, policy) -> None:
    reader = handshake.RequestReader(*limits)
    try:
        request, last = _read(reader, chunks)
    except HandshakeError as exc:
        _expect_error(exc, server=True)
        return
    # What follows the head in the read that completed it is WebSocket data, kept byte for byte.
    assert b"".join(chunks[: last + 1]).endswith(reader.remaining), "remaining is not what followed the head"
    try:
        checked = handshake.check_request(request)
    except HandshakeError as exc:
        _expect_error(exc, server=True)
        return
    assert handshake.accept_token(checked.key)
    answer = policy.accept(checked.extensions)
    if answer is not None:
        handshake.parse_extensions([answer[0]])  # what the server answers must parse
    handshake.select_subprotocol(checked.subprotocols, ["chat", "superchat"])


def _client(chunks, limits, policy) -> None:
    max_line, max_head, max_headers = limits
    reader = handshake.ResponseReader(max_line, max_head, max_headers, max_body=max_head)
    try:
        response, last = _read(reader, chunks)
    except HandshakeError as exc:
        _expect_error(exc, server=False)
        return
    assert len(response.body) <= max_head, "body over max_body"
    assert b"".join(chunks[: last + 1]).endswith(reader.remaining), "remaining is not what followed the response"
    try:
        subprotocol, extensions = handshake.check_response(
            response, KEY, subprotocols=["chat"], extensions_offered=["permessage-deflate"]
        )
        for _name, params in extensions:
            policy.check_response(params)
    except HandshakeRejected as exc:
        assert response.status != 101 and exc.status == response.status
    except HandshakeError as exc:
        _expect_error(exc, server=False)
    else:
        assert subprotocol in (None, "chat")


def test_one_input(data: bytes) -> None:
    inp = FuzzInput(data)
    side = _server if inp.bool() else _client
    limits = inp.choice(_READER_LIMITS)
    policy = inp.choice(_POLICIES)
    sizes = read_splits(inp)
    side(split(inp.rest(), sizes), limits, policy)
