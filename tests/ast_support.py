"""Shared by the property tests (semantics, exceptions): walking a rule's AST."""

from __future__ import annotations

from collections.abc import Iterator

from ecsquery.rules.lang.ast import And, Expr, Not, Or


def leaves(expr: Expr) -> Iterator[Expr]:
    """The predicates of a condition (every node that is not And, Or or Not)."""
    if isinstance(expr, And | Or):
        for child in expr.children:
            yield from leaves(child)
    elif isinstance(expr, Not):
        yield from leaves(expr.child)
    else:
        yield expr
