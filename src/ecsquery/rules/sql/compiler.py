"""AST (after ``passes``) → osquery SQL over one of the extension's ECS tables.

A visitor with one method per node type (eql/sqlglot style); an unknown node raises
``UnsupportedConstruct`` naming it. Every method returns a ``Sql`` fragment with its
precedence, so parentheses come from precedence (OR < AND < NOT < comparison), and whether it
can be NULL, so ``Not`` adds ``coalesce`` only where a NULL would otherwise flip the answer.

Elastic's semantics, per column kind (see ``schema`` for the row model):

- array columns (JSON text): a predicate holds when *any* element satisfies it, via
  ``EXISTS (SELECT 1 FROM json_each(NULLIF(col, '')) WHERE …)``; ``json_each(NULL)`` has no
  rows, so a missing field (``''``, NULL, ``[]``) matches nothing, and EXISTS is never NULL;
- scalar columns: ``''`` and NULL are missing. ``NULLIF(col, '')`` is used wherever the
  predicate could be true for ``''`` (a ``*`` pattern, a regex, a length, any number), the
  bare column where it cannot (``col = 'macos'``), which keeps the common case readable;
- ``Not(x)`` is ``NOT coalesce(x, 0)`` when ``x`` may be NULL: Elastic's ``not`` is true when
  the field is missing, SQL's ``NOT NULL`` is NULL. Below a ``Not`` every sub-expression is
  NOT-free (inner ``Not``s are already coalesced) hence monotone, and for monotone formulas
  NULL-as-false at the boundary equals treating every missing atom as false.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ecsquery.errors import Pos, UnsupportedConstruct
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
    Regex,
    Wild,
)
from ecsquery.rules.lang.passes import leaf_field
from ecsquery.rules.sql import literals, regex
from ecsquery.schema import TIME_COLUMN, Column, FieldTable

OR, AND, NOT, ATOM = 1, 2, 3, 4
"""SQLite precedence levels, loosest first (comparisons bind tighter than NOT)."""

_COMPARE_OPS = {"==": "=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


@dataclass(frozen=True)
class Sql:
    """A compiled fragment: text, precedence of its top operator, and whether it may be NULL."""

    text: str
    prec: int
    nullable: bool

    def at(self, prec: int) -> str:
        """The text, parenthesized if its operator binds looser than the context's."""
        return f"({self.text})" if self.prec < prec else self.text


Predicate = Callable[[str], Sql]
"""Builds a condition on one value expression (a column, or ``value`` of ``json_each``)."""


def utf16_length(v: str) -> str:
    """``length(v)`` in UTF-16 code units, as EQL's ``length()`` counts (Java ``String.length()``
    in ``LengthFunctionProcessor``): SQLite's code points plus one per astral code point. An
    astral code point is the only UTF-8 sequence with a lead byte F0-F4, and ``replace`` on a
    BLOB works on bytes, so the byte length lost by deleting those bytes counts them."""
    blob = f"CAST({v} AS BLOB)"
    stripped = blob
    for lead in ("F0", "F1", "F2", "F3", "F4"):
        stripped = f"replace({stripped}, X'{lead}', X'')"
    return f"(length({v}) + length({blob}) - length(CAST({stripped} AS BLOB)))"


def _any_of(parts: list[Sql]) -> Sql:
    if len(parts) == 1:
        return parts[0]
    return Sql(" OR ".join(p.at(OR) for p in parts), OR, any(p.nullable for p in parts))


