"""Picks the hot path once, at import: the native extension when it is built, else the pure-Python one.

``WSFRAME_PURE_PYTHON=1`` forces the pure-Python implementation. Both export the same names; the layers
above import them from here and never know which one is active (:data:`IMPLEMENTATION` tells).
"""

import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time
if TYPE_CHECKING:
    # Type checkers see one API: the extension's stub (_native.pyi), whose signatures the fallback's match.
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
