"""EQL sequences → ``multi.Sequence``, from the EQL grammar's ``sequence`` start symbol.

Kept apart from ``eql`` (one event's query) because a sequence is a different thing to ask
for; each step's query is read by ``eql``'s own event-query builder, so the two never differ
on what a condition means.
"""

from __future__ import annotations

from lark import Token, Tree

from ecsquery.errors import RuleSyntaxError, UnsupportedConstruct
from ecsquery.rules.lang import multi
from ecsquery.rules.lang.ast import FieldRef
from ecsquery.rules.lang.eql import _NAMES, _event_query, _field_name
from ecsquery.rules.lang.grammar import parse_tree, pos_of

_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
MAX_RUNS = 100


def parse_sequence(text: str) -> multi.Sequence:
    """Parse ``sequence ...``; raises ``RuleSyntaxError`` or ``UnsupportedConstruct``.

    Checks Elasticsearch's own rules: at least two steps after ``runs`` expansion, the same
    number of per-step keys on every step (and on ``until``), ``runs`` between 1 and 100.
    Missing-event steps (``![...]``) and pipes are refused by name.
    """
    tree = parse_tree("eql", text, _NAMES, start="sequence")
    keys: tuple[FieldRef, ...] = ()
    maxspan: int | None = None
    steps: list[tuple[Tree[Token], tuple[FieldRef, ...], int]] = []
    until: tuple[Tree[Token], tuple[FieldRef, ...]] | None = None
    for child in tree.children:
        if isinstance(child, Token):  # PIPES
            raise UnsupportedConstruct(
                "pipe", "pipes post-process sequences outside the matcher", pos=pos_of(child)
            )
        match child.data:
            case "seq_params":
                for part in child.children:
                    assert isinstance(part, Tree)
                    if part.data == "maxspan":
                        maxspan = _maxspan(part)
                    else:
                        keys = _keys(part)
            case "maxspan":
                maxspan = _maxspan(child)
            case "join_keys":
                keys = _keys(child)
            case "missing_step":
                raise UnsupportedConstruct(
                    "missing event",
                    "![...] steps match the absence of an event",
                    pos=pos_of(child),
                )
            case "step":
                query, runs = child.children[0], 1
                own: tuple[FieldRef, ...] = ()
                for part in child.children[1:]:
                    assert isinstance(part, Tree)
                    if part.data == "runs":
                        runs = _runs(part)
                    else:
                        own = _keys(part)
                assert isinstance(query, Tree)
                steps.append((query, own, runs))
            case "until":
                query = child.children[0]
                assert isinstance(query, Tree)
                own = _keys(child.children[1]) if len(child.children) > 1 else keys[:0]
                until = (query, own)
    arity = {len(own) for _, own, _ in steps} | ({len(until[1])} if until else set())
    if len(arity) > 1:
        raise RuleSyntaxError(
            "inconsistent number of join keys across the sequence's steps", pos=pos_of(tree)
        )
    expanded = tuple(
        multi.Step(_event_query(query), keys + own, pos=pos_of(query))
        for query, own, runs in steps
        for _ in range(runs)
    )
    if len(expanded) < 2:
        raise RuleSyntaxError("a sequence needs at least two steps", pos=pos_of(tree))
    last = None
    if until is not None:
        last = multi.Step(_event_query(until[0]), keys + until[1], pos=pos_of(until[0]))
    return multi.Sequence(expanded, maxspan, last, pos=pos_of(tree))


def _keys(node: Tree[Token] | Token) -> tuple[FieldRef, ...]:
    assert isinstance(node, Tree) and node.data == "join_keys"
    out = []
    for token in node.children:
        assert isinstance(token, Token)
        text = str(token)
        out.append(
            FieldRef(_field_name(text.lstrip("?")), optional=text[0] == "?", pos=pos_of(token))
        )
    return tuple(out)


def _assign(op: Tree[Token] | Token) -> None:
    if str(op) != "=":
        raise RuleSyntaxError(f"expected '=', found {str(op)!r}", pos=pos_of(op))


def _maxspan(node: Tree[Token]) -> int:
    op, number, unit = node.children
    _assign(op)
    return int(str(number)) * _UNIT_MS[str(unit)]


def _runs(node: Tree[Token]) -> int:
    op, number = node.children
    _assign(op)
    runs = int(str(number))
    if not 1 <= runs <= MAX_RUNS:
        raise RuleSyntaxError(f"runs must be between 1 and {MAX_RUNS}", pos=pos_of(number))
    return runs
