"""The off-path scenarios: one forged datagram against real Mbed TLS contexts.

Each function builds a seeded ``Duo`` (client and server on a virtual clock),
runs a control (the same seed, no forged datagram) and the attack, and
returns an ``AttackResult`` whose ``observed`` text and ``verdict`` come from
the return codes, the outcome against the control and the debug trace.
"""

from __future__ import annotations

from collections.abc import Callable

from .. import __mbedtls_version__
from ..bindings.errors import Err
from . import forge
from .duo import Duo, DebugCapture, Kind
from .result import AttackResult, code_name, summarize_debug

__all__ = ["established_ccs_stray_byte", "established_reconnect_decode_error", "early_ccs", "early_short_alert", "forged_ccs_bad_mac",
           "replay_window_poison", "stray_bytes",
           "SCENARIOS", "run_all", "to_server_hello", "reads_after", "judge_handshake"]

_MSGS = [b"ping-%d" % i for i in range(3)]


def to_server_hello(duo: Duo) -> None:
    """Drive ``duo`` until the client has sent the ClientHello the server will
    answer with its ServerHello (after the cookie exchange when cookies are
    on), and the server has not read it yet."""
    duo.step("client")
    duo.flush()
    if duo.cookies:
        duo.step("server")      # HelloVerifyRequest
        duo.flush()
        duo.step("client")      # ClientHello with the cookie
        duo.flush()


def reads_after(duo: Duo, target: str) -> tuple[list[int], bytes]:
    """The peer sends three records; ``target`` reads after each arrives (even
    after an error, as an application polling its socket would).  Returns the
    read codes and the bytes delivered."""
    peer, ctx = duo.peer(target), duo.ctx(target)
    buf, codes, got = bytearray(256), [], bytearray()
    for msg in _MSGS:
        duo.write(peer, msg)
        duo.flush()
        rc = ctx.read_into(buf)
        duo._log(target, "read", rc)
        codes.append(int(rc))
        if rc > 0:
            got += buf[:rc]
    return codes, bytes(got)


def judge_handshake(res: AttackResult, kind: Kind, cookies: bool, seed: int | str,
                     inject: Callable[[Duo], int | None], cap_level: int = 1) -> AttackResult:
    """Control vs attack for a scenario that strikes during the handshake: a
    control ``Duo`` (same ``kind``, ``cookies``, ``seed``) handshakes untouched;
    a second one is driven to the ServerHello (``to_server_hello``), then
    ``inject(duo)`` forges (returning the first injected read's code), and the
    handshake runs on.  Fills ``res`` (codes, debug evidence, facts, verdict:
    ``conforms`` when it completes at the control's time, ``violates`` when
    late or failed, ``inconclusive`` when the control fails) and returns it."""
    ctl = Duo(kind, cookies=cookies, seed=seed)
    to_server_hello(ctl)
    ctl_ok = ctl.handshake()
    t_ctl = ctl.clock.now_ms
    res.control = (f"without the datagram the handshake completes at {t_ctl} ms" if ctl_ok
                   else f"without the datagram the handshake fails too ({ctl.failed})")
    duo = Duo(kind, cookies=cookies, seed=seed)
    to_server_hello(duo)
    mark = len(duo.calls)
    with DebugCapture(duo, cap_level) as cap:
        first = inject(duo)
        ok = duo.handshake()
    res.codes = duo.calls[mark:]
    res.evidence = summarize_debug(cap.lines)
    replayed = sum("replayed record" in line for line in cap.lines)
    res.facts = {"inject_rc": code_name(first), "completed": ok, "t_ms": duo.clock.now_ms,
                 "control_t_ms": t_ctl,
                 "failed": {k: code_name(v) for k, v in duo.failed.items()},
                 "replayed_records": replayed, "kind": kind, "cookies": cookies}
    if not ctl_ok:
        res.verdict, res.observed = "inconclusive", "no baseline: the control run failed"
    elif ok and duo.clock.now_ms == t_ctl:
        res.verdict = "conforms"
        res.observed = f"discarded: the handshake completed at {t_ctl} ms, as in the control"
    elif ok:
        res.verdict = "violates"
        res.observed = (f"the handshake completed {duo.clock.now_ms - t_ctl} ms late (only after "
                        f"retransmissions); {replayed} legitimate records were discarded as "
                        "replayed")
    else:
        fails = ", ".join(f"{k} {code_name(v)}" for k, v in sorted(duo.failed.items()))
        res.verdict = "violates"
        res.observed = (f"reading the datagram returned {code_name(first)}; "
                        f"the handshake never completed: {fails or 'stalled'} at "
                        f"{duo.clock.now_ms} ms")
        if replayed:
            res.observed += (f"; {replayed} legitimate records (retransmissions included) "
                             "were discarded as replayed")
    return res


