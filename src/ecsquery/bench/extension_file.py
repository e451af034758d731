"""File events through the extension (issue 15 item 3): per-event CPU and window memory.

A build is the busy case: thousands of files created, written and renamed a second. Each
message is eslogger's JSON of a ``create``, modified ``close`` or ``rename`` whose actor is the
real ``es_process_t`` of the public sample (package data ``ecsquery/data/bench/eslogger``),
about 2.5 KB a line. CPU is ``time.process_time`` (user + system, what osquery's watchdog reads),
best of several rounds, each figure next to stdlib ``json.loads`` of the same lines:

* a build's events, out of scope (a source tree): decoded, normalized, dropped by the scope;
* events in scope (``/Library/LaunchAgents``…): normalized, the actor filled from the process
  tree, served as ``ecs_file_events`` rows;
* the share of one core at :data:`RATE` file events a second (the build rate stated in the
  issue), for each; and where an event's time goes before the pipeline's ``add``
  (:func:`stages`);
* a 100,000-event file window: rows held under the default byte budget, traced bytes per row.
"""

from __future__ import annotations

import copy
import json
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from ecsquery import data
from ecsquery.bench import Figure
from ecsquery.bench.extension_cost import side_by_side  # best of rounds, in process CPU time
from ecsquery.bench.network import interleaved
from ecsquery.extension.files import FILE_WINDOW_BYTES, FileScope
from ecsquery.extension.normalize import eslogger_items
from ecsquery.extension.pipeline import Pipeline
from ecsquery.extension.sources.eslogger import EsloggerSource
from ecsquery.extension.window import DEFAULT_MAX_EVENTS, Window

PART = "files"
RATE = 5_000
"""File events per second during a build (the rate issue 15 states)."""
ESLOGGER = data.files("bench", "eslogger", "mullvad_eslogger_exec_fork_exit.ndjson")


def _file(path: str) -> dict[str, Any]:
    stat = {"st_uid": 501, "st_gid": 20, "st_mode": 33188, "st_size": 4096, "st_nlink": 1,
            "st_ino": 13982224, "st_dev": 16777234, "st_flags": 0, "st_blksize": 4096,
            "st_mtimespec": "2025-08-07T13:21:35.000000000Z",
            "st_ctimespec": "2025-08-07T13:21:35.000000000Z"}  # fmt: skip
    return {"path_truncated": False, "stat": stat, "path": path}


