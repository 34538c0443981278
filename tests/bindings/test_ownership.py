"""Who owns what the C contexts point at: one registry of reference-counted C
objects (a pointer that is no live ref is refused without being read), configs
that hold each object once however often a setter runs, and ``reinit`` that
leaves Python's view of the connection true."""

from __future__ import annotations

import gc
from collections.abc import Callable

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
    """Calling every setter again with the same objects replaces what it set:
    as many C objects stay alive."""
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
    gc.collect()
    live = lib.mpy_ref_live()  # the glue's count of live C objects
    for _ in range(50):
        every_setter()
    gc.collect()
    assert lib.mpy_ref_live() == live


def test_reinit_keeps_the_key_log_and_forgets_the_mtu() -> None:
    """After reinit a handshake still logs its keys (the harness's recording is
    kept) and the MTU is Mbed TLS's default again, as Python now says too."""
    lines: list[str] = []
    cc, sc = psk_configs()
    client = Context(cc, keylog=lines.append)
    server = Context(sc, clock=client.clock)
    server.set_mtu(server.min_mtu())
    assert client.reinit() == 0 and server.reinit() == 0
    assert server.mtu() == 0
    sizes: list[int] = []
    assert handshake_pair(client, server, transport_id=b"client",
                          tap=lambda who, d: sizes.append(len(d)) if who == "server" else None) == (0, 0)
    if has_feature("KEY_EXPORT"):  # 2.x: no per-context key export, no key log at all
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


def test_ten_thousand_setter_calls_keep_the_live_c_objects_bounded() -> None:
    """Each setter that replaces a C object, called 10,000 times with a fresh
    object each time, ends with as many live C objects as after its first
    call (``lib.mpy_ref_live``, the glue's leak-check counter)."""
    from mbedtls_py import PrivateKey

    pki = make_det_pki(5)
    conf = Config("server")
    setters: list[tuple[str, Callable[[int], object]]] = [
        ("set_ca_chain", lambda i: conf.set_ca_chain(CertificateChain(pki.ca_pem))),
        ("reseed", lambda i: conf.reseed(i)),
        ("set_ciphersuites", lambda i: conf.set_ciphersuites(["TLS-PSK-WITH-AES-128-GCM-SHA256"])),
        ("set_cookies", lambda i: conf.do_set_cookies(True)),
        ("set_session_tickets", lambda i: conf.do_set_session_tickets(True)),
        ("set_session_cache", lambda i: conf.set_session_cache(10, 60)),
    ]
    if has_feature("SNI"):
        setters.append(("set_sni", lambda i: conf.set_sni(
            [("localhost", CertificateChain(pki.chain_pems), PrivateKey(pki.key_pem),
              CertificateChain(pki.ca_pem), None, "none")])))
    for name, setter in setters:
        setter(0)
        gc.collect()
        live = lib.mpy_ref_live()
        for i in range(1, 10_000):
            setter(i)
        gc.collect()
        assert lib.mpy_ref_live() == live, name


def test_sni_replaced_during_a_handshake_that_picked_an_entry() -> None:
    """The SNI entries replaced (and the old ones collected) after the server
    picked one for a handshake: that handshake goes on with the picked
    certificate and key (the connection retains the entry), and ends."""
    if not has_feature("SNI"):
        return
    from mbedtls_py import PrivateKey

    pki = make_det_pki(6)
    c_conf, s_conf = cert_configs(pki)

    def sni() -> None:
        s_conf.set_sni([("localhost", CertificateChain(pki.chain_pems), PrivateKey(pki.key_pem),
                         None, None, "none")])

    sni()
    client, server, _ = new_pair(c_conf, s_conf)
    server.set_client_transport_id(b"client")
    client.handshake()
    while (d := client.pop()) is not None:
        server.push(d)
    server.handshake()  # the ClientHello: the entry is picked, the first flight out
    live = lib.mpy_ref_live()
    sni()
    gc.collect()
    assert lib.mpy_ref_live() == live + 3  # the new chain, key and entry; nothing freed
    assert handshake_pair(client, server, transport_id=b"client") == (0, 0)
    server.close()
    gc.collect()
    assert lib.mpy_ref_live() == live  # the picked entry, its chain and key, let go of
