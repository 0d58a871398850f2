"""Picks the hot path once, at import: the native extension when it is built, else the pure-Python one.

``WSFRAME_PURE_PYTHON=1`` forces the pure-Python implementation. Both export the same names; the layers
above import them from here and never know which one is active (:data:`IMPLEMENTATION` tells).
:func:`compiled` makes the same choice for the modules of the layers above that Cython also compiles.
"""

from __future__ import annotations

import importlib
import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time
if TYPE_CHECKING:
    # Type checkers see one API: the extension's stub (_native.pyi), whose signatures the fallback's match.
    from types import ModuleType
    from typing import Literal

    from ._native import *  # noqa: F403
    from ._native import __all__

    IMPLEMENTATION: Literal["native", "fallback"]
elif os.environ.get("WSFRAME_PURE_PYTHON") == "1":
    from ._fallback import *  # noqa: F403
    from ._fallback import __all__

    IMPLEMENTATION = "fallback"
else:
    try:
        from ._native import *  # noqa: F403
        from ._native import __all__

        IMPLEMENTATION = "native"
    except ImportError:
        from ._fallback import *  # noqa: F403
        from ._fallback import __all__

        IMPLEMENTATION = "fallback"


def compiled(source: str) -> ModuleType:
    """The pure-Python module ``source`` (a layer above the codec) as Cython compiled it beside the native
    extension, ``source + "_c"`` (setup.py), or ``source`` itself with the fallback hot path or where that
    was not built: the same code either way, faster compiled."""
    if IMPLEMENTATION == "native":
        try:
            return importlib.import_module(source + "_c")
        except ImportError:  # built without it (a partly failed optional build)
            pass
    return importlib.import_module(source)