class Compiler:
    """Compiles expressions for one field table."""

    def __init__(self, fields: FieldTable) -> None:
        self.fields = fields
        self._visitors: dict[type, Callable[[Any], Sql]] = {
            And: self.visit_and,
            Or: self.visit_or,
            Not: self.visit_not,
            Const: self.visit_const,
            Exists: self.visit_exists,
            Equals: self.visit_equals,
            Match: self.visit_match,
            Regex: self.visit_regex,
            Compare: self.visit_compare,
            CidrMatch: self.visit_cidr_match,
        }

    # ------------------------------------------------------------------ entry points

    def compile(self, expr: Expr) -> Sql:
        visitor = self._visitors.get(type(expr))
        if visitor is None:
            raise UnsupportedConstruct(
                type(expr).__name__, "no SQL for this node", pos=getattr(expr, "pos", None)
            )
        return visitor(expr)

    def conjuncts(self, expr: Expr) -> list[str]:
        """The top-level AND terms of ``expr``, each safe to join with AND."""
        if isinstance(expr, Const) and expr.value:
            return []
        children = expr.children if isinstance(expr, And) else (expr,)
        return [self.compile(c).at(AND) for c in self._cheap_first(children)]

    def lookup_terms(self, expr: Expr) -> tuple[list[str], list[str]]:
        """The top-level AND terms of ``expr`` that read a lookup (as ``conjuncts`` writes
        them), and every column those terms read (a lookup's: the columns it reads)."""
        if isinstance(expr, Const):
            return [], []
        children = expr.children if isinstance(expr, And) else (expr,)
        terms: list[str] = []
        read: list[str] = []
        for child in children:
            if self._looks_up(child):
                terms.append(self.compile(child).at(AND))
                read += self._reads(child)
        return terms, list(dict.fromkeys(read))

    def _reads(self, expr: Expr) -> list[str]:
        if isinstance(expr, Not):
            return self._reads(expr.child)
        if isinstance(expr, And | Or):
            return [name for c in expr.children for name in self._reads(c)]
        if isinstance(expr, Const):
            return []
        column = self._column(leaf_field(expr))
        return list(column.reads) if column.sql is not None else [column.name]

    def where(self, expr: Expr) -> str:
        """``expr`` as one WHERE expression (``1`` when it is always true)."""
        return " AND ".join(self.conjuncts(expr)) or "1"

    # ------------------------------------------------------------------ boolean nodes

    def _cheap_first(self, children: Iterable[Expr]) -> list[Expr]:
        """AND terms reading a lookup (``Column.sql``: a query on another osquery table per
        row) after the others, so SQLite's left-to-right AND runs it only for rows they keep."""
        return sorted(children, key=self._looks_up)

    def _looks_up(self, expr: Expr) -> bool:
        if isinstance(expr, Not):
            return self._looks_up(expr.child)
        if isinstance(expr, And | Or):
            return any(self._looks_up(c) for c in expr.children)
        if isinstance(expr, Const):
            return False
        column = self.fields.by_ecs(leaf_field(expr).name)
        return column is not None and column.sql is not None

    def visit_and(self, node: And) -> Sql:
        parts = [self.compile(c) for c in self._cheap_first(node.children)]
        return Sql(" AND ".join(p.at(AND) for p in parts), AND, any(p.nullable for p in parts))

    def visit_or(self, node: Or) -> Sql:
        return _any_of([self.compile(c) for c in node.children])

    def visit_not(self, node: Not) -> Sql:
        if isinstance(node.child, Exists) and not self._column(node.child.field).array:
            return Sql(f"{self._value(node.child.field, True)} IS NULL", ATOM, False)
        child = self.compile(node.child)
        if child.nullable:
            return Sql(f"NOT coalesce({child.text}, 0)", NOT, False)
        return Sql(f"NOT {child.at(NOT)}", NOT, False)

    def visit_const(self, node: Const) -> Sql:
        return Sql("1" if node.value else "0", ATOM, False)

    # ------------------------------------------------------------------ field predicates

    def _column(self, ref: FieldRef) -> Column:
        column = self.fields.by_ecs(ref.name)
        if column is None:  # run_passes resolves fields first; this guards direct callers
            raise UnsupportedConstruct("field", f"{ref.name!r} is not resolved", pos=ref.pos)
        return column

    def _value(self, ref: FieldRef, empty_may_match: bool, name: str | None = None) -> str:
        text = name or self._column(ref).expr
        return f"NULLIF({text}, '')" if empty_may_match else text

    def _on_field(self, ref: FieldRef, empty_may_match: bool, predicate: Predicate) -> Sql:
        """Apply a per-value predicate to a scalar column, or to any element of an array one."""
        column = self._column(ref)
        if not column.array:
            return predicate(self._value(ref, empty_may_match or column.numeric))
        cond = predicate(self._value(ref, empty_may_match, "value")).text
        source = f"json_each(NULLIF({column.name}, ''))"
        return Sql(f"EXISTS (SELECT 1 FROM {source} WHERE {cond})", ATOM, False)

    def visit_exists(self, node: Exists) -> Sql:
        column = self._column(node.field)
        if column.array:
            return self._on_field(node.field, True, lambda v: Sql(f"{v} IS NOT NULL", ATOM, False))
        return Sql(f"{self._value(node.field, True)} IS NOT NULL", ATOM, False)

    def visit_equals(self, node: Equals) -> Sql:
        pos = node.pos
        if all(isinstance(v, str) for v in node.values):
            texts = [str(v) for v in node.values]
            ci = node.case_insensitive
            plain = [literals.quote(t, pos) for t in texts if not literals.needs_glob(t, ci)]
            globs = [
                literals.quote("".join(literals.glob_char(c, True) for c in t), pos)
                for t in texts
                if literals.needs_glob(t, ci)
            ]
            empty = "" in texts
        else:
            plain = [literals.number(v) for v in node.values if not isinstance(v, str)]
            globs, empty = [], False
            if len(plain) != len(node.values):
                raise UnsupportedConstruct("value", "mixed text and numbers", pos=pos)

        def predicate(v: str) -> Sql:
            parts: list[Sql] = []
            if len(plain) == 1:
                parts.append(Sql(f"{v} = {plain[0]}", ATOM, True))
            elif plain:
                parts.append(Sql(f"{v} IN ({', '.join(dict.fromkeys(plain))})", ATOM, True))
            parts.extend(Sql(f"{v} GLOB {g}", ATOM, True) for g in globs)
            return _any_of(parts)

        return self._on_field(node.field, empty, predicate)

    def visit_match(self, node: Match) -> Sql:
        globs = [
            literals.quote(literals.glob(p, node.case_insensitive), node.pos) for p in node.patterns
        ]
        empty = any(all(part is Wild.ANY or part == "" for part in p.parts) for p in node.patterns)
        return self._on_field(
            node.field,
            empty,
            lambda v: _any_of([Sql(f"{v} GLOB {g}", ATOM, True) for g in dict.fromkeys(globs)]),
        )

    def visit_regex(self, node: Regex) -> Sql:
        patterns = [
            literals.quote(regex.translate(p, node.case_insensitive, node.pos), node.pos)
            for p in node.patterns
        ]
        return self._on_field(
            node.field,
            True,
            lambda v: _any_of(
                [Sql(f"regex_match({v}, {p}, 0) IS NOT NULL", ATOM, False) for p in patterns]
            ),
        )

    def visit_compare(self, node: Compare) -> Sql:
        op = _COMPARE_OPS.get(node.op)
        if op is None:
            raise UnsupportedConstruct("operator", repr(node.op), pos=node.pos)
        number = literals.number(node.value)
        if isinstance(node.left, Length):
            return self._on_field(
                node.left.field,
                True,
                lambda v: Sql(f"{utf16_length(v)} {op} {number}", ATOM, True),
            )
        return self._on_field(node.left, True, lambda v: Sql(f"{v} {op} {number}", ATOM, True))

    def visit_cidr_match(self, node: CidrMatch) -> Sql:
        return self._on_field(
            node.field, True, lambda v: Sql(cidr_match(v, node.blocks, node.pos), ATOM, False)
        )


