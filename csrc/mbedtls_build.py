"""Build script for ``mbedtls_py._lib_default``: the pinned Mbed TLS, compiled
statically into one cffi extension (API mode, out of line).

``setup.py`` names ``csrc/mbedtls_build.py:ffibuilder`` in ``cffi_modules`` and calls
``build_static_library()`` before the extension is compiled.  The native
benchmark driver (``bench/``) links the same archive.

The same steps build library variants (``mbedtls_py/variants``): a
:class:`Target` names the source tree, its identity and the extension module
(``mbedtls_py._lib_<name>``), and gets its own build directory, generated
headers and copy of the glue, so variants never share objects or symbols.

Run directly to compile in place for development:
``python csrc/mbedtls_build.py`` (equivalent to ``pip install -e .`` without pip).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import shutil
import importlib.util
import os
import re
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import NamedTuple

from cffi import FFI

CSRC = Path(__file__).resolve().parent
# A source checkout (csrc/ next to mbedtls_py/), or an installed wheel, which
# carries this directory as mbedtls_py/_build/csrc (setup.py's build_py):
# there only variants and upstream programs are built, into the user's cache.
CHECKOUT = (CSRC.parent / "mbedtls_py" / "_fetch.py").is_file()
ROOT = CSRC.parent if CHECKOUT else CSRC.parent.parent.parent  # the checkout; site-packages
PKG = ROOT / "mbedtls_py"
CONFIG_HEADER = "mbedtls_py_config.h"
GLUE_SOURCES = [CSRC / "glue.c", CSRC / "dgram_queue.c", CSRC / "conf_glue.c", CSRC / "ms_time.c",
                CSRC / "build_config.c"]
DEFAULT_MODULE = "mbedtls_py._lib_default"

sys.path.insert(0, str(CSRC))
from cdefs import MODULES  # noqa: E402
import layout  # noqa: E402  (csrc/layout.py: where a 2.x/3.x/4.x tree keeps its files)
from source_tables import write_err_stub, write_generated  # noqa: E402


def _load_fetch():
    """The package's ``_fetch.py`` (``vendor/fetch.py``'s implementation), by path:
    the package itself may not be importable yet (its extension is built here)."""
    name = "_mbedtls_py_fetch"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, PKG / "_fetch.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _cache_build_dir() -> Path:
    spec = importlib.util.spec_from_file_location("_mbedtls_py_cachedir", PKG / "cachedir.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return Path(module.cache_dir("build"))


fetch = _load_fetch()
PIN = fetch.PIN


def package_version() -> str:
    text = (PKG / "_version.py").read_text()
    return re.search(r'__version__\s*=\s*"([^"]+)"', text).group(1)


def mbedtls_source() -> Path:
    """The verified source tree, fetched if needed (a clear error if not)."""
    try:
        return fetch.ensure_source()
    except fetch.SourceError as e:
        raise SystemExit(f"error: {e}") from None


class Target(NamedTuple):
    """One extension to build: which Mbed TLS tree, into which module, where.

    ``identity`` keys the compiled archive: the pin's SHA-256 for a pinned
    source, a hash of the tree's sources for a local one.  ``csrc`` is where
    the glue is compiled from (the project's ``csrc`` for the default
    extension, a per-variant copy otherwise, so the glue's quoted includes of
    ``_generated/`` find this tree's generated headers)."""

    module: str
    src: Path
    version: str
    identity: str
    build_dir: Path
    csrc: Path = CSRC


def default_target() -> Target:
    """The extension every install has: the selected pin as ``mbedtls_py._lib_default``
    (``mbedtls_py/bindings/_lib.py`` loads it, or a variant)."""
    return Target(DEFAULT_MODULE, mbedtls_source(), PIN["version"], PIN["sha256"],
                  default_build_dir())


def default_build_dir() -> Path:
    """``.build/`` of the checkout; installed, ``cache_dir("build")``."""
    return ROOT / ".build" if CHECKOUT else _cache_build_dir()


def tree_hash(src: Path) -> str:
    """SHA-256 over the files of a tree that the build reads (library/*, include/**,
    3rdparty/**): a local tree's identity changes with any edit."""
    h = hashlib.sha256()
    subs = ["library", "include", "3rdparty"]
    if layout.is_tf_psa(src):
        subs += [f"{layout.CRYPTO}/{d}" for d in ("core", "drivers", "include")]
    for sub in subs:
        for path in sorted((src / sub).rglob("*")):
            if path.is_file() and path.suffix in (".c", ".h"):
                h.update(path.relative_to(src).as_posix().encode() + b"\0")
                h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


# ---- the static library -----------------------------------------------------

# MBEDTLS_PY_SANITIZE=1: Mbed TLS and the glue under AddressSanitizer +
# UndefinedBehaviorSanitizer (`./dev.sh sanitize`).  The flags enter the
# archive's hash, so the sanitized archive lives in its own build directory.
SANITIZE_FLAGS = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g"] \
    if os.environ.get("MBEDTLS_PY_SANITIZE", "") not in ("", "0") else []


def compiler() -> list[str]:
    """The C compiler (``$CC``, else Python's, else ``cc``); RuntimeError in one
    line naming what to install when there is none."""
    cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    if not cc or shutil.which(cc[0]) is None:
        if cc and shutil.which("cc") is not None and "CC" not in os.environ:
            return ["cc"]  # Python was built with a compiler this machine lacks
        raise RuntimeError(f"no C compiler ({cc[0] if cc else 'cc'} not found): install one, "
                           "e.g. `apt-get install gcc libc6-dev` (or set CC=...)")
    return cc


def check_toolchain() -> None:
    """RuntimeError, in one line naming what to install, unless a C compiler,
    ``ar`` and Python's headers (what the extension is compiled against) are here."""
    compiler()
    if shutil.which("ar") is None:
        raise RuntimeError("no `ar` (to archive Mbed TLS's objects): install binutils, "
                           "e.g. `apt-get install binutils`")
    include = Path(sysconfig.get_paths()["include"])
    if not (include / "Python.h").is_file():
        version = f"{sys.version_info[0]}.{sys.version_info[1]}"
        raise RuntimeError(f"no Python.h in {include}: install Python {version}'s development "
                           f"headers, e.g. `apt-get install python{version}-dev`")


def library_cflags(src: Path) -> list[str]:
    return [
        "-O2", "-fPIC", "-std=c99", "-D_POSIX_C_SOURCE=200809L",
        *(f"-I{d}" for d in layout.include_dirs(src)), f"-I{CSRC}",
        *(f"-D{k}={v}" for k, v in layout.config_defines(src, CONFIG_HEADER)),
    ] + SANITIZE_FLAGS


def static_library_path(src: Path, target: Target | None = None) -> Path:
    """Where the archive for this source, config and compiler lives."""
    key = hashlib.sha256()
    key.update((target.identity if target else PIN["sha256"]).encode())
    key.update((CSRC / CONFIG_HEADER).read_bytes())
    if layout.is_tf_psa(src):
        key.update((CSRC / layout.CRYPTO_CONFIG_HEADER).read_bytes())
    key.update(" ".join(compiler() + library_cflags(src)).encode())
    build_dir = target.build_dir if target else default_build_dir()
    return build_dir / f"mbedtls-{key.hexdigest()[:12]}" / "libmbedtls_py.a"


def build_static_library(verbose: bool = True, target: Target | None = None) -> Path:
    """Compile every ``library/*.c`` of the pinned source (or ``target``'s) in
    parallel into one PIC static archive (reused when nothing changed); return
    its path."""
    src = target.src if target else mbedtls_source()
    version = target.version if target else PIN["version"]
    archive = static_library_path(src, target)
    if archive.is_file():
        return archive
    objdir = archive.parent / "obj"
    objdir.mkdir(parents=True, exist_ok=True)
    sources = [c for d in layout.source_dirs(src) for c in sorted(d.glob("*.c"))]
    cc, flags = compiler(), library_cflags(src)

    def compile_one(c_file: Path) -> Path:
        # 4.x compiles three directories: keep same-named files apart
        obj = objdir / ("_".join(c_file.relative_to(src).with_suffix("").parts) + ".o")
        cmd = [*cc, *flags, "-c", str(c_file), "-o", str(obj)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"compiling {c_file.name} failed:\n{' '.join(cmd)}\n{proc.stderr}")
        return obj

    if verbose:
        print(f"mbedtls-py: compiling Mbed TLS {version} ({len(sources)} files)",
              file=sys.stderr)
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        objects = list(pool.map(compile_one, sources))
    tmp = archive.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    subprocess.run(["ar", "rcs", str(tmp), *map(str, objects)], check=True)
    tmp.replace(archive)
    return archive


# ---- the cffi builder --------------------------------------------------------

def make_ffibuilder(target: Target | None = None) -> FFI:
    """The cffi builder of ``target`` (default: ``mbedtls_py._lib_default``)."""
    target = target or default_target()
    src, version = target.src, target.version
    error_cdef = write_generated(src, target.csrc / "_generated")
    if target.module == DEFAULT_MODULE and version == fetch.DEFAULT_VERSION:
        # the default pin's members; variants and MBEDTLS_PY_PIN builds keep the stub
        write_err_stub(src, PKG / "bindings" / "_err.pyi", PIN["version"])
    modules = [__import__(f"cdefs.{name}", fromlist=["_"]) for name in MODULES]
    ffi = FFI()
    ffi.cdef(error_cdef + "".join(m.TYPES for m in modules)
             + "".join(m.FUNCTIONS for m in modules))
    preamble = "".join(m.INCLUDES for m in modules) + '#include "_generated/error_headers.h"\n' + f"""
#include "mbedtls/version.h" /* MBEDTLS_VERSION_NUMBER, in 2.x and 3.x */
#if MBEDTLS_VERSION_NUMBER != {_version_number(version)}
#error "this extension is built for Mbed TLS {version}"
#endif
const char *mpy_package_version(void) {{ return "{package_version()}"; }}
const char *mpy_pinned_mbedtls_version(void) {{ return "{version}"; }}
"""
    if not sys.platform.startswith("linux"):
        # The link needs GNU ld: --wrap makes mbedtls_ms_time() the harness's
        # (csrc/ms_time.c; without it session tickets would follow the real
        # clock and seeded runs would not replay), --exclude-libs keeps Mbed
        # TLS's symbols local.  Say so rather than build something else.
        raise RuntimeError(f"mbedtls-py builds on Linux only (GNU ld's -Wl,--wrap and "
                           f"--exclude-libs); this is {sys.platform}")
    if target.csrc == CSRC:  # setuptools wants paths relative to the project
        sources = [str(p.relative_to(ROOT)) for p in GLUE_SOURCES]
    else:
        sources = [str(target.csrc / p.name) for p in GLUE_SOURCES]
    ffi.set_source(
        target.module,
        preamble,
        sources=sources,
        include_dirs=[str(target.csrc), *map(str, layout.include_dirs(src))],
        define_macros=layout.config_defines(src, CONFIG_HEADER, program=True),
        extra_objects=[str(static_library_path(src, target))],
        libraries=["pthread"],
        # Keep Mbed TLS's symbols local to the extension: calls between its own
        # functions then bind directly instead of through the PLT (about 7 %
        # of a certificate handshake; see bench/README.md).
        # --wrap: mbedtls_ms_time() reads the harness's clock (csrc/ms_time.c).
        extra_link_args=["-Wl,--exclude-libs,ALL", "-Wl,--wrap=mbedtls_ms_time"]
        + SANITIZE_FLAGS[:1],
        # Warnings on for the project's own C (the glue).
        # C11: the glue's thread-local state is _Thread_local (glue.h).
        extra_compile_args=["-std=c11", "-D_POSIX_C_SOURCE=200809L", "-Wall", "-Wextra",
                            "-Wno-unused-parameter"] + SANITIZE_FLAGS,
    )
    return ffi


def _version_number(version: str) -> str:
    major, minor, patch = (int(x) for x in version.split("."))
    return f"0x{major:02X}{minor:02X}{patch:02X}00"


def build_extension(target: Target, verbose: bool = True) -> Path:
    """Build ``target`` out of tree (a library variant): copy the glue into its
    ``csrc``, compile the archive and the extension in its ``build_dir``;
    return the path of the extension file."""
    target.csrc.mkdir(parents=True, exist_ok=True)
    for path in [*GLUE_SOURCES, *sorted(CSRC.glob("*.h"))]:
        shutil.copy2(path, target.csrc / path.name)
    build_static_library(verbose=verbose, target=target)
    ffi = make_ffibuilder(target)
    if verbose:
        print(f"mbedtls-py: compiling {target.module}", file=sys.stderr)
    return Path(ffi.compile(tmpdir=str(target.build_dir / "ext"), verbose=False))


def remove_stale_extensions() -> None:
    """Delete built default extensions of any tag, and the old ``_lib.*.so`` that
    would shadow the loader ``mbedtls_py/bindings/_lib.py`` (extensions win over .py)."""
    for pattern in ("_lib.*so", "_lib_default.*so"):
        for stale in (ROOT / "mbedtls_py").glob(pattern):
            stale.unlink()


# setup.py's cffi_modules calls this (it is not an FFI); other importers
# (variants, the upstream samples) need not build the default extension.
ffibuilder = make_ffibuilder

if __name__ == "__main__":
    build_static_library()
    os.chdir(ROOT)
    # One extension file only: an older one of another tag (abi3 from pip,
    # cpython-3xx from here) would otherwise shadow or be shadowed.
    remove_stale_extensions()
    make_ffibuilder().compile(verbose=False)
