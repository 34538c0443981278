"""The misuse table: wrong types, wrong states, closed objects,
threads and hostile sizes for every public class.  Each case runs in a child
interpreter with a timeout, so a crash or a hang fails its own case; each
must raise a clear Python exception (the named class or a subclass), return
a code, or succeed (``ok``) -- never crash, never hang."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _isolated import Worker

# Part of the short ASan+UBSan pass (./dev.sh sanitize).
pytestmark = pytest.mark.sanitize

PRELUDE = """
import gc, threading
from mbedtls_py import (Config, Context, VirtualClock, RealClock, Err, ClosedError, Rng,
                        CertificateChain, PrivateKey, set_time, get_time, ciphersuite_id)
from mbedtls_py.sim.network import Network
from mbedtls_py.wire.rules import parse_rule, parse_rules, parse_match, parse_action
from mbedtls_py.wire.records import parse_datagram, looks_like_dtls
from mbedtls_py.server.server import DTLSServer
from mbedtls_py.testing import psk_configs, handshake_pair


def conf(endpoint="client"):
    c, s = psk_configs(seed=1)
    return c if endpoint == "client" else s

def ctx(**kw):
    return Context(conf(), **kw)

def closed():
    x = ctx()
    x.handshake()
    x.close()
    return x

def hammer(n_threads, target, rounds=200):
    errors = []
    def run():
        for _ in range(rounds):
            try:
                target()
            except (ClosedError, ValueError, BufferError):
                pass
            except BaseException as e:
                errors.append(e)
    ts = [threading.Thread(target=run) for _ in range(n_threads)]
    for t in ts: t.start()
    for t in ts: t.join(60)
    assert not any(t.is_alive() for t in ts), "threads hung"
    if errors:
        raise errors[0]
