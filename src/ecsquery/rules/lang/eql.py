"""EQL query text → ``Query`` (see ``ast`` for what the nodes mean). Sequences are parsed by
``ecsquery.rules.lang.sequence`` from the same grammar; ``parse_eql`` keeps refusing them by
name, since a caller asking for one event's query must not get a sequence.

Operators map to Elastic's documented semantics: ``==``/``in`` are exact and case-sensitive,
``:`` is case-insensitive with ``*``/``?`` wildcards, ``like``/``regex`` are case-sensitive
unless written ``like~``/``regex~``, ``!=`` and ``not in`` are ``Not(...)``, comparing with
``null`` is about existence. Everything the AST cannot express exactly (sequences, pipes,
arithmetic, field-to-field comparison, other functions) raises ``UnsupportedConstruct`` naming
the construct and where it is.

Sub-expressions that are not conditions (fields, literals, calls, parenthesised lists) are
``Operand`` values while building; only conditions become AST nodes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from lark import Token, Tree

from ecsquery.errors import Pos, RuleSyntaxError, UnsupportedConstruct
from ecsquery.rules.lang.ast import (
    And,
    CidrMatch,
    Compare,
    Const,
    Equals,
    Exists,
    Expr,
    FieldRef,
    Length,
    Match,
    Not,
    Or,
    Pattern,
    Query,
    Regex,
    Scalar,
    Wild,
)
from ecsquery.rules.lang.grammar import flatten, parse_tree, pos_of

_NAMES = {
    "$END": "end of query",
    "FIELD": "a field",
    "OPTIONAL_FIELD": "an optional field",
    "FUNCTION": "a function call",
    "STRING": "a string",
    "RAW_STRING": "a raw string",
    "SQ_STRING": "a string",
    "INT": "a number",
    "DECIMAL": "a number",
    "COMP_OP": "a comparison",
    "STRING_OP": "':' or 'like' or 'regex'",
    "ADD_OP": "'+' or '-'",
    "MUL_OP": "'*' or '/' or '%'",
    "_WHERE": "'where'",
    "_OR": "'or'",
    "_AND": "'and'",
    "NOT": "'not'",
    "IN": "'in'",
    "ANY": "'any'",
    "TRUE": "'true'",
    "FALSE": "'false'",
    "NULL": "'null'",
    "PIPES": "'|'",
    "UNSUPPORTED_QUERY": "'sequence'",
    "_SEQUENCE": "'sequence'",
    "_BY": "'by'",
    "_WITH": "'with'",
    "_MAXSPAN": "'maxspan'",
    "_RUNS": "'runs'",
    "_UNTIL": "'until'",
    "TIME_UNIT": "a time unit (ms, s, m, h, d)",
    "MISSING": "'!'",
}
"""Elasticsearch's bound on ``with runs`` (``LogicalPlanBuilder``: between 1 and 100)."""
_CONDITIONS = {"or_expr", "and_expr", "not_expr", "comparison", "in_set", "not_in_set", "string_op"}
_CATEGORY = re.compile(r"[A-Za-z_@][A-Za-z0-9_]*|`(?:[^`]|``)+`")
_SEGMENT = re.compile(r"`((?:[^`]|``)+)`|([^.`]+)")
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "'": "'", "\\": "\\"}
_STRING_FUNCTIONS = ("startsWith", "endsWith", "stringContains", "wildcard")
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


@dataclass(frozen=True)
class _Lit:
    """A literal; ``None`` is ``null``."""

    value: Scalar | None
    pos: Pos


@dataclass(frozen=True)
class _Call:
    name: str  # without the ``~``
    insensitive: bool
    args: tuple[Operand, ...]
    pos: Pos


@dataclass(frozen=True)
class _Tuple:
    """``("a", "b")``: only meaningful on the right of ``:``/``like``/``regex``."""

    items: tuple[Operand | Expr, ...]
    pos: Pos


Operand = FieldRef | _Lit | _Call | _Tuple
Node = Tree[Token] | Token


def parse_eql(text: str) -> Query:
    """Parse an EQL query; raises ``RuleSyntaxError`` or ``UnsupportedConstruct``."""
    tree = parse_tree("eql", text, _NAMES)
    first = tree.children[0]
    if isinstance(first, Token):  # UNSUPPORTED_QUERY
        kind = str(first).split(None, 1)[0]
        raise UnsupportedConstruct(kind, f"{kind} queries span several events", pos=pos_of(first))
    if len(tree.children) > 1:
        pipe = tree.children[1]
        assert isinstance(pipe, Token)
        raise UnsupportedConstruct(
            "pipe", "pipes post-process results outside a single-event filter", pos=pos_of(pipe)
        )
    return _event_query(first)


