"""SQL literals and GLOB patterns, built in Python only (never by templates).

Why GLOB for every wildcard and case-insensitive match: SQLite's ``LIKE`` folds ASCII only
and is case-insensitive by default, so it could do neither the case-sensitive forms nor
non-ASCII letters. ``GLOB`` is case-sensitive, counts UTF-8 code points for ``?``, and its
bracket classes let a case-insensitive literal be spelled exactly as Elasticsearch's
``case_insensitive`` automaton accepts it: ``[dD][uU][mM][pP]``. One operator, one escaping
rule (``*``, ``?``, ``[`` become ``[*]``, ``[?]``, ``[[]``), exact for any script.

Case rule (``ecsquery.values.case_alternates``, Lucene's ``CaseFolding.expand`` as current
Elasticsearch uses it): a code point matches itself, its one-code-point upper and lower case
and Lucene's special alternates, so ``k`` is ``[kKK]`` (KELVIN SIGN) and ``é`` is ``[éÉ]``.
"""

from __future__ import annotations

from ecsquery.errors import Pos, UnsupportedConstruct
from ecsquery.rules.lang.ast import Pattern, Wild
from ecsquery.values import NUL_STANDIN, case_alternates

GLOB_SPECIAL = "*?["


def check_text(value: str, pos: Pos | None = None) -> str:
    """Refuse text SQLite cannot carry faithfully in a UTF-8 literal.

    U+FFFD is what events carry in place of NUL (``ecsquery.values``): a literal holding it
    would match a NUL that Elasticsearch keeps apart, so it is refused like NUL itself.
    """
    if "\x00" in value:
        raise UnsupportedConstruct("value", f"NUL character in {value!r}", pos=pos)
    if NUL_STANDIN in value:
        raise UnsupportedConstruct(
            "value", f"U+FFFD in {value!r} (events carry it in place of NUL)", pos=pos
        )
    if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise UnsupportedConstruct("value", f"lone surrogate in {value!r}", pos=pos)
    return value


def quote(value: str, pos: Pos | None = None) -> str:
    """A SQL string literal: single quotes, inner quotes doubled; nothing else is special."""
    return "'" + check_text(value, pos).replace("'", "''") + "'"


def number(value: int | float | bool) -> str:
    """A numeric literal; booleans as osquery stores them (1/0)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return repr(value)


def glob_char(ch: str, case_insensitive: bool) -> str:
    """One literal code point as a GLOB pattern element."""
    if ch in GLOB_SPECIAL:
        return f"[{ch}]"
    alts = case_alternates(ch) if case_insensitive else ()
    return f"[{ch}{''.join(alts)}]" if alts else ch


def glob(pattern: Pattern, case_insensitive: bool) -> str:
    """A wildcard pattern as GLOB text (not yet quoted)."""
    out: list[str] = []
    for part in pattern.parts:
        if isinstance(part, Wild):
            out.append("*" if part is Wild.ANY else "?")
        else:
            out.extend(glob_char(ch, case_insensitive) for ch in part)
    return "".join(out)


def needs_glob(text: str, case_insensitive: bool) -> bool:
    """Whether a literal needs GLOB under the case flag (it has a code point with an alternate)."""
    return case_insensitive and any(case_alternates(ch) for ch in text)