"""

# (id, code, expectation): an exception class name (it or a subclass must
# be raised), "code" (returns an Err/int), or "ok" (returns normally).
CASES = [
    # -- Config: wrong types and values
    ("config-bad-endpoint", "Config('neither')", "ValueError"),
    ("config-int-endpoint", "Config(3)", "ValueError"),
    ("config-bad-transport", "Config('client', transport='tcp')", "ValueError"),
    ("config-unknown-option", "Config('client', bogus=1)", "TypeError"),
    ("config-float-seed", "Config('client', seed=1.5)", "TypeError"),
    ("config-name-not-str", "Config('client', name=5)", "TypeError"),
    ("config-empty-psk", "conf().set_psk(b'')", "ValueError"),
    ("config-str-psk", "Config('client').set_psk('secret')", "ValueError"),
    ("config-huge-psk", "Config('client').set_psk(b'x' * 10**6)", "ValueError"),
    ("config-psk-twice", "conf().do_set_psk(b'other')", "MbedTLSError"),
    ("config-psk-identity-type", "Config('client').set_psk(b'k', identity=5)", "TypeError"),
    ("config-no-suites", "conf().set_ciphersuites([])", "ValueError"),
    ("config-unknown-suite", "conf().set_ciphersuites(['NOPE'])", "ValueError"),
    ("config-suite-object", "conf().set_ciphersuites([object()])", "TypeError"),
    ("config-many-suites", "conf().set_ciphersuites(['TLS-PSK-WITH-AES-128-GCM-SHA256'] * 10**5)",
     "ValueError"),
    ("config-hs-timeout-zero", "conf().set_handshake_timeout(0, 10)", "ValueError"),
    ("config-hs-timeout-min-gt-max", "conf().set_handshake_timeout(10, 5)", "ValueError"),
    ("config-hs-timeout-huge", "conf().set_handshake_timeout(1, 2**33)", "ValueError"),
    ("config-read-timeout-negative", "conf().set_read_timeout(-1)", "ValueError"),
    ("config-cookies-on-client", "conf().set_cookies(True)", "ValueError"),
    ("config-cookie-timeout-negative", "conf('server').set_cookies(True, -5)", "ValueError"),
    ("config-cookie-timeout-float", "conf('server').set_cookies(True, 1.5)", "ValueError"),
    ("config-cid-length", "conf().set_cid(10**6)", "ValueError"),
    ("config-debug-level", "conf().set_debug(9)", "ValueError"),
    ("config-authmode", "conf().set_authmode('maybe')", "ValueError"),
    ("config-authmode-type", "conf().set_authmode(['none'])", "ValueError"),
    ("config-version", "conf().set_version('1.3')", "ValueError"),
    ("config-cert-garbage", "conf('server').set_certificate(b'garbage', b'garbage')",
     "MbedTLSError"),
    ("config-cert-type", "conf('server').set_certificate(123, b'k')", "TypeError"),
    ("config-ca-empty-list", "conf().set_ca_chain([])", "ValueError"),
    ("config-badmac-negative", "conf().set_badmac_limit(-1)", "ValueError"),
    ("config-reseed-object", "conf().reseed(object())", "TypeError"),
    ("config-setters-from-threads",
     "c = conf('server')\nhammer(4, lambda: (c.set_cookies(True), c.set_ciphersuites("
     "['TLS-PSK-WITH-AES-128-GCM-SHA256']), c.set_debug(0)), rounds=100)", "ok"),
    # -- Context: construction
    ("context-config-type", "Context('notaconfig')", "TypeError"),
    ("context-queue-zero", "ctx(max_queue=0)", "ValueError"),
    ("context-queue-huge", "ctx(max_queue=2**40)", "ValueError"),
    ("context-queue-str", "ctx(max_queue='3')", "TypeError"),
    ("context-datagram-huge", "ctx(max_datagram=70000)", "ValueError"),
    ("context-clock-type", "ctx(clock=object())", "TypeError"),
    ("context-name-type", "ctx(name=b'x')", "TypeError"),
    # -- Context: closed
    ("closed-handshake", "closed().handshake()", "ClosedError"),
    ("closed-handshake-step", "closed().handshake_step()", "ClosedError"),
    ("closed-read", "closed().read()", "ClosedError"),
    ("closed-read-into", "closed().read_into(bytearray(10))", "ClosedError"),
    ("closed-write", "closed().write(b'x')", "ClosedError"),
    ("closed-push", "closed().push(b'x')", "ClosedError"),
    ("closed-pop", "closed().pop()", "ClosedError"),
    ("closed-timer-state", "closed().timer_state()", "ClosedError"),
    ("closed-timer-deadline", "closed().timer_deadline()", "ClosedError"),
    ("closed-pending-in", "closed().pending_in", "ClosedError"),
    ("closed-recv-timeout-mode", "closed().recv_timeout_mode = True", "ClosedError"),
    ("closed-set-mtu", "closed().set_mtu(500)", "ClosedError"),
    ("closed-set-clock", "closed().set_clock(VirtualClock())", "ClosedError"),
    ("closed-session-reset", "closed().session_reset()", "ClosedError"),
    ("closed-move-to", "closed().move_to(ctx())", "ClosedError"),
    ("closed-move-from", "ctx().move_to(closed())", "ClosedError"),
    ("closed-close-again", "x = closed(); x.close(); result = repr(x)", "ok"),
    # -- Context: wrong arguments and states
    ("push-empty", "ctx().push(b'')", "ValueError"),
    ("push-huge", "ctx().push(b'x' * 70000)", "ValueError"),
    ("push-str", "ctx().push('text')", "TypeError"),
    ("push-past-queue", "x = ctx(max_queue=8)\nfor _ in range(9): x.push(b'x')", "BufferError"),
    ("read-zero", "ctx().read(0)", "ValueError"),
    ("read-huge-before-handshake", "ctx().read(10**12)", "WantRead"),
    ("read-into-empty", "ctx().read_into(bytearray(0))", "ValueError"),
    ("read-into-bytes", "ctx().read_into(b'immutable')", "TypeError"),
    ("write-before-handshake", "result = ctx().write(b'x')", "code"),
    ("write-huge-before-handshake", "result = ctx().write(b'x' * 10**7)", "code"),
    ("write-str", "ctx().write('text')", "TypeError"),
    ("mtu-10", "ctx().set_mtu(10)", "ValueError"),
    ("mtu-negative", "ctx().set_mtu(-1)", "ValueError"),
    ("mtu-huge", "ctx().set_mtu(70000)", "ValueError"),
    ("mtu-then-handshake-at-floor",
     "c, s = psk_configs(seed=2)\na, b = Context(c), Context(s)\n"
     "a.set_mtu(a.min_mtu()); b.set_mtu(b.min_mtu())\nresult = handshake_pair(a, b)", "ok"),
    ("hostname-nul", "ctx().set_hostname('a\\0b')", "ValueError"),
    ("hostname-huge", "result = ctx().set_hostname('x' * 100000)", "code"),
    ("hostname-type", "ctx().set_hostname(5)", "TypeError"),
    ("cid-too-long", "ctx().set_cid(True, b'x' * 100)", "ValueError"),
    ("move-to-self", "x = ctx(); x.move_to(x)", "ValueError"),
    ("move-to-str", "ctx().move_to('peer')", "TypeError"),
    ("transport-id-int", "ctx().set_client_transport_id(123)", "TypeError"),
    ("set-clock-str", "ctx().set_clock('clock')", "TypeError"),
    ("server-without-credentials",
     "s = Context(Config('server'))\nc = ctx()\nc.handshake(); c.move_to(s)\n"
     "s.set_client_transport_id(b'x')\nresult = s.handshake()", "code"),
    ("context-outlives-config",
     "x = ctx()\ngc.collect()\nresult = x.handshake()", "code"),
    # -- threads
    ("threads-one-context-all-calls",
     "x = ctx()\nhammer(6, lambda: (x.handshake(), x.push(b'\\x16' * 20), x.pop(), x.pending_in,"
     " x.timer_state(), x.read_into(bytearray(64))))", "ok"),
    ("threads-close-during-calls",
     "x = ctx()\nthreading.Timer(0.01, x.close).start()\n"
     "hammer(4, lambda: (x.handshake(), x.timer_deadline(), x.counters(), x.pop()), rounds=2000)",
     "ok"),
    ("threads-move-both-ways",
     "c, s = psk_configs(seed=3)\na, b = Context(c), Context(s)\n"
     "hammer(4, lambda: (a.handshake(), a.move_to(b), b.handshake(), b.move_to(a)))", "ok"),
    ("threads-shared-config-gc",
     "c = conf()\nhammer(4, lambda: Context(c).handshake(), rounds=100)\ngc.collect()", "ok"),
    # -- VirtualClock
    ("clock-negative", "VirtualClock(-1)", "ValueError"),
    ("clock-huge", "VirtualClock(2**64)", "ValueError"),
    ("clock-float", "VirtualClock(1.5)", "ValueError"),
    ("clock-backwards", "c = VirtualClock(10); c.now_ms = 5", "ValueError"),
    ("clock-advance-str", "VirtualClock().advance('5')", "TypeError"),
    ("clock-advance-negative", "VirtualClock(10).advance(-5)", "ValueError"),
    # -- Network
    ("network-seed-object", "Network(seed=object())", "TypeError"),
    ("network-bad-name", "Network().add('a b', ctx())", "ValueError"),
    ("network-add-non-context", "Network().add('client', 'ctx')", "TypeError"),
    ("network-duplicate-name", "n = Network(); n.add('a', ctx()); n.add('a', ctx())",
     "ValueError"),
    ("network-bad-rule", "Network().rule('garbage !!')", "ValueError"),
    ("network-run-negative-window", "Network().run(within_ms=-1)", "ValueError"),
    ("network-advance-negative", "Network().advance(-5)", "ValueError"),
    ("network-use-after-close",
     "n = Network(); c, s = psk_configs(seed=4)\n"
     "a = n.add('client', Context(c)); b = n.add('server', Context(s))\n"
     "n.close()\nresult = n.handshake(a, b)", "ok"),
    # -- DTLSServer
    ("server-client-config", "n = Network(); DTLSServer(conf(), n.socket('s'))", "ValueError"),
    ("server-bad-policy", "n = Network(); DTLSServer(conf('server'), n.socket('s'), policy='x')",
     "ValueError"),
    ("server-zero-rtt", "n = Network(); DTLSServer(conf('server'), n.socket('s'), rtt_ms=0)",
     "ValueError"),
    # -- rules parser
    ("rule-empty", "parse_rule('')", "ValueError"),
    ("rule-garbage", "parse_rule('client->server: explode')", "ValueError"),
    ("rule-huge", "parse_rule('client->server ' + 'x' * 100000)", "ValueError"),
    ("rule-negative-delay", "parse_rule('client->server: delay -5ms')", "ValueError"),
    ("rule-nul", "parse_rules('\\0\\0')", "ValueError"),
    ("rule-match-garbage", "parse_match('epoch>=>=1')", "ValueError"),
    ("rule-action-garbage", "parse_action('corrupt banana')", "ValueError"),
    # -- records parser
    ("records-empty", "result = parse_datagram(b'')", "ok"),
    ("records-random-64k", "import os\nresult = parse_datagram(os.urandom(65507))", "ok"),
    ("records-str", "parse_datagram('text')", "TypeError"),
    ("records-bad-cid-len", "parse_datagram(b'\\x16' * 13, cid_len=-1)", "ValueError"),
    ("records-looks-like-none", "looks_like_dtls(None)", "TypeError"),
    # -- Rng, certificates, keys, time, suites
    ("rng-seed-object", "Rng(object())", "TypeError"),
    ("rng-negative", "Rng(1).random(-1)", "ValueError"),
    ("rng-huge", "Rng(1).random(2**40)", "ValueError"),
    ("cert-empty", "CertificateChain(b'')", "ValueError"),
    ("cert-bad-pem",
     "CertificateChain(b'-----BEGIN CERTIFICATE-----\\nxx\\n-----END CERTIFICATE-----\\n')",
     "MbedTLSError"),
    ("key-junk", "PrivateKey(b'junk')", "MbedTLSError"),
    ("time-negative", "set_time(-5)", "ValueError"),
    ("time-str", "set_time('now')", "ValueError"),
    ("suite-bool", "ciphersuite_id(True)", "TypeError"),
    ("suite-unknown-id", "ciphersuite_id(0xFFFF)", "ValueError"),
]


@pytest.fixture(scope="module")
def worker() -> Iterator[Worker]:
    w = Worker(PRELUDE, timeout=60)
    yield w
    w.close()


@pytest.mark.parametrize("code,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_misuse(worker: Worker, code: str, expected: str) -> None:
    """Misuse gives a clear Python error (or a code), never a crash or a hang."""
    out = worker.run(code)
    assert out["result"] not in ("crashed", "hung"), out
    if expected == "ok":
        assert out["result"] == "returned", out
    elif expected == "code":
        assert out["result"] == "returned" and ("Err" in out["types"] or "int" in out["types"]), out
    else:
        assert out["result"] == "raised", out
        assert expected in out["types"], out
        assert out["message"], "an exception without a message is not a clear error"


def test_the_table_is_large_enough() -> None:
    """The table keeps at least 60 cases, over every public class."""
    assert len(CASES) >= 60
    assert len({c[0] for c in CASES}) == len(CASES)
