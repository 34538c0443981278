"""Hooks other features hang on a :class:`~mbedtls_py.sim.Network`: an
interceptor that sees every datagram before the rules (the schedule explorer's
faults, :mod:`mbedtls_py.explore`) and a capture of the run with its keys
(:mod:`mbedtls_py.capture`).  A mixin, so the network module stays about the
network itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..bindings.context import Context
from .endpoints import Held

if TYPE_CHECKING:
    from ..capture import Capture

__all__ = ["Interceptor", "NetworkHooks"]

Interceptor = Callable[[str, str, int, bytes], "tuple[str, str] | None"]
"""What ``Network.intercept`` takes."""


class NetworkHooks:
    """Interceptor and capture for :class:`~mbedtls_py.sim.Network` (a mixin)."""

    _interceptor: Interceptor | None = None
    _capture: Any = None

    if TYPE_CHECKING:  # what the Network provides
        held: list[Held]
        clock: Any

        def _event(self, kind: str, src: str, dst: str = "", data: bytes = b"",
                   note: str = "", call: str | None = None, rc: int | None = None) -> Any: ...

    def intercept(self, fn: Interceptor | None) -> None:
        """Have ``fn(src, dst, index, data)`` see every datagram as it is sent,
        before the rules (``index``: its 1-based number on that direction).
        It returns ``None`` (pass it on), ``("drop", note)`` or ``("hold",
        tag)`` (release or drop it later by tag).  One per network; ``None``
        removes it.  The schedule explorer uses it for its faults."""
        if fn is not None and not callable(fn):
            raise TypeError("fn must be callable or None")
        self._interceptor = fn

    def _intercepted(self, src: str, dst: str, index: int, data: bytes) -> bool:
        """Run the interceptor on a datagram being sent; True if it took it."""
        if self._interceptor is None:
            return False
        taken = self._interceptor(src, dst, index, data)
        if taken is None:
            return False
        action, note = taken
        if action not in ("drop", "hold"):
            raise ValueError(f"an interceptor returns None, ('drop', note) or "
                             f"('hold', tag), not {taken!r}")
        if action == "hold":
            self.held.append(Held(self.clock.now_ms, src, dst, data, note, None))
        self._event(action, src, dst, data, f"interceptor: {note}")
        return True

    def capture(self, path: Any = None, **options: Any) -> Capture:
        """Start a capture of this network (a :class:`mbedtls_py.capture.Capture`):
        key export on for its contexts, events kept; ``save()`` or leaving a
        ``with net.capture("race.pcapng"):`` block writes pcapng with the keys."""
        from ..capture import Capture
        from .network import Network
        assert isinstance(self, Network)  # the mixin's only user
        capture = Capture(self, path, **options)
        self._capture = capture
        return capture

    def _captured(self, ctx: Context) -> None:
        """A context joins the network: key export on while a capture runs."""
        if self._capture is not None:
            self._capture.adopt(ctx)
