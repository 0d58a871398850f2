"""The HTTP/1.1 opening handshake of RFC 6455 section 4, both roles, sans I/O.

Readers turn received bytes into an :class:`HTTPRequest` / :class:`HTTPResponse`; ``check_*`` functions
validate them; ``build_*`` functions make the bytes to send. Headers are lists of ``(name, value)`` str
pairs in received order (bytes decoded as latin-1, values without surrounding whitespace); names are
compared case-insensitively.

Status codes the server answers with (``HandshakeError.status``):

* 400: any malformed request, including a request line or header line that breaks RFC 9112 syntax,
  obs-fold continuation lines, an HTTP version other than 1.1, a Host that is not one valid
  ``host[:port]`` (RFC 9110 7.2 with RFC 3986 3.2.2; a port up to 65535), an absolute-form target whose
  authority is not one either or carries userinfo, and every failed RFC 6455 check not below.
* 405 with ``Allow: GET``: a method other than GET (RFC 9110 requires Allow on a 405).
* 414: a request line over ``max_line`` (in practice its length is the request target's; RFC 9112 3.2).
* 426 with ``Upgrade: websocket`` and ``Connection: Upgrade``: no Upgrade header at all (a plain HTTP
  request to a WebSocket endpoint; RFC 9110 15.5.22 requires the Upgrade header on a 426).
* 426 with ``Sec-WebSocket-Version: 13``: a Sec-WebSocket-Version other than 13, or none (the hixie-76
  draft sent none, so "missing" means "an older protocol version"; RFC 6455 4.4).
* 431: a header line over ``max_line``, a head over ``max_head`` bytes, or over ``max_headers`` headers.

Line endings: CRLF, and a bare LF too (RFC 9112 2.2 lets a recipient accept it); a CR anywhere else is
malformed. Empty lines before the start line are skipped (RFC 9112 2.2).

An absolute-form target (``GET http://host/path``, which RFC 6455 4.2.1 allows) names the host: as RFC
9112 3.2.2 requires, :attr:`ClientHandshake.host` is then the target's authority and the Host header,
still required and checked, is ignored, so that a proxy and this server cannot disagree on the host.

The builders refuse (ValueError, or TypeError for a wrong type) whatever the readers would refuse:
header names that are not tokens, values that are not an RFC 9110 5.5 field-value (visible characters
and obs-text, with spaces and tabs only inside), and statuses that are not an int for a final response.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import http
import ipaddress
import re
import secrets
from dataclasses import dataclass

from .errors import HandshakeError, HandshakeRejected

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Sequence
    from typing import Any

    from typing_extensions import Buffer

__all__ = [
    "GUID",
    "accept_token",
    "generate_key",
    "HTTPRequest",
    "HTTPResponse",
    "ClientHandshake",
    "header_values",
    "header_tokens",
    "RequestReader",
    "ResponseReader",
    "check_request",
    "select_subprotocol",
    "parse_extensions",
    "format_extensions",
    "build_accept",
    "build_rejection",
    "build_request",
    "check_response",
]

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# An extension as offered or accepted: (name, [(param, value or None), ...]).
Extension = tuple[str, list[tuple[str, str | None]]]
Extensions = list[Extension]

_TCHARS = "!#$%&'*+\\-.^_`|~0-9A-Za-z"
_TOKEN = re.compile(f"[{_TCHARS}]+")
_OWS = re.compile("[ \t]*")
# quoted-string of RFC 9110 5.6.4: qdtext or a backslash-escaped character.
_QUOTED = re.compile('"((?:[^"\\\\\x00-\x08\x0a-\x1f\x7f]|\\\\[\t\x20-\x7e\x80-\xff])*)"')
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)

_REQUEST_LINE = re.compile(rb"([%b]+) ([\x21-\x7e]+) (HTTP/[0-9]\.[0-9])" % _TCHARS.encode())
_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) ([0-9]{3})(?: ([\t\x20-\x7e\x80-\xff]*))?")
_HEADER_NAME = re.compile(rb"[%b]+" % _TCHARS.encode())
_FIELD_CHARS = "\t\x20-\x7e\x80-\xff"  # field-value characters of RFC 9110 5.5: VCHAR, obs-text, SP, HTAB
_BAD_VALUE_CHAR = re.compile(b"[^%b]" % _FIELD_CHARS.encode("latin-1"))
_BAD_FIELD_CHAR = re.compile(f"[^{_FIELD_CHARS}]")
# Host = uri-host [ ":" port ] (RFC 9110 7.2): a non-empty reg-name (IPv4 addresses included) or an IP-literal.
_SUB_DELIMS_UNRESERVED = "A-Za-z0-9\\-._~!$&'()*+,;="
_HOST = re.compile(
    f"(?:(?:[{_SUB_DELIMS_UNRESERVED}]|%[0-9A-Fa-f]{{2}})+"
    f"|\\[(?:(?P<ipv6>[0-9A-Fa-f:.]+)|[vV][0-9A-Fa-f]+\\.[{_SUB_DELIMS_UNRESERVED}:]+)\\])"
    "(?::(?P<port>[0-9]{0,5}))?"
)


def accept_token(key: str) -> str:
    """The Sec-WebSocket-Accept value for a Sec-WebSocket-Key: base64(SHA-1(key + GUID))."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode("ascii")).digest()).decode("ascii")


