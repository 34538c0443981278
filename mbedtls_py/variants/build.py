"""Building library variants: one Mbed TLS tree (a pinned version, a patched
copy, a local tree of any version) compiled into its own extension in the
variant's directory, then imported in a fresh process to check it before it
is recorded as built.  The command is ``mbedtls-py build-variant``
(:mod:`mbedtls_py.cli.build_variant`)."""

from __future__ import annotations

import datetime
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from .._csrc import load_build
from . import DEFAULT, ENV, Variant, check_name, csrc_hash, find, module_name, variants_dir

__all__ = ["BuildError", "MissingTool", "build_variant", "csrc_build"]

COPIED = ("library", "include", "3rdparty")  # what a patched copy needs to build the library
# build_config()'s macro table is generated from this file (csrc/mbedtls_build.py)
COPIED_FILES = ("LICENSE", "programs/test/query_config.c")


class BuildError(RuntimeError):
    """The variant could not be built; the message says why and what to do."""


class MissingTool(BuildError):
    """No build machinery or C toolchain here; the one-line message names what to install."""


def csrc_build() -> ModuleType:
    """The build script (``csrc/mbedtls_build.py`` of the checkout, or the copy
    the wheel carries) as a module; BuildError (one line) when it or a C
    toolchain is missing."""
    try:
        return load_build()
    except RuntimeError as e:
        raise MissingTool(str(e)) from None


