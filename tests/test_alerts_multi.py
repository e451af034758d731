"""The reader on multi-event rules' rows: a sequence's building blocks and shell, a threshold
bucket once per burst. The rows are those the rules' compiled SQL returns on osquery's SQLite
for the scenario stories' events (``test_sequence_stories``), written as osqueryd writes a
query's rows (osquery/core/query.cpp ``serializeQueryLogItem``: every value a string, NULL as
``""``); osqueryd itself cannot run here."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import orjson
import pytest

from alerts_fixtures import batch_line, event_line, query_name, snapshot_line
from ecsquery.alerts.ecs import EcsAlert
from ecsquery.alerts.reader import AlertReader
from ecsquery.alerts.signal import KibanaSignal
from ecsquery.alerts.state import ReaderState
from ecsquery.errors import EcsqueryError
from ecsquery.rules.model import Rule
from ecsquery.rules.sql.multi import compile_multi
from multi_support import Table
from test_sequence_stories import T0, exec_event, osascript_then_shell

CORPUS = Path(__file__).parent / "fixtures" / "elastic-rules-multi"
TABLE = Table()
APPLESCRIPT = "execution_shell_execution_via_apple_scripting"
SSH = "credential_access_potential_macos_ssh_bruteforce"


def corpus_rule(stem: str) -> tuple[Rule, dict[str, Any]]:
    data = tomllib.loads((CORPUS / f"{stem}.toml").read_text("utf-8"))["rule"]
    return Rule.from_mapping(data, slug=stem), data


def as_osquery(row: dict[str, Any]) -> dict[str, str]:
    """A SQLite row as osqueryd logs it (numerics off)."""
    return {k: "" if v is None else str(v) for k, v in row.items()}


def sequence_rows(gap_ms: int = 9_999) -> tuple[Rule, list[dict[str, str]]]:
    rule, data = corpus_rule(APPLESCRIPT)
    rows = TABLE.run(compile_multi(rule, data).sql, osascript_then_shell(gap_ms), "osquery")
    return rule, [as_osquery(r) for r in rows]


def docs(reader: AlertReader, lines: list[bytes], shape: Any = None) -> list[dict[str, Any]]:
    shape = shape or EcsAlert()
    return [shape.document(a) for a in reader.read(b"\n".join(lines) + b"\n")]


def test_sequence_gives_building_blocks_then_shell() -> None:
    rule, rows = sequence_rows()
    assert len(rows) == 2
    reader = AlertReader([rule])
    lines = [event_line(query_name(rule.slug), r) for r in rows]  # one row a line
    first, second, shell = docs(reader, lines)
    group = shell["ecsquery"]["alert_id"]
    assert first["ecsquery"]["sequence"] == {
        "id": group,
        "index": 0,
        "building_block_type": "default",
    }
    assert second["ecsquery"]["sequence"]["index"] == 1
    assert shell["ecsquery"]["sequence"] == {
        "id": group,
        "length": 2,
        "alerts": [first["ecsquery"]["alert_id"], second["ecsquery"]["alert_id"]],
    }
    assert first["process"]["name"] == "osascript" and second["process"]["name"] == "sh"
    assert "sequence_id" not in str(first)  # the query's own columns stay out of the event
    # the shell is the intersection: what both steps share stays, what differs goes
    assert "name" not in shell.get("process", {})
    assert shell["event"]["category"] == ["process"]
    assert shell["host"]["name"] == "mac-01" and shell["host"]["id"] == "UUID-MAC-01"
    assert shell["@timestamp"] == first["@timestamp"]
    assert shell["event"]["reason"].startswith("process event on mac-01 created")
    assert reader.summary.alerts[(rule.name, rule.severity)] == 3


def test_sequence_seen_again_alerts_once_and_ids_are_stable() -> None:
    rule, rows = sequence_rows()
    name = query_name(rule.slug)
    reader = AlertReader([rule])
    batch = docs(reader, [batch_line(name, rows)])
    assert len(batch) == 3
    again = docs(reader, [snapshot_line(name, rows, unix=1_700_000_400, counter=2)])
    assert again == [] and reader.summary.duplicates == 1
    other = AlertReader([rule])  # event format, another reader: the same ids
    ids = [d["ecsquery"]["alert_id"] for d in docs(other, [event_line(name, r) for r in rows])]
    assert ids == [d["ecsquery"]["alert_id"] for d in batch]


def test_near_miss_gives_no_rows_and_no_alert() -> None:
    rule, rows = sequence_rows(gap_ms=10_001)
    assert rows == [] and AlertReader([rule]).read(b"") == []


def test_sequence_split_across_a_checkpoint() -> None:
    """Follow mode saves the state between blocks: a run cut after its first step row still
    alerts once the rest arrives, after a restart from the checkpoint."""
    rule, rows = sequence_rows()
    name = query_name(rule.slug)
    reader = AlertReader([rule])
    assert reader.read(event_line(name, rows[0]) + b"\n") == []
    saved = orjson.loads(orjson.dumps(reader.state.to_json()))
    resumed = AlertReader([rule], state=ReaderState.from_json(saved))
    assert len(docs(resumed, [event_line(name, rows[1])])) == 3


def test_sequence_incomplete_in_its_run_is_counted() -> None:
    rule, rows = sequence_rows()
    name = query_name(rule.slug)
    reader = AlertReader([rule])
    reader.read(event_line(name, rows[0]) + b"\n")
    reader.read(event_line(name, rows[1], counter=2, unix=1_700_000_400) + b"\n")
    assert reader.summary.bad_rows["sequence incomplete in its run"] == 1
    assert reader.summary.total_alerts == 0
    bad = {**rows[0], "sequence_step": "9"}
    reader.read(event_line(name, bad) + b"\n")
    assert reader.summary.bad_rows["sequence row without a valid step"] == 1


def test_sequence_kibana_shape() -> None:
    rule, rows = sequence_rows()
    reader = AlertReader([rule])
    first, _, shell = docs(reader, [batch_line(query_name(rule.slug), rows)], KibanaSignal())
    assert first["kibana.alert.building_block_type"] == "default"
    assert first["kibana.alert.group.index"] == 0
    assert first["kibana.alert.group.id"] == shell["kibana.alert.uuid"]
    assert shell["kibana.alert.group.id"] == shell["kibana.alert.uuid"]
    assert "kibana.alert.building_block_type" not in shell


@pytest.mark.parametrize("shape", [EcsAlert(), KibanaSignal()])
def test_multi_ndjson_is_the_document(shape: Any) -> None:
    rule, rows = sequence_rows()
    for alert in AlertReader([rule]).read(batch_line(query_name(rule.slug), rows)):
        assert shape.ndjson(alert) == orjson.dumps(shape.document(alert)) + b"\n"


def ssh_rule() -> tuple[Rule, str]:
    rule, data = corpus_rule(SSH)
    sql = compile_multi(rule, data).sql
    if getattr(rule, "threshold", None) is None:  # until Rule carries [rule.threshold]
        object.__setattr__(rule, "threshold", data["threshold"])
    return rule, sql


def wrappers(start: int, n: int) -> list[dict[str, Any]]:
    return [
        exec_event(
            i,
            T0 + i * 1000,
            "sshd-keygen-wrapper",
            ["sshd-keygen-wrapper"],
            parent={"name": "launchd"},
        )
        for i in range(start, start + n)
    ]


def test_threshold_bucket_alerts_once_per_burst() -> None:
    rule, sql = ssh_rule()
    name = query_name(rule.slug)
    reader = AlertReader([rule])

    def run(events: list[dict[str, Any]], counter: int) -> list[dict[str, Any]]:
        rows = [as_osquery(r) for r in TABLE.run(sql, events, "osquery")]
        return docs(reader, [snapshot_line(name, rows, counter=counter)])

    (alert,) = run(wrappers(0, 25), 1)
    assert alert["ecsquery"]["threshold"] == {
        "terms": [{"field": "host.id", "value": "UUID-MAC-01"}],
        "count": 25,
        "from": exec_event(0, T0, "x", [])["@timestamp"],
    }
    assert alert["@timestamp"] == exec_event(24, T0 + 24_000, "x", [])["@timestamp"]
    assert run(wrappers(0, 25), 2) == []  # the same burst in the next, overlapping window
    assert run(wrappers(0, 44), 3) == []  # 19 newer events: below the threshold
    state = ReaderState.from_json(orjson.loads(orjson.dumps(reader.state.to_json())))
    reader = AlertReader([rule], state=state)  # a restart from the checkpoint
    (again,) = run(wrappers(0, 45), 4)
    assert again["ecsquery"]["threshold"]["count"] == 20


def test_threshold_kibana_shape_and_rule_without_params() -> None:
    rule, sql = ssh_rule()
    rows = [as_osquery(r) for r in TABLE.run(sql, wrappers(0, 20), "osquery")]
    line = snapshot_line(query_name(rule.slug), rows)
    (doc,) = docs(AlertReader([rule]), [line], KibanaSignal())
    assert doc["kibana.alert.threshold_result"]["count"] == 20
    bare, _ = corpus_rule(SSH)
    object.__setattr__(bare, "threshold", None)
    reader = AlertReader([bare])
    assert reader.read(line) == []
    assert reader.summary.bad_rows["threshold row of a rule without [rule.threshold]"] == 1


def _routed() -> bool:
    """Whether ``compile_rule`` compiles multi-event rules (the compile routing)."""
    from ecsquery.rules.compile import compile_rule

    try:
        compile_rule(corpus_rule(APPLESCRIPT)[0])
    except EcsqueryError:  # refused: the routing is not on this branch yet
        return False
    return True


@pytest.mark.skipif(not _routed(), reason="compile_rule does not route sequences yet")
@pytest.mark.parametrize(
    ("stem", "events", "alerts"),
    [
        (APPLESCRIPT, osascript_then_shell(9_999), 3),
        (APPLESCRIPT, osascript_then_shell(10_001), 0),
        (SSH, wrappers(0, 25), 1),
        (SSH, wrappers(0, 19), 0),
    ],
)
def test_replay_end_to_end(
    tmp_path: Path, runner: Any, stem: str, events: list[dict[str, Any]], alerts: int
) -> None:
    """``ecsquery replay`` of a story: pack SQL on the stand-in table, scheduled runs, the
    reader (a true positive and a near miss per rule)."""
    from ecsquery.cli import main

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / f"{stem}.toml").write_bytes((CORPUS / f"{stem}.toml").read_bytes())
    capture = tmp_path / "story.ndjson"
    capture.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    out = tmp_path / "alerts.ndjson"
    args = ["replay", "--source", "ecs", "--rules", str(rules), str(capture), "-o", str(out)]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    docs = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert len(docs) == alerts
    if stem == APPLESCRIPT and docs:
        assert [d["ecsquery"]["sequence"].get("index") for d in docs] == [0, 1, None]
    if stem == SSH and docs:
        assert docs[0]["ecsquery"]["threshold"]["count"] == 25
