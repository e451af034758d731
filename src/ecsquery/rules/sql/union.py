"""EQL ``any where`` → one ``UNION ALL`` branch per table the condition can be true on.

Elasticsearch runs an ``any where`` query over every event of the index, whatever its
category. ecsquery's tables each hold one category (``schema.TABLES``), so the query is
compiled once per table and the branches are joined with ``UNION ALL``:

* on a table lacking a field the condition reads, that field is missing on every row of it
  (as it is on those events in Elasticsearch), so each predicate on it is false, exactly as
  EQL's ``?optional`` field (``passes.resolve_fields``): :func:`absent_as_missing` makes it
  ``Const(False)`` before the ordinary passes, and ``simplify`` folds the rest (``not`` of it
  is true). No SQL NULL reaches the branch's WHERE for such a field;
* a branch whose condition folds to false can match no row of its table and is left out; a
  field no table has is refused as on any table (``UnmappedField``, naming the missing
  source where there is one);
* every branch selects the columns of all the kept branches' tables (``NULL AS`` where its
  own table lacks one, the order of ``kibana.result_fields``), so a result row of any branch
  nests back into ECS like a row of a sequence over several tables. Each branch gets its own
  pushdown terms and ``hits_only`` wrapper: they are exact per branch, so for the union (a
  branch reading a lookup gets its own CTE, ``hits_<category>``, in the statement's ``WITH``).

The rows of one table are the events whose first served category is that table's
(``schema.table_of_row``), holding that table's fields only (README, deliberate
differences); the event-category terms stay in every branch's WHERE (a ``file`` event's row
may also carry ``process``), so no branch assumes which categories its rows have.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ecsquery.errors import UnsupportedConstruct
from ecsquery.rules.lang.ast import And, Const, Expr, Not, Or, Query
from ecsquery.rules.lang.passes import leaf_field, optimize, transform
from ecsquery.rules.sql.compiler import Compiler, select
from ecsquery.rules.sql.pushdown import HITS, UNION, hits_only_parts, pushdown_terms, with_ctes
from ecsquery.schema import ALL_COLUMNS, LOOKUPS, TABLES, FieldTable, Table

ANY_FIELDS = FieldTable(table=Table("", "any", ALL_COLUMNS, LOOKUPS))
"""Every field of every table: an ``any where`` query's normal form for the reference."""


@dataclass(frozen=True)
class Branch:
    """One table's part of an ``any where`` query: the table and its normalized condition."""

    table: FieldTable
    where: Expr


def absent_as_missing(expr: Expr, fields: FieldTable) -> Expr:
    """Each predicate on a field ``fields`` lacks but another table has, as false (missing)."""

    def visit(node: Expr) -> Expr:
        if isinstance(node, And | Or | Not | Const):
            return node
        name = leaf_field(node).name
        if fields.by_ecs(name) is None and ANY_FIELDS.by_ecs(name) is not None:
            return Const(False, pos=node.pos)
        return node

    return transform(expr, visit)


def branches(query: Query, fields: FieldTable) -> list[Branch]:
    """The tables an ``any where`` query can match a row of, each with its condition."""
    out: list[Branch] = []
    for table in TABLES:
        own = fields.for_category(table.category) or FieldTable.of(table)
        where = optimize(absent_as_missing(query.where, own), own)
        if isinstance(where, Const) and not where.value:
            continue
        out.append(Branch(own, where))
    if not out:
        raise UnsupportedConstruct(
            "event category",
            "'any where' whose condition no table can satisfy",
            pos=query.where.pos,
        )
    return out


def compile_any(query: Query, fields: FieldTable, lookback_seconds: int) -> tuple[Query, str, str]:
    """The normal query (over every field, for the reference), its conditions and the SQL."""
    kept = branches(query, fields)
    columns = tuple({c.name: c for b in kept for c in b.table.columns}.values())
    parts: list[str] = []
    ctes: list[str] = []
    wheres: list[str] = []
    for branch in kept:
        compiler = Compiler(branch.table)
        terms = compiler.conjuncts(branch.where) + pushdown_terms(branch.where, branch.table)
        have = set(branch.table.names)
        picked = [c.name if c.name in have else f"NULL AS {c.name}" for c in columns]
        lookups, key = compiler.lookup_terms(branch.where)
        plain = select(branch.table, terms, lookback_seconds, picked)
        cte, part = hits_only_parts(plain, lookups, key, f"{HITS}_{branch.table.category}")
        ctes += [cte] if cte is not None else []
        parts.append(part)
        wheres.append(f"({compiler.where(branch.where)})")
    normal = replace(query, where=optimize(query.where, ANY_FIELDS), category=None)
    return normal, " OR ".join(wheres), with_ctes(ctes, UNION.join(parts))
