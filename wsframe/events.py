"""The events a connection produces from received bytes, and the ones the caller sends.

The vocabulary follows wsproto's, so that moving from wsproto is a small change: a server receives a
:class:`Request` and sends :class:`AcceptConnection` or :class:`RejectConnection`; both sides exchange
:class:`TextMessage`, :class:`BytesMessage`, :class:`Ping`, :class:`Pong` and :class:`CloseConnection`.
Events are small slotted classes that compare by value.
"""

from __future__ import annotations

__all__ = [
    "Event",
    "Request",
    "AcceptConnection",
    "RejectConnection",
    "Message",
    "TextMessage",
    "BytesMessage",
    "Ping",
    "Pong",
    "CloseConnection",
]


class Event:
    """Base class of every event: value equality and a readable repr over ``__slots__``."""

    __slots__ = ()
    _fields: tuple = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._fields = cls._fields + tuple(cls.__dict__.get("__slots__", ()))

    def _values(self):
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()

    __hash__ = None

    def __repr__(self):
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({fields})"


class Request(Event):
    """A client's opening handshake, as the server received it (and checked it against RFC 6455)."""

    __slots__ = ("host", "target", "origin", "subprotocols", "extensions", "headers")

    def __init__(self, host, target, origin=None, subprotocols=(), extensions=(), headers=()):
        self.host = host
        self.target = target
        self.origin = origin
        self.subprotocols = list(subprotocols)
        # Offered extensions as parsed: [(name, [(param, value or None), ...]), ...]
        self.extensions = list(extensions)
        self.headers = list(headers)


class AcceptConnection(Event):
    """Server: accept the client's request. Client: the server accepted (what was negotiated)."""

    __slots__ = ("subprotocol", "extensions", "extra_headers")

    def __init__(self, subprotocol=None, extensions=(), extra_headers=()):
        self.subprotocol = subprotocol
        self.extensions = list(extensions)
        self.extra_headers = list(extra_headers)


class RejectConnection(Event):
    """Server: refuse the client's request with an HTTP response. Client: the server refused."""

    __slots__ = ("status_code", "headers", "body")

    def __init__(self, status_code=400, headers=(), body=b""):
        self.status_code = status_code
        self.headers = list(headers)
        self.body = body


class Message(Event):
    """A data message, or in streaming mode a piece of one (``message_finished`` tells which)."""

    __slots__ = ("data", "message_finished")

    def __init__(self, data, message_finished=True):
        self.data = data
        self.message_finished = message_finished


class TextMessage(Message):
    """A text message: ``data`` is a str."""

    __slots__ = ()


class BytesMessage(Message):
    """A binary message: ``data`` is bytes."""

    __slots__ = ()


class Ping(Event):
    """A ping (at most 125 bytes of payload)."""

    __slots__ = ("payload",)

    def __init__(self, payload=b""):
        self.payload = payload

    def response(self):
        """The pong that answers this ping."""
        return Pong(self.payload)


class Pong(Event):
    """A pong (at most 125 bytes of payload)."""

    __slots__ = ("payload",)

    def __init__(self, payload=b""):
        self.payload = payload


class CloseConnection(Event):
    """A close frame's code and reason; code 1005 means the frame had no code, 1006 no close frame at all."""

    __slots__ = ("code", "reason")

    def __init__(self, code=1000, reason=""):
        self.code = code
        self.reason = reason

    def response(self):
        """The close frame that answers this one (same code; 1005 is answered with no code)."""
        return CloseConnection(self.code, "")
