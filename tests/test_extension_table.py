"""The table plugin: columns from the field table, constraints, colsUsed, the streamed reply."""

from __future__ import annotations

import json
import sqlite3

from hypothesis import given, settings
from hypothesis import strategies as st
from osquery.extensions import Extension
from osquery.extensions.ttypes import ExtensionResponse, ExtensionStatus
from thrift.protocol import TBinaryProtocol
from thrift.transport import TTransport

from ecsquery.extension.pipeline import Pipeline
from ecsquery.extension.table import (
    EQUALS,
    GLOB,
    GREATER_THAN,
    GREATER_THAN_OR_EQUALS,
    LESS_THAN,
    LESS_THAN_OR_EQUALS,
    LIKE,
    EcsProcessTable,
)
from ecsquery.extension.window import Window
from ecsquery.schema import COLUMNS
from ecsquery.testing.standin import build_context


def doc(t: int, name: str) -> dict[str, object]:
    return {
        "@timestamp": f"2024-01-01T00:00:{t % 60:02d}.000Z",
        "event": {"action": "exec", "category": ["process"], "type": ["start"]},
        "process": {"name": name, "args": [name, "a b"], "pid": t},
    }


def table_with(times: list[int]) -> EcsProcessTable:
    window = Window(max_age=10**9)
    pipeline = Pipeline(window)
    for t in times:
        pipeline.add_document(t, doc(t, f"p{t}"))
    return EcsProcessTable(window)


def ctx(constraints: dict[str, list[tuple[int, str]]], cols: list[str] | None = None) -> str:
    return build_context([(c.name, c.type.value) for c in COLUMNS], constraints, cols)


def times(table: EcsProcessTable, context: str) -> list[int]:
    return [int(r["time"]) for r in table.generate(context)]


def test_columns_are_the_field_table() -> None:
    table = table_with([])
    assert table.name() == "ecs_process_events"
    assert table.columns() == [(c.name, c.type.value) for c in COLUMNS]
    # INDEX only on time (an IN per value: hits_only), INDEX | OPTIMIZED elsewhere (IN whole)
    assert table.routes()[0] == {"id": "column", "name": "time", "type": "BIGINT", "op": "1"}
    assert table.routes()[1] == {"id": "column", "name": "timestamp", "type": "TEXT", "op": "9"}


def test_time_constraints_each_operator() -> None:
    table = table_with([10, 20, 30, 40])
    assert times(table, ctx({"time": [(GREATER_THAN, "20")]})) == [30, 40]
    assert times(table, ctx({"time": [(GREATER_THAN_OR_EQUALS, "20")]})) == [20, 30, 40]
    assert times(table, ctx({"time": [(EQUALS, "30")]})) == [30]
    assert times(table, ctx({"time": [(LESS_THAN, "20")]})) == [10]
    assert times(table, ctx({"time": [(LESS_THAN_OR_EQUALS, "20")]})) == [10, 20]
    both = {"time": [(GREATER_THAN, "10"), (LESS_THAN, "40")]}
    assert times(table, ctx(both)) == [20, 30]
    assert times(table, ctx({"time": [(GREATER_THAN, "19.5")]})) == [20, 30, 40]


def test_unusable_constraints_leave_filtering_to_sqlite() -> None:
    table = table_with([10, 20])
    assert times(table, ctx({"time": [(GREATER_THAN, "abc")]})) == [10, 20]
    assert times(table, ctx({"time": [(65, "1%")]})) == [10, 20]  # LIKE
    assert times(table, ctx({"process_pid": [(EQUALS, "ten")]})) == [10, 20]
    assert times(table, ctx({"process_name": [(68, "p10")]})) == [10, 20]  # != : SQLite's
    assert times(table, "not json") == [10, 20]
    assert times(table, "") == [10, 20]


def test_text_order_constraints_are_left_to_sqlite() -> None:
    """osquery never forwards them (``sensibleComparison``, osquery/sql/virtual_table.cpp
    l. 705 at a5b14f63d); were one to arrive, filtering by a guessed collation could lose rows."""
    table = table_with([10, 20, 30])
    context = ctx({"timestamp": [(GREATER_THAN_OR_EQUALS, "2024-01-01T00:00:20.000Z")]})
    assert times(table, context) == [10, 20, 30]


def test_cols_used_narrows_the_row() -> None:
    table = table_with([10])
    [row] = table.generate(ctx({}, ["process_name", "time"]))
    assert row == {"time": "10", "process_name": "p10"}
    assert table.generate(ctx({}, [])) == [{}]


