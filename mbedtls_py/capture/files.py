"""File names for ``--pcap FILE`` / ``--keylog FILE`` with several runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["capture_paths", "check_writable", "run_captured"]

T = TypeVar("T")


def capture_paths(path: str | Path | None, *parts: object, several: bool) -> Path | None:
    """``path`` itself for one run; with several, ``path`` with the parts
    (scenario, policy, ``seedN``) inserted before the extension:
    ``race.pcapng`` -> ``race.late-close-notify.none.seed3.pcapng``."""
    if path is None:
        return None
    p = Path(path)
    if not several:
        return p
    tag = ".".join(str(x).replace("/", "_").replace(" ", "_") for x in parts if x != "")
    return p.with_name(f"{p.stem}.{tag}{p.suffix}" if p.suffix else f"{p.name}.{tag}")


def check_writable(path: str | Path | None, what: str) -> None:
    """Raise ``ValueError`` (a one-line CLI error) when ``path``'s folder is missing."""
    if path is None:
        return
    folder = Path(path).resolve().parent
    if not folder.is_dir():
        raise ValueError(f"{what} {path}: folder {folder} does not exist")


def run_captured(run: Callable[..., T], pcap: str | Path | None, keylog: str | Path | None,
                 **kwargs: Any) -> T:
    """Call ``run(on_network=..., **kwargs)`` (e.g. ``scenarios.run_scenario``)
    with a capture of the network it makes and key export on for every context
    created meanwhile; write ``pcap`` and/or ``keylog``."""
    from ..bindings.context import export_keys_to

    caps: list[Any] = []
    keys: list[str] = []
    with export_keys_to(keys.append):
        result = run(on_network=lambda net: caps.append(net.capture()), **kwargs)
    if caps:
        cap = caps[-1]
        for line in keys:
            cap.add_key(line)
        cap.save(pcap, keylog=keylog)
    return result
