"""An edited copy of the pinned ssl-opt.sh in a tree of its own: ``--ssl-opt
PATH`` reads every data file relative to PATH's tree, so the copy gets the
pinned tree's ``framework/`` beside it."""

from __future__ import annotations

from pathlib import Path

from mbedtls_py.sslopt.parse import default_ssl_opt


def edited_ssl_opt(tmp_path: Path, old: str, new: str) -> Path:
    """``tmp_path/tests/ssl-opt.sh``: the pinned script with ``old`` (which must
    occur once) replaced by ``new``."""
    text = default_ssl_opt().read_text()
    assert text.count(old) == 1, old
    copy = tmp_path / "tests" / "ssl-opt.sh"
    copy.parent.mkdir(parents=True)
    copy.write_text(text.replace(old, new))
    (tmp_path / "framework").symlink_to(default_ssl_opt().parent.parent / "framework")
    return copy