def _event_query(node: Tree[Token] | Token) -> Query:
    assert isinstance(node, Tree)
    category_token, condition = node.children
    assert isinstance(category_token, Token)
    category = "any" if category_token.type == "ANY" else _category(category_token)
    return Query(language="eql", where=_condition(condition), category=category)


# ---------------------------------------------------------------------------- conditions


def _condition(node: Tree[Token] | Token) -> Expr:
    """A sub-tree in a position that needs a truth value."""
    if isinstance(node, Tree) and node.data in _CONDITIONS:
        pos = pos_of(node)
        kids = node.children
        match node.data:
            case "or_expr":
                return Or(flatten(Or, [_condition(k) for k in kids]), pos=pos)
            case "and_expr":
                return And(flatten(And, [_condition(k) for k in kids]), pos=pos)
            case "not_expr":
                return Not(_condition(kids[1]), pos=pos)
            case "comparison":
                return _comparison(kids[0], _token(kids[1]), kids[2], pos)
            case "in_set" | "not_in_set":
                op = kids[-2]
                assert isinstance(op, Token)
                equals = _in_set(_field_operand(kids[0], str(op)), str(op), kids[-1], pos)
                return Not(equals, pos=pos) if node.data == "not_in_set" else equals
            case "string_op":
                return _string_op(kids[0], _token(kids[1]), kids[2], pos)
    value = _operand(node)
    if isinstance(value, _Call):
        return _function(value)
    if isinstance(value, _Lit) and isinstance(value.value, bool):
        return Const(value.value, pos=value.pos)
    if isinstance(value, Operand):
        raise UnsupportedConstruct(
            "bare value", "a field or literal is not a condition; compare it", pos=value.pos
        )
    return value


def _comparison(left_node: Node, op_token: Token, right_node: Node, pos: Pos) -> Expr:
    op = str(op_token)
    if op == "=":
        raise RuleSyntaxError("'=' is not an EQL comparison; use '=='", pos=pos_of(op_token))
    left, right = _operand(left_node), _operand(right_node)
    if isinstance(left, _Lit) and not isinstance(right, _Lit):
        left, right, op = right, left, _FLIP[op]
    for side in (left, right):
        if not isinstance(side, Operand):
            raise UnsupportedConstruct(
                "boolean comparison", "a condition compared as a value", pos=side.pos
            )
        if isinstance(side, _Tuple):
            raise RuleSyntaxError(f"a list cannot be compared with {op}", pos=side.pos)
        if isinstance(side, _Call) and (side.name != "length" or side.insensitive):
            raise _function_error(side, "only length(field) can be compared")
    if not isinstance(right, _Lit):
        raise UnsupportedConstruct(
            "field comparison", "both sides are fields or functions", pos=right.pos
        )
    if isinstance(left, _Lit):
        raise UnsupportedConstruct("constant comparison", "both sides are literals", pos=pos)
    if isinstance(left, _Call):
        return _length_comparison(left, op, right, pos)
    assert isinstance(left, FieldRef)
    value = right.value
    if value is None:
        if op not in ("==", "!="):
            raise UnsupportedConstruct("null ordering", f"{op} null is never true", pos=pos)
        return Not(Exists(left, pos=pos), pos=pos) if op == "==" else Exists(left, pos=pos)
    if op in ("==", "!="):
        equals = Equals(left, (value,), pos=pos)
        return equals if op == "==" else Not(equals, pos=pos)
    if isinstance(value, str):
        raise UnsupportedConstruct(
            "string ordering", f"{left.name} {op} a string compares text order", pos=right.pos
        )
    if isinstance(value, bool):
        raise UnsupportedConstruct("boolean ordering", f"{op} on true/false", pos=right.pos)
    return Compare(left, op, value, pos=pos)


def _length_comparison(call: _Call, op: str, right: _Lit, pos: Pos) -> Expr:
    if len(call.args) != 1 or not isinstance(call.args[0], FieldRef):
        raise _function_error(call, "expects a single field argument")
    value = right.value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UnsupportedConstruct(
            "function length", "the length can only be compared with a number", pos=right.pos
        )
    length = Length(call.args[0], pos=call.pos)
    if op == "!=":
        return Not(Compare(length, "==", value, pos=pos), pos=pos)
    return Compare(length, op, value, pos=pos)


