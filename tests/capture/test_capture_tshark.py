"""Captures of the simulated network, opened by the real tshark.

The files alone decrypt: the keys travel in the pcapng's Decryption Secrets
Block; no tshark option points at a key log."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from capture_helpers import fields, needs_tshark, tshark
from mbedtls_py import Context, Err
from mbedtls_py.sim import Network
from mbedtls_py.bindings.config import Config
from mbedtls_py.cli.repro import main as repro_main
from mbedtls_py.repro.scenarios import REQUEST, run_scenario
from mbedtls_py.testing import psk_configs

pytestmark = needs_tshark


def _late_seed() -> int:
    """A seed whose late close_notify reaches the server after its reset."""
    for seed in range(1, 50):
        if run_scenario("late-close-notify", "none", seed).late:
            return seed
    raise AssertionError("no seed in 1..49 puts the alert after the reset")


def test_seed_race_from_repro_decrypts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """repro --pcap: the client's encrypted alert reads as Close Notify, arrives after
    the server's reset, and the server's handshake then fails with -0x7700."""
    seed = _late_seed()
    path = tmp_path / "race.pcapng"
    rc = repro_main(["close-notify", "--mitigation", "none", "--scenario", "late-close-notify",
                     "--runs", "1", "--seed", str(seed), "--pcap", str(path)])
    capsys.readouterr()
    assert rc == 0 and path.exists()
    rows = fields(path, "frame.number", "ip.src", "ip.dst", "dtls.record.content_type",
                  "dtls.alert_message.desc", "data.data", "frame.comment")
    client, server = "192.0.2.1", "192.0.2.2"
    # the request decrypts (application data of the first client)
    assert any(r[1] == client and r[5] == REQUEST.hex() for r in rows)
    alerts = [r for r in rows if r[3] == "21"]
    srv_alert = next(r for r in alerts if r[1] == server)
    cli_alert = next(r for r in alerts if r[1] == client)
    assert srv_alert[4] == cli_alert[4] == "0"  # decrypted: Close Notify
    assert int(cli_alert[0]) > int(srv_alert[0])
    comment = cli_alert[6]
    assert "delayed" in comment and "by rule 'client->server alert epoch>=1" in comment
    # the server reset before this arrived, then failed the "handshake" on it
    before, _, after = comment.partition("then server:")
    assert "before this arrived" in before and "reset rc=0" in before
    assert "error rc=-0x7700" in comment.split("before this arrived")[-1]
    assert after  # there is something after: the failed handshake
    # the next client's handshake follows the alert
    hellos = [int(r[0]) for r in rows if r[1] not in (client, server) and r[3].startswith("22")]
    assert hellos and min(hellos) > int(cli_alert[0])
    # the same in tshark's one-line summary
    summary = tshark(path)
    assert "Alert (Level: Warning, Description: Close Notify)" in summary


def _suite_run(tmp_path: Path, suite: str) -> tuple[Path, Network]:
    net = Network(seed=f"suite/{suite}")
    cc, sc = psk_configs(suite=suite)
    path = tmp_path / f"{suite}.pcapng"
    with net.capture(path):
        cli = net.add("client", Context(cc))
        srv = net.add("server", Context(sc))
        assert net.handshake(cli, srv) == (0, 0)
        assert cli.write(b"ping over " + suite.encode()) > 0
        net.run()
        assert srv.read() == b"ping over " + suite.encode()
        assert srv.write(b"pong") == 4
        net.run()
        assert cli.read() == b"pong"
    return path, net


@pytest.mark.parametrize("suite", ["TLS-PSK-WITH-AES-128-GCM-SHA256",
                                   "TLS-PSK-WITH-AES-256-GCM-SHA384",
                                   "TLS-PSK-WITH-AES-128-CCM",
                                   "TLS-PSK-WITH-AES-128-CCM-8"])
def test_application_data_decrypts(tmp_path: Path, suite: str) -> None:
    """AES-GCM and AES-CCM: tshark decrypts both directions' application data."""
    path, _ = _suite_run(tmp_path, suite)
    data = [r[0] for r in fields(path, "data.data") if r[0]]
    assert (b"ping over " + suite.encode()).hex() in data
    assert b"pong".hex() in data


