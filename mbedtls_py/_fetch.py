"""Obtain a pinned Mbed TLS source and unpack it (``vendor/fetch.py`` is its
command-line entry; the package uses it too, so an installed wheel fetches
the same way).

The pins (version, Debian source package version and suites, SHA-256 of the
orig tarball) live in ``vendor/pins.json`` (a wheel carries a copy in
``mbedtls_py/_build/pins.json``).  The default pin is built into
``mbedtls_py.bindings._lib``; ``MBEDTLS_PY_PIN=VERSION`` selects another one for that
build (one switch, e.g. ``MBEDTLS_PY_PIN=3.6.6 ./dev.sh test``).

Where sources go: in a source checkout the selected pin unpacks into
``vendor/mbedtls`` and other pins (library variants, ``mbedtls-py
build-variant VERSION``) into ``vendor/sources/VERSION``; tarballs are kept in
``vendor/download``.  Installed (no checkout around the package), every pin
unpacks into the per-user cache, ``mbedtls_py.cachedir.cache_dir("sources",
VERSION)``, tarballs in ``cache_dir("download")``; ``MBEDTLS_PY_CACHE``
moves both.  A tarball already in either download directory is reused
after its hash check.

The source is Debian's ``mbedtls`` source package, fetched by name with
``apt-get source --download-only`` through a temporary source list.  The
mirror is read from this machine's own apt configuration (no host name lives
in this repository, and the machine's configuration is not changed).  apt
authenticates the package (signed Release file, hashes in the .dsc); the
tarball's SHA-256 must also match the pin.

``MBEDTLS_SOURCE=/path/to/mbedtls_X.orig.tar.bz2`` (verified against the pin)
or ``MBEDTLS_SOURCE=/path/to/unpacked/mbedtls`` (version checked) overrides
the download of the selected pin.  A tree of another version is built as a
named variant instead (``mbedtls-py build-variant --source DIR --name N``).

Standard library only, and loadable by file path (the build script loads it
before the package can be imported).

Usage: ``python vendor/fetch.py [--pin VERSION] [--force] [--check] [--list]``
(installed: ``mbedtls-py fetch ...``)
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any, NoReturn

Pin = dict[str, Any]  # one entry of pins.json, with its "version"

PKG = Path(__file__).resolve().parent       # the mbedtls_py package
_VENDOR = PKG.parent / "vendor"             # a source checkout's vendor/, if any
# The same test as mbedtls_py._csrc.checkout() (this module cannot import the package).
CHECKOUT = (PKG.parent / "csrc" / "mbedtls_build.py").is_file()


def _cache_dir(*parts: str) -> Path:
    """``mbedtls_py.cachedir.cache_dir``, read by path (no package import here)."""
    spec = importlib.util.spec_from_file_location("_mbedtls_py_cachedir", PKG / "cachedir.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return Path(module.cache_dir(*parts))


PINS_FILE = _VENDOR / "pins.json" if CHECKOUT else PKG / "_build" / "pins.json"
_PINS_DATA = json.loads(PINS_FILE.read_text())
DEFAULT_VERSION: str = _PINS_DATA["default"]
PINS: dict[str, Pin] = {
    version: {"version": version, **pin} for version, pin in _PINS_DATA["pins"].items()}
PIN_ENV = "MBEDTLS_PY_PIN"
DEST = _VENDOR / "mbedtls"                  # the selected pin, in a checkout
STAMP = DEST / ".mbedtls-py-source"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


class SourceError(RuntimeError):
    """The pinned source could not be obtained; the message says what to do."""


def get_pin(version: str | None = None) -> Pin:
    """The pin of ``version`` (default: ``$MBEDTLS_PY_PIN``, else the default pin)."""
    version = version or os.environ.get(PIN_ENV) or DEFAULT_VERSION
    if version not in PINS:
        raise SourceError(f"no pin for Mbed TLS {version!r} (known: {', '.join(PINS)}); "
                          f"see {PINS_FILE}")
    return PINS[version]


try:
    PIN = get_pin()
except SourceError as _e:  # a bad MBEDTLS_PY_PIN: say so once, at the first use
    print(f"error: {PIN_ENV}: {_e}", file=sys.stderr)
    raise SystemExit(2) from None


def sources_root() -> Path:
    """Where pins other than a checkout's selected one unpack (read at each call:
    ``MBEDTLS_PY_CACHE`` may change)."""
    return _VENDOR / "sources" if CHECKOUT else _cache_dir("sources")


def download_dir() -> Path:
    """Where a fetched tarball is kept."""
    return _VENDOR / "download" if CHECKOUT else _cache_dir("download")


def download_dirs() -> list[Path]:
    """Where a tarball is looked for: ``download_dir()``, then the per-user
    cache's (a checkout reuses what an installed copy fetched)."""
    return list(dict.fromkeys([download_dir(), _cache_dir("download")]))


