"""The bindings' API rules: raw-code and raising forms (README "Return codes
and exceptions"), Config options, Context queues, and the Err stub that type
checkers read."""

import configparser
import inspect
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

import mbedtls_py
from mbedtls_py import Config, Context, Err, MbedTLSError, WantRead, ciphersuite_id
from mbedtls_py.testing import handshake_pair, new_pair, psk_configs
from _versions import MBEDTLS_2

ROOT = Path(__file__).resolve().parents[2]
PSK = b"\x01" * 16
SUITES = ("TLS-PSK-WITH-AES-128-GCM-SHA256", "TLS-PSK-WITH-AES-128-CCM-8")

# Public methods returning an int that is never an Mbed TLS error code, so they
# need no raising form: a flag, a byte count of the glue, a timer state, the
# MTU last set.
NEVER_A_CODE = {"check_pending", "min_mtu", "mtu", "timer_state", "move_to"}


def _public_methods(cls: type) -> Iterator[tuple[str, Callable[..., object]]]:
    for name, fn in inspect.getmembers(cls, inspect.isfunction):
        if not name.startswith("_"):
            yield name, fn


@pytest.mark.parametrize("cls", [Context, Config])
def test_every_raw_call_has_its_raising_form(cls: type[Context] | type[Config]) -> None:
    raw = set(cls.RAW_CALLS)
    methods = dict(_public_methods(cls))
    for name in raw:
        assert name in methods, f"{cls.__name__}.RAW_CALLS names {name}, which does not exist"
        assert f"do_{name}" in methods, f"{cls.__name__}.{name} has no raising form do_{name}"
        # same parameters: the raising form is the raw call plus the raise
        raw_params = list(inspect.signature(methods[name]).parameters)
        do_params = list(inspect.signature(methods[f"do_{name}"]).parameters)
        assert raw_params == do_params, (name, raw_params, do_params)
        assert methods[name].__annotations__.get("return") == "int", name
    for name in methods:
        if name.startswith("do_"):
            assert name[3:] in raw, f"{cls.__name__}.{name} is a raising form of no raw call"
    # Every other int-returning method is either a raw call or returns no code.
    for name, fn in methods.items():
        if fn.__annotations__.get("return") == "int" and not name.startswith("do_") \
                and name not in raw and name != "read":
            assert name in NEVER_A_CODE, f"{cls.__name__}.{name} returns an int: raw call?"


def test_setters_of_void_calls_return_none() -> None:
    """Setters over calls that cannot fail return None, not an always-0 int."""
    for name, fn in _public_methods(Config):
        if name.startswith("set_") and name not in Config.RAW_CALLS:
            assert fn.__annotations__.get("return") == "None", name
    cfg = Config("client")
    # mypy knows these return None; the asserts check that the runtime agrees.
    assert cfg.set_read_timeout(10) is None  # type: ignore[func-returns-value]
    assert cfg.set_ciphersuites(SUITES) is None  # type: ignore[func-returns-value]


def test_raw_and_raising_forms_report_the_same_code() -> None:
    client = Context(Config("client", psk=(PSK, b"id"), ciphersuites=SUITES))
    assert client.handshake() == Err.SSL_WANT_READ
    with pytest.raises(WantRead) as e:
        client.do_handshake()
    assert e.value.code == Err.SSL_WANT_READ
    assert "handshake" in str(e.value)
    buf = bytearray(64)
    assert client.read_into(buf) == Err.SSL_WANT_READ  # not connected yet
    with pytest.raises(WantRead):
        client.do_read_into(buf)


def test_config_raw_setter_returns_the_code_and_raising_form_raises() -> None:
    cfg = Config("client", psk=(PSK, b"id"))
    # Mbed TLS 3.x refuses a second PSK on one config; 2.x replaces the first
    rc = cfg.set_psk(b"\x02" * 16, b"other")
    if MBEDTLS_2:
        assert rc == 0
        # mypy knows it returns None; the assert checks that the runtime agrees.
        assert cfg.do_set_psk(b"\x03" * 16, b"third") is None  # type: ignore[func-returns-value]
        return
    assert rc == Err.SSL_FEATURE_UNAVAILABLE
    with pytest.raises(MbedTLSError) as e:
        cfg.do_set_psk(b"\x02" * 16, b"other")
    assert e.value.code == rc


def test_do_write_raises_and_there_is_no_send() -> None:
    """do_write returns the count (raising on an error code); the old send() alias is gone."""
    client, server, _ = new_pair(*psk_configs())
    assert handshake_pair(client, server) == (0, 0)
    assert client.do_write(b"ping") == 4
    assert not hasattr(client, "send")
    assert client.pending_out == 1


@pytest.mark.parametrize("suites", [SUITES, list(SUITES), (s for s in SUITES),
                                    [ciphersuite_id(SUITES[0]), SUITES[1]]])
def test_ciphersuites_accept_any_iterable(suites: Iterable[str | int]) -> None:
    cfg = Config("client", psk=(PSK, b"id"), ciphersuites=suites)
    assert cfg.endpoint == "client"


def test_ciphersuites_tuple_option_is_the_whole_list() -> None:
    client, server, _ = new_pair(Config("client", seed=1, psk=(PSK, b"id"), ciphersuites=SUITES),
                                 Config("server", seed=2, psk=(PSK, b"id"),
                                        ciphersuites=SUITES[1:]))
    assert handshake_pair(client, server) == (0, 0)
    assert client.ciphersuite == SUITES[1]


