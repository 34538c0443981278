"""Just enough POSIX shell to read ``tests/ssl-opt.sh`` the way ``sh`` does.

``logical_statements`` joins physical lines into statements (quotes that span
lines, backslash-newline), skipping function bodies; ``words`` splits a
statement into words with quote removal and parameter expansion against an
environment (``$V``, ``${V}``, ``${V:-x}``, ``${V:+x}``, ``$((n))``);
``split_fields`` is the unquoted ``$CMD`` word splitting that run_test applies
to the server and proxy commands; ``eval_words`` re-parses a string the way
``eval "$CLI_CMD"`` does.  Anything else (command substitution, globbing of
arguments) raises ``ShellError``: the caller reports the case as unsupported
instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

__all__ = ["ShellError", "logical_statements", "words", "split_fields", "eval_words"]

_FUNC_START = re.compile(r"^([A-Za-z_][A-Za-z_0-9]*)\s*\(\)\s*(\{\s*)?$")


class ShellError(ValueError):
    """A construct this reader does not evaluate."""


def _scan(line: str, quote: str) -> tuple[str, bool]:
    """Scan one physical line starting inside ``quote`` ("" when outside);
    return the quote still open at its end and whether it ends with a
    line-continuation backslash outside quotes."""
    i, n = 0, len(line)
    at_word_start = True
    while i < n:
        c = line[i]
        if quote == "'":
            if c == "'":
                quote = ""
        elif quote == '"':
            if c == "\\":
                i += 1
            elif c == '"':
                quote = ""
        else:
            if c == "\\":
                if i + 1 == n:
                    return quote, True
                i += 1
            elif c in "'\"":
                quote = c
            elif c == "#" and at_word_start:
                return quote, False
            at_word_start = c in " \t;|&("
        i += 1
    return quote, False


def logical_statements(text: str) -> Iterator[tuple[int, str]]:
    """Yield ``(first_line_number, statement_text)`` for every top-level
    statement outside function bodies (``name() {`` ... a ``}`` in column 0)."""
    lines = text.split("\n")
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        if _FUNC_START.match(line.strip()) and not line.startswith((" ", "\t")):
            i += 1
            while i < n and not lines[i].startswith("}"):
                i += 1
            i += 1
            continue
        start = i
        parts = [line]
        quote, cont = _scan(line, "")
        while (quote or cont) and i + 1 < n:
            i += 1
            parts.append(lines[i])
            quote, cont = _scan(lines[i], quote)
        i += 1
        buf = "\n".join(parts)
        stripped = buf.strip()
        if stripped and not stripped.startswith("#"):
            yield start + 1, buf


def _param(name: str, env: Mapping[str, str]) -> str:
    return env.get(name, "")


def _expand_braced(expr: str, env: Mapping[str, str]) -> str:
    m = re.fullmatch(r"([A-Za-z_][A-Za-z_0-9]*)(?:(:?[-+=?])(.*))?", expr, re.S)
    if not m:
        raise ShellError(f"unsupported parameter expansion ${{{expr}}}")
    name, op, arg = m.group(1), m.group(2), m.group(3)
    value = env.get(name)
    if op is None:
        return value or ""
    unset_or_empty = value is None or (op.startswith(":") and value == "")
    inner = "".join(w for w in words(arg, env, split=False)) if arg else ""
    if op.endswith("-") or op.endswith("="):
        return inner if unset_or_empty else (value or "")
    if op.endswith("+"):
        return "" if unset_or_empty else inner
    raise ShellError(f"unsupported parameter expansion ${{{expr}}}")


def _arith(expr: str, env: Mapping[str, str]) -> str:
    expr = re.sub(r"\$\{?([A-Za-z_][A-Za-z_0-9]*)\}?", lambda m: env.get(m.group(1), "0"), expr)
    expr = re.sub(r"\b([A-Za-z_][A-Za-z_0-9]*)\b", lambda m: env.get(m.group(1), "0"), expr)
    if not re.fullmatch(r"[\d\s+\-*/%()<>=!&|]*", expr):
        raise ShellError(f"unsupported arithmetic $(({expr}))")
    return str(int(eval(expr.replace("/", "//"), {"__builtins__": {}})))  # noqa: S307 - digits/operators only


def _dollar(text: str, i: int, env: Mapping[str, str]) -> tuple[str, int]:
    """Expand the ``$`` construct starting at ``text[i]``; return (value, next index)."""
    if text.startswith("$((", i):
        depth, j = 0, i + 1
        while j < len(text):
            if text[j] == "(":
                depth += 1
            elif text[j] == ")":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        return _arith(text[i + 3:j - 1], env), j + 1
    if text.startswith("$(", i):
        raise ShellError("command substitution $(...) is not evaluated")
    if text.startswith("${", i):
        depth, j = 0, i + 1
        while j < len(text):
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        return _expand_braced(text[i + 2:j], env), j + 1
    m = re.compile(r"[A-Za-z_][A-Za-z_0-9]*|[0-9#?$!@*-]").match(text, i + 1)
    if not m:
        return "$", i + 1
    return _param(m.group(0), env), m.end()


def words(text: str, env: Mapping[str, str], *, split: bool = True) -> list[str]:
    """The words of one simple command, quotes removed, parameters expanded
    (expansions are not field-split: run_test's arguments are always quoted).
    With ``split=False`` the whole text is one word (a ``${V:-word}`` argument)."""
    out: list[str] = []
    cur: list[str] = []
    have = False
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            if i + 1 < n and text[i + 1] == "\n":
                i += 2
                continue
            if i + 1 < n:
                cur.append(text[i + 1])
                have = True
            i += 2
        elif c == "'":
            j = text.index("'", i + 1)
            cur.append(text[i + 1:j])
            have = True
            i = j + 1
        elif c == '"':
            i += 1
            have = True
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n and text[i + 1] in '$`"\\\n':
                    if text[i + 1] != "\n":
                        cur.append(text[i + 1])
                    i += 2
                elif text[i] == "$":
                    value, i = _dollar(text, i, env)
                    cur.append(value)
                elif text[i] == "`":
                    raise ShellError("command substitution `...` is not evaluated")
                else:
                    cur.append(text[i])
                    i += 1
            i += 1
        elif c == "$":
            value, i = _dollar(text, i, env)
            cur.append(value)
            have = True
        elif c == "`":
            raise ShellError("command substitution `...` is not evaluated")
        elif split and c in " \t\n":
            if have:
                out.append("".join(cur))
                cur, have = [], False
            i += 1
        elif split and c == "#" and not have:
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif split and c in ";&|<>":
            raise ShellError(f"operator {c!r} in a statement this reader evaluates")
        else:
            cur.append(c)
            have = True
            i += 1
    if have or not split:
        out.append("".join(cur))
    return out


def split_fields(value: str) -> list[str]:
    """Field splitting of an unquoted ``$CMD`` (IFS = space, tab, newline);
    quotes inside the value stay literal, as they do in ``sh``."""
    return value.split()


def eval_words(value: str, env: Mapping[str, str]) -> list[list[str]]:
    """``eval "$CMD"``: the command re-parsed; a pipeline gives one word list
    per stage (``echo 'GET / HTTP/1.0' | openssl s_client ...``)."""
    stages: list[list[str]] = []
    part: list[str] = []
    quote = ""
    for c in value:
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "|":
            stages.append(words("".join(part), env))
            part = []
            continue
        part.append(c)
    stages.append(words("".join(part), env))
    return stages
