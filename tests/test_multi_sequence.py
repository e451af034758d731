"""Sequences whose steps read different tables (``process where`` → ecs_process_events,
``network where`` → ecs_network_events, ``file where`` → ecs_file_events) agree with
Elasticsearch's matcher (``ecsquery.testing.multi.sequences``) on generated streams whose
events are of all three categories, each row in its own table."""

from __future__ import annotations

import random
from typing import Any

from ecsquery import osquery_sqlite
from ecsquery.rows import to_row
from ecsquery.rules.lang.multi import Sequence, Step
from ecsquery.rules.lang.passes import run_passes
from ecsquery.rules.lang.sequence import parse_sequence
from ecsquery.rules.sql.multi_sequence import compile_sequence, step_table
from ecsquery.schema import TABLES, FieldTable, table_of_row
from ecsquery.testing.multi import sequences
from multi_support import NOW, agree_on_streams

FIELDS = FieldTable()
SEQUENCE = parse_sequence(
    "sequence by process.entity_id with maxspan=10s"
    ' [process where process.name in ("a", "b", "c")]'
    ' [network where destination.port == 80 and not cidrMatch(destination.ip, "10.0.0.0/8")]'
    ' [file where file.name : "x*"]'
    ' until [process where process.name == "u"]'
)


def _as_category(doc: dict[str, Any]) -> dict[str, Any]:
    """The stream's process event, or (decided by its event id) a network or file event of
    the same process, with values on both sides of the steps' conditions."""
    rng = random.Random(doc["event"]["id"])
    kind = rng.choice(("process", "process", "network", "network", "file"))
    if kind == "process":
        return doc
    out = {**doc, "event": {**doc["event"], "category": [kind], "type": ["info"]}}
    if kind == "network":
        ip = rng.choice(
            ("8.8.8.8", "8.8.4.4", "10.1.2.3", "::ffff:10.0.0.9", "10.0.0.0", "fe80::1")
        )
        out["destination"] = {"ip": ip, "port": rng.choice((80, 80, 80, 443))}
    else:
        out["file"] = {"name": rng.choice(("x1", "x2", "X", "y")), "path": "/tmp/x"}
    return out


def _normalized(seq: Sequence) -> Sequence:
    def norm(step: Step) -> Step:
        return Step(run_passes(step.query, step_table(step, FIELDS)), step.keys)

    until = norm(seq.until) if seq.until else None
    return Sequence(tuple(norm(s) for s in seq.steps), seq.maxspan_ms, until)


CONN = osquery_sqlite.connect(now=NOW)
SQL = compile_sequence(SEQUENCE, FIELDS, 600)
REFERENCE = _normalized(SEQUENCE)


def _sql_ids(docs: list[dict[str, Any]], missing: osquery_sqlite.Missing) -> list[tuple[str, ...]]:
    for table in TABLES:
        CONN.execute(f"DELETE FROM {table.name}")
    rows = []
    for doc in map(_as_category, docs):
        row = to_row(doc, FieldTable.of(table_of_row(doc["event"]["category"])))
        rows.append(row | {"time": str(doc["time"])})
    osquery_sqlite.insert_routed(CONN, rows, missing=missing)
    cursor = CONN.execute(SQL)
    names = [c[0] for c in cursor.description]
    by_seq: dict[str, list[tuple[int, str]]] = {}
    for values in cursor:
        row = dict(zip(names, values, strict=True))
        by_seq.setdefault(row["sequence_id"], []).append((row["sequence_step"], row["event_id"]))
    return sorted(tuple(e for _, e in sorted(steps)) for steps in by_seq.values())


def _reference_ids(docs: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    found = sequences(REFERENCE, [_as_category(d) for d in docs])
    return sorted(tuple(d["event"]["id"] for d in s) for s in found)


def test_the_sequence_reads_each_step_table_as_one_stream() -> None:
    for table in TABLES:
        assert f"FROM {table.name} WHERE time >=" in SQL
    assert SQL.count("UNION ALL SELECT") >= 2


def test_sql_equals_reference_on_streams_over_three_tables() -> None:
    agree_on_streams(
        300,
        _sql_ids,
        _reference_ids,
        "process-network-file",
        n=40,
        maxspan_ms=5000,
        missing=(0.0, 0.1),
        bursty=(0.5, 0.8),
    )
