"""Small AST→AST passes run between parsing and SQL generation (sqlglot style).

Each pass is a pure function ``(expr, fields) -> expr`` that returns a new tree and does one
thing; ``RULES`` lists them in the order they depend on each other, as data (sqlglot's
``optimizer.RULES``), so a new pass is one entry and ``optimize`` has no hard-coded calls. The
compiler and the reference evaluator both see a tree in one normal form: every field known to
the table, every literal typed like its column, no ``Match`` without wildcards, no nested
``And``/``Or`` and no ``Const`` left inside a larger expression. A query's EQL event category
becomes a conjunct first (``with_category``), so the passes only ever see expressions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace

from ecsquery.errors import Pos, UnmappedField, UnsupportedConstruct
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
    Query,
    Regex,
    Scalar,
)
from ecsquery.schema import TABLES, Column, EcsType, FieldTable
from ecsquery.values import cidr_block, ip_text

Leaf = Exists | Equals | Match | Regex | Compare | CidrMatch
_INT = re.compile(r"^[+-]?\d+$")


def transform(expr: Expr, fn: Callable[[Expr], Expr]) -> Expr:
    """Rebuild ``expr`` bottom-up, applying ``fn`` to every node after its children."""
    if isinstance(expr, And | Or):
        expr = replace(expr, children=tuple(transform(c, fn) for c in expr.children))
    elif isinstance(expr, Not):
        expr = replace(expr, child=transform(expr.child, fn))
    return fn(expr)


def leaf_field(leaf: Leaf) -> FieldRef:
    """The field a predicate reads (through ``length()`` for ``Compare``)."""
    if isinstance(leaf, Compare):
        return leaf.left.field if isinstance(leaf.left, Length) else leaf.left
    return leaf.field


def with_category(query: Query) -> Expr:
    """EQL ``process where x`` means ``event.category == "process" and x``.

    Making the category an ordinary conjunct means neither the compiler nor the evaluator
    needs to know about EQL's event categories; ``any where`` filters nothing.
    """
    if query.category is None or query.category == "any":
        return query.where
    return And((Equals(FieldRef("event.category"), (query.category,)), query.where))


def query_categories(query: Query) -> tuple[str, ...]:
    """The event categories a query is pinned to: EQL's ``<category> where``, or KQL's top-level
    ``event.category:(a or b)`` conjuncts (intersected); empty when nothing pins it."""
    if query.category is not None:
        return (query.category,)
    found: tuple[str, ...] | None = None
    conjuncts = query.where.children if isinstance(query.where, And) else (query.where,)
    for c in conjuncts:
        if isinstance(c, Equals) and c.field.name == "event.category" and not c.case_insensitive:
            values = tuple(dict.fromkeys(str(v) for v in c.values))
            found = values if found is None else tuple(v for v in found if v in values)
    return found or ()


_ENDPOINT_STREAM = re.compile(r"logs-endpoint\.events\.([a-z_]+)(?:-\*|\*|-.*)?")
"""Elastic Defend's data streams, ``logs-endpoint.events.<category>-<namespace>``."""


def index_category(index: Sequence[str]) -> str | None:
    """The one event category a rule's ``index`` patterns name, when every pattern is one of
    Elastic Defend's per-category streams (``logs-endpoint.events.file-*``), else None."""
    found = {m.group(1) if (m := _ENDPOINT_STREAM.fullmatch(i)) else None for i in index}
    return found.pop() if len(found) == 1 else None


