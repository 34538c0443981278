"""OpenSSL in process: Debian's static OpenSSL 3.0 in its own
extension, its clock, datagrams and randomness owned; s_client/s_server on
the simulated network; the seed's race and upstream #8471's hang, replayed."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from mbedtls_py.foreign.openssl import build as osim_build

try:
    osim_build.load()
except osim_build.MissingOpenSSL as exc:  # CI installs libssl-dev (.ci/run): never silent
    pytest.fail(f"in-process OpenSSL unavailable: {exc}", pytrace=False)

from mbedtls_py import Config, Context
from mbedtls_py.bindings.context import VirtualClock
from mbedtls_py.creds.det import make_det_pki
from mbedtls_py.foreign.openssl import conn as oc
from mbedtls_py.repro.scenarios import run_scenario
from mbedtls_py.sslopt.parse import default_ssl_opt, load_cases
from mbedtls_py.sslopt.runner import run_case

from _sslopt_tree import edited_ssl_opt

needs_ssl_opt = pytest.mark.skipif(not default_ssl_opt().is_file(),
                                   reason="pinned source not unpacked (./dev.sh)")
HANG_CASE, HANG_SEED = "DTLS proxy: 3d, openssl client", 9


def _case(name: str):  # type: ignore[no-untyped-def]
    return next(c for c in load_cases() if c.name == name)


def test_extension_is_cached_and_keeps_openssl_local() -> None:
    """The extension lives in the per-user cache, exports no OpenSSL symbol,
    and Python's own ssl module (the system libssl) still works beside it."""
    path = osim_build.build()
    assert "peers" in path.parts and path.parent.name.startswith("openssl-sim-")
    if shutil.which("nm"):
        syms = subprocess.run(["nm", "-D", "--defined-only", str(path)], capture_output=True,
                              text=True, check=True).stdout
        assert "SSL_new" not in syms and "PyInit__openssl_sim" in syms
    assert oc.version_text().startswith("OpenSSL 3.")
    assert ssl.create_default_context().protocol is not None


def test_missing_library_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without libssl-dev the message says what to install (no silent SKIP)."""
    def missing() -> tuple[Path, Path]:
        raise osim_build.MissingOpenSSL("needs libssl.a; install with: apt-get install libssl-dev")
    monkeypatch.setattr(osim_build, "archives", missing)
    monkeypatch.setattr(osim_build, "_loaded", None)
    from mbedtls_py.sslopt import foreign
    foreign.unavailable.cache_clear()
    try:
        assert "apt-get install libssl-dev" in (foreign.unavailable("openssl") or "")
    finally:
        foreign.unavailable.cache_clear()


def test_timer_reads_the_virtual_clock() -> None:
    """DTLSv1_get_timeout counts down in virtual time; at 1 s (OpenSSL's
    initial timeout) the ClientHello is retransmitted, not before."""
    clock = VirtualClock()
    oc.seed(1)
    cli = oc.OpenSSLConn(oc.OpenSSLConfig("client", version="dtls1_2"),
                         oc.clock_from(clock, 1_700_000_000))
    assert cli.handshake() == (-1, "WANT_READ")
    first = cli.drain()
    assert len(first) == 1 and cli.timeout_ms() == 1000
    clock.now_ms = 400
    assert cli.timeout_ms() == 600 and cli.handle_timeout() == 0 and cli.drain() == []
    clock.now_ms = 1000
    assert cli.handle_timeout() == 1
    again = cli.drain()
    assert len(again) == 1 and again[0][:3] == first[0][:3]


def test_randomness_is_owned() -> None:
    """Same seed, same ClientHello bytes; another seed, another random."""
    def hello(seed: int) -> bytes:
        oc.seed(seed)
        c = oc.OpenSSLConn(oc.OpenSSLConfig("client", version="dtls1_2"),
                           oc.clock_from(VirtualClock(), 1_700_000_000))
        c.handshake()
        return c.drain()[0]
    assert hello(5) == hello(5) != hello(6)


def _handshaken() -> tuple[oc.OpenSSLConn, Context, list[bytes]]:
    """An OpenSSL client and an Mbed TLS server after a handshake in memory;
    the server's last flight."""
    pki = make_det_pki(1)
    clock = VirtualClock()
    oc.seed(2)
    conf = Config("server", seed=b"s" * 32)
    conf.do_set_certificate(pki.chain_pems, pki.key_pem)
    srv = Context(conf, clock=clock)
    srv.set_client_transport_id(b"client")
    cli = oc.OpenSSLConn(oc.OpenSSLConfig("client", version="dtls1_2"),
                         oc.clock_from(clock, 1_700_000_000))
    last: list[bytes] = []
    for _ in range(20):
        ret, _ = cli.handshake()
        for d in cli.drain():
            srv.push(d)
        rc = srv.handshake()
        out = srv.drain()
        if out:
            last = out
        for d in out:
            cli.push(d)
        if ret == 1 and rc == 0:
            return cli, srv, last
    raise AssertionError("no handshake")


