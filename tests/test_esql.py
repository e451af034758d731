"""The ES|QL subset: parsing and refusals by name, and the SQL's rows equal the reference
interpreter's (``ecsquery.testing.multi.esql_rows``) on generated event streams."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ecsquery.errors import UnsupportedConstruct
from ecsquery.rules.lang import esql
from ecsquery.rules.lang.esql import parse_esql
from ecsquery.rules.sql.multi_esql import compile_esql
from ecsquery.testing.multi import esql_rows
from multi_support import FIELDS, Table, agree_on_streams, slow

STREAMS = 500  # per shape: 2,000 for the class
SLOW_STREAMS = 10_000
TABLE = Table()
FROM = "FROM logs-endpoint.events.process-* METADATA _id, _index\n"

SHAPES = {
    "filter": FROM + '| WHERE process.name IN ("a", "b") AND NOT (to_lower(user.name) LIKE "al*")\n'
    '| EVAL n = length(process.name), at = locate(process.name, "b")\n| WHERE n >= 1',
    "stats": FROM + '| WHERE event.category == "process"\n'
    "| STATS c = count_distinct(process.name), k = count(*), v = values(process.name),"
    " e = count(process.parent.entity_id) BY user.name, process.pid\n| WHERE c >= 2",
    "kql_case": FROM + '| WHERE KQL("process.args:-e or process.name:c")\n'
    '| EVAL t = CASE(process.name == "a", "A", process.name LIKE "b*", "B", "other"),'
    " b = date_trunc(1 second, @timestamp)\n"
    "| STATS n = count(*), d = count_distinct(t), first = min(@timestamp) BY process.entity_id, b\n"
    "| KEEP n, d, first, process.entity_id",
    "nulls_and_arrays": FROM + '| WHERE process.args IS NOT NULL AND (process.args == "-e"'
    ' OR process.parent.entity_id IS NULL OR process.name RLIKE "[ab]")',
}


def sql_rows(pipeline: esql.Pipeline, docs: list[dict[str, Any]], missing: str) -> list[Any]:
    rows = TABLE.run(compile_esql(pipeline, FIELDS, 600), docs, missing)  # type: ignore[arg-type]
    if pipeline.stats is None:
        names = [n for c in pipeline.commands if isinstance(c, esql.Eval) for n, _ in c.assignments]
        return sorted(json.dumps([r["event_id"], *(r[n] for n in names)]) for r in rows)
    out = []
    for row in rows:
        row = {k: sorted(json.loads(v)) if k == "v" else v for k, v in row.items()}
        out.append(json.dumps(row, sort_keys=True))
    return sorted(out)


def reference_rows(pipeline: esql.Pipeline, docs: list[dict[str, Any]]) -> list[Any]:
    rows = esql_rows(pipeline, docs)
    if pipeline.stats is None:
        names = [n for c in pipeline.commands if isinstance(c, esql.Eval) for n, _ in c.assignments]
        return sorted(json.dumps([r["event.id"], *(r[n] for n in names)]) for r in rows)
    keep = next((c.patterns for c in pipeline.commands if isinstance(c, esql.Keep)), None)
    return sorted(
        json.dumps({k: v for k, v in r.items() if keep is None or k in keep}, sort_keys=True)
        for r in rows
    )


@pytest.mark.parametrize(
    ("text", "construct"),
    [
        ("FROM logs-endpoint.events.process-* | MV_EXPAND process.args", "MV_EXPAND"),
        ("FROM logs-endpoint.events.process-* | LIMIT 5", "LIMIT"),
        ("FROM logs-endpoint.events.network-*", "FROM logs-endpoint.events.network-*"),
        ('FROM logs-* | WHERE process.name == "a"', "FROM logs-*"),
        (
            'FROM logs-endpoint.events.process-* | EVAL x = concat(process.name, "a")',
            "function CONCAT",
        ),
        ("FROM logs-endpoint.events.process-* | STATS x = process.name", "STATS expression"),
        ("FROM logs-endpoint.events.process-* | EVAL process.name", "unnamed column"),
    ],
)
def test_refused_by_name(text: str, construct: str) -> None:
    with pytest.raises(UnsupportedConstruct) as err:
        parse_esql(text)
    assert err.value.construct == construct


def test_wide_source_pinned_to_process_events_and_non_mac_sources() -> None:
    parse_esql('FROM logs-* | WHERE event.category == "process" and event.type == "start"')
    parse_esql("FROM logs-endpoint.events.process-*, logs-system.security-* | KEEP process.name")


def test_to_lower_only_against_ascii_text() -> None:
    pipeline = parse_esql(FROM + '| WHERE to_lower(process.name) == "é"')
    with pytest.raises(UnsupportedConstruct, match="non-ASCII"):
        compile_esql(pipeline, FIELDS, 60)


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_sql_equals_reference_on_streams(shape: str) -> None:
    agree(shape, STREAMS)


@pytest.mark.slow
@slow
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_sql_equals_reference_on_many_streams(shape: str) -> None:
    agree(shape, SLOW_STREAMS)


def agree(shape: str, count: int) -> None:
    pipeline = parse_esql(SHAPES[shape])
    agree_on_streams(
        count,
        lambda docs, missing: sql_rows(pipeline, docs, missing),
        lambda docs: reference_rows(pipeline, docs),
        shape,
        n=10,
    )
