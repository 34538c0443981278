"""Captures over real UDP with openssl s_client: from ``serve`` (what its socket
saw, with its connections' keys) and from ``proxy`` (both sides), both
decrypted by the real tshark."""

from __future__ import annotations

import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from capture_helpers import fields, needs_tshark, tshark
from mbedtls_py import peers as interop
from mbedtls_py.peers import SEED_INPUT, OpenSSLClient, make_pki, pick_free_udp_port

pytestmark = [needs_tshark, pytest.mark.skipif(not interop.openssl_available(),
                                               reason="openssl is not installed")]

# Mbed TLS prefers ChaCha20-Poly1305, which tshark 4.0 cannot decrypt in DTLS
# (see test_capture_tshark); the client asks for AES-GCM.
CIPHER = "ECDHE-ECDSA-AES128-GCM-SHA256"


def _start(args: list[str], ready: str, timeout: float = 20.0) -> subprocess.Popen[str]:
    """Start ``python -m mbedtls_py ARGS`` and wait for ``ready`` on its stderr."""
    proc = subprocess.Popen([sys.executable, "-m", "mbedtls_py", *args], text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    end = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < end:
        r, _, _ = select.select([proc.stderr], [], [], 0.5)
        if r:
            line = proc.stderr.readline()
            seen += line
            if ready in line:
                return proc
            if not line and proc.poll() is not None:
                break
    proc.kill()
    proc.wait()
    raise AssertionError(f"{args[0]} did not start: {seen}")


def _stop(proc: subprocess.Popen[str], timeout: float = 20.0) -> str:
    """Wait for ``proc`` (SIGKILL after ``timeout``); return the rest of its stderr."""
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err or ""


def _server_args(tmp_path: Path, port: int) -> tuple[list[str], interop.PKI]:
    pki = make_pki("ecdsa")
    paths = pki.write(tmp_path / "pki")
    return (["serve", "--port", str(port), "--cert", str(paths.cert_chain), "--key",
             str(paths.key), "--max-clients", "1", "--max-seconds", "60"], pki)


def test_serve_capture_with_s_client_decrypts(tmp_path: Path) -> None:
    """serve --pcap: the handshake, the request and its echo, decrypted with the
    keys embedded by the server."""
    port = pick_free_udp_port()
    args, pki = _server_args(tmp_path, port)
    pcap, keys = tmp_path / "serve.pcapng", tmp_path / "serve.keys"
    server = _start(args + ["--pcap", str(pcap), "--keylog", str(keys)], "serving DTLS on")
    try:
        result = OpenSSLClient("127.0.0.1", port, pki=pki, cipher=CIPHER).run(timeout=20)
        assert result.returncode is not None
    finally:
        err = _stop(server)
    assert server.returncode == 0, err
    assert keys.read_text().startswith("CLIENT_RANDOM ")
    rows = fields(pcap, "ip.src", "udp.srcport", "udp.dstport", "data.data",
                  "frame.interface_name")
    assert {r[4] for r in rows} == {"server socket"}
    echoed = [r for r in rows if r[3] == SEED_INPUT.hex()]
    assert {r[1] == str(port) for r in echoed} == {True, False}  # request and echo
    assert "Close Notify" in tshark(pcap)


def test_proxy_capture_with_s_client_decrypts(tmp_path: Path) -> None:
    """proxy --pcap with the server's key log: both sides of the proxy, decrypted,
    with the delayed alert commented."""
    sport, pport = pick_free_udp_port(), pick_free_udp_port()
    while pport == sport:
        pport = pick_free_udp_port()
    args, pki = _server_args(tmp_path, sport)
    keys, pcap = tmp_path / "server.keys", tmp_path / "proxy.pcapng"
    server = _start(args + ["--keylog", str(keys)], "serving DTLS on")
    proxy = _start(["proxy", "--listen", f"127.0.0.1:{pport}", "--server",
                    f"127.0.0.1:{sport}", "--rule", "client->server alert epoch>=1: delay 200ms",
                    "--max-seconds", "60", "--quiet", "--pcap", str(pcap), "--keylog", str(keys)],
                   "proxy listening")
    try:
        OpenSSLClient("127.0.0.1", pport, pki=pki, cipher=CIPHER).run(timeout=20)
        _stop(server)  # one client: it exits and writes its key log
        assert keys.exists()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        proxy.send_signal(signal.SIGTERM)
        err = _stop(proxy)
    assert proxy.returncode == 0, err
    rows = fields(pcap, "frame.interface_name", "data.data", "dtls.alert_message.desc",
                  "frame.comment", "udp.dstport")
    sides = {r[0] for r in rows}
    assert sides == {"proxy client side", "proxy server side"}
    request = [r for r in rows if r[1] == SEED_INPUT.hex()]
    assert {r[0] for r in request} == sides  # decrypted on both sides
    delayed = [r for r in rows if "delayed 200 ms by rule" in r[3]]
    assert len(delayed) == 1 and delayed[0][2] == "0"  # the client's Close Notify
    late = [r for r in rows if "delay: sent" in r[3]]
    assert len(late) == 1 and late[0][4] == str(sport) and late[0][2] == "0"


def test_repro_with_openssl_captures_the_servers_socket(tmp_path: Path) -> None:
    """repro --peer openssl --pcap: the server's socket, the late alert commented with
    the server's -0x7700, and the key of the first client's connection embedded."""
    from mbedtls_py.cli.repro import main as repro_main

    path = tmp_path / "real.pcapng"
    rc = repro_main(["close-notify", "--peer", "openssl", "--mitigation", "none", "--runs", "1",
                     "--pcap", str(path)])
    assert rc == 0 and path.exists()
    rows = fields(path, "frame.number", "dtls.record.content_type", "dtls.handshake.type",
                  "dtls.handshake.random", "frame.comment")
    failed = [r for r in rows if "error rc=-0x7700" in r[4]]
    assert len(failed) == 1 and failed[0][1] == "21"  # an alert record: the late close_notify
    assert any("then server: reset" in r[4] for r in rows if int(r[0]) < int(failed[0][0]))
    client_randoms = {r[3] for r in rows if r[2].split("|")[0] == "1" and r[3]}
    import re
    embedded = set(re.findall(rb"CLIENT_RANDOM ([0-9a-f]{64}) [0-9a-f]{96}\n", path.read_bytes()))
    assert len(embedded) == 2  # the first client's connection and the second's
    assert {e.decode() for e in embedded} <= client_randoms
