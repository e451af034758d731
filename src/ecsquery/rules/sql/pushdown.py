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
from collections.abc import Sequence

from ecsquery.errors import Pos
from ecsquery.rules.lang.ast import And, Equals, Expr, Match, Or
from ecsquery.rules.sql import literals
from ecsquery.schema import TIME_COLUMN, Column, FieldTable

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


def _runs(node: Equals | Match, array: bool) -> list[list[str]] | None:
    """Per alternative (a value or a pattern) of ``node``, the texts every match of it contains,
    as they are written in the column (an array column's JSON text escapes them)."""
    if isinstance(node, Equals):
        if not all(isinstance(v, str) and v for v in node.values):
            return None
        values = [str(v) for v in node.values]
        return [['"' + _escaped(v) + '"'] if array else [v] for v in values]
    return [
        [_escaped(part) if array else part for part in pattern.parts if isinstance(part, str)]
        for pattern in node.patterns
    ]


def _run_term(
    column: Column, alternatives: list[list[str]], case_insensitive: bool, pos: Pos | None
) -> str | None:
    """``column GLOB '*<run>*'`` for the longest text every alternative contains."""
    common = _common(alternatives) if alternatives else ""
    if len(common) < MIN_RUN:
        return None
    needle = _glob(common, case_insensitive)
    return f"{column.name} GLOB {literals.quote('*' + needle + '*', pos)}"


def _text_column(node: Expr, fields: FieldTable) -> Column | None:
    if not isinstance(node, (Equals, Match)):
        return None
    column = fields.by_ecs(node.field.name)
    return None if column is None or column.numeric or column.sql is not None else column


def _term(node: Equals | Match, fields: FieldTable) -> str | None:
    """The GLOB every hit of a top-level ``node`` satisfies, where SQLite cannot pass ``node``
    itself: any term on an array column (``json_each``), and on a scalar column an OR of
    GLOBs (several case-insensitive values or several patterns; one of them, or a
    case-sensitive ``=``/IN, reaches ``generate`` as it is)."""
    column = _text_column(node, fields)
    if column is None:
        return None
    alternatives = node.values if isinstance(node, Equals) else node.patterns
    if not column.array and (
        len(alternatives) < 2 or (isinstance(node, Equals) and not node.case_insensitive)
    ):
        return None
    runs = _runs(node, column.array)
    return None if runs is None else _run_term(column, runs, node.case_insensitive, node.pos)


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
        if column is None or column.array or column.numeric or column.sql is not None:
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
    return _or_run_term(node, fields)


def _branch_terms(branch: Expr, column: Column, fields: FieldTable) -> list[Equals | Match]:
    terms = branch.children if isinstance(branch, And) else (branch,)
    return [
        t for t in terms if isinstance(t, (Equals, Match)) and _text_column(t, fields) == column
    ]


def _or_run_term(node: Or, fields: FieldTable) -> str | None:
    """The GLOB on one TEXT column that every branch of an OR implies: each branch has a
    top-level term on the column, and all their values and patterns share a long text."""
    first = node.children[0]
    for candidate in first.children if isinstance(first, And) else (first,):
        column = _text_column(candidate, fields)
        if column is None:
            continue
        alternatives: list[list[str]] = []
        case_insensitive = False
        for branch in node.children:
            found = _branch_terms(branch, column, fields)
            runs = _runs(found[0], column.array) if found else None
            if runs is None:
                break
            alternatives += runs
            case_insensitive |= found[0].case_insensitive
        else:
            term = _run_term(column, alternatives, case_insensitive, node.pos)
            if term is not None:
                return term
    return None


def pushdown_terms(where: Expr, fields: FieldTable) -> list[str]:
    """The redundant terms for the top-level AND terms of ``where`` (after the passes)."""
    terms: list[str] = []
    for node in where.children if isinstance(where, And) else (where,):
        if isinstance(node, (Equals, Match)):
            term = _term(node, fields)
        elif isinstance(node, Or):
            term = _or_term(node, fields)
        else:
            continue
        if term is not None:
            terms.append(term)
    return terms


KEY_COLUMN = TIME_COLUMN
"""The column the outer query takes its hits' rows by: ``time``, which every hit has (the
lookback compares it), so a NULL never loses a hit; a hit's second brings the other events of
that second along, which SQLite's re-check drops."""


HITS = "hits"
"""The CTE of a keyed ``hits_only`` (``hits_<category>`` for a branch of ``any where``)."""
HIT_KEY = "_key"


