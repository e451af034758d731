"""``ecsquery alerts`` end to end: replayed logs in every format, files of every kind, bad input."""

from __future__ import annotations

import gzip
import io
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest
import zstandard
from click.testing import CliRunner

from alerts_fixtures import (
    KEYCHAIN,
    SYSTEMKEY,
    batch_line,
    event_line,
    keychain_event,
    other_line,
    query_name,
    rule,
    snapshot_event_lines,
    snapshot_line,
    toml_threat,
)
from ecsquery.alerts.batch import read_logs
from ecsquery.alerts.output import AlertSink, table_row
from ecsquery.alerts.reader import AlertReader
from ecsquery.alerts.resultlog import MARKER
from ecsquery.cli import main

FORMATS = ("event", "batch", "snapshot", "snapshot events")


def systemkey_event(seq: int) -> dict[str, str]:
    return keychain_event(
        seq,
        process_name="cat",
        process_executable="/bin/cat",
        process_args='["cat","/private/var/db/SystemKey"]',
        process_args_count="2",
        process_command_line="cat /private/var/db/SystemKey",
    )


def replay_log(fmt: str, delimiter: str) -> tuple[list[bytes], set[tuple[str, str]]]:
    """A log with both rules' hits in one format, between lines of other queries."""
    key, sys_ = rule(KEYCHAIN), rule(SYSTEMKEY)
    lines: list[bytes] = []
    expected: set[tuple[str, str]] = set()
    for run in range(3):
        kw = {"counter": run, "unix": 1_700_000_100 + 300 * run}
        hits = {
            key: [keychain_event(10 * run + i) for i in range(2)],
            sys_: [systemkey_event(100 + 10 * run)],
        }
        lines.append(other_line(run))
        for r, rows in hits.items():
            name = query_name(r.slug, delimiter)
            expected |= {(r.rule_id, row["event_id"]) for row in rows}
            if fmt == "event":
                lines += [event_line(name, row, **kw) for row in rows]
                lines.append(event_line(name, rows[0], "removed", **kw))
            elif fmt == "batch":
                lines.append(batch_line(name, rows, [rows[0]], **kw))
            elif fmt == "snapshot":
                lines.append(snapshot_line(name, rows, **kw))
            else:
                lines += snapshot_event_lines(name, rows, **kw)
        lines.append(other_line(run + 100, "pack/Global/installed_applications"))
    return lines, expected


def run_cli(*args: str, stdin: bytes | None = None) -> tuple[int, bytes, str]:
    result = CliRunner().invoke(main, ["alerts", *args], input=stdin)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout_bytes, result.stderr


def rules_args() -> list[str]:
    return ["--rules", str(KEYCHAIN), "--rules", str(SYSTEMKEY)]


def parse_ndjson(data: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in data.splitlines()]


