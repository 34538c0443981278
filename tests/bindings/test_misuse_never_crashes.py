"""Misuse of the bindings that must raise a clear Python error, never crash,
deadlock or pass silently: copies and objects made without ``__init__``, times
past the virtual clock's limit, keys and PEM text that do not fit, callbacks
that call their own context.  Anything that could crash or hang runs in a
child interpreter with a timeout."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from typing import Any

import pytest
from _isolated import run_isolated

from mbedtls_py import CertificateChain, Config, Context, PrivateKey, Rng, VirtualClock
from mbedtls_py.bindings.context import Session
from mbedtls_py.bindings.features import has as has_feature
from mbedtls_py.sim.network import Network
from mbedtls_py.testing import psk_configs
from mbedtls_py.wire.rules import parse_rule

# The crash and deadlock tests are part of the short ASan+UBSan pass (./dev.sh sanitize).
sanitize = pytest.mark.sanitize


# -- copies and objects made without __init__ ---------------------------------


def _owners() -> dict[str, object]:
    from mbedtls_py.testing import make_pki

    c, _ = psk_configs(seed=1)
    p = make_pki(seed=1)
    return {"Context": Context(c), "Config": c, "Session": Session(), "Rng": Rng(1),
            "VirtualClock": VirtualClock(), "CertificateChain": CertificateChain(p.cert_pem),
            "PrivateKey": PrivateKey(p.key_pem)}


@sanitize
@pytest.mark.parametrize("how", ["copy", "deepcopy", "pickle"])
def test_c_owning_objects_refuse_copies(how: str) -> None:
    """copy, deepcopy and pickle of every class that owns C memory raise a
    TypeError that says why, instead of sharing the C pointers."""
    fns: dict[str, Callable[[Any], object]] = {"copy": copy.copy, "deepcopy": copy.deepcopy,
                                               "pickle": pickle.dumps}
    fn = fns[how]
    for obj in _owners().values():
        with pytest.raises(TypeError, match="cannot be copied or pickled"):
            fn(obj)


@sanitize
def test_copy_close_write_does_not_crash() -> None:
    """``c2 = copy.copy(ctx); ctx.close(); c2.write(b"x")`` segfaulted
    (use after free in debug.c); now the copy is refused."""
    out = run_isolated("""
        import copy
        from mbedtls_py import Context
        from mbedtls_py.testing import psk_configs
        ctx = Context(psk_configs(seed=1)[0])
        try:
            c2 = copy.copy(ctx)
        except TypeError as e:
            print("refused:", e)
        else:
            ctx.close()
            c2.write(b"x")
            print("wrote")
    """, timeout=60)
    assert not out.crashed and not out.hung, out
    assert out.returncode == 0 and out.stdout.startswith("refused:"), out


@sanitize
@pytest.mark.parametrize("cls,use", [
    (Context, lambda o: o.handshake()),
    (Context, lambda o: o.state),
    (Context, lambda o: o.push(b"x")),
    (Context, lambda o: o.close()),
    (Config, lambda o: o.set_authmode("none")),
    (Config, lambda o: Context(o)),
    (Session, lambda o: o.save()),
    (CertificateChain, lambda o: o.der()),
    (PrivateKey, lambda o: o.kind),
    (Rng, lambda o: o.random(4)),
    (VirtualClock, lambda o: o.advance(1)),
], ids=lambda v: getattr(v, "__name__", ""))
def test_objects_made_without_init_raise_clearly(cls: Any,
                                                use: Callable[[Any], object]) -> None:
    """``X.__new__(X)`` then any use: a TypeError naming the class and the
    missing ``__init__``, not an AttributeError on a private name."""
    obj = cls.__new__(cls)
    with pytest.raises(TypeError, match=rf"{cls.__name__}.__init__ was never called"):
        use(obj)
    if cls in (Context, Config):
        assert "not initialised" in repr(obj)


# -- the virtual clock's limit -------------------------------------------------

LIMIT = "2\\*\\*62-1 ms \\(the virtual clock's limit\\)"


def _net() -> Network:
    net = Network(seed=1)
    c, s = psk_configs(seed=1)
    net.add("client", Context(c))
    net.add("server", Context(s))
    return net


@pytest.mark.parametrize("entry", [
    lambda net: net.inject("client", "server", b"x", after_ms=2**63),
    lambda net: net.inject("client", "server", b"x", after_ms=float("inf")),
    lambda net: net.release([], after_ms=1e38),
    lambda net: net.link("client", "server", delay_ms=1e38),
    lambda net: net.link("client", "server", jitter_ms=2**62),
    lambda net: net.link("client", "server", reorder=0.5, reorder_delay_ms=1e300),
    lambda net: parse_rule("client->server: delay 1e38ms"),
    lambda net: parse_rule("client->server: delay 1e17s"),
    lambda net: parse_rule("client->server: duplicate 2 spacing 1e38ms"),
    lambda net: net.clock.advance(2**63),
    lambda net: setattr(VirtualClock(), "now_ms", 2**63),
], ids=["inject", "inject-inf", "release", "link-delay", "link-jitter", "link-reorder",
        "rule-delay", "rule-delay-s", "rule-spacing", "advance", "clock-set"])
def test_times_past_the_clock_limit_are_refused_where_they_enter(entry: object) -> None:
    """A delay or time of 2**62 ms or more is refused with one message that
    states the limit (it made timers read 0 and handshakes go idle)."""
    with pytest.raises(ValueError, match=LIMIT):
        entry(_net())  # type: ignore[operator]


def test_a_link_delay_changed_later_is_caught_before_the_clock() -> None:
    """A link's delay raised after the link was made: the delivery that would
    pass the limit raises instead of the handshake going idle."""
    net = _net()
    net.link("client", "server", delay_ms=5).delay_ms = 1e38
    with pytest.raises(ValueError, match="would pass the virtual clock's limit"):
        net.handshake("client", "server")


# -- inputs that were accepted silently or with unclear errors ----------------


def test_set_certificate_refuses_a_key_that_is_not_the_certificates() -> None:
    """A key that does not match the leaf certificate raises ValueError
    (``mbedtls_pk_check_pair``) instead of returning 0; a matching one is set."""
    from mbedtls_py.testing import make_pki

    a, b, rsa = make_pki(seed=1), make_pki(seed=2), make_pki("rsa")
    assert Config("server").set_certificate(a.cert_pem, a.key_pem) == 0
    assert Config("server").set_certificate(rsa.cert_pem, rsa.key_pem) == 0
    for key in (b.key_pem, rsa.key_pem):
        with pytest.raises(ValueError, match="does not match the leaf certificate"):
            Config("server").set_certificate(a.cert_pem, key)
        with pytest.raises(ValueError, match="mbedtls_pk_check_pair"):
            Config("server", certificate=(a.cert_pem, key))


@pytest.mark.parametrize("cls", [CertificateChain, PrivateKey])
def test_non_ascii_pem_text_is_a_clear_value_error(cls: type) -> None:
    """PEM given as a str with a non-ASCII character: a ValueError saying so,
    not a UnicodeEncodeError from deep inside."""
    with pytest.raises(ValueError, match="must be ASCII PEM text") as info:
        cls("-----BEGIN CERTIFICATE-----\nMIIB\u00fc\n-----END CERTIFICATE-----\n")
    assert not isinstance(info.value, UnicodeError)


@pytest.mark.parametrize("suite", [2**31, 2**64, -1, 0x10000])
def test_cipher_suite_ids_out_of_range_are_value_errors(suite: int) -> None:
    """``ciphersuite_name``/``ciphersuite_id`` of an id outside 0 .. 0xFFFF:
    ValueError naming the range, not OverflowError."""
    from mbedtls_py import ciphersuite_id, ciphersuite_name

    for fn in (ciphersuite_name, ciphersuite_id):
        with pytest.raises(ValueError, match="0 .. 65535"):
            fn(suite)


# -- callbacks that call their own context --------------------------------------

_CALLBACK_PRELUDE = """
import logging
from mbedtls_py import Context
from mbedtls_py.testing import psk_configs, handshake_pair
c, s = psk_configs(seed=1)
cli, srv = Context(c, name="cli"), Context(s, name="srv")
"""


@sanitize
@pytest.mark.skipif(not has_feature("KEY_EXPORT"), reason="no per-context key export (2.x)")
@pytest.mark.parametrize("action", ["print(cli.state)", "cli.keylog = None", "cli.close()"])
def test_a_keylog_callback_may_call_its_own_context(action: str) -> None:
    """A keylog callable that reads ``.state``, sets ``keylog = None`` or
    closes its context ran under the context's lock and deadlocked; now it
    runs after the call released the lock (bounded: a child with a timeout)."""
    out = run_isolated(_CALLBACK_PRELUDE + f"""
