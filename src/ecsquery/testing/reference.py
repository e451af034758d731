"""The reference evaluator: a rule's query (after ``passes``) over one ECS document, in Python.

Written from Elastic's documented semantics and deliberately independent of the SQL backend
(it imports nothing from ``ecsquery.rules.sql``), so the property tests that compare the two
catch a mistake in either. The semantics, per node:

- a field's values are its value, or each element of an array; ``None`` and ``""`` are no
  value (osquery's row model cannot tell ``""`` from missing, see ``schema``), so a missing
  field satisfies no predicate and ``Not`` of any predicate on it is true;
- a predicate on a field holds when *any* value satisfies it;
- strings compare code point by code point; with ``case_insensitive`` a code point of the
  literal matches itself or its one alternate case (Elasticsearch's
  ``AutomatonQueries.toCaseInsensitiveChar``: upper case of a lower-case code point, lower
  case of any other, and none when Python's mapping is more than one code point);
- wildcards: ``*`` any run of code points (also empty), ``?`` exactly one;
- regex: Lucene syntax matched against the whole string, on code points; ``regex~`` folds
  ASCII letters only (Lucene's ``ASCII_CASE_INSENSITIVE``);
- numbers and booleans compare by value; ``length`` counts code points.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from ecsquery.rows import get_path
from ecsquery.rules.lang.ast import (
    And,
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

_NUMERIC = re.compile(r"^[+-]?\d+$")


def values(doc: Mapping[str, Any], ref: FieldRef) -> list[Any]:
    """Every value of a field in a document, missing ones (None, "") left out."""
    raw = get_path(doc, ref.name)
    items = raw if isinstance(raw, list | tuple) else [raw]
    return [v for v in items if v is not None and v != ""]


def _alternate(ch: str) -> str:
    other = ch.upper() if ch.islower() else ch.lower()
    return other if len(other) == 1 else ch


def _char_matches(literal: str, data: str, ci: bool) -> bool:
    return data == literal or (ci and data == _alternate(literal))


def _text_equals(literal: str, data: str, ci: bool) -> bool:
    return len(literal) == len(data) and all(
        _char_matches(a, b, ci) for a, b in zip(literal, data, strict=True)
    )


def wildcard_matches(pattern: Pattern, data: str, ci: bool) -> bool:
    """Whole-string wildcard match by dynamic programming over code points."""
    tokens: list[str | Wild] = []
    for part in pattern.parts:
        tokens.extend([part] if isinstance(part, Wild) else list(part))
    # reachable[j]: the tokens so far can match data[:j]
    reachable = [True] + [False] * len(data)
    for token in tokens:
        nxt = [False] * (len(data) + 1)
        if token is Wild.ANY:
            seen = False
            for j in range(len(data) + 1):
                seen = seen or reachable[j]
                nxt[j] = seen
        else:
            for j in range(len(data)):
                if reachable[j] and (token is Wild.ONE or _char_matches(str(token), data[j], ci)):
                    nxt[j + 1] = True
        reachable = nxt
    return reachable[len(data)]


def _as_number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str) and _NUMERIC.match(value):
        return int(value)
    return None


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    return None


def _equal(literal: Scalar, data: Any, ci: bool) -> bool:
    if isinstance(literal, bool):
        return _as_bool(data) is literal
    if isinstance(literal, int | float):
        return _as_number(data) == literal
    return isinstance(data, str) and _text_equals(literal, data, ci)


_LUCENE_OPERATORS = set("~&<>@#")


def _escaped(ch: str) -> str:
    """Lucene ``\\c``: a shorthand class for ``dswDSW``, else the character itself."""
    return "\\" + ch if ch in "dswDSW" else re.escape(ch)


@lru_cache(maxsize=512)
def lucene_regex(pattern: str, ci: bool) -> re.Pattern[str]:
    """A Lucene regexp as a Python pattern for ``fullmatch`` (code points, ``.`` any)."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out.append(_escaped(pattern[i + 1]))
            i += 2
            continue
        if ch == '"':
            end = pattern.index('"', i + 1)
            out.append(f"(?:{re.escape(pattern[i + 1 : end])})")
            i = end + 1
            continue
        if ch == "[":
            i += 1
            body = "^" if pattern[i] == "^" else ""
            i += len(body)
            while pattern[i] != "]":
                if pattern[i] == "\\":
                    body += _escaped(pattern[i + 1])
                    i += 2
                else:
                    body += pattern[i] if pattern[i] == "-" else re.escape(pattern[i])
                    i += 1
            out.append(f"[{body}]")
            i += 1
            continue
        if ch in _LUCENE_OPERATORS:
            raise ValueError(f"Lucene operator {ch!r} not supported")
        if ch == ".":
            out.append("(?s:.)")
        elif ch in "^$":
            out.append("\\" + ch)
        else:
            out.append(ch)
        i += 1
    flags = re.ASCII | (re.IGNORECASE if ci else 0)
    return re.compile("".join(out), flags)


def _regex_matches(pattern: str, data: Any, ci: bool) -> bool:
    return isinstance(data, str) and lucene_regex(pattern, ci).fullmatch(data) is not None


def _compare(op: str, left: float, right: float) -> bool:
    return {
        "==": left == right,
        "<": left < right,
        "<=": left <= right,
        ">": left > right,
        ">=": left >= right,
    }[op]


def _compare_values(node: Compare, doc: Mapping[str, Any]) -> bool:
    if isinstance(node.left, Length):
        lengths = [len(v) for v in values(doc, node.left.field) if isinstance(v, str)]
        return any(_compare(node.op, n, node.value) for n in lengths)
    numbers = [_as_number(v) for v in values(doc, node.left)]
    return any(n is not None and _compare(node.op, n, node.value) for n in numbers)


Semantics = Callable[[Any, Mapping[str, Any]], bool]

SEMANTICS: dict[type, Semantics] = {
    And: lambda node, doc: all(evaluate(c, doc) for c in node.children),
    Or: lambda node, doc: any(evaluate(c, doc) for c in node.children),
    Not: lambda node, doc: not evaluate(node.child, doc),
    Const: lambda node, doc: bool(node.value),
    Exists: lambda node, doc: bool(values(doc, node.field)),
    Equals: lambda node, doc: any(
        _equal(lit, v, node.case_insensitive)
        for v in values(doc, node.field)
        for lit in node.values
    ),
    Match: lambda node, doc: any(
        isinstance(v, str) and wildcard_matches(p, v, node.case_insensitive)
        for v in values(doc, node.field)
        for p in node.patterns
    ),
    Regex: lambda node, doc: any(
        _regex_matches(p, v, node.case_insensitive)
        for v in values(doc, node.field)
        for p in node.patterns
    ),
    Compare: _compare_values,
}
"""One entry per node type, as the compiler's visitor table: a new node type (multi-event
rules) registers its semantics here instead of growing an ``isinstance`` chain."""


def evaluate(expr: Expr, doc: Mapping[str, Any]) -> bool:
    """Whether ``expr`` holds for ``doc``."""
    semantics = SEMANTICS.get(type(expr))
    if semantics is None:
        raise TypeError(f"no reference semantics for {type(expr).__name__}")
    return semantics(expr, doc)


def matches(query: Query, doc: Mapping[str, Any]) -> bool:
    """Whether an event matches a normalized query (run ``passes.run_passes`` first)."""
    if query.category not in (None, "any"):
        raise ValueError("run passes first: the event category must be a conjunct")
    return evaluate(query.where, doc)
