"""Hooks other features hang on a :class:`~mbedtls_py.sim.Network`: an
interceptor that sees every datagram before the rules (the schedule explorer's
faults, :mod:`mbedtls_py.explore`) and a capture of the run with its keys
(:mod:`mbedtls_py.capture`).  One part of the network (:class:`Hooks`), so the
network module stays about the network itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..bindings.context import Context

if TYPE_CHECKING:
    from ..capture import Capture
    from .network import Network

__all__ = ["Interceptor", "Hooks"]

Interceptor = Callable[[str, str, int, bytes], "tuple[str, str] | None"]
"""What ``Network.intercept`` takes."""


class Hooks:
    """The interceptor and the running capture of a network."""

    def __init__(self) -> None:
        self.interceptor: Interceptor | None = None
        self.capture: Capture | None = None

    def intercept(self, fn: Interceptor | None) -> None:
        """Set (or, with ``None``, remove) the interceptor."""
        if fn is not None and not callable(fn):
            raise TypeError("fn must be callable or None")
        self.interceptor = fn

    def intercepted(self, src: str, dst: str, index: int,
                    data: bytes) -> tuple[str, str] | None:
        """The interceptor's verdict on a datagram being sent: ``None`` (pass
        it on), ``("drop", note)`` or ``("hold", tag)``."""
        if self.interceptor is None:
            return None
        taken = self.interceptor(src, dst, index, data)
        if taken is None:
            return None
        action, _note = taken
        if action not in ("drop", "hold"):
            raise ValueError(f"an interceptor returns None, ('drop', note) or "
                             f"('hold', tag), not {taken!r}")
        return taken

    def start_capture(self, net: Network, path: Any = None, **options: Any) -> Capture:
        """Start a capture of ``net`` (see ``Network.capture``)."""
        from ..capture import Capture
        capture = Capture(net, path, **options)
        self.capture = capture
        return capture

    def adopt(self, ctx: Context) -> None:
        """A context joins the network: key export on while a capture runs."""
        if self.capture is not None:
            self.capture.adopt(ctx)
