"""Replay throughput: events/s from a 50k-event eslogger capture to alerts, end to end.

The capture is the extension bench's (``bench.extension.event_lines``: eslogger v9 exec
messages of shells running tools, pids reused), with one ``security dump-keychain -d`` in every
thousand so the pack queries return rows and the differential and the alert reader do work.
The figure covers everything ``ecsquery replay`` does: JSON parsing, normalization, process
tree, ECS rows through the table's ``generate``, the rendered pack's SQL on its schedule in
event time, result lines, alerts. Most of the time is the extension's own pipeline (the same
code that serves osqueryd) and ``osquery_sqlite``'s Python conversion of row values, which
stands in for osqueryd's C++; the stage breakdown shows the split.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from ecsquery import data
from ecsquery.bench import Figure, median_seconds
from ecsquery.bench.extension import EVENTS, event_lines
from ecsquery.replay.events import CaptureReader
from ecsquery.replay.run import ReplayResult, alerts_from_runs, rendered_pack, replay
from ecsquery.replay.scheduler import PackQuery, Scheduler, replay_runs
from ecsquery.rules.load import load_rules
from ecsquery.rules.model import Rule

PART = "replay"
HIT_EVERY = 1000


def capture_lines(count: int = EVENTS) -> list[str]:
    lines = event_lines(count)
    for i in range(0, count, HIT_EVERY):
        message = json.loads(lines[i])
        message["event"]["exec"]["args"] = ["security", "dump-keychain", "-d"]
        lines[i] = json.dumps(message, separators=(",", ":"))
    return lines


def _stages(capture: Path, rules: list[Rule], queries: list[PackQuery]) -> dict[str, float]:
    """One pass, timed stage by stage (what the median of the whole is made of)."""
    times: dict[str, float] = {}
    start = time.perf_counter()
    reader = CaptureReader()
    reader.read_paths([capture])
    times["read + normalize"] = time.perf_counter() - start
    start = time.perf_counter()
    rows = reader.rows_by_host()
    times["process tree + ECS rows (extension pipeline)"] = time.perf_counter() - start
    start = time.perf_counter()
    scheduler = Scheduler(queries)
    runs = {h: replay_runs(scheduler, r) for h, r in rows.items()}
    alerts_from_runs(runs, rules)
    times["pack SQL on schedule + result lines + alerts"] = time.perf_counter() - start
    return times


def run() -> list[Figure]:
    with data.as_path(data.rules()) as shipped:
        rules, _ = load_rules([shipped])
    queries, _ = rendered_pack(rules)
    results: list[ReplayResult] = []
    with tempfile.TemporaryDirectory(prefix="eqr") as tmp:
        capture = Path(tmp) / "capture.ndjson"
        capture.write_text("\n".join(capture_lines()) + "\n", encoding="utf-8")
        seconds = median_seconds(
            lambda: results.append(replay([capture], rules, queries=queries)), runs=3
        )
        stages = _stages(capture, rules, queries)
    result = results[-1]
    figures = [
        Figure(
            PART,
            f"replay {EVENTS:,} eslogger events → {result.runs} runs → {len(result.alerts)} alerts",
            EVENTS / seconds,
            "events/s",
        ),
        Figure(PART, "replay wall time, same capture", seconds, "s"),
    ]
    figures += [Figure(PART, f"  of which {name} (one pass)", t, "s") for name, t in stages.items()]
    return figures
