"""The libraries compared: wsframe's two hot paths and the peers, each imported only if it is installed."""

from __future__ import annotations

import importlib
import importlib.metadata
import os

# Distribution names of the peers, in report order (installed with ``pip install .[bench]``).
PEERS = ("websockets", "aiohttp", "wsaccel", "picows", "wsproto")
# What the suite uses when installed: uvloop for the echo workloads, matplotlib for the charts, uvicorn for
# the uvicorn family.
TOOLS = ("uvloop", "matplotlib", "uvicorn")


class Missing(Exception):
    """An implementation that cannot be measured here; the message says why."""


def load(module_name: str):
    """Imports module_name, raising Missing (with the import error) when it is not available."""
    try:
        return importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or a broken package failing at import time
        raise Missing(f"{module_name} not importable: {type(exc).__name__}: {exc}") from None


def version(distribution: str) -> str | None:
    """The installed version of a distribution, or None if it is not installed."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def peer_versions() -> dict[str, str | None]:
    """Each known peer's installed version (None: not installed)."""
    return {name: version(name) for name in PEERS}


def tool_versions() -> dict[str, str | None]:
    """uvloop's and matplotlib's installed versions (None: not installed)."""
    return {name: version(name) for name in TOOLS}


def _kernel(native, kind: str) -> str:
    """The active kernel of a kind ("mask", "utf8") from the native test hooks, with the available ones."""
    active, available = getattr(native, f"_{kind}_kernel", None), getattr(native, f"_{kind}_kernels", None)
    if active is None:
        return f"unknown (_{kind}_kernel() missing)"
    if available is None:
        return active()
    return f"{active()} (available: {', '.join(available())})"


def wsframe_info() -> dict:
    """wsframe's version and location, and whether the native extension is built with which kernels."""
    try:
        wsframe = load("wsframe")
    except Missing as exc:
        return {"version": version("wsframe"), "error": str(exc)}
    info = {
        "version": getattr(wsframe, "__version__", None) or version("wsframe"),
        "location": os.path.dirname(wsframe.__file__),
    }
    try:
        native = load("wsframe._native")
    except Missing as exc:
        info["native"] = f"not available ({exc})"
    else:
        info["native"] = "built"
        info["mask_kernel"] = _kernel(native, "mask")
        info["utf8_kernel"] = _kernel(native, "utf8")
    return info


def _versions(packages: dict[str, str | None]) -> str:
    return ", ".join(f"{name} {v}" if v else f"{name} (not installed)" for name, v in packages.items())


def library_lines(wsframe: dict, peers: dict[str, str | None], tools: dict[str, str | None] | None = None) -> list[str]:
    """The libraries part of the report header, one Markdown list item per line."""
    if "error" in wsframe:
        line = f"- wsframe {wsframe['version'] or '?'}: {wsframe['error']}"
    elif wsframe["native"] == "built":
        line = (
            f"- wsframe {wsframe['version']} from {wsframe['location']}; native extension built, "
            f"kernels: mask {wsframe['mask_kernel']}, UTF-8 {wsframe['utf8_kernel']}"
        )
    else:
        line = f"- wsframe {wsframe['version']} from {wsframe['location']}; native extension {wsframe['native']}"
    lines = [line, f"- peers: {_versions(peers)}"]
    if tools is not None:
        lines.append(f"- tools: {_versions(tools)}")
    return lines
