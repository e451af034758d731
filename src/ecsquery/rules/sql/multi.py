"""Multi-event rules → pack SQL: the one entry point for EQL sequences, threshold, ES|QL and
new_terms rules (the single-event path stays ``rules.compile.compile_rule``).

``multi_kind`` tells from a rule's raw ``[rule]`` table whether it is one of them;
``compile_multi`` compiles it to a ``CompiledRule`` (so packs render it like any other rule),
raising ``RefusedRule`` whose message starts with the class (``EQL sequence (multi-event): ``
...) and names the construct or field that stops it. ``params`` is the rule's table in
Elastic's key names (``Rule.to_mapping()``, or a detection-rules TOML ``[rule]``): threshold
and new_terms settings are read from its ``threshold``/``new_terms`` keys.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ecsquery.errors import EcsqueryError, RefusedRule, UnmappedField, UnsupportedConstruct
from ecsquery.rules.compile import CompiledRule, compile_single, compile_where, parse_rule_query
from ecsquery.rules.exceptions import apply_exceptions
from ecsquery.rules.lang.ast import Const, Query
from ecsquery.rules.lang.esql import parse_esql
from ecsquery.rules.lang.passes import table_for_query
from ecsquery.rules.lang.sequence import parse_sequence
from ecsquery.rules.model import Rule, duration_seconds
from ecsquery.rules.sql.multi_esql import compile_esql
from ecsquery.rules.sql.multi_sequence import HOST_CONSTANT, compile_sequence, step_condition
from ecsquery.rules.sql.multi_threshold import compile_threshold, threshold_from_params
from ecsquery.schema import FieldTable

_SEQUENCE = re.compile(r"^\s*sequence\b")

CLASS_NAMES = {
    "sequence": "EQL sequence (multi-event)",
    "threshold": "threshold rule",
    "esql": "ES|QL rule",
    "new_terms": "new_terms rule",
}


def multi_kind(data: Mapping[str, Any]) -> str | None:
    """``sequence``, ``threshold``, ``esql``, ``new_terms``, or None for other rules."""
    rule_type = str(data.get("type", ""))
    if rule_type == "eql" and _SEQUENCE.match(str(data.get("query", ""))):
        return "sequence"
    return rule_type if rule_type in ("threshold", "esql", "new_terms") else None


def _sequence(rule: Rule, params: Mapping[str, Any], fields: FieldTable) -> CompiledRule:
    seq = parse_sequence(rule.query)
    sql = compile_sequence(seq, fields, rule.lookback_seconds)
    where = "\n-- then\n".join(step_condition(s, fields) for s in seq.steps)
    return CompiledRule(rule, seq.steps[0].query, where, sql)


def _threshold(rule: Rule, params: Mapping[str, Any], fields: FieldTable) -> CompiledRule:
    query = apply_exceptions(parse_rule_query(rule), rule.exceptions)
    spec = threshold_from_params(query, params)
    fields = table_for_query(query, fields, index=rule.index)
    sql = compile_threshold(spec, fields, rule.lookback_seconds)
    return CompiledRule(rule, query, compile_where(query.where, fields), sql)


def _new_terms(rule: Rule, params: Mapping[str, Any], fields: FieldTable) -> CompiledRule:
    """The query runs on the host as any single-event rule; the reader's first-seen store
    (``alerts.newterms``) decides which events are new. The term fields must be columns of
    the table of the query's event category."""
    fields = table_for_query(parse_rule_query(rule), fields, index=rule.index)
    table = params.get("new_terms")
    names = table.get("value") if isinstance(table, Mapping) else None
    if not isinstance(table, Mapping) or not names:
        raise UnsupportedConstruct("new_terms", "the rule has no [rule.new_terms] fields")
    for name in names:
        if fields.by_ecs(str(name)) is None and name not in HOST_CONSTANT:
            raise UnmappedField(str(name), category=fields.category)
    history = [h for h in table.get("history_window_start") or () if isinstance(h, Mapping)]
    if not history:
        raise UnsupportedConstruct("new_terms", "the rule has no history_window_start")
    duration_seconds(str(history[0]["value"]))  # readable, or RuleLoadError names it
    return compile_single(rule, fields)


def _esql(rule: Rule, params: Mapping[str, Any], fields: FieldTable) -> CompiledRule:
    if rule.exceptions:
        raise UnsupportedConstruct("exceptions", "on ES|QL rules (Kibana has none either)")
    pipeline = parse_esql(rule.query)
    sql = compile_esql(pipeline, fields, rule.lookback_seconds)
    return CompiledRule(rule, Query("esql", Const(True)), sql, sql)  # no single WHERE


_COMPILERS: dict[str, Callable[[Rule, Mapping[str, Any], FieldTable], CompiledRule]] = {
    "sequence": _sequence,
    "threshold": _threshold,
    "new_terms": _new_terms,
    "esql": _esql,
}


def window_seconds(rule: Rule) -> int:
    """How many seconds of events the extension's window must keep for ``rule``: its lookback
    (``from``), and for a sequence at least ``interval + maxspan``, so that a sequence ending in
    the newest interval is in the window whole. The extension's window should be the maximum
    of this over the loaded rules."""
    if multi_kind({"type": rule.type, "query": rule.query}) != "sequence":
        return rule.lookback_seconds
    maxspan_ms = parse_sequence(rule.query).maxspan_ms or 0
    return max(rule.lookback_seconds, rule.interval_seconds + -(-maxspan_ms // 1000))


def rules_window(rules: Iterable[Rule]) -> tuple[int, Rule | None]:
    """The seconds of events the extension's window must keep for all of ``rules`` (the
    maximum of :func:`window_seconds`), and the rule that needs the most (None if no rules)."""
    best: tuple[int, Rule | None] = (0, None)
    for rule in rules:
        seconds = window_seconds(rule)
        if seconds > best[0]:
            best = (seconds, rule)
    return best


def compile_multi(
    rule: Rule, params: Mapping[str, Any], fields: FieldTable | None = None
) -> CompiledRule:
    """Compile a multi-event rule; every failure is a ``RefusedRule`` naming class and reason."""
    kind = multi_kind(params) or rule.type
    label = CLASS_NAMES.get(kind, kind)
    compiler = _COMPILERS.get(kind)
    if compiler is None:
        raise RefusedRule(f"{label}: not compiled yet", rule=rule.rule_id)
    try:
        return compiler(rule, params, fields or FieldTable())
    except EcsqueryError as exc:
        where = f"{exc.pos}: " if exc.pos else ""
        raise RefusedRule(f"{label}: {where}{exc.message}", rule=rule.rule_id) from None