def table_for_query(
    query: Query, fields: FieldTable, pos: Pos | None = None, index: Sequence[str] = ()
) -> FieldTable:
    """The table a query reads: the one serving its event category (``fields`` when that is
    ``fields``' own), or an ``UnsupportedConstruct`` naming the category. Each table holds one
    category's events, so a rule over several is refused rather than compiled against one of
    them and silently missing the others. A query pinning no category reads the table of the
    one category its ``index`` names (Elasticsearch would search only that stream), else
    ``fields``."""
    categories = query_categories(query)
    served = ", ".join(t.category for t in TABLES)
    pos = pos or query.where.pos
    if not categories:
        category = index_category(index)
        by_index = fields.for_category(category) if category is not None else None
        return by_index or fields
    if "any" in categories:
        raise UnsupportedConstruct(
            "event category",
            f"'any where' spans every event category; ecsquery's tables hold one each ({served})",
            pos=pos,
        )
    if len(categories) > 1:
        shown = ", ".join(repr(c) for c in categories)
        raise UnsupportedConstruct(
            "event category", f"{shown}: one rule over several tables", pos=pos
        )
    table = fields.for_category(categories[0])
    if table is None:
        raise UnsupportedConstruct(
            "event category",
            f"{categories[0]!r}: no table serves it (the extension serves {served})",
            pos=pos,
        )
    return table


def resolve_fields(expr: Expr, fields: FieldTable) -> Expr:
    """Refuse fields the table cannot supply; fold EQL ``?optional`` ones to null.

    A rule that reads a field the extension does not have would silently never match, so it is
    an error (``UnmappedField``). EQL's ``?field`` says the author expects the field may not
    exist: it is null, every predicate on it is false, and ``not`` of that is true.
    """

    def visit(node: Expr) -> Expr:
        if isinstance(node, And | Or | Not | Const):
            return node
        ref = leaf_field(node)
        if fields.by_ecs(ref.name) is not None:
            return node
        if ref.optional:
            return Const(False, pos=node.pos)
        raise UnmappedField(ref.name, category=fields.category, pos=ref.pos or node.pos)

    return transform(expr, visit)


def literal_matches(expr: Expr, fields: FieldTable) -> Expr:
    """A wildcard ``Match`` whose patterns hold no wildcard is an ``Equals`` (same case flag).

    KQL ``x:"v"`` and EQL ``x : "v"`` parse as patterns; as ``Equals`` they compile to ``=``/``IN``
    and can be typed by ``coerce_literals`` for numeric and boolean columns.
    """

    def visit(node: Expr) -> Expr:
        if isinstance(node, Match) and all(p.is_literal for p in node.patterns):
            values: tuple[Scalar, ...] = tuple(p.literal() for p in node.patterns)
            return Equals(node.field, values, node.case_insensitive, pos=node.pos)
        return node

    return transform(expr, visit)


def _coerce(column: Column, ref: FieldRef, value: Scalar) -> Scalar:
    def refuse() -> UnsupportedConstruct:
        return UnsupportedConstruct(
            "value",
            f"{value!r} cannot be compared with {column.ecs_type.value} field {ref.name!r}",
            pos=ref.pos,
        )

    if column.ecs_type is EcsType.LONG:
        if isinstance(value, bool):
            raise refuse()
        if isinstance(value, int | float):
            return value
        if _INT.match(value.strip()):
            return int(value)
        raise refuse()
    if column.ecs_type is EcsType.BOOLEAN:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value in ("true", "false"):
            return value == "true"
        raise refuse()
    if column.ecs_type is EcsType.IP:  # an ip field's term is an address (or refused)
        canonical = ip_text(value) if isinstance(value, str) else None
        if canonical is None:
            raise refuse()
        return canonical
    if column.ecs_type is EcsType.KEYWORD:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return str(value)
        if isinstance(value, str):
            return value
    raise refuse()


def _blocks(node: CidrMatch, column: Column, ref: FieldRef) -> tuple[str, ...]:
    """``cidrMatch``'s blocks as canonical ``address/prefix`` text (``values.cidr_block``), on an
    ``ip`` field only: Elasticsearch turns the call into a terms query, which on a keyword
    field would compare the text ``10.0.0.0/8`` itself."""
    if column.ecs_type is not EcsType.IP:
        raise UnsupportedConstruct(
            "function cidrMatch", f"on {column.ecs_type.value} field {ref.name!r}", pos=node.pos
        )
    out: list[str] = []
    for text in node.blocks:
        try:
            out.append(str(cidr_block(text)))
        except ValueError as exc:
            raise UnsupportedConstruct("function cidrMatch", str(exc), pos=node.pos) from None
    return tuple(dict.fromkeys(out))