def _in_set(field: FieldRef, op: str, items: Tree[Token] | Token, pos: Pos) -> Equals:
    assert isinstance(items, Tree)
    values = _literals([_operand(k) for k in items.children])
    return Equals(field, values, case_insensitive=op.endswith("~"), pos=pos)


def _string_op(left_node: Node, op_token: Token, right_node: Node, pos: Pos) -> Expr:
    op = str(op_token)
    field = _field_operand(left_node, op)
    right = _operand(right_node)
    items = right.items if isinstance(right, _Tuple) else (right,)
    values = _literals(items)
    if op == ":":
        return _seq(field, values, pos)
    kind = op.rstrip("~")
    for item, value in zip(items, values, strict=True):
        if not isinstance(value, str):
            raise RuleSyntaxError(f"{kind} needs string patterns, not {value!r}", pos=_pos(item))
    texts = tuple(str(v) for v in values)
    insensitive = op.endswith("~")
    if kind == "like":
        patterns = tuple(Pattern.parse(t, "*?") for t in texts)
        return Match(field, patterns, case_insensitive=insensitive, pos=pos)
    return Regex(field, texts, case_insensitive=insensitive, pos=pos)


def _seq(field: FieldRef, values: tuple[Scalar, ...], pos: Pos) -> Expr:
    """``field : v``: case-insensitive; strings are wildcard patterns with ``*`` and ``?``."""
    patterns = [Pattern.parse(v, "*?") for v in values if isinstance(v, str)]
    if all(p.is_literal for p in patterns):
        return Equals(field, values, case_insensitive=True, pos=pos)
    match = Match(field, tuple(patterns), case_insensitive=True, pos=pos)
    others = tuple(v for v in values if not isinstance(v, str))
    if not others:
        return match
    return Or((match, Equals(field, others, case_insensitive=True, pos=pos)), pos=pos)


# ---------------------------------------------------------------------------- functions


def _function(call: _Call) -> Expr:
    """A function call used as a condition."""
    if call.name.lower() == "cidrmatch":  # Elasticsearch resolves function names ignoring case
        return _cidr_match(call)
    if call.name not in _STRING_FUNCTIONS:
        reason = "use it in a comparison" if call.name == "length" else "not supported"
        raise _function_error(call, reason)
    wildcard = call.name == "wildcard"
    if len(call.args) < 2 or (not wildcard and len(call.args) != 2):
        expected = "a field and one or more patterns" if wildcard else "a field and a string"
        raise _function_error(call, f"expects {expected}")
    field, *rest = call.args
    if not isinstance(field, FieldRef):
        raise _function_error(call, "the first argument must be a field")
    texts: list[str] = []
    for arg in rest:
        if not (isinstance(arg, _Lit) and isinstance(arg.value, str)):
            raise _function_error(call, "arguments after the field must be string literals")
        texts.append(arg.value)
    if wildcard:
        patterns = tuple(Pattern.parse(t, "*?") for t in texts)
    else:
        (text,) = texts
        shapes: dict[str, tuple[str | Wild, ...]] = {
            "startsWith": (text, Wild.ANY),
            "endsWith": (Wild.ANY, text),
            "stringContains": (Wild.ANY, text, Wild.ANY),
        }
        # startsWith(x, "") and the like: any string, the pattern ``*``
        patterns = (Pattern.of(shapes[call.name]) if text else Pattern((Wild.ANY,)),)
    return Match(field, patterns, case_insensitive=call.insensitive, pos=call.pos)


def _cidr_match(call: _Call) -> CidrMatch:
    """``cidrMatch(field, "block", ...)``: the blocks are checked against the field's type by
    ``passes.coerce_literals`` (they must be literals here, as Elasticsearch folds them)."""
    if call.insensitive:
        raise _function_error(call, "has no case-insensitive form")
    field, *rest = call.args or (None,)
    if not isinstance(field, FieldRef) or not rest:
        raise _function_error(call, "expects a field and one or more address blocks")
    blocks = [a.value for a in rest if isinstance(a, _Lit) and isinstance(a.value, str)]
    if len(blocks) != len(rest):
        raise _function_error(call, "the address blocks must be string literals")
    return CidrMatch(field, tuple(blocks), pos=call.pos)


def _function_error(call: _Call, reason: str) -> UnsupportedConstruct:
    name = call.name + ("~" if call.insensitive else "")
    return UnsupportedConstruct(f"function {name}", reason, pos=call.pos)


# ---------------------------------------------------------------------------- operands