def established_ccs_stray_byte(kind: Kind = "psk", *, target: str = "client",
                               seed: int | str = 0, stray: bytes = b"\x00") -> AttackResult:
    """(1) A plaintext epoch-0 ChangeCipherSpec record followed by one stray byte
    (15 bytes) injected into an established connection.  The record is from a
    past epoch, so it is dropped, but its stray byte stays in the input buffer:
    Mbed TLS 3.6.6 then answers every later read with ``SSL_INTERNAL_ERROR``
    (``mbedtls_ssl_fetch_input``: ``in_left != 0``, "should never happen")."""
    datagram = forge.ccs(epoch=0, seq=1) + stray
    res = AttackResult("established-ccs-stray-byte",
                       f"plaintext epoch-0 ChangeCipherSpec + {len(stray)} stray byte(s) into an "
                       f"established {kind} connection", target, datagram, __mbedtls_version__)
    ctl = Duo(kind, seed=seed)
    ctl_ok = ctl.handshake()
    ctl_codes, ctl_got = reads_after(ctl, target) if ctl_ok else ([], b"")
    want = b"".join(_MSGS)
    res.control = (f"without the datagram the {target} reads {len(ctl_got)} of {len(want)} bytes"
                   if ctl_ok else "without the datagram the handshake fails")
    duo = Duo(kind, seed=seed)
    if not duo.handshake() or not ctl_ok or ctl_got != want:
        res.observed = "no baseline: the control run did not deliver every record"
        return res
    mark = len(duo.calls)
    with DebugCapture(duo) as cap:
        rc = duo.inject(target, datagram)
        codes, got = reads_after(duo, target)
    res.codes = duo.calls[mark:]
    res.evidence = summarize_debug(cap.lines)
    res.facts = {"inject_rc": code_name(rc), "read_codes": [code_name(c) for c in codes],
                 "delivered": len(got), "expected": len(want), "kind": kind}
    errors = sorted({code_name(c) for c in codes if c < 0 and c != Err.SSL_WANT_READ})
    if got == want and rc in (Err.SSL_WANT_READ, None):
        res.verdict = "conforms"
        res.observed = "discarded: every later record was read, as in the control"
    else:
        res.verdict = "violates"
        res.observed = (f"reading the datagram returned {code_name(rc)}; the {len(codes)} later "
                        f"reads returned {', '.join(errors) or 'no error'}; "
                        f"{len(got)} of {len(want)} bytes delivered (connection dead)")
    return res


def established_reconnect_decode_error(kind: Kind = "psk", *, seed: int | str = 0,
                                       body: bytes = b"\x01") -> AttackResult:
    """Found by the fuzzer: with cookies on, an established server treats an
    epoch-0 handshake record starting with the ClientHello type as a possible
    client reconnect (``MBEDTLS_SSL_DTLS_CLIENT_PORT_REUSE``) and parses it
    for a cookie; when that parse fails, ``ssl_handle_possible_reconnect``
    returns the parse error (``SSL_DECODE_ERROR``) instead of dropping the
    record, and the connection is dead.  14 bytes, no cookie needed."""
    datagram = forge.record(22, body, epoch=0, seq=5)
    res = AttackResult("established-reconnect-decode-error",
                       f"{len(datagram)}-byte epoch-0 'ClientHello' record (unparsable) into an "
                       f"established {kind} server with cookies", "server", datagram,
                       __mbedtls_version__)
    ctl = Duo(kind, cookies=True, seed=seed)
    ctl_ok = ctl.handshake()
    _, ctl_got = reads_after(ctl, "server") if ctl_ok else ([], b"")
    want = b"".join(_MSGS)
    res.control = f"without the datagram the server reads {len(ctl_got)} of {len(want)} bytes"
    duo = Duo(kind, cookies=True, seed=seed)
    if not duo.handshake() or ctl_got != want:
        res.observed = "no baseline: the control run did not deliver every record"
        return res
    mark = len(duo.calls)
    with DebugCapture(duo) as cap:
        rc = duo.inject("server", datagram)
        codes, got = reads_after(duo, "server")
    res.codes = duo.calls[mark:]
    res.evidence = summarize_debug(cap.lines)
    res.facts = {"inject_rc": code_name(rc), "read_codes": [code_name(c) for c in codes],
                 "delivered": len(got), "expected": len(want), "kind": kind}
    if got == want and rc == Err.SSL_WANT_READ:
        res.verdict, res.observed = "conforms", "discarded: every later record was read"
    else:
        res.verdict = "violates"
        res.observed = (f"reading the datagram returned {code_name(rc)}; later reads returned "
                        f"{', '.join(sorted(set(res.facts['read_codes'])))}; {len(got)} of "
                        f"{len(want)} bytes delivered")
    return res