@pytest.mark.parametrize("bad", ["TLS-PSK-WITH-AES-128-GCM-SHA256", b"TLS", 5])
def test_ciphersuites_refuse_a_bare_value(bad: object) -> None:
    with pytest.raises(TypeError, match="iterable"):
        Config("client").set_ciphersuites(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="iterable"):
        Config("client", ciphersuites=bad)


def test_move_to_reports_the_real_size_of_an_oversize_datagram() -> None:
    client = Context(Config("client", psk=(PSK, b"id"), ciphersuites=SUITES))
    small = Context(Config("server", psk=(PSK, b"id")), max_datagram=40)
    assert client.handshake() == Err.SSL_WANT_READ
    hello = client.peek()
    assert hello is not None and len(hello) > 40
    with pytest.raises(ValueError, match=rf"datagram of {len(hello)} bytes; must be 1 \.\. 40"):
        client.move_to(small)
    assert client.peek() == hello  # left where it was
    assert small.pending_in == 0


def test_context_is_not_iterable_and_drain_is_explicit() -> None:
    client = Context(Config("client", psk=(PSK, b"id"), ciphersuites=SUITES))
    client.handshake()
    assert client.pending_out == 1
    with pytest.raises(TypeError):
        iter(client)  # type: ignore[call-overload]
    assert client.pending_out == 1
    assert len(client.drain()) == 1
    assert client.pending_out == 0


def test_context_public_api_still_importable() -> None:
    from mbedtls_py import ExportedKeys, RealClock, VirtualClock  # noqa: F401
    from mbedtls_py.bindings.context import KeyLog, export_keys_to  # noqa: F401
    assert mbedtls_py.Context.__module__ == "mbedtls_py.bindings.context"


# -- the Err stub ----------------------------------------------------------------

def _stub_members() -> tuple[str, dict[str, int]]:
    text = (ROOT / "mbedtls_py" / "bindings" / "_err.pyi").read_text()
    found = re.search(r"Mbed TLS (\S+) headers", text)
    assert found is not None, "the stub names no Mbed TLS version"
    version = found.group(1)
    return version, dict((n, int(v)) for n, v in re.findall(r"^    (\w+) = (-?\d+)$", text, re.M))


def test_err_stub_lists_every_member_of_the_pinned_build() -> None:
    version, stub = _stub_members()
    assert len(stub) > 200
    if mbedtls_py.__mbedtls_version__ != version:
        pytest.skip(f"the stub lists Mbed TLS {version}; this is a variant "
                    f"({mbedtls_py.__mbedtls_version__})")
    runtime = {m: Err[m].value for m in Err.__members__}
    assert stub == runtime


def _mypy(tmp_path: Path, code: str) -> subprocess.CompletedProcess[str]:
    src = tmp_path / "example.py"
    src.write_text(textwrap.dedent(code))
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--follow-imports=silent",
         "--cache-dir", str(tmp_path / "cache"), str(src)],
        # MYPYPATH: an editable install hides the package from mypy's search
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
        env={**os.environ, "MYPYPATH": str(ROOT)})


def test_err_members_type_check(tmp_path: Path) -> None:
    ok = _mypy(tmp_path, """
        from mbedtls_py import Config, Context, Err

        def first_flight(ctx: Context) -> bool:
            rc: int = ctx.handshake()
            assert rc != Err.SSL_UNEXPECTED_MESSAGE
            return rc == Err.SSL_WANT_READ and Err(-0x7700) is Err.SSL_UNEXPECTED_MESSAGE

        first_flight(Context(Config("client")))
        """)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = _mypy(tmp_path, """
        from mbedtls_py import Err
        print(Err.SSL_NO_SUCH_CODE)
        """)
    assert bad.returncode == 1 and "SSL_NO_SUCH_CODE" in bad.stdout, bad.stdout


def test_mypy_strict_config_and_wheel_tag(tmp_path: Path) -> None:
    """Plain `mypy` under pyproject's [tool.mypy] is strict (an untyped def fails);
    setup.cfg tags the wheel abi3."""
    src = tmp_path / "untyped.py"
    src.write_text("def f(x):\n    return x\n")
    proc = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
                           "--no-incremental", str(src)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    assert proc.returncode == 1 and "missing a type annotation" in proc.stdout, proc.stdout
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    assert cfg["bdist_wheel"]["py_limited_api"] == "cp310"
    assert not cfg["build"]["build_base"].startswith("build")  # no ./build/ at the root
    built = list((ROOT / "mbedtls_py").glob("_lib_default*.so"))
    assert not built or all(".abi3." in p.name for p in built)


@pytest.mark.parametrize("call", [
    lambda c: c.set_handshake_timeout(1.5, 10), lambda c: c.set_handshake_timeout(True, 10),
    lambda c: c.set_read_timeout(2.0), lambda c: c.set_badmac_limit("3"),
    lambda c: c.set_debug(1.0), lambda c: c.set_cid(2.5)])
def test_config_numbers_are_ints(call: Callable[[Config], object]) -> None:
    """Every numeric setter refuses floats, bools and strings the same way."""
    with pytest.raises(ValueError, match="must be an int"):
        call(Config("client"))
