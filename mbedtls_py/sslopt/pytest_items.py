"""ssl-opt.sh cases as pytest items: ``pytest --mbedtls-ssl-opt REGEX``.

Each selected DTLS case (and seed, with ``--mbedtls-ssl-opt-seeds N``)
becomes an item named ``ssl-opt[<case name>][seed]``, so ``-k``, ``-x`` and
``-n`` (xdist) work as usual.  PASS passes; FAIL fails with ssl-opt.sh's
message, the command that replays it and the tail of both outputs; SKIP,
UNSUPPORTED and NOTRUN are skips with their reason.  ``--mbedtls-ssl-opt-path
PATH`` reads the cases (and their data files) from another tree.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

__all__ = ["pytest_addoption", "pytest_collection_modifyitems", "SslOptItem"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mbedtls-py")
    group.addoption("--mbedtls-ssl-opt", metavar="REGEX", default=None,
                    help="collect the DTLS cases of the pinned ssl-opt.sh whose name matches REGEX")
    group.addoption("--mbedtls-ssl-opt-seeds", metavar="N", type=int, default=1,
                    help="seeds per ssl-opt case (default 1)")
    group.addoption("--mbedtls-ssl-opt-path", metavar="PATH", default=None,
                    help="the ssl-opt.sh of another Mbed TLS tree (its data files too; default: "
                         "the pinned source's, fetched into the user's cache when installed)")


class SslOptItem(pytest.Item):
    """One ssl-opt.sh case with one seed."""

    def __init__(self, *, case: Any, seed: int, **kw: Any) -> None:
        super().__init__(**kw)
        self.case, self.seed = case, seed

    def runtest(self) -> None:
        from .runner import run_case
        r = run_case(self.case, self.seed)
        if r.verdict in ("SKIP", "UNSUPPORTED", "NOTRUN"):
            pytest.skip(f"{r.verdict}: {r.reason}")
        if r.verdict != "PASS":
            raise AssertionError(
                f"{r.reason}\nreplay: python -m mbedtls_py ssl-opt --trace "
                f"'{self.case.name}' --seed {self.seed}\n--- server (tail)\n{r.srv_out[-1500:]}"
                f"\n--- client (tail)\n{r.cli_out[-1500:]}")

    def reportinfo(self) -> tuple[Any, int, str]:
        return self.path, self.case.line, f"ssl-opt: {self.case.name} (seed {self.seed})"

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, AssertionError):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    regex = config.getoption("--mbedtls-ssl-opt", default=None)
    if not regex:
        return
    from .parse import load_cases
    try:
        rx = re.compile(regex)
        cases = load_cases(config.getoption("--mbedtls-ssl-opt-path", default=None))
    except (re.error, OSError) as e:  # a usage error, not an INTERNALERROR traceback
        raise pytest.UsageError(f"--mbedtls-ssl-opt: {e}") from None
    seeds = max(1, config.getoption("--mbedtls-ssl-opt-seeds"))
    for case in cases:
        if case.dtls and rx.search(case.name):
            for seed in range(1, seeds + 1):
                items.append(SslOptItem.from_parent(session, name=f"ssl-opt[{case.name}][{seed}]",
                                                    case=case, seed=seed))
