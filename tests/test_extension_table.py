"""The table plugin: columns from the field table, constraints, colsUsed, the streamed reply."""

from __future__ import annotations

import json

from osquery.extensions import Extension
from osquery.extensions.ttypes import ExtensionResponse, ExtensionStatus
from thrift.protocol import TBinaryProtocol
from thrift.transport import TTransport

from ecsquery.extension.pipeline import Pipeline
from ecsquery.extension.table import (
    EQUALS,
    GREATER_THAN,
    GREATER_THAN_OR_EQUALS,
    LESS_THAN,
    LESS_THAN_OR_EQUALS,
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
    assert table.routes()[0] == {"id": "column", "name": "time", "type": "BIGINT", "op": "0"}


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
    assert times(table, ctx({"process_name": [(EQUALS, "p10")]})) == [10, 20]
    assert times(table, "not json") == [10, 20]
    assert times(table, "") == [10, 20]


def test_timestamp_constraints_compare_like_sqlite_text() -> None:
    table = table_with([10, 20, 30])
    context = ctx({"timestamp": [(GREATER_THAN_OR_EQUALS, "2024-01-01T00:00:20.000Z")]})
    assert times(table, context) == [20, 30]


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
