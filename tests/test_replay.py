"""``ecsquery replay``: the schedule in event time, osqueryd's differential lines, messy input."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
from click.testing import CliRunner

from ecsquery.cli import main
from ecsquery.replay.differential import Differential, calendar_time, host_uuid
from ecsquery.replay.run import rendered_pack, replay
from ecsquery.replay.scheduler import PackQuery, Run, Scheduler, WindowFeed, run_times
from ecsquery.rules.model import Rule
from scenario_support import RULES, SAMPLE, SCENARIOS, alert_key

KEYCHAIN_EVENTS = SCENARIOS / "keychain_dump_terminal" / "events.ndjson"
Q = PackQuery("q", "SELECT event_id FROM ecs_process_events", 300, 540)


def test_run_times_cover_every_event_for_its_lookback() -> None:
    assert list(run_times(1000, 1000, 300, 540)) == [1200, 1500]  # 200 and 500 s after
    assert list(run_times(1200, 1260, 300, 540)) == [1200, 1500, 1800]
    for t in range(900, 1200):
        seen = [r for r in run_times(t, t, 300, 540) if r - 540 <= t <= r]
        assert len(seen) == (2 if t >= 960 or t == 900 else 1), t  # <= 240 s before a run: two


def test_rows_enter_the_table_in_event_time_and_empty_runs_are_skipped() -> None:
    rows = [{"time": str(t), "event_id": f"e{t}"} for t in (1000, 1100, 90_000)]
    runs = list(Scheduler([Q]).runs(WindowFeed(rows, 540), [1000, 1100, 90_000]))
    got = [(r.time, r.number, [row["event_id"] for row in r.rows]) for r in runs]
    assert got == [
        (1200, 0, ["e1000", "e1100"]),
        (1500, 1, ["e1000", "e1100"]),
        (90_000, (90_000 - 1200) // 300, ["e90000"]),  # counter counts the skipped empty runs
        (90_300, (90_300 - 1200) // 300, ["e90000"]),
    ]


def test_differential_lines_are_osqueryds() -> None:
    diff = Differential("alice-macbook")
    a, b, c = ({"time": "1", "event_id": x} for x in "abc")
    first = diff.lines(Run(Q, 1_741_079_100, [a, b], 0))
    assert [json.loads(line)["columns"]["event_id"] for line in first] == ["a", "b"]
    assert json.loads(first[0]) == {
        "name": "pack_ecsquery_q",
        "hostIdentifier": "alice-macbook",
        "calendarTime": "Tue Mar  4 09:05:00 2025 UTC",
        "unixTime": 1_741_079_100,
        "epoch": 0,
        "counter": 0,
        "numerics": False,
        "decorations": {"host_uuid": host_uuid("alice-macbook"), "hostname": "alice-macbook"},
        "columns": {"event_id": "a", "time": "1"},
        "action": "added",
    }
    assert list(json.loads(first[0])) == [  # osquery's key order
        "name", "hostIdentifier", "calendarTime", "unixTime", "epoch", "counter", "numerics",
        "decorations", "columns", "action",
    ]  # fmt: skip
    assert diff.lines(Run(Q, 1_741_079_400, [b, a], 1)) == []  # nothing new: nothing logged
    again = diff.lines(Run(Q, 1_741_079_700, [b, c, c], 2))  # a removed (not logged), c added
    assert [(json.loads(x)["counter"], json.loads(x)["columns"]["event_id"]) for x in again] == [
        (2, "c"),
        (2, "c"),
    ]
    assert diff.lines(Run(Q, 1_741_080_000, [a], 3))[0].count(b'"a"') == 1  # a is new again
    assert calendar_time(0) == "Thu Jan  1 00:00:00 1970 UTC"


def test_messy_capture_is_sorted_deduplicated_and_counted(
    tmp_path: Path, shipped_rules: list[Rule]
) -> None:
    lines = KEYCHAIN_EVENTS.read_bytes().splitlines()
    no_time = json.loads(lines[0])
    del no_time["time"]
    other_event = {**json.loads(lines[0]), "event_type": 13}  # an ESF event we do not serve
    messy = [
        *reversed(lines),  # everything out of order
        lines[3],  # a duplicate (same event id)
        json.dumps(no_time).encode(),
        b'{"truncated": ',
        b"[1, 2]",
        json.dumps(other_event).encode(),
        json.dumps({"some": "thing"}).encode(),
        b"",
    ]
    capture = tmp_path / "messy.ndjson"
    capture.write_bytes(b"\n".join(messy) + b"\n")
    result = replay([capture], shipped_rules, host="alice-macbook")
    clean = replay([KEYCHAIN_EVENTS], shipped_rules, host="alice-macbook")
    read = result.read
    assert (read.duplicates, read.without_time, read.ignored) == (1, 1, 1)
    assert dict(read.rejected) == {"malformed": 2, "unrecognized": 1}
    assert read.out_of_order == len(lines) - 1
    assert read.events == len(lines) and read.lines == len(messy) - 1
    assert [a["ecsquery"]["alert_id"] for a in result.alerts] == [
        a["ecsquery"]["alert_id"] for a in clean.alerts
    ]
    assert result.alerts == clean.alerts and len(clean.alerts) == 1


def test_forced_source_rejects_other_shapes(shipped_rules: list[Rule]) -> None:
    result = replay([KEYCHAIN_EVENTS], shipped_rules, source="ecs", host="alice-macbook")
    assert result.alerts == [] and dict(result.read.rejected) == {"not_ecs": result.read.lines}
    forced = replay([KEYCHAIN_EVENTS], shipped_rules, source="eslogger", host="alice-macbook")
    assert len(forced.alerts) == 1


def test_osquery_rows_replay(tmp_path: Path, shipped_rules: list[Rule]) -> None:
    """osquery's own es_process_events rows, as a results log of that table would hold them."""
    row = {
        "version": "7", "pid": "700", "pidversion": "3", "path": "/usr/bin/security",
        "parent": "600", "parent_pidversion": "2", "original_parent": "600",
        "responsible_pid": "500", "responsible_pidversion": "1",
        "cmdline": "security dump-keychain -d", "cmdline_count": "3", "uid": "501",
        "euid": "20", "gid": "20", "signing_id": "com.apple.security", "platform_binary": "1",
        "codesigning_flags": "", "time": "1741078900", "event_type": "exec", "eid": "77",
    }  # fmt: skip
    line = {"name": "pack_it_es", "hostIdentifier": "x", "action": "added", "columns": row}
    capture = tmp_path / "es.ndjson"
    capture.write_text(json.dumps(line) + "\n")
    result = replay([capture], shipped_rules, source="es_process_events", host="carol-imac")
    assert [alert_key(a)[:4] for a in result.alerts] == [
        (
            "credential_access_dumping_keychain_security",
            "carol-imac",
            "/usr/bin/security",
            ("security", "dump-keychain", "-d"),
        )
    ]