def source_dir(pin: Pin) -> Path:
    """Where ``pin`` unpacks: ``vendor/mbedtls`` for the selected pin in a
    checkout, else ``SOURCES/VERSION``."""
    if CHECKOUT and pin["version"] == PIN["version"]:
        return DEST
    return sources_root() / str(pin["version"])


def _help(pin: Pin | None = None) -> str:
    PIN = pin or globals()["PIN"]  # noqa: N806 - the message below names the pin
    if CHECKOUT:
        return (
            f"Mbed TLS {PIN['version']} source is needed to build mbedtls-py.\n"
            f"  Fetch it:     python vendor/fetch.py --pin {PIN['version']}   "
            "(needs apt-get and Debian's package mirror)\n"
            f"  Or point to a copy of {PIN['tarball']} (sha256 {PIN['sha256']}):\n"
            f"                MBEDTLS_SOURCE=/path/to/{PIN['tarball']} pip install .\n"
            f"  Or to an unpacked Mbed TLS {PIN['version']} tree: MBEDTLS_SOURCE=/path/to/mbedtls"
        )
    return (
        f"Mbed TLS {PIN['version']}'s source (its tests, programs and library) is needed here "
        f"and is not in {source_dir(PIN)}.\n"
        f"  Fetch it (needs apt-get and a Debian package mirror in /etc/apt):\n"
        f"      mbedtls-py fetch --pin {PIN['version']}   (or python -m mbedtls_py fetch ...)\n"
        f"  Or, without network: copy {PIN['tarball']} (sha256 {PIN['sha256']}) to\n"
        f"      {download_dir()}/  and run the same command (it unpacks and checks it)\n"
        f"  The cache directory moves with MBEDTLS_PY_CACHE=DIR."
    )


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def source_version(tree: Path) -> str | None:
    """The version string of a tree (``build_info.h`` in 3.x, ``version.h`` in 2.x)."""
    for name in ("build_info.h", "version.h"):
        header = tree / "include" / "mbedtls" / name
        if header.is_file():
            m = re.search(r'#define\s+MBEDTLS_VERSION_STRING\s+"([^"]+)"', header.read_text())
            if m:
                return m.group(1)
    return None


def is_ready(pin: Pin | None = None) -> bool:
    """True when the pin's source directory holds its verified source."""
    pin = pin or PIN
    dest = source_dir(pin)
    stamp = dest / STAMP.name
    return stamp.is_file() and stamp.read_text().strip() == pin["sha256"] \
        and source_version(dest) == pin["version"]


def _apt_mirrors() -> tuple[list[str], list[str]]:
    """Debian mirror URIs (archive, security) from this machine's apt configuration."""
    archive: list[str] = []
    security: list[str] = []

    def add(uri: str, suites: list[str]) -> None:
        uri = uri.rstrip("/")
        target = security if any(s.endswith("-security") for s in suites) else archive
        if uri not in target:
            target.append(uri)

    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        for stanza in re.split(r"\n\s*\n", Path(path).read_text()):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line:
                    continue
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
            if fields.get("enabled", "yes").lower() == "no":
                continue
            if "debian-archive-keyring" not in fields.get("signed-by", KEYRING):
                continue  # a third-party repository, not Debian's archive
            for uri in fields.get("uris", "").split():
                add(uri, fields.get("suites", "").split())
    lists = ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]
    for path in lists:
        if not os.path.isfile(path):
            continue
        for line in Path(path).read_text().splitlines():
            line = re.sub(r"\[[^\]]*\]", "", line.split("#", 1)[0]).split()
            if len(line) >= 3 and line[0] in ("deb", "deb-src") and "debian" in line[1]:
                add(line[1], [line[2]])
    return archive, security


