#!/usr/bin/env python3
"""Obtain the pinned Mbed TLS source and unpack it into ``vendor/mbedtls``.

The source is Debian's ``mbedtls`` source package, fetched by name with
``apt-get source --download-only`` through a temporary source list.  The
mirror is read from this machine's own apt configuration (no host name lives
in this repository, and the machine's configuration is not changed).  The
tarball's SHA-256 must match ``vendor/pin.json``.

``MBEDTLS_SOURCE=/path/to/mbedtls_X.orig.tar.bz2`` (verified against the pin)
or ``MBEDTLS_SOURCE=/path/to/unpacked/mbedtls`` (version checked) overrides
the download.

Usage: ``python vendor/fetch.py [--force] [--check]``
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PIN = json.loads((HERE / "pin.json").read_text())
DEST = HERE / "mbedtls"
DOWNLOAD = HERE / "download"
STAMP = DEST / ".mbedtls-py-source"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


class SourceError(RuntimeError):
    """The pinned source could not be obtained; the message says what to do."""


def _help() -> str:
    return (
        f"Mbed TLS {PIN['version']} source is needed to build mbedtls-py.\n"
        f"  Fetch it:     python vendor/fetch.py   (needs apt-get and Debian's package mirror)\n"
        f"  Or point to a copy of {PIN['tarball']} (sha256 {PIN['sha256']}):\n"
        f"                MBEDTLS_SOURCE=/path/to/{PIN['tarball']} pip install .\n"
        f"  Or to an unpacked Mbed TLS {PIN['version']} tree: MBEDTLS_SOURCE=/path/to/mbedtls"
    )


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def source_version(tree: Path) -> str | None:
    """The version string from ``include/mbedtls/build_info.h`` of a tree."""
    header = tree / "include" / "mbedtls" / "build_info.h"
    if not header.is_file():
        return None
    m = re.search(r'#define\s+MBEDTLS_VERSION_STRING\s+"([^"]+)"', header.read_text())
    return m.group(1) if m else None


def is_ready() -> bool:
    """True when ``vendor/mbedtls`` holds the verified, pinned source."""
    return STAMP.is_file() and STAMP.read_text().strip() == PIN["sha256"] \
        and source_version(DEST) == PIN["version"]


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


def download(workdir: Path) -> Path:
    """Fetch the pinned tarball with apt-get into ``workdir``; return its path."""
    if shutil.which("apt-get") is None:
        raise SourceError("apt-get is not available on this machine.\n" + _help())
    archive, security = _apt_mirrors()
    if not archive:
        raise SourceError("No Debian mirror found in /etc/apt/sources.list{,.d/}.\n" + _help())
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
            raise SourceError(f"{' '.join(args[:2])} failed:\n{proc.stdout}{proc.stderr}\n" + _help())

    run(["apt-get", *opts, "update"])
    run(["apt-get", *opts, "source", "--download-only",
         f"{PIN['debian_source_package']}={PIN['debian_version']}"], cwd=out)
    tarball = out / PIN["tarball"]
    if not tarball.is_file():
        raise SourceError(f"apt-get did not produce {PIN['tarball']}.\n" + _help())
    return tarball


def verify(tarball: Path) -> None:
    """Raise SourceError unless ``tarball`` has the pinned SHA-256."""
    got = sha256_of(tarball)
    if got != PIN["sha256"]:
        raise SourceError(
            f"{tarball}: SHA-256 {got} does not match the pin {PIN['sha256']}.\n"
            "Delete it and fetch again.\n" + _help())


def unpack(tarball: Path) -> None:
    """Unpack a verified tarball into ``vendor/mbedtls`` (top folder stripped)."""
    tmp = Path(tempfile.mkdtemp(prefix="unpack-", dir=HERE))
    try:
        with tarfile.open(tarball) as tf:
            tf.extractall(tmp, filter="data") if hasattr(tarfile, "data_filter") \
                else tf.extractall(tmp)  # noqa: S202 - verified by hash first
        (top,) = [p for p in tmp.iterdir() if p.is_dir()]
        if DEST.exists():
            shutil.rmtree(DEST)
        top.rename(DEST)
        STAMP.write_text(PIN["sha256"] + "\n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def use_tree(tree: Path) -> Path:
    """Use an unpacked source tree given by MBEDTLS_SOURCE, after a version check."""
    version = source_version(tree)
    if version != PIN["version"]:
        raise SourceError(f"MBEDTLS_SOURCE={tree} is Mbed TLS {version}, "
                          f"but mbedtls-py pins {PIN['version']}.\n" + _help())
    return tree


def ensure_source(force: bool = False) -> Path:
    """Return the root of the pinned Mbed TLS source, fetching it if needed."""
    override = os.environ.get("MBEDTLS_SOURCE")
    if override:
        path = Path(override).expanduser().resolve()
        if path.is_dir():
            return use_tree(path)
        if not path.is_file():
            raise SourceError(f"MBEDTLS_SOURCE={override} does not exist.\n" + _help())
        verify(path)
        unpack(path)
        return DEST
    if is_ready() and not force:
        return DEST
    cached = DOWNLOAD / PIN["tarball"]
    if cached.is_file() and sha256_of(cached) == PIN["sha256"]:
        unpack(cached)
        return DEST
    with tempfile.TemporaryDirectory(prefix="mbedtls-fetch-") as work:
        tarball = download(Path(work))
        verify(tarball)
        DOWNLOAD.mkdir(exist_ok=True)
        shutil.copy2(tarball, cached)
    unpack(cached)
    return DEST


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=_help())
    ap.add_argument("--force", action="store_true", help="fetch and unpack again")
    ap.add_argument("--check", action="store_true",
                    help="only report whether the pinned source is in place (exit 1 if not)")
    args = ap.parse_args()
    if args.check:
        ok = is_ready()
        print(f"vendor/mbedtls: {'Mbed TLS ' + PIN['version'] + ' (verified)' if ok else 'missing'}")
        return 0 if ok else 1
    try:
        root = ensure_source(force=args.force)
    except SourceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"Mbed TLS {source_version(root)} source ready in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
