"""The seed's close_notify race over real UDP on loopback, with real peers.

:func:`run_real` is ``repro close-notify --peer openssl|upstream-client``: for
each run, on fresh ports,

1. the Python ``DTLSServer`` (the ``dtls_server`` sample's loop, with the
   chosen policy, cookies on) serves on a UDP socket (:func:`mbedtls_py.udp.loop.serve`);
2. a :class:`~mbedtls_py.udp.proxy.UDPProxy` sits in front of it with the rule
   ``client->server alert epoch>=1: delay 200ms``: the client's encrypted
   close_notify reaches the server only after the server has closed its side
   and reset;
3. the first client goes through the proxy: ``echo "GET / HTTP/1.0" | openssl
   s_client -dtls1_2 -connect ...`` exactly (peer ``openssl``), or upstream's
   ``dtls_client`` sample (peer ``upstream-client``);
4. once the late alert has reached the server and the server has dealt with
   it, a second client (a Python ``UDPClient``, straight to the server) must
   be served: handshake, echo, the server's close_notify.  It does not answer
   that close_notify, so that it cannot cause the same race itself.

Every field comes from evidence: the proxy's log (did it hold the alert, when
did it let it go), the server's events (the reset that ended the first
connection, and the event that accounts for the late datagram: ``error``,
``drop``, ``linger_consumed`` or ``discard``) and the second client.  A run
``failed`` when the server reported an error for the late datagram, or did
not serve the second client; ``ok`` when an event shows the late datagram
handled without an error and the second client was served; ``inconclusive``
when the evidence is missing (the proxy never delayed the alert, the server
never reset, no server event accounts for the datagram).  The linger window is
the user's (``linger_ms``) or the server's default (measured round trip + the
peer's retransmission timeout), never widened here; each run reports it.
``server_rc`` is what the server's first handshake call returned when the late
datagram reached it (0 if none did: ``linger`` consumes it in the old
connection, and the sample's per-client socket frees one that arrived before
the reset).
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable
from typing import Any

from ..bindings.config import Config
from ..bindings.errors import Err, rc_text
from ..server.policies import POLICIES, as_policy
from ..server.server import DTLSServer
from ..udp.addresses import addr_str
from ..udp.client import UDPClient
from ..udp.loop import ServerThread
from ..udp.proxy import UDPProxy
from ..udp.transport import UDPTransport
from .verdict import expected_outcome, offset_words

__all__ = ["PEERS", "SCENARIO", "DEFAULT_DELAY_MS", "run_real", "run_one", "udp_outcome"]

PEERS = ("openssl", "upstream-client")
SCENARIO = "late-close-notify"
DEFAULT_DELAY_MS = 200.0
_HOST = "127.0.0.1"


def _credentials(peer: str) -> tuple[Callable[[int], Config], Callable[[], Config]]:
    """(server config factory, second-client config factory) for ``peer``."""
    if peer == "upstream-client":
        from ..peers import upstream

        certs = upstream.test_certificates()
        chain, key, ca = [certs.cert_pem], certs.key_pem, certs.ca_pem
    else:
        from ..creds import make_pki

        pki = make_pki("ecdsa")
        chain, key, ca = [pki.cert_pem], pki.key_pem, pki.ca_pem

    def server(seed: int) -> Config:
        cfg = Config("server", seed=f"repro-udp/{seed}/server", cookies=True)
        cfg.do_set_certificate(chain, key)
        return cfg

    def client() -> Config:
        cfg = Config("client")
        cfg.set_ca_chain(ca)
        cfg.set_authmode("required")
        return cfg

    return server, client


def _first_client(peer: str, port: int) -> dict[str, Any]:
    if peer == "openssl":
        from ..peers.interop import OpenSSLClient

        client = OpenSSLClient(_HOST, port, seed=True)
        res = client.run(timeout=10.0)
        return {"client_exit": res.returncode, "client_command": " ".join(res.argv[1:]),
                "client_received_echo": b"GET / HTTP/1.0" in res.received,
                "client_saw_server_close": bool(res.peer_closed),
                "client_timed_out": res.timed_out}
    from ..peers.upstream import UpstreamClient

    ures = UpstreamClient(_HOST, port).run(timeout=15.0)
    return {"client_exit": ures.returncode, "client_command": "programs/ssl/dtls_client",
            "client_received_echo": ures.received == b"Echo this",
            "client_saw_server_close": ures.read_rc == Err.SSL_PEER_CLOSE_NOTIFY,
            "client_timed_out": ures.timed_out}


def run_one(peer: str, policy: str, seed: int, delay_ms: float | None = None, *,
            linger_ms: float | None = None,
            server_config: Callable[[int], Config] | None = None,
            client_config: Callable[[], Config] | None = None,
            capture: Any = None) -> dict[str, Any]:
    """One run of the scenario on fresh loopback ports; returns its dict.
    ``capture`` (a :class:`mbedtls_py.capture.live.ServeCapture`) records what
    the server's socket saw, with its keys, and is saved at the end."""
    if peer not in PEERS:
        raise ValueError(f"peer must be one of {', '.join(PEERS)}, not {peer!r}")
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {', '.join(POLICIES)}, not {policy!r}")
    delay = DEFAULT_DELAY_MS if delay_ms is None else float(delay_ms)
    if delay < 0:
        raise ValueError("delay_ms must be >= 0")
    if server_config is None or client_config is None:
        server_config, client_config = _credentials(peer)
    t0 = time.monotonic()
    transport = UDPTransport(_HOST, 0)
    config = server_config(seed)
    seen = capture.wrap(transport, config) if capture is not None else transport
    server = DTLSServer(config, seen, policy=as_policy(policy), linger_ms=linger_ms,
                        on_event=capture.event if capture is not None else None)
    run: dict[str, Any] = {"seed": seed, "peer": peer, "mitigation": policy,
                           "scenario": SCENARIO, "server_rc": 0, "outcome": "failed",
                           "second_client_served": False, "transport": "udp",
                           "delay_ms": delay, "linger_ms": None}
    try:
        rule = f"client->server alert epoch>=1: delay {delay:g}ms"
        with ServerThread(server, seen, max_seconds=60.0), \
                UDPProxy((_HOST, 0), transport.address, [rule], seed=seed,
                         max_seconds=60.0) as proxy:
            run["rule"] = rule
            run.update(_first_client(peer, proxy.port))
            # The late datagram: delayed by the proxy, then handled by the server.
            delayed = proxy.wait_for(lambda e: e["event"] == "delay", timeout=0.5)
            late_peer = None
            if delayed:
                proxy.wait_for(lambda e: e["event"] == "out" and e.get("why") == "delay",
                               timeout=delay / 1000.0 + 5.0)
                sessions = [e for e in proxy.log if e["event"] == "session"]
                late_peer = sessions[0]["via"] if sessions else None
                entry = next(e for e in proxy.log if e["event"] == "delay")
                late = [e for e in proxy.log if e["event"] == "in"
                        and e.get("index") == entry.get("index") and e.get("dir") == entry["dir"]]
                run["late_datagram"] = late[0]["records"] if late else None
                _wait_handled(server, late_peer, timeout=2.0)
            run["late_datagram_delayed"] = delayed
            run.update(_second_client(server, client_config(), transport.address))
            events = list(server.events)
    finally:
        server.close()
        transport.close()
        if capture is not None:
            capture.save()
    run.update(_judge(events, late_peer))
    rc = run["server_rc"]
    run["server_rc_hex"] = rc_text(rc)
    run["outcome"], run["evidence"] = udp_outcome(run)
    run["expected"] = expected_outcome(policy, SCENARIO, run["late"], rc, run["offset_ms"],
                                       run["linger_ms"])
    if policy == "linger" and run["late"]:
        run["expected"] = "failed" if run.get("window_closed_first") else "ok"
    run["note"] = _note(run)
    run["elapsed_s"] = round(time.monotonic() - t0, 3)
    return run


