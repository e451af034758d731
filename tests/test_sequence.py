"""EQL sequences: parsing, and the SQL's completed sequences equal the reference matcher's.

The reference (``ecsquery.testing.multi.sequences``) runs Elasticsearch's per-stage algorithm
with full partial-sequence lists; the SQL walks the events once keeping the latest partial
sequence per stage (see ``rules/sql/multi_sequence.py``). They are compared on generated
streams: ties in time, gaps at maxspan - 1 / maxspan / maxspan + 1 ms, missing keys,
interleaved keys, repeats (an event matching several steps), until events.
"""

from __future__ import annotations

from typing import Any

import pytest

from ecsquery.errors import RuleSyntaxError, UnsupportedConstruct
from ecsquery.extension.ecs import iso_timestamp
from ecsquery.rules.lang.ast import And, Equals, FieldRef, Query
from ecsquery.rules.lang.multi import Sequence, Step
from ecsquery.rules.lang.passes import run_passes
from ecsquery.rules.lang.sequence import parse_sequence
from ecsquery.rules.sql.multi_sequence import compile_sequence
from ecsquery.testing.multi import sequences
from multi_support import FIELDS, NOW, Table, agree_on_streams, many, slow

STREAMS = 300  # per shape: 2,100 streams for the class, each run with missing as NULL and ''
SLOW_STREAMS = 5000  # per shape, behind ECSQUERY_SLOW=1 (marked slow)

SHAPES = {
    "by_entity": "sequence by process.entity_id with maxspan=10s"
    ' [process where process.name == "a"] [process where process.name == "b"]',
    "parent_child": "sequence by host.id with maxspan=5s"
    ' [process where process.name == "a"] by process.entity_id'
    ' [process where process.name in ("b", "c")] by process.parent.entity_id',
    "three_steps": "sequence by process.entity_id with maxspan=2s"
    ' [process where process.name == "a"] [process where process.name == "b"]'
    ' [process where process.name == "a" or process.name == "c"]',
    "runs": 'sequence by host.id, process.pid with maxspan=3s [process where process.name == "a"]'
    " with runs=3",
    "until": 'sequence by process.entity_id with maxspan=10s [process where process.name == "a"]'
    ' [process where process.name == "b"] until [process where process.name == "u"]',
    "reuse": "sequence by process.pid with maxspan=1s [process where true] "
    '[process where process.args == "-e"]',
    "optional_key": 'sequence by ?user.name with maxspan=4s [process where process.name == "a"]'
    ' [process where process.name == "b"]',
    "agent_key": 'sequence by agent.id with maxspan=3s [process where process.name == "a"]'
    ' by process.entity_id [process where process.name == "b"] by process.parent.entity_id',
}


def ev(i: int, ms: int, name: str, entity: str = "E1", **extra: Any) -> dict[str, Any]:
    return {
        "@timestamp": iso_timestamp(ms / 1000),
        "time": ms // 1000,
        "event": {"id": f"id{i:03d}", "category": ["process"]},
        "host": {"id": "H"},
        "process": {"name": name, "entity_id": entity, **extra},
    }


def ids(found: list[list[dict[str, Any]]]) -> list[tuple[str, ...]]:
    return sorted(tuple(d["event"]["id"] for d in s) for s in found)


def normalized(seq: Sequence) -> Sequence:
    """The steps' queries after the single-event passes (what the reference evaluates)."""

    def norm(step: Step) -> Step:
        return Step(run_passes(step.query, FIELDS), step.keys)

    until = norm(seq.until) if seq.until else None
    return Sequence(tuple(norm(s) for s in seq.steps), seq.maxspan_ms, until)


def sql_ids(sql: str, docs: list[dict[str, Any]], missing: str = "null") -> list[tuple[str, ...]]:
    rows = TABLE.run(sql, docs, missing)  # type: ignore[arg-type]
    by_seq: dict[str, list[tuple[int, str]]] = {}
    for row in rows:
        by_seq.setdefault(row["sequence_id"], []).append((row["sequence_step"], row["event_id"]))
    return sorted(tuple(e for _, e in sorted(steps)) for steps in by_seq.values())


TABLE = Table()

# --------------------------------------------------------------------------- parsing


