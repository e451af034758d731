"""The ES|QL subset (``rules/lang/esql.py``) → osquery SQL over the extension's table.

SQL's three-valued logic is ES|QL's, so conditions compile to plain SQL and NULL flows as
ES|QL's null: a missing field (``''`` or NULL in osquery's rows) is NULL, a multi-valued field
is NULL for comparisons and functions (an array column with exactly one distinct present
element is that element: Elasticsearch stores a keyword array as a set), ``IS NULL`` is
about the field having no value at all. Dates are milliseconds.

The query's shape: ``WHERE``/``EVAL`` before ``STATS`` filter and extend the rows of the
lookback window (EVAL names are substituted as expressions); ``STATS ... BY`` is a GROUP BY;
commands after it are a WHERE over the grouped rows. Without STATS a row is one event: every
table column plus the EVAL columns (alerts carry the whole event, as Kibana's do for
non-aggregating ES|QL rules); with STATS a row is the BY keys and the aggregates, named as in
the query, filtered by a ``KEEP`` after the STATS. ``MV_EXPAND f`` of an array column is a
``LEFT JOIN json_each`` keeping each distinct present element once (no element: one row, f
NULL); later commands see ``f`` as that element.

Fields without a column: ``data_stream.type``/``data_stream.dataset`` are constants of the
source, ``logs-endpoint.events.process-*`` (a data stream is named ``type-dataset-namespace``
and its ``data_stream.*`` fields are ``constant_keyword``s of that name: Elastic's "Data
streams" naming scheme, elastic/endpoint-package ``package/endpoint/data_stream/process``
``manifest.yml`` ``dataset: endpoint.events.process``, ``fields/fields.yml`` at 19941229);
``host.id``/``host.hostname``/``agent.id``/``data_stream.namespace`` are one value for every
event of the host (the agent's policy fixes the namespace), unknown here: allowed only as
STATS keys and aggregate arguments, where a constant groups as Elasticsearch's value does.
Metadata fields (``_ignored``, ``_id``...) are refused by name.

RLIKE: a pattern whose translation is over osquery's 256-byte ``--regex_max_size`` is split at
its top-level ``|`` (inside a leading ``.*(`` and trailing ``).*``) into several
``regex_match`` calls ORed together: ``X(A|B)Y`` matches exactly when ``XAY`` or ``XBY`` does.
"""

from __future__ import annotations

import fnmatch
import itertools
from collections.abc import Callable

from ecsquery.errors import UnsupportedConstruct
from ecsquery.rules.lang import esql
from ecsquery.rules.lang.ast import Pattern
from ecsquery.rules.lang.passes import optimize
from ecsquery.rules.sql import literals, regex
from ecsquery.rules.sql.compiler import Compiler
from ecsquery.rules.sql.multi_sequence import EVENT_MS, HOST_CONSTANT
from ecsquery.schema import TIME_COLUMN, FieldTable, missing_source

HOST_FIELDS = HOST_CONSTANT | {"agent.id", "data_stream.namespace"}
"""Per-host constants without a column (``'host'`` in the output; the reader knows the host)."""


def source_fields(category: str) -> dict[str, str]:
    """Constants of the category's data stream (``logs``, ``endpoint.events.<category>``)."""
    stream = next(s for s, c in esql.STREAMS.items() if c == category)
    kind, dataset, _ = stream.split("-")
    return {"data_stream.type": kind, "data_stream.dataset": dataset}