def _prf(secret: bytes, label: bytes, seed: bytes, n: int) -> bytes:
    """TLS 1.2 PRF (P_SHA256), RFC 5246 section 5."""
    out, a = b"", label + seed
    while len(out) < n:
        a = hmac.new(secret, a, hashlib.sha256).digest()
        out += hmac.new(secret, a + label + seed, hashlib.sha256).digest()
    return out[:n]


def test_chacha20_poly1305_keys_in_the_file_are_right(tmp_path: Path) -> None:
    """ChaCha20-Poly1305: the embedded key decrypts the client's records with the
    RFC 7905 nonce (write_IV xor epoch||seq).  tshark 4.0 builds the nonce from the
    48-bit sequence number without the epoch, so it cannot: that is tshark's bug
    (README, "Captures"), shown here, not our file's."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    suite = "TLS-PSK-WITH-CHACHA20-POLY1305-SHA256"
    path, _ = _suite_run(tmp_path, suite)
    raw = path.read_bytes()
    start = raw.index(b"CLIENT_RANDOM ")
    _, crandom, secret = raw[start:raw.index(b"\n", start)].decode().split()
    rows = fields(path, "ip.src", "dtls.handshake.type", "dtls.handshake.random", "udp.payload")
    srandom = next(r[2] for r in rows if r[1].split("|")[0] == "2")  # ServerHello
    payload = next(bytes.fromhex(r[3]) for r in rows if r[3].startswith("17fefd")
                   and r[0] == "192.0.2.1")  # the client's first application data
    block = _prf(bytes.fromhex(secret), b"key expansion",
                 bytes.fromhex(srandom) + bytes.fromhex(crandom), 2 * 32 + 2 * 12)
    key, iv = block[:32], block[64:76]
    header, body = payload[:13], payload[13:13 + int.from_bytes(payload[11:13], "big")]
    seq64 = header[3:11]  # epoch (2) || sequence number (6)
    aad = seq64 + header[:3] + (len(body) - 16).to_bytes(2, "big")

    def decrypt(counter: bytes) -> bytes:
        nonce = bytes(a ^ b for a, b in zip(iv, bytes(4) + counter))
        return ChaCha20Poly1305(key).decrypt(nonce, body, aad)

    assert decrypt(seq64) == b"ping over " + suite.encode()  # our file: right
    with pytest.raises(InvalidTag):  # what tshark 4.0 computes
        decrypt(b"\0\0" + seq64[2:])
    data = [r[0] for r in fields(path, "data.data") if r[0]]
    if (b"ping over " + suite.encode()).hex() not in data:
        pytest.xfail("this tshark does not decrypt DTLS 1.2 ChaCha20-Poly1305 (nonce without "
                     "the epoch); the keys in the file are right (asserted above)")


def test_certificate_chain_is_shown(tmp_path: Path) -> None:
    """A certificate handshake: tshark shows the leaf and the intermediate CA."""
    from mbedtls_py.peers import make_pki

    pki = make_pki("ecdsa", intermediate=True)
    net = Network(seed="chain")
    server_conf = Config("server", seed=net.seed_for("server"),
                         ciphersuites=["TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256"])
    server_conf.do_set_certificate([pki.cert_pem, pki.chain_pem], pki.key_pem)
    client_conf = Config("client", seed=net.seed_for("client"), ca_chain=pki.ca_pem,
                         authmode="required")
    path = tmp_path / "chain.pcapng"
    with net.capture(path):
        cli = net.add("client", Context(client_conf))
        srv = net.add("server", Context(server_conf))
        cli.set_hostname("localhost")
        assert net.handshake(cli, srv) == (0, 0)
        cli.write(b"after the chain")
        net.run()
    rows = fields(path, "dtls.handshake.certificate_length", "x509ce.dNSName",
                  "x509sat.uTF8String", display_filter="dtls.handshake.type == 11")
    assert len(rows) == 1
    lengths, names, subjects = rows[0]
    assert len(lengths.split("|")) == 2  # leaf + intermediate
    assert "localhost" in names
    assert sum("Testing" in s for s in subjects.split("|")) >= 3  # subjects and issuers
    data = [r[0] for r in fields(path, "data.data") if r[0]]
    assert b"after the chain".hex() in data


def test_network_actions_are_packet_comments(tmp_path: Path) -> None:
    """Drops, duplicates, holds and corruptions show as comments in tshark -V."""
    net = Network(seed="comments")
    cc, sc = psk_configs()
    net.rule("client->server handshake #1: duplicate")
    net.rule("server->client #2: drop")
    net.rule("client->server application_data: hold late")
    net.rule("server->client application_data: corrupt 1")
    path = tmp_path / "comments.pcapng"
    with net.capture(path):
        cli = net.add("client", Context(cc))
        srv = net.add("server", Context(sc))
        assert net.handshake(cli, srv) == (0, 0)
        cli.write(b"held")
        net.run()
        net.advance(100)
        net.release("late")
        net.run()
        assert srv.read() == b"held"
        srv.write(b"bent")
        net.run()
        assert cli.read_into(bytearray(16)) == Err.SSL_WANT_READ  # the corrupt record is dropped
    text = tshark(path, "-V")
    assert text.count("Packet comments") >= 4
    for expected in ("duplicated (1 more) by rule 'client->server handshake #1: duplicate'",
                     "dropped by rule 'server->client #2: drop'",
                     "held by rule 'client->server application_data: hold",
                     "released at", "corrupted by rule 'server->client application_data"):
        assert expected in text, expected


def test_pcap_and_keylog_for_older_tools(tmp_path: Path) -> None:
    """Trace.to_pcapng with a .pcap name writes classic pcap; with the key log file
    tshark decrypts it too."""
    net = Network(seed="old", trace=True)
    cc, sc = psk_configs()
    lines: list[str] = []
    cli = net.add("client", Context(cc, keylog=lines.append))
    srv = net.add("server", Context(sc, keylog=lines.append))
    assert net.handshake(cli, srv) == (0, 0)
    cli.write(b"classic")
    net.run()
    pcap, keys = tmp_path / "old.pcap", tmp_path / "old.keys"
    assert net.trace.to_pcapng(pcap, lines, keylog=keys) > 4
    assert pcap.read_bytes()[:4] == bytes.fromhex("d4c3b2a1")
    assert keys.read_text().startswith("CLIENT_RANDOM ")
    plain = [r[0] for r in fields(pcap, "data.data") if r[0]]
    assert b"classic".hex() not in plain  # no keys in a classic pcap
    with_keys = tshark(pcap, "-o", f"tls.keylog_file:{keys}", "-T", "fields", "-e", "data.data")
    assert b"classic".hex() in with_keys.split()


def test_ipv6_and_ethernet(tmp_path: Path) -> None:
    """IPv6 addresses and Ethernet framing decode and decrypt as well; checksums are good."""
    net = Network(seed="v6")
    cc, sc = psk_configs()
    path = tmp_path / "v6.pcapng"
    with net.capture(path, family="ipv6", linktype="ethernet"):
        cli = net.add("client", Context(cc))
        srv = net.add("server", Context(sc))
        assert net.handshake(cli, srv) == (0, 0)
        cli.write(b"six")
        net.run()
    rows = fields(path, "eth.type", "ipv6.src", "udp.checksum.status", "data.data")
    assert {r[0] for r in rows} == {"0x86dd"}
    assert {r[1] for r in rows} == {"2001:db8::1", "2001:db8::2"}
    checked = tshark(path, "-o", "udp.check_checksum:TRUE", "-T", "fields",
                     "-e", "udp.checksum.status").split()
    assert checked and set(checked) == {"1"}  # 1: Good
    assert b"six".hex() in [r[3] for r in rows]