def early_ccs(kind: Kind = "psk", *, cookies: bool = False, seq: int = 10,
              content: bytes = b"\x00", seed: int | str = 0) -> AttackResult:
    """(2) A 14-byte plaintext ChangeCipherSpec arriving at the client before the
    ServerHello.  With a content byte other than 1 Mbed TLS 3.6.6 fails the
    handshake at once (``SSL_INVALID_RECORD``, "invalid CCS message") instead
    of discarding the record.  With ``content=b"\x01"`` the record is valid:
    it is remembered ("out-of-order ChangeCipherSpec") and moves the epoch-0
    replay window to ``seq`` (see ``replay_window_poison``).  ``seq`` must be
    one the client has not seen (after a cookie exchange 0 is taken)."""
    datagram = forge.record(20, content, epoch=0, seq=seq)
    res = AttackResult("early-ccs", f"{len(datagram)}-byte plaintext ChangeCipherSpec (content "
                       f"{content.hex()}, seq {seq}) to a {kind} client before the ServerHello "
                       f"(cookies {'on' if cookies else 'off'})", "client", datagram,
                       __mbedtls_version__)
    return judge_handshake(res, kind, cookies, seed, lambda d: d.inject("client", datagram))


def early_short_alert(kind: Kind = "psk", *, cookies: bool = False, seq: int = 10,
                      body: bytes = b"\x01", seed: int | str = 0) -> AttackResult:
    """A plaintext alert record whose body is not 2 bytes, to the client before
    the ServerHello: the same code path as the malformed CCS (found by the
    fuzzer): ``SSL_INVALID_RECORD`` ("invalid alert message"), fatal."""
    datagram = forge.record(21, body, epoch=0, seq=seq)
    res = AttackResult("early-short-alert", f"{len(datagram)}-byte plaintext alert with a "
                       f"{len(body)}-byte body to a {kind} client before the ServerHello",
                       "client", datagram, __mbedtls_version__)
    return judge_handshake(res, kind, cookies, seed, lambda d: d.inject("client", datagram))


def forged_ccs_bad_mac(kind: Kind = "psk", *, cookies: bool = False, seq: int = 10,
                       seed: int | str = 0) -> AttackResult:
    """Found by the fuzzer: while the client waits for the server's
    ChangeCipherSpec, a forged (valid, plaintext) CCS is taken for the
    server's, and then any epoch-1 record that fails to decrypt is fatal
    (``SSL_INVALID_MAC``: Mbed TLS treats a bad MAC while waiting for Finished
    as a handshake failure), where RFC 6347 says to discard it.  Two forged
    datagrams, 14 + 53 bytes."""
    ccs_rec = forge.ccs(seq=seq)
    garbage = forge.app_data(bytes(40), epoch=1, seq=0)
    res = AttackResult("forged-ccs-bad-mac", f"plaintext CCS (seq {seq}) then a 40-byte epoch-1 "
                       f"record with no valid MAC, to a {kind} client waiting for the server's "
                       "ChangeCipherSpec", "client", ccs_rec + garbage, __mbedtls_version__)

    def inject(duo: Duo) -> int | None:
        duo.step("server")   # the server's first flight ...
        duo.flush()
        duo.step("client")   # ... answered: the client waits for CCS + Finished
        duo.inject("client", ccs_rec)
        return duo.inject("client", garbage)

    return judge_handshake(res, kind, cookies, seed, inject)


def replay_window_poison(kind: Kind = "psk", *, cookies: bool = False, seq: int = 1 << 40,
                         target: str = "client", seed: int | str = 0) -> AttackResult:
    """(3) An epoch-0 record with sequence number ``seq`` (an application_data
    record here, which is itself dropped) poisons the anti-replay window: every
    later epoch-0 record of the real peer, retransmissions included, is
    "replayed".  ``target='server'`` strikes the server after it answered the
    ClientHello (its peer's next flight is the client's key exchange)."""
    datagram = forge.app_data(b"x", epoch=0, seq=seq)
    res = AttackResult("replay-window" + ("" if target == "client" else "-server"),
                       f"epoch-0 application_data record with sequence number {seq} to the "
                       f"{kind} {target} mid-handshake", target, datagram, __mbedtls_version__)

    def inject(duo: Duo) -> int | None:
        if target == "server":
            duo.step("server")  # reads the ClientHello, sends its flight (held in its queue)
        return duo.inject(target, datagram)

    return judge_handshake(res, kind, cookies, seed, inject)


