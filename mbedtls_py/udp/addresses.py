"""UDP addresses: loopback checks, resolution, ``host:port`` parsing and printing.

Pure Python (no compiled extension): the proxy uses it as well as the transport."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from ..address import addr_str

__all__ = ["is_loopback", "check_host", "resolve", "addr_str", "parse_hostport", "pick_free_udp_port",
           "udp_port_free"]



MAX_UDP = 65535
"""The largest UDP payload: what a receive asks the kernel for."""


def is_loopback(host: str) -> bool:
    """True if every address ``host`` resolves to is a loopback address."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    except socket.gaierror:
        return False
    return bool(infos) and all(
        ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]).is_loopback for info in infos)


def check_host(host: str, allow_remote: bool = False) -> None:
    """Raise ``ValueError`` unless ``host`` is loopback or ``allow_remote`` is set."""
    if not isinstance(host, str) or not host:
        raise ValueError("host must be a non-empty string")
    if not allow_remote and not is_loopback(host):
        raise ValueError(f"{host!r} is not a loopback address; this tool stays on loopback "
                         "(127.0.0.1, ::1) unless allow_remote/--allow-remote is given")


def resolve(host: str, port: int) -> tuple[socket.AddressFamily, tuple[str, int]]:
    """``(family, (address, port))`` of the first UDP address of ``host:port``."""
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be 0 .. 65535, not {port!r}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise ValueError(f"cannot resolve {host!r}: {exc}") from None
    family, _, _, _, sockaddr = infos[0]
    return family, (str(sockaddr[0]), int(sockaddr[1]))


def parse_hostport(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``"H:P"``, ``"[v6]:P"`` or ``"P"`` -> ``(host, port)``."""
    text = text.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError(f"bad address {text!r}; write [::1]:4433")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    elif ":" not in text:
        host, port_text = default_host, text
    else:
        raise ValueError(f"bad address {text!r}; write an IPv6 address as [::1]:4433")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"bad port in {text!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"port out of range in {text!r}")
    return host or default_host, port


def _norm(addr: Any) -> Any:
    # IPv6 recvfrom gives (host, port, flowinfo, scope_id); keep it short when it can be.
    if isinstance(addr, tuple) and len(addr) == 4 and not addr[2] and not addr[3]:
        return (addr[0], addr[1])
    return addr


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def pick_free_udp_port(host: str = "127.0.0.1") -> int:
    """Return a UDP port on ``host`` that was free a moment ago (bind to 0, read, close).

    Someone else may take it before it is used; :class:`OpenSSLServer` retries on that.
    """
    with socket.socket(_family(host), socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def udp_port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True if nothing holds UDP ``port`` on ``host`` (probed by a bind without SO_REUSEADDR)."""
    with socket.socket(_family(host), socket.SOCK_DGRAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True
