"""Issue 22, sections 2 and 4: misuse that crashed, deadlocked, or was
accepted silently.  Each test fails on the main of a36b997 (see the issue's
closing note for the counts); anything that could crash or hang runs in a
child interpreter with a timeout."""

from __future__ import annotations

import copy
import pickle

import pytest
from _isolated import run_isolated

from mbedtls_py import CertificateChain, Config, Context, PrivateKey, Rng, VirtualClock
from mbedtls_py.context import Session
from mbedtls_py.sim.network import Network
from mbedtls_py.testing import psk_configs
from mbedtls_py.wire.rules import parse_rule

pytestmark = pytest.mark.sanitize


# -- copies and objects made without __init__ ---------------------------------


def _owners() -> dict[str, object]:
    from mbedtls_py.testing import make_pki

    c, _ = psk_configs(seed=1)
    p = make_pki(seed=1)
    return {"Context": Context(c), "Config": c, "Session": Session(), "Rng": Rng(1),
            "VirtualClock": VirtualClock(), "CertificateChain": CertificateChain(p.cert_pem),
            "PrivateKey": PrivateKey(p.key_pem)}


@pytest.mark.parametrize("how", ["copy", "deepcopy", "pickle"])
def test_c_owning_objects_refuse_copies(how: str) -> None:
    """copy, deepcopy and pickle of every class that owns C memory raise a
    TypeError that says why, instead of sharing the C pointers."""
    fn = {"copy": copy.copy, "deepcopy": copy.deepcopy, "pickle": pickle.dumps}[how]
    for name, obj in _owners().items():
        with pytest.raises(TypeError, match="cannot be copied or pickled"):
            fn(obj)


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
def test_objects_made_without_init_raise_clearly(cls: type, use: object) -> None:
    """``X.__new__(X)`` then any use: a TypeError naming the class and the
    missing ``__init__``, not an AttributeError on a private name."""
    obj = cls.__new__(cls)
    with pytest.raises(TypeError, match=rf"{cls.__name__}.__init__ was never called"):
        use(obj)  # type: ignore[operator]
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