def test_duplicated_finished_makes_ssl_read_read_again() -> None:
    """The mechanism of #8471: after the handshake, a byte-identical
    duplicate of the server's Finished is dropped by dtls1_get_record's
    replay check, which then reads another datagram: SSL_read asks the BIO
    for one more than it was given (a blocking s_client blocks there).
    Application data is returned with no extra read."""
    cli, srv, last = _handshaken()
    assert cli.init_finished and last
    reads, got = cli.bio_reads
    for d in last:
        cli.push(d)
    assert cli.read() == (b"", "WANT_READ")
    reads2, got2 = cli.bio_reads
    assert got2 - got == len(last) and reads2 - reads == len(last) + 1
    assert cli.drain() == []  # nothing retransmitted: the record never reached the Finished branch
    srv.write(b"hello")
    for d in srv.drain():
        cli.push(d)
    assert cli.read() == (b"hello", "NONE")
    reads3, got3 = cli.bio_reads
    assert (reads3 - reads2, got3 - got2) == (1, 1)


@needs_ssl_opt
@pytest.mark.parametrize("name", [
    "DTLS proxy: 3d, openssl server",
    "DTLS fragmenting: MTU=130, openssl server, DTLS 1.2",
    "DTLS reassembly: some fragmentation (openssl client)",
    "DTLS fragmenting: MTU=131, openssl client, DTLS 1.2",
    "Session resume using tickets, DTLS: openssl client",
    "Session resume using cache, DTLS: openssl server",
])
def test_openssl_cases_pass_in_process(name: str) -> None:
    """ssl-opt's OpenSSL cases run in virtual time against the in-process
    s_client/s_server and pass their own assertions."""
    r = run_case(_case(name), seed=1)
    assert r.verdict == "PASS", (r.reason, r.cli_out[-1500:], r.srv_out[-1500:])
    assert r.trace and not r.real


@needs_ssl_opt
def test_3d_openssl_client_hang_replays() -> None:
    """Upstream #8471 (and openssl/openssl#18887): with seed 9 the proxy
    duplicates the server's Finished; s_client completes the handshake,
    reads the duplicate, blocks in recvfrom and never sends its request:
    client timeout, exit 143, byte for byte the same on every run."""
    case = _case(HANG_CASE)
    a, b = run_case(case, HANG_SEED), run_case(case, HANG_SEED)
    assert a.verdict == "FAIL" and a.cli_exit == 143
    assert "bad client exit code (expected 0, got 143)" in a.reason
    assert "New, TLSv1.2" in a.cli_out and "DONE" not in a.cli_out
    assert "Read from client:" in a.srv_out and "bytes read" not in a.srv_out
    assert a.pxy_out.rstrip().endswith("S -> C Encrypted handshake (53 bytes): duplicated")
    assert a.digest() == b.digest()
    assert run_case(case, 1).verdict == "PASS"


@needs_ssl_opt
def test_openssl_case_digest_is_stable_across_processes() -> None:
    """Same seed, same bytes, in another interpreter too."""
    code = ("from mbedtls_py.sslopt.parse import load_cases\n"
            "from mbedtls_py.sslopt.runner import run_case\n"
            f"c = next(c for c in load_cases() if c.name == {HANG_CASE!r})\n"
            f"print(run_case(c, {HANG_SEED}).digest())\n")
    import sys
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2]).stdout.strip()
    assert out == run_case(_case(HANG_CASE), HANG_SEED).digest()


