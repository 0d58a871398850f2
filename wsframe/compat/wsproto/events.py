"""wsproto.events: the events a connection receives and the caller sends, with wsproto's fields.

As in wsproto the caller answers what arrives: a :class:`Ping` with ``send(event.response())``, a peer's
:class:`CloseConnection` with ``send(event.response())`` while the state is ``REMOTE_CLOSING``.

The handshake and control events are frozen dataclasses, as wsproto's. The data messages are tuples
``(data, frame_finished, message_finished)`` underneath, so that one costs a tuple to make: they compare
equal only to a message of the same type and values, and are immutable, but they are not dataclasses
(``dataclasses.replace`` does not apply; make a new one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import GenericAlias

from ...events import _TupleEvent

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, Generic, TypeVar

    from typing_extensions import Self

    from .extensions import Extension
    from .typing import Headers

    _T = TypeVar("_T", bytes | bytearray, str)  # as wsproto's Message

    class _MessageTuple(tuple[Any, bool, bool], Generic[_T]):
        pass

else:
    from ...events import _tuplegetter  # Message's accessors (only its run-time branch uses them)

    _MessageTuple = tuple

__all__ = [
    "Event",
    "Request",
    "AcceptConnection",
    "RejectConnection",
    "RejectData",
    "CloseConnection",
    "Message",
    "TextMessage",
    "BytesMessage",
    "Ping",
    "Pong",
]


class Event:
    """Base class of every event."""

    __slots__ = ()


@dataclass(frozen=True)
class Request(Event):
    """A client's upgrade request. Server: received (``extensions`` are the offered strings).
    Client: sent (``extensions`` are the :class:`~.extensions.Extension` objects to offer)."""

    host: str
    target: str
    extensions: Sequence[Extension] | Sequence[str] = field(default_factory=list)
    extra_headers: Headers = field(default_factory=list)
    subprotocols: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AcceptConnection(Event):
    """Server: accept the request (``extensions``: the Extension objects it supports). Client: accepted."""

    subprotocol: str | None = None
    extensions: list[Extension] = field(default_factory=list)
    extra_headers: Headers = field(default_factory=list)


@dataclass(frozen=True)
class RejectConnection(Event):
    """The HTTP response refusing the upgrade; with ``has_body``, :class:`RejectData` events follow."""

    status_code: int = 400
    headers: Headers = field(default_factory=list)
    has_body: bool = False


@dataclass(frozen=True)
class RejectData(Event):
    """A piece of the refusing response's body; ``body_finished`` on the last one."""

    data: bytes
    body_finished: bool = True


@dataclass(frozen=True)
class CloseConnection(Event):
    """A close frame's code (a :class:`~.frame_protocol.CloseReason` when it has a name) and reason."""

    code: int
    reason: str | None = None

    def response(self) -> CloseConnection:
        """The close that answers this one: same code and reason."""
        return CloseConnection(code=self.code, reason=self.reason)


@dataclass(frozen=True)
class Ping(Event):
    payload: bytes = b""

    def response(self) -> Pong:
        """The pong that answers this ping."""
        return Pong(payload=self.payload)


@dataclass(frozen=True)
class Pong(Event):
    payload: bytes = b""


# At run time the subscript is tuple's, and only tuple is a base; _TupleEvent: equality, repr, copying.
class Message(_TupleEvent, Event, _MessageTuple["_T"]):
    """A data message, or a piece of one (``message_finished`` False while more follow).

    Sending: the type of ``data`` decides the frame (str: text, bytes-like: binary), as in wsproto.
    Received pieces have ``frame_finished`` True: wsframe delivers the bytes as they arrive and does
    not report where the peer's frames ended (wsproto documents the field as carrying no meaning).
    """

    __slots__ = ()
    _fields = ("data", "frame_finished", "message_finished")

    def __new__(cls, data: _T, frame_finished: bool = True, message_finished: bool = True) -> Self:
        return tuple.__new__(cls, (data, frame_finished, message_finished))

    if TYPE_CHECKING:  # what the properties below give

        @property
        def data(self) -> _T: ...
        @property
        def frame_finished(self) -> bool: ...
        @property
        def message_finished(self) -> bool: ...

    else:
        data = _tuplegetter(0, "The payload of this message or piece: str for text, bytes for binary.")
        frame_finished = _tuplegetter(1, "As wsproto's; True on every received piece (see the class doc).")
        message_finished = _tuplegetter(2, "False for a piece that more pieces follow.")

        __class_getitem__ = classmethod(GenericAlias)  # Message[str], as wsproto's generic dataclass

    __hash__ = tuple.__hash__  # wsproto's events are frozen dataclasses: hashable


class TextMessage(Message[str]):
    """A text message (or piece): ``data`` is a str."""

    __slots__ = ()


class BytesMessage(Message[bytes | bytearray]):
    """A binary message (or piece): ``data`` is bytes."""

    __slots__ = ()