METADATA = {
    "_ignored": "which fields Elasticsearch ignored at index time depends on the cluster's "
    "mappings (process.command_line is a wildcard field: ignored only under an "
    "index.mapping.ignore_above, e.g. logsdb's 8191), not on the event",
}
"""Metadata fields refused with a reason (others: the generic 'metadata field')."""


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _Scope:
    """Names → SQL expressions (fields, then EVAL or STATS columns) for one query level."""

    def __init__(self, fields: FieldTable) -> None:
        self.fields = fields
        self.constants = source_fields(fields.category)
        self.names: dict[str, str] = {}
        self.lowered: set[str] = set()  # names bound to to_lower(...)
        self.host_constants = False  # True while compiling STATS keys and aggregates
        self.expanded: set[str] = set()  # names bound to an MV_EXPAND element

    def field(self, name: str) -> str:
        if name in self.names:
            return self.names[name]
        if name == "@timestamp":
            return EVENT_MS
        if name in self.constants:
            return literals.quote(self.constants[name], None)
        column = self.fields.by_ecs(name)
        if column is None:
            if name in HOST_FIELDS:
                if not self.host_constants:
                    raise UnsupportedConstruct(
                        "field", f"{name!r} (one unknown value per host) outside STATS ... BY"
                    )
                return "'host'"
            if name.startswith("_"):
                reason = METADATA.get(name, "an Elasticsearch document's metadata")
                raise UnsupportedConstruct(f"metadata field {name}", reason)
            why = missing_source(name)
            raise UnsupportedConstruct(
                "field",
                f"{name!r} has no column in the table{f': {why}' if why else ''}",
            )
        if column.array:  # one distinct present element is that value (keywords are a set)
            return (
                f"(SELECT CASE WHEN count(DISTINCT value) = 1 THEN min(value) END"
                f" FROM json_each(NULLIF({column.name}, '')) WHERE value <> '')"
            )
        return f"NULLIF({column.expr}, '')"

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
        found = " OR ".join(
            f"regex_match({value}, {literals.quote(p, None)}, 0) IS NOT NULL"
            for p in regex_parts(node.pattern)
        )
        cond = f"(CASE WHEN {value} IS NULL THEN NULL ELSE ({found}) END)"
    else:
        glob = literals.glob(Pattern.parse(node.pattern, "*?", escape="\\"), False)
        cond = f"({value} GLOB {literals.quote(glob, None)})"
    return f"(NOT {cond})" if node.negated else cond


def regex_parts(pattern: str) -> list[str]:
    """osquery patterns whose ORed matches are the Lucene ``pattern``'s full match: one when
    it fits ``regex.MAX_BYTES``, else its top-level alternatives packed into as few as fit."""
    try:
        return [regex.translate(pattern, False, None)]
    except UnsupportedConstruct as exc:
        split = _alternatives(pattern)
        if split is None:
            raise exc from None
        head, alternatives, tail = split
    parts: list[str] = []
    group: list[str] = []
    for alternative in alternatives:
        trial = [*group, alternative]
        try:
            regex.translate(f"{head}({'|'.join(trial)}){tail}", False, None)
            group = trial
        except UnsupportedConstruct:
            if not group:
                raise
            parts.append(regex.translate(f"{head}({'|'.join(group)}){tail}", False, None))
            group = [alternative]
    parts.append(regex.translate(f"{head}({'|'.join(group)}){tail}", False, None))
    return parts


def _alternatives(pattern: str) -> tuple[str, list[str], str] | None:
    """``pattern`` as ``head (a|b|…) tail`` with ``head``/``tail`` ``.*`` or empty, split at
    the ``|`` outside groups, classes, quotes and escapes; None when it has no such shape."""
    head = ".*" if pattern.startswith(".*") else ""
    tail = ".*" if pattern.endswith(".*") and not pattern.endswith("\\.*") else ""
    body = pattern[len(head) : len(pattern) - len(tail)]
    if head or tail:
        if not (body.startswith("(") and body.endswith(")")):
            return None
        body = body[1:-1]
    cuts, depth, i, in_class = [-1], 0, 0, False
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            i += 1
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == '"':
            end = body.find('"', i + 1)
            i = len(body) if end < 0 else end
        elif ch in "()":
            depth += 1 if ch == "(" else -1
            if depth < 0:
                return None  # "(a)|(b)": the outer parentheses were not one group
        elif ch == "|" and depth == 0:
            cuts.append(i)
        i += 1
    if depth or in_class or len(cuts) == 1:
        return None
    cuts.append(len(body))
    return head, [body[a + 1 : b] for a, b in itertools.pairwise(cuts)], tail


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
            value = f"EXISTS (SELECT 1 FROM json_each(NULLIF({column.name}, '')) WHERE value <> '')"
            return f"({value})" if node.negated else f"(NOT {value})"
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