@pytest.mark.parametrize("delimiter", ["_", "/"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_replay_gives_exactly_the_expected_alerts(fmt: str, delimiter: str, tmp_path: Path) -> None:
    lines, expected = replay_log(fmt, delimiter)
    log = tmp_path / "osqueryd.results.log"
    log.write_bytes(b"\n".join(lines) + b"\n")
    code, out, err = run_cli(*rules_args(), str(log))
    assert code == 0, err
    alerts = parse_ndjson(out)
    got = [(a["rule"]["id"], a["event"]["id"]) for a in alerts]
    assert sorted(got) == sorted(expected) and len(got) == len(set(got))
    threats = {rule(p).rule_id: toml_threat(p) for p in (KEYCHAIN, SYSTEMKEY)}
    for a in alerts:  # ECS alerts: threat.* as arrays over the rule's MITRE entries
        threat = threats[a["rule"]["id"]]
        assert a["threat"]["tactic"]["id"] == [t["tactic"]["id"] for t in threat]
        assert a["threat"]["technique"]["id"] == [q["id"] for t in threat for q in t["technique"]]
        assert a["event"]["kind"] == "alert" and a["process"]["args"][0] in ("security", "cat")
    assert "lines read: " in err and "high      Dumping of Keychain Content" in err


def test_stdin_gz_zst_and_rotated_sets_are_read_oldest_first(tmp_path: Path) -> None:
    lines, expected = replay_log("event", "_")
    data = b"\n".join(lines) + b"\n"
    third = len(lines) // 3
    parts = [b"\n".join(lines[i * third : (i + 1) * third]) + b"\n" for i in range(2)]
    parts.append(b"\n".join(lines[2 * third :]) + b"\n")
    log = tmp_path / "osqueryd.results.log"
    (tmp_path / "osqueryd.results.log.2.zst").write_bytes(
        zstandard.ZstdCompressor().compress(parts[0])
    )
    (tmp_path / "osqueryd.results.log.1").write_bytes(parts[1])
    log.write_bytes(parts[2])
    names = ["osqueryd.results.log", "osqueryd.results.log.1", "osqueryd.results.log.2.zst"]
    code, out, _ = run_cli(*rules_args(), *(str(tmp_path / n) for n in names))
    assert code == 0
    from_set = parse_ndjson(out)
    gz = tmp_path / "all.log.gz"
    gz.write_bytes(gzip.compress(data))
    _, out_gz, _ = run_cli(*rules_args(), str(gz))
    _, out_stdin, _ = run_cli(*rules_args(), stdin=data)
    assert parse_ndjson(out_gz) == parse_ndjson(out_stdin) == from_set  # same order too
    assert {(a["rule"]["id"], a["event"]["id"]) for a in from_set} == expected


def test_bulk_and_table_outputs(tmp_path: Path) -> None:
    lines, expected = replay_log("snapshot", "/")
    log = tmp_path / "r.log"
    log.write_bytes(b"\n".join(lines))
    for args, index, alert_id in [
        (["--format", "bulk"], "logs-ecsquery.alert-default", ("ecsquery", "alert_id")),
        (["--format", "bulk", "--namespace", "prod"], "logs-ecsquery.alert-prod", None),
        (["--format", "bulk", "--index", "alerts-x"], "alerts-x", None),
        (["--format", "kibana-bulk"], "ecsquery-alerts", ("kibana.alert.uuid",)),
        (["--format", "kibana-bulk", "--index", "alerts-x"], "alerts-x", ("kibana.alert.uuid",)),
    ]:
        _, out, _ = run_cli(*rules_args(), *args, str(log))
        docs = parse_ndjson(out)
        actions, sources = docs[::2], docs[1::2]
        assert len(sources) == len(expected)
        for action, source in zip(actions, sources, strict=True):
            doc_id: Any = source
            for key in alert_id or ("ecsquery", "alert_id"):
                doc_id = doc_id[key]
            assert action == {"create": {"_index": index, "_id": doc_id}}, args
    _, out, _ = run_cli(*rules_args(), "--format", "table", "--summary", "none", str(log))
    table = out.decode().splitlines()
    assert table[0].split() == [
        "@TIMESTAMP",
        "SEVERITY",
        "RULE",
        "HOST",
        "USER",
        "PROCESS",
        "MITRE",
    ]
    assert len(table) == 1 + len(expected)
    assert "security dump-keychain -d" in out.decode() and "T1555.001" in out.decode()


def test_output_file_and_json_summary(tmp_path: Path) -> None:
    lines, expected = replay_log("event", "_")
    log, out = tmp_path / "r.log", tmp_path / "alerts.ndjson"
    log.write_bytes(b"\n".join(lines))
    code, stdout, err = run_cli(*rules_args(), "-o", str(out), "--summary", "json", str(log))
    assert code == 0 and stdout == b""
    assert len(parse_ndjson(out.read_bytes())) == len(expected)
    summary = orjson.loads(err)
    assert summary["lines"] == len(lines) and summary["rows"] == {"added": 9, "removed": 6}


def test_no_rules_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli("--rules", str(tmp_path / "empty"), "-")
    assert code == 1 and "no rules loaded" in err


def test_follow_needs_files(tmp_path: Path) -> None:
    code, _, err = run_cli(*rules_args(), "--follow")
    assert code != 0 and "need log files" in err


# -- bad input -------------------------------------------------------------------------------


def test_bad_input_corpus_is_counted_and_named_and_loses_nothing_else(tmp_path: Path) -> None:
    key = rule(KEYCHAIN)
    name = query_name(key.slug)
    good = [event_line(name, keychain_event(i)) for i in range(6)]
    bad_utf8 = event_line(name, keychain_event(6, process_working_directory="/Users/ZZ"))
    bad_utf8 = bad_utf8.replace(b"/Users/ZZ", b"/Users/\xff\xfe")
    m = MARKER.decode()
    huge_garbage = b'{"name":"%s","columns":{"%s":"' % (name.encode(), MARKER) + b"a" * (10 * 2**20)
    huge_ok = snapshot_line(name, [keychain_event(7, process_command_line="x" * (10 * 2**20))])
    cut = good[1][: good[1].index(MARKER) + 50]
    lines = [
        good[0],
        cut,  # truncated JSON
        good[1],
        bad_utf8,  # repaired, still alerts
        huge_garbage,  # 10 MB line, cut
        huge_ok,  # 10 MB line, whole: alerts
        b'{"name":"%s","action":"added","columns":"wrong type %s"}' % (name.encode(), MARKER),
        f'{{"name":12,"columns":{{"{m}":""}}}}'.encode(),  # wrong type for name
        f'{{"name":"{name}","snapshot":{{"{m}":1}}}}'.encode(),  # wrong type for snapshot
        f'[{{"name":"{name}","{m}":""}}]'.encode(),  # not an object
        event_line("pack_ecsquery_no_such_rule", keychain_event(8)),
        good[2],
    ]
    log = tmp_path / "bad.log"
    log.write_bytes(b"\n".join(lines) + b"\n" + good[3])  # last line without newline
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    rest = tmp_path / "rest.log"
    rest.write_bytes(b"\n".join(good[4:]))
    missing = tmp_path / "gone.log"
    cut_zst = tmp_path / "cut.log.zst"
    cut_zst.write_bytes(zstandard.ZstdCompressor().compress(b"\n".join(good * 50))[:-20])
    code, out, err = run_cli(
        "--rules", str(KEYCHAIN), "--summary", "json",
        str(log), str(empty), str(missing), str(cut_zst), str(rest),
    )  # fmt: skip
    assert code == 0
    alerts = parse_ndjson(out)
    ids = [a["event"]["id"] for a in alerts]
    assert ids == ["ev-0", "ev-1", "ev-6", "ev-7", "ev-2", "ev-3", "ev-4", "ev-5"]
    s = orjson.loads(err)
    assert s["malformed"] == {
        "not JSON": 2,
        "no query name": 1,
        "snapshot is not a list": 1,
        "not a JSON object": 1,
    }
    assert s["repaired"] == {"non-UTF-8 bytes replaced by U+FFFD": 1}
    assert s["bad_rows"] == {"row is not an object": 1}
    assert s["unknown_queries"] == {"pack_ecsquery_no_such_rule": 1}
    assert any(e.startswith(f"{log}:2: not JSON") for e in s["examples"])
    assert any(e.startswith(f"{log}:5: not JSON") for e in s["examples"])
    assert s["source_errors"][0] == f"{missing}: cannot open: No such file or directory"
    assert s["source_errors"][1].startswith(f"{cut_zst}: stopped after line ")
    assert "zstd frame cut short" in s["source_errors"][1]
    repaired = next(a for a in alerts if a["event"]["id"] == "ev-6")
    assert repaired["process"]["working_directory"] == "/Users/\ufffd\ufffd"


def test_line_longer_than_the_limit_is_dropped_while_streaming(tmp_path: Path) -> None:
    key = rule(KEYCHAIN)
    name = query_name(key.slug)
    huge = snapshot_line(name, [keychain_event(1, process_command_line="x" * (10 * 2**20))])
    log = tmp_path / "long.log"
    log.write_bytes(b"\n".join([huge, event_line(name, keychain_event(2)), huge]))
    _, out, err = run_cli(
        "--rules", str(KEYCHAIN), "--summary", "json", "--max-line-bytes", "1000000", str(log)
    )
    assert [a["event"]["id"] for a in parse_ndjson(out)] == ["ev-2"]
    s = orjson.loads(err)
    assert s["malformed"] == {"line longer than 1000000 bytes": 2}
    assert s["examples"][0] == f"{log}:1: line longer than 1000000 bytes ({len(huge) + 1})"
    assert s["examples"][1] == f"{log}:3: line longer than 1000000 bytes ({len(huge)})"


def test_file_deleted_while_read_is_read_to_its_end(tmp_path: Path) -> None:
    key = rule(KEYCHAIN)
    name = query_name(key.slug)
    log = tmp_path / "r.log"
    log.write_bytes(b"\n".join(event_line(name, keychain_event(i), counter=i) for i in range(3000)))
    reader = AlertReader([key])
    out = io.BytesIO()

    class DeletingSink(AlertSink):
        def write_encoded(self, alerts: Any) -> None:
            if log.exists():
                log.unlink()  # after the first block: the rest is read from the open file
            super().write_encoded(alerts)

    read_logs(reader, DeletingSink(out), [log])
    assert not log.exists()
    assert len(parse_ndjson(out.getvalue())) == 3000 and reader.summary.lines == 3000


def test_copy_of_real_sample_with_our_rules_skips_everything(tmp_path: Path) -> None:
    src = Path(__file__).parent / "fixtures" / "osquery-results"
    for p in src.iterdir():
        shutil.copy(p, tmp_path / p.name)
    code, out, err = run_cli(*rules_args(), *sorted(str(p) for p in tmp_path.iterdir()))
    assert code == 0 and out == b""
    assert err.startswith("lines read: 22, skipped (other queries): 22, parsed: 0, malformed: 0")


def test_table_user_falls_back_to_uid_when_no_name() -> None:
    """eslogger and osquery give uids; names are only looked up live on the Mac."""
    base = {
        "event": {"severity": 73},
        "rule": {"name": "r"},
        "host": {"name": "mac-01"},
        "process": {"args": ["id"]},
    }
    by_name = table_row({**base, "user": {"name": "alice", "id": "501"}}).decode()
    by_id = table_row({**base, "user": {"id": "501"}}).decode()
    nobody = table_row(base).decode()
    assert by_name.split()[4] == "alice"
    assert by_id.split()[4:6] == ["uid", "501"]
    assert nobody.split()[4] == "id"  # no user cell text: the next cell is the process
    assert by_name.split()[1:3] == ["high", "r"]  # event.severity 73 is the rule's "high"


def test_kibana_ndjson_is_the_older_signal_shape(tmp_path: Path) -> None:
    lines, expected = replay_log("event", "_")
    log = tmp_path / "r.log"
    log.write_bytes(b"\n".join(lines))
    _, out, _ = run_cli(*rules_args(), "--format", "kibana-ndjson", str(log))
    alerts = parse_ndjson(out)
    assert {(a["kibana.alert.rule.rule_id"], a["event"]["id"]) for a in alerts} == expected
    threats = {rule(p).rule_id: toml_threat(p) for p in (KEYCHAIN, SYSTEMKEY)}
    for a in alerts:
        assert a["threat"] == threats[a["kibana.alert.rule.rule_id"]]
        assert a["event"]["kind"] == "signal" and "rule" not in a
    _, ecs, _ = run_cli(*rules_args(), str(log))  # the same alerts, under the same ids
    ids = [a["ecsquery"]["alert_id"] for a in parse_ndjson(ecs)]
    assert ids == [a["kibana.alert.uuid"] for a in alerts]


def test_a_namespace_fleet_would_refuse_is_a_usage_error() -> None:
    code, _, err = run_cli(*rules_args(), "--namespace", "a,b", "-")
    assert code == 2 and "'a,b' may not contain" in err
