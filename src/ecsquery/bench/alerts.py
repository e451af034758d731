"""Alert-reader throughput, as ratios to plain ``orjson`` parsing of the same bytes.

Two files are built in memory: lines of one of our rules' queries (event format, rows as the
extension serves them) and lines of other queries (the shape of the real macOS ``launchd``
sample). The baseline splits each file into lines and ``orjson.loads`` every line — the least
any JSON-reading tool must do. The reader's figures:

* alerts/s on relevant lines, end to end as in batch mode (256 KiB reads, line splitting,
  pre-filter, parse, rule lookup, dedup, max_signals, the alert document, NDJSON encoding),
  target ≥ 10k alerts/s (alerts are rare: that is ~a billion a day per core), with its ratio
  to the baseline;
* lines/s on other queries' lines, same path, target ≥ 8× the baseline (they are skipped
  before parsing: in a shared result log, this is the volume that matters).
"""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson

from ecsquery import data
from ecsquery.alerts.batch import read_stream
from ecsquery.alerts.output import AlertSink
from ecsquery.alerts.reader import AlertReader
from ecsquery.bench import Figure
from ecsquery.rows import to_row
from ecsquery.rules.load import load_rule
from ecsquery.rules.model import Rule
from ecsquery.schema import FieldTable

LINES = 20_000


class _Null:
    """A byte sink that keeps nothing (the encoding is measured, not the disk)."""

    def write(self, data: bytes) -> int:
        return len(data)

    def flush(self) -> None:
        pass


KEYCHAIN = "credential_access_dumping_keychain_security.yaml"
"""The shipped rule the bench alerts on (package data, so the bench runs from any install)."""


def _rule() -> Rule:
    """The shipped keychain rule itself (its ~4 KB investigation guide rides in every alert),
    with ``max_signals`` raised so every line of the bench log alerts."""
    with data.as_path(data.rules() / KEYCHAIN) as path:
        rule = load_rule(path)
    return replace(rule, max_signals=LINES)


def _legacy(name: str, i: int) -> dict[str, Any]:
    t = 1_700_000_000 + i
    return {
        "name": name,
        "hostIdentifier": "mac-01",
        "calendarTime": datetime.fromtimestamp(t, UTC).strftime("%a %b %e %H:%M:%S %Y UTC"),
        "unixTime": str(t),
        "epoch": "0",
        "counter": str(i),
        "numerics": False,
        "decorations": {"host_uuid": "4AB2906D-5516-5794-AF54-86D1D7F533F3", "username": "alice"},
    }


def relevant_log(rule: Rule, n: int = LINES) -> bytes:
    fields = FieldTable()
    lines = []
    for i in range(n):
        t = 1_700_000_000 + i
        doc = {
            "@timestamp": datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "event": {"category": ["process"], "type": ["start"], "action": "exec", "id": f"e{i}"},
            "host": {"os": {"type": "macos"}, "name": "mac-01"},
            "process": {
                "pid": 4000 + i,
                "entity_id": f"ent-{i}",
                "executable": "/usr/bin/security",
                "name": "security",
                "args": ["security", "dump-keychain", "-d"],
                "args_count": 3,
                "command_line": "security dump-keychain -d",
                "code_signature": {"exists": True, "trusted": True},
                "parent": {"pid": 300, "name": "Terminal", "executable": "/bin/zsh"},
            },
            "user": {"id": "501", "name": "alice"},
        }
        row = to_row(doc, fields)
        row["time"] = str(t)
        obj = _legacy(f"pack_ecsquery_{rule.slug}", i) | {"columns": row, "action": "added"}
        lines.append(orjson.dumps(obj))
    return b"\n".join(lines) + b"\n"


def other_log(n: int = LINES) -> bytes:
    lines = []
    for i in range(n):
        columns = {
            "label": f"com.example.agent{i}",
            "name": f"com.example.agent{i}.plist",
            "path": f"/Library/LaunchDaemons/com.example.agent{i}.plist",
            "program": "",
            "program_arguments": "/usr/libexec/example --daemon",
            "run_at_load": "1",
            "keep_alive": "",
            "username": "root",
        }
        obj = {"action": "added", "columns": columns} | _legacy("pack_it-compliance_launchd", i)
        lines.append(orjson.dumps(obj))
    return b"\n".join(lines) + b"\n"


def _parse_only(data: bytes) -> None:
    loads = orjson.loads
    for line in data.splitlines():
        loads(line)


def _side_by_side(
    baseline: Callable[[], object], reader: Callable[[], object], runs: int = 7
) -> tuple[float, float]:
    """Lines/s of ``baseline`` and ``reader``, each the median of ``runs`` taken in turns
    (one of each, then again), in CPU seconds of this process as osquery's watchdog counts
    them: on a shared machine another process's burst then slows neither side, and a
    slower spell hits both."""
    times: tuple[list[float], list[float]] = ([], [])
    baseline(), reader()  # warm-up
    for _ in range(runs):
        for fn, spent in zip((baseline, reader), times, strict=True):
            start = time.process_time()
            fn()
            spent.append(time.process_time() - start)
    return LINES / statistics.median(times[0]), LINES / statistics.median(times[1])


def run() -> list[Figure]:
    rule = _rule()
    relevant, other = relevant_log(rule), other_log()

    def read(data: bytes) -> AlertReader:
        """The batch path: 256 KiB reads, line splitting, pre-filter, alerts, NDJSON."""
        reader = AlertReader([rule])
        read_stream(reader, AlertSink(_Null()), io.BytesIO(data), "bench")  # type: ignore[arg-type]
        return reader

    def alerts_end_to_end() -> None:
        assert read(relevant).summary.total_alerts == LINES

    def skip_others() -> None:
        assert read(other).summary.skipped == LINES

    base_relevant, alerts = _side_by_side(lambda: _parse_only(relevant), alerts_end_to_end)
    base_other, skipped = _side_by_side(lambda: _parse_only(other), skip_others)
    ratio_alerts, ratio_skip = alerts / base_relevant, skipped / base_other
    return [
        Figure("alerts", "orjson parse-only, relevant lines", base_relevant, "lines/s"),
        Figure(
            "alerts",
            "alerts from relevant lines (to NDJSON)",
            alerts,
            "alerts/s",
            "≥ 10,000/s",
            alerts >= 10_000,
        ),
        Figure("alerts", "  ratio to orjson parse-only", ratio_alerts, "×"),
        Figure("alerts", "orjson parse-only, other queries' lines", base_other, "lines/s"),
        Figure("alerts", "other queries' lines skipped", skipped, "lines/s"),
        Figure("alerts", "  ratio to orjson parse-only", ratio_skip, "×", "≥ 8×", ratio_skip >= 8),
    ]


if __name__ == "__main__":
    from ecsquery.bench import format_table

    print(format_table(run()))
