"""The reference evaluator: a rule's query (after ``passes``) over one ECS document, in Python.

Written from Elastic's documented semantics and deliberately independent of the SQL backend
(it imports nothing from ``ecsquery.rules.sql``), so the property tests that compare the two
catch a mistake in either. The semantics, per node:

- a field's values are its value, or each element of an array, nested arrays flattened and
  ``null`` elements skipped, numbers and booleans in text fields as their keyword text
  (``ecsquery.values``: ``1``, ``true``); a list in a single-valued field is any of its values
  (Elasticsearch's answer; ecsquery refuses such a document, see ``values.single``);
  ``""`` is no value (osquery's row model cannot tell ``""`` from missing, see ``schema``: the
  one documented difference kept here), so a missing field satisfies no predicate and ``Not``
  of any predicate on it is true;
- a predicate on a field holds when *any* value satisfies it;
- strings compare code point by code point, NUL included (as Elasticsearch indexes it); with
  ``case_insensitive`` a code point of the literal matches itself or one of its
  ``values.case_alternates`` (Lucene's ``CaseFolding.expand``);
- wildcards: ``*`` any run of code points (also empty), ``?`` exactly one;
- regex: Lucene syntax matched against the whole string, on code points; ``regex~`` folds
  literal code points and single class members, never class ranges (apache/lucene#14378);
- numbers and booleans compare by value; ``length`` counts UTF-16 code units (Java's
  ``String.length()``, which EQL's ``LengthFunctionProcessor`` calls);
- an ``ip`` field holds addresses: ``==`` compares them, ``cidrMatch`` holds when one lies in
  a block, its first and last address included (Python's ``ipaddress``, not osquery's
  ``in_cidr_block``: the SQL must make up for the difference).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from ecsquery.rows import get_path
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
from ecsquery.schema import ALL_COLUMNS, EcsType
from ecsquery.values import case_alternates, flatten, ip_text, keyword

_NUMERIC = re.compile(r"^[+-]?\d+$")


_IP_FIELDS = frozenset(c.ecs for c in ALL_COLUMNS if c.ecs_type is EcsType.IP)


def values(doc: Mapping[str, Any], ref: FieldRef) -> list[Any]:
    """Every value of a field in a document, missing ones (None, "") left out; an ``ip``
    field's values are addresses (``values.ip_text``: text that is none is no value)."""
    found = [v for v in flatten(get_path(doc, ref.name)) if v != ""]
    if ref.name in _IP_FIELDS:
        addresses = (ip_text(keyword(v)) for v in found if not isinstance(v, dict))
        return [a for a in addresses if a is not None]
    return found


def texts(doc: Mapping[str, Any], ref: FieldRef) -> list[str]:
    """The values of a text field as its keyword terms (numbers and booleans as text)."""
    return [keyword(v) for v in values(doc, ref) if not isinstance(v, dict)]


def _char_matches(literal: str, data: str, ci: bool) -> bool:
    return data == literal or (ci and data in case_alternates(literal))


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
    return not isinstance(data, dict) and _text_equals(literal, keyword(data), ci)


_LUCENE_OPERATORS = set("~&<>@#")


def _escaped(ch: str) -> str:
    """Lucene ``\\c``: a shorthand class for ``dswDSW``, else the character itself."""
    return "\\" + ch if ch in "dswDSW" else re.escape(ch)


def _folded(ch: str, ci: bool) -> str:
    """One literal code point as a Python pattern, with its case alternates under ``ci``."""
    alts = case_alternates(ch) if ci else ()
    return f"[{''.join(re.escape(c) for c in (ch, *alts))}]" if alts else re.escape(ch)


def _class_char(pattern: str, i: int) -> tuple[str, int]:
    """The class member at ``i`` (``\\`` makes the next one literal) and the index after it."""
    return (pattern[i + 1], i + 2) if pattern[i] == "\\" else (pattern[i], i + 1)


@lru_cache(maxsize=512)
def lucene_regex(pattern: str, ci: bool) -> re.Pattern[str]:
    """A Lucene regexp as a Python pattern for ``fullmatch`` (code points, ``.`` any)."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            nxt = pattern[i + 1]
            out.append(_escaped(nxt) if nxt in "dswDSW" else _folded(nxt, ci))
            i += 2
            continue
        if ch == '"':
            end = pattern.index('"', i + 1)
            out.append(f"(?:{''.join(_folded(c, ci) for c in pattern[i + 1 : end])})")
            i = end + 1
            continue
        if ch == "[":
            i += 1
            body = "^" if pattern[i] == "^" else ""
            i += len(body)
            while pattern[i] != "]":
                if pattern[i] == "\\" and pattern[i + 1] in "dswDSW":
                    body += _escaped(pattern[i + 1])
                    i += 2
                    continue
                lo, i = (pattern[i + 1], i + 2) if pattern[i] == "\\" else (pattern[i], i + 1)
                if pattern[i] == "-" and pattern[i + 1] != "]":  # a range: never case-folded
                    hi, i = (
                        (pattern[i + 2], i + 3)
                        if pattern[i + 1] == "\\"
                        else (pattern[i + 1], i + 2)
                    )
                    body += f"{re.escape(lo)}-{re.escape(hi)}"
                else:
                    alts = case_alternates(lo) if ci else ()
                    body += "".join(re.escape(c) for c in (lo, *alts))
            out.append(f"[{body}]")
            i += 1
            continue
        if ch in _LUCENE_OPERATORS:
            raise ValueError(f"Lucene operator {ch!r} not supported")
        if ch == ".":
            out.append("(?s:.)")
        elif ch in "^$":
            out.append("\\" + ch)
        elif ch in "()|*+?{}0123456789,":
            out.append(ch)
        else:
            out.append(_folded(ch, ci))
        i += 1
    return re.compile("".join(out), re.ASCII)


def _regex_matches(pattern: str, data: str, ci: bool) -> bool:
    return lucene_regex(pattern, ci).fullmatch(data) is not None


def utf16_length(text: str) -> int:
    """Java's ``String.length()``: UTF-16 code units (an astral code point counts 2)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


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
        lengths = [utf16_length(v) for v in texts(doc, node.left.field)]
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
        wildcard_matches(p, v, node.case_insensitive)
        for v in texts(doc, node.field)
        for p in node.patterns
    ),
    Regex: lambda node, doc: any(
        _regex_matches(p, v, node.case_insensitive)
        for v in texts(doc, node.field)
        for p in node.patterns
    ),
    Compare: _compare_values,
    CidrMatch: lambda node, doc: any(
        ipaddress.ip_address(v) in ipaddress.ip_network(block)
        for v in texts(doc, node.field)
        for block in node.blocks
    ),
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
