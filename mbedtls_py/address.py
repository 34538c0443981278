"""How a socket address is written: ``host:port`` (``[host]:port`` for IPv6).

Pure Python and import-free, so both the server (the transport id its cookies
bind to, the peer of each event) and the UDP layer (the proxy among them, which
must import without the compiled extension) write addresses the same way."""

from __future__ import annotations

from typing import Any

__all__ = ["addr_str"]


def addr_str(addr: Any) -> str:
    """``host:port`` (``[host]:port`` for IPv6) of a socket address; anything
    that is not a ``(host, port, ...)`` tuple as ``str()``."""
    if isinstance(addr, tuple) and len(addr) >= 2:
        host, port = addr[0], addr[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(addr)
