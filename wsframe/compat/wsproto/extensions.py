"""wsproto.extensions: the Extension interface and permessage-deflate's negotiation.

Negotiation runs through the Extension objects as in wsproto (``offer``, ``accept``, ``finalize``);
the agreed permessage-deflate is then run by wsframe's connection (:mod:`wsframe.deflate`). wsproto's
per-frame hooks (``frame_inbound_*``, ``frame_outbound``) are kept on :class:`Extension` for subclasses
but never called: a connection refuses an enabled extension other than :class:`PerMessageDeflate`.
"""

from __future__ import annotations

from wsframe.deflate import DeflateParameters

from .frame_protocol import RsvBits

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time
if TYPE_CHECKING:
    from typing import NoReturn

    from .frame_protocol import CloseReason, Opcode

__all__ = ["Extension", "PerMessageDeflate", "SUPPORTED_EXTENSIONS"]


class Extension:
    """Base class of extensions: ``name``, ``offer`` (client), ``accept`` (server), ``finalize`` (client)."""

    name: str

    def enabled(self) -> bool:
        return False

    def offer(self) -> bool | str:
        """Client: the offer's parameters (str), or True to offer the bare name, False not to offer."""
        raise NotImplementedError

    def accept(self, offer: str) -> bool | str | None:
        """Server: the response's parameters for the client's ``offer`` (the whole element), or None."""
        return None

    def finalize(self, offer: str) -> None:
        """Client: the server accepted with the element ``offer``."""

    # ``proto``: wsproto passes its frame parser, which this package does not have (the hooks never run).
    def frame_inbound_header(
        self, proto: object, opcode: Opcode, rsv: RsvBits, payload_length: int
    ) -> CloseReason | RsvBits:
        return RsvBits(False, False, False)

    def frame_inbound_payload_data(self, proto: object, data: bytes) -> bytes | CloseReason:
        return data

    def frame_inbound_complete(self, proto: object, fin: bool) -> bytes | CloseReason | None:
        return None

    def frame_outbound(
        self, proto: object, opcode: Opcode, rsv: RsvBits, data: bytes, fin: bool
    ) -> tuple[RsvBits, bytes]:
        return (rsv, data)


def _parameters(element: str) -> list[tuple[str, str | None]]:
    """The ``(name, value or None)`` parameters of an extension element ``name; a=1; b``."""
    parameters = []
    for part in element.split(";")[1:]:
        name, equals, value = part.partition("=")
        parameters.append((name.strip(), value.strip().strip('"') if equals else None))
    return parameters


def _window_bits(value: int) -> int:
    if not 9 <= value <= 15:
        raise ValueError("Window size must be between 9 and 15 inclusive")
    return value


