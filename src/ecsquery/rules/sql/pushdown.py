"""Redundant conditions that let osquery hand a rule's array predicate to ``generate``.

An array predicate compiles to ``EXISTS (SELECT 1 FROM json_each(process_args) …)``, which
SQLite cannot pass to the extension's ``xBestIndex``: every such rule makes ``generate``
serve its whole lookback. This pass adds, next to such a top-level term, a ``GLOB`` on the
array column's JSON text that the table can check itself (``extension/table.py``):

* ``Equals(field, (v,))``: an element equal to ``v`` is written ``"<v escaped>"`` in the JSON
  text, so the text matches ``*"<v escaped>"*``;
* ``Match(field, (pattern,))``: an element matching the pattern contains its longest literal
  run, so the text contains that run escaped: ``*<run escaped>*``.

Both are *necessary* conditions, never sufficient ones: JSON string escaping maps each code
point on its own (the row encoder writes non-ASCII as is, ``rows.encode_value``), so the
escape of a substring is a substring of the escape. Case-insensitive terms get the compiler's
own case classes (``literals.glob_char``). The original term stays, so the answer is the
same; only the rows osquery asks for shrink. Terms under OR or NOT, several values or
patterns, and empty strings are left alone.
"""

from __future__ import annotations

import json

from ecsquery.rules.lang.ast import And, Equals, Expr, Match
from ecsquery.rules.sql import literals
from ecsquery.schema import FieldTable

MIN_RUN = 3
"""A shorter literal run filters too little to be worth a term."""


def _escaped(text: str) -> str:
    """``text`` as it appears inside a JSON string in an array column's text."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _glob(text: str, case_insensitive: bool) -> str:
    return "".join(literals.glob_char(ch, case_insensitive) for ch in text)


def pushdown_terms(where: Expr, fields: FieldTable) -> list[str]:
    """The redundant terms for the top-level AND terms of ``where`` (after the passes)."""
    terms: list[str] = []
    for node in where.children if isinstance(where, And) else (where,):
        if not isinstance(node, (Equals, Match)):
            continue
        column = fields.by_ecs(node.field.name)
        if column is None or not column.array:
            continue
        ci = node.case_insensitive
        if isinstance(node, Equals):
            if len(node.values) != 1 or not isinstance(node.values[0], str) or not node.values[0]:
                continue
            needle = '"' + _glob(_escaped(node.values[0]), ci) + '"'
        else:
            if len(node.patterns) != 1:
                continue
            runs = [p for p in node.patterns[0].parts if isinstance(p, str)]
            run = max(runs, key=len, default="")
            if len(run) < MIN_RUN:
                continue
            needle = _glob(_escaped(run), ci)
        terms.append(f"{column.name} GLOB {literals.quote('*' + needle + '*', node.pos)}")
    return terms