def udp_outcome(run: dict[str, Any]) -> tuple[str, str]:
    """(outcome, what it rests on) of one real-UDP run (``run_one``'s dict):
    ``inconclusive`` when evidence is missing (the proxy never held the alert,
    the server never reset, no server event accounts for the datagram),
    ``failed`` when it was reported as an error or the next client was not
    served, else ``ok``."""
    if not run.get("late_datagram_delayed"):
        return "inconclusive", "the proxy never held the client's encrypted alert"
    if run.get("reset_t_ms") is None:
        return "inconclusive", "the server never reset the first connection"
    if run.get("handled_as") is None:
        return "inconclusive", "no server event accounts for the late datagram"
    how = (f"proxy held the alert; server event {run['handled_as']} "
           f"{offset_words(run['offset_ms'])} the reset")
    if run["handled_as"] == "error" or not run["second_client_served"]:
        return "failed", how
    return "ok", how


def _note(run: dict[str, Any]) -> str:
    late = (run.get("late_datagram") or ["no late datagram"])[0]
    how = {"error": f"reported as error {run['server_rc_hex']}",
           "drop": f"dropped after {run['server_rc_hex']}",
           "linger_consumed": "consumed by the lingering connection",
           "discard": "freed with the old connection's socket",
           "ignored": "ignored by Mbed TLS (no state kept)"}.get(run.get("handled_as") or "",
                                                                    "never reached the server")
    second = "next client served" if run["second_client_served"] else "next client NOT served"
    return f"{late} delayed {run['delay_ms']:g} ms: {how}; {second}"