def test_window_bounds() -> None:
    window = Window(max_age=100, max_events=3)
    pipeline = Pipeline(window)
    for t in (1, 2, 3, 4):
        pipeline.add_document(t, doc(t, "x"))
    assert [e[0] for e in window.snapshot()] == [2, 3, 4]
    pipeline.add_document(200, doc(200, "x"))  # 100 s newer: everything older goes
    assert [e[0] for e in window.snapshot()] == [200]
    assert window.evicted == 4


def test_streamed_reply_is_byte_identical_to_generated_code() -> None:
    table = table_with([10, 20, 30])
    context = ctx({"time": [(GREATER_THAN, "10")]})
    ours = TTransport.TMemoryBuffer()
    table.write_reply(TBinaryProtocol.TBinaryProtocol(ours), 7, context)
    theirs = TTransport.TMemoryBuffer()
    prot = TBinaryProtocol.TBinaryProtocol(theirs)
    prot.writeMessageBegin("call", 2, 7)
    result = Extension.call_result(
        success=ExtensionResponse(
            status=ExtensionStatus(code=0, message="OK"), response=table.generate(context)
        )
    )
    result.write(prot)
    prot.writeMessageEnd()
    assert ours.getvalue() == theirs.getvalue()


def test_reply_with_one_column() -> None:
    table = table_with([10, 20])
    buf = TTransport.TMemoryBuffer()
    table.write_reply(TBinaryProtocol.TBinaryProtocol(buf), 1, ctx({}, ["process_args"]))
    reader = TBinaryProtocol.TBinaryProtocol(TTransport.TMemoryBuffer(buf.getvalue()))
    reader.readMessageBegin()
    result = Extension.call_result()
    result.read(reader)
    assert [json.loads(r["process_args"]) for r in result.success.response] == [
        ["p10", "a b"],
        ["p20", "a b"],
    ]


_SQL_OPS = {EQUALS: "=", GREATER_THAN: ">", LESS_THAN: "<", LESS_THAN_OR_EQUALS: "<=",
            GREATER_THAN_OR_EQUALS: ">=", LIKE: "LIKE", GLOB: "GLOB"}  # fmt: skip
_words = st.sampled_from(["p1", "P1", "p1 ", "a_b", "a%b", "sh", "", "[x]", "é", "10", "2"])


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 30), _words, st.integers(-3, 3) | st.none()), max_size=12),
    st.sampled_from(["time", "process_name", "process_pid"]),
    st.sampled_from(sorted(_SQL_OPS)),
    st.lists(_words | st.integers(-4, 40).map(str) | st.just("1.5"), min_size=1, max_size=3),
    st.sampled_from(["", " COLLATE NOCASE", " COLLATE RTRIM"]),
)
def test_constraint_filtering_never_loses_a_row_sqlite_keeps(
    events: list[tuple[int, str, int | None]],
    name: str,
    op: int,
    operands: list[str],
    collate: str,
) -> None:
    """What osquery passes (one list per column; several ``=`` from an IN), checked against
    SQLite itself over the same rows: the selection is a superset, exact without collation."""
    window = Window(max_age=10**9)
    pipeline = Pipeline(window)
    for t, process, pid in sorted(events, key=lambda e: e[0]):
        pipeline.add_document(t, {"process": {"name": process, "pid": pid}})
    column = next(c for c in COLUMNS if c.name == name)
    if column.numeric and op in (LIKE, GLOB):
        return  # osquery passes them, and they are left to SQLite: nothing to compare
    if not column.numeric and op not in (EQUALS, LIKE, GLOB):
        return  # never forwarded for TEXT (sensibleComparison)
    operands = operands[:1] if op != EQUALS else operands  # several only from an IN
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (time BIGINT, process_name TEXT, process_pid BIGINT)")
    table = EcsProcessTable(window)
    served = table.generate(None)
    for row in served:
        pid = int(row["process_pid"]) if row["process_pid"] else None
        db.execute("INSERT INTO t VALUES (?, ?, ?)", (int(row["time"]), row["process_name"], pid))
    sql_op = _SQL_OPS[op]
    if op == EQUALS:
        where = f"{name}{collate} IN ({', '.join('?' * len(operands))})"
    else:
        where = f"{name} {sql_op} ?"
    keys = ["time", "process_name", "process_pid"]
    kept = [tuple(map(str, r)) for r in db.execute(f"SELECT * FROM t WHERE {where}", operands)]
    got = table.generate(ctx({name: [(op, v) for v in operands]}))
    got_rows = [tuple(r[k] for k in keys) for r in got]
    want = [tuple("" if v == "None" else v for v in r) for r in kept]
    assert all(w in got_rows for w in want)  # never a row lost
    numbers = all(v.lstrip("-").replace(".", "", 1).isdigit() for v in operands)
    if (op == GLOB) if not column.numeric else numbers and not collate:
        assert sorted(got_rows) == sorted(want)  # exact: GLOB, and numbers compared
