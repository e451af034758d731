"""KQL (Kibana Query Language) text → ``Query`` (see ``ast`` for what the nodes mean).

Semantics follow Kibana's kuery grammar: a quoted value is exact text; an unquoted value is
text with KQL escapes in which an unescaped ``*`` (only ``*``: ``?`` is literal in KQL) is a
wildcard; ``field:*`` is an exists query; ``field:(a or b)`` is a boolean expression over values
of one field. Values stay strings in the AST: the compiler coerces them by column type.

Where Kibana would send something we cannot reproduce exactly (a number it would re-format,
``null``, free text over all fields, nested queries, wildcard field names) we raise a named
``UnsupportedConstruct`` instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from lark import Token, Tree

from ecsquery.errors import Pos, RuleSyntaxError, UnsupportedConstruct
from ecsquery.rules.lang.ast import (
    And,
    Compare,
    Equals,
    Exists,
    Expr,
    FieldRef,
    Match,
    Not,
    Or,
    Pattern,
    Query,
    Wild,
)
from ecsquery.rules.lang.grammar import flatten, parse_tree, pos_of

_NAMES = {
    "$END": "end of query",
    "WORD": "a value",
    "QUOTED": "a quoted value",
    "_OR": "'or'",
    "_AND": "'and'",
    "NOT": "'not'",
    "RANGE_OP": "a range operator",
}

# Kibana sends an unquoted value matching this pattern as a JSON number (kuery grammar).
_KIBANA_NUMBER = re.compile(r"^(-?[1-9]+\d*([.]\d+)?)$|^(-?0[.]\d*[1-9]+)$|^0$|^0.0$|^[.]\d{1,}$")
_NUMBER = re.compile(r"^-?(?:\d+(?:\.\d+)?|\.\d+)$")
_JS_SPACE = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
_JS_SPACE += "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_ESCAPED_WS = {"t": "\t", "r": "\r", "n": "\n"}
_KEYWORD = re.compile(r"or|and|not", re.IGNORECASE)


def parse_kql(text: str) -> Query:
    """Parse a KQL query; raises ``RuleSyntaxError`` or ``UnsupportedConstruct``."""
    tree = parse_tree("kql", text, _NAMES)
    return Query(language="kuery", where=_Builder(text).query(tree))


class _Builder:
    """One method per grammar rule; ``text`` is kept to read unquoted values verbatim."""

    def __init__(self, text: str) -> None:
        self.text = text

    # ------------------------------------------------------------------ queries

    def query(self, node: Tree[Token] | Token) -> Expr:
        assert isinstance(node, Tree), node
        pos = pos_of(node)
        kids = node.children
        match node.data:
            case "or_query":
                return Or(flatten(Or, [self.query(k) for k in kids]), pos=pos)
            case "and_query":
                return And(flatten(And, [self.query(k) for k in kids]), pos=pos)
            case "not_query":
                return Not(self.query(kids[1]), pos=pos)
            case "field_value":
                return self.values(self.field(kids[0]), kids[1])
            case "range":
                op, value = kids[1], kids[2]
                assert isinstance(op, Token) and isinstance(value, Tree)
                return self.range(self.field(kids[0]), op, value, pos)
            case "nested":
                raise UnsupportedConstruct(
                    "KQL nested query", "field:{...} queries nested documents", pos=pos
                )
            case "free_text":
                raise UnsupportedConstruct(
                    "KQL free text", "a value without 'field:' searches every field", pos=pos
                )
        raise AssertionError(f"unexpected KQL node {node.data}")  # pragma: no cover

    def values(self, field: FieldRef, node: Tree[Token] | Token) -> Expr:
        """The value side of ``field:``, a boolean expression over values of ``field``."""
        assert isinstance(node, Tree), node
        pos = pos_of(node)
        kids = node.children
        match node.data:
            case "or_values":
                return _merge_equals(
                    Or(flatten(Or, [self.values(field, k) for k in kids]), pos=pos)
                )
            case "and_values":
                return And(flatten(And, [self.values(field, k) for k in kids]), pos=pos)
            case "not_values":
                return Not(self.values(field, kids[1]), pos=pos)
            case "value":
                return self.leaf(field, node)
        raise AssertionError(f"unexpected KQL node {node.data}")  # pragma: no cover

    def leaf(self, field: FieldRef, node: Tree[Token]) -> Expr:
        pos = pos_of(node)
        first = node.children[0]
        assert isinstance(first, Token)
        if first.type == "QUOTED":
            return Equals(field, (_unquote(first),), pos=pos)
        pattern = self.unquoted(node)
        if pattern.parts == (Wild.ANY,):
            return Exists(field, pos=pos)
        if not pattern.is_literal:
            return Match(field, (pattern,), pos=pos)
        value = pattern.literal()
        if value == "null":
            raise UnsupportedConstruct(
                "KQL null value", "Kibana sends unquoted null as JSON null; quote it", pos=pos
            )
        if _KIBANA_NUMBER.match(value) and _js_number_text(value) != value:
            raise UnsupportedConstruct(
                "KQL number normalisation",
                f"Kibana sends {value} as the number {_js_number_text(value)}; quote the value "
                "to match the text",
                pos=pos,
            )
        return Equals(field, (value,), pos=pos)

    def range(self, field: FieldRef, op: Token, node: Tree[Token], pos: Pos) -> Expr:
        first = node.children[0]
        assert isinstance(first, Token)
        if first.type == "QUOTED":
            text = _unquote(first)
        else:
            pattern = self.unquoted(node)
            text = pattern.literal() if pattern.is_literal else "\0"  # a wildcard is no number
        if not _NUMBER.match(text):
            raise UnsupportedConstruct(
                "KQL range on text", f"{field.name} {op} needs a number, not {text!r}", pos=pos
            )
        number = float(text) if "." in text else int(text)
        return Compare(field, str(op), number, pos=pos)

    def field(self, node: Tree[Token] | Token) -> FieldRef:
        assert isinstance(node, Tree)
        token = node.children[0]
        assert isinstance(token, Token)
        pos = pos_of(token)
        if token.type == "QUOTED":
            name = _unquote(token)
        else:
            pattern = Pattern.of(_unescape(str(token)))
            if not pattern.is_literal:
                raise UnsupportedConstruct(
                    "KQL wildcard field", f"field name {token} matches several fields", pos=pos
                )
            name = pattern.literal()
        if not name:
            raise RuleSyntaxError("empty field name", pos=pos)
        return FieldRef(name, pos=pos)

    def unquoted(self, node: Tree[Token]) -> Pattern:
        """An unquoted value: the words and the whitespace between them, unescaped and trimmed."""
        words = [t for t in node.children if isinstance(t, Token)]
        for word in words[1:]:
            if str(word).lower() == "not":
                raise RuleSyntaxError("unexpected 'not' inside a value; quote it", pos=pos_of(word))
        raw = self.text[words[0].start_pos : words[-1].end_pos]
        return _trim(Pattern.of(_unescape(raw)))


def _unescape(raw: str) -> Iterator[str | Wild]:
    """KQL unquoted-literal escapes; an unescaped ``*`` becomes ``Wild.ANY``.

    Not ``Pattern.parse(escape=...)``: a KQL escape is not just "next character literal"
    (``\\t``, ``\\u0041``, ``\\or`` are sequences), so it yields pieces for ``Pattern.of``.
    """
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\":
            nxt = raw[i + 1]
            keyword = _KEYWORD.match(raw, i + 1)
            if nxt in _ESCAPED_WS:
                yield _ESCAPED_WS[nxt]
                i += 2
            elif nxt == "u" and re.match(r"[0-9a-fA-F]{4}", raw[i + 2 : i + 6]):
                yield chr(int(raw[i + 2 : i + 6], 16))
                i += 6
            elif keyword and nxt not in '\\():<>"*{}':
                yield keyword.group()
                i = keyword.end()
            else:
                yield nxt
                i += 2
        elif ch == "*":
            yield Wild.ANY
            i += 1
        else:
            yield ch
            i += 1


def _trim(pattern: Pattern) -> Pattern:
    """JavaScript ``trim()`` of the unescaped value, as Kibana does."""
    parts = list(pattern.parts)
    if parts and isinstance(parts[0], str):
        parts[0] = parts[0].lstrip(_JS_SPACE)
    if parts and isinstance(parts[-1], str):
        parts[-1] = parts[-1].rstrip(_JS_SPACE)
    return Pattern.of(parts)


def _unquote(token: Token) -> str:
    r"""A quoted KQL string: ``\"`` ``\\`` ``\t`` ``\r`` ``\n`` are escapes, other ``\`` literal."""
    body = str(token)[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        nxt = body[i + 1] if i + 1 < len(body) else ""
        if ch == "\\" and nxt in _ESCAPED_WS:
            out.append(_ESCAPED_WS[nxt])
            i += 2
        elif ch == "\\" and nxt in ('"', "\\"):
            out.append(nxt)
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _js_number_text(value: str) -> str:
    """How JavaScript prints ``Number(value)`` (what Kibana sends for a numeric-looking value)."""
    if re.fullmatch(r"-?\d+", value):
        number = int(value)
        return value if abs(number) <= 2**53 else "<rounded>"
    result = repr(float(value))
    return result[:-2] if result.endswith(".0") else result


def _merge_equals(node: Or) -> Expr:
    """``f:(a or b)`` is one ``Equals`` with both values (order kept, at the first's place)."""
    out: list[Expr] = []
    first: int | None = None
    for child in node.children:
        if isinstance(child, Equals) and first is not None:
            head = out[first]
            assert isinstance(head, Equals)
            out[first] = Equals(head.field, (*head.values, *child.values), pos=head.pos)
            continue
        if isinstance(child, Equals):
            first = len(out)
        out.append(child)
    return out[0] if len(out) == 1 else Or(tuple(out), pos=node.pos)
