"""Shared by the property tests (semantics, exceptions, values): walking a rule's AST, and a
rule around a bare EQL query."""

from __future__ import annotations

from collections.abc import Iterator

from ecsquery.rules.lang.ast import And, Expr, Not, Or
from ecsquery.rules.model import Rule


def leaves(expr: Expr) -> Iterator[Expr]:
    """The predicates of a condition (every node that is not And, Or or Not)."""
    if isinstance(expr, And | Or):
        for child in expr.children:
            yield from leaves(child)
    elif isinstance(expr, Not):
        yield from leaves(expr.child)
    else:
        yield expr


def eql_rule(query: str, rule_id: str = "r1") -> Rule:
    """A minimal EQL rule (nine-minute lookback) around ``query``."""
    return Rule(
        slug=rule_id,
        rule_id=rule_id,
        name=query,
        description="",
        type="eql",
        language="eql",
        query=query,
        severity="low",
        risk_score=21,
        from_="now-9m",
    )
