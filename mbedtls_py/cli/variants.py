"""``mbedtls-py variants``: the library variants this installation can load."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..variants import ENV, list_variants, variants_dir

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """List the default extension and every built variant (``--json`` for a list)."""
    ap = argparse.ArgumentParser(
        prog="mbedtls-py variants", description=__doc__,
        epilog=f"Choose one with {ENV}=NAME; build one with `mbedtls-py build-variant`. "
               f"Variants are looked up in {variants_dir()}.")
    ap.add_argument("--json", action="store_true", help="one JSON list instead of a table")
    args = ap.parse_args(argv)
    rows: list[dict[str, Any]] = []
    for v in list_variants():
        rows.append({"name": v.name, "mbedtls_version": v.mbedtls_version, "module": v.module,
                     "stale": v.stale, "source": v.describe(),
                     "directory": str(v.directory) if v.directory else None})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        stale = "  STALE: rebuild (csrc/ changed)" if r["stale"] else ""
        print(f"{r['name']:{width}}  Mbed TLS {r['mbedtls_version']:8}  {r['source']}{stale}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
