"""Drop-in replacements for other WebSocket libraries' APIs, running on wsframe.

:mod:`wsframe.compat.wsproto`: wsproto 1.3's public API (``import wsframe.compat.wsproto as wsproto``,
or :func:`wsframe.compat.wsproto.install` to serve ``import wsproto`` itself).
"""
