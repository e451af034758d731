"""Loading the lark grammars, turning lark's parse errors into ``RuleSyntaxError``, and the
few helpers both tree builders share.

Shared by ``kql`` and ``eql``: both grammars are package data (``*.lark``), built once per
process by a cached factory (LALR, contextual lexer), and both report a syntax error the same
way: what was expected, what was found, and where (1-based, relative to the query text).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from importlib import resources

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ecsquery.errors import Pos, RuleSyntaxError
from ecsquery.rules.lang.ast import And, Expr, Or


@functools.cache
def lark_parser(name: str) -> Lark:
    """The LALR parser for ``<name>.lark``; built on first use, then reused."""
    text = resources.files("ecsquery.rules.lang").joinpath(f"{name}.lark").read_text("utf-8")
    starts = ["start", "sequence"] if name == "eql" else ["start"]
    return Lark(
        text, parser="lalr", propagate_positions=True, maybe_placeholders=False, start=starts
    )


def parse_tree(name: str, text: str, names: Mapping[str, str], start: str = "start") -> Tree[Token]:
    """Parse ``text`` with grammar ``name`` from rule ``start``; ``names`` spells terminals for
    error messages. (EQL has a second start symbol, ``sequence``.)"""
    parser = lark_parser(name)
    try:
        return parser.parse(text, start=start)
    except UnexpectedInput as err:
        raise _syntax_error(parser, err, text, names) from None


def end_pos(text: str) -> Pos:
    """The position just after the last character of ``text``."""
    lines = text.split("\n")
    return Pos(len(lines), len(lines[-1]) + 1)


def pos_of(item: Tree[Token] | Token) -> Pos:
    """Where a token or a subtree starts."""
    if isinstance(item, Token):
        return Pos(item.line or 1, item.column or 1)
    return Pos(item.meta.line, item.meta.column)


def flatten(kind: type[And] | type[Or], children: list[Expr]) -> tuple[Expr, ...]:
    """Children for an ``And``/``Or``, with nested nodes of the same kind spliced in."""
    out: list[Expr] = []
    for child in children:
        out.extend(child.children if isinstance(child, kind) else (child,))
    return tuple(out)


def _syntax_error(
    parser: Lark, err: UnexpectedInput, text: str, names: Mapping[str, str]
) -> RuleSyntaxError:
    def spell(terminal: str) -> str:
        if terminal in names:
            return names[terminal]
        try:
            pattern = parser.get_terminal(terminal).pattern
        except KeyError:
            return terminal
        return f"'{pattern.value}'" if pattern.type == "str" else terminal

    if isinstance(err, UnexpectedToken):
        found = "end of query" if err.token.type == "$END" else repr(str(err.token))
        pos = end_pos(text) if err.token.type == "$END" else Pos(err.line, err.column)
        expected = err.accepts or err.expected
    elif isinstance(err, UnexpectedCharacters):
        found, pos, expected = repr(err.char), Pos(err.line, err.column), err.allowed or set()
    elif isinstance(err, UnexpectedEOF):
        found, pos, expected = "end of query", end_pos(text), set(err.expected)
    else:  # pragma: no cover - lark has no other UnexpectedInput subclass
        return RuleSyntaxError(str(err))
    wanted = sorted({spell(t) for t in expected if not t.startswith("__")})
    message = f"unexpected {found}"
    if wanted:
        message += f"; expected {' or '.join(wanted)}"
    return RuleSyntaxError(message, pos=pos)
