"""pytest fixtures for tests that drive Mbed TLS through mbedtls-py.

Installed as a pytest plugin (entry point ``pytest11``), so a project that
depends on ``mbedtls-py`` gets these fixtures without any import:

- ``mbedtls_pki`` / ``mbedtls_rsa_pki``: a trustme CA and a ``localhost``
  server certificate (ECDSA P-256 / RSA), one per test session;
- ``dtls_cert_configs`` / ``dtls_psk_configs``: ``(client, server)`` configs;
- ``dtls_pair``: a certificate-authenticated ``(client, server, clock)`` of
  contexts on one virtual clock, ready to handshake;
- ``dtls_network``: a fresh simulated ``Network`` seeded from the test's node
  id (so a failing test replays byte for byte); override the seed with
  ``@pytest.mark.dtls_seed(N)``;
- ``--mbedtls-ssl-opt REGEX``: upstream ssl-opt.sh's DTLS cases as test items
  (``mbedtls_py.sslopt.pytest_items``).

``--mbedtls-variant NAME`` runs the session against a library variant
(``mbedtls-py build-variant``; the same as ``MBEDTLS_PY_VARIANT=NAME``, which
subprocesses inherit); the header names the Mbed TLS version and variant.
This module loads nothing from the extension when pytest imports it (pytest
imports plugins before it parses options): the fixtures import lazily.

``--dtls-capture DIR``: every FAILING test that used ``dtls_network`` or
``dtls_pair`` leaves ``DIR/<test id>.pcapng`` (the datagrams with the keys
embedded: open it in Wireshark); passing tests leave nothing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

# Nothing from mbedtls_py is imported here: pytest loads this plugin in every
# session of every environment that has mbedtls-py installed (and before it
# parses --mbedtls-variant), so each hook and fixture imports what it needs
# (the extension, the simulator) only when it runs.
if TYPE_CHECKING:
    from pathlib import Path

    from ..bindings.config import Config
    from ..bindings.context import Context, VirtualClock
    from ..sim.network import Network
    from . import TestPKI


def pytest_addoption(parser: pytest.Parser) -> None:
    from ..sslopt.pytest_items import pytest_addoption as sslopt_addoption  # pytest + re only

    group = parser.getgroup("mbedtls-py")
    group.addoption("--mbedtls-variant", metavar="NAME", default=None,
                    help="load this mbedtls-py library variant (see `mbedtls-py variants`); "
                         "sets MBEDTLS_PY_VARIANT for the session and its subprocesses")
    group.addoption("--dtls-capture", metavar="DIR", default=None,
                    help="save a pcapng (keys embedded) of every failing test that used "
                         "dtls_network or dtls_pair, named after the test id")
    sslopt_addoption(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    if not config.getoption("--mbedtls-ssl-opt", default=None):
        return
    from ..sslopt.pytest_items import pytest_collection_modifyitems as sslopt_items

    sslopt_items(session, config, items)


def _select_variant(name: str | None) -> None:
    if not name:
        return
    from ..variants import ENV, VariantError, find

    try:
        wanted = find(name)
    except VariantError as e:
        raise pytest.UsageError(f"--mbedtls-variant: {e}") from None
    loaded = sys.modules.get("mbedtls_py.bindings._lib")
    if loaded is not None and getattr(loaded, "VARIANT", None) != wanted.name:
        raise pytest.UsageError(
            f"--mbedtls-variant {name}: this process already loaded variant "
            f"{getattr(loaded, 'VARIANT', '?')} (one variant per process; run pytest anew)")
    os.environ[ENV] = name


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser,
                                  args: list[str]) -> None:
    # Before any conftest.py or test module imports mbedtls_py's extension.
    _select_variant(getattr(early_config.known_args_namespace, "mbedtls_variant", None))


_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


def pytest_configure(config: pytest.Config) -> None:
    _select_variant(config.getoption("mbedtls_variant", None))  # e.g. pytester's inline runs
    _check_capture_dir(config.getoption("dtls_capture", None))
    config.addinivalue_line("markers", "dtls_seed(seed): the seed of the dtls_network fixture")


def pytest_report_header(config: pytest.Config) -> str:
    from .. import __mbedtls_version__, __variant__, __version__

    return f"mbedtls-py {__version__}: Mbed TLS {__mbedtls_version__} (variant {__variant__})"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                               ) -> Generator[None, Any, None]:
    outcome = yield
    item.stash.setdefault(_REPORTS, {})[call.when] = outcome.get_result()


def _check_capture_dir(folder: str | None) -> None:
    """``--dtls-capture DIR`` must be a directory, or creatable as one: checked
    at the start of the session, not at the teardown of every failing test."""
    if folder is None:
        return
    path = os.path.abspath(folder)
    if os.path.exists(path) and not os.path.isdir(path):
        raise pytest.UsageError(f"--dtls-capture {folder}: exists and is not a directory")
    parent = path
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
        raise pytest.UsageError(f"--dtls-capture {folder}: cannot create it ({parent} is not "
                                "a writable directory)")


def _capture_dir(request: pytest.FixtureRequest) -> Path | None:
    folder = request.config.getoption("--dtls-capture", None)
    if folder is None:
        return None
    from pathlib import Path
    return Path(folder)


def _failed_path(request: pytest.FixtureRequest, folder: Path) -> Path | None:
    """Where the capture of this test goes, or ``None`` when it did not fail."""
    reports = request.node.stash.get(_REPORTS, {})
    if not any(r.failed for r in reports.values()):
        return None
    import re
    folder.mkdir(parents=True, exist_ok=True)
    return folder / (re.sub(r"[^A-Za-z0-9_.\-]+", "_", request.node.nodeid).strip("_")
                     + ".pcapng")


@pytest.fixture(scope="session")
def mbedtls_pki() -> TestPKI:
    """A trustme ECDSA P-256 CA and ``localhost`` leaf, shared by the session."""
    from . import make_pki

    return make_pki("ecdsa")


@pytest.fixture(scope="session")
def mbedtls_rsa_pki() -> TestPKI:
    """A trustme RSA CA and ``localhost`` leaf, shared by the session."""
    from . import make_pki

    return make_pki("rsa")


@pytest.fixture
def dtls_cert_configs(mbedtls_pki: TestPKI) -> tuple[Config, Config]:
    """(client, server) configs authenticating the server with ``mbedtls_pki``."""
    from ..creds.configs import cert_configs

    return cert_configs(mbedtls_pki)


@pytest.fixture
def dtls_psk_configs() -> tuple[Config, Config]:
    """(client, server) configs sharing a PSK (TLS-PSK-WITH-AES-128-GCM-SHA256)."""
    from ..creds.configs import psk_configs

    return psk_configs()


@pytest.fixture
def dtls_pair(dtls_cert_configs: tuple[Config, Config], request: pytest.FixtureRequest
              ) -> Iterator[tuple[Context, Context, VirtualClock]]:
    """(client, server, clock): fresh contexts on one ``VirtualClock``; closed afterwards."""
    from . import new_pair

    folder = _capture_dir(request)
    if folder is None:
        client, server, clock = new_pair(*dtls_cert_configs)
    else:  # the same pair, recording its datagrams and keys
        from ..capture.pairs import PairTap, TappedContext
        from ..bindings.context import VirtualClock
        tap = PairTap()
        clock = VirtualClock()
        client = TappedContext(dtls_cert_configs[0], tap=tap, clock=clock, name="client")
        server = TappedContext(dtls_cert_configs[1], tap=tap, clock=clock, name="server")
        client.set_hostname("localhost")
    yield client, server, clock
    client.close()
    server.close()
    if folder is not None and (path := _failed_path(request, folder)) is not None:
        tap.save(path)


@pytest.fixture
def dtls_network(request: pytest.FixtureRequest) -> Iterator[Network]:
    """A simulated ``Network`` whose seed is the test's node id (or ``dtls_seed``)."""
    from ..sim.network import Network

    marker = request.node.get_closest_marker("dtls_seed")
    seed = marker.args[0] if marker else request.node.nodeid
    net = Network(seed=seed)
    folder = _capture_dir(request)
    with net:  # restores the thread's Mbed TLS time
        if folder is None:
            yield net
        else:  # keys of every context the test creates; the trace is the traffic
            cap = net.capture()
            with cap:
                yield net
            if (path := _failed_path(request, folder)) is not None:
                cap.save(path)
