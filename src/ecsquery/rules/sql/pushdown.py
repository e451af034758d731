"""Redundant conditions that let osquery hand a rule's array predicate to ``generate``.

An array predicate compiles to ``EXISTS (SELECT 1 FROM json_each(process_args) …)``, which
SQLite cannot pass to the extension's ``xBestIndex``: every such rule makes ``generate``
serve its whole lookback. This pass adds, next to such a top-level term, a ``GLOB`` on the
array column's JSON text that the table can check itself (``extension/table.py``):

* ``Equals(field, (v,))``: an element equal to ``v`` is written ``"<v escaped>"`` in the JSON
  text, so the text matches ``*"<v escaped>"*``;
* ``Match(field, (pattern,))``: an element matching the pattern contains its longest literal
  run, so the text contains that run escaped: ``*<run escaped>*``;
* several values or patterns (an IN, an OR): the longest text common to every alternative
  (``'start'``/``'process_started'`` → ``*start*``), when it is long enough;
* an ``Or`` whose every branch has a case-sensitive ``=`` on one scalar TEXT column (``a = 'x'
  AND … OR a IN ('y', 'z') AND …``): ``a IN ('x', 'y', 'z')``, which osquery passes whole.

Both are *necessary* conditions, never sufficient ones: JSON string escaping maps each code
point on its own (the row encoder writes non-ASCII as is, ``rows.encode_value``), so the
escape of a substring is a substring of the escape. Case-insensitive terms get the compiler's
own case classes (``literals.glob_char``). The original term stays, so the answer is the
same; only the rows osquery asks for shrink. Terms under NOT, and empty strings, are left
alone.
"""

from __future__ import annotations

import json

from ecsquery.rules.lang.ast import And, Equals, Expr, Match, Or
from ecsquery.rules.sql import literals
from ecsquery.schema import FieldTable

MIN_RUN = 3
"""A shorter literal run filters too little to be worth a term."""


def _escaped(text: str) -> str:
    """``text`` as it appears inside a JSON string in an array column's text."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _glob(text: str, case_insensitive: bool) -> str:
    return "".join(literals.glob_char(ch, case_insensitive) for ch in text)


def _common(alternatives: list[list[str]]) -> str:
    """The longest text inside some string of every alternative (each a list of runs)."""
    first = max(alternatives[0], key=len, default="")
    for size in range(len(first), 0, -1):
        for i in range(len(first) - size + 1):
            part = first[i : i + size]
            if all(any(part in run for run in runs) for runs in alternatives):
                return part
    return ""


def _array_term(node: Equals | Match, fields: FieldTable) -> str | None:
    """The GLOB on the array column's JSON text that every hit of ``node`` satisfies."""
    column = fields.by_ecs(node.field.name)
    if column is None or not column.array:
        return None
    if isinstance(node, Equals):
        if not all(isinstance(v, str) and v for v in node.values):
            return None
        alternatives = [['"' + _escaped(str(v)) + '"'] for v in node.values]
    else:
        alternatives = [
            [_escaped(part) for part in pattern.parts if isinstance(part, str)]
            for pattern in node.patterns
        ]
    if not alternatives:
        return None
    common = _common(alternatives)
    if len(common) < MIN_RUN:
        return None
    needle = _glob(common, node.case_insensitive)
    return f"{column.name} GLOB {literals.quote('*' + needle + '*', node.pos)}"


def _scalar_values(node: Expr, column: str, fields: FieldTable) -> set[str] | None:
    """The values a case-sensitive ``=`` on scalar TEXT ``column`` among ``node``'s top-level
    AND terms allows, or None when there is no such term."""
    for term in node.children if isinstance(node, And) else (node,):
        if not isinstance(term, Equals) or term.case_insensitive:
            continue
        found = fields.by_ecs(term.field.name)
        if found is None or found.name != column:
            continue
        if all(isinstance(v, str) for v in term.values):
            return {str(v) for v in term.values}
    return None


def _or_term(node: Or, fields: FieldTable) -> str | None:
    """``column IN (...)``: the union of one scalar column's ``=`` values over every branch of
    an OR, when each branch has one (osquery hands an IN on a scalar column to ``generate``)."""
    first = node.children[0]
    for term in first.children if isinstance(first, And) else (first,):
        if not isinstance(term, Equals):
            continue
        column = fields.by_ecs(term.field.name)
        if column is None or column.array or column.numeric:
            continue
        union: set[str] = set()
        for child in node.children:
            values = _scalar_values(child, column.name, fields)
            if values is None:
                break
            union |= values
        else:
            listed = ", ".join(literals.quote(v, node.pos) for v in sorted(union))
            return f"{column.name} IN ({listed})"
    return None


def pushdown_terms(where: Expr, fields: FieldTable) -> list[str]:
    """The redundant terms for the top-level AND terms of ``where`` (after the passes)."""
    terms: list[str] = []
    for node in where.children if isinstance(where, And) else (where,):
        if isinstance(node, (Equals, Match)):
            term = _array_term(node, fields)
        elif isinstance(node, Or):
            term = _or_term(node, fields)
        else:
            continue
        if term is not None:
            terms.append(term)
    return terms
