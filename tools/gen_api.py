"""Write docs/api.md, the API reference, from the package's docstrings.

    python tools/gen_api.py            # (re)write docs/api.md
    python tools/gen_api.py --check    # exit 1 if docs/api.md is out of date

Every module of ``mbedtls_py`` (bindings first, then the layers in dependency
order), its docstring's first paragraph, and each public name (``__all__``)
with its signature and the first paragraph of its docstring; classes list their
public methods and properties the same way.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import pkgutil
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "api.md"
ORDER = ["", "wire", "timing", "creds", "capture", "sim", "server", "parties", "udp", "peers", "repro",
         "explore", "sslopt", "search",
         "attacks", "fuzz", "variants", "testing", "cli"]


def _first_paragraph(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return " ".join(doc.split("\n\n")[0].split())


def _portable(text: str) -> str:
    """``text`` without what differs between runs and checkouts (memory
    addresses, the checkout's path): the file must come out the same for --check."""
    return re.sub(r" at 0x[0-9a-fA-F]+", "", text).replace(str(ROOT), "<checkout>")


def _signature(obj: Any) -> str:
    try:
        return _portable(str(inspect.signature(obj)))
    except (TypeError, ValueError):
        return "(...)"


def _modules() -> list[str]:
    sys.path.insert(0, str(ROOT))
    # The reference is of the default build (what the wheel ships): a library
    # variant has other Err members and defaults, so it is never the one loaded.
    os.environ.pop("MBEDTLS_PY_VARIANT", None)
    import mbedtls_py

    names = ["mbedtls_py"] + [m.name for m in pkgutil.walk_packages(mbedtls_py.__path__, "mbedtls_py.")
                              if not m.name.split(".")[-1].startswith("_") or m.name.endswith("__main__")]
    names = [n for n in names if not n.endswith("__main__")]

    def key(name: str) -> tuple[int, str]:
        parts = name.split(".")
        layer = parts[1] if len(parts) > 1 and (ROOT / "mbedtls_py" / parts[1]).is_dir() else ""
        return (ORDER.index(layer) if layer in ORDER else len(ORDER), name)

    return sorted(names, key=key)


def _member_lines(cls: type) -> list[str]:
    out = []
    for name, value in cls.__dict__.items():
        if name.startswith("_") and name != "__init__":
            continue
        if isinstance(value, property):
            out.append(f"  - `{name}` (property): {_first_paragraph(value)}")
        elif isinstance(value, (staticmethod, classmethod)):
            out.append(f"  - `{name}{_signature(value.__func__)}`: {_first_paragraph(value.__func__)}")
        elif inspect.isfunction(value):
            label = cls.__name__ if name == "__init__" else name
            text = _first_paragraph(value) if name != "__init__" else ""
            out.append(f"  - `{label}{_signature(value)}`" + (f": {text}" if text else ""))
    return out


def render() -> str:
    lines = ["# API reference", "",
             "Generated from the docstrings by `tools/gen_api.py` (do not edit by hand; "
             "`python tools/gen_api.py` rewrites it).  The layers and what each is for: "
             "README, section *Architecture*.", ""]
    for name in _modules():
        module = importlib.import_module(name)
        lines += [f"## `{name}`", "", _first_paragraph(module) or "(no module docstring)", ""]
        public = getattr(module, "__all__", None)
        if not public:
            continue
        for attr in public:
            try:
                value = getattr(module, attr)
            except AttributeError:
                continue
            owner = getattr(value, "__module__", name)
            if inspect.isclass(value):
                where = "" if owner == name else f" (from `{owner}`)"
                lines.append(f"- class `{attr}`{where}: {_first_paragraph(value)}")
                if owner == name:
                    lines += _member_lines(value)
            elif callable(value):
                where = "" if owner == name else f" (from `{owner}`)"
                lines.append(f"- `{attr}{_signature(value)}`{where}: {_first_paragraph(value)}")
            else:
                shown = _portable(repr(value))
                lines.append(f"- `{attr}` = `{shown}`"[:160])
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write docs/api.md from the docstrings.")
    ap.add_argument("--check", action="store_true", help="exit 1 if docs/api.md is out of date")
    args = ap.parse_args(argv)
    text = render()
    if args.check:
        current = OUT.read_text() if OUT.exists() else ""
        if current != text:
            print(f"{OUT.relative_to(ROOT)} is out of date: run python tools/gen_api.py",
                  file=sys.stderr)
            return 1
        return 0
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)} ({text.count(chr(10))} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