def keylog(line):
    print("line", line.split()[0])
    {action}
cli.keylog = keylog
try:
    handshake_pair(cli, srv)
except Exception as e:  # the client closed itself mid-handshake
    print("stopped:", type(e).__name__)
print("done", cli.closed)
""", timeout=30)
    assert not out.hung and not out.crashed, out
    assert out.returncode == 0, out.stderr
    assert "line CLIENT_RANDOM" in out.stdout and "done" in out.stdout, out.stdout
    if action == "print(cli.state)":
        assert "SERVER_CHANGE_CIPHER_SPEC" in out.stdout  # the state the call left


@sanitize
def test_a_debug_log_handler_may_call_its_own_context() -> None:
    """A logging handler fed by ``set_debug()`` that reads ``.state`` of the
    context being debugged, and finally closes it: no deadlock, every line
    is logged after its call returned."""
    out = run_isolated(_CALLBACK_PRELUDE + """
class Handler(logging.Handler):
    n = 0
    def emit(self, record):
        Handler.n += 1
        if not cli.closed:
            cli.state
log = logging.getLogger("mbedtls_py.mbedtls")
log.addHandler(Handler()); log.setLevel(logging.DEBUG)
c.set_debug(2)
assert handshake_pair(cli, srv) == (0, 0)
n = Handler.n
cli.close()
print("lines", n > 10, Handler.n > n)
""", timeout=30)
    assert not out.hung and not out.crashed, out
    assert out.returncode == 0, out.stderr
    assert "lines True True" in out.stdout, out.stdout  # also what close() freed
