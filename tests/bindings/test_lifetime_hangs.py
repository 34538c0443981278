"""Argument values that would hang Mbed TLS: the MTU floor per suite (and the hang one
byte below it, pinned), CIDs raising it, and other extreme timeouts, sizes and clocks
that must end with a code (each run in a child process that may hang)."""

from __future__ import annotations

import pytest
from _isolated import run_isolated

from mbedtls_py import Context
from mbedtls_py.testing import psk_configs

# Part of the short ASan+UBSan pass (./dev.sh sanitize).
pytestmark = pytest.mark.sanitize


# -- arguments that hang Mbed TLS ---------------------------------------

MTU_RUN = """
from mbedtls_py import Context
from mbedtls_py.bindings import lib
from mbedtls_py.testing import psk_configs, handshake_pair
cc, sc = psk_configs(suite=SUITE, seed=1)
cli, srv = Context(cc), Context(sc)
for c in (cli, srv):
    try:
        c.set_mtu(MTU)
    except ValueError as e:
        print("refused:", e)
        raise SystemExit(0)
print("result", handshake_pair(cli, srv, max_rounds=64))
"""


def test_set_mtu_10_is_refused_instead_of_hanging_the_handshake() -> None:
    """Set_mtu(10) then handshake() spun forever inside Mbed TLS
    (old main: the child is still running at the timeout)."""
    out = run_isolated(MTU_RUN.replace("SUITE", "None or 'TLS-PSK-WITH-AES-128-GCM-SHA256'")
                       .replace("MTU", "10"), timeout=60)
    assert not out.hung, "handshake() with MTU 10 did not return"
    assert out.returncode == 0, out.stderr[-1500:]
    assert "refused: client: MTU 10 is below 50" in out.stdout


@pytest.mark.parametrize("suite,floor", [
    ("TLS-PSK-WITH-AES-128-GCM-SHA256", 50),
    ("TLS-PSK-WITH-AES-128-CCM-8", 42),
    ("TLS-PSK-WITH-CHACHA20-POLY1305-SHA256", 42),
    ("TLS-PSK-WITH-AES-128-CBC-SHA", 78),
    ("TLS-PSK-WITH-AES-256-CBC-SHA384", 106),
])
def test_the_mtu_floor_is_exact_per_suite(suite: str, floor: int) -> None:
    """At the documented floor the handshake completes; one byte less is
    refused.  (Below it, Mbed TLS itself never returns: see
    test_mbedtls_hangs_one_byte_below_the_floor.)"""
    cc, _ = psk_configs(suite=suite, seed=3)
    cli = Context(cc)
    assert cli.min_mtu() == floor
    with pytest.raises(ValueError, match=f"below {floor}"):
        cli.set_mtu(floor - 1)
    out = run_isolated(MTU_RUN.replace("SUITE", repr(suite)).replace("MTU", str(floor)), timeout=60)
    assert not out.hung and out.returncode == 0, out.stderr[-1500:]
    assert "result (0, 0)" in out.stdout


def test_mbedtls_hangs_one_byte_below_the_floor() -> None:
    """Pins why the floor exists: bypassing the check with the raw
    mbedtls_ssl_set_mtu one byte below it, Mbed TLS 3.6 does not return."""
    code = MTU_RUN.replace("SUITE", "'TLS-PSK-WITH-AES-128-GCM-SHA256'").replace(
        "c.set_mtu(MTU)", "lib.mbedtls_ssl_set_mtu(c._cx.ssl, 49)")
    out = run_isolated(code, timeout=10)
    assert out.hung, out.stdout


def test_cid_raises_the_floor_and_a_later_change_is_caught() -> None:
    """A connection ID adds up to 48 bytes; enabling it under a set MTU that
    no longer fits is refused, and so is a handshake after the config's
    cipher suites grew."""
    cc, sc = psk_configs(seed=4)
    cc.set_cid(32)
    cli = Context(cc)
    cli.set_mtu(50)
    with pytest.raises(ValueError, match="below 98"):
        cli.set_cid(True, b"\x01" * 32)
    cc.set_ciphersuites(["TLS-PSK-WITH-AES-256-CBC-SHA384"])
    with pytest.raises(ValueError, match="below 106"):
        cli.handshake()


@pytest.mark.parametrize("setup", [
    "cc.set_handshake_timeout(1, 1); sc.set_handshake_timeout(1, 1)",
    "cc.set_handshake_timeout(2**32-1, 2**32-1)",
    "cc.set_read_timeout(1); sc.set_read_timeout(1)",
    "sc.set_cookies(True, 0)",
    "cc.set_badmac_limit(1)",
    "kw['max_queue'] = 1",
    "kw['max_datagram'] = 20",
    "net.clock.now_ms = (1 << 62) - 100_000",
])
def test_other_extreme_arguments_end_with_a_code(setup: str) -> None:
    """Other candidates for the same kind of hang (timeouts, queue and
    datagram sizes, a clock near its end), over a lossy link: the handshake
    ends (done, timeout or an error code) within the network's bounds."""
    code = f"""
from mbedtls_py import Context
from mbedtls_py.sim.network import Network
from mbedtls_py.testing import psk_configs
cc, sc = psk_configs(seed=5)
net = Network(seed=5)
net.link("client", "server", loss=0.5)
net.link("server", "client", loss=0.5)
kw = {{}}
{setup}
cli = net.add("client", Context(cc, **kw))
srv = net.add("server", Context(sc, **kw))
print("reason", net.handshake(cli, srv).reason)
"""
    out = run_isolated(code, timeout=60)
    assert not out.hung and out.returncode == 0, out.stderr[-1500:]
    assert out.stdout.startswith("reason ")
