"""Threshold rules: GROUP BY/HAVING SQL equals the reference's buckets on generated streams,
the corpus rule compiles, and the reader's signal-history step alerts a burst once."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ecsquery.errors import UnsupportedConstruct
from ecsquery.rules.lang.ast import FieldRef, Query
from ecsquery.rules.lang.kql import parse_kql
from ecsquery.rules.lang.multi import Threshold
from ecsquery.rules.lang.passes import run_passes
from ecsquery.rules.sql.multi_threshold import (
    compile_threshold,
    since_last_signal,
    threshold_from_params,
)
from ecsquery.testing.multi import threshold
from multi_support import FIELDS, Table, agree_on_streams, many, slow

STREAMS = 700  # per shape: 2,100 for the class
SLOW_STREAMS = 10_000
TABLE = Table()


def spec(
    query: str, fields: list[str], value: int, card: tuple[str, int] | None = None
) -> Threshold:
    params: dict[str, Any] = {"threshold": {"field": fields, "value": value}}
    if card:
        params["threshold"]["cardinality"] = [{"field": card[0], "value": card[1]}]
    return threshold_from_params(parse_kql(query), params)


SHAPES = {
    "by_entity": spec("process.name:(a or b)", ["process.entity_id"], 3),
    "two_fields_cardinality": spec(
        "event.category:process", ["user.name", "process.pid"], 2, ("process.name", 2)
    ),
    "host_only": spec("not process.name:x", ["host.id"], 6),
}


def buckets(
    rule: Threshold, docs: list[dict[str, Any]], missing: str
) -> dict[tuple[Any, ...], tuple[int, int]]:
    rows = TABLE.run(compile_threshold(rule, FIELDS, 600), docs, missing)  # type: ignore[arg-type]
    out = {}
    for row in rows:
        terms = json.loads(row["threshold_terms"])
        key = tuple("H" if t["field"] == "host.id" else t["value"] for t in terms)
        card = (
            json.loads(row["threshold_cardinality"])[0]["value"]
            if row["threshold_cardinality"]
            else 0
        )
        out[key] = (row["threshold_count"], card)
    return out


def reference(
    rule: Threshold, docs: list[dict[str, Any]]
) -> dict[tuple[Any, ...], tuple[int, int]]:
    normal = Threshold(
        run_passes(rule.query, FIELDS),
        rule.fields,
        rule.value,
        rule.cardinality_field,
        rule.cardinality_value,
    )
    return threshold(normal, docs)


def test_params_as_detection_rules_spells_them() -> None:
    rule = spec("x:1", ["host.id"], 20)
    assert rule == Threshold(parse_kql("x:1"), (FieldRef("host.id"),), 20)
    assert threshold_from_params(
        Query("kuery", rule.query.where), {"threshold": {"field": "a", "value": 1}}
    ).fields == (FieldRef("a"),)
    with pytest.raises(UnsupportedConstruct, match=r"no \[rule\.threshold\]"):
        threshold_from_params(rule.query, {})
    with pytest.raises(UnsupportedConstruct, match="array field"):
        compile_threshold(spec("process.name:a", ["process.args"], 1), FIELDS, 60)


def test_signal_history_alerts_a_burst_once() -> None:
    rule = spec("process.name:a", ["process.entity_id"], 2)
    row = {
        "threshold_events": json.dumps([[1000, "e1", None], [2000, "e2", None], [3000, "e3", None]])
    }
    assert since_last_signal(row, rule, None) == (3, 0, 3000)
    assert since_last_signal(row, rule, 3000) is None  # the same burst, seen again
    assert since_last_signal(row, rule, 1000) == (2, 0, 3000)  # two newer events


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_sql_equals_reference_on_streams(shape: str) -> None:
    agree(shape, STREAMS)


@pytest.mark.slow
@slow
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_sql_equals_reference_on_many_streams(shape: str) -> None:
    agree(shape, many(SLOW_STREAMS))


def agree(shape: str, count: int) -> None:
    rule = SHAPES[shape]
    agree_on_streams(
        count,
        lambda docs, missing: buckets(rule, docs, missing),
        lambda docs: reference(rule, docs),
        shape,
        n=12,
    )