def _git(src: Path, *args: str) -> bytes | None:
    try:
        proc = subprocess.run(["git", "-C", str(src), *args], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None


def describe_tree(src: Path) -> dict[str, Any]:
    """Where a local tree comes from: its path, and for a git checkout the
    ``git describe`` and a hash of its uncommitted diff."""
    info: dict[str, Any] = {"kind": "directory", "path": str(src)}
    top = _git(src, "rev-parse", "--show-toplevel")
    if top is not None:
        info["git_describe"] = (_git(src, "describe", "--always", "--dirty", "--tags")
                                or b"").decode().strip()
        diff = _git(src, "diff", "HEAD", "--binary") or b""
        info["diff_sha256"] = hashlib.sha256(diff).hexdigest()
        info["diff_bytes"] = len(diff)
    return info


def _apply_patches(src: Path, dest: Path, patches: list[Path]) -> list[dict[str, str]]:
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for sub in COPIED:
        if (src / sub).is_dir():
            shutil.copytree(src / sub, dest / sub, symlinks=True)
    for name in COPIED_FILES:
        if (src / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / name, dest / name)
    applied = []
    for patch in patches:
        proc = subprocess.run(["patch", "-p1", "--batch", "--forward", "-d", str(dest),
                               "-i", str(patch)], capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise BuildError(f"{patch} does not apply to {src}:\n{proc.stdout}{proc.stderr}")
        applied.append({"path": str(patch), "sha256": hashlib.sha256(patch.read_bytes()).hexdigest()})
    return applied


def _default_name(version: str | None, source: Path | None, patches: list[Path]) -> str:
    if version is None:
        raise BuildError("--name is required with --source (e.g. --name my-fix)")
    if not patches:
        return version
    return version + "+" + "+".join(p.name.split("-")[0] for p in patches)


def _up_to_date(vdir: Path, rebuild: str, identity: str, patches: list[Path], src: Path,
                b: ModuleType) -> bool:
    """True when ``vdir`` holds a loadable build of the same inputs."""
    try:
        info = json.loads((vdir / "variant.json").read_text())
    except (OSError, ValueError):
        return False
    if info.get("rebuild") != rebuild or info.get("csrc_hash") != csrc_hash() \
            or info.get("python") != sys.version.split()[0] \
            or not (vdir / info.get("extension", "-")).is_file():
        return False
    if [p["sha256"] for p in info.get("patches", [])] != \
            [hashlib.sha256(p.read_bytes()).hexdigest() for p in patches]:
        return False
    if identity:  # a pin: its SHA-256 was checked when it was fetched
        return bool(info.get("source", {}).get("sha256") == identity)
    return bool(info.get("tree_sha256") == b.tree_hash(src))


def build_variant(version: str | None = None, *, source: Path | None = None,
                  name: str | None = None, patches: list[Path] | None = None,
                  verbose: bool = True, force: bool = False) -> Variant:
    """Build one variant (unless an up-to-date build of the same inputs exists,
    or ``force``) and return it, checked by importing it."""
    b = csrc_build()
    fetch = b.fetch
    patches = [p.resolve() for p in patches or []]
    for p in patches:
        if not p.is_file():
            raise BuildError(f"no patch file {p}")
    if version is None and source is None and os.environ.get("MBEDTLS_SOURCE"):
        source = Path(os.environ["MBEDTLS_SOURCE"])
        if not source.is_dir():
            raise BuildError(f"MBEDTLS_SOURCE={source} is not a directory (a variant is "
                             "built from a pinned version or an unpacked tree)")
    if (version is None) == (source is None):
        raise BuildError("give a pinned VERSION or --source DIR (one of them)")
    name = check_name(name or _default_name(version, source, patches))
    if name == DEFAULT:
        raise BuildError("'default' is the built-in extension; choose another --name")
    rebuild = [version] if version else ["--source", str(source), "--name", name]
    rebuild += [x for p in patches for x in ("--patch", str(p))]
    if version is not None:
        try:
            pin = fetch.get_pin(version)
            src = Path(fetch.ensure_source(version=version, override=False))
        except fetch.SourceError as e:
            raise BuildError(str(e)) from None
        info: dict[str, Any] = {"kind": "pin", "version": version,
                                "debian_version": pin["debian_version"], "sha256": pin["sha256"]}
        identity = str(pin["sha256"])
    else:
        assert source is not None
        src = source.expanduser().resolve()
        if not (src / "include" / "mbedtls").is_dir() or not (src / "library").is_dir():
            raise BuildError(f"{src} is not an Mbed TLS tree (no include/mbedtls, library/)")
        info = describe_tree(src)
        identity = ""
    mbedtls_version = fetch.source_version(src)
    if mbedtls_version is None:
        raise BuildError(f"{src}: no MBEDTLS_VERSION_STRING in include/mbedtls/"
                         "build_info.h or version.h")
    vdir = variants_dir() / name
    vdir.mkdir(parents=True, exist_ok=True)
    with open(vdir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build of a variant at a time
        if not force and _up_to_date(vdir, " ".join(rebuild), identity, patches, src, b):
            if verbose:
                print(f"mbedtls-py: variant {name} is up to date", file=sys.stderr)
            return find(name)
        applied: list[dict[str, str]] = []
        if patches:
            applied = _apply_patches(src, vdir / "src", patches)
            src = vdir / "src"
        if not identity or patches:
            identity = b.tree_hash(src)
        try:  # 4.x: upstream's generated sources, made in a copy (identity: the tree as given)
            src = b.layout.prepare(src, vdir / "generated", verbose=verbose)
        except b.layout.LayoutError as e:
            raise BuildError(str(e)) from None
        (vdir / "variant.json").unlink(missing_ok=True)  # not "built" until checked below
        target = b.Target(module_name(name), src, mbedtls_version, identity, vdir, vdir / "csrc")
        try:
            ext = Path(b.build_extension(target, verbose=verbose))
        except (RuntimeError, OSError) as e:
            raise BuildError(f"building variant {name!r} (Mbed TLS {mbedtls_version}) "
                             f"failed:\n{str(e)[-4000:]}") from None
        except Exception as e:  # noqa: BLE001 - cffi/distutils report compile errors in their own types
            raise BuildError(f"building variant {name!r} (Mbed TLS {mbedtls_version}) "
                             f"failed: {type(e).__name__}: {str(e)[-4000:]}") from None
        record = {
            "name": name, "module": target.module, "mbedtls_version": mbedtls_version,
            "source": info, "patches": applied, "tree_sha256": identity,
            "extension": str(ext.relative_to(vdir)), "csrc_hash": csrc_hash(),
            "package_version": b.package_version(), "python": sys.version.split()[0],
            "built_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "rebuild": " ".join(rebuild),
        }
        tmp = vdir / "variant.json.tmp"
        tmp.write_text(json.dumps(record, indent=2) + "\n")
        tmp.replace(vdir / "variant.json")
        check = subprocess.run(
            [sys.executable, "-c", "import mbedtls_py as m; print(m.__variant__, "
             "m.__mbedtls_version__); m.Config('server')"],
            env={**os.environ, ENV: name}, capture_output=True, text=True, timeout=120)
        if check.returncode != 0 or check.stdout.split() != [name, mbedtls_version]:
            (vdir / "variant.json").unlink(missing_ok=True)
            raise BuildError(f"variant {name!r} built but does not load:\n"
                             f"{check.stdout}{check.stderr[-3000:]}")
    return find(name)