def download(workdir: Path, pin: Pin | None = None) -> Path:
    """Fetch the pin's tarball with apt-get into ``workdir``; return its path."""
    PIN = pin or globals()["PIN"]  # noqa: N806
    if shutil.which("apt-get") is None:
        raise SourceError("apt-get is not available on this machine.\n" + _help(PIN))
    archive, security = _apt_mirrors()
    if not archive:
        raise SourceError("No Debian mirror found in /etc/apt/sources.list{,.d/}.\n" + _help(PIN))
    suites = PIN["debian_suites"]
    lines = []
    for uri in archive:
        lines += [f"deb-src [signed-by={KEYRING}] {uri} {s} main"
                  for s in suites if not s.endswith("-security")]
    for uri in security:
        lines += [f"deb-src [signed-by={KEYRING}] {uri} {s} main"
                  for s in suites if s.endswith("-security")]
    apt = workdir / "apt"
    for sub in ("lists/partial", "cache/archives/partial", "etc/preferences.d"):
        (apt / sub).mkdir(parents=True, exist_ok=True)
    (apt / "sources.list").write_text("\n".join(lines) + "\n")
    opts = [
        "-o", f"Dir::Etc::SourceList={apt / 'sources.list'}",
        "-o", "Dir::Etc::SourceParts=/dev/null",
        "-o", f"Dir::Etc::PreferencesParts={apt / 'etc/preferences.d'}",
        "-o", f"Dir::State::Lists={apt / 'lists'}",
        "-o", f"Dir::Cache={apt / 'cache'}",
        "-o", "APT::Sandbox::User=root" if os.geteuid() == 0 else "Debug::NoLocking=1",
        "-q",
    ]
    out = workdir / "out"
    out.mkdir(exist_ok=True)

    def run(args: list[str], cwd: Path | None = None) -> None:
        print("+ " + " ".join(args), file=sys.stderr)
        proc = subprocess.run(args, cwd=cwd, text=True, capture_output=True, timeout=600)
        if proc.returncode != 0:
            raise SourceError(f"{' '.join(args[:2])} failed:\n{proc.stdout}{proc.stderr}\n" + _help(PIN))

    run(["apt-get", *opts, "update"])
    run(["apt-get", *opts, "source", "--download-only",
         f"{PIN['debian_source_package']}={PIN['debian_version']}"], cwd=out)
    tarball = out / str(PIN["tarball"])
    if not tarball.is_file():
        raise SourceError(f"apt-get did not produce {PIN['tarball']}.\n" + _help(PIN))
    return tarball


def verify(tarball: Path, pin: Pin | None = None) -> None:
    """Raise SourceError unless ``tarball`` has the pinned SHA-256."""
    PIN = pin or globals()["PIN"]  # noqa: N806
    got = sha256_of(tarball)
    if got != PIN["sha256"]:
        raise SourceError(
            f"{tarball}: SHA-256 {got} does not match the pin {PIN['sha256']}.\n"
            "Delete it and fetch again.\n" + _help(PIN))


