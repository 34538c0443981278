"""Who owns what the C contexts point at: one registry of reference-counted C
objects (a pointer that is no live ref is refused without being read), configs
that hold each object once however often a setter runs, and ``reinit`` that
leaves Python's view of the connection true."""

from __future__ import annotations

import gc

from mbedtls_py import CertificateChain, Config, Context
from mbedtls_py.bindings import ffi, lib
from mbedtls_py.creds.det import make_det_pki
from mbedtls_py.bindings.features import has as has_feature
from mbedtls_py.testing import cert_configs, handshake_pair, new_pair, psk_configs


def test_a_pointer_that_is_no_ref_is_refused() -> None:
    """retain, release and count ignore memory the glue did not hand out, and a
    ref already freed: no read in front of it, no double free."""
    live = lib.mpy_ref_live()
    foreign = ffi.new("int[64]")
    assert lib.mpy_ref_count(foreign) == 0
    lib.mpy_ref_retain(foreign)
    lib.mpy_ref_release(foreign)
    ref = lib.mpy_ints_new(4)
    assert lib.mpy_ref_live() == live + 1 and lib.mpy_ref_count(ref) == 1
    lib.mpy_ref_release(ref)
    assert lib.mpy_ref_live() == live and lib.mpy_ref_count(ref) == 0
    lib.mpy_ref_release(ref)  # freed already: refused
    lib.mpy_ref_retain(ref)
    assert lib.mpy_ref_live() == live


def test_many_refs_come_and_go() -> None:
    """The registry grows and shrinks with the objects (thousands at once)."""
    live = lib.mpy_ref_live()
    refs = [lib.mpy_ints_new(1) for _ in range(5000)]
    assert lib.mpy_ref_live() == live + 5000
    assert all(lib.mpy_ref_count(r) == 1 for r in refs[::97])
    for r in refs:
        lib.mpy_ref_release(r)
    assert lib.mpy_ref_live() == live


def test_repeated_setters_do_not_grow_what_a_config_keeps() -> None:
    """Calling a setter again replaces what it set: the C config's held objects
    and the Python config's kept ones stay the same in number."""
    pki = make_det_pki(3)
    chain, ca = CertificateChain(pki.chain_pems), CertificateChain(pki.ca_pem)
    from mbedtls_py import PrivateKey

    key = PrivateKey(pki.key_pem)
    conf = Config("server")

    def every_setter() -> None:
        conf.set_ciphersuites(["TLS-PSK-WITH-AES-128-GCM-SHA256"])
        assert conf.set_cookies(True) == 0
        assert conf.set_session_tickets(True) == 0
        conf.set_session_cache(10, 60)
        conf.set_renegotiation_period(1000)
        conf.set_ca_chain(ca)
        conf.allow_sha1()
        if has_feature("SNI"):
            conf.set_sni([("localhost", chain, key, ca, None, "none")])

    every_setter()
    held, current = lib.mpy_conf_held(conf._owner), len(conf._h.current)
    for _ in range(50):
        every_setter()
    gc.collect()
    assert (lib.mpy_conf_held(conf._owner), len(conf._h.current)) == (held, current)
    # the wrapper's reference, the config's, and the one SNI entry's
    assert lib.mpy_ref_count(ca._crt) == (3 if has_feature("SNI") else 2)


def test_reinit_keeps_the_key_log_and_forgets_the_mtu() -> None:
    """After reinit a handshake still logs its keys (the harness's recording is
    kept) and the MTU is Mbed TLS's default again, as Python now says too."""
    lines: list[str] = []
    cc, sc = psk_configs()
    client = Context(cc, keylog=lines.append)
    server = Context(sc, clock=client.clock)
    server.set_mtu(server.min_mtu())
    assert client.reinit() == 0 and server.reinit() == 0
    assert server._cx.mtu == 0
    sizes: list[int] = []
    server.set_client_transport_id(b"client")
    for _ in range(16):
        client.handshake()
        while (d := client.pop()) is not None:
            server.push(d)
        server.handshake()
        while (d := server.pop()) is not None:
            sizes.append(len(d))
            client.push(d)
    assert handshake_pair(client, server) == (0, 0)
    assert len(lines) == 1 and lines[0].startswith("CLIENT_RANDOM ")
    assert max(sizes) > server.min_mtu()  # one datagram for the server's flight


def test_sni_replaced_between_handshakes_and_a_handshake_without_sni() -> None:
    """A server context reused after an SNI handshake, with the SNI entries
    replaced meanwhile, serves a client that sends no name with the config's
    own certificate (nothing of the old entries is read)."""
    if not has_feature("SNI"):
        return
    from mbedtls_py import PrivateKey

    pki = make_det_pki(4)
    c_conf, s_conf = cert_configs(pki)

    def sni() -> None:
        s_conf.set_sni([("localhost", CertificateChain(pki.chain_pems), PrivateKey(pki.key_pem),
                         None, None, "none")])

    sni()
    client, server, clock = new_pair(c_conf, s_conf)
    assert handshake_pair(client, server) == (0, 0)
    sni()
    gc.collect()
    assert server.session_reset() == 0
    c_conf.set_authmode("none")  # no name to check the certificate against
    client2 = Context(c_conf, clock=clock)
    assert handshake_pair(client2, server) == (0, 0)