def _mv_expand(scope: _Scope, name: str, joins: list[str]) -> None:
    """Bind ``name`` to one distinct present element per row (``LEFT JOIN json_each``)."""
    if name in scope.names:
        if name in scope.expanded:
            return  # a second MV_EXPAND of a single value changes nothing
        raise UnsupportedConstruct("MV_EXPAND", f"of the computed column {name!r}")
    column = scope.fields.by_ecs(name)
    if column is None or not column.array:
        scope.sql(esql.Field(name))  # refused by name if it has no column
        return  # a single-valued column: one row, as is
    alias = f"mv{len(joins) + 1}"
    array = f"(CASE WHEN json_valid({column.name}) THEN {column.name} END)"
    first = (
        f"NOT EXISTS (SELECT 1 FROM json_each({array}) AS d"
        f" WHERE d.key < {alias}.key AND d.value = {alias}.value)"
    )
    joins.append(
        f"LEFT JOIN json_each({array}) AS {alias}"
        f" ON {alias}.type = 'text' AND {alias}.value <> '' AND {first}"
    )
    scope.names[name] = f"{alias}.value"
    scope.expanded.add(name)


def compile_esql(pipeline: esql.Pipeline, fields: FieldTable, lookback_seconds: int) -> str:
    """The pack SQL of an ES|QL query, over the table of its source's category."""
    fields = fields.for_category(pipeline.category) or fields
    scope = _Scope(fields)
    window = f"{TIME_COLUMN} >= (SELECT unix_time FROM time) - {int(lookback_seconds)}"
    before: list[str] = [window]
    joins: list[str] = []
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
                scope.expanded.discard(name)
                if isinstance(value, esql.Call) and value.name == "to_lower":
                    scope.lowered.add(name)
                extra.append(name)
        elif isinstance(command, esql.MvExpand):
            if stats:
                raise UnsupportedConstruct("MV_EXPAND after STATS", "not in the subset")
            _mv_expand(scope, command.field, joins)
        elif isinstance(command, esql.Keep):
            if stats is not None:  # before STATS, KEEP only narrows what STATS may read
                keep = command.patterns
        elif isinstance(command, esql.Stats):
            stats = command
            grouped = _Scope(fields)
            grouped.names = {n: ident(n) for n, _ in (*command.aggregates, *command.by)}
            scope.host_constants = True
            aggregates = [f"{_aggregate(scope, c)} AS {ident(n)}" for n, c in command.aggregates]
            keys = [f"{scope.sql(v)} AS {ident(n)}" for n, v in command.by]
            scope.host_constants = False
            after_scope = grouped
    where = "\n  AND ".join(before)
    source = "\n".join([fields.name, *joins])
    if stats is None:
        expanded = [n for n in scope.expanded if n not in extra]
        shown = [*(f"{scope.names[n]} AS {ident(n)}" for n in [*expanded, *extra])]
        columns = ", ".join([*fields.names, *shown])
        return f"SELECT {columns}\nFROM {source}\nWHERE {where}"
    names = [n for n, _ in (*stats.by, *stats.aggregates)]
    shown = [n for n in names if not keep or any(fnmatch.fnmatchcase(n, p) for p in keep)]
    group = f"\n  GROUP BY {', '.join(ident(n) for n, _ in stats.by)}" if stats.by else ""
    inner = f"SELECT {', '.join([*keys, *aggregates])}\n  FROM {source}\n  WHERE {where}{group}"
    conditions = [
        after_scope.sql(c.condition)
        for c in pipeline.commands[pipeline.commands.index(stats) + 1 :]
        if isinstance(c, esql.Where)
    ]
    post = f"\nWHERE {' AND '.join(conditions)}" if conditions else ""
    return f"SELECT {', '.join(ident(n) for n in shown)}\nFROM (\n  {inner}\n){post}"
