"""Where an Mbed TLS tree keeps what the build reads, by major version.

2.x and 3.x: ``library/*.c`` and ``include/``.  4.x moved the crypto into
TF-PSA-Crypto (``tf-psa-crypto/core``, ``tf-psa-crypto/drivers/builtin``,
their own ``include/`` trees) and no longer carries its generated sources in
the git tree (the PSA driver wrappers, ``error.c``, the config checks,
``query_config.c``): upstream's own Makefiles generate them, with Python
(jinja2, jsonschema) and Perl.  ``prepare`` does that in a copy, so a user's
checkout is never written to.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["is_tf_psa", "source_dirs", "include_dirs", "header_roots", "config_defines",
           "needs_generation", "prepare", "LayoutError"]

CRYPTO = "tf-psa-crypto"
CRYPTO_CONFIG_HEADER = "mbedtls_py_crypto_config.h"

# What a 4.x library build reads (and so what a prepared copy holds).
_COPIED_4 = ("library", "include", "scripts", "framework", "programs/test",
             CRYPTO + "/core", CRYPTO + "/drivers", CRYPTO + "/include", CRYPTO + "/scripts",
             CRYPTO + "/framework", CRYPTO + "/programs/psa", "3rdparty")


class LayoutError(RuntimeError):
    """A tree cannot be prepared; the message says what to install or fix."""


def is_tf_psa(src: Path) -> bool:
    """True for a 4.x tree (crypto in ``tf-psa-crypto/``)."""
    return (src / CRYPTO / "core").is_dir()


def source_dirs(src: Path) -> list[Path]:
    """The directories whose ``*.c`` make the library."""
    if is_tf_psa(src):
        return [src / "library", src / CRYPTO / "core", src / CRYPTO / "drivers" / "builtin" / "src"]
    return [src / "library"]


def include_dirs(src: Path) -> list[Path]:
    """Public and private include directories, public first."""
    if is_tf_psa(src):
        c = src / CRYPTO
        return [src / "include", c / "include", c / "drivers" / "builtin" / "include",
                c / "drivers" / "everest" / "include", c / "drivers" / "p256-m",
                src / "library", c / "core", c / "drivers" / "builtin" / "src"]
    return [src / "include", src / "library"]


def header_roots(src: Path) -> list[Path]:
    """The public header trees (error codes, the ``Err`` table)."""
    if is_tf_psa(src):
        c = src / CRYPTO
        return [src / "include", c / "include", c / "drivers" / "builtin" / "include"]
    return [src / "include"]


def config_defines(src: Path, config_header: str, program: bool = False) -> list[tuple[str, str]]:
    """The user-config macros the project's headers go in through; with
    ``program``, also what a 4.x program (the glue, the extension, as upstream's
    test programs do) defines to see TF-PSA-Crypto's private identifiers."""
    defines = [("MBEDTLS_USER_CONFIG_FILE", f'"{config_header}"')]
    if is_tf_psa(src):
        defines.append(("TF_PSA_CRYPTO_USER_CONFIG_FILE", f'"{CRYPTO_CONFIG_HEADER}"'))
        if program:
            # empty, as private_access.h defines it (no redefinition warning)
            defines.append(("MBEDTLS_DECLARE_PRIVATE_IDENTIFIERS", ""))
    return defines


def _generated_present(src: Path) -> bool:
    return all((src / p).is_file() for p in (
        CRYPTO + "/core/psa_crypto_driver_wrappers.h", "library/error.c",
        "library/mbedtls_config_check_user.h", "programs/test/query_config.c"))


def needs_generation(src: Path) -> bool:
    """True when a 4.x tree lacks the sources upstream's build generates."""
    return is_tf_psa(src) and not _generated_present(src)


def prepare(src: Path, dest: Path, verbose: bool = True) -> Path:
    """A buildable copy of a 4.x tree in ``dest`` (the generated sources made
    by upstream's own scripts); ``src`` itself when it needs nothing."""
    if not needs_generation(src):
        return src
    for tool, what in (("make", "make"), ("perl", "perl")):
        if shutil.which(tool) is None:
            raise LayoutError(f"generating Mbed TLS 4.x sources needs {tool}: "
                              f"apt-get install {what}")
    missing = [m for m in ("jinja2", "jsonschema") if not _importable(m)]
    if missing:
        raise LayoutError(f"generating Mbed TLS 4.x sources needs the Python packages "
                          f"{' and '.join(missing)}: pip install {' '.join(missing)}")
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for sub in _COPIED_4:
        if (src / sub).is_dir():
            shutil.copytree(src / sub, dest / sub, symlinks=True)
    for top in ("LICENSE", "ChangeLog"):
        if (src / top).is_file():
            shutil.copy2(src / top, dest / top)
    if verbose:
        print(f"mbedtls-py: generating the Mbed TLS 4.x sources in {dest}", file=sys.stderr)
    for cmd in (["make", "-C", "library", "generated_files", f"PYTHON={sys.executable}",
                 "PERL=perl"],
                ["perl", "scripts/generate_query_config.pl"]):
        proc = subprocess.run(cmd, cwd=dest,
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise LayoutError(f"{' '.join(cmd)} failed in {dest}:\n{proc.stdout[-2000:]}"
                              f"{proc.stderr[-2000:]}")
    return dest


def _importable(module: str) -> bool:
    import importlib.util
    return importlib.util.find_spec(module) is not None
