"""The verdict of one close_notify run, from evidence alone: the trace's
deliveries and the server's events (what the scenario planned is never
evidence), and what each policy promises for it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..bindings.errors import Err

if TYPE_CHECKING:
    from ..server.eventlog import BoundedLog
    from ..server.server import DTLSServer
    from ..sim.network import Network

__all__ = ["LATE_SCENARIOS", "offset_words", "expected_outcome", "collect_evidence",
           "outcome_from_evidence", "next_client_overtaken", "connection_ending_reset"]

LATE_SCENARIOS = ("late-close-notify", "duplicate-after-reset", "late-close-notify-new-client")


def offset_words(offset_ms: int | None) -> str:
    """An offset from the server's reset in words: ``32 ms after``, ``14 ms before``."""
    if offset_ms is None:
        return "never"
    return f"{abs(offset_ms)} ms {'before' if offset_ms < 0 else 'after'}"


def expected_outcome(policy: str, scenario: str, late: bool, server_rc: int,
                     offset_ms: int | None = None, linger_ms: float | None = None) -> str:
    """What each policy promises for a run."""
    if scenario in LATE_SCENARIOS:
        if policy == "none":
            return "failed" if late else "ok"
        if policy == "linger" and late and offset_ms is not None and linger_ms is not None \
                and offset_ms > linger_ms:
            return "failed"  # past the (inclusive) window, the old connection is gone
        return "ok"
    if policy == "lenient" and server_rc == Err.SSL_UNEXPECTED_MESSAGE:
        return "error-hidden"  # the weakness of upstream's workaround (#9656)
    return "error-reported"


_HANDLING = ("error", "drop", "linger_consumed", "discard")


def connection_ending_reset(events: BoundedLog[Any]) -> Any:
    """The server's reset that ended the first connection (``"client"``'s):
    the first after it closed or failed reading, not the reset that follows
    the cookie exchange's HelloVerifyRequest; ``None`` before there is one."""
    closed = next((i for i, e in enumerate(events) if e.peer == "client"
                   and e.event in ("close_notify", "read") and (e.rc or 0) <= 0), None)
    if closed is None:
        return None
    return next((e for e in events[closed:] if e.event == "reset" and e.peer == "client"), None)


def collect_evidence(scenario: str, net: Network, server: DTLSServer, where: dict[int, int],
             bad: tuple[str, bytes] | None) -> dict[str, Any]:
    """The evidence of one run: the connection-ending reset, the delivery of
    the late (or bad) datagram, the server event that accounts for it."""
    out: dict[str, Any] = {"late": False, "offset_ms": None, "server_rc": 0, "handled": None,
                           "linger_ms": None, "note": "", "evidence": "", "missing": None}
    evs = server.events
    reset = connection_ending_reset(evs)
    linger = next((e for e in evs if e.event == "linger" and e.peer == "client"), None)
    if linger is not None:
        out["linger_ms"] = linger.data.get("window_ms")
    deliveries = [(i, ev) for i, ev in enumerate(net.trace)
                  if ev.kind == "deliver" and ev.dst == "server"]
    if bad is not None:
        src, data = bad
        hits = [(i, ev) for i, ev in deliveries if ev.src == src and ev.data == data]
    else:
        src = "client"
        ctype = 23 if scenario == "duplicate-after-reset" else 21

        def is_late(ev: Any) -> bool:
            if not ev.data or ev.data[0] != ctype:  # the first record's type, unparsed
                return False
            recs = ev.records.records
            return bool(recs) and recs[0].encrypted and recs[0].content_type == ctype
        hits = [(i, ev) for i, ev in deliveries if ev.src == "client" and is_late(ev)]
    if reset is None:
        out["missing"] = "the server never reset the first connection"
        return out
    if not hits:
        out["missing"] = "the datagram never reached the server"
        return out
    pos, delivered = hits[-1]  # a duplicate is the later copy
    out["late"] = pos > where.get(id(reset), -1)
    out["offset_ms"] = delivered.time_ms - reset.t_ms
    hexed = delivered.data.hex()
    handler = next((e for e in evs if e.peer == src and e.event in _HANDLING
                    and e.data.get("datagram") == hexed and where.get(id(e), -1) > pos), None)
    when = f"delivered {offset_words(out['offset_ms'])} the reset"
    if handler is None:
        out["missing"] = f"{when}, but no server event accounts for it"
        out["evidence"] = out["missing"]
        return out
    out["handled"] = handler.event
    if handler.event in ("error", "drop"):
        out["server_rc"] = int(handler.rc or 0)
    out["note"] = f"{handler.event}: {handler.note}"
    out["evidence"] = f"{when}; server event {handler.event} at {handler.t_ms} ms"
    return out


def next_client_overtaken(net: Network) -> tuple[int, str] | None:
    """When a close_notify of the next connection overtook its data on the
    way (a timing model's jitter can reorder two datagrams sent in one ms):
    the next client's before its request reached the server, or the server's
    before its echo reached the client.  Returns (ms it arrived, which), else
    ``None``.  The close is then read first and the next client goes unserved
    for a reason of its own, not the policy's."""
    for src, dst, what in (("client2", "server", "the next client's request"),
                           ("server", "client2", "the server's echo")):
        for ev in net.trace:
            if ev.kind != "deliver" or ev.src != src or ev.dst != dst \
                    or not ev.data or ev.data[0] not in (21, 23):
                continue
            recs = ev.records.records if ev.records is not None else []
            if recs and recs[0].encrypted:
                if recs[0].content_type == 21:
                    return ev.time_ms, what
                break
    return None


def outcome_from_evidence(v: dict[str, Any], late_kind: bool, served: bool,
                          overtaken: tuple[int, str] | None = None) -> str:
    """The outcome from the evidence alone; missing evidence is inconclusive.
    ``overtaken``: see :func:`next_client_overtaken`; an unserved next
    client is then no evidence against the policy."""
    if v["missing"] is not None:
        if not late_kind and v["handled"] is None and v["evidence"]:
            return "error-hidden"  # delivered, and the server said nothing
        v["evidence"] = v["evidence"] or v["missing"]
        return "inconclusive"
    if not late_kind:
        return "error-reported" if v["handled"] == "error" else "error-hidden"
    if v["handled"] == "error":
        return "failed"
    if not served:
        if overtaken is None:
            return "failed"
        v["evidence"] += (f"; a close_notify overtook {overtaken[1]} on the way (delivered at "
                          f"{overtaken[0]} ms): that the next client went unserved says nothing "
                          "of the policy")
        return "inconclusive"
    if v["handled"] == "discard" and v["late"]:
        v["evidence"] += " (discarded as early, yet delivered after the reset?)"
        return "inconclusive"
    return "ok"
