"""The events a connection produces from received bytes, and the ones the caller sends.

The vocabulary follows wsproto's, so that moving from wsproto is a small change: a server receives a
:class:`Request` and sends :class:`AcceptConnection` or :class:`RejectConnection`; both sides exchange
:class:`TextMessage`, :class:`BytesMessage`, :class:`Ping`, :class:`Pong` and :class:`CloseConnection`.
Events are small slotted classes that compare by value. Messages are tuples ``(data, message_finished)``
underneath, so that the frame decoder can build them without running Python code.
"""

from __future__ import annotations

import operator

try:  # namedtuple's field accessor: a C descriptor, read faster than a property calling an itemgetter
    from _collections import _tuplegetter  # type: ignore[import-not-found]  # no stub: a private module
except ImportError:  # as collections does on Pythons without it

    def _tuplegetter(index: int, doc: str) -> property:
        return property(operator.itemgetter(index), doc=doc)


TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Iterable

    from typing_extensions import Self

    from .handshake import Extension
    _MessageTuple = tuple[str | bytes, bool]
    _AnyTuple = tuple[object, ...]
else:
    _MessageTuple = _AnyTuple = tuple

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


class _Fields:
    """A readable repr over ``_fields``: of every event here, and of wsproto's messages in compat."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({fields})"


class Event(_Fields):
    """Base class of every event: value equality and a readable repr over ``__slots__``."""

    __slots__ = ()

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls._fields = cls._fields + tuple(cls.__dict__.get("__slots__", ()))

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()

    __hash__ = None  # type: ignore[assignment]  # equal by value, and mutable


class _TupleEvent(_Fields, _AnyTuple):
    """An event that is a tuple underneath, its items named by ``_fields`` (the messages here, and
    wsproto's in compat): equal only to an event of its type with the same items, never to a plain
    tuple, and copied and pickled through ``__new__``."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if type(other) is type(self):
            return tuple.__eq__(self, other)
        # A plain tuple (or another message type) would otherwise compare equal as a tuple.
        return False if isinstance(other, tuple) else NotImplemented

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __getnewargs__(self) -> tuple[object, ...]:
        # tuple's would pass the items as one argument; copy and pickle call __new__ with these.
        return tuple(self)


class Request(Event):
    """A client's opening handshake, as the server received it (and checked it against RFC 6455)."""

    __slots__ = ("host", "target", "origin", "subprotocols", "extensions", "headers")

    def __init__(
        self,
        host: str,
        target: str,
        origin: str | None = None,
        subprotocols: Iterable[str] = (),
        extensions: Iterable[Extension] = (),
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
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

    def __init__(
        self,
        subprotocol: str | None = None,
        extensions: Iterable[Extension] = (),
        extra_headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.subprotocol = subprotocol
        self.extensions = list(extensions)
        self.extra_headers = list(extra_headers)


class RejectConnection(Event):
    """Server: refuse the client's request with an HTTP response. Client: the server refused."""

    __slots__ = ("status_code", "headers", "body")

    def __init__(self, status_code: int = 400, headers: Iterable[tuple[str, str]] = (), body: bytes = b"") -> None:
        self.status_code = status_code
        self.headers = list(headers)
        self.body = body


class Message(_TupleEvent, Event, _MessageTuple):
    """A data message, or in streaming mode a piece of one (``message_finished`` tells which).

    A tuple ``(data, message_finished)`` underneath, which the frame decoder creates directly; it still
    compares like every event: equal only to a message of the same type with the same values.
    """

    __slots__ = ()
    _fields = ("data", "message_finished")

    def __new__(cls, data: str | bytes, message_finished: bool = True) -> Self:
        return tuple.__new__(cls, (data, message_finished))

    if TYPE_CHECKING:  # what the properties below give

        @property
        def data(self) -> str | bytes: ...
        @property
        def message_finished(self) -> bool: ...

    else:
        data = _tuplegetter(0, "The message's payload: str for text, bytes for binary.")
        message_finished = _tuplegetter(1, "False for a piece that more pieces follow.")

    __hash__ = None  # type: ignore[assignment]  # as every event


class TextMessage(Message):
    """A text message: ``data`` is a str."""

    __slots__ = ()

    if TYPE_CHECKING:

        def __new__(cls, data: str, message_finished: bool = True) -> Self: ...
        @property
        def data(self) -> str: ...


class BytesMessage(Message):
    """A binary message: ``data`` is bytes."""

    __slots__ = ()

    if TYPE_CHECKING:

        def __new__(cls, data: bytes, message_finished: bool = True) -> Self: ...
        @property
        def data(self) -> bytes: ...


class Ping(Event):
    """A ping (at most 125 bytes of payload)."""

    __slots__ = ("payload",)

    def __init__(self, payload: bytes = b"") -> None:
        self.payload = payload

    def response(self) -> Pong:
        """The pong that answers this ping."""
        return Pong(self.payload)


class Pong(Event):
    """A pong (at most 125 bytes of payload)."""

    __slots__ = ("payload",)

    def __init__(self, payload: bytes = b"") -> None:
        self.payload = payload


class CloseConnection(Event):
    """A close frame's code and reason; code 1005 means the frame had no code, 1006 no close frame at all."""

    __slots__ = ("code", "reason")

    def __init__(self, code: int = 1000, reason: str = "") -> None:
        self.code = code
        self.reason = reason

    def response(self) -> CloseConnection:
        """The close frame that answers this one (same code; 1005 is answered with no code)."""
        return CloseConnection(self.code, "")
