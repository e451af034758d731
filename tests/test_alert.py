"""Alert documents: Elastic's fields, the reason, stable ids, max_signals, dedup, round-trip."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts_fixtures import (
    FIELDS,
    KEYCHAIN,
    SYSTEMKEY,
    batch_line,
    event_line,
    keychain_event,
    query_name,
    read_docs,
    rule,
    simple_rule,
    snapshot_event_lines,
    snapshot_line,
    toml_threat,
)
from ecsquery.alerts.alert import AlertFactory, Shape, compile_nester
from ecsquery.alerts.ecs import EcsAlert
from ecsquery.alerts.reader import AlertReader
from ecsquery.alerts.resultlog import LineInfo
from ecsquery.alerts.signal import KibanaSignal
from ecsquery.alerts.state import ReaderState
from ecsquery.alerts.summary import Summary
from ecsquery.rows import from_row
from ecsquery.schema import Column, EcsType, FieldTable, OsqueryType
from ecsquery.testing.alert import reference_alert

SIGNAL = KibanaSignal()
SHAPES: tuple[Shape[Any], ...] = (SIGNAL, EcsAlert())
"""Both document shapes over the one builder (this file pins the signal shape's fields)."""


def any_table(lines: list[bytes], rules: list[Any], **kw: Any) -> list[dict[str, Any]]:
    """Alerts from rows that are not our table's (the pre-filter would skip them)."""
    return read_docs(lines, rules, marker=None, **kw)


def one_alert(**line_kw: Any) -> dict[str, Any]:
    r = rule()
    (alert,) = read_docs([event_line(query_name(r.slug), keychain_event(7), **line_kw)], [r])
    return alert


def test_alert_has_elastic_fields() -> None:
    r = rule()
    alert = one_alert()
    uuid = hashlib.sha256(f"{r.rule_id}\x1fUUID-MAC-01\x1fevent.id:ev-7".encode()).hexdigest()
    expected = {
        "@timestamp": "2023-11-14T22:15:00.000Z",
        "kibana.alert.rule.rule_id": "565d6ca5-75ba-4c82-9b13-add25353471c",
        "kibana.alert.rule.uuid": "565d6ca5-75ba-4c82-9b13-add25353471c",
        "kibana.alert.rule.name": "Dumping of Keychain Content via Security Command",
        "kibana.alert.rule.version": 1,
        "kibana.alert.rule.references": ["https://ss64.com/osx/security.html"],
        "kibana.alert.rule.note": r.note,
        "kibana.alert.rule.description": r.description,
        "kibana.alert.rule.type": "eql",
        "kibana.alert.rule.severity": "high",
        "kibana.alert.rule.risk_score": 73,
        "kibana.alert.rule.threat": toml_threat(KEYCHAIN),
        "kibana.alert.severity": "high",
        "kibana.alert.risk_score": 73,
        "kibana.alert.status": "active",
        "kibana.alert.workflow_status": "open",
        "kibana.alert.original_time": "2023-11-14T22:13:27.123Z",
        "kibana.alert.reason": "process event with process security, parent process Terminal,"
        " by root on mac-01 created high alert Dumping of Keychain Content via Security Command.",
        "kibana.alert.uuid": uuid,
        "threat": toml_threat(KEYCHAIN),
        "tags": list(r.tags),
        "event": {
            "category": ["process"],
            "type": ["start"],
            "action": "exec",
            "id": "ev-7",
            "kind": "signal",
        },
        "host": {
            "os": {"type": "macos"},
            "name": "mac-01",
            "hostname": "mac-01",
            "id": "UUID-MAC-01",
        },
        "process": {
            "pid": 4007,
            "entity_id": "ent-7",
            "executable": "/usr/bin/security",
            "name": "security",
            "args": ["security", "dump-keychain", "-d"],
            "args_count": 3,
            "command_line": "security dump-keychain -d",
            "working_directory": "/Users/alice",
            "code_signature": {"exists": True, "trusted": True, "signing_id": "com.apple.security"},
            "parent": {
                "pid": 300,
                "name": "Terminal",
                "executable": "/System/Applications/Utilities/Terminal.app/Contents/MacOS/Terminal",
            },
        },
        "user": {"id": "0", "name": "root", "effective": {"id": "0"}},
        "group": {"id": "0"},
        "osquery": {
            "name": f"pack_ecsquery_{r.slug}",
            "action": "added",
            "epoch": 0,
            "counter": 1,
            "unix_time": 1_700_000_100,
            "decorations": {"host_uuid": "UUID-MAC-01", "username": "alice"},
        },
    }
    assert alert == expected
    assert "## Triage and analysis" in alert["kibana.alert.rule.note"]  # the investigation guide


def test_original_time_falls_back_to_the_time_column_then_the_line() -> None:
    r = rule()
    row = keychain_event(7, timestamp="")
    (a,) = read_docs([event_line(query_name(r.slug), row)], [r])
    assert a["kibana.alert.original_time"] == "2023-11-14T22:13:27.000Z"
    row["time"] = ""
    (b,) = read_docs([event_line(query_name(r.slug), row)], [r])
    assert b["kibana.alert.original_time"] == b["@timestamp"] == "2023-11-14T22:15:00.000Z"


def test_reason_leaves_out_what_is_missing() -> None:
    r = simple_rule("bare", severity="medium", name="Bare")
    (a,) = any_table([event_line("pack_ecsquery_bare", {"x": "1"}, host="")], [r])
    assert a["kibana.alert.reason"] == "event created medium alert Bare."


def test_alert_uuid_is_stable_and_depends_on_rule_host_and_event() -> None:
    a, b = one_alert(), one_alert(counter=9, unix=1_700_009_999, numerics=True)
    assert a["kibana.alert.uuid"] == b["kibana.alert.uuid"]
    other_host = one_alert(host_uuid="UUID-MAC-02")
    assert other_host["kibana.alert.uuid"] != a["kibana.alert.uuid"]
    r2 = rule(SYSTEMKEY)
    (c,) = read_docs([event_line(query_name(r2.slug), keychain_event(7))], [r2])
    assert c["kibana.alert.uuid"] != a["kibana.alert.uuid"]


def test_rows_without_event_id_are_identified_by_content() -> None:
    r = simple_rule("snap")
    rows = [{"path": "/sbin/launchd", "pid": "1"}, {"path": "/sbin/launchd", "pid": 1}]
    alerts = any_table([snapshot_line("pack_ecsquery_snap", rows)], [r])
    assert len(alerts) == 1  # "1" and 1 are the same value written two ways


def test_max_signals_per_rule_host_and_run_with_drops_reported() -> None:
    r = simple_rule("many", max_signals=3)
    name = "pack_ecsquery_many"
    summary = Summary()
    run1 = [keychain_event(i) for i in range(5)]
    run2 = [keychain_event(i) for i in range(10, 15)]
    lines = [
        snapshot_line(name, run1, counter=1),
        *[event_line(name, row, counter=2) for row in run2],
        snapshot_line(name, run1, counter=1, host_uuid="UUID-MAC-02", host="mac-02"),
    ]
    alerts = list(read_docs(lines, [r], summary))
    assert len(alerts) == 9
    assert dict(summary.dropped) == {
        ("Rule many", "mac-01", "0/1@1700000100"): 2,
        ("Rule many", "mac-01", "0/2@1700000100"): 2,
        ("Rule many", "mac-02", "0/1@1700000100"): 2,
    }
    assert "max_signals: 2 hits of 'Rule many' on mac-02 in run 0/1@1700000100" in summary.render()


def test_dropped_hits_can_alert_in_the_next_run() -> None:
    r = simple_rule("few", max_signals=1)
    rows = [keychain_event(1), keychain_event(2)]
    lines = [snapshot_line("pack_ecsquery_few", rows, counter=c) for c in (1, 2, 3)]
    alerts = list(read_docs(lines, [r]))
    assert [a["event"]["id"] for a in alerts] == ["ev-1", "ev-2"]


def test_overlapping_lookback_windows_alert_once() -> None:
    r = rule()  # from: now-9m, interval 5m
    name = query_name(r.slug)
    summary = Summary()
    state = ReaderState()
    runs = [
        [keychain_event(1), keychain_event(2)],  # run at t
        [keychain_event(2), keychain_event(3)],  # run at t+5m sees ev-2 again
    ]
    lines = [
        snapshot_line(name, rows, counter=i, unix=1_700_000_100 + 300 * i)
        for i, rows in enumerate(runs)
    ]
    alerts = list(read_docs(lines, [r], summary, state))
    assert [a["event"]["id"] for a in alerts] == ["ev-1", "ev-2", "ev-3"]
    assert summary.duplicates == 1
    # Memory is bounded: ids are forgotten once no window can bring the hit back.
    later = snapshot_line(name, [keychain_event(99)], counter=9, unix=1_700_000_100 + 86_400)
    list(read_docs([later], [r], summary, state))
    assert len(state.seen) == 1


def test_state_round_trips_through_json() -> None:
    state = ReaderState()
    r = simple_rule("few", max_signals=1)
    list(read_docs([snapshot_line("pack_ecsquery_few", [keychain_event(1)] * 2)], [r], state=state))
    again = ReaderState.from_json(orjson.loads(orjson.dumps(state.to_json())))
    assert again.to_json() == state.to_json()


_value = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_column_values = {
    c.name: (
        st.lists(_value, max_size=3).map(lambda v: orjson.dumps(v).decode())
        if c.array
        else st.integers(-(2**40), 2**40).map(str)
        if c.numeric
        else _value
    )
    for c in FIELDS
}
_rows = st.fixed_dictionaries({}, optional=_column_values)


_odd_value = st.one_of(
    _value,
    st.sampled_from(
        ["", "[]", "[1,2]", "null", '"x"', "3.5", "0", "1", "true", "NaN", '["\\ud800"]']
    ),
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.lists(st.one_of(_value, st.integers()), max_size=2),
)
_odd_rows = st.fixed_dictionaries({}, optional={c.name: _odd_value for c in FIELDS})
"""Rows with the wrong types too (numbers in text columns, nulls, ``[]``, JSON oddities)."""


NEST = compile_nester(FIELDS)
KEYCHAIN_RULE = rule()
FACTORY = AlertFactory(FIELDS)


def ordered(value: Any) -> Any:
    """A document with its key order made part of equality."""
    if isinstance(value, dict):
        return [(k, ordered(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [ordered(v) for v in value]
    return (type(value), value)


@given(row=_rows)
def test_compiled_nester_equals_from_row(row: dict[str, str]) -> None:
    assert ordered(NEST(row)) == ordered(from_row(row, FIELDS))


@given(row=_odd_rows)
def test_compiled_nester_equals_from_row_on_odd_values(row: dict[str, Any]) -> None:
    assert ordered(NEST(row)) == ordered(from_row(row, FIELDS))
    assert ordered(NEST(row)) == ordered(from_row(row, FIELDS))  # again: the array cache


@given(
    row=st.one_of(
        st.fixed_dictionaries(_column_values),
        st.fixed_dictionaries({c.name: _odd_value for c in FIELDS}),
    )
)
def test_compiled_nester_equals_from_row_on_complete_rows(row: dict[str, Any]) -> None:
    """Rows with every column (as our packs' rows are) take the nester's one-call fetch."""
    assert ordered(NEST(row)) == ordered(from_row(row, FIELDS))


def test_empty_array_counts_as_missing() -> None:
    row = {"event_category": "[]", "process_args": "[]", "process_name": "x"}
    assert from_row(row, FIELDS) == {"process": {"name": "x"}}
    assert compile_nester(FIELDS)(row) == {"process": {"name": "x"}}


def test_a_lone_surrogate_in_an_array_column_is_replaced_not_fatal() -> None:
    """``json`` (the fallback for what orjson refuses) accepts ``"\\ud800"``; such a string
    could not be written as UTF-8, so the alert could not be encoded (found by a long
    hypothesis run of the random-lines test). It becomes U+FFFD, as undecodable bytes do."""
    row = keychain_event(1, event_category='["\\ud800"]', process_args='["a","\\udc00b"]')
    reader = AlertReader([KEYCHAIN_RULE])
    [alert] = reader.read(event_line(query_name(KEYCHAIN_RULE.slug), row))
    doc = orjson.loads(SIGNAL.ndjson(alert))
    assert doc["event"]["category"] == ["\ufffd"]
    assert doc["process"]["args"] == ["a", "\ufffdb"]
    assert doc["kibana.alert.reason"].startswith("\ufffd event with process security,")
    assert from_row(row, FIELDS)["process"]["args"] == ["a", "\ufffdb"]


def test_a_time_beyond_64_bits_is_unreadable_and_the_state_stays_storable() -> None:
    """Found through the C scanner's differential test: a row time of 1.8e19 made a dedup
    expiry beyond 64 bits, which the follow checkpoint (orjson) could not write."""
    reader = AlertReader([KEYCHAIN_RULE])
    row = keychain_event(1, time="1.8446744072009552e+19")
    [alert] = reader.read(event_line(query_name(KEYCHAIN_RULE.slug), row, unix=1_700_000_100))
    assert SIGNAL.document(alert)["kibana.alert.original_time"] == "2023-11-14T22:13:21.123Z"
    horizon = KEYCHAIN_RULE.lookback_seconds + KEYCHAIN_RULE.interval_seconds
    assert max(reader.state.seen.values()) == 1_700_000_100 + horizon
    orjson.dumps(reader.state.to_json())


_infos = st.builds(
    LineInfo,
    name=st.just("pack_ecsquery_prop"),
    host_name=st.one_of(st.none(), st.sampled_from(["mac-01", "mac-02"])),
    host_id=st.one_of(st.none(), st.just("UUID-MAC-01")),
    unix_time=st.one_of(st.none(), st.integers(-(2**40), 2**40)),
    epoch=st.one_of(st.none(), st.integers(0, 3)),
    counter=st.one_of(st.none(), st.integers(0, 3)),
    decorations=st.just({"username": "alice"}),
)


@given(rows=st.lists(st.one_of(_rows, _odd_rows), min_size=1, max_size=3), info=_infos)
def test_fast_alert_builder_equals_the_reference_builder(
    rows: list[dict[str, Any]], info: LineInfo
) -> None:
    r = KEYCHAIN_RULE
    for action, row in zip(["added", "snapshot", "added"], rows, strict=False):
        for shape in SHAPES:
            fast = shape.document(FACTORY.parts(r, row, info, action, "uuid-1"))
            want = reference_alert(r, row, info, action, "uuid-1", FIELDS, shape)
            assert ordered(fast) == ordered(want)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(_rows, min_size=1, max_size=4),
    fmt=st.sampled_from(["event", "batch", "snapshot", "snapshot events"]),
    delimiter=st.sampled_from("_/"),
    numerics=st.booleans(),
    top=st.booleans(),
)
def test_random_result_lines_round_trip_into_alerts(
    rows: list[dict[str, str]], fmt: str, delimiter: str, numerics: bool, top: bool
) -> None:
    r = simple_rule("prop", max_signals=1000)
    rows = [{**row, "event_id": f"id-{i}"} for i, row in enumerate(rows)]
    name = query_name("prop", delimiter)
    kw = {"numerics": numerics, "top_level_decorations": top}
    lines = {
        "event": lambda: [event_line(name, row, **kw) for row in rows],
        "batch": lambda: [batch_line(name, rows, **kw)],
        "snapshot": lambda: [snapshot_line(name, rows, **kw)],
        "snapshot events": lambda: snapshot_event_lines(name, rows, **kw),
    }[fmt]()
    alerts = any_table(lines, [r])
    assert len(alerts) == len(rows)
    for row, alert in zip(rows, alerts, strict=True):
        ecs = from_row(row, FIELDS)
        ecs_time = ecs.pop("@timestamp", None)
        if ecs_time is not None:
            assert alert["kibana.alert.original_time"] == ecs_time
        for top_key, value in ecs.items():
            got = alert[top_key]
            if top_key == "host":
                value = {**value, "name": "mac-01", "hostname": "mac-01", "id": "UUID-MAC-01"}
            if top_key == "event":
                value = {**value, "kind": "signal"}
            assert got == value, top_key
        assert alert["kibana.alert.rule.rule_id"] == "id-prop"


def test_reader_exposes_summary_and_state() -> None:
    reader = AlertReader([rule()])
    alerts = reader.read(event_line(query_name(rule().slug), keychain_event(1)) + b"\n")
    assert len(alerts) == 1 and reader.summary.total_alerts == 1 and len(reader.state.seen) == 1


SYSTEMKEY_RULE = rule(SYSTEMKEY)
LINE = orjson.OPT_APPEND_NEWLINE


@given(rows=st.lists(st.one_of(_rows, _odd_rows), min_size=1, max_size=3), info=_infos)
def test_alert_bytes_equal_encoding_the_reference_document(
    rows: list[dict[str, Any]], info: LineInfo
) -> None:
    """NDJSON of each shape (each rule's part encoded once) is byte for byte orjson's
    encoding of the document as the plain builder makes it: same keys, order and values."""
    for r in (KEYCHAIN_RULE, SYSTEMKEY_RULE, simple_rule("plain")):  # real notes of ~4 KB
        for row, shape in ((row, shape) for row in rows for shape in SHAPES):
            parts = FACTORY.parts(r, row, info, "added", "uuid-1")
            doc = reference_alert(r, row, info, "added", "uuid-1", FIELDS, shape)
            try:
                want = orjson.dumps(doc, option=LINE)
            except TypeError:  # a lone surrogate (never from parsed lines): both paths refuse
                with pytest.raises(TypeError):
                    shape.ndjson(parts)
                continue
            assert shape.ndjson(parts) == want
            assert orjson.dumps(shape.document(parts), option=LINE) == want


def test_hit_field_named_like_a_rule_field_falls_back_to_whole_document_bytes() -> None:
    """A column whose ECS field is ``tags`` replaces the rule's ``tags`` in the document (its
    key stays where the rule put it): the pre-encoded rule part cannot say that, so it is
    not used."""
    tags = Column("tags", OsqueryType.TEXT, "tags", EcsType.KEYWORD)
    fields = FieldTable([*FIELDS.columns, tags])
    row = {**keychain_event(1), "tags": "from the event"}
    info = LineInfo("pack_ecsquery_x", "mac-01", None, 1_700_000_000, 0, 1, {})
    parts = AlertFactory(fields).parts(KEYCHAIN_RULE, row, info, "added", "u")
    assert SIGNAL.part(parts.rule).json is None
    want = reference_alert(KEYCHAIN_RULE, row, info, "added", "u", fields, SIGNAL)
    assert want["tags"] == "from the event" and list(want).index("tags") < list(want).index(
        "kibana.alert.uuid"
    )
    assert SIGNAL.ndjson(parts) == orjson.dumps(want, option=LINE)
    ecs = EcsAlert()
    assert ecs.part(parts.rule).head_json is None  # the ECS shape has tags up front too
    want = reference_alert(KEYCHAIN_RULE, row, info, "added", "u", fields, ecs)
    assert want["tags"] == "from the event"
    assert ecs.ndjson(parts) == orjson.dumps(want, option=LINE)


def test_a_number_beyond_64_bits_in_a_long_column_is_left_out_not_fatal() -> None:
    """ECS ``long`` is 64-bit: 1e20 (osquery logs numbers as numbers with numerics on) cannot be
    one, so the field is unreadable and left out, as ``rows.from_row`` does, and the alert is
    still written."""
    row = {**keychain_event(1), "process_pid": 1e20, "process_parent_pid": "99999999999999999999"}
    info = LineInfo("pack_ecsquery_x", "mac-01", None, 1_700_000_000, 0, 1, {})
    parts = FACTORY.parts(KEYCHAIN_RULE, row, info, "added", "uuid-1")
    doc = orjson.loads(SIGNAL.ndjson(parts))
    assert "pid" not in doc["process"] and "pid" not in doc["process"].get("parent", {})
    assert from_row(row, FIELDS)["process"].get("pid") is None
