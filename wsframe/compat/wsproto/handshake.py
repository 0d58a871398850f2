"""wsproto.handshake: the HTTP/1.1 opening handshake, on wsframe's bounded parsers and builders.

No h11: requests and responses are read by :class:`wsframe.handshake.RequestReader` /
:class:`~wsframe.handshake.ResponseReader` and written by wsframe's builders. The checks of the upgrade
and their error messages are wsproto's (a server accepts e.g. an absolute ``wss://`` target, as wsproto
does, where wsframe's own server is stricter). Differences from wsproto: a refused client handshake's
events (:class:`~.events.RejectConnection`, then :class:`~.events.RejectData`) come together once the
response body is complete (at most 64 KiB are kept; a chunked body is not decoded), so the client
goes from ``CONNECTING`` to ``CLOSED``; bytes a client sends after its request and before the server
accepts are kept and decoded once the connection is open (wsproto drops them).
"""

from __future__ import annotations

from wsframe import handshake as _http
from wsframe.errors import HandshakeError

from .connection import Connection, ConnectionState, ConnectionType
from .events import AcceptConnection, RejectConnection, RejectData, Request
from .utilities import (
    LocalProtocolError,
    RemoteProtocolError,
    generate_accept_token,
    generate_nonce,
    split_comma_header,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence
    from typing import Any

    from .events import Event
    from .extensions import Extension
    from .typing import Headers

    _AnyHeaders = Iterable[tuple[bytes | str, bytes | str]]  # wsproto takes either, as h11 does

__all__ = ["H11Handshake", "server_extensions_handshake", "client_extensions_handshake"]

WEBSOCKET_VERSION = b"13"
WEBSOCKET_UPGRADE = b"websocket"

_CONNECTING = ConnectionState.CONNECTING


def _text(value: bytes | bytearray | str) -> str:
    return value.decode("latin-1") if isinstance(value, (bytes, bytearray)) else value


def _str_headers(headers: _AnyHeaders) -> list[tuple[str, str]]:
    """wsproto's headers (bytes or str pairs) as wsframe's builders take them."""
    return [(_text(name), _text(value)) for name, value in headers]


def _wsproto_headers(headers: _AnyHeaders) -> list[tuple[bytes, bytes]]:
    """Headers as wsproto delivers them (h11's form): lower-case names, both as bytes."""
    return [
        (_text(name).lower().encode("latin-1"), _text(value).strip(" \t").encode("latin-1")) for name, value in headers
    ]


def _bad_http(exc: HandshakeError) -> RemoteProtocolError:
    return RemoteProtocolError("Bad HTTP message", event_hint=RejectConnection(status_code=exc.status or 400))


class H11Handshake:
    """The opening handshake of one connection, either role; ``connection`` once it succeeded."""

    _reader: Any  # a ResponseReader (client) or RequestReader (server): self.client tells which

    def __init__(self, connection_type: ConnectionType) -> None:
        self.client = connection_type is ConnectionType.CLIENT
        self._state = _CONNECTING
        self._connection: Connection | None = None
        self._events: list[Event] = []
        self._initiating_request: Request | None = None
        self._nonce: bytes | None = None  # client: the key sent; server: the key received
        self._error: RemoteProtocolError | None = None  # an unreadable message: raised for any more data
        self._chunked = False  # server: the refusing response's body goes chunked
        self._received = False  # client: bytes of a response arrived
        self._trailing = bytearray()  # server: bytes after the request, before the answer
        if self.client:
            self._reader = _http.ResponseReader(return_interim=True)
        else:
            self._reader = _http.RequestReader()

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def connection(self) -> Connection | None:
        """The open connection once the handshake succeeded, else None."""
        return self._connection

    def initiate_upgrade_connection(self, headers: Headers, path: bytes | str) -> None:
        """Server: takes a request that the caller's HTTP server already read (``headers``, ``path``)."""
        if self.client:
            raise LocalProtocolError("Cannot initiate an upgrade connection when acting as the client")
        target = path.decode("ascii") if isinstance(path, (bytes, bytearray)) else path
        self._events.append(self._process_request("GET", target, _wsproto_headers(headers)))

    def send(self, event: Event) -> bytes:
        """The bytes for a handshake event; LocalProtocolError for anything else or out of turn."""
        if isinstance(event, Request):
            return self._initiate_connection(event)
        if isinstance(event, AcceptConnection):
            return self._accept(event)
        if isinstance(event, RejectConnection):
            return self._reject(event)
        if isinstance(event, RejectData):
            return self._send_reject_data(event)
        raise LocalProtocolError(f"Event {event} cannot be sent during the handshake")

    def receive_data(self, data: bytes | None) -> None:
        """Feeds received bytes; ``None`` or ``b""`` is the end of the stream (as h11 takes it)."""
        if self._error is not None:
            raise self._error
        if self.client:
            self._receive_response(data)
        elif data:
            self._receive_request(data)

    def events(self) -> Iterator[Event]:
        """An iterator over the handshake events received so far."""
        events, self._events = self._events, []
        return iter(events)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(client={self.client}, state={self.state})"

    # -- server ----------------------------------------------------------------------------------

    def _receive_request(self, data: bytes) -> None:
        if self._initiating_request is not None or self._state is not _CONNECTING:
            if self._state is _CONNECTING:
                self._trailing += data  # frames sent before the answer: decoded once the connection opens
            return
        try:
            request = self._reader.feed(data)
        except HandshakeError as exc:
            self._error = _bad_http(exc)
            raise self._error from None
        if request is None:
            return
        self._trailing += self._reader.remaining
        self._events.append(
            self._process_request(request.method, request.target, _wsproto_headers(request.headers))
        )

    def _process_request(self, method: str, target: str, headers: Iterable[tuple[bytes, bytes]]) -> Request:
        if method != "GET":
            raise RemoteProtocolError("Request method must be GET", event_hint=RejectConnection())
        connection_tokens = None
        extensions: list[str] = []
        subprotocols: list[str] = []
        host = key = version = None
        upgrade = b""
        extra_headers = []
        for name, value in headers:
            if name == b"host":
                try:
                    host = value.decode("idna")
                except UnicodeError:  # e.g. an IDN with a port: as received (wsproto raises UnicodeError)
                    host = value.decode("latin-1")
                continue
            if name == b"sec-websocket-extensions":
                extensions.extend(split_comma_header(value))
                continue
            if name == b"sec-websocket-protocol":
                subprotocols.extend(split_comma_header(value))
                continue
            if name == b"connection":
                connection_tokens = split_comma_header(value)
            elif name == b"sec-websocket-key":
                key = value
            elif name == b"sec-websocket-version":
                version = value
            elif name == b"upgrade":
                upgrade = value
            extra_headers.append((name, value))
        if connection_tokens is None or "upgrade" not in (token.lower() for token in connection_tokens):
            raise RemoteProtocolError("Missing header, 'Connection: Upgrade'", event_hint=RejectConnection())
        if version != WEBSOCKET_VERSION:
            raise RemoteProtocolError(
                "Missing header, 'Sec-WebSocket-Version'",
                event_hint=RejectConnection(
                    headers=[(b"Sec-WebSocket-Version", WEBSOCKET_VERSION)], status_code=426 if version else 400
                ),
            )
        if key is None or not key.isascii():
            raise RemoteProtocolError("Missing header, 'Sec-WebSocket-Key'", event_hint=RejectConnection())
        if upgrade.lower() != WEBSOCKET_UPGRADE:
            raise RemoteProtocolError("Missing header, 'Upgrade: websocket'", event_hint=RejectConnection())
        if host is None:
            raise RemoteProtocolError("Missing header, 'Host'", event_hint=RejectConnection())
        self._nonce = key
        self._initiating_request = Request(
            host=host, target=target, extensions=extensions, extra_headers=extra_headers, subprotocols=subprotocols
        )
        return self._initiating_request

    def _accept(self, event: AcceptConnection) -> bytes:
        request = self._initiating_request
        if self.client or self._state is not _CONNECTING or request is None:
            raise LocalProtocolError(f"Cannot accept a connection in state {self._state} without a request")
        subprotocol = event.subprotocol
        if subprotocol is not None and subprotocol not in request.subprotocols:
            raise LocalProtocolError(f"unexpected subprotocol {subprotocol}")
        # A received request's extensions are the offered strings, and its key was kept with it (_nonce).
        accepted = (
            server_extensions_handshake(request.extensions, event.extensions)  # type: ignore[arg-type]
            if event.extensions
            else None
        )
        try:
            response = _http.build_accept(
                self._nonce.decode("ascii"),  # type: ignore[union-attr]
                subprotocol=subprotocol,
                extensions=accepted.decode("ascii") if accepted else None,
                extra_headers=_str_headers(event.extra_headers),
            )
        except ValueError as exc:
            raise LocalProtocolError(str(exc)) from None
        trailing, self._trailing = bytes(self._trailing), bytearray()
        self._connection = Connection(ConnectionType.SERVER, event.extensions, trailing)
        self._state = ConnectionState.OPEN
        return response

    def _reject(self, event: RejectConnection) -> bytes:
        if self.client or self._state is not _CONNECTING:
            raise LocalProtocolError(f"Connection cannot be rejected in state {self._state}")
        headers = _str_headers(event.headers)
        names = {name.lower() for name, _ in headers}
        if not event.has_body:
            headers.append(("content-length", "0"))
        # As h11 does for a body of unannounced length to an HTTP/1.1 client.
        self._chunked = event.has_body and "content-length" not in names
        if self._chunked and "transfer-encoding" not in names:
            headers.append(("transfer-encoding", "chunked"))
        try:
            data = _http._encode_head(f"HTTP/1.1 {int(event.status_code)} \r\n", headers)
        except ValueError as exc:
            raise LocalProtocolError(str(exc)) from None
        self._state = ConnectionState.REJECTING if event.has_body else ConnectionState.CLOSED
        return data

    def _send_reject_data(self, event: RejectData) -> bytes:
        if self._state is not ConnectionState.REJECTING:
            raise LocalProtocolError(f"Cannot send rejection data in state {self._state}")
        data = bytes(event.data)
        if self._chunked:
            data = b"%x\r\n%s\r\n" % (len(data), data) if data else b""
            if event.body_finished:
                data += b"0\r\n\r\n"
        if event.body_finished:
            self._state = ConnectionState.CLOSED
        return data

    # -- client ----------------------------------------------------------------------------------

    def _initiate_connection(self, request: Request) -> bytes:
        if not self.client or self._nonce is not None:
            raise LocalProtocolError("Cannot send a request: not a client, or the request was sent already")
        # A request to send offers Extension objects.
        offers = {extension.name: extension.offer() for extension in request.extensions}  # type: ignore[union-attr]
        elements = [
            name if params is True or params == "" else f"{name}; {params}"
            for name, params in offers.items()
            if params is not False
        ]
        nonce = generate_nonce()
        try:
            data = _http.build_request(
                request.host.encode("idna").decode("ascii"),
                request.target,
                nonce.decode("ascii"),
                subprotocols=request.subprotocols,
                extensions=", ".join(elements) or None,
                extra_headers=_str_headers(request.extra_headers),
            )
        except ValueError as exc:  # UnicodeError (an IDNA host) included
            raise LocalProtocolError(str(exc)) from None
        self._initiating_request = request
        self._nonce = nonce
        return data

    def _receive_response(self, data: bytes | None) -> None:
        if self._state is not _CONNECTING:
            return
        if self._nonce is None:
            raise LocalProtocolError("data received before the upgrade request was sent")
        try:
            if data:
                self._received = True
                response = self._reader.feed(data)
            elif self._received:
                response = self._reader.feed_eof()
            else:
                return  # closed before answering: nothing to report, as wsproto
        except HandshakeError as exc:
            self._error = _bad_http(exc)
            raise self._error from None
        if response is None:
            return
        headers = _wsproto_headers(response.headers)
        status = response.status
        if status == 101:
            self._events.append(self._establish_client_connection(headers))
            return
        self._state = ConnectionState.CLOSED
        if status < 200:
            self._events.append(RejectConnection(status_code=status, headers=headers, has_body=False))
            return
        self._events.append(RejectConnection(status_code=status, headers=headers, has_body=True))
        if response.body:
            self._events.append(RejectData(data=response.body, body_finished=False))
        self._events.append(RejectData(data=b"", body_finished=True))

    def _establish_client_connection(self, headers: Iterable[tuple[bytes, bytes]]) -> AcceptConnection:
        connection_tokens = None
        accepts: list[str] = []
        accept = subprotocol = None
        upgrade = b""
        extra_headers = []
        for name, value in headers:
            if name == b"connection":
                connection_tokens = split_comma_header(value)
            elif name == b"sec-websocket-extensions":
                accepts = split_comma_header(value)
            elif name == b"sec-websocket-accept":
                accept = value
            elif name == b"sec-websocket-protocol":
                subprotocol = value.decode("latin-1")
            elif name == b"upgrade":
                upgrade = value
            else:
                extra_headers.append((name, value))
        if connection_tokens is None or "upgrade" not in (token.lower() for token in connection_tokens):
            raise RemoteProtocolError("Missing header, 'Connection: Upgrade'", event_hint=RejectConnection())
        if upgrade.lower() != WEBSOCKET_UPGRADE:
            raise RemoteProtocolError("Missing header, 'Upgrade: websocket'", event_hint=RejectConnection())
        # A response is read only after the request was sent: _nonce and _initiating_request are set, and the
        # request offered Extension objects.
        if accept != generate_accept_token(self._nonce):  # type: ignore[arg-type]
            raise RemoteProtocolError("Bad accept token", event_hint=RejectConnection())
        if subprotocol is not None and subprotocol not in self._initiating_request.subprotocols:  # type: ignore[union-attr]
            raise RemoteProtocolError(f"unrecognized subprotocol {subprotocol}", event_hint=RejectConnection())
        extensions = client_extensions_handshake(
            accepts, self._initiating_request.extensions  # type: ignore[union-attr, arg-type]
        )
        self._connection = Connection(ConnectionType.CLIENT, extensions, self._reader.remaining)
        self._state = ConnectionState.OPEN
        return AcceptConnection(extensions=extensions, extra_headers=extra_headers, subprotocol=subprotocol)


def server_extensions_handshake(requested: Iterable[str], supported: Sequence[Extension]) -> bytes | None:
    """Server: the Sec-WebSocket-Extensions value accepting ``requested`` (offered elements, str) with
    the ``supported`` Extension objects, or None. Each extension answers its first acceptable offer
    (wsproto lets a later offer override an earlier one)."""
    accepted: dict[str, bytes] = {}
    for offer in requested:
        name = offer.split(";", 1)[0].strip()
        for extension in supported:
            if extension.name != name or name in accepted:
                continue
            answer = extension.accept(offer)
            if answer is True or answer == "":
                accepted[name] = name.encode("ascii")
            elif isinstance(answer, str):
                accepted[name] = f"{name}; {answer}".encode("ascii")
    return b", ".join(accepted.values()) if accepted else None


def client_extensions_handshake(accepted: Iterable[str], supported: Sequence[Extension]) -> list[Extension]:
    """Client: the ``supported`` Extension objects the server ``accepted`` (elements, str), finalized;
    RemoteProtocolError for an extension that was not offered."""
    extensions = []
    for element in accepted:
        name = element.split(";", 1)[0].strip()
        for extension in supported:
            if extension.name == name:
                extension.finalize(element)
                extensions.append(extension)
                break
        else:
            raise RemoteProtocolError(f"unrecognized extension {name}", event_hint=RejectConnection())
    return extensions
