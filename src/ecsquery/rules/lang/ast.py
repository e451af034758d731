"""The one small AST that KQL and EQL both parse into.

Nodes carry *meaning*, not syntax: KQL ``process.args:"x"`` and EQL ``process.args == "x"``
both become ``Equals``; EQL ``x != "v"`` is ``Not(Equals)``; ``startsWith(x, "a")`` is a
``Match`` with pattern ``a*``. That keeps the compiler and the reference evaluator to one
method per node, and makes "Elastic semantics" a property of the node, documented here:

- Every predicate on a field is true when *any* value of the field satisfies it (ECS arrays:
  ``process.args``, ``event.type``, ``event.category``...); a missing field (absent, null, empty
  array, empty string) satisfies no predicate, so ``Not(p)`` is true for it.
- ``case_insensitive`` follows Elasticsearch's ``case_insensitive`` flag: each code point of the
  literal matches itself or its other case, nothing else.
- Wildcard patterns are structured (``Pattern``): literal text cannot be confused with ``*``/``?``,
  so escaping is the backend's job only.

Positions are kept for error messages and excluded from equality, so tests compare trees.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from dataclasses import field as dc_field
from enum import Enum
from typing import TypeAlias

from ecsquery.errors import Pos

Scalar: TypeAlias = str | int | float | bool
"""A literal value in a comparison. ``None`` (EQL ``null``) never appears: it becomes Exists."""


class Wild(Enum):
    """A wildcard inside a pattern: ``*`` (any run of code points) or ``?`` (exactly one)."""

    ANY = "*"
    ONE = "?"


@dataclass(frozen=True)
class Pattern:
    """A wildcard pattern as literal text runs and ``Wild`` tokens, e.g. ``("a", ANY)`` = ``a*``."""

    parts: tuple[str | Wild, ...]

    @property
    def is_literal(self) -> bool:
        return all(isinstance(p, str) for p in self.parts)

    def literal(self) -> str:
        """The text of a pattern without wildcards."""
        assert self.is_literal
        return "".join(p for p in self.parts if isinstance(p, str))

    @classmethod
    def of(cls, pieces: Iterable[str | Wild]) -> Pattern:
        """Text pieces and wildcards in the one normal form equality relies on: adjacent text
        joined, empty text dropped (so ``("a", "", "b")`` and ``("ab",)`` are one pattern)."""
        parts: list[str | Wild] = []
        for piece in pieces:
            if isinstance(piece, Wild):
                parts.append(piece)
            elif piece and parts and isinstance(parts[-1], str):
                parts[-1] += piece
            elif piece:
                parts.append(piece)
        return cls(tuple(parts))

    @classmethod
    def parse(cls, text: str, wildcards: str = "*?", escape: str | None = None) -> Pattern:
        """Split text on the given wildcard characters (EQL: ``*?``; KQL: ``*``).

        ``escape`` (Lucene's ``wildcard`` query: ``\\``) makes the next character literal; a
        trailing one is itself literal, as ``WildcardQuery.toAutomaton`` reads it.
        """

        def pieces() -> Iterator[str | Wild]:
            chars = iter(text)
            for ch in chars:
                if ch == escape:
                    yield next(chars, ch)
                elif ch in wildcards:
                    yield Wild(ch)
                else:
                    yield ch

        return cls.of(pieces())

    def __str__(self) -> str:
        return "".join(p.value if isinstance(p, Wild) else p for p in self.parts)


# --------------------------------------------------------------------------- value expressions


@dataclass(frozen=True)
class FieldRef:
    """An ECS field by dotted name; ``optional`` is EQL's ``?field`` (null when not in schema)."""

    name: str
    optional: bool = False
    pos: Pos | None = dc_field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Length:
    """EQL ``length(field)``: UTF-16 code units of a string (Java's ``String.length()``)."""

    field: FieldRef
    pos: Pos | None = dc_field(default=None, compare=False, repr=False)


ValueExpr: TypeAlias = FieldRef | Length


# --------------------------------------------------------------------------- boolean expressions


@dataclass(frozen=True)
class And:
    children: tuple[Expr, ...]
    pos: Pos | None = dc_field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Or:
    children: tuple[Expr, ...]
    pos: Pos | None = dc_field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Not:
    """True exactly when the child is false, including when the child's field is missing."""

    child: Expr
    pos: Pos | None = dc_field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Const:
    """A folded truth value (e.g. an optional field outside the schema compared to a value)."""

    value: bool
    pos: Pos | None = dc_field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Exists:
    """The field has at least one value: KQL ``x:*``, EQL ``x != null``."""

    field: FieldRef
    pos: Pos | None = dc_field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Equals:
    """Some value of the field equals one of ``values`` (KQL ``:`` on keyword, EQL ``==``/``in``).

    Strings compare code point by code point (case per ``case_insensitive``), numbers and
    booleans by value.
    """

    field: FieldRef
    values: tuple[Scalar, ...]
    case_insensitive: bool = False
    pos: Pos | None = dc_field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Match:
    """Some value of the field matches one of the wildcard ``patterns`` as a whole string."""

    field: FieldRef
    patterns: tuple[Pattern, ...]
    case_insensitive: bool = False
    pos: Pos | None = dc_field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Regex:
    """Some value of the field matches one of the (Lucene-syntax, anchored) regular expressions."""

    field: FieldRef
    patterns: tuple[str, ...]
    case_insensitive: bool = False
    pos: Pos | None = dc_field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Compare:
    """A numeric comparison: ``op`` is one of ``== < <= > >=``; a missing value never compares."""

    left: ValueExpr
    op: str
    value: int | float
    pos: Pos | None = dc_field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class CidrMatch:
    """EQL ``cidrMatch(field, "10.0.0.0/8", "::1", ...)``: some address of the ``ip`` field lies
    in one of the blocks (all of each block's addresses; a bare address is a block of one)."""

    field: FieldRef
    blocks: tuple[str, ...]
    pos: Pos | None = dc_field(default=None, compare=False, repr=False)


Expr: TypeAlias = And | Or | Not | Const | Exists | Equals | Match | Regex | Compare | CidrMatch


@dataclass(frozen=True)
class Query:
    """A parsed rule query. ``category`` is EQL's event category (``process where``; ``any``
    for ``any where``), None for KQL."""

    language: str  # "kuery" or "eql", as Elastic's rule files spell it
    where: Expr
    category: str | None = None
