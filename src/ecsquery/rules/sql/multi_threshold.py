"""Threshold rules → GROUP BY / HAVING over the rule's lookback, one row per alerting bucket.

Kibana's threshold rule (docs "Create a threshold rule"; detection engine
``threshold/find_threshold_signals``): the rule's query over ``[now - from, now]``, a terms
aggregation on ``threshold.field`` (every field present; none = one bucket), a bucket alerts
when its event count is at least ``threshold.value`` and, with ``threshold.cardinality``, it
holds at least ``value`` distinct values of that field. Each alert carries
``kibana.alert.threshold_result`` = ``{terms: [{field, value}], count, from, cardinality}``.

A row's columns: the bucket's key columns (named as in the table; a host-constant field such
as ``host.id`` has no column and is NULL: the reader fills it from the result line's host),
``threshold_terms`` (the ``terms`` list as JSON), ``threshold_count``,
``threshold_cardinality`` (JSON ``[{field, value}]`` or NULL), ``threshold_from`` /
``threshold_to`` (first and last event, ISO 8601) and ``threshold_events`` (JSON ``[[ms,
event.id, cardinality value], ...]``, what ``since_last_signal`` needs).

Elastic remembers, per rule and bucket, the time of the last event that alerted ("threshold
signal history") and counts only newer events in later runs, so one burst alerts once although
overlapping windows see it again. osquery's differential log re-reports a bucket whose row
changed, so the reader must apply ``since_last_signal`` with that remembered time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ecsquery.errors import UnsupportedConstruct
from ecsquery.rules.lang.ast import FieldRef, Query
from ecsquery.rules.lang.multi import Threshold
from ecsquery.rules.lang.passes import run_passes
from ecsquery.rules.sql import literals
from ecsquery.rules.sql.compiler import Compiler
from ecsquery.rules.sql.multi_sequence import EVENT_MS, HOST_CONSTANT
from ecsquery.schema import TIME_COLUMN, FieldTable


def threshold_from_params(query: Query, params: Mapping[str, Any]) -> Threshold:
    """The ``[rule.threshold]`` table of a detection-rules TOML as a ``Threshold`` node."""
    table = params.get("threshold")
    if not isinstance(table, Mapping) or "value" not in table:
        raise UnsupportedConstruct("threshold", "the rule has no [rule.threshold] value")
    names = table.get("field") or []
    names = [names] if isinstance(names, str) else list(names)
    cardinality = table.get("cardinality") or []
    if len(cardinality) > 1:
        raise UnsupportedConstruct("threshold cardinality", "more than one cardinality field")
    card = cardinality[0] if cardinality else None
    return Threshold(
        query,
        tuple(FieldRef(str(n)) for n in names),
        int(table["value"]),
        FieldRef(str(card["field"])) if card else None,
        int(card["value"]) if card else 0,
    )


def _scalar_column(ref: FieldRef, fields: FieldTable, what: str) -> str | None:
    """The column of a bucket or cardinality field; None for a host-constant field."""
    column = fields.by_ecs(ref.name)
    if column is None:
        if ref.name in HOST_CONSTANT:
            return None
        raise UnsupportedConstruct(what, f"{ref.name!r} has no column in the table")
    if column.array:
        raise UnsupportedConstruct(what, f"{ref.name!r} is an array field")
    return column.expr


def compile_threshold(rule: Threshold, fields: FieldTable, lookback_seconds: int) -> str:
    normal = run_passes(rule.query, fields)
    terms = Compiler(fields).conjuncts(normal.where)
    keys, term_json, present = [], [], []
    for ref in rule.fields:
        column = _scalar_column(ref, fields, "threshold field")
        value = f"NULLIF({column}, '')" if column else "NULL"
        name = literals.quote(ref.name, None)
        term_json.append(f"json_object('field', {name}, 'value', {value})")
        if column:
            keys.append(column)
            present.append(f"{value} IS NOT NULL")
    card_value = "NULL"
    having = [f"count(*) >= {int(rule.value)}"]
    card_out = "NULL"
    if rule.cardinality_field is not None:
        column = _scalar_column(rule.cardinality_field, fields, "threshold cardinality")
        if column is None:
            raise UnsupportedConstruct("threshold cardinality", "a host field has one value")
        card_value = f"NULLIF({column}, '')"
        distinct = f"count(DISTINCT {card_value})"
        having.append(f"{distinct} >= {int(rule.cardinality_value)}")
        name = literals.quote(rule.cardinality_field.name, None)
        card_out = f"json_array(json_object('field', {name}, 'value', {distinct}))"
    window = f"{TIME_COLUMN} >= (SELECT unix_time FROM time) - {int(lookback_seconds)}"
    where = "".join(f"\n    AND {t}" for t in [*terms, *present])
    select_keys = "".join(f"{k}, " for k in keys)
    group = f"\nGROUP BY {', '.join(keys)}" if keys else ""
    return f"""SELECT {select_keys}json_array({", ".join(term_json)}) AS threshold_terms,
  count(*) AS threshold_count, {card_out} AS threshold_cardinality,
  min(timestamp) AS threshold_from, max(timestamp) AS threshold_to,
  json_group_array(json_array(_ms, event_id, {card_value})) AS threshold_events
FROM (
  SELECT *, {EVENT_MS} AS _ms FROM {fields.name}
  WHERE {window}{where}
){group}
HAVING {" AND ".join(having)}"""


def since_last_signal(
    row: Mapping[str, Any], rule: Threshold, last_signal_ms: int | None
) -> tuple[int, int, int] | None:
    """The reader's step for one bucket row: Elastic's threshold signal history.

    Counts only the bucket's events after the last event that already alerted for this bucket
    (``last_signal_ms``, None if it never did); returns ``(count, cardinality, newest ms)`` —
    remember the newest ms for the bucket — or None when the newer events stay below threshold.
    """
    events = [
        e
        for e in json.loads(row["threshold_events"])
        if last_signal_ms is None or e[0] > last_signal_ms
    ]
    distinct = len({e[2] for e in events if e[2] is not None})
    if len(events) < rule.value:
        return None
    if rule.cardinality_field is not None and distinct < rule.cardinality_value:
        return None
    return len(events), distinct, max(e[0] for e in events)
