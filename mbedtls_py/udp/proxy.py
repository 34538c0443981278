"""A UDP impairment proxy between DTLS clients and one server, driven by the
rule language of :mod:`mbedtls_py.wire.rules` (the same as the simulated network's).

``python -m mbedtls_py proxy --listen 127.0.0.1:4434 --server 127.0.0.1:4433
--rule "client->server alert epoch>=1: delay 200ms"`` listens on ``--listen``;
each client address gets a session with its own socket towards ``--server``
(so the server sees one address per client, as it would without the proxy).

Every datagram passes the rules in the order given, as in
:meth:`mbedtls_py.sim.network.Network.rule`: every rule that fires applies its action;
``delay`` adds up, ``corrupt``/``replace``/``truncate`` change the bytes,
``duplicate`` and ``inject`` add datagrams; ``drop`` and ``hold`` end the list.
Directions are ``client->server`` and ``server->client``; ``#N`` counts the
datagrams of one direction of one session from 1.  Reordering is a ``delay`` (a
later datagram overtakes the delayed one) or a ``hold`` released later: held
datagrams go out when :meth:`UDPProxy.release` is called, or
``release_after_ms`` after they were held (``--release-after``), and are
discarded at the end otherwise.  ``corrupt`` draws from a RNG seeded by
``seed``.

The proxy logs what it did as JSON-able dicts (:attr:`UDPProxy.log`, and JSON
lines with ``--log``): ``in`` (a datagram arrived: direction, session, index,
size, records), one entry per action taken (``delay``, ``drop``, ``duplicate``,
``corrupt``, ``replace``, ``truncate``, ``inject``, ``hold``, ``release``),
``out`` (a datagram was sent on; ``late_ms`` when it was later than it arrived),
``discard`` (still scheduled or held at the end), ``session``/``session_end``.
It runs for at most ``max_seconds``.  Memory stays bounded under a flood, as
the server's events do: :attr:`UDPProxy.log` keeps the last ``log_window``
entries, :attr:`UDPProxy.counts` counts every entry by kind exactly, and
``log_file`` (``--log``) gets every entry.
"""

from __future__ import annotations

import heapq
import itertools
import json
import random
import select
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import IO, Any

from ..server.eventlog import BoundedLog
from ..wire import records as _records, rules as _rules
from .addresses import addr_str, check_host, resolve
from .proxy_sessions import HeldDatagram, ProxySessions, Session

__all__ = ["UDPProxy", "HeldDatagram", "LOG_WINDOW"]

#: Log entries a proxy keeps in memory (the rest only reach ``log_file``/``on_log``).
LOG_WINDOW = 5_000


def _summary(dgram: _records.Datagram) -> list[str]:
    out = [repr(r) for r in dgram.records]
    if dgram.error:
        out.append(f"error: {dgram.error}")
    return out