@pytest.mark.parametrize("seed", range(1, 9))
def test_seed_race_with_s_client(seed: int) -> None:
    """The seed's race with the in-process s_client: its encrypted
    close_notify held past the server's reset gives -0x7700 under ``none``
    and is absorbed under ``classify`` (the next client served)."""
    none = run_scenario("late-close-notify", "none", seed, peer="openssl-sim", offset_ms=40)
    assert none.peer == "openssl-sim" and none.late
    assert (none.outcome, none.server_rc) == ("failed", -0x7700)
    ok = run_scenario("late-close-notify", "classify", seed, peer="openssl-sim", offset_ms=40)
    assert ok.late and ok.outcome == "ok" and ok.second_client_served


@pytest.mark.parametrize("policy", ["none", "classify"])
def test_replay_from_stranger_with_s_client(policy: str) -> None:
    """s_client is done once it has sent its request and close_notify, so the
    first connection must run until the server's reset after it, not the
    reset that follows the HelloVerifyRequest: the stranger then replays a
    request the server really read (this raised IndexError before)."""
    r = run_scenario("replay-from-stranger", policy, 1, peer="openssl-sim")
    d = r.to_dict()
    assert d["as_promised"] and not d["inconclusive"], d
    assert r.late and r.second_client_served
    # the replayed request is refused as an error under none (-0x7700) and
    # reported, not dropped, under classify: the stranger had no connection
    assert r.outcome == r.expected == "error-reported"


def test_explore_scenario_with_s_client() -> None:
    """``explore openssl-client`` without faults: the in-process s_client is
    served and closes, the Mbed TLS client after it is served too."""
    from mbedtls_py.explore.scenarios import build_openssl_client, finish
    from mbedtls_py.sim import Network
    with Network(seed=4) as net:
        setup = build_openssl_client(net, "none")
        finish(net, setup)
        first, second = setup.clients
        assert first.outcome() == {"codes": [0], "completed": True, "delivered": None}
        assert second.delivered
        assert not [e for e in setup.server.events if e.event == "error"]
        setup.close()


# Not DONE: whether the real s_client sees its stdin's end-of-file ("DONE") or
# the server's response and close_notify ("closed") first is the seed's race,
# decided by the scheduler (about half the runs each way); the model reads stdin
# first.
_REPORT_LINES = ("CONNECTED(", "New, TLSv1.2, Cipher is ", "Protocol  : DTLSv1.2",
                 "Verify return code: 0 (ok)", "Certificate chain", "EXIT: 0")


@needs_ssl_opt
@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl command")
def test_s_client_output_matches_the_real_one() -> None:
    """The lines ssl-opt's assertions look at appear in the in-process
    s_client's output exactly when they appear in the real s_client's
    (``--real-peers``, the same case, no impairments)."""
    case = _case("DTLS reassembly: some fragmentation (openssl client)")
    sim, real = run_case(case, 1), run_case(case, 1, real_peers=True)
    assert sim.verdict == real.verdict == "PASS" and real.real
    for line in _REPORT_LINES:
        assert (line in sim.cli_out) == (line in real.cli_out), line


