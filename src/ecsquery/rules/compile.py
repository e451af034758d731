"""Rule → pack SQL: parse the rule's query, run the AST passes, generate osquery SQL.

The facade the CLI, the pack renderer and the tests use (pySigma's pipeline: rule model →
field mapping → backend). Errors get the rule id attached here, because the parser and the
compiler only ever see text and trees; ``compile_rules`` collects every error so ``check``
can report them all in one run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ecsquery.errors import EcsqueryError
from ecsquery.rules.exceptions import apply_exceptions
from ecsquery.rules.lang.ast import Expr, Query
from ecsquery.rules.lang.passes import optimize, run_passes, table_for_query
from ecsquery.rules.model import Rule
from ecsquery.rules.sql.compiler import Compiler, select
from ecsquery.rules.sql.pushdown import hits_only, pushdown_terms
from ecsquery.schema import FieldTable


@dataclass(frozen=True)
class CompiledRule:
    """A rule with its normalized query, its WHERE expression and its full pack SQL."""

    rule: Rule
    query: Query
    where: str
    sql: str


def parse_rule_query(rule: Rule) -> Query:
    """The rule's query text parsed in the rule's language (``kuery`` or ``eql``)."""
    from ecsquery.rules.lang.parse import parse_query  # the parsers are another part's module

    return parse_query(rule.query, rule.language)


def compile_query(rule: Rule, query: Query, fields: FieldTable | None = None) -> CompiledRule:
    """Compile an already parsed query for ``rule`` (tests build ASTs by hand).

    ``fields`` is the process table or another one; the query reads the table of its event
    category (``table_for_query``), a sibling of ``fields`` when the category is another; an
    EQL ``any where`` query reads every table it can match on (``rules.sql.union``), and its
    ``where`` is the branches' conditions ORed, each over its own table.
    """
    from ecsquery.rules.sql.union import compile_any  # it builds on this module's parts

    try:
        if query.category == "any":
            normal, where, sql = compile_any(query, fields or FieldTable(), rule.lookback_seconds)
            return CompiledRule(rule, normal, where, sql)
        table = table_for_query(query, fields or FieldTable(), index=rule.index)
        normal = run_passes(query, table)
        compiler = Compiler(table)
        terms = compiler.conjuncts(normal.where) + pushdown_terms(normal.where, table)
        lookups, key = compiler.lookup_terms(normal.where)
        sql = hits_only(select(table, terms, rule.lookback_seconds), lookups, key)
    except EcsqueryError as exc:
        raise exc.with_rule(rule.rule_id, rule.source) from None
    return CompiledRule(rule, normal, " AND ".join(terms) or "1", sql)


def compile_rule(rule: Rule, fields: FieldTable | None = None) -> CompiledRule:
    """Parse, normalize and compile one rule; every error names the rule.

    Multi-event rules (EQL sequences, threshold, ES|QL, new_terms) go to
    ``rules.sql.multi.compile_multi``; the others are single-event queries.
    """
    from ecsquery.rules.sql.multi import compile_multi, multi_kind  # it builds on this module

    data = rule.to_mapping()
    if multi_kind(data):
        return compile_multi(rule, data, fields)
    return compile_single(rule, fields)


def compile_single(rule: Rule, fields: FieldTable | None = None) -> CompiledRule:
    """A single-event rule's query (or a new_terms rule's, which runs as one) compiled.

    Exceptions join the query as ``AND NOT (...)`` before the passes, so their fields are
    resolved, and their values compiled and evaluated, exactly like the rule's own.
    """
    try:
        query = apply_exceptions(parse_rule_query(rule), rule.exceptions)
    except EcsqueryError as exc:
        raise exc.with_rule(rule.rule_id, rule.source) from None
    return compile_query(rule, query, fields)


def compile_rules(
    rules: Iterable[Rule], fields: FieldTable | None = None
) -> tuple[list[CompiledRule], list[EcsqueryError]]:
    """Every rule that compiles and every error, in rule order."""
    table = fields or FieldTable()
    compiled: list[CompiledRule] = []
    errors: list[EcsqueryError] = []
    for rule in rules:
        try:
            compiled.append(compile_rule(rule, table))
        except EcsqueryError as exc:
            errors.append(exc)
    return compiled, errors


def compile_where(expr: Expr, fields: FieldTable | None = None) -> str:
    """One expression (e.g. an exception's) as a WHERE expression, with the same passes."""
    table = fields or FieldTable()
    return Compiler(table).where(optimize(expr, table))