def stray_bytes(kind: Kind = "psk", *, target: str = "client", seed: int | str = 0,
                counts: range = range(0, 14)) -> AttackResult:
    """The generalisation of (1): a record Mbed TLS drops without decrypting it
    (plaintext epoch 0 of every content type, or a future epoch) followed by
    ``k`` stray bytes, for each ``k`` in ``counts``; and, for contrast, an
    epoch-1 record with a bad MAC.  Established connection, one fresh Duo per
    datagram.  ``facts['table']`` maps each record to the ``k`` that killed it."""
    heads = {"ccs/e0": forge.ccs(seq=7), "alert/e0": forge.alert(seq=7),
             "handshake/e0": forge.record(22, bytes(12), seq=7),
             "app/e0": forge.app_data(seq=7), "app/e2": forge.app_data(bytes(40), epoch=2, seq=7),
             "app/e1-badmac": forge.app_data(bytes(40), epoch=1, seq=7)}
    res = AttackResult("stray-bytes", f"a dropped record followed by k stray bytes (k in "
                       f"{counts.start}..{counts.stop - 1}) into an established {kind} {target}",
                       target, heads["ccs/e0"] + b"\x00" * 12, __mbedtls_version__)
    table: dict[str, list[int]] = {}
    codes: dict[str, set[str]] = {}
    ctl = Duo(kind, seed=seed)
    ctl_ok = ctl.handshake() and reads_after(ctl, target)[1] == b"".join(_MSGS)
    res.control = ("without a datagram every record is read" if ctl_ok else "control failed")
    if not ctl_ok:
        return res
    for name, head in heads.items():
        for k in counts:
            duo = Duo(kind, seed=seed, log_calls=False)
            duo.handshake()
            rc = duo.inject(target, head + b"\x00" * k)
            reads, got = reads_after(duo, target)
            if got != b"".join(_MSGS):
                table.setdefault(name, []).append(k)
                codes.setdefault(name, set()).update(
                    code_name(c) for c in [rc or 0, *reads] if c and c < 0)
    res.facts = {"killed_by": table, "codes": {k: sorted(v) for k, v in codes.items()},
                 "kind": kind}
    if not table:
        res.verdict, res.observed = "conforms", "every datagram was discarded"
        return res
    res.verdict = "violates"
    res.observed = "; ".join(
        f"{name} + k bytes kills the connection for k in {_ranges(ks)} ({', '.join(sorted(codes[name]))})"
        for name, ks in table.items())
    spared = [n for n in heads if n not in table]
    if spared:
        res.observed += f"; discarded for every k: {', '.join(spared)}"
    return res


def _ranges(values: list[int]) -> str:
    """``[1, 2, 3, 7]`` -> ``1-3,7``."""
    out: list[str] = []
    run: list[int] = []
    for v in sorted(values):
        if run and v != run[-1] + 1:
            out.append(f"{run[0]}" if len(run) == 1 else f"{run[0]}-{run[-1]}")
            run = []
        run.append(v)
    if run:
        out.append(f"{run[0]}" if len(run) == 1 else f"{run[0]}-{run[-1]}")
    return ",".join(out)


SCENARIOS: dict[str, Callable[..., AttackResult]] = {
    "established-ccs-stray-byte": established_ccs_stray_byte,
    "established-reconnect-decode-error": established_reconnect_decode_error,
    "early-ccs": early_ccs,
    "early-short-alert": early_short_alert,
    "early-ccs-valid-far-seq": lambda **kw: early_ccs(content=b"\x01", seq=1 << 40, **kw),
    "forged-ccs-bad-mac": forged_ccs_bad_mac,
    "replay-window": replay_window_poison,
    "replay-window-server": lambda **kw: replay_window_poison(target="server", **kw),
    "replay-window-seq2": lambda **kw: early_ccs(content=b"\x01", seq=2, **kw),
    "stray-bytes": stray_bytes,
}


def run_all(seed: int | str = 0, only: list[str] | None = None,
            kind: Kind = "psk") -> list[AttackResult]:
    """Run every scenario (or those named in ``only``) with ``seed``."""
    names = only or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise ValueError(f"unknown scenario {unknown[0]!r}; choose from {', '.join(SCENARIOS)}")
    results = []
    for name in names:
        result = SCENARIOS[name](kind=kind, seed=seed)
        result.name = name  # variants share a function
        results.append(result)
    return results