def test_mbedtls_client_against_openssl_server_party(tmp_path: Path) -> None:
    """An Mbed TLS client through the cookie exchange to the in-process
    s_server party, its request echoed, then a second client served on the
    same socket after the first one's close_notify."""
    from mbedtls_py.parties import Client, OpenSSLServer
    from mbedtls_py.sim import Network
    pki = make_det_pki(3)
    cert, key = tmp_path / "srv.pem", tmp_path / "srv.key"
    cert.write_bytes(b"".join(p if isinstance(p, bytes) else p.encode() for p in pki.chain_pems))
    key.write_bytes(pki.key_pem if isinstance(pki.key_pem, bytes) else pki.key_pem.encode())
    with Network(seed=3) as net:
        net.link_both("client", "server", delay_ms=10)
        net.link_both("client2", "server", delay_ms=10)
        srv = OpenSSLServer(net, str(cert), str(key), seed=3)
        conf = Config("client", seed=net.seed_for("client"), ca_chain=pki.ca_pem,
                      authmode="required")
        c1 = Client(net, "client", conf, hostname=pki.hostname)
        c2 = Client(net, "client2", conf, hostname=pki.hostname, after=c1)
        for p in (srv, c1, c2):
            net.add_process(p)
        net.run(until=lambda: c2.done, deadline_ms=30_000)
        net.run(deadline_ms=net.clock.now_ms + 500)
        assert c1.delivered and c2.delivered, (c1.outcome(), c2.outcome())
        kinds = [e.event for e in srv.events]
        assert kinds.count("handshake") == 2 and srv.served == 2 and "error" not in kinds


@needs_ssl_opt
def test_nbio_fixes_the_3d_openssl_client_case(tmp_path: Path) -> None:
    """The ssl-opt.sh change for #8471: with ``-nbio`` s_client's SSL_read
    returns instead of blocking, so it goes back to select(), reads stdin and
    sends its request.  The seeds that hang as shipped pass with it."""
    old = '"$O_NEXT_CLI -dtls1_2 -mtu 2048" \\'
    copy = edited_ssl_opt(tmp_path, old, old.replace("-mtu 2048", "-mtu 2048 -nbio"))
    shipped = _case(HANG_CASE)
    fixed = next(c for c in load_cases(copy) if c.name == HANG_CASE)
    hanging = [s for s in range(1, 16) if run_case(shipped, s).verdict == "FAIL"]
    assert HANG_SEED in hanging and len(hanging) >= 3
    for s in hanging:
        r = run_case(fixed, s)
        assert r.verdict == "PASS", (s, r.reason)
        assert "read R BLOCK" in r.cli_out or "DONE" in r.cli_out


def test_seed_race_replays_byte_for_byte() -> None:
    """Same seed, same datagrams: the network digest of the race with the
    in-process s_client is equal run after run."""
    digests = []
    for _ in range(2):
        nets: list = []  # type: ignore[type-arg]
        run_scenario("late-close-notify", "none", 7, peer="openssl-sim", on_network=nets.append)
        digests.append(nets[0].trace.digest())
    assert digests[0] == digests[1]


def test_srtp_and_keying_material_between_two_openssl_peers(tmp_path: Path) -> None:
    """``-use_srtp`` and ``-keymatexport`` as s_client/s_server print them:
    both ends select the same profile and export the same keying material."""
    pki = make_det_pki(5)
    cert, key = tmp_path / "srv.pem", tmp_path / "srv.key"
    cert.write_bytes(b"".join(p if isinstance(p, bytes) else p.encode() for p in pki.chain_pems))
    key.write_bytes(pki.key_pem if isinstance(pki.key_pem, bytes) else pki.key_pem.encode())
    clock = VirtualClock()
    oc.seed(5)
    clk = oc.clock_from(clock, 1_700_000_000)
    cli = oc.OpenSSLConn(oc.OpenSSLConfig("client", srtp="SRTP_AES128_CM_SHA1_32"), clk)
    srv = oc.OpenSSLConn(oc.OpenSSLConfig("server", cert=str(cert), key=str(key),
                                          srtp="SRTP_AES128_CM_SHA1_80:SRTP_AES128_CM_SHA1_32"),
                         clk)
    for _ in range(20):
        a, _e = cli.handshake()
        for d in cli.drain():
            srv.push(d)
        b, _e = srv.handshake()
        for d in srv.drain():
            cli.push(d)
        if a == b == 1:
            break
    assert cli.init_finished and srv.init_finished
    assert cli.info()["srtp"] == srv.info()["srtp"] == "SRTP_AES128_CM_SHA1_32"
    km = cli.export_keying_material("EXTRACTOR-dtls_srtp", 60)
    assert km is not None and len(km) == 60
    assert km == srv.export_keying_material("EXTRACTOR-dtls_srtp", 60)
