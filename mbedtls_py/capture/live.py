"""Captures over real UDP: what ``serve``'s socket saw, what passed the proxy.

:class:`LiveCapture` records packets with their wall-clock time (thread-safe,
bounded: past ``max_packets`` or ``max_bytes`` it counts instead of keeping,
and says so in the file) and the key lines of the contexts it was given, and
writes them like :func:`mbedtls_py.capture.save_trace` does.
:class:`CapturingTransport` wraps a server's transport; :class:`ProxyTap`
turns the proxy's log into packets on both of its sides.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from .pcapng import LinkType, Packet, read_keylog, write_keylog, write_pcap, write_pcapng

__all__ = ["LiveCapture", "CapturingTransport", "ProxyTap", "ServeCapture", "serve_capture",
           "ProxyCapture", "proxy_capture"]


def _addr(addr: Any) -> tuple[str, int]:
    return (str(addr[0]).split("%")[0], int(addr[1]))


class LiveCapture:
    """Packets and key lines recorded as they happen, written by ``save()``."""

    def __init__(self, *, max_packets: int = 200_000, max_bytes: int = 128 << 20,
                 linktype: LinkType = "raw", comment: str = "") -> None:
        if max_packets < 1 or max_bytes < 1:
            raise ValueError("max_packets and max_bytes must be positive")
        self.max_packets, self.max_bytes = max_packets, max_bytes
        self.linktype, self.comment = linktype, comment
        self.packets: list[Packet] = []
        self.key_lines: list[str] = []
        self.bytes = 0
        self.missed = 0
        self._lock = threading.Lock()

    def packet(self, src: Any, dst: Any, data: bytes, interface: str = "udp",
               comments: list[str] | None = None) -> Packet | None:
        """Record one datagram now; returns it (to add comments), or ``None``
        when the capture is full."""
        p = Packet(time.time_ns() // 1000, _addr(src), _addr(dst), bytes(data), interface,
                   list(comments or []))
        with self._lock:
            if len(self.packets) >= self.max_packets or self.bytes + len(data) > self.max_bytes:
                self.missed += 1
                return None
            self.packets.append(p)
            self.bytes += len(data)
        return p

    def add_key(self, line: str) -> None:
        """Keep one NSS key log line (usable as a context's ``keylog``)."""
        with self._lock:
            if line not in self.key_lines:
                self.key_lines.append(line)

    def add_keylog_file(self, path: str | Path) -> int:
        """Add the lines of an NSS key log file; returns how many."""
        lines = read_keylog(path)
        for ln in lines:
            self.add_key(ln)
        return len(lines)

    def save(self, path: str | Path | None, keylog: str | Path | None = None) -> int:
        """Write pcapng (keys embedded) or, for ``.pcap``, classic pcap; and the
        key log.  Returns the packet count."""
        with self._lock:
            packets, lines = list(self.packets), list(self.key_lines)
            missed = self.missed
        comment = self.comment
        if missed:
            comment += f"; capture full: {missed} later datagram(s) not recorded"
        if path is not None:
            if str(path).endswith(".pcap"):
                write_pcap(path, packets, linktype=self.linktype)
            else:
                write_pcapng(path, packets, lines, linktype=self.linktype,
                             comment=comment or None)
        if keylog is not None:
            write_keylog(keylog, lines)
        return len(packets)


class CapturingTransport:
    """A server transport (``sendto``/``recvfrom``, e.g. ``UDPTransport``) that
    records every datagram it passes; everything else goes to the wrapped one."""

    def __init__(self, transport: Any, capture: LiveCapture) -> None:
        self._transport = transport
        self.capture = capture

    def sendto(self, data: bytes, addr: Any) -> None:
        """Send and record."""
        self._transport.sendto(data, addr)
        self.capture.packet(self._transport.address, addr, data, "server socket")

    def recvfrom(self) -> tuple[bytes, Any] | None:
        """Receive and record."""
        item: tuple[bytes, Any] | None = self._transport.recvfrom()
        if item is not None:
            self.capture.packet(item[1], self._transport.address, item[0], "server socket")
        return item

    def discard_from(self, peer: Any) -> list[bytes]:
        """Discard (as the wrapped transport does) and record, with a comment."""
        gone: list[bytes] = self._transport.discard_from(peer)
        for data in gone:
            self.capture.packet(peer, self._transport.address, data, "server socket",
                                ["discarded: arrived before the reset, freed with the "
                                 "connection's socket (as upstream's per-client socket)"])
        return gone

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class ProxyTap:
    """``UDPProxy.on_packet``: each log entry with its datagram becomes a packet
    on the client side (clients <-> the listening socket) or the server side
    (the per-client sockets <-> the server), with comments on what the proxy
    did: ``delayed 200 ms by rule '...'``, ``dropped by rule '...'``,
    ``held``, ``duplicate``, ``corrupted``, ``sent N ms after it arrived``."""

    _ACTIONS = {"drop": "dropped", "hold": "held", "delay": "delayed", "duplicate": "duplicated",
                "corrupt": "corrupted", "replace": "replaced", "truncate": "truncated",
                "inject": "injected after it"}

    def __init__(self, capture: LiveCapture, listen: Any, server: Any,
                 names: tuple[str, str] = ("client", "server")) -> None:
        self.capture, self.listen, self.server = capture, _addr(listen), _addr(server)
        self.c2s = f"{names[0]}->{names[1]}"
        self.sessions: dict[int, tuple[tuple[str, int], tuple[str, int]]] = {}
        self._last_in: dict[tuple[int, str], Packet] = {}

    @staticmethod
    def _parse(text: str) -> tuple[str, int]:
        host, _, port = text.rpartition(":")
        return (host.strip("[]"), int(port))

    def __call__(self, entry: dict[str, Any], data: bytes | None) -> None:
        kind = entry.get("event")
        if kind == "session":
            self.sessions[entry["session"]] = (self._parse(entry["client"]),
                                               self._parse(entry["via"]))
            return
        sid, direction = entry.get("session"), entry.get("dir")
        if data is None or sid not in self.sessions or direction is None:
            return
        client, via = self.sessions[sid]
        c2s = direction == self.c2s
        if kind == "in":
            if c2s:
                p = self.capture.packet(client, self.listen, data, "proxy client side")
            else:
                p = self.capture.packet(self.server, via, data, "proxy server side")
            if p is not None:
                self._last_in[(sid, direction)] = p
        elif kind == "out":
            notes = []
            if entry.get("why"):
                notes.append(f"{entry['why']}: sent {entry.get('late_ms', 0):g} ms after it "
                             "arrived")
            if c2s:
                self.capture.packet(via, self.server, data, "proxy server side", notes)
            else:
                self.capture.packet(self.listen, client, data, "proxy client side", notes)
        elif kind in self._ACTIONS:
            last = self._last_in.get((sid, direction))
            if last is not None:
                text = f"{self._ACTIONS[kind]} by rule '{entry.get('rule', '?')}'"
                if kind == "delay":
                    text = f"delayed {entry.get('ms', 0):g} ms by rule '{entry.get('rule')}'"
                last.comments.append(text)
        elif kind in ("release", "discard"):
            last = self._last_in.get((sid, direction))
            if last is not None:
                last.comments.append(f"{kind}: {entry.get('why', '')}".rstrip(": "))


class ServeCapture:
    """What ``serve --pcap/--keylog`` needs: ``wrap(transport, config)``
    records the socket and turns key export on for the contexts set up on
    ``config`` (whichever thread makes them); ``save()`` writes the files.
    Without files, both do nothing."""

    def __init__(self, pcap: str | Path | None, keylog: str | Path | None,
                 comment: str = "mbedtls-py serve: what its socket saw") -> None:
        from .files import check_writable

        check_writable(pcap, "--pcap")
        check_writable(keylog, "--keylog")
        self.pcap, self.keylog = pcap, keylog
        self.capture = LiveCapture(comment=comment) if (pcap or keylog) else None

    def wrap(self, transport: Any, config: Any) -> Any:
        """The transport to give the server (recording when capturing)."""
        if self.capture is None:
            return transport
        config.set_keylog(self.capture.add_key)
        return CapturingTransport(transport, self.capture)

    def event(self, ev: Any) -> None:
        """A ``DTLSServer`` event: a comment on the last packet the socket saw
        (the server handles one datagram at a time, so it is the one the event
        is about, or the last before it), e.g. ``then server: error rc=-0x7700``."""
        cap = self.capture
        if cap is None or ev.event in ("read", "write", "listen"):
            return
        with cap._lock:
            last = cap.packets[-1] if cap.packets else None
        if last is not None:
            from ..bindings.errors import rc_text  # the event's server loaded the bindings
            rc = "" if ev.rc is None else f" rc={rc_text(ev.rc)}"
            last.comments.append(f"then server: {ev.event}{rc} {ev.note}".rstrip())

    def save(self) -> None:
        """Write the files (once)."""
        if self.capture is not None:
            self.capture.save(self.pcap, self.keylog)
            self.capture = None


def serve_capture(pcap: str | Path | None, keylog: str | Path | None) -> ServeCapture:
    """A :class:`ServeCapture` (``ValueError`` when a folder is missing)."""
    return ServeCapture(pcap, keylog)


class ProxyCapture:
    """What ``proxy --pcap/--keylog`` needs: a :class:`ProxyTap` on the proxy,
    and ``save()`` (the key log, if given, is read then and embedded)."""

    def __init__(self, proxy: Any, pcap: str | Path | None, keylog: str | Path | None) -> None:
        from .files import check_writable

        check_writable(pcap, "--pcap")
        if keylog is not None and pcap is None:
            raise ValueError("--keylog needs --pcap: the proxy embeds that key log in the capture")
        self.pcap, self.keylog = pcap, keylog
        self.capture: LiveCapture | None = None
        if pcap is not None:
            self.capture = LiveCapture(comment="mbedtls-py proxy: both sides, as they passed it")
            proxy.on_packet = ProxyTap(self.capture, proxy.address, proxy.server, proxy.names)

    def save(self) -> None:
        """Write the capture (once)."""
        if self.capture is None:
            return
        if self.keylog is not None:
            try:
                self.capture.add_keylog_file(self.keylog)
            except OSError as exc:
                self.capture.comment += f"; key log {self.keylog} not read: {exc}"
        self.capture.save(self.pcap)
        self.capture = None


def proxy_capture(proxy: Any, pcap: str | Path | None,
                  keylog: str | Path | None) -> ProxyCapture:
    """A :class:`ProxyCapture` (``ValueError`` when a folder is missing)."""
    return ProxyCapture(proxy, pcap, keylog)
