"""Same seed, same bytes: the network, the RNG, the time Mbed TLS reads and the
deterministic PKI together make a run replay byte for byte, across processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING


from mbedtls_py import CertificateChain
from mbedtls_py.creds.det import make_det_pki

if TYPE_CHECKING:  # imported where used: the helpers below load the simulator only then
    from mbedtls_py import Context
    from mbedtls_py.creds.pki import PKI
    from mbedtls_py.sim.endpoints import ContextEndpoint
    from mbedtls_py.sim.network import Network

ROOT = Path(__file__).resolve().parents[2]

# A whole seeded scenario: certificates with cookies, an impaired network, data
# both ways and a close.  Prints the trace digest, a hash of the PKI, and
# whether the leaf certificate's DER is inside a delivered datagram.
SCENARIO = r"""
import hashlib, sys
from mbedtls_py import Config, Context, CertificateChain
from mbedtls_py.sim.network import Network
from mbedtls_py.creds.det import make_det_pki

seed = sys.argv[1]
net = Network(seed=seed)
pki = make_det_pki(seed)
cc = Config("client", seed=net.seed_for("client"), handshake_timeout=(1000, 8000))
sc = Config("server", seed=net.seed_for("server"), handshake_timeout=(1000, 8000), cookies=True)
pki.configure(cc, sc)
client = Context(cc, name="client")
client.set_hostname("localhost")
c = net.add("client", client)
s = net.add("server", Context(sc, name="server"))
net.link_both("client", "server", delay_ms=20, jitter_ms=15, loss=0.15, duplicate=0.1,
              reorder=0.1)
r = net.handshake(c, s, within_ms=600_000)
c.write(b"GET / HTTP/1.0\r\n\r\n")
net.run(until=lambda: s.pending_in > 0, within_ms=1000)
got = s.read()
s.write(got if isinstance(got, bytes) else b"?")
c.close_notify()
net.run(within_ms=1000)
leaf = CertificateChain(pki.chain_pems).der()[0]
in_trace = any(leaf in e.data for e in net.trace.datagrams("deliver", src="server"))
print(net.trace.digest(), hashlib.sha256(pki.ca_pem + pki.chain_pems[0]).hexdigest(),
      int(r.client_rc), int(r.server_rc), in_trace, net.trace.count)
"""


def _start(seed: str) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONHASHSEED"] = "random"
    return subprocess.Popen([sys.executable, "-c", SCENARIO, seed], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen[str]) -> list[str]:
    out, err = proc.communicate(timeout=120)
    assert isinstance(out, str)
    assert proc.returncode == 0, err
    return out.split()


def test_same_seed_same_trace_digest_in_two_processes_different_seed_differs() -> None:
    """Two processes with seed A give the same digest (certificates included); seed B differs."""
    procs = [_start("A"), _start("A"), _start("B")]
    a1, a2, b = (_finish(p) for p in procs)
    assert a1 == a2
    digest_a, pki_a, crc, src, in_trace, events = a1
    assert (crc, src) == ("0", "0")
    assert in_trace == "True"  # the certificate message is part of what was compared
    assert int(events) > 20
    assert b[0] != digest_a and b[1] != pki_a


def _det_network(seed: int) -> tuple[Network, PKI, Context, ContextEndpoint, ContextEndpoint]:
    """A seeded network with a client and a server on the deterministic PKI of
    ``seed`` (the client checks the name ``localhost``): the network, the PKI,
    the client context, the client and server endpoints."""
    from mbedtls_py import Config, Context
    from mbedtls_py.sim.network import Network

    net = Network(seed=seed)
    pki = make_det_pki(seed)
    cc = Config("client", seed=net.seed_for("client"))
    sc = Config("server", seed=net.seed_for("server"))
    pki.configure(cc, sc)
    client = Context(cc)
    client.set_hostname("localhost")
    return net, pki, client, net.add("client", client), net.add("server", Context(sc))


def test_same_seed_same_trace_in_one_process() -> None:
    """Run twice in one process: identical JSON traces, byte for byte."""
    import json

    def run(seed: int) -> tuple[str, str]:
        net, _, _, c, s = _det_network(seed)
        net.link_both("client", "server", loss=0.3, jitter_ms=40, delay_ms=40)
        assert net.handshake(c, s, within_ms=600_000).reason in ("done", "error")
        return net.trace.to_json(), net.trace.digest()

    first, second, other = run(5), run(5), run(6)
    assert first == second
    assert json.loads(first[0]) and other[1] != first[1]


def test_det_pki_is_a_function_of_the_seed() -> None:
    """make_det_pki: same seed, same PEM bytes; another seed, other keys and certificates."""
    a, b, c = make_det_pki("s"), make_det_pki("s"), make_det_pki("t")
    assert a == b
    assert a.ca_pem != c.ca_pem and a.key_pem != c.key_pem
    chain = CertificateChain(a.chain_pems + [a.ca_pem])
    assert len(chain) == 2 and "localhost" in chain.info()


def test_det_pki_bytes_are_pinned() -> None:
    """The PKI of a seed is the same bytes in every release: the digests below were
    made by the pure-Python RFC 6979 signer this module used before ``cryptography``'s."""
    import hashlib

    def digest(pki: PKI) -> str:
        return hashlib.sha256(pki.ca_pem + pki.cert_pem + pki.key_pem + pki.ca_key_pem).hexdigest()

    assert digest(make_det_pki(42)) == \
        "05ab47ad148af7cc242cf15172277523c271a70f63429580b4c909c03eaa7a96"
    assert digest(make_det_pki(7, "example.test")) == \
        "c746bbfc70d42157521ac1fc3b2c93b9059054de4302aad63b51035969bbc068"


def test_det_pki_authenticates_a_handshake() -> None:
    """Mbed TLS verifies the deterministic chain (authmode required) at the network's fixed time."""
    net, pki, client, c, s = _det_network(9)
    assert net.handshake(c, s) == (0, 0)
    assert client.verify_result == 0
    leaf = CertificateChain(pki.chain_pems).der()[0]
    assert client.peer_certificate() == leaf
