"""A uvicorn WebSocket protocol on wsframe: ``uvicorn app:app --ws wsframe.integrations.uvicorn:WebSocketProtocol``.

Also ``uvicorn.Config(app, ws=WebSocketProtocol)``. It serves ASGI WebSocket applications (ASGI spec
2.4, with the ``websocket.http.response`` denial extension) as uvicorn's own ``wsproto`` and
``websockets-sansio`` protocols do, with :class:`wsframe.connection.ServerConnection` doing the protocol
work. uvicorn's options apply: ``ws_max_size`` (largest message, after inflating; 1009 above it, checked
from frame headers), ``ws_per_message_deflate`` (offered windows limited to 4 KiB, memLevel 5, as
uvicorn's default protocol), ``ws_ping_interval`` / ``ws_ping_timeout`` (keepalive pings; 1011 when the
pong is late), and the server's default headers, access log lines, connection count and shutdown (1012).

Where it differs from uvicorn's protocols, on purpose:

* ``ws_max_queue`` is unused, as by uvicorn's sans-I/O protocols: reading pauses as soon as one received
  message waits for the application, which bounds the queue more tightly than any ``ws_max_queue``.
* A connection lost without a close frame is reported as ``websocket.disconnect`` code 1006 (RFC 6455
  7.1.5) also after the handshake, where uvicorn's protocols say 1005.
* A denial response (``websocket.http.response.*``) is sent once its body is complete, with the
  Content-Length of that body. If the application ends before, the response is sent only when its
  declared Content-Length matches what it sent; otherwise the client gets a 500.
"""

from __future__ import annotations

import asyncio
import logging
import random
import struct
from typing import Any
from urllib.parse import unquote

from uvicorn.logging import TRACE_LOG_LEVEL
from uvicorn.protocols.utils import (
    ClientDisconnected,
    get_client_addr,
    get_local_addr,
    get_path_with_query_string,
    get_remote_addr,
    is_ssl,
)

from ..connection import ConnectionState, ServerConnection
from ..deflate import PerMessageDeflate
from ..errors import HandshakeError, InvalidState, WebSocketError
from ..events import AcceptConnection, BytesMessage, CloseConnection, Ping, Pong, RejectConnection, Request, TextMessage

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Iterable

    from uvicorn._types import WebSocketScope
    from uvicorn.config import Config
    from uvicorn.server import ServerState

__all__ = ["WebSocketProtocol"]

_OPEN = ConnectionState.OPEN
# The body framing of a denial response is the connection's to set, from the body it sends.
_FRAMING_HEADERS = ("content-length", "transfer-encoding")


