"""The package's layers: dependencies point one way, the pure layers
import without the compiled extension, and the pytest plugin stays light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "mbedtls_py"

# layer -> the layers (and bindings) it may import; anything else is an upward import
# (imports under ``if TYPE_CHECKING:`` are not run-time dependencies and are not counted)
_FEATURES = {"repro", "explore", "sslopt", "attacks", "fuzz", "search"}
ALLOWED = {
    # the loader (variants/__init__) chooses the extension _lib imports
    "bindings": {"variants", "wire"},
    "wire": set(),
    "timing": set(),  # the timing models: data and draws, nothing of the package
    "creds": {"bindings"},
    "capture": {"bindings", "wire"},  # pcapng + key logs; sim and udp hook into it
    "sim": {"bindings", "wire", "capture"},
    "server": {"bindings", "wire"},
    "parties": {"bindings", "wire", "sim", "server", "foreign"},  # processes scenarios run on the network
    "udp": {"bindings", "wire", "server"},
    "peers": {"bindings", "creds", "udp"},
    # foreign TLS libraries in process (GnuTLS): the bindings' queues and clock, nothing else
    "foreign": {"bindings"},
    "repro": {"bindings", "wire", "creds", "sim", "server", "parties", "udp", "peers",
              "capture", "timing"},
    "explore": {"bindings", "wire", "creds", "sim", "server", "parties", "timing"},
    # gnutls-cli/-serv on foreign.gnutls; ssl_server2's reconnect guard from server
    "sslopt": {"bindings", "wire", "capture", "foreign", "timing", "server"},
    "attacks": {"bindings", "creds", "sim"},  # Duo drives a sim.pump.Pair
    "search": {"bindings", "wire", "capture", "sslopt", "explore"},  # ssl-opt cases, explore's engine
    "fuzz": {"bindings", "wire", "attacks"},
    # the loader (variants/__init__, used by the bindings' _lib) imports nothing of the
    # package (test below); its commands (build-variant, variants, matrix) are in cli
    "variants": {"bindings", "creds", "sim"},
    "testing": {"bindings", "creds", "sim", "capture", "sslopt", "variants"},
    "cli": {"bindings", "wire", "creds", "sim", "server", "udp", "peers", "capture", "variants",
            "timing"} | _FEATURES,
}


# The package root holds only the entry points and standard-library helpers
# every layer may use (argument parsing, progress lines, where the build
# machinery and the cache are, the fetch of pinned sources, addresses).
ROOT_ALLOWED = {"__init__": {"bindings"},  # its lazy re-exports
                "__main__": {"cli"}}


def _layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) < 2 or not (PKG / parts[1]).is_dir():
        return "root"  # a top-level module, or a name of the package itself
    return parts[1]


def _imports(path: Path) -> list[tuple[int, str]]:
    rel = path.relative_to(PKG.parent).with_suffix("")
    package = list(rel.parts[:-1])
    out = []
    tree = ast.parse(path.read_text())
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
                   for stmt in node.body for n in ast.walk(stmt)}
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                names = [target] if node.module else [f"{target}.{a.name}" for a in node.names]
            else:
                names = [node.module or ""]
            out += [(node.lineno, n) for n in names if n.startswith("mbedtls_py")]
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("mbedtls_py")]
    return out


def test_dependencies_point_one_way() -> None:
    """No module imports a layer above its own (wire imports nothing outside wire;
    nothing at run time imports testing; only cli imports cli); the root's
    modules import nothing but each other (the entry points aside)."""
    upward = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG)
        layer = rel.parts[0] if len(rel.parts) > 1 else "root"
        allowed = ROOT_ALLOWED.get(path.stem, set()) if layer == "root" else ALLOWED.get(layer)
        assert allowed is not None, f"{rel}: subpackage {layer!r} is missing from ALLOWED"
        for line, target in _imports(path):
            dep = _layer_of(target)
            if dep not in (layer, "root") and dep not in allowed:
                upward.append(f"{rel}:{line} imports {target} ({layer} -> {dep})")
    assert upward == []


def test_no_private_names_cross_packages() -> None:
    """A layer uses another's public names only: no ``from ..x import _name``
    and no ``..x._module`` import across subpackages (the bindings publish
    ``ffi``/``lib`` for raw calls; the root's ``_``-modules are its helpers)."""
    crossing = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG)
        layer = rel.parts[0] if len(rel.parts) > 1 else "root"
        tree = ast.parse(path.read_text())
        package = list(path.relative_to(PKG.parent).with_suffix("").parts[:-1])
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level:
                base = package[:len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("mbedtls_py"):
                continue
            dep = _layer_of(target)
            if dep in (layer, "root"):
                continue
            private = [p for p in target.split(".")[2:] if p.startswith("_") and p[:2] != "__"]
            private += [a.name for a in node.names if a.name.startswith("_") and a.name[:2] != "__"]
            if private:
                crossing.append(f"{rel}:{node.lineno} {target}: {', '.join(private)}")
    assert crossing == []


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _package_of(path: Path) -> str:
    rel = path.relative_to(PKG)
    return rel.parts[0] if len(rel.parts) > 1 else "root"  # the root's modules are one package


def _defined_names(tree: ast.Module) -> set[str]:
    """What a module defines: its globals (assigned or imported), every def and
    class, every class attribute (``__slots__`` entries too) and every
    ``self.X``/``cls.X`` it assigns."""
    names: set[str] = set()
    for top in tree.body:
        if isinstance(top, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in top.names}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        if isinstance(node, (ast.Module, ast.ClassDef)):
            for stmt in node.body:
                targets = (stmt.targets if isinstance(stmt, ast.Assign)
                           else [stmt.target] if isinstance(stmt, (ast.AnnAssign, ast.AugAssign)) else [])
                for t in targets:
                    names |= {n.id for n in ast.walk(t) if isinstance(n, ast.Name)}
                    if (isinstance(t, ast.Name) and t.id == "__slots__"
                            and isinstance(stmt, ast.Assign)):
                        names |= {c.value for c in ast.walk(stmt.value)
                                  if isinstance(c, ast.Constant) and isinstance(c.value, str)}
        if (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
                and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
            names.add(node.attr)
    return names


def _foreign_accesses(tree: ast.Module) -> list[tuple[int, str, str]]:
    """Every ``x._name`` (line, ``x``, ``_name``) whose ``x`` is not ``self``,
    ``cls`` or ``super()``."""
    out = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and _private(node.attr)):
            continue
        v = node.value
        if isinstance(v, ast.Name) and v.id in ("self", "cls"):
            continue
        if isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id == "super":
            continue
        out.append((node.lineno, ast.unparse(v), node.attr))
    return out


# Private names of other code the package may use, each for a reason.
PRIVATE_ALLOWED = {
    # the standard library's documented frame access: forward() names a
    # forwarded method after the class whose body calls it
    ("bindings/_ctxbase.py", "sys._getframe"),
}

def test_no_private_attributes_used_across_packages() -> None:
    """``x._name`` (``x`` not ``self``/``cls``) in a package is allowed only if
    that package itself defines ``_name`` (a global, def, class attribute or
    ``self._name``); the root's modules count as one package.  The check is by
    name, not by type: it keeps one package out of another's internals, and
    a package that must hand out a C pointer gives it a public accessor
    (``VirtualClock.c_pointer``)."""
    files = sorted(PKG.rglob("*.py"))
    trees = {path: ast.parse(path.read_text()) for path in files}
    defined: dict[str, set[str]] = {}
    for path, tree in trees.items():
        defined.setdefault(_package_of(path), set()).update(_defined_names(tree))
    crossing, used = [], set()
    for path, tree in trees.items():
        rel = path.relative_to(PKG).as_posix()
        for line, obj, name in _foreign_accesses(tree):
            key = (rel, f"{obj}.{name}")
            if key in PRIVATE_ALLOWED:
                used.add(key)
            elif name not in defined[_package_of(path)]:
                crossing.append(f"{rel}:{line} {obj}.{name}")
    assert crossing == []
    assert PRIVATE_ALLOWED - used == set(), "stale allowlist entries"


# Standard-library-only helpers the loader may use: where the cache and the
# build machinery are (they import nothing of the package but each other).
_LOADER_HELPERS = {"mbedtls_py._csrc": "_csrc.py",
                   "mbedtls_py.cachedir": "cachedir.py"}


def test_variant_loader_imports_nothing_of_the_package() -> None:
    """``mbedtls_py.variants`` is what the bindings' ``_lib`` loads the extension
    with: it must not import any layer (they import the bindings), only the
    standard-library-only helpers that say where things are."""
    assert [t for _, t in _imports(PKG / "variants" / "__init__.py")
            if t not in _LOADER_HELPERS] == []
    for file in _LOADER_HELPERS.values():
        assert {t for _, t in _imports(PKG / file)} <= set(_LOADER_HELPERS)


def _fresh(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.mark.parametrize("module", ["mbedtls_py", "mbedtls_py.wire.records", "mbedtls_py.wire.rules",
                                    "mbedtls_py.udp.proxy", "mbedtls_py.cli.proxy",
                                    "mbedtls_py.testing.plugin"])
def test_light_imports_do_not_load_the_extension(module: str) -> None:
    """The record parser, the rule language, the proxy and the pytest plugin import
    without the compiled extension (and without the simulator)."""
    loaded = _fresh(f"import sys, {module}; "
                    "print(sorted(m for m in sys.modules if m in ('mbedtls_py.bindings._lib', "
                    "'mbedtls_py._lib_default', 'mbedtls_py.sim.network', 'mbedtls_py.bindings.context')))")
    assert loaded == "[]"


def test_bindings_load_on_first_use() -> None:
    """``from mbedtls_py import Config, Context, Err`` still works, and loads (and
    checks) the extension; so does importing a bindings module directly."""
    assert _fresh("from mbedtls_py import Config, Context, Err, __mbedtls_version__; "
                  "print(Err.SSL_WANT_READ == -0x6900, __mbedtls_version__.count('.'))") == "True 2"
    assert _fresh("import mbedtls_py.bindings.context as c, mbedtls_py as m, sys; "
                  "print('mbedtls_py.bindings._lib' in sys.modules, m.__variant__ is not None)") == "True True"


TESTS = PKG.parent / "tests"

# White-box tests: private names of the package a test may use, each for a
# reason the public API cannot serve.  (path, ``module`` or ``x._name``.)
WHITE_BOX = {
    # C memory ownership and locking, which the public API cannot observe
    ("tests/bindings/test_composition.py", "mbedtls_py.bindings._ctxbase.forward"):
        "how Context/Config forward to their parts (the bindings' structure)",
    ("tests/bindings/test_composition.py", "mbedtls_py.bindings._owned.COwner"):
        "the one base class that owns the C objects",
    ("tests/bindings/test_lifetime.py", "client._owner"):
        "the C config's reference count (mpy_ref_count) a context retains",
    ("tests/bindings/test_lifetime.py", "ctx._cx"):
        "holds the lock close() takes, to prove every accessor waits for it",
    ("tests/capture/test_key_export.py", "ctx._cx"):
        "the C struct's secrets: what a memory dump would show, wiped or never written",
    # the root's standard-library helpers (the install layout, progress lines): no layer's API
    ("tests/project/test_install.py", "mbedtls_py._csrc"):
        "where the build machinery is, in a checkout and in a wheel",
    ("tests/project/test_install.py", "mbedtls_py._progress"):
        "progress lines off a terminal, with the interval patched to 0",
    ("tests/repro/test_repro.py", "mbedtls_py._csrc"):
        "an installation without build machinery, patched in (csrc_dir -> None)",
}


def _private_imports(tree: ast.Module) -> list[tuple[int, str]]:
    """Every import of a private name of the package: (line, dotted name) for a
    ``_``-module below ``mbedtls_py`` or an imported ``_name``."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mbedtls_py"):
            module = node.module or ""
            for a in node.names:
                full = f"{module}.{a.name}"
                if any(_private(p) for p in full.split(".")[1:]):
                    out.append((node.lineno, full))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("mbedtls_py")
                    and any(_private(p) for p in a.name.split(".")[1:])]
    return out


def test_tests_use_public_api_only() -> None:
    """The tests import no private name of the package (``mbedtls_py.x._y``,
    ``from ... import _name``) and use no ``x._name`` that tests/ does not
    define itself, except the white-box tests in WHITE_BOX (``__dunder__``
    names, ``mbedtls_py.__mbedtls_version__`` among them, are public)."""
    files = sorted(TESTS.rglob("*.py"))
    trees = {path: ast.parse(path.read_text()) for path in files}
    defined: set[str] = set()
    for tree in trees.values():
        defined |= _defined_names(tree)
    private, used = [], set()
    for path, tree in trees.items():
        rel = path.relative_to(PKG.parent).as_posix()
        found = _private_imports(tree)
        found += [(line, f"{obj}.{name}") for line, obj, name in _foreign_accesses(tree)
                  if name not in defined]
        for line, what in found:
            if (rel, what) in WHITE_BOX:
                used.add((rel, what))
            else:
                private.append(f"{rel}:{line} {what}")
    assert private == []
    assert set(WHITE_BOX) - used == set(), "stale WHITE_BOX entries"
