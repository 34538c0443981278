"""The simulated network is composed, not assembled from mixins: ``Network``
derives from nothing, owns its parts, and no part (nor the capture) reaches
into another object's private attributes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mbedtls_py
from mbedtls_py.sim import Network

PKG = Path(mbedtls_py.__file__).parent
SIM = sorted((PKG / "sim").glob("*.py"))


def test_network_has_no_bases() -> None:
    """One class in one file; its parts are attributes, not bases."""
    assert Network.__bases__ == (object,)


@pytest.mark.parametrize("path", SIM, ids=lambda p: p.name)
def test_no_class_declares_state_under_type_checking(path: Path) -> None:
    """No class body of sim/ redeclares another class's state for the type checker."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ClassDef):
            for stmt in node.body:
                assert not (isinstance(stmt, ast.If) and "TYPE_CHECKING" in ast.unparse(stmt.test)), \
                    f"{path.name}: class {node.name} has an `if TYPE_CHECKING:` block"


@pytest.mark.parametrize("path", [*SIM, PKG / "capture" / "sim.py"], ids=lambda p: p.name)
def test_no_private_attribute_of_another_object_is_touched(path: Path) -> None:
    """``obj._name`` only on ``self``/``cls``: parts talk through public names."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        on_self = isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
            and node.value.id in ("self", "cls")
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") \
                and not node.attr.startswith("__") and not on_self:
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    assert found == [], f"{path.name}: {found}"
