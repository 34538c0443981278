"""The trailing-bytes finding, as a small probe to run across variants.

One spoofed datagram into an established DTLS connection: a plaintext
epoch-0 ChangeCipherSpec record (14 bytes, a valid record header, so
``ssl_get_next_record`` skips it as unexpected) followed by N stray bytes.
Then the legitimate client sends a record.  RFC 6347 section 4.1.2.7: invalid
records are silently discarded, so the server should read the client's data.
Mbed TLS 3.6.6 and 3.6.7 fail every later read with ``SSL_INTERNAL_ERROR``
for N = 1..12 (``mbedtls_ssl_fetch_input``, "should never happen");
``patches/0001-dtls-discard-trailing-bytes-shorter-than-header.patch`` fixes it.
N = 0 and N = 13 are the controls (a record alone; a whole invalid header).

``python -m mbedtls_py.variants.probe [--json]``: one line (or one JSON
object) per N with what the server's reads returned; meant for
``mbedtls-py matrix -- python -m mbedtls_py.variants.probe --json``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from .._cliargs import doc_parser

__all__ = ["CCS_EPOCH0", "probe", "run_probe", "main"]

# content type 20 (CCS), DTLS 1.2, epoch 0, sequence number 2^40 - 1, length 1, body 1
CCS_EPOCH0 = bytes([20, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1])
PAYLOAD = b"legitimate data after the spoofed datagram"


def probe(stray: int, seed: int = 1) -> dict[str, Any]:
    """Establish a PSK pair, push the spoofed datagram with ``stray`` trailing
    bytes into the server, then the client's record; report the server's reads."""
    from .. import Err
    from ..creds.configs import psk_configs
    from ..sim.pump import handshake_pair, new_pair

    cc, sc = psk_configs(seed=seed)
    client, server, _ = new_pair(cc, sc, hostname=None)
    try:
        if handshake_pair(client, server) != (0, 0):
            return {"stray_bytes": stray, "verdict": "inconclusive",
                    "why": "the handshake did not complete"}
        server.push(CCS_EPOCH0 + bytes([0xA5]) * stray)
        assert client.write(PAYLOAD) == len(PAYLOAD)
        client.move_to(server)
        codes: list[str] = []
        delivered = False
        for _ in range(3):  # the spoofed datagram, the client's, and one spare
            buf = bytearray(1024)
            rc = server.read_into(buf)
            if rc == len(PAYLOAD) and bytes(buf[:rc]) == PAYLOAD:
                codes.append(f"read {rc} bytes")
                delivered = True
                break
            codes.append(rc.name if isinstance(rc, Err) else str(rc))
            if rc == Err.SSL_WANT_READ and server.pending_in == 0:
                break
        broken = "SSL_INTERNAL_ERROR" in codes
        verdict = ("discarded" if delivered else
                   "connection-broken" if broken else "inconclusive")
        return {"stray_bytes": stray, "verdict": verdict, "reads": codes}
    finally:
        client.close()
        server.close()


def run_probe(strays: list[int], detailed: bool = False) -> dict[str, Any]:
    """The probe for each N, with the loaded variant's name and version."""
    import mbedtls_py

    cases = [probe(n) for n in strays]
    result: dict[str, Any] = {
        "variant": mbedtls_py.__variant__, "mbedtls_version": mbedtls_py.__mbedtls_version__,
        # one line per case, so that `matrix` shows one row per case
        "cases": {f"CCS + {c['stray_bytes']:2} stray bytes":
                  f"{c['verdict']}: {(c.get('reads') or [c.get('why', '')])[0]}" for c in cases},
        "summary": {v: sum(c["verdict"] == v for c in cases)
                    for v in ("discarded", "connection-broken", "inconclusive")},
    }
    if detailed:
        result["details"] = cases
    return result


def main(argv: list[str] | None = None) -> int:
    """Print the probe's result; exit 0 (the verdicts are the output, not a pass/fail)."""
    ap = doc_parser("python -m mbedtls_py.variants.probe", __doc__)
    ap.add_argument("--json", action="store_true", help="one JSON object")
    ap.add_argument("--max-stray", type=int, default=13, metavar="N",
                    help="probe 0..N stray bytes (default 13; 0 and 13 are controls)")
    args = ap.parse_args(argv)
    if not 0 <= args.max_stray <= 64:
        ap.error("--max-stray must be 0..64")
    result = run_probe(list(range(args.max_stray + 1)), detailed=not args.json)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"variant {result['variant']} (Mbed TLS {result['mbedtls_version']})")
        for c in result["details"]:
            print(f"  CCS + {c['stray_bytes']:2} stray bytes: {c['verdict']:18} "
                  f"{', '.join(c.get('reads', [])) or c.get('why', '')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
