"""Key export only on request, wiped on reset and when turned off."""

from pathlib import Path

import pytest

from mbedtls_py import Context
from mbedtls_py.bindings.context import export_keys_to
from mbedtls_py.bindings.errors import ClosedError
from mbedtls_py.testing import handshake_pair, new_pair, psk_configs


def _secret_bytes(ctx: Context) -> bytes:
    conn = ctx._cx.conn  # the C struct: what a memory dump would show
    return bytes(conn.master_secret) + bytes(conn.client_random) + bytes(conn.server_random)


def test_no_key_export_by_default() -> None:
    """By default no secret is recorded: exported_keys() is None, the C fields stay zero."""
    client, server, _ = new_pair(*psk_configs())
    assert client.keylog is None and server.keylog is None
    assert handshake_pair(client, server) == (0, 0)
    for ctx in (client, server):
        assert ctx.exported_keys() is None
        assert _secret_bytes(ctx) == bytes(112)
        assert not ctx._cx.conn.keys_ready


def test_keylog_gets_the_nss_line_once_per_handshake() -> None:
    """keylog=callable: one NSS line per side, equal on both, matching exported_keys()."""
    lines: list[str] = []
    cc, sc = psk_configs()
    client = Context(cc, keylog=lines.append)
    server = Context(sc, clock=client.clock, keylog=lines.append)
    assert handshake_pair(client, server) == (0, 0)
    assert len(lines) == 2 and lines[0] == lines[1]
    keys = client.exported_keys()
    assert keys is not None and keys == server.exported_keys()
    kind, crandom, secret = lines[0].split()
    assert kind == "CLIENT_RANDOM" and crandom == keys.client_random.hex()
    assert secret == keys.master_secret.hex() and len(secret) == 96
    assert keys.master_secret != bytes(48)


def test_session_reset_wipes_the_secret() -> None:
    """session_reset() zeroises the recorded secret (mbedtls_platform_zeroize)."""
    lines: list[str] = []
    client, server, _ = new_pair(*psk_configs())
    client.keylog = server.keylog = lines.append
    assert handshake_pair(client, server) == (0, 0)
    assert server.exported_keys() is not None
    assert server.session_reset() == 0
    assert server.exported_keys() is None
    assert _secret_bytes(server) == bytes(112)
    assert client.exported_keys() is not None  # the other side keeps its own until reset


def test_turning_export_off_wipes_and_stops() -> None:
    """keylog = None unregisters the export callback and wipes what was kept."""
    lines: list[str] = []
    client, server, _ = new_pair(*psk_configs())
    client.keylog = lines.append
    assert handshake_pair(client, server) == (0, 0)
    client.keylog = None
    assert client.exported_keys() is None and _secret_bytes(client) == bytes(112)
    assert client.session_reset() == 0 and server.session_reset() == 0
    assert handshake_pair(client, server) == (0, 0)
    assert len(lines) == 1  # nothing exported the second time
    assert _secret_bytes(client) == bytes(112)


def test_export_keys_to_scope() -> None:
    """Contexts created inside export_keys_to() export; those created after do not."""
    lines: list[str] = []
    with export_keys_to(lines.append):
        client, server, _ = new_pair(*psk_configs())
    later_c, later_s, _ = new_pair(*psk_configs())
    assert handshake_pair(client, server) == (0, 0)
    assert handshake_pair(later_c, later_s) == (0, 0)
    assert len(lines) == 2 and later_c.exported_keys() is None


def test_bad_keylog_is_rejected() -> None:
    """A keylog that is not callable is a TypeError, not a crash at handshake time."""
    cc, _ = psk_configs()
    with pytest.raises(TypeError):
        Context(cc, keylog="keys.txt")  # type: ignore[arg-type]
    ctx = Context(cc)
    with pytest.raises(TypeError):
        ctx.keylog = 42  # type: ignore[assignment]
    ctx.close()
    with pytest.raises(ClosedError):
        ctx.keylog = print


def test_config_keylog_applies_to_contexts_set_up_later() -> None:
    """Config(keylog=...) turns export on for every context made from it (any thread)."""
    import threading

    lines: list[str] = []
    cc, sc = psk_configs()
    sc.set_keylog(lines.append)
    made: list[Context] = []
    t = threading.Thread(target=lambda: made.append(Context(sc)))
    t.start()
    t.join()
    server = made[0]
    client = Context(cc, clock=server.clock)
    assert server.keylog is not None and client.keylog is None
    assert handshake_pair(client, server) == (0, 0)
    assert len(lines) == 1 and client.exported_keys() is None
    with pytest.raises(TypeError):
        cc.set_keylog("nope")  # type: ignore[arg-type]


def test_capture_chains_an_existing_keylog(tmp_path: Path) -> None:
    """A context that already logs keys keeps doing so when a capture adopts it."""
    from mbedtls_py.sim import Network

    mine: list[str] = []
    net = Network(seed="chain")
    cc, sc = psk_configs()
    cli = net.add("client", Context(cc, keylog=mine.append))
    srv = net.add("server", Context(sc))
    cap = net.capture(tmp_path / "c.pcapng")
    assert net.handshake(cli, srv) == (0, 0)
    assert len(mine) == 1 and cap.key_lines == mine
