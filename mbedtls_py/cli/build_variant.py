"""``mbedtls-py build-variant``: compile one Mbed TLS tree into its own extension.

  build-variant 3.6.6                        a pinned Debian version (fetched, hash-checked)
  build-variant 3.6.7 --patch patches/0001-x.patch     a patched copy of a pinned version
  build-variant --source ~/src/mbedtls --name my-fix  a local tree (any version)

A local tree is recorded with ``git describe --always --dirty --tags`` and the
SHA-256 of ``git diff HEAD`` when it is a git checkout, and always with a
hash of its sources (the build's cache key).  ``MBEDTLS_SOURCE=DIR`` names
the tree too, when neither a version nor ``--source`` is given.  The build
(archive, glue, extension, ``variant.json``) goes to the variant's own
directory (``mbedtls-py variants`` shows where); the result is imported in a
fresh process to check it before it is recorded as built.

Needs the build machinery (a checkout's ``csrc/``, or the copy an installed
wheel carries: variants then go to the per-user cache) and a C compiler.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .._cliargs import doc_parser
from ..variants import ENV, check_name
from ..variants.build import BuildError, MissingTool, build_variant


def main(argv: list[str] | None = None) -> int:
    """``build-variant``: exit 0 when built and checked, 2 on bad input, 1 on failure."""
    ap = doc_parser("mbedtls-py build-variant", __doc__)
    ap.add_argument("version", nargs="?", help="a pinned Mbed TLS version (vendor/pins.json)")
    ap.add_argument("--source", type=Path, metavar="DIR",
                    help="a local Mbed TLS tree (unpacked tarball or git checkout)")
    ap.add_argument("--name", help="the variant's name (default: the version, "
                                   "with +NNNN per patch)")
    ap.add_argument("--patch", type=Path, action="append", default=[], metavar="FILE",
                    help="apply this patch (-p1) to a copy of the tree first; repeatable")
    ap.add_argument("--force", action="store_true",
                    help="rebuild even when an up-to-date build exists")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    args = ap.parse_args(argv)
    try:
        if args.name is not None:
            check_name(args.name)
        variant = build_variant(args.version, source=args.source, name=args.name,
                                patches=args.patch, verbose=not args.quiet, force=args.force)
    except ValueError as e:
        print(f"mbedtls-py build-variant: error: {e}", file=sys.stderr)
        return 2
    except MissingTool as e:
        print(f"mbedtls-py build-variant: error: {e}", file=sys.stderr)
        return 1
    except BuildError as e:
        msg = str(e)
        print(f"mbedtls-py build-variant: error: {msg}", file=sys.stderr)
        return 2 if "\n" not in msg and "failed" not in msg else 1
    except SystemExit as e:  # csrc/mbedtls_build.py reports a missing source this way
        print(f"mbedtls-py build-variant: {e}", file=sys.stderr)
        return 1
    print(f"built variant {variant.name}: Mbed TLS {variant.mbedtls_version} as {variant.module} "
          f"({variant.describe()}) in {variant.directory}")
    print(f"use it: {ENV}={variant.name} python ...  |  pytest --mbedtls-variant {variant.name}")
    return 0
