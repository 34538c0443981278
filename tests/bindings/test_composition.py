"""The bindings' classes are composed, not assembled from mixins: ``Context``
and ``Config`` derive from ``COwner`` only, own their parts, and forward to
them with the parts' own signatures and docstrings."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import mbedtls_py
from mbedtls_py import Config, Context
from mbedtls_py.bindings._ctxbase import forward
from mbedtls_py.bindings._owned import COwner

ROOT = Path(mbedtls_py.__file__).parent / "bindings"


def test_context_and_config_have_no_mixins() -> None:
    """Each is one class in one file; its parts are attributes, not bases."""
    assert Context.__bases__ == (COwner,)
    assert Config.__bases__ == (COwner,)


@pytest.mark.parametrize("path", sorted(ROOT.glob("*.py")), ids=lambda p: p.name)
def test_no_class_declares_state_under_type_checking(path: Path) -> None:
    """No class body of the bindings redeclares another class's state for the type checker."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ClassDef):
            for stmt in node.body:
                assert not (isinstance(stmt, ast.If) and "TYPE_CHECKING" in ast.unparse(stmt.test)), \
                    f"{path.name}: class {node.name} has an `if TYPE_CHECKING:` block"


def test_a_forward_keeps_the_parts_signature_and_docstring() -> None:
    """``forward`` writes the part's parameters out: defaults and keyword-only ones too."""
    class Part:
        def call(self, a: int, b: int = 2, *, c: int = 3) -> int:
            """The part's docstring."""
            return a * 100 + b * 10 + c

    class Owner:
        def __init__(self) -> None:
            self._part = Part()

        call = forward("_part", Part.call)

    owner = Owner()
    assert (owner.call(1), owner.call(1, 5, c=0)) == (123, 150)
    assert Owner.call.__doc__ == "The part's docstring."
    assert inspect.signature(Owner.call) == inspect.signature(Part.call)
    assert Owner.call.__qualname__.endswith("Owner.call")  # errors name the owner's method
    with pytest.raises(TypeError, match=r"Owner\.call\(\) takes"):
        owner.call(1, 2, 3)  # type: ignore[call-arg]  # c is keyword-only, as in the part


def test_forward_refuses_what_it_cannot_write_out() -> None:
    """``*args`` / ``**kwargs`` methods and a part name that is not an identifier."""
    class Part:
        def spread(self, *args: int) -> int:
            return len(args)

        def plain(self) -> int:
            return 0

    with pytest.raises(TypeError, match="cannot forward"):
        forward("_part", Part.spread)
    with pytest.raises(TypeError, match="cannot forward"):
        forward("_part; x", Part.plain)


def test_an_uninitialised_context_still_says_so() -> None:
    """Made without ``__init__``, a call through any part raises the COwner TypeError."""
    ctx = Context.__new__(Context)
    calls = (lambda: ctx.push(b"x"), ctx.timer_deadline, ctx.exported_keys, ctx.reinit,
             ctx.min_mtu, ctx.handshake, lambda: ctx.pending_in)
    for call in calls:
        with pytest.raises(TypeError, match="not initialised"):
            call()