_HANDLED = ("error", "drop", "linger_consumed", "discard", "ignored")


def _from(ev: Any, peer: str | None) -> bool:
    """Whether ``ev`` is about ``peer`` (``host:port``, as the proxy logs it)."""
    return ev.peer is not None and peer is not None and addr_str(ev.peer) == peer


def _wait_handled(server: DTLSServer, peer: str | None, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if any(e.event in _HANDLED and _from(e, peer) for e in list(server.events)):
            return
        time.sleep(0.005)


def _second_client(server: DTLSServer, config: Config,
                   address: tuple[str, int]) -> dict[str, Any]:
    with UDPClient(config, address[0], address[1], hostname="localhost") as client:
        me = addr_str(client.transport.address)
        hs = client.handshake(timeout=5.0)
        echoed = closed = False
        if hs == 0:
            client.write(b"second client")
            rc, data = client.read(timeout=5.0)
            echoed = data == b"second client"
            rc, _ = client.read(timeout=2.0)
            closed = rc == Err.SSL_PEER_CLOSE_NOTIFY
    served = any(e.event == "read" and _from(e, me) and (e.rc or 0) > 0
                 for e in list(server.events))
    return {"second_client_handshake_rc": int(hs), "second_client_echo": echoed,
            "second_client_saw_close": closed,
            "second_client_served": served and echoed and closed}


def _judge(events: list[Any], late_peer: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"server_rc": 0, "handled_as": None, "server_note": "",
                           "late": False, "offset_ms": None, "reset_t_ms": None}
    if late_peer is None:
        return out
    mine = [e for e in events if _from(e, late_peer)]
    closed = next((i for i, e in enumerate(mine) if e.event in ("close_notify", "read")
                   and (e.rc or 0) <= 0), None)
    reset_i = next((i for i, e in enumerate(mine) if closed is not None and i > closed
                    and e.event == "reset"), None)
    window = next((e.data.get("window_ms") for e in mine if e.event == "linger"), None)
    out["linger_ms"] = window
    if reset_i is not None:
        out["reset_t_ms"] = mine[reset_i].t_ms
    for i, ev in enumerate(mine):
        if ev.event not in _HANDLED:
            continue
        out["handled_as"] = ev.event
        out["server_note"] = ev.note
        if ev.event in ("error", "drop"):
            out["server_rc"] = int(ev.rc or 0)
        # Late: the server's own order shows it handled after the reset.
        out["late"] = reset_i is not None and i > reset_i and ev.event != "discard" \
            and not ev.data.get("arrived_before_reset")
        if reset_i is not None:
            out["offset_ms"] = ev.t_ms - mine[reset_i].t_ms
        # Over real time, ms stamps jitter by one; whether the window had
        # closed is read off the server's own order of events instead.
        out["window_closed_first"] = any(e.event == "linger_end" for e in mine[:i])
        break
    out["server_events"] = [f"{e.event} {int(e.rc):#x}" if e.rc is not None and e.rc < 0
                            else (f"{e.event} {int(e.rc)}" if e.rc is not None else e.event)
                            for e in events if _from(e, late_peer)]
    return out


def run_real(peer: str, policy: str, runs: int, seed: int, delay_ms: float | None = None,
             progress: Callable[[dict[str, Any]], None] | None = None, *,
             jobs: int = 1, linger_ms: float | None = None,
             capture_for: Callable[[int], Any] | None = None) -> list[dict[str, Any]]:
    """``runs`` runs of the scenario over real UDP against ``peer``
    (``openssl`` or ``upstream-client``) with server ``policy``; run ``i`` has
    seed ``seed + i``.  ``delay_ms``: the proxy's delay of the client's
    encrypted alert (default 200).  ``progress`` is called with each run's dict
    as it finishes; ``jobs`` > 1 runs that many at once (each on its own
    ports).  ``capture_for(seed)`` gives each run's capture (see
    :func:`run_one`).  Returns the runs in seed order."""
    if runs < 1:
        raise ValueError("runs must be >= 1")
    if jobs < 1:
        raise ValueError("jobs must be >= 1")
    server_config, client_config = _credentials(peer)
    lock = threading.Lock()

    def one(i: int) -> dict[str, Any]:
        r = run_one(peer, policy, seed + i, delay_ms, linger_ms=linger_ms,
                    server_config=server_config, client_config=client_config,
                    capture=capture_for(seed + i) if capture_for is not None else None)
        if progress is not None:
            with lock:
                progress(r)
        return r

    if jobs == 1:
        return [one(i) for i in range(runs)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, range(runs)))