def file_lines(count: int, directory: str, start: float = 1_754_572_000.0) -> list[str]:
    """``count`` messages cycling create → modified close → rename in ``directory``, written as
    eslogger writes JSON (compact, ``/`` escaped as ``\\/``, as in the public sample)."""
    exec_message = next(
        json.loads(line) for line in ESLOGGER.read_text().splitlines() if '"event_type":9' in line
    )
    actor = exec_message["process"]
    lines = []
    for i in range(count):
        name = f"obj{i}.o"
        kind = i % 3
        if kind == 0:
            event_type, body = 13, {"create": {"destination_type": 1, "acl": None, "destination": {
                "new_path": {"dir": _file(directory), "filename": name, "mode": 420}}}}  # fmt: skip
        elif kind == 1:
            event_type = 12
            body = {"close": {"modified": True, "target": _file(f"{directory}/{name}"),
                              "was_mapped_writable": False}}  # fmt: skip
        else:
            event_type = 25
            renamed = {"existing_file": _file(f"{directory}/{name}.x")}
            body = {"rename": {"source": _file(f"{directory}/{name}"), "destination_type": 0,
                               "destination": renamed}}  # fmt: skip
        stamp = time.gmtime(start + i // 1000)
        message = {
            "schema_version": 1, "version": 9, "event_type": event_type, "seq_num": i,
            "global_seq_num": i, "mach_time": 289350913517 + i, "action_type": 1,
            "action": {"result": {"result_type": 0, "result": {"auth": 0}}},
            "thread": {"thread_id": 622243},
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", stamp) + f".{i % 1000:03d}000000Z",
            "process": copy.deepcopy(actor), "event": body,
        }  # fmt: skip
        # as eslogger writes it: compact, and "/" escaped as "\/" (the public sample)
        lines.append(json.dumps(message, separators=(",", ":")).replace("/", "\\/"))
    return lines


def _pipeline(max_events: int = DEFAULT_MAX_EVENTS, max_bytes: int = FILE_WINDOW_BYTES) -> Pipeline:
    files = Window(max_age=10**10, max_events=max_events, max_bytes=max_bytes)
    return Pipeline(Window(max_age=10**10), windows={"file": files})


def run() -> list[Figure]:
    figures: list[Figure] = []
    count = 6000
    for label, directory in (
        ("build, out of scope (dropped)", "/Users/alice/src/app/build"),
        ("in scope (served)", "/Library/LaunchAgents"),
    ):
        lines = file_lines(count, directory)

        def parse_all(lines: list[str] = lines) -> None:
            for line in lines:
                json.loads(line)

        def feed(pipeline: Pipeline, lines: list[str] = lines) -> None:
            for line in lines:  # as the eslogger source feeds them (its adapter)
                pipeline.feed_line(line, "eslogger", EsloggerSource.adapter, EsloggerSource.trim)

        parse, cost = side_by_side(parse_all, feed, _pipeline)
        size = sum(map(len, lines)) / len(lines)
        share = cost / count * RATE * 100
        figures += [
            Figure(PART, f"{label}: json.loads of a {size:,.0f}-byte line", parse / count * 1e6,
                   "us"),
            Figure(PART, f"{label}: through the pipeline (CPU)", cost / count * 1e6, "us"),
            Figure(PART, "  ratio to json.loads", cost / parse, "x", "<= 2", cost / parse <= 2),
            Figure(PART, f"  x {RATE:,} file ev/s: share of one core", share, "%", "<= 10%",
                   share <= 10),
        ]  # fmt: skip
        for what, seconds in stages(lines, served=directory == "/Library/LaunchAgents").items():
            figures.append(Figure(PART, f"  of which {what}", seconds / count * 1e6, "us"))
    figures += window_memory()
    return figures


def stages(lines: list[str], *, served: bool) -> dict[str, float]:
    """CPU seconds of the steps before the pipeline's ``add``, each timed alone (best of
    rounds, taking turns): the look at the undecoded line (``FileScope.skip_line``, a fresh
    scope each round as each pipeline has its own) and, for lines that are served, the
    eslogger adapter over the decoded messages (``normalize.eslogger_items``)."""
    records = [json.loads(line) for line in lines]
    steps: dict[str, Callable[[], object]] = {
        "the look at the undecoded line (skip_line)": lambda: list(
            map(FileScope().skip_line, lines)
        ),
    }
    if served:
        steps["the adapter (eslogger_items)"] = lambda: [eslogger_items(r) for r in records]
    return dict(zip(steps, interleaved(tuple(steps.values())), strict=True))


def window_memory(count: int = 100_000) -> list[Figure]:
    """A window fed ``count`` in-scope file events: what it holds under the default byte budget,
    and the traced memory per row with the budget lifted (all ``count`` held)."""
    lines = file_lines(count, "/Library/LaunchAgents")
    budget = _pipeline()
    for line in lines:
        budget.feed_line(line, "eslogger")
    held = len(budget._routes["file"].window)
    unbounded = _pipeline(count, 1 << 40)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for line in lines:
            unbounded.feed_line(line, "eslogger")
        traced = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    window = unbounded._routes["file"].window
    mib = FILE_WINDOW_BYTES >> 20
    return [
        Figure(PART, f"{count:,} file events, {mib} MiB file window: rows held", held, "rows"),
        Figure(PART, f"  window charge (entry_bytes) at {count:,} rows", window.bytes / 2**20,
               "MiB"),
        Figure(PART, f"  traced memory per row ({count:,} held)", traced / len(window), "B"),
        Figure(PART, f"  traced memory of the {count:,}-row window", traced / 2**20, "MiB"),
    ]  # fmt: skip