def test_cli_table_results_log_and_alerts_agree(tmp_path: Path) -> None:
    runner = CliRunner()
    log = tmp_path / "osqueryd.results.log"
    args = ["replay", "--events", str(SAMPLE), "--host", "alice-macbook", "--rules", str(RULES)]
    table = runner.invoke(main, [*args, "--format", "table", "--results-log", str(log)])
    assert table.exit_code == 0, table.output
    assert table.stdout.splitlines()[0].split()[:3] == ["@TIMESTAMP", "SEVERITY", "RULE"]
    assert len(table.stdout.splitlines()) == 1 + 5  # the five attack scenarios
    assert "alerts: 5" in table.stderr and "runs: " in table.stderr

    ndjson = runner.invoke(main, [*args, "--summary", "json"])
    replayed = [orjson.loads(x) for x in ndjson.stdout.splitlines()]
    summary = json.loads(ndjson.stderr.strip().splitlines()[-1])
    assert summary["result_lines"] == 5 and summary["repeated_hits"] == 5
    read_back = runner.invoke(main, ["alerts", "--rules", str(RULES), str(log)])
    assert read_back.exit_code == 0, read_back.output
    assert [orjson.loads(x) for x in read_back.stdout.splitlines()] == replayed


def test_cli_sample_is_the_bundled_capture() -> None:
    runner = CliRunner()
    args = ["replay", "--host", "alice-macbook", "--rules", str(RULES), "--summary", "none"]
    bundled = runner.invoke(main, [*args, "--sample"])
    assert bundled.exit_code == 0, bundled.output
    assert bundled.stdout == runner.invoke(main, [*args, str(SAMPLE)]).stdout
    assert len(bundled.stdout.splitlines()) == 5


def test_cli_positional_files_progress_and_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["replay", "--rules", str(RULES), "--host", "alice-macbook"]
    result = runner.invoke(main, [*base, "--progress", "--format", "bulk", str(KEYCHAIN_EVENTS)])
    assert result.exit_code == 0, result.output
    assert "reading events" in result.stderr
    action, alert = (orjson.loads(x) for x in result.stdout.splitlines())
    assert action == {
        "create": {"_index": "logs-ecsquery.alert-default", "_id": alert["ecsquery"]["alert_id"]}
    }
    assert alert["event"]["kind"] == "alert"  # ECS by default
    old = runner.invoke(main, [*base, "--format", "kibana-bulk", str(KEYCHAIN_EVENTS)])
    action, alert = (orjson.loads(x) for x in old.stdout.splitlines())
    assert action == {"create": {"_index": "ecsquery-alerts", "_id": alert["kibana.alert.uuid"]}}
    assert alert["event"]["kind"] == "signal"
    bad = runner.invoke(main, [*base, "--namespace", "Prod-1", str(KEYCHAIN_EVENTS)])
    assert bad.exit_code == 2 and "'Prod-1' must be lowercase" in bad.stderr
    empty = tmp_path / "empty.ndjson"
    empty.write_text("")
    none = runner.invoke(main, [*base, "--format", "table", str(empty)])
    assert none.exit_code == 0 and none.stdout == "no alerts\n"
    missing = runner.invoke(main, base)
    assert missing.exit_code == 2 and "no capture given" in missing.stderr
    assert runner.invoke(main, ["replay", "--help"]).exit_code == 0


def test_rendered_pack_is_the_committed_pack(shipped_rules: list[Rule]) -> None:
    from ecsquery.replay.scheduler import pack_queries

    committed = RULES.parent / "packs" / "osquery" / "ecsquery.conf"
    queries, errors = rendered_pack(shipped_rules)
    assert errors == [] and queries == pack_queries(committed.read_text())