def coerce_literals(expr: Expr, fields: FieldTable) -> Expr:
    """Type every literal like its column, or refuse it by name (never a silent false).

    KQL values arrive as strings (``process.pid:123``); Elasticsearch parses them by the field's
    mapping, so ``"123"`` on a long field is the number 123 and ``"true"`` on a boolean is true.
    Values the mapping cannot parse, wildcards or regexes on numbers and booleans, and numeric
    comparisons on strings would fail or behave surprisingly in Elasticsearch, so they are
    refused here instead of compiled into SQL that quietly disagrees.
    """

    def visit(node: Expr) -> Expr:
        if isinstance(node, And | Or | Not | Const | Exists):
            return node
        ref = leaf_field(node)
        column = fields.by_ecs(ref.name)
        assert column is not None, "resolve_fields runs first"
        if isinstance(node, Equals):
            values = tuple(_coerce(column, ref, v) for v in node.values)
            ci = node.case_insensitive and column.ecs_type is EcsType.KEYWORD
            return replace(node, values=values, case_insensitive=ci)
        if isinstance(node, CidrMatch):
            return replace(node, blocks=_blocks(node, column, ref))
        if isinstance(node, Match | Regex) and column.ecs_type is not EcsType.KEYWORD:
            kind = "wildcard" if isinstance(node, Match) else "regex"
            raise UnsupportedConstruct(
                kind, f"on {column.ecs_type.value} field {ref.name!r}", pos=node.pos
            )
        if isinstance(node, Compare):
            wanted = EcsType.KEYWORD if isinstance(node.left, Length) else EcsType.LONG
            if column.ecs_type is not wanted or isinstance(node.value, bool):
                what = "length()" if isinstance(node.left, Length) else "numeric comparison"
                raise UnsupportedConstruct(
                    what, f"on {column.ecs_type.value} field {ref.name!r}", pos=node.pos
                )
        return node

    return transform(expr, visit)


def simplify(expr: Expr, fields: FieldTable) -> Expr:
    """Flatten nested ``And``/``Or`` and fold ``Const`` so SQL needs no ``1 AND``/``0 OR``.

    Flat n-ary nodes also give the compiler one precedence level per operator, which is what
    lets it decide parentheses by precedence alone.
    """

    def visit(node: Expr) -> Expr:
        if isinstance(node, Not):
            if isinstance(node.child, Const):
                return Const(not node.child.value, pos=node.pos)
            if isinstance(node.child, Not):
                return node.child.child
            return node
        if isinstance(node, And | Or):
            kind = type(node)
            absorbing = isinstance(node, Or)  # True absorbs Or, False absorbs And
            children: list[Expr] = []
            for child in node.children:
                parts = child.children if isinstance(child, kind) else (child,)
                for part in parts:
                    if isinstance(part, Const):
                        if part.value is absorbing:
                            return Const(absorbing, pos=node.pos)
                        continue
                    children.append(part)
            if not children:
                return Const(not absorbing, pos=node.pos)
            if len(children) == 1:
                return children[0]
            return replace(node, children=tuple(children))
        return node

    return transform(expr, visit)


Pass = Callable[[Expr, FieldTable], Expr]

RULES: tuple[Pass, ...] = (resolve_fields, literal_matches, coerce_literals, simplify)
"""The passes in order: fields first (later passes read the column), typing after
``literal_matches`` (a literal ``Match`` becomes a typeable ``Equals``), folding last."""


def optimize(expr: Expr, fields: FieldTable, rules: tuple[Pass, ...] = RULES) -> Expr:
    """Run ``rules`` over a bare expression (a query's where, an exception's expression)."""
    for rule in rules:
        expr = rule(expr, fields)
    return expr


def run_passes(query: Query, fields: FieldTable) -> Query:
    """A query in normal form: its category a conjunct, then every pass of ``RULES``."""
    return replace(query, where=optimize(with_category(query), fields), category=None)
