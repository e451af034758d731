"""The ES|QL subset (``rules/lang/esql.py``) → osquery SQL over the extension's table.

SQL's three-valued logic is ES|QL's, so conditions compile to plain SQL and NULL flows as
ES|QL's null: a missing field (``''`` or NULL in osquery's rows) is NULL, a multi-valued field
is NULL for comparisons and functions (an array column with exactly one element is that
element), ``IS NULL`` is about the field having no value at all. Dates are milliseconds.

The query's shape: ``WHERE``/``EVAL`` before ``STATS`` filter and extend the rows of the
lookback window (EVAL names are substituted as expressions); ``STATS ... BY`` is a GROUP BY;
commands after it are a WHERE over the grouped rows. Without STATS a row is one event: every
table column plus the EVAL columns (alerts carry the whole event, as Kibana's do for
non-aggregating ES|QL rules); with STATS a row is the BY keys and the aggregates, named as in
the query, filtered by the last ``KEEP``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable

from ecsquery.errors import UnsupportedConstruct
from ecsquery.rules.lang import esql
from ecsquery.rules.lang.ast import Pattern
from ecsquery.rules.lang.passes import optimize
from ecsquery.rules.sql import literals, regex
from ecsquery.rules.sql.compiler import Compiler
from ecsquery.rules.sql.multi_sequence import EVENT_MS, HOST_CONSTANT
from ecsquery.schema import TABLE, TIME_COLUMN, FieldTable

HOST_FIELDS = HOST_CONSTANT | {"agent.id"}
"""Per-host constants without a column (NULL in the output; the reader knows the host)."""


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _Scope:
    """Names → SQL expressions (fields, then EVAL or STATS columns) for one query level."""

    def __init__(self, fields: FieldTable) -> None:
        self.fields = fields
        self.names: dict[str, str] = {}
        self.lowered: set[str] = set()  # names bound to to_lower(...)

    def field(self, name: str) -> str:
        if name in self.names:
            return self.names[name]
        if name == "@timestamp":
            return EVENT_MS
        column = self.fields.by_ecs(name)
        if column is None:
            if name in HOST_FIELDS:
                return "'host'"
            raise UnsupportedConstruct("field", f"{name!r} has no column in the table")
        if column.array:
            value = f"NULLIF({column.name}, '')"
            return (
                f"(CASE WHEN json_array_length({value}) = 1 THEN json_extract({value}, '$[0]') END)"
            )
        return f"NULLIF({column.name}, '')"

    def sql(self, node: esql.Node) -> str:
        return _VISIT[type(node)](self, node)


def _ascii_only(scope: _Scope, left: esql.Node, texts: list[str], what: str) -> None:
    """``to_lower(x)`` folds ASCII only in SQLite; compared with ASCII text it is exact (the
    only non-ASCII letters Java lowers into ASCII, U+212A and U+0130, are mapped first)."""
    lowered = (isinstance(left, esql.Call) and left.name == "to_lower") or (
        isinstance(left, esql.Field) and left.name in scope.lowered
    )
    if lowered and not all(t.isascii() for t in texts):
        raise UnsupportedConstruct("TO_LOWER", f"{what} with non-ASCII text")


def _lit(scope: _Scope, node: esql.Lit) -> str:
    value = node.value
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, str):
        return literals.quote(value, None)
    return literals.number(value)


def _cmp(scope: _Scope, node: esql.Cmp) -> str:
    op = {"==": "=", "!=": "<>"}.get(node.op, node.op)
    for a, b in ((node.left, node.right), (node.right, node.left)):
        if isinstance(b, esql.Lit) and isinstance(b.value, str):
            _ascii_only(scope, a, [b.value], "comparison")
    return f"({scope.sql(node.left)} {op} {scope.sql(node.right)})"


def _like(scope: _Scope, node: esql.Like) -> str:
    _ascii_only(scope, node.left, [node.pattern], "RLIKE" if node.regex else "LIKE")
    value = scope.sql(node.left)
    if node.regex:
        ecma = literals.quote(regex.translate(node.pattern, False, None), None)
        found = f"regex_match({value}, {ecma}, 0) IS NOT NULL"
        cond = f"(CASE WHEN {value} IS NULL THEN NULL ELSE {found} END)"
    else:
        glob = literals.glob(Pattern.parse(node.pattern, "*?", escape="\\"), False)
        cond = f"({value} GLOB {literals.quote(glob, None)})"
    return f"(NOT {cond})" if node.negated else cond


def _in(scope: _Scope, node: esql.In) -> str:
    _ascii_only(
        scope,
        node.left,
        [i.value for i in node.items if isinstance(i, esql.Lit) and isinstance(i.value, str)],
        "IN",
    )
    items = ", ".join(scope.sql(i) for i in node.items)
    return f"({scope.sql(node.left)} {'NOT IN' if node.negated else 'IN'} ({items}))"


def _is_null(scope: _Scope, node: esql.IsNull) -> str:
    left = node.left
    if isinstance(left, esql.Field) and left.name not in scope.names:
        column = scope.fields.by_ecs(left.name)
        if column is not None and column.array:  # multi-valued is not null
            value = f"coalesce(json_array_length(NULLIF({column.name}, '')), 0) = 0"
            return f"(NOT {value})" if node.negated else f"({value})"
    return f"({scope.sql(left)} IS {'NOT ' if node.negated else ''}NULL)"


def _call(scope: _Scope, node: esql.Call) -> str:
    args = [scope.sql(a) for a in node.args]
    match node.name, len(args):
        case "to_lower", 1:
            return f"lower(replace(replace({args[0]}, '\u212a', 'k'), '\u0130', 'i\u0307'))"
        case "length", 1:
            return f"length({args[0]})"
        case "locate", 2:
            return f"instr({args[0]}, {args[1]})"
        case "space", 1 if isinstance(node.args[0], esql.Lit) and isinstance(
            node.args[0].value, int
        ):
            return literals.quote(" " * node.args[0].value, None)
        case "date_trunc", 2 if isinstance(node.args[0], esql.Lit) and isinstance(
            node.args[0].value, int
        ):
            step = node.args[0].value
            return f"(({args[1]}) / {step} * {step})"
        case "case", n if n >= 2:
            pairs = "".join(f" WHEN {args[i]} THEN {args[i + 1]}" for i in range(0, n - 1, 2))
            default = f" ELSE {args[-1]}" if n % 2 else ""
            return f"(CASE{pairs}{default} END)"
    raise UnsupportedConstruct(
        f"function {node.name.upper()}", f"with {len(args)} arguments of this kind"
    )


def _kql(scope: _Scope, node: esql.Kql) -> str:
    compiler = Compiler(scope.fields)
    return f"coalesce(({compiler.where(optimize(node.where, scope.fields))}), 0)"


def _bool(scope: _Scope, node: esql.Bool) -> str:
    return "(" + f" {node.op.upper()} ".join(scope.sql(c) for c in node.children) + ")"


def _neg(scope: _Scope, node: esql.Neg) -> str:
    return f"(NOT {scope.sql(node.child)})"


def _field(scope: _Scope, node: esql.Field) -> str:
    return scope.field(node.name)


_VISIT: dict[type, Callable[[_Scope, object], str]] = {
    esql.Lit: _lit,  # type: ignore[dict-item]
    esql.Field: _field,  # type: ignore[dict-item]
    esql.Cmp: _cmp,  # type: ignore[dict-item]
    esql.Like: _like,  # type: ignore[dict-item]
    esql.In: _in,  # type: ignore[dict-item]
    esql.IsNull: _is_null,  # type: ignore[dict-item]
    esql.Call: _call,  # type: ignore[dict-item]
    esql.Kql: _kql,  # type: ignore[dict-item]
    esql.Bool: _bool,  # type: ignore[dict-item]
    esql.Neg: _neg,  # type: ignore[dict-item]
}


def _aggregate(scope: _Scope, call: esql.Call) -> str:
    if call.star:
        return "count(*)"
    (arg,) = call.args
    if isinstance(arg, esql.Field) and arg.name not in scope.names:
        column = scope.fields.by_ecs(arg.name)
        if column is not None and column.array:
            raise UnsupportedConstruct(f"{call.name.upper()}", f"over the array field {arg.name!r}")
    value = scope.sql(arg)
    return {
        "count": f"count({value})",
        "count_distinct": f"count(DISTINCT {value})",
        "values": f"json_group_array(DISTINCT {value}) FILTER (WHERE {value} IS NOT NULL)",
        "min": f"min({value})",
        "max": f"max({value})",
    }[call.name]


def compile_esql(pipeline: esql.Pipeline, fields: FieldTable, lookback_seconds: int) -> str:
    scope = _Scope(fields)
    window = f"{TIME_COLUMN} >= (SELECT unix_time FROM time) - {int(lookback_seconds)}"
    before: list[str] = [window]
    keep: tuple[str, ...] = ()
    stats: esql.Stats | None = None
    extra: list[str] = []
    after_scope = scope
    keys: list[str] = []
    aggregates: list[str] = []
    for command in pipeline.commands:
        if isinstance(command, esql.Where):
            if stats is None:
                before.append(scope.sql(command.condition))
        elif isinstance(command, esql.Eval):
            for name, value in command.assignments:
                if stats:
                    raise UnsupportedConstruct("EVAL after STATS", "not in the subset")
                scope.names[name] = f"({scope.sql(value)})"
                if isinstance(value, esql.Call) and value.name == "to_lower":
                    scope.lowered.add(name)
                extra.append(name)
        elif isinstance(command, esql.Keep):
            keep = command.patterns
        elif isinstance(command, esql.Stats):
            stats = command
            grouped = _Scope(fields)
            grouped.names = {n: ident(n) for n, _ in (*command.aggregates, *command.by)}
            aggregates = [f"{_aggregate(scope, c)} AS {ident(n)}" for n, c in command.aggregates]
            keys = [f"{scope.sql(v)} AS {ident(n)}" for n, v in command.by]
            after_scope = grouped
    where = "\n  AND ".join(before)
    if stats is None:
        columns = ", ".join([*fields.names, *(f"{scope.names[n]} AS {ident(n)}" for n in extra)])
        return f"SELECT {columns}\nFROM {TABLE}\nWHERE {where}"
    names = [n for n, _ in (*stats.by, *stats.aggregates)]
    shown = [n for n in names if not keep or any(fnmatch.fnmatchcase(n, p) for p in keep)]
    group = f"\n  GROUP BY {', '.join(ident(n) for n, _ in stats.by)}" if stats.by else ""
    inner = f"SELECT {', '.join([*keys, *aggregates])}\n  FROM {TABLE}\n  WHERE {where}{group}"
    conditions = [
        after_scope.sql(c.condition)
        for c in pipeline.commands[pipeline.commands.index(stats) + 1 :]
        if isinstance(c, esql.Where)
    ]
    post = f"\nWHERE {' AND '.join(conditions)}" if conditions else ""
    return f"SELECT {', '.join(ident(n) for n in shown)}\nFROM (\n  {inner}\n){post}"
