"""Which Mbed TLS tree the ssl-opt cases come from, and with them every file
they name.

ssl-opt.sh runs from its ``tests/`` directory: the cases' data files
(``../framework/data_files/server5.crt``), the programs' default
certificates and the real peers' working directory are all relative to it.
:func:`~mbedtls_py.sslopt.parse.load_cases` records the ``tests/`` directory
of the file it read (:func:`use`), and everything else asks
:func:`tests_dir`, so ``--ssl-opt PATH`` moves all of it to PATH's tree.

The default tree is the selected pin's source: ``vendor/mbedtls`` in a
checkout; installed, the per-user cache (``mbedtls_py.cachedir``), fetched on
first use through ``mbedtls_py._fetch`` (the same verified path as
``vendor/fetch.py``).
"""

from __future__ import annotations

from pathlib import Path

from .._csrc import fetch_module

__all__ = ["SourceUnavailable", "default_ssl_opt", "ensure_ssl_opt", "use", "use_for",
           "tests_dir", "data_dir"]

_CURRENT: list[Path] = []


class SourceUnavailable(FileNotFoundError):
    """The pinned source's ssl-opt.sh is not here and could not be fetched; the
    message says what to do."""


def default_ssl_opt() -> Path:
    """Where the selected pin's ``tests/ssl-opt.sh`` is (or will be, once
    fetched); nothing is fetched here."""
    fetch = fetch_module()
    return Path(fetch.source_dir(fetch.PIN)) / "tests" / "ssl-opt.sh"


def ensure_ssl_opt() -> Path:
    """:func:`default_ssl_opt`, fetched and verified first if it is missing."""
    path = default_ssl_opt()
    if path.is_file():
        return path
    fetch = fetch_module()
    try:
        # a tree without its tests (an older sdist's partial copy) is unpacked again
        fetch.ensure_source(force=bool(fetch.is_ready(fetch.PIN)))
    except fetch.SourceError as e:
        raise SourceUnavailable(f"{path} is missing and could not be fetched: {e}\n"
                                "  Or run upstream's cases from any unpacked Mbed TLS tree: "
                                "--ssl-opt /path/to/mbedtls/tests/ssl-opt.sh") from None
    if not path.is_file():
        raise SourceUnavailable(f"{path}: the fetched Mbed TLS source has no tests/ssl-opt.sh")
    return path


def use(tests: Path) -> None:
    """Make ``tests`` (an ssl-opt.sh's directory) the tree of this process."""
    _CURRENT[:] = [tests.resolve()]


def use_for(case: object) -> None:
    """Make the tree ``case`` was read from (``load_cases`` records it) current:
    cases of two trees may run in one process."""
    tests = getattr(case, "_tests", None)
    if tests is not None:
        use(tests)


def tests_dir() -> Path:
    """The ``tests/`` directory of the cases loaded last (else the default tree's)."""
    return _CURRENT[0] if _CURRENT else default_ssl_opt().parent


def data_dir() -> Path:
    """That tree's ``framework/data_files`` (ssl-opt.sh's ``$DATA_FILES_PATH``)."""
    return tests_dir().parent / "framework" / "data_files"
