"""Reading what the OpenSSL command-line peers printed: :class:`PeerResult` (a
run of ``s_client``/``s_server``) and the session blocks ``s_server`` prints
(:func:`parse_server_sessions`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PeerResult", "ServerSession", "parse_server_sessions"]


@dataclass
class PeerResult:
    """What an OpenSSL peer did: raw output plus the facts parsed from it.

    ``received`` is the application data the peer got from the other side (best effort: it
    is cut out of the CLI's output, so data that looks like the CLI's own lines can confuse
    it).  A client's ``handshake_completed`` comes from ``CONNECTION ESTABLISHED`` in brief
    mode; in full mode s_client prints its session block even after a failed handshake, so
    there it also needs a normal end (exit 0, ``DONE``, ``closed``) or a kill by the timeout.
    ``peer_closed`` (client only, not in brief mode) says whether the server's close_notify
    arrived before the client's own stdin EOF; ``None`` when unknown.
    """

    argv: list[str]
    returncode: int | None
    stdout: bytes
    stderr: bytes
    elapsed: float
    timed_out: bool = False
    handshake_completed: bool = False
    protocol: str | None = None
    cipher: str | None = None
    verify_ok: bool | None = None
    received: bytes = b""
    peer_closed: bool | None = None
    handshakes: int = 0


@dataclass(frozen=True)
class ServerSession:
    """One connection as seen in ``s_server``'s output."""

    cipher: str | None
    data: bytes
    closed: bool


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _search(pattern: bytes, data: bytes) -> str | None:
    m = re.search(pattern, data, re.MULTILINE)
    return m.group(1).decode(errors="replace").strip() if m else None


def _cipher_ok(cipher: str | None) -> bool:
    return cipher is not None and cipher not in ("(NONE)", "0000", "")


def _parse_client(result: PeerResult, brief: bool) -> None:
    out, err = result.stdout, result.stderr
    if brief:
        result.handshake_completed = b"CONNECTION ESTABLISHED" in err
        result.protocol = _search(rb"^Protocol version: (.+)$", err)
        result.cipher = _search(rb"^Ciphersuite: (.+)$", err)
        verification = err
        result.received = out
    else:
        result.cipher = _search(rb"^(?:New|Reused), .*, Cipher is (\S+)$", out)
        result.protocol = _search(rb"^\s+Protocol\s*: (\S+)$", out)
        verification = out
        start = out.find(b"SSL-Session:\n")
        end = out.find(b"\n---\n", start) if start >= 0 else -1
        if end >= 0:
            data = out[end + len(b"\n---\n") :]
            result.peer_closed = data.endswith(b"closed\n")
            result.received = data[: -len(b"closed\n")] if result.peer_closed else data
        # s_client also prints the session block, cipher included, when the handshake failed
        # half-way (exit status 1); a finished one shows in a normal end or in being killed.
        ended_normally = result.returncode == 0 or b"DONE\n" in err or bool(result.peer_closed)
        finished = ended_normally or result.timed_out
        result.handshake_completed = _cipher_ok(result.cipher) and finished
    if re.search(rb"^Verification: OK$", verification, re.MULTILINE):
        result.verify_ok = True
    elif re.search(rb"^Verification error", verification, re.MULTILINE):
        result.verify_ok = False
    if not result.handshake_completed:
        result.cipher = None
    result.handshakes = int(result.handshake_completed)


_SESSION_START = b"-----BEGIN SSL SESSION PARAMETERS-----\n"


_INFO_END = re.compile(rb"^Secure Renegotiation IS(?: NOT)? supported\n", re.MULTILINE)


_INFO_EXTRA = re.compile(
    rb"\A(?:Renegotiation is DISABLED\n|Keying material exporter:\n"
    rb"|    (?:Label|Length|Keying material|Error)[^\n]*\n)*"
)


# s_server prints DONE (peer's close_notify or our stdin EOF) or ERROR right after the data,
# but "shutting down SSL"/"CONNECTION CLOSED" sit in its stdio buffer until a later flush.
_TRAILER = re.compile(
    rb"(?:DONE|ERROR)\n"
    rb"(?:shutting down SSL\n|CONNECTION CLOSED\n|DONE\n|ERROR\n| +\d+ [^\n]*\n)*\Z"
)


def parse_server_sessions(stdout: bytes) -> list[ServerSession]:
    """Split ``s_server`` stdout into connections and cut out the data each one received.

    Best effort: a connection's data ends where s_server's ``DONE``/``ERROR`` trailer
    begins, so data whose last line is ``DONE`` itself is indistinguishable from it.
    """
    sessions = []
    for segment in stdout.split(_SESSION_START)[1:]:
        cipher = _search(rb"^CIPHER is (\S+)$", segment)
        m = _INFO_END.search(segment)
        if m is None:
            sessions.append(ServerSession(cipher, b"", False))
            continue
        body = segment[m.end() :]
        body = body[_INFO_EXTRA.match(body).end() :]  # type: ignore[union-attr]
        trailer = _TRAILER.search(body)
        closed = trailer is not None
        if trailer is not None:
            body = body[: trailer.start()]
        sessions.append(ServerSession(cipher if _cipher_ok(cipher) else None, body, closed))
    return sessions