def unpack(tarball: Path, pin: Pin | None = None) -> None:
    """Unpack a verified tarball into the pin's directory (top folder stripped)."""
    pin = pin or PIN
    dest = source_dir(pin)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="unpack-", dir=dest.parent))
    try:
        with tarfile.open(tarball) as tf:
            tf.extractall(tmp, filter="data") if hasattr(tarfile, "data_filter") \
                else tf.extractall(tmp)  # noqa: S202 - verified by hash first
        (top,) = [p for p in tmp.iterdir() if p.is_dir()]
        if dest.exists():
            shutil.rmtree(dest)
        top.rename(dest)
        (dest / STAMP.name).write_text(str(pin["sha256"]) + "\n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def use_tree(tree: Path, pin: Pin | None = None) -> Path:
    """Use an unpacked source tree given by MBEDTLS_SOURCE, after a version check."""
    pin = pin or PIN
    version = source_version(tree)
    if version != pin["version"]:
        raise SourceError(
            f"MBEDTLS_SOURCE={tree} is Mbed TLS {version}, but this build pins "
            f"{pin['version']}.\nBuild it as a library variant instead: "
            f"python -m mbedtls_py build-variant --source {tree} --name NAME\n" + _help(pin))
    return tree


def ensure_source(force: bool = False, version: str | None = None,
                  override: bool = True) -> Path:
    """Return the root of a pinned Mbed TLS source (default: the selected pin),
    fetching and verifying it if needed.  ``MBEDTLS_SOURCE`` applies to the
    selected pin only, and only when ``override`` is true."""
    pin = get_pin(version) if version else PIN
    dest = source_dir(pin)
    env = os.environ.get("MBEDTLS_SOURCE") if override and pin is PIN else None
    if env:
        path = Path(env).expanduser().resolve()
        if path.is_dir():
            return use_tree(path, pin)
        if not path.is_file():
            raise SourceError(f"MBEDTLS_SOURCE={env} does not exist.\n" + _help(pin))
        verify(path, pin)
        unpack(path, pin)
        return dest
    if is_ready(pin) and not force:
        return dest
    for folder in download_dirs():
        cached = folder / str(pin["tarball"])
        if cached.is_file() and sha256_of(cached) == pin["sha256"]:
            unpack(cached, pin)
            return dest
    cached = download_dir() / str(pin["tarball"])
    with tempfile.TemporaryDirectory(prefix="mbedtls-fetch-") as work:
        tarball = download(Path(work), pin)
        verify(tarball, pin)
        cached.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(tarball, cached)
    unpack(cached, pin)
    return dest


class _OneLineParser(argparse.ArgumentParser):
    """Bad input: one line on stderr, exit status 2 (``mbedtls_py._cliargs``'s
    behaviour; this module imports nothing of the package)."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {' '.join(message.split())} (see --help)", file=sys.stderr)
        sys.exit(2)


def main(argv: list[str] | None = None) -> int:
    """``vendor/fetch.py`` / ``mbedtls-py fetch``: fetch, verify and unpack a pin."""
    ap = _OneLineParser(prog="vendor/fetch.py" if CHECKOUT else "mbedtls-py fetch",
                        description=__doc__.split("\n\n")[0],
                        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_help())
    ap.add_argument("--pin", metavar="VERSION",
                    help=f"which pin (default: ${PIN_ENV} or {DEFAULT_VERSION})")
    ap.add_argument("--force", action="store_true", help="fetch and unpack again")
    ap.add_argument("--check", action="store_true",
                    help="only report whether the pinned source is in place (exit 1 if not)")
    ap.add_argument("--list", action="store_true", help="list the pins and exit")
    args = ap.parse_args(argv)
    if args.list:
        for version, pin in PINS.items():
            mark = " (default)" if version == DEFAULT_VERSION else ""
            mark += " (selected)" if version == PIN["version"] else ""
            state = "ready" if is_ready(pin) else "not fetched"
            print(f"{version:8} Debian {pin['debian_version']:20} "
                  f"{'/'.join(pin['debian_suites']):32} {state}{mark}")
        return 0
    try:
        pin = get_pin(args.pin)
    except SourceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.check:
        ok = is_ready(pin)
        print(f"{source_dir(pin)}: "
              f"{'Mbed TLS ' + str(pin['version']) + ' (verified)' if ok else 'missing'}")
        return 0 if ok else 1
    try:
        root = ensure_source(force=args.force, version=args.pin)
    except SourceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"Mbed TLS {source_version(root)} source ready in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