class UDPProxy:
    """The impairment proxy.  ``start()`` runs it in a thread (``stop()`` ends
    it; also a context manager); ``run()`` runs it in the caller's thread.

    ``listen`` and ``server`` are ``(host, port)``; ``listen`` port 0 picks a
    free one (:attr:`address`).  ``rules`` are rule lines or
    :class:`~mbedtls_py.wire.rules.Rule` objects.  ``names`` are the endpoint names
    the rules use for the client side and the server side.
    """

    def __init__(self, listen: tuple[str, int] = ("127.0.0.1", 0),
                 server: tuple[str, int] = ("127.0.0.1", 4433),
                 rules: Iterable[str | _rules.Rule] = (), *, seed: int | str | None = None,
                 max_seconds: float = 60.0, release_after_ms: float | None = None,
                 log_file: str | IO[str] | None = None,
                 on_log: Callable[[dict[str, Any]], None] | None = None,
                 allow_remote: bool = False, max_sessions: int = 256,
                 idle_ms: float = 30_000.0, names: tuple[str, str] = ("client", "server"),
                 cid_len: int = 0, log_window: int = LOG_WINDOW) -> None:
        if not (isinstance(max_seconds, (int, float)) and 0 < max_seconds < float("inf")):
            raise ValueError(f"max_seconds must be a positive finite number, not {max_seconds}")
        if release_after_ms is not None and release_after_ms < 0:
            raise ValueError("release_after_ms must be >= 0")
        check_host(listen[0], allow_remote)
        check_host(server[0], allow_remote)
        self.rules = [_rules.parse_rule(r) if isinstance(r, str) else r for r in rules]
        for r in self.rules:
            if not isinstance(r, _rules.Rule):
                raise TypeError(f"a rule must be a str or rules.Rule, not {type(r).__name__}")
        self.names = names
        self.cid_len = cid_len
        self.max_seconds = float(max_seconds)
        self.release_after_ms = release_after_ms
        self.on_log = on_log
        # sees every log entry with its datagram (capture.ProxyTap for --pcap)
        self.on_packet: Callable[[dict[str, Any], bytes | None], None] | None = None
        self._rng = random.Random(f"mbedtls-py proxy {seed}" if seed is not None else None)
        lfam, lsock = resolve(*listen)
        sfam, self.server = resolve(*server)
        self._listen = socket.socket(lfam, socket.SOCK_DGRAM)
        self._wake_r, self._wake_w = socket.socketpair()
        try:
            self._listen.bind(lsock)
            self._listen.setblocking(False)
            self._wake_r.setblocking(False)
            self._wake_w.setblocking(False)
        except BaseException:
            for sock in (self._listen, self._wake_r, self._wake_w):
                sock.close()
            raise
        self._own_log = False
        self._log_fp: IO[str] | None = None
        if isinstance(log_file, str):
            self._log_fp = sys.stdout if log_file == "-" else open(log_file, "w")  # noqa: SIM115
            self._own_log = log_file != "-"
        elif log_file is not None:
            self._log_fp = log_file
        # Bounded (a flood must not grow it): the last `log_window` entries; `counts` is exact and
        # the log file sees everything.
        self.log: BoundedLog[dict[str, Any]] = BoundedLog(log_window)
        self.held: list[HeldDatagram] = []
        self._seq = itertools.count()
        self._heap: list[tuple[float, int, str, int, bytes, float, str]] = []
        self._lock = threading.RLock()
        # One socket towards the server per client address (a part the proxy owns).
        self._sessions = ProxySessions(self.server, sfam, allow_remote,
                                       max_sessions=max_sessions, idle_ms=idle_ms,
                                       lock=self._lock, log=self._log, now=self._now,
                                       handle=self._handle)
        self._cond = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = time.monotonic()
        self.error: BaseException | None = None
        self.counts: dict[str, int] = {}

    # -- public ----------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        """The ``(host, port)`` clients should send to."""
        name = self._listen.getsockname()
        return str(name[0]), int(name[1])

    @property
    def port(self) -> int:
        """The listening port."""
        return self.address[1]

    def start(self) -> UDPProxy:
        """Run the proxy in a background thread."""
        if self._thread is not None:
            raise RuntimeError("already started")
        self._thread = threading.Thread(target=self._run_safe, name="udp-proxy", daemon=True)
        self._thread.start()
        return self

    def run(self) -> None:
        """Run in this thread until ``stop()`` or ``max_seconds``."""
        self._run_safe()
        if self.error is not None:
            raise self.error

    def request_stop(self) -> None:
        """Ask the loop to end soon (safe from a signal handler; ``run()`` returns)."""
        self._stop.set()
        self._wake()

    def close(self) -> None:
        """Close every socket and the log file (once the loop has ended)."""
        self._sessions.close()
        for sock in (self._listen, self._wake_r, self._wake_w):
            sock.close()
        if self._log_fp is not None:
            if self._own_log:
                self._log_fp.close()
            else:
                self._log_fp.flush()
            self._log_fp = None

    def stop(self, timeout: float = 5.0) -> None:
        """Stop, discard what is still scheduled or held, close every socket."""
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise RuntimeError("the proxy thread did not stop")
        self.close()
        if self.error is not None:
            err, self.error = self.error, None
            raise err

    @property
    def running(self) -> bool:
        """Whether the proxy's thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def release(self, tag: str | None = None) -> int:
        """Send on the held datagrams (with ``tag``, only those); return how many."""
        with self._lock:
            keep: list[HeldDatagram] = []
            go: list[HeldDatagram] = []
            for h in self.held:
                (go if tag is None or h.tag == tag else keep).append(h)
            self.held = keep
            self._release(go, self._now())
        self._wake()
        return len(go)

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0,
                 count: int = 1) -> bool:
        """Wait until ``count`` log entries satisfy ``predicate``; False on timeout.
        Only entries still in the window (the last ``log_window``) are seen."""
        end = time.monotonic() + timeout
        with self._cond:
            while sum(1 for e in self.log if predicate(e)) < count:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def __enter__(self) -> UDPProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- internals ---------------------------------------------------------------

    def _now(self) -> float:
        return (time.monotonic() - self._t0) * 1000.0

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def _log(self, event: str, direction: str | None = None, session: int | None = None,
             data: bytes | None = None, **extra: Any) -> dict[str, Any]:
        entry: dict[str, Any] = {"t_ms": round(self._now(), 3), "event": event}
        if direction is not None:
            entry["dir"] = self._dir_name(direction)
        if session is not None:
            entry["session"] = session
        if data is not None:
            entry["size"] = len(data)
        entry.update(extra)
        with self._cond:
            self.log.append(entry)
            self.counts[event] = self.counts.get(event, 0) + 1
            self._cond.notify_all()
        if self._log_fp is not None:
            self._log_fp.write(json.dumps(entry) + "\n")
            self._log_fp.flush()
        if self.on_log is not None:
            self.on_log(entry)
        if self.on_packet is not None:
            self.on_packet(entry, data)
        return entry

    def _dir_name(self, direction: str) -> str:
        c, s = self.names
        return f"{c}->{s}" if direction == "c2s" else f"{s}->{c}"

    def _run_safe(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # noqa: BLE001 - reported by stop()/run()
            self.error = exc
        finally:
            with self._lock:
                for item in self._heap:
                    self._log("discard", item[2], item[3], item[4], why="still scheduled at stop")
                self._heap.clear()
                for h in self.held:
                    self._log("discard", h.direction, h.session, h.data, why="held, not released")
                self.held.clear()

    def _loop(self) -> None:
        end = self._now() + self.max_seconds * 1000.0
        self._log("start", listen=addr_str(self.address), server=addr_str(self.server),
                  rules=[str(r) for r in self.rules])
        while not self._stop.is_set():
            now = self._now()
            if now >= end:
                self._log("timeout", note=f"max_seconds {self.max_seconds:g} reached")
                break
            wait = min(50.0, end - now)
            with self._lock:
                if self._heap:
                    wait = min(wait, self._heap[0][0] - now)
                if self.held and self.release_after_ms is not None:
                    wait = min(wait, min(h.t_ms for h in self.held) + self.release_after_ms - now)
                socks = [self._listen, self._wake_r, *self._sessions.sockets()]
            readable, _, _ = select.select(socks, [], [], max(0.0, wait) / 1000.0)
            for sock in readable:
                if sock is self._wake_r:
                    try:
                        while self._wake_r.recv(512):
                            pass
                    except OSError:
                        pass
                elif sock is self._listen:
                    self._sessions.drain_clients(self._listen)
                else:
                    session = self._sessions.for_socket(sock)
                    if session is not None:
                        self._sessions.drain_server(session)
            self._deliver_due()
            self._sessions.expire(self._busy_sessions)
        self._log("stop", counts=dict(sorted(self.counts.items())))

    def _handle(self, session: Session, direction: str, data: bytes) -> None:
        now = self._now()
        session.last_ms = now
        session.index[direction] += 1
        index = session.index[direction]
        parsed = _records.parse_datagram(data, self.cid_len)
        self._log("in", direction, session.sid, data, index=index,
                  records=_summary(parsed))
        src, dst = (self.names if direction == "c2s" else self.names[::-1])
        with self._lock:
            verdict = _rules.apply(self.rules, src, dst, index, parsed, data, self._rng)
            for step in verdict.steps:
                label = str(step.rule)
                action = step.rule.action
                extra_fields: dict[str, Any] = {}
                if isinstance(action, _rules.Hold):
                    self.held.append(HeldDatagram(now, direction, session.sid, step.data,
                                                  action.tag, label))
                    extra_fields["tag"] = action.tag
                elif isinstance(action, _rules.Delay):
                    extra_fields["ms"] = action.ms
                elif isinstance(action, _rules.Duplicate):
                    extra_fields["copies"] = action.count
                elif isinstance(action, _rules.Inject):
                    extra_fields["before"] = action.before
                self._log(step.kind, direction, session.sid, step.data, index=index, rule=label,
                          **extra_fields)
            if verdict.dropped or verdict.held:
                return
            for d, due, role in verdict.out:
                why = role if role != "datagram" else ("delay" if verdict.extra_ms else "")
                self._schedule(now + due, direction, session.sid, d, now, why)
        self._deliver_due()

    def _release(self, held: list[HeldDatagram], now: float, **why: str) -> None:
        for h in held:
            self._log("release", h.direction, h.session, h.data,
                      held_ms=round(now - h.t_ms, 3), **why)
            self._schedule(now, h.direction, h.session, h.data, h.t_ms, "release")

    def _busy_sessions(self) -> set[int]:
        """Sessions with datagrams still scheduled or held (not idle)."""
        return {item[3] for item in self._heap} | {h.session for h in self.held}

    def _schedule(self, due: float, direction: str, sid: int, data: bytes,
                  arrived: float, why: str = "") -> None:
        heapq.heappush(self._heap, (due, next(self._seq), direction, sid, data, arrived, why))

    def _deliver_due(self) -> None:
        now = self._now()
        with self._lock:
            if self.held and self.release_after_ms is not None:
                due = [h for h in self.held if now - h.t_ms >= self.release_after_ms]
                if due:
                    self.held = [h for h in self.held if h not in due]
                    self._release(due, now, why="release_after")
            ready = []
            while self._heap and self._heap[0][0] <= now:
                ready.append(heapq.heappop(self._heap))
            sessions = self._sessions.by_sid()
        for _, _, direction, sid, data, arrived, why in ready:
            session = sessions.get(sid)
            if session is None:
                self._log("discard", direction, sid, data, why="session gone")
                continue
            try:
                if direction == "c2s":
                    session.sock.sendto(data, self.server)
                else:
                    self._listen.sendto(data, session.client)
            except OSError as exc:
                self._log("error", direction, sid, data, note=f"sendto: {exc}")
                continue
            extra: dict[str, Any] = {}
            if why:
                extra = {"why": why, "late_ms": round(self._now() - arrived, 3)}
            self._log("out", direction, sid, data, records=_summary(_records.parse_datagram(data, self.cid_len)), **extra)