def generate_key() -> str:
    """A fresh Sec-WebSocket-Key: base64 of 16 random bytes from :mod:`secrets`."""
    return base64.b64encode(secrets.token_bytes(16)).decode("ascii")


@dataclass(slots=True)
class HTTPRequest:
    """A parsed request head."""

    method: str
    target: str
    headers: list[tuple[str, str]]


@dataclass(slots=True)
class HTTPResponse:
    """A parsed response; ``body`` is empty for 101."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes = b""


@dataclass(slots=True)
class ClientHandshake:
    """What a valid client opening handshake asked for (see :func:`check_request`)."""

    key: str
    host: str
    target: str
    origin: str | None
    subprotocols: list[str]
    extensions: Extensions
    headers: list[tuple[str, str]]


def header_values(headers: Iterable[tuple[str, str]], name: str) -> list[str]:
    """All values of header ``name`` (case-insensitive), in received order."""
    name = name.lower()
    return [value for header, value in headers if header.lower() == name]


def header_tokens(headers: Iterable[tuple[str, str]], name: str) -> list[str]:
    """The comma-separated elements of every ``name`` header, stripped, empty elements dropped."""
    return [
        element
        for value in header_values(headers, name)
        for element in (part.strip(" \t") for part in value.split(","))
        if element
    ]


def _as_bytes(data: Buffer) -> bytes | bytearray:
    """``data`` as something with ``find``: bytes and bytearray as they are, other buffers copied."""
    return data if isinstance(data, (bytes, bytearray)) else bytes(data)


class _HeadReader:
    """Incremental, bounded parser of an HTTP/1.1 message head: start line, header lines, blank line.

    Only the current incomplete line is buffered, and never past ``max_line`` or ``max_head``.
    """

    _fail_status: int | None = 400  # None on the client side
    _START_TOO_LONG = 400

    def __init__(self, max_line: int = 8192, max_head: int = 65536, max_headers: int = 128) -> None:
        self.max_line = max_line
        self.max_head = max_head
        self.max_headers = max_headers
        self.remaining = b""
        self._partial = bytearray()
        self._head_size = 0
        self._start: Any = None  # the parsed start line (see _parse_start_line) once it is in
        self._headers: list[tuple[str, str]] = []

    def _error(self, message: str, status: int = 400) -> HandshakeError:
        return HandshakeError(message, status if self._fail_status is not None else None)

    def _line_too_long(self) -> HandshakeError:
        if self._start is None:
            return self._error(f"start line longer than {self.max_line} bytes", self._START_TOO_LONG)
        return self._error(f"header line longer than {self.max_line} bytes", 431)

    def _feed_head(self, data: bytes | bytearray, pos: int) -> int | None:
        """Consume head lines of ``data`` from ``pos``; the index after the blank line, or None."""
        while True:
            end = data.find(b"\n", pos)
            if end < 0:
                size = len(self._partial) + len(data) - pos
                if size > self.max_line + 1:  # + 1: the CR of a CRLF may be the last byte received
                    raise self._line_too_long()
                if self._head_size + size > self.max_head:
                    raise self._error(f"message head larger than {self.max_head} bytes", 431)
                self._partial += data[pos:]
                return None
            line = bytes(self._partial + data[pos:end]) if self._partial else bytes(data[pos:end])
            self._partial.clear()
            pos = end + 1
            self._head_size += len(line) + 1
            if self._head_size > self.max_head:
                raise self._error(f"message head larger than {self.max_head} bytes", 431)
            if line.endswith(b"\r"):
                line = line[:-1]
            if len(line) > self.max_line:
                raise self._line_too_long()
            if self._start is None:
                if line:  # empty lines before the start line are ignored
                    self._start = self._parse_start_line(line)
            elif line:
                self._headers.append(self._parse_header_line(line))
                if len(self._headers) > self.max_headers:
                    raise self._error(f"more than {self.max_headers} headers", 431)
            else:
                return pos

    def _parse_header_line(self, line: bytes) -> tuple[str, str]:
        if line[:1] in (b" ", b"\t"):
            raise self._error("obsolete line folding in headers is not allowed")
        name, colon, value = line.partition(b":")
        if not colon:
            raise self._error(f"header line without a colon: {line[:64]!r}")
        if not _HEADER_NAME.fullmatch(name):
            raise self._error(f"invalid header name: {name[:64]!r}")
        value = value.strip(b" \t")
        if _BAD_VALUE_CHAR.search(value):
            raise self._error(f"invalid character in the value of header {name.decode()}")
        return name.decode("ascii"), value.decode("latin-1")

    def _parse_start_line(self, line: bytes) -> tuple[str | int, str]:
        raise NotImplementedError

    def _eof_during_head(self) -> HandshakeError:
        return self._error("connection closed during the handshake")


class RequestReader(_HeadReader):
    """The server's incremental parser of the client's request head.

    :meth:`feed` returns the :class:`HTTPRequest` once the blank line is in; :attr:`remaining` then
    holds the bytes received after it (WebSocket frames). Errors raise :class:`HandshakeError` with the
    status to answer (see the module docstring).
    """

    _START_TOO_LONG = 414

    def __init__(self, max_line: int = 8192, max_head: int = 65536, max_headers: int = 128) -> None:
        super().__init__(max_line, max_head, max_headers)
        self._request: HTTPRequest | None = None

    def feed(self, data: Buffer) -> HTTPRequest | None:
        """Parse more received bytes; the request once its head is complete, else None."""
        if self._request is not None:
            raise RuntimeError("the request is already complete")
        data = _as_bytes(data)
        end = self._feed_head(data, 0)
        if end is None:
            return None
        method, target = self._start
        self._request = HTTPRequest(method, target, self._headers)
        self.remaining = bytes(data[end:])
        return self._request

    def feed_eof(self) -> None:
        """The peer closed the connection: an error unless the request was complete."""
        if self._request is None:
            raise self._eof_during_head()

    def _parse_start_line(self, line: bytes) -> tuple[str, str]:
        match = _REQUEST_LINE.fullmatch(line)
        if match is None:
            raise self._error(f"malformed request line: {line[:64]!r}")
        method, target, version = match.groups()
        if version != b"HTTP/1.1":
            raise self._error(f"unsupported {version.decode()}: WebSocket needs HTTP/1.1")
        return method.decode("ascii"), target.decode("ascii")


_HEAD, _BODY_BY_LENGTH, _BODY_TO_EOF, _DONE = range(4)


class ResponseReader(_HeadReader):
    """The client's incremental parser of the server's response.

    A 101 response is complete at its blank line and :attr:`remaining` holds the bytes after it
    (WebSocket frames). Interim 1xx responses are skipped, at most ``max_interim`` of them, and
    ``max_head`` bounds all the heads received together. Other responses carry a body read by
    Content-Length, or until :meth:`feed_eof` when there is none; a body over ``max_body`` bytes is cut
    there (the connection is failing anyway). With a Transfer-Encoding the response ends at its head
    and the undecoded body stays in :attr:`remaining`. Errors raise :class:`HandshakeError` with
    ``status=None``. HTTP/1.0 is accepted for non-101 responses so that their status reaches the caller.
    With ``return_interim=True`` an interim response is returned instead, complete at its head.
    """

    _fail_status = None

    def __init__(
        self,
        max_line: int = 8192,
        max_head: int = 65536,
        max_headers: int = 128,
        max_body: int = 65536,
        max_interim: int = 8,
        return_interim: bool = False,
    ) -> None:
        super().__init__(max_line, max_head, max_headers)
        self.max_body = max_body
        self.max_interim = max_interim
        self.return_interim = return_interim
        self._interim_count = 0
        self._state = _HEAD
        self._body = bytearray()
        self._body_length: int | None = 0  # None: the body ends at EOF

    def feed(self, data: Buffer) -> HTTPResponse | None:
        """Parse more received bytes; the response once complete, else None."""
        if self._state == _DONE:
            raise RuntimeError("the response is already complete")
        data = _as_bytes(data)
        pos = 0
        while self._state == _HEAD:
            end = self._feed_head(data, pos)
            if end is None:
                return None
            pos = end
            status = self._start[0]
            if 100 <= status < 200 and status != 101 and not self.return_interim:
                self._interim_count += 1
                if self._interim_count > self.max_interim:
                    raise self._error(f"more than {self.max_interim} interim 1xx responses")
                self._start, self._headers = None, []  # the head size keeps counting across them
                continue
            if 100 <= status < 200 or status == 204 or status == 304:
                return self._finish(data[pos:])
            if header_values(self._headers, "Transfer-Encoding"):
                return self._finish(data[pos:])
            self._body_length = self._content_length()
            if self._body_length is None:
                self._state = _BODY_TO_EOF
            elif self._body_length == 0:
                return self._finish(data[pos:])
            else:
                self._state = _BODY_BY_LENGTH
        wanted = self.max_body if self._body_length is None else min(self._body_length, self.max_body)
        taken = data[pos : pos + wanted - len(self._body)]
        self._body += taken
        if len(self._body) == wanted:
            complete = len(self._body) == self._body_length
            return self._finish(data[pos + len(taken) :] if complete else b"")
        return None

    def feed_eof(self) -> HTTPResponse:
        """The peer closed the connection: the response if that ends its body, else an error."""
        if self._state == _DONE:
            raise RuntimeError("the response is already complete")
        if self._state == _HEAD:
            raise self._eof_during_head()
        if self._state == _BODY_BY_LENGTH:
            raise self._error(f"connection closed after {len(self._body)} of {self._body_length} body bytes")
        return self._finish(b"")

    def _finish(self, rest: Buffer) -> HTTPResponse:
        self._state = _DONE
        self.remaining = bytes(rest)
        status, reason = self._start
        return HTTPResponse(status, reason, self._headers, bytes(self._body))

    def _content_length(self) -> int | None:
        values = header_values(self._headers, "Content-Length")
        if not values:
            return None
        if len(set(values)) != 1 or not values[0].isdigit() or not values[0].isascii():
            raise self._error(f"invalid Content-Length: {values!r}")
        return int(values[0])

    def _parse_start_line(self, line: bytes) -> tuple[int, str]:
        match = _STATUS_LINE.fullmatch(line)
        if match is None:
            raise self._error(f"malformed status line: {line[:64]!r}")
        minor, status, reason = match.groups()
        status = int(status)
        if status == 101 and minor != b"1":
            raise self._error("101 Switching Protocols in an HTTP/1.0 response")
        return status, (reason or b"").decode("latin-1")


def _is_token(value: str) -> bool:
    return _TOKEN.fullmatch(value) is not None


def _is_host(value: str) -> bool:
    """Whether ``value`` is one valid ``host[:port]`` (see _HOST), with a real IPv6 address and port."""
    match = _HOST.fullmatch(value)
    if match is None:
        return False
    ipv6, port = match.group("ipv6", "port")
    if ipv6 is not None:
        try:
            ipaddress.IPv6Address(ipv6)
        except ValueError:
            return False
    return not port or int(port) <= 65535


def _request_host(target: str, host_header: str) -> str:
    """The host a request names: the authority of an absolute-form target (RFC 9112 3.2.2), else Host."""
    if not _is_host(host_header):
        raise HandshakeError(f"Host header {host_header[:64]!r} is not a valid host[:port]")
    if target.startswith("/"):
        return host_header
    authority = re.match("[^/]*//([^/?#]*)", target).group(1)  # type: ignore[union-attr]  # an http(s) URI
    if "@" in authority:
        raise HandshakeError("userinfo in the request target")
    if not _is_host(authority):
        raise HandshakeError(f"authority {authority[:64]!r} of the request target is not a valid host[:port]")
    return authority


def _optional_header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    """The one value of header ``name``, or None if there is none; 400 if it is repeated."""
    values = header_values(headers, name)
    if len(values) > 1:
        raise HandshakeError(f"more than one {name} header")
    return values[0] if values else None


def _single_header(headers: Iterable[tuple[str, str]], name: str) -> str:
    """The one value of header ``name``; 400 if it is repeated or missing."""
    value = _optional_header(headers, name)
    if value is None:
        raise HandshakeError(f"missing {name} header")
    return value


def check_request(request: HTTPRequest) -> ClientHandshake:
    """Validate a client's opening handshake (RFC 6455 4.2.1); HandshakeError with the status to answer."""
    headers = request.headers
    if request.method != "GET":
        raise HandshakeError(f"method {request.method} not allowed: the upgrade must be GET", 405, [("Allow", "GET")])
    target = request.target
    if not (target.startswith("/") or target.lower().startswith(("http://", "https://"))):
        raise HandshakeError(f"request target {target[:64]!r} is neither a path nor an http(s) URI")
    upgrade = header_tokens(headers, "Upgrade")
    if not upgrade:
        raise HandshakeError(
            "missing Upgrade header: this resource needs a WebSocket upgrade",
            426,
            [("Upgrade", "websocket"), ("Connection", "Upgrade")],
        )
    if "websocket" not in (token.lower() for token in upgrade):
        raise HandshakeError(f"Upgrade header {', '.join(upgrade)!r} does not name websocket")
    if "upgrade" not in (token.lower() for token in header_tokens(headers, "Connection")):
        raise HandshakeError("Connection header lacks the upgrade option")
    host = _single_header(headers, "Host")
    if not host:
        raise HandshakeError("empty Host header")
    host = _request_host(target, host)
    if header_values(headers, "Transfer-Encoding") or any(v != "0" for v in header_values(headers, "Content-Length")):
        raise HandshakeError("a WebSocket upgrade request must not have a body")
    version = _optional_header(headers, "Sec-WebSocket-Version")
    if version != "13":
        what = "missing Sec-WebSocket-Version" if version is None else f"unsupported Sec-WebSocket-Version {version!r}"
        raise HandshakeError(f"{what}: only version 13 is supported", 426, [("Sec-WebSocket-Version", "13")])
    key = _single_header(headers, "Sec-WebSocket-Key")
    try:
        decoded = base64.b64decode(key.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise HandshakeError(f"Sec-WebSocket-Key {key[:64]!r} is not base64") from None
    if len(decoded) != 16:
        raise HandshakeError(f"Sec-WebSocket-Key decodes to {len(decoded)} bytes instead of 16")
    origin = _optional_header(headers, "Origin")
    subprotocols = header_tokens(headers, "Sec-WebSocket-Protocol")
    for subprotocol in subprotocols:
        if not _is_token(subprotocol):
            raise HandshakeError(f"invalid subprotocol {subprotocol[:64]!r} in Sec-WebSocket-Protocol")
    extensions = parse_extensions(header_values(headers, "Sec-WebSocket-Extensions"))
    return ClientHandshake(key, host, target, origin, subprotocols, extensions, headers)


def select_subprotocol(offered: list[str], supported: list[str]) -> str | None:
    """The server's choice: the first of ``supported`` (its preference order) that was ``offered``."""
    offered_set = set(offered)
    return next((subprotocol for subprotocol in supported if subprotocol in offered_set), None)


def _parse_extension_list(value: str, extensions: Extensions) -> None:
    """Parse one Sec-WebSocket-Extensions value into ``extensions``; ValueError with a reason."""
    pos = 0

    def skip_ows() -> None:
        nonlocal pos
        pos = _OWS.match(value, pos).end()  # type: ignore[union-attr]  # it matches the empty string

    def token(what: str) -> str:
        nonlocal pos
        match = _TOKEN.match(value, pos)
        if match is None:
            raise ValueError(f"expected {what} at offset {pos}")
        pos = match.end()
        return match.group()

    while True:
        skip_ows()
        if pos == len(value):
            return
        if value[pos] == ",":  # empty list elements are allowed (RFC 9110 5.6.1)
            pos += 1
            continue
        name = token("an extension name")
        params = []
        skip_ows()
        while value.startswith(";", pos):
            pos += 1
            skip_ows()
            param = token("a parameter name")
            skip_ows()
            argument = None
            if value.startswith("=", pos):
                pos += 1
                skip_ows()
                quoted = _QUOTED.match(value, pos)
                if quoted is not None:
                    pos = quoted.end()
                    argument = _QUOTED_PAIR.sub(r"\1", quoted.group(1))
                    if not _is_token(argument):
                        raise ValueError(f"quoted value {argument!r} of {param} is not a token")
                else:
                    argument = token(f"a value for {param}")
                skip_ows()
            params.append((param, argument))
        extensions.append((name, params))
        if pos < len(value) and value[pos] != ",":
            raise ValueError(f"unexpected {value[pos]!r} at offset {pos}")


def parse_extensions(values: list[str]) -> Extensions:
    """Parse Sec-WebSocket-Extensions header values (RFC 6455 9.1) into ``[(name, [(param, value)])]``.

    A parameter without a value has value None; quoted values are unescaped. Malformed: HandshakeError(400).
    """
    extensions: Extensions = []
    for value in values:
        try:
            _parse_extension_list(value, extensions)
        except ValueError as exc:
            raise HandshakeError(f"malformed Sec-WebSocket-Extensions {value[:128]!r}: {exc}") from None
    return extensions


def format_extensions(extensions: Iterable[tuple[str, Collection[tuple[str, str | None]]]]) -> str:
    """The Sec-WebSocket-Extensions value for ``[(name, [(param, value or None)])]``; ValueError on non-tokens."""
    elements = []
    for name, params in extensions:
        words = [name, *(word for param in params for word in param if word is not None)]
        for word in words:
            if not _is_token(word):
                raise ValueError(f"{word!r} in extension {name!r} is not a token")
        parts = [name, *(param if argument is None else f"{param}={argument}" for param, argument in params)]
        elements.append("; ".join(parts))
    return ", ".join(elements)


def _check_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """``headers`` as a list, each checked as the readers would (TypeError, ValueError with the reason)."""
    checked = []
    for header in headers:
        if not (isinstance(header, (tuple, list)) and len(header) == 2):
            raise TypeError(f"a header must be a (name, value) pair, not {header!r}")
        name, value = header
        if not (isinstance(name, str) and isinstance(value, str)):
            raise TypeError(f"header name and value must be str, not {type(name).__name__} and {type(value).__name__}")
        if not _is_token(name):
            raise ValueError(f"invalid header name {name!r}")
        bad = _BAD_FIELD_CHAR.search(value)
        if bad is not None:
            raise ValueError(f"character {bad.group()!r} not allowed in the value of header {name}")
        if value != value.strip(" \t"):
            raise ValueError(f"leading or trailing whitespace in the value of header {name}")
        checked.append((name, value))
    return checked


def _encode_head(start_line: str, headers: Iterable[tuple[str, str]]) -> bytes:
    lines = [f"{name}: {value}\r\n" for name, value in _check_headers(headers)]
    return "".join([start_line, *lines, "\r\n"]).encode("latin-1")


def build_accept(
    key: str,
    *,
    subprotocol: str | None = None,
    extensions: str | None = None,
    extra_headers: Iterable[tuple[str, str]] = (),
) -> bytes:
    """The server's 101 Switching Protocols response to a request with Sec-WebSocket-Key ``key``.

    ``extensions`` is a Sec-WebSocket-Extensions value (see :func:`format_extensions`).
    """
    headers = [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", accept_token(key))]
    if subprotocol is not None:
        if not _is_token(subprotocol):
            raise ValueError(f"subprotocol {subprotocol!r} is not a token")
        headers.append(("Sec-WebSocket-Protocol", subprotocol))
    if extensions:
        headers.append(("Sec-WebSocket-Extensions", extensions))
    headers.extend(extra_headers)
    return _encode_head("HTTP/1.1 101 Switching Protocols\r\n", headers)


def build_rejection(
    status: int, *, headers: Iterable[tuple[str, str]] = (), body: bytes | bytearray | memoryview = b""
) -> bytes:
    """An HTTP/1.1 response refusing the upgrade, which closes the connection.

    Adds Content-Length, Content-Type text/plain when there is a body and none is given, and the
    ``close`` option to the Connection header (merged with any given, e.g. ``Upgrade`` for a 426).
    ``status`` is an int from 200 to 599 and ``body`` bytes-like (else TypeError or ValueError).
    """
    if isinstance(status, bool) or not isinstance(status, int):
        raise TypeError(f"status must be an int, not {type(status).__name__}")
    status = int(status)  # an IntEnum such as http.HTTPStatus formats as its number
    if not 200 <= status <= 599:
        raise ValueError(f"status {status} is not a final non-informational status (200 to 599)")
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise TypeError(f"body must be bytes, not {type(body).__name__}")
    body = bytes(body)
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    headers = _check_headers(headers)
    if header_values(headers, "Content-Length") or header_values(headers, "Transfer-Encoding"):
        raise ValueError("build_rejection sets the body framing itself")
    connection = header_tokens(headers, "Connection")
    headers = [(name, value) for name, value in headers if name.lower() != "connection"]
    if body and not header_values(headers, "Content-Type"):
        headers.append(("Content-Type", "text/plain; charset=utf-8"))
    headers.append(("Content-Length", str(len(body))))
    if "close" not in (token.lower() for token in connection):
        connection.append("close")
    headers.append(("Connection", ", ".join(connection)))
    return _encode_head(f"HTTP/1.1 {status} {reason}\r\n", headers) + body


def build_request(
    host: str,
    target: str,
    key: str,
    *,
    origin: str | None = None,
    subprotocols: Sequence[str] = (),
    extensions: str | None = None,
    extra_headers: Iterable[tuple[str, str]] = (),
) -> bytes:
    """The client's upgrade request: ``GET target HTTP/1.1`` with the RFC 6455 4.1 headers.

    ``extensions`` is a Sec-WebSocket-Extensions value (see :func:`format_extensions`). ValueError on
    what a server would refuse: a ``host`` that is not ``host[:port]`` (an IDN in its ASCII form,
    ``str.encode("idna")``), a target that is not visible ASCII, invalid header names or values.
    """
    if not _is_host(host):
        raise ValueError(f"host {host!r} is not a valid host[:port]")
    if not re.fullmatch("[\x21-\x7e]+", target):
        raise ValueError(f"request target {target!r} must be non-empty visible ASCII without spaces")
    headers = [
        ("Host", host),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", "13"),
    ]
    if origin is not None:
        headers.append(("Origin", origin))
    if subprotocols:
        for subprotocol in subprotocols:
            if not _is_token(subprotocol):
                raise ValueError(f"subprotocol {subprotocol!r} is not a token")
        headers.append(("Sec-WebSocket-Protocol", ", ".join(subprotocols)))
    if extensions:
        headers.append(("Sec-WebSocket-Extensions", extensions))
    headers.extend(extra_headers)
    return _encode_head(f"GET {target} HTTP/1.1\r\n", headers)


def check_response(
    response: HTTPResponse, key: str, *, subprotocols: Collection[str] = (), extensions_offered: Collection[str] = ()
) -> tuple[str | None, Extensions]:
    """Validate the server's answer to a request with Sec-WebSocket-Key ``key`` (RFC 6455 4.1).

    Returns ``(subprotocol or None, accepted extensions)``. A non-101 response raises
    :class:`HandshakeRejected`; an invalid 101 raises :class:`HandshakeError` with ``status=None``.
    ``extensions_offered`` holds the names of the extensions the client offered.
    """
    if response.status != 101:
        raise HandshakeRejected(response.status, response.headers, response.body)
    headers = response.headers

    def fail(message: str) -> HandshakeError:
        return HandshakeError(message, None)

    upgrade = header_tokens(headers, "Upgrade")
    if [token.lower() for token in upgrade] != ["websocket"]:
        raise fail(f"Upgrade header is {', '.join(upgrade)!r} instead of websocket")
    if "upgrade" not in (token.lower() for token in header_tokens(headers, "Connection")):
        raise fail("Connection header lacks the upgrade option")
    accepts = header_values(headers, "Sec-WebSocket-Accept")
    if len(accepts) != 1:
        raise fail(f"{len(accepts)} Sec-WebSocket-Accept headers instead of 1")
    if accepts[0] != accept_token(key):
        raise fail(f"Sec-WebSocket-Accept {accepts[0][:64]!r} does not match the key")
    chosen = header_tokens(headers, "Sec-WebSocket-Protocol")
    if len(chosen) > 1:
        raise fail(f"server chose several subprotocols: {', '.join(chosen)!r}")
    subprotocol = chosen[0] if chosen else None
    if subprotocol is None and header_values(headers, "Sec-WebSocket-Protocol"):
        raise fail("empty Sec-WebSocket-Protocol header")
    if subprotocol is not None and subprotocol not in subprotocols:
        raise fail(f"server chose subprotocol {subprotocol!r}, which was not offered")
    try:
        extensions = parse_extensions(header_values(headers, "Sec-WebSocket-Extensions"))
    except HandshakeError as exc:
        raise fail(str(exc)) from None
    for name, _params in extensions:
        if name not in extensions_offered:
            raise fail(f"server accepted extension {name!r}, which was not offered")
    return subprotocol, extensions