def _below(network: ipaddress.IPv6Network) -> list[str]:
    """Blocks covering every address below ``network``'s first one (one per 1 bit of its
    prefix): ``[::, first)``, none of them ending at ``ffff…ffff``."""
    first, width = int(network.network_address), network.max_prefixlen
    out = []
    for length in range(1, network.prefixlen + 1):
        bits = first >> (width - length)
        if bits & 1:
            out.append(str(ipaddress.IPv6Network(((bits ^ 1) << (width - length), length))))
    return out


def cidr_match(v: str, blocks: Iterable[str], pos: Pos | None = None) -> str:
    """Elasticsearch's ``cidrMatch`` (a terms query on an ``ip`` field: every address of each
    block, the ends included) on osquery's ``in_cidr_block(cidr, ip)``, which differs in three
    ways the SQL makes up for (``osquery_sqlite.in_cidr_block`` mirrors osquery's code):

    - it fails the query for an IP of the other family than the block: the value's family is
      tested first (an ``ip`` cell is canonical, ``values.ip_text``: IPv6 iff it has a ``:``);
    - an IPv4 block's network and broadcast addresses are not in it (boost's ``hosts()``), so
      they are compared as text, and /31 and /32 blocks are text comparisons alone;
    - an IPv6 block ending at ``ffff…ffff`` holds nothing (the range's end wraps), so such a
      block is "not below its first address" (``_below``); a /128 is a text comparison.
    """
    v4: list[str] = []
    v6: list[str] = []
    equal: dict[int, list[str]] = {4: [], 6: []}
    for text in blocks:
        network = ipaddress.ip_network(text)
        ends = [str(network.network_address), str(network.broadcast_address)]
        call = f"in_cidr_block({literals.quote(text, pos)}, {v})"
        if network.prefixlen >= network.max_prefixlen - (1 if network.version == 4 else 0):
            equal[network.version] += ends
        elif network.version == 4:
            v4.append(call)
            equal[4] += ends
        elif int(network.broadcast_address) != 2**128 - 1:
            v6.append(call)
        else:
            below = [f"in_cidr_block({literals.quote(b, pos)}, {v})" for b in _below(network)]
            v6.append(f"NOT ({' OR '.join(below)})" if below else "1")

    def any_of(calls: list[str], version: int) -> str:
        texts = [literals.quote(t, pos) for t in dict.fromkeys(equal[version])]
        terms = ([f"{v} IN ({', '.join(texts)})"] if texts else []) + calls
        return " OR ".join(terms) or "0"

    return (
        f"CASE WHEN {v} IS NULL THEN 0 WHEN instr({v}, ':') > 0 THEN {any_of(v6, 6)}"
        f" ELSE {any_of(v4, 4)} END"
    )


def select(
    fields: FieldTable,
    conjuncts: Iterable[str],
    lookback_seconds: int,
    columns: Iterable[str] | None = None,
) -> str:
    """The pack query: every column (or ``columns``, select expressions), the lookback window,
    then the rule's terms one per line.

    The window compares the table's ``time`` column with osquery's ``time.unix_time``; SQLite
    hands that constraint to the extension's ``generate``, so a pack reads only its window.
    """
    columns = ",\n  ".join(fields.names if columns is None else columns)
    window = f"{TIME_COLUMN} >= (SELECT unix_time FROM time) - {int(lookback_seconds)}"
    terms = "".join(f"\n  AND {term}" for term in conjuncts)
    return f"SELECT\n  {columns}\nFROM {fields.name}\nWHERE {window}{terms}"
