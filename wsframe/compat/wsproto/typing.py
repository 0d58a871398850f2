"""wsproto.typing: header lists as wsproto passes them."""

from __future__ import annotations

Headers = list[tuple[bytes, bytes]]