def _decode_headers(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """ASGI headers (bytes pairs) as the str pairs wsframe's handshake takes; bytes map 1:1 in latin-1."""
    return [(bytes(name).decode("latin-1"), bytes(value).decode("latin-1")) for name, value in headers]


class WebSocketProtocol(asyncio.Protocol):
    """One WebSocket connection of a uvicorn server; uvicorn creates it when an HTTP request upgrades."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not config.loaded:
            config.load()
        self.config = config
        self.app = config.loaded_app
        self.loop = _loop or asyncio.get_running_loop()
        self.logger = logging.getLogger("uvicorn.error")
        self.root_path = config.root_path
        self.asgi_version = config.asgi_version
        self.app_state = app_state

        self.connections = server_state.connections
        self.tasks = server_state.tasks
        self.default_headers = server_state.default_headers

        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.server: tuple[str, int | None] | None = None
        self.client: tuple[str, int] | None = None
        self.scheme = "ws"
        self.scope: WebSocketScope = {}  # type: ignore[typeddict-item]  # filled in by handle_request

        deflate = None
        if config.ws_per_message_deflate:
            deflate = PerMessageDeflate(server_max_window_bits=12, client_max_window_bits=12, mem_level=5)
        self.conn = ServerConnection(max_message_size=config.ws_max_size, deflate=deflate)

        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.handshake_complete = False  # an HTTP response (101 or a refusal) went out
        self.close_sent = False  # our close frame or refusal went out (not set by the peer's close: sends then fail)
        self.disconnected = False
        self.close_timer: asyncio.TimerHandle | None = None
        self.close_timeout = 10.0
        # A denial response in progress: (status, headers, declared Content-Length or None) and its body.
        self.denial: tuple[int, list[tuple[str, str]], str | None] | None = None
        self.denial_body = bytearray()

        self.read_paused = False
        self.writable = asyncio.Event()
        self.writable.set()

        self.ping_interval = config.ws_ping_interval
        self.ping_timeout = config.ws_ping_timeout
        self.ping_timer: asyncio.TimerHandle | None = None
        self.pong_timer: asyncio.TimerHandle | None = None
        self.pending_ping_payload: bytes | None = None
        self.ping_sent_at = 0.0
        self.last_ping_rtt = 0.0

    # -- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.connections.add(self)  # type: ignore[arg-type]  # typed for uvicorn's own protocols
        self.transport = transport
        self.server = get_local_addr(transport)
        self.client = get_remote_addr(transport)
        self.scheme = "wss" if is_ssl(transport) else "ws"
        self._trace("WebSocket connection made")

    def connection_lost(self, exc: Exception | None) -> None:
        self.stop_keepalive()
        self.queue.put_nowait({"type": "websocket.disconnect", "code": 1006})
        self.connections.discard(self)
        self._trace("WebSocket connection lost")
        self.disconnected = True
        self.writable.set()  # asyncio never resumes writing on a transport lost while paused
        self._cancel_close_timer()
        if exc is None:
            self.transport.close()

    def eof_received(self) -> None:
        pass

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def data_received(self, data: bytes) -> None:
        self.conn.receive_data(data)
        self.handle_events()

    def shutdown(self) -> None:
        """The server is shutting down: close with 1012 (Service Restart), or refuse a pending handshake."""
        self.stop_keepalive()
        if self.close_sent:
            self._cancel_close_timer()
        elif self.handshake_complete:
            if self.conn.state is _OPEN:
                self.queue.put_nowait({"type": "websocket.disconnect", "code": 1012})
                self.transport.write(self.conn.send(CloseConnection(1012)))
                self.close_sent = True
        else:
            self.send_500_response()
        self.transport.close()

    # -- received events -------------------------------------------------------------------------

    def handle_events(self) -> None:
        conn = self.conn
        queued = False
        event: Any  # told apart by exact type below, which mypy does not narrow through (no code at run time)
        try:
            for event in conn.events():
                kind = type(event)
                if kind is TextMessage:
                    if not self.close_sent:  # past websocket.close, messages are dropped until the reply
                        self.queue.put_nowait({"type": "websocket.receive", "text": event.data})
                        queued = True
                elif kind is BytesMessage:
                    if not self.close_sent:
                        self.queue.put_nowait({"type": "websocket.receive", "bytes": event.data})
                        queued = True
                elif kind is Request:
                    self.handle_request(event)
                elif kind is CloseConnection:
                    self.handle_close(event)
                elif kind is Pong:
                    self.handle_pong(event)
                # Ping: the connection queued the pong itself.
        except HandshakeError:
            # Not an acceptable upgrade: the connection queued its HTTP error response.
            self.handshake_complete = self.close_sent = True
            self._write_and_close()
            return
        except WebSocketError:
            # The peer broke the protocol: the connection queued its close frame with the error's code.
            if not self.close_sent:
                # Set: the connection was open (we had sent no close), so it sent one for the error.
                close: CloseConnection = self.conn.close_sent  # type: ignore[assignment]
                self.queue.put_nowait({"type": "websocket.disconnect", "code": close.code, "reason": close.reason})
            self._write_and_close()
            return
        output = conn.data_to_send()  # pongs, the reply to a close
        if output and not self.transport.is_closing():
            self.transport.write(output)
        if queued and not self.read_paused and not self.transport.is_closing():
            self.read_paused = True
            self.transport.pause_reading()

    def handle_request(self, event: Request) -> None:
        raw_path, _, query_string = event.target.partition("?")
        self.scope = {
            "type": "websocket",
            "asgi": {"version": self.asgi_version, "spec_version": "2.4"},
            "http_version": "1.1",
            "scheme": self.scheme,
            "server": self.server,
            "client": self.client,
            "root_path": self.root_path,
            "path": self.root_path + unquote(raw_path),
            "raw_path": self.root_path.encode("ascii") + raw_path.encode("ascii"),
            "query_string": query_string.encode("ascii"),
            "headers": [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in event.headers],
            "subprotocols": event.subprotocols,
            "state": self.app_state.copy(),
            "extensions": {"websocket.http.response": {}},
        }
        self.queue.put_nowait({"type": "websocket.connect"})
        task = self.loop.create_task(self.run_asgi())
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    def handle_close(self, event: CloseConnection) -> None:
        if self.close_sent:
            # The peer answered our close frame: the closing handshake is complete.
            self._cancel_close_timer()
            self.transport.close()
            return
        self.queue.put_nowait({"type": "websocket.disconnect", "code": event.code, "reason": event.reason})
        self._write_and_close()  # with the connection's reply

    def _write_and_close(self) -> None:
        output = self.conn.data_to_send()
        if output and not self.transport.is_closing():
            self.transport.write(output)
        self.transport.close()

    # -- keepalive -------------------------------------------------------------------------------

    def start_keepalive(self) -> None:
        if self.ping_interval is not None and self.ping_interval > 0:
            self.schedule_ping()

    def stop_keepalive(self) -> None:
        if self.ping_timer is not None:
            self.ping_timer.cancel()
            self.ping_timer = None
        if self.pong_timer is not None:
            self.pong_timer.cancel()
            self.pong_timer = None
        self.pending_ping_payload = None

    def schedule_ping(self) -> None:
        # The measured round trip is taken off the interval, so that pings go out every interval.
        delay = max(0.0, self.ping_interval - self.last_ping_rtt)  # type: ignore[operator]  # pings run: not None
        self.ping_timer = self.loop.call_later(delay, self.send_keepalive_ping)

    def send_keepalive_ping(self) -> None:
        self.ping_timer = None
        if self.close_sent or self.transport.is_closing() or self.conn.state is not _OPEN:
            return
        # A random payload tells the answer to this ping from stale or unsolicited pongs.
        self.pending_ping_payload = struct.pack("!I", random.getrandbits(32))
        self.ping_sent_at = self.loop.time()
        self.transport.write(self.conn.send(Ping(self.pending_ping_payload)))
        if self.ping_timeout is not None:
            self.pong_timer = self.loop.call_later(self.ping_timeout, self.keepalive_timeout)
        else:
            self.schedule_ping()

    def handle_pong(self, event: Pong) -> None:
        if self.pending_ping_payload is None or bytes(event.payload) != self.pending_ping_payload:
            return
        self.last_ping_rtt = self.loop.time() - self.ping_sent_at
        self.pending_ping_payload = None
        if self.pong_timer is not None:  # without a ping timeout, the next ping is already scheduled
            self.pong_timer.cancel()
            self.pong_timer = None
            self.schedule_ping()

    def keepalive_timeout(self) -> None:
        self.pong_timer = None
        self.pending_ping_payload = None
        if self.close_sent or self.transport.is_closing() or self.conn.state is not _OPEN:
            return
        self._trace("WebSocket keepalive ping timeout")
        self.transport.write(self.conn.send(CloseConnection(1011, "keepalive ping timeout")))
        self.close_sent = True
        self.transport.close()

    # -- the application -------------------------------------------------------------------------

    async def run_asgi(self) -> None:
        try:
            result = await self.app(self.scope, self.receive, self.send)
        except ClientDisconnected:
            pass
        except BaseException:
            self.logger.exception("Exception in ASGI application\n")
            self.send_500_response()
        else:
            if self.denial is not None:
                self.logger.error("ASGI callable returned without completing the denial response.")
            elif not self.handshake_complete:
                self.logger.error("ASGI callable returned without completing handshake.")
            elif result is not None:
                self.logger.error("ASGI callable should return None, but returned '%s'.", result)
            self.send_500_response()
        if self.close_timer is None:
            self.transport.close()

    def send_500_response(self) -> None:
        """Answers a handshake the application left unanswered: its denial response if complete, else 500."""
        if self.handshake_complete or self.disconnected or self.conn.state is not ConnectionState.CONNECTING:
            return
        if self.denial is not None:
            status, headers, declared_length = self.denial
            body = bytes(self.denial_body)
            self.denial = None
            if declared_length is not None and declared_length.strip() == str(len(body)):
                try:
                    self.send_rejection(status, headers, body)
                    return
                except (TypeError, ValueError):
                    pass  # a response wsframe refuses to send: answered with the 500 below
        self.send_rejection(500, [], b"Internal Server Error")

    def send_rejection(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        output = self.conn.send(RejectConnection(status, _decode_headers(self.default_headers) + headers, body))
        self.handshake_complete = self.close_sent = True
        self.queue.put_nowait({"type": "websocket.disconnect", "code": 1006})
        self.transport.write(output)
        self.transport.close()

    async def receive(self) -> dict[str, Any]:
        message = await self.queue.get()
        if self.read_paused and self.queue.empty():
            self.read_paused = False
            self.transport.resume_reading()
        return message

    async def send(self, message: dict[str, Any]) -> None:
        await self.writable.wait()
        if self.disconnected:
            raise ClientDisconnected()
        kind = message["type"]
        if self.denial is not None:
            self.send_denial_body(message)
        elif not self.handshake_complete:
            self.answer_handshake(message)
        elif not self.close_sent:
            try:
                if kind == "websocket.send":
                    self.send_data(message)
                elif kind == "websocket.close":
                    self.send_close(message)
                else:
                    raise RuntimeError(
                        f"Expected ASGI message 'websocket.send' or 'websocket.close', but got '{kind}'."
                    )
            except InvalidState:
                raise ClientDisconnected() from None  # the peer closed first
        else:
            raise RuntimeError(f"Unexpected ASGI message '{kind}', after sending 'websocket.close'.")

    def answer_handshake(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "websocket.accept":
            self._access_log("[accepted]")
            headers = _decode_headers(self.default_headers + list(message.get("headers", [])))
            if self.transport.is_closing():
                return
            output = self.conn.send(AcceptConnection(message.get("subprotocol"), extra_headers=headers))
            self.handshake_complete = True
            self.transport.write(output)
            self.start_keepalive()
            self.handle_events()  # frames that arrived with the request
        elif kind == "websocket.close":
            self._access_log("403")
            self.send_rejection(403, [], b"")
        elif kind == "websocket.http.response.start":
            status = message["status"]
            if not 100 <= status < 600:
                raise RuntimeError("Invalid HTTP status code '%d' in response." % status)
            self._access_log("%d" % status)
            headers = _decode_headers(message.get("headers", []))
            declared_length = next((value for name, value in headers if name.lower() == "content-length"), None)
            headers = [(name, value) for name, value in headers if name.lower() not in _FRAMING_HEADERS]
            self.denial = (status, headers, declared_length)
        else:
            raise RuntimeError(
                "Expected ASGI message 'websocket.accept', 'websocket.close' "
                f"or 'websocket.http.response.start' but got '{kind}'."
            )

    def send_denial_body(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind != "websocket.http.response.body":
            raise RuntimeError(f"Expected ASGI message 'websocket.http.response.body' but got '{kind}'.")
        self.denial_body += message.get("body", b"")
        if not message.get("more_body", False):
            status, headers, _ = self.denial  # type: ignore[misc]  # send() comes here only while there is one
            self.denial = None
            self.send_rejection(status, headers, bytes(self.denial_body))

    def send_data(self, message: dict[str, Any]) -> None:
        data = message.get("bytes")
        if data is not None:
            output = self.conn.send_binary(data)
        else:
            text = message.get("text")
            if text is None:
                raise RuntimeError("Expected 'bytes' or 'text' in ASGI message 'websocket.send'.")
            output = self.conn.send_text(text)
        if not self.transport.is_closing():
            self.transport.write(output)

    def send_close(self, message: dict[str, Any]) -> None:
        code = message.get("code", 1000)
        reason = message.get("reason") or ""
        output = self.conn.send(CloseConnection(code, reason))
        self.close_sent = True
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        if self.transport.is_closing():
            return
        self.transport.write(output)
        if self.read_paused:  # the peer's close frame must get through
            self.read_paused = False
            self.transport.resume_reading()
        # Wait for the peer's close frame (RFC 6455 5.5.1) before closing the TCP connection, but not forever.
        self.close_timer = self.loop.call_later(self.close_timeout, self.transport.close)

    # -- helpers ---------------------------------------------------------------------------------

    def _cancel_close_timer(self) -> None:
        if self.close_timer is not None:
            self.close_timer.cancel()
            self.close_timer = None

    def _access_log(self, outcome: str) -> None:
        self.logger.info(
            '%s - "WebSocket %s" %s', get_client_addr(self.scope), get_path_with_query_string(self.scope), outcome
        )

    def _trace(self, what: str) -> None:
        if self.logger.level <= TRACE_LOG_LEVEL:
            prefix = "%s:%d - " % self.client if self.client else ""
            self.logger.log(TRACE_LOG_LEVEL, "%s%s", prefix, what)