def _operand(node: Tree[Token] | Token) -> Operand | Expr:
    """A sub-tree in value position; a parenthesised condition stays a condition."""
    if isinstance(node, Token):
        return _literal(node)
    pos = pos_of(node)
    kids = node.children
    match node.data:
        case "field":
            token = kids[0]
            assert isinstance(token, Token)
            text = str(token)
            return FieldRef(_field_name(text.lstrip("?")), optional=text[0] == "?", pos=pos)
        case "call":
            name = kids[0]
            args = kids[1].children if len(kids) > 1 and isinstance(kids[1], Tree) else []
            values = tuple(_value(a) for a in args)
            text = str(name)
            return _Call(text.rstrip("~"), text.endswith("~"), values, pos)
        case "tuple":
            return _Tuple(tuple(_operand(k) for k in kids), pos)
        case "signed":
            sign, inner = kids
            value = _operand(inner)
            number = value.value if isinstance(value, _Lit) else None
            if isinstance(number, bool) or not isinstance(number, int | float):
                raise UnsupportedConstruct("arithmetic", "a sign on a non-number", pos=pos)
            return _Lit(-number if str(sign) == "-" else number, pos)
        case "arithmetic":
            op = kids[1]
            assert isinstance(op, Token)
            raise UnsupportedConstruct("arithmetic", f"operator {op}", pos=pos_of(op))
    return _condition(node)


def _value(node: Tree[Token] | Token) -> Operand:
    value = _operand(node)
    if not isinstance(value, Operand):
        raise UnsupportedConstruct("boolean argument", "a condition as a value", pos=value.pos)
    return value


def _field_operand(node: Tree[Token] | Token, op: str) -> FieldRef:
    value = _operand(node)
    if not isinstance(value, FieldRef):
        construct = f"function {value.name}" if isinstance(value, _Call) else f"{op} on a non-field"
        raise UnsupportedConstruct(construct, f"left of {op} must be a field", pos=_pos(value))
    return value


def _literals(items: Sequence[Operand | Expr]) -> tuple[Scalar, ...]:
    """The values of a list that must hold only non-null literals."""
    out: list[Scalar] = []
    for value in items:
        if isinstance(value, _Tuple):
            raise RuleSyntaxError("nested lists are not EQL", pos=value.pos)
        if not isinstance(value, _Lit):
            raise UnsupportedConstruct(
                "field comparison", "list items must be literals", pos=_pos(value)
            )
        if value.value is None:
            raise UnsupportedConstruct("null in list", "use '== null' or '!= null'", pos=value.pos)
        out.append(value.value)
    return tuple(out)


def _literal(token: Token) -> _Lit:
    pos = pos_of(token)
    text = str(token)
    match token.type:
        case "INT":
            return _Lit(int(text), pos)
        case "DECIMAL":
            return _Lit(float(text), pos)
        case "TRUE" | "FALSE":
            return _Lit(token.type == "TRUE", pos)
        case "NULL":
            return _Lit(None, pos)
        case "RAW_STRING":
            return _Lit(text[3:-3] if text.startswith('"""') else text[2:-1], pos)
        case "STRING":
            return _Lit(_unescape(text[1:-1], pos), pos)
        case "SQ_STRING":
            raise RuleSyntaxError("single-quoted strings are not EQL; use double quotes", pos=pos)
    raise AssertionError(f"unexpected EQL token {token.type}")  # pragma: no cover


def _unescape(body: str, pos: Pos) -> str:
    r"""EQL string escapes: ``\b \t \n \f \r \" \' \\`` and ``\u{hex}`` (2 to 8 digits)."""

    def one(m: re.Match[str]) -> str:
        if m.group(1):
            return _ESCAPES[m.group(1)]
        code = int(m.group(2), 16)
        if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            raise RuleSyntaxError(f"invalid unicode escape \\u{{{m.group(2)}}}", pos=pos)
        return chr(code)

    return re.sub(r"\\(?:([btnfr\"'\\])|u\{([0-9A-Fa-f]+)\})", one, body)


def _field_name(text: str) -> str:
    """Dotted field name; backquoted segments lose their quotes (doubled backquote → one)."""
    names = []
    for quoted, plain in _SEGMENT.findall(text):
        names.append(quoted.replace("``", "`") if quoted else plain)
    return ".".join(names)


def _category(token: Token) -> str:
    if not _CATEGORY.fullmatch(str(token)):
        raise RuleSyntaxError(f"event category {token} is not a name", pos=pos_of(token))
    return _field_name(str(token))


def _token(item: Tree[Token] | Token) -> Token:
    assert isinstance(item, Token), item
    return item


def _pos(value: Operand | Expr) -> Pos | None:
    return value.pos