class PerMessageDeflate(Extension):
    """permessage-deflate (RFC 7692), with wsproto's constructor, attributes and negotiation strings.

    After negotiation the attributes hold what was agreed. As a server, a window is the smaller of the
    client's offer and this object's setting (wsproto takes the client's); the client's window is 15
    unless the client offered ``client_max_window_bits``, since only then may the server limit it.
    """

    name = "permessage-deflate"

    DEFAULT_CLIENT_MAX_WINDOW_BITS = 15
    DEFAULT_SERVER_MAX_WINDOW_BITS = 15

    def __init__(
        self,
        client_no_context_takeover: bool = False,
        client_max_window_bits: int | None = None,
        server_no_context_takeover: bool = False,
        server_max_window_bits: int | None = None,
    ) -> None:
        self.client_no_context_takeover = client_no_context_takeover
        self.server_no_context_takeover = server_no_context_takeover
        self._client_max_window_bits = self.DEFAULT_CLIENT_MAX_WINDOW_BITS
        self._server_max_window_bits = self.DEFAULT_SERVER_MAX_WINDOW_BITS
        if client_max_window_bits is not None:
            self.client_max_window_bits = client_max_window_bits
        if server_max_window_bits is not None:
            self.server_max_window_bits = server_max_window_bits
        self._enabled = False

    @property
    def client_max_window_bits(self) -> int:
        return self._client_max_window_bits

    @client_max_window_bits.setter
    def client_max_window_bits(self, value: int) -> None:
        self._client_max_window_bits = _window_bits(value)

    @property
    def server_max_window_bits(self) -> int:
        return self._server_max_window_bits

    @server_max_window_bits.setter
    def server_max_window_bits(self, value: int) -> None:
        self._server_max_window_bits = _window_bits(value)

    def enabled(self) -> bool:
        return self._enabled

    def offer(self) -> str:
        parameters = [
            f"client_max_window_bits={self.client_max_window_bits}",
            f"server_max_window_bits={self.server_max_window_bits}",
        ]
        if self.client_no_context_takeover:
            parameters.append("client_no_context_takeover")
        if self.server_no_context_takeover:
            parameters.append("server_no_context_takeover")
        return "; ".join(parameters)

    def finalize(self, offer: str) -> None:
        """Client: takes the server's answer; unknown parameters are ignored, as in wsproto."""
        for name, value in _parameters(offer):
            if name == "client_no_context_takeover":
                self.client_no_context_takeover = True
            elif name == "server_no_context_takeover":
                self.server_no_context_takeover = True
            elif name == "client_max_window_bits" and value is not None:
                self.client_max_window_bits = int(value)
            elif name == "server_max_window_bits" and value is not None:
                self.server_max_window_bits = int(value)
        self._enabled = True

    def accept(self, offer: str) -> str | None:
        """Server: the response's parameters for the client's offer; None (declined) for a bad window."""
        offered_client_bits = offered_server_bits = None
        client_bits_offered = server_bits_offered = False
        try:
            for name, value in _parameters(offer):
                if name == "client_no_context_takeover":
                    self.client_no_context_takeover = True
                elif name == "server_no_context_takeover":
                    self.server_no_context_takeover = True
                elif name == "client_max_window_bits":
                    client_bits_offered = True
                    offered_client_bits = None if value is None else _window_bits(int(value))
                elif name == "server_max_window_bits":
                    server_bits_offered = True
                    offered_server_bits = None if value is None else _window_bits(int(value))
        except ValueError:
            return None
        client_bits = self.DEFAULT_CLIENT_MAX_WINDOW_BITS
        if client_bits_offered:
            client_bits = min(offered_client_bits or 15, self.client_max_window_bits)
        self.client_max_window_bits = client_bits
        self.server_max_window_bits = min(offered_server_bits or 15, self.server_max_window_bits)
        parameters = []
        if self.client_no_context_takeover:
            parameters.append("client_no_context_takeover")
        if self.server_no_context_takeover:
            parameters.append("server_no_context_takeover")
        if client_bits_offered:
            parameters.append(f"client_max_window_bits={self.client_max_window_bits}")
        if server_bits_offered:
            parameters.append(f"server_max_window_bits={self.server_max_window_bits}")
        self._enabled = True
        return "; ".join(parameters)

    def _agreed(self) -> DeflateParameters:
        """The negotiated parameters, for wsframe's compressor and decompressor."""
        return DeflateParameters(
            server_no_context_takeover=self.server_no_context_takeover,
            client_no_context_takeover=self.client_no_context_takeover,
            server_max_window_bits=self.server_max_window_bits,
            client_max_window_bits=self.client_max_window_bits,
        )

    def _hooks_not_run(self, *args: object, **kwargs: object) -> NoReturn:
        raise NotImplementedError("wsframe's connection compresses and inflates: wsproto's frame hooks do not run")

    frame_inbound_header = frame_inbound_payload_data = frame_inbound_complete = frame_outbound = _hooks_not_run

    def __repr__(self) -> str:
        parts = [f"client_max_window_bits={self.client_max_window_bits}"]
        if self.client_no_context_takeover:
            parts.append("client_no_context_takeover")
        parts.append(f"server_max_window_bits={self.server_max_window_bits}")
        if self.server_no_context_takeover:
            parts.append("server_no_context_takeover")
        return f"<{type(self).__name__} {'; '.join(parts)}>"


SUPPORTED_EXTENSIONS = {PerMessageDeflate.name: PerMessageDeflate}