def test_parse_sequence_keys_maxspan_runs_until() -> None:
    seq = parse_sequence(
        "sequence by host.id with maxspan=1m\n"
        ' [process where process.name == "a"] by process.entity_id with runs=2\n'
        ' [process where process.name == "b"] by process.parent.entity_id\n'
        ' until [process where process.name == "u"] by process.entity_id'
    )
    host, child, parent = (
        FieldRef("host.id"),
        FieldRef("process.entity_id"),
        FieldRef("process.parent.entity_id"),
    )

    def name(v: str) -> Query:
        return Query("eql", Equals(FieldRef("process.name"), (v,)), "process")

    assert seq == Sequence(
        (
            Step(name("a"), (host, child)),
            Step(name("a"), (host, child)),
            Step(name("b"), (host, parent)),
        ),
        60_000,
        Step(name("u"), (host, child)),
    )


def test_parse_params_either_order_and_units() -> None:
    a = parse_sequence("sequence with maxspan=250ms by x [any where true] [any where true]")
    assert a.maxspan_ms == 250 and a.steps[0].keys == (FieldRef("x"),)
    b = parse_sequence("sequence [any where true] [any where true]")
    assert b.maxspan_ms is None and b.steps[1].keys == ()
    c = parse_sequence(
        "sequence by ?x with maxspan = 2h [any where a == 1 and b == 2] [any where true]"
    )
    assert c.maxspan_ms == 7_200_000 and c.steps[0].keys[0].optional
    assert isinstance(c.steps[0].query.where, And)


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("sequence [any where true]", RuleSyntaxError, "at least two steps"),
        ("sequence [any where true] by a [any where true] by a, b", RuleSyntaxError, "join keys"),
        ("sequence [any where true] with runs=0", RuleSyntaxError, "between 1 and 100"),
        ("sequence [any where true] with runs==2", RuleSyntaxError, "expected '='"),
        ("sequence [any where true] ![any where true]", UnsupportedConstruct, "missing event"),
        ("sequence [any where true] [any where true] | head 1", UnsupportedConstruct, "pipe"),
        ("sequence [any where x + 1 == 2] [any where true]", UnsupportedConstruct, "arithmetic"),
    ],
)
def test_parse_sequence_errors(text: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        parse_sequence(text)


def test_compile_refuses_what_it_cannot_match_exactly() -> None:
    unbounded = parse_sequence("sequence by process.pid [process where true] [process where true]")
    with pytest.raises(UnsupportedConstruct, match="sequence without maxspan"):
        compile_sequence(unbounded, FIELDS, 600)
    network = parse_sequence(
        "sequence by process.entity_id with maxspan=1s [process where true] [library where true]"
    )
    with pytest.raises(UnsupportedConstruct, match="event category: 'library'"):
        compile_sequence(network, FIELDS, 600)
    array_key = parse_sequence(
        "sequence by process.args with maxspan=1s [process where true] [process where true]"
    )
    with pytest.raises(UnsupportedConstruct, match="array field"):
        compile_sequence(array_key, FIELDS, 600)


# --------------------------------------------------------------------------- exact cases

T0 = (NOW - 100) * 1000


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        # several first steps for one second step: ES pairs the latest, drops the older
        ([ev(1, T0, "a"), ev(2, T0 + 5, "a"), ev(3, T0 + 9, "b")], [("id002", "id003")]),
        # the older first step is not reused by a later second step
        (
            [ev(1, T0, "a"), ev(2, T0 + 5, "a"), ev(3, T0 + 9, "b"), ev(4, T0 + 20, "b")],
            [("id002", "id003")],
        ),
        # maxspan is inclusive: exactly 10 s joins, 10.001 s does not (and uses the a up)
        ([ev(1, T0, "a"), ev(2, T0 + 10_000, "b")], [("id001", "id002")]),
        ([ev(1, T0, "a"), ev(2, T0 + 10_001, "b"), ev(3, T0 + 10_002, "b")], []),
        # keys: a different or missing entity never joins
        ([ev(1, T0, "a", "E1"), ev(2, T0 + 1, "b", "E2"), ev(3, T0 + 2, "b", "")], []),
        # a tie in time is ordered by event.id: id002 (b) before id003 (a): no sequence
        ([ev(3, T0, "a"), ev(2, T0, "b")], []),
        ([ev(2, T0, "a"), ev(3, T0, "b")], [("id002", "id003")]),
        # until between the steps ends the partial sequence; after them it does not
        ([ev(1, T0, "a"), ev(2, T0 + 1, "u"), ev(3, T0 + 2, "b")], []),
        ([ev(1, T0, "a"), ev(2, T0 + 1, "b"), ev(3, T0 + 2, "u")], [("id001", "id002")]),
    ],
)
def test_elasticsearch_choices(
    events: list[dict[str, Any]], expected: list[tuple[str, ...]]
) -> None:
    seq = parse_sequence(SHAPES["until"])
    sql = compile_sequence(seq, FIELDS, 600)
    assert ids(sequences(normalized(seq), events)) == expected
    assert sql_ids(sql, events) == expected