def hits_only(sql: str, lookups: Sequence[str] = (), key: Sequence[str] = ()) -> str:
    """The pack query ``sql`` with ``AND time IN (SELECT time <its own FROM and WHERE>)``;
    when some of its terms (``lookups``) read a lookup, the keyed form of
    :func:`hits_only_parts` instead.

    A pack query selects every column for the alert, so osquery's ``colsUsed`` (sent to
    extensions since osquery 3.2.6, commit 1ea714a32; every 5.x) is the whole table and each
    ``generate`` reply carries every column of every row its constraints leave, the
    environment included: 36 MB for one rule of the bench pack. The subquery reads only the
    columns the conditions use (SQLite's ``colUsed``, which osquery 5.23 ``a5b14f63d`` turns
    into ``colsUsed`` in ``osquery/sql/virtual_table.cpp`` l. 807-829 and sends with the
    context, ``osquery/core/tables.cpp`` l. 76-86); the outer query's ``time IN (...)`` then
    reaches its ``generate`` as ``time = <second>`` constraints, and only the seconds that hold
    a hit travel with every column.

    Exact: the outer query keeps every term, so the IN is one more necessary condition (a hit
    of the outer query is a hit of the subquery over the same rows, and its ``time`` is not
    NULL, or the lookback would have failed). The table declares ``time`` without
    ``OPTIMIZED`` (``extension/table.py``): SQLite then loops over the IN's values, calling
    ``xFilter`` once per hit second and never for an empty list, where an IN handed whole
    would reach ``generate`` with only the lookback left (``xFilter`` l. 955-960 adds nothing
    for an empty list) and bring back the whole reply this avoids.
    """
    cte, statement = hits_only_parts(sql, lookups, key)
    return statement if cte is None else with_ctes([cte], statement)


def hits_only_parts(
    sql: str, lookups: Sequence[str] = (), key: Sequence[str] = (), name: str = HITS
) -> tuple[str | None, str]:
    """:func:`hits_only`'s two parts: a CTE (None without lookups) and the statement.

    A lookup (``schema.LOOKUPS``: a query on osquery's ``signature`` table per row) must not
    run twice per hit, once in the subquery and once in the outer query. So the subquery
    becomes a ``MATERIALIZED`` CTE ``name`` (SQLite 3.35, in every osquery since 4.9.0,
    osquery#7090; the sequences' CTEs rely on it too) holding each hit's ``time`` and
    ``json_array(time, <the columns the lookup terms read>)``, and the outer query keeps the
    other terms, drops the lookup terms and asks for its row's key among the hits' keys.

    Exact: the lookup terms are functions of the columns they read (and of ``signature``,
    read within the one query), and ``json_array`` writes equal values alike and unequal ones
    (NULL, ``''``, text, numbers) apart; so a row whose key is a hit's has the same lookup
    terms (true), and it passes the other terms itself: it is a hit. Every hit has its own
    key among the keys, so no hit is lost.
    """
    start = sql.find("\nFROM ")
    if start < 0 or "\nWHERE " not in sql[start:]:
        return None, sql
    if not lookups:
        inner = "\n    ".join(sql[start + 1 :].split("\n"))
        return None, f"{sql}\n  AND {KEY_COLUMN} IN (\n    SELECT {KEY_COLUMN}\n    {inner})"
    row_key = f"json_array({', '.join([KEY_COLUMN, *key])})"
    body = "\n  ".join(sql[start + 1 :].split("\n"))
    cte = f"{name} AS MATERIALIZED (\n  SELECT {KEY_COLUMN}, {row_key} AS {HIT_KEY}\n  {body}\n)"
    lines = sql.split("\n")
    for term in lookups:
        lines.remove(f"  AND {term}")
    lines += [
        f"  AND {KEY_COLUMN} IN (SELECT {KEY_COLUMN} FROM {name})",
        f"  AND {row_key} IN (SELECT {HIT_KEY} FROM {name})",
    ]
    return cte, "\n".join(lines)


def with_ctes(ctes: Sequence[str], statement: str) -> str:
    """``WITH`` the CTEs (``hits_only_parts``), then the statement."""
    joined = ",\n".join(ctes)
    return f"WITH {joined}\n{statement}" if ctes else statement


UNION = "\nUNION ALL\n"
"""What joins the branches of an ``any where`` query (``rules.sql.union``), each wrapped."""


def _cte_bodies(sql: str) -> tuple[dict[str, list[str]], str]:
    """The keyed CTEs of ``sql`` (each body's lines after its SELECT line, dedented) and the
    statement after them; ``({}, sql)`` when it has none."""
    lines = sql.split("\n")
    if not (lines[0].startswith("WITH ") and lines[0].endswith(" AS MATERIALIZED (")):
        return {}, sql
    bodies: dict[str, list[str]] = {}
    first = lines[0][len("WITH ") :]
    at = 0
    while True:
        name = (first if at == 0 else lines[at]).split(" ", 1)[0]
        end = next(i for i in range(at + 1, len(lines)) if lines[i] in (")", "),"))
        bodies[name] = [line[2:] for line in lines[at + 2 : end]]
        if lines[end] == ")":
            return bodies, "\n".join(lines[end + 1 :])
        at = end + 1


def without_hits_only(sql: str) -> str:
    """``sql`` as it was before :func:`hits_only` (drift reports and the bench show it), each
    ``UNION ALL`` branch unwrapped, a keyed one rebuilt from its CTE."""
    bodies, statement = _cte_bodies(sql)
    marker = f"\n  AND {KEY_COLUMN} IN (\n    SELECT {KEY_COLUMN}\n"
    parts = []
    for part in statement.split(UNION):
        keyed = [
            n for n in bodies if f"\n  AND {KEY_COLUMN} IN (SELECT {KEY_COLUMN} FROM {n})" in part
        ]
        if keyed:
            parts.append("\n".join([part[: part.find("\nFROM ")], *bodies[keyed[0]]]))
        else:
            parts.append(part.split(marker, 1)[0])
    return UNION.join(parts)