def test_runs_overlap_as_elasticsearch_expands_them() -> None:
    seq = parse_sequence(SHAPES["runs"])
    events = [ev(i, T0 + i, "a", pid=10) for i in range(1, 6)]
    expected = [
        ("id001", "id002", "id003"),
        ("id002", "id003", "id004"),
        ("id003", "id004", "id005"),
    ]
    assert ids(sequences(normalized(seq), events)) == expected
    assert sql_ids(compile_sequence(seq, FIELDS, 600), events) == expected


def test_rows_carry_every_step_event_and_a_stable_sequence_id() -> None:
    seq = parse_sequence(SHAPES["by_entity"])
    rows = TABLE.run(
        compile_sequence(seq, FIELDS, 600), [ev(1, T0, "a"), ev(2, T0 + 3, "b")], "null"
    )
    assert [
        (
            r["event_id"],
            r["process_name"],
            r["sequence_id"],
            r["sequence_step"],
            r["sequence_length"],
        )
        for r in rows
    ] == [
        ("id001", "a", '["id001","id002"]', 1, 2),
        ("id002", "b", '["id001","id002"]', 2, 2),
    ]


def test_lookback_bounds_the_events_seen() -> None:
    seq = parse_sequence(SHAPES["by_entity"])
    events = [ev(1, (NOW - 61) * 1000, "a"), ev(2, (NOW - 59) * 1000, "b")]
    assert sql_ids(compile_sequence(seq, FIELDS, 60), events) == []
    assert sql_ids(compile_sequence(seq, FIELDS, 62), events) == [("id001", "id002")]


# --------------------------------------------------------------------------- property


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_sql_equals_reference_on_streams(shape: str) -> None:
    agree(shape, STREAMS)


@pytest.mark.slow
@slow
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_sql_equals_reference_on_many_streams(shape: str) -> None:
    agree(shape, many(SLOW_STREAMS))


def agree(shape: str, count: int) -> None:
    seq = parse_sequence(SHAPES[shape])
    assert seq.maxspan_ms is not None
    reference = normalized(seq)
    sql = compile_sequence(seq, FIELDS, 600)
    agree_on_streams(
        count,
        lambda docs, missing: sql_ids(sql, docs, missing),
        lambda docs: ids(sequences(reference, docs)),
        shape,
        n=24,
        maxspan_ms=seq.maxspan_ms,
        missing=(0.0, 0.1, 0.4),
        bursty=(0.3, 0.8),
    )


def test_alert_pieces_group_rows_and_intersect_like_kibana() -> None:
    from ecsquery.rules.sql.multi_alerts import intersection, sequence_groups

    rows = [
        {"sequence_id": "s", "sequence_step": 2, "sequence_length": 2, "event_id": "b"},
        {"sequence_id": "t", "sequence_step": 1, "sequence_length": 2, "event_id": "c"},
        {"sequence_id": "s", "sequence_step": 1, "sequence_length": 2, "event_id": "a"},
    ]
    assert [[r["event_id"] for r in g] for g in sequence_groups(rows)] == [["a", "b"]]
    docs = [
        {"host": {"id": "H", "name": "m"}, "process": {"name": "a", "args": ["x"]}, "k": 1},
        {"host": {"id": "H"}, "process": {"name": "b", "args": ["x"]}},
    ]
    assert intersection(docs) == {"host": {"id": "H"}, "process": {"args": ["x"]}}
    assert intersection([{"a": 1}, {"a": 2}]) is None
