"""Extension per-event CPU and memory (issue 12 items 3 and 4), as the zipapp runs.

CPU is ``time.process_time`` (user + system: what osquery's watchdog reads in
``osquery/core/watcher.cpp``), in this process for the ratios, each figure measured side by
side with its baseline over the same input (best of several rounds, the machine is shared):

* eslogger lines through ``Pipeline.feed_line`` against stdlib ``json.loads`` of the same
  lines (realistic fork + exec + exit messages, ~3 KB with an environment, from the public
  sample, package data ``ecsquery/data/bench/eslogger``);
* osquery-source rows (reply decode + normalize + row) against the pure-Python Thrift decode
  of the same reply (the zipapp cannot load Thrift's C codec);
* the window's memory per event (tracemalloc over a filled window).

The sustained 1,000 ev/s figure and the restart after a 100k-row backlog run the built zipapp
(``python -S ecsquery.ext``) as its own process and read its CPU and peak RSS from ``/proc``.
"""

from __future__ import annotations

import json
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from osquery.extensions.ttypes import ExtensionResponse, ExtensionStatus
from thrift.protocol import TBinaryProtocol
from thrift.transport import TTransport

from ecsquery import data
from ecsquery.bench import Figure
from ecsquery.extension.normalize import OSQUERY_TABLES
from ecsquery.extension.pipeline import Pipeline
from ecsquery.extension.sources.eslogger import EsloggerSource
from ecsquery.extension.window import Window

PART = "extension"
ESLOGGER = data.files("bench", "eslogger", "mullvad_eslogger_exec_fork_exit.ndjson")
"""The public eslogger sample (provenance in tests/fixtures/SOURCES.md), as package data."""
ENV = [f"VAR_{i}=/Users/alice/Library/Application Support/tool{i}" for i in range(24)]


def _set_token(token: Any, pid: int, pidversion: int) -> None:
    """Renumber an audit token in place, as an object (v9) or the raw 8-integer array (v10+)."""
    if isinstance(token, dict):
        token["pid"], token["pidversion"] = pid, pidversion
    else:
        token[5], token[7] = pid, pidversion


def eslogger_lines(count: int, start: float = 1_754_572_000.0) -> list[str]:
    """``count`` messages from the real sample, renumbered as a build makes them: one shell
    forks a child, the child execs the sample's program with an argv of its own (an object
    file per job, as a compiler's), the new image exits; each exec carries a ~1.3 KB
    environment (about 3 KB a message), written as eslogger writes JSON. Every process is new, so no
    cache sees the same image or argv twice except as a real fork/exec/exit does (the exit
    carries the exec's image; the sample's own exit is of another process)."""
    samples: dict[int, dict[str, Any]] = {}
    for line in ESLOGGER.read_text().splitlines():
        message = json.loads(line)
        samples.setdefault(message["event_type"], message)
    shell = (58916, 87724)
    lines = []
    for i in range(count):
        kind = (11, 9, 15)[i % 3]
        message = json.loads(json.dumps(samples[kind]))
        message["global_seq_num"] = i
        stamp = time.gmtime(start + i // 1000)
        message["time"] = time.strftime("%Y-%m-%dT%H:%M:%S", stamp) + f".{i % 1000:03d}000000Z"
        pid, forked = 30000 + (i // 3) % 30000, 200000 + 2 * (i // 3)
        body = message["event"]
        if kind == 11:
            _set_token(message["process"]["audit_token"], *shell)
            _set_token(body["fork"]["child"]["audit_token"], pid, forked)
            _set_token(body["fork"]["child"]["parent_audit_token"], *shell)
        elif kind == 9:
            _set_token(message["process"]["audit_token"], pid, forked)
            target = body["exec"]["target"]
            _set_token(target["audit_token"], pid, forked + 1)
            _set_token(target["parent_audit_token"], *shell)
            body["exec"]["args"] += ["-c", f"src/job{i // 3}.c", "-o", f"obj/job{i // 3}.o"]
            body["exec"]["env"] = ENV
        else:  # the image the exec made is the one that exits
            exiting = message["process"] = json.loads(
                json.dumps(samples[9]["event"]["exec"]["target"])
            )
            _set_token(exiting["audit_token"], pid, forked + 1)
            _set_token(exiting["parent_audit_token"], *shell)
        # as eslogger writes it: compact, and "/" escaped as "\/" (the public sample)
        lines.append(json.dumps(message, separators=(",", ":")).replace("/", "\\/"))
    return lines


def _best(fn: Callable[[], object], rounds: int = 5) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def side_by_side(
    baseline: Callable[[], object],
    measured: Callable[[Any], object],
    setup: Callable[[], Any],
    rounds: int = 7,
) -> tuple[float, float]:
    """The best CPU time of ``baseline()`` and of ``measured(setup())``, their rounds
    alternating (a shared machine's load then weighs on both alike). ``setup`` (a fresh
    pipeline: generating its flatteners is start-up, not per-event cost) runs before the
    clock starts."""
    base = subject = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        baseline()
        base = min(base, time.process_time() - start)
        state = setup()
        start = time.process_time()
        measured(state)
        subject = min(subject, time.process_time() - start)
    return base, subject


def es_rows(count: int, start: int = 1_754_572_000) -> Iterator[dict[str, str]]:
    """``es_process_events`` rows as osquery ≥ 5.10 writes them (every column, env too)."""
    env = " ".join(ENV)
    for i in range(count):
        pid = 20000 + i % 20000
        yield {
            "version": "7", "seq_num": str(i), "global_seq_num": str(i), "pid": str(pid),
            "pidversion": str(100000 + i), "path": "/usr/bin/security", "parent": "58916",
            "original_parent": "58916", "session_id": "100019", "responsible_pid": "938",
            "responsible_pidversion": "2424", "parent_pidversion": "87724",
            "cmdline": f'security find-generic-password -wa "item {i}" -s login',
            "cmdline_count": "6", "env": env, "env_count": str(len(ENV)),
            "cwd": "/Users/alice", "uid": "501", "euid": "20", "gid": "20", "egid": "20",
            "username": "alice", "signing_id": "com.apple.security", "team_id": "",
            "cdhash": "5f3a0e8c", "platform_binary": "1", "exit_code": "",
            "child_pid": "", "time": str(start + i // 100), "event_type": "exec",
            "eid": f"{i:010d}", "codesigning_flags": "",
        }  # fmt: skip


def _reply_bytes(rows: list[dict[str, str]]) -> bytes:
    buf = TTransport.TMemoryBuffer()
    ExtensionResponse(ExtensionStatus(0, "OK"), rows).write(TBinaryProtocol.TBinaryProtocol(buf))
    data: bytes = buf.getvalue()
    return data


def _decode(data: bytes) -> list[dict[str, str]]:
    reply = ExtensionResponse()
    reply.read(TBinaryProtocol.TBinaryProtocol(TTransport.TMemoryBuffer(data)))
    return list(reply.response or [])


def run() -> list[Figure]:
    figures = []
    lines = eslogger_lines(6000)

    def parse_all() -> None:
        for line in lines:
            json.loads(line)

    def feed_all(pipeline: Pipeline) -> None:
        for line in lines:  # as the eslogger source feeds them (its adapter)
            pipeline.feed_line(line, "eslogger", EsloggerSource.adapter, EsloggerSource.trim)

    parse, feed = side_by_side(parse_all, feed_all, lambda: Pipeline(Window()))
    size = sum(map(len, lines)) / len(lines)
    share = feed / len(lines) * 1000 * 100  # CPU seconds per second at 1,000 ev/s, in %
    figures += [
        Figure(PART, f"stdlib json.loads of a {size:,.0f}-byte eslogger line", parse / 6e-3, "us"),
        Figure(PART, "eslogger event through the pipeline (CPU)", feed / 6e-3, "us"),
        Figure(PART, "  ratio to json.loads", feed / parse, "x", "<= 2", feed / parse <= 2),
        Figure(PART, "  x 1,000 ev/s: share of one core", share, "%", "<= 15%", share <= 15),
    ]
    table = OSQUERY_TABLES["es_process_events"]
    wanted = table.columns
    full_rows = list(es_rows(3000))
    polled = _reply_bytes([{k: r[k] for k in wanted} for r in full_rows])
    everything = _reply_bytes(full_rows)
    decode_all = _best(lambda: _decode(everything), 3)

    def source_all(pipeline: Pipeline) -> None:
        for row in _decode(polled):  # as the osquery source feeds them
            pipeline.feed(row, "osquery", table.adapter)

    decode, source = side_by_side(lambda: _decode(polled), source_all, lambda: Pipeline(Window()))
    figures += [
        Figure(PART, "Thrift decode (pure Python) of a SELECT * row", decode_all / 3e-3, "us"),
        Figure(PART, "Thrift decode of a row of the polled columns", decode / 3e-3, "us"),
        Figure(PART, "osquery-source row: decode + normalize + row (CPU)", source / 3e-3, "us"),
        Figure(PART, "  ratio to the decode of that reply", source / decode, "x", "<= 2",
               source / decode <= 2),
    ]  # fmt: skip
    figures.append(_window_memory())
    return figures


def _window_memory(count: int = 20_000) -> Figure:
    lines = eslogger_lines(count)
    pipeline = Pipeline(Window(max_age=10**10))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for line in lines:
            pipeline.feed_line(line, "eslogger")
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    per = held / len(pipeline.window)
    return Figure(PART, f"window memory per event (traced, {count:,} events)", per, "B")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process from ``/proc/<pid>/stat``, as osquery's watcher reads it."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6
    return float("nan")


PACER = """
import sys, time
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
rate = float(sys.argv[2])
start = time.monotonic()
for i, line in enumerate(lines):
    delay = start + i / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    sys.stdout.write(line + "\\n")
    sys.stdout.flush()
time.sleep(3600)
"""


def live_figures(tmp: Path, schemas: Path) -> list[Figure]:
    """The built zipapp as its own process: 1,000 ev/s from eslogger, and a restart that
    finds a 100k-row backlog in osquery's es_process_events."""
    from ecsquery.extension.dist import build

    ext = build(tmp / "dist")
    return paced_figures(tmp, schemas, ext) + backlog_figures(tmp, schemas, ext)


def paced_figures(tmp: Path, schemas: Path, ext: Path) -> list[Figure]:
    """The zipapp fed 1,000 ev/s by a paced stand-in for eslogger: its CPU share from /proc."""
    import os
    import sys

    from ecsquery.testing.standin import OsquerydStandin

    rate, seconds = 1000, 12
    replay = tmp / "paced.ndjson"
    replay.write_text("\n".join(eslogger_lines(rate * (seconds + 4))) + "\n", encoding="utf-8")
    pacer = tmp / "pacer.py"
    pacer.write_text(PACER, encoding="utf-8")
    base = {"ECSQUERY_EXTENSION_CONFIG": os.devnull, "ECSQUERY_WINDOW_SECONDS": str(10**10)}
    with OsquerydStandin(tmp / "a.em", schemas) as osqueryd:
        env = {
            **base,
            "ECSQUERY_SOURCE": "eslogger",
            "ECSQUERY_ESLOGGER_COMMAND": f"{sys.executable} {pacer} {replay} {rate}",
        }
        proc = osqueryd.spawn_extension([sys.executable, "-S", str(ext)], env=env)
        try:
            osqueryd.wait_for_extension("ecsquery", timeout=60)
            time.sleep(3)  # start-up and the first events
            cpu0, wall0 = cpu_seconds(proc.pid), time.monotonic()
            time.sleep(seconds)
            share = (cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - wall0) * 100
        finally:
            proc.terminate()
            proc.wait(10)
    return [
        Figure(PART, f"zipapp at {rate:,} ev/s from eslogger, CPU (/proc)", share, "% core",
               "<= 15%", share <= 15)
    ]  # fmt: skip


def backlog_figures(tmp: Path, schemas: Path, ext: Path) -> list[Figure]:
    """The zipapp restarted with a 100k-row es_process_events backlog: peak RSS from /proc."""
    import os
    import sys

    from ecsquery.testing.standin import OsquerydStandin

    base = {"ECSQUERY_EXTENSION_CONFIG": os.devnull, "ECSQUERY_WINDOW_SECONDS": str(10**10)}
    backlog = 100_000
    with OsquerydStandin(tmp / "b.em", schemas) as osqueryd:
        now = int(time.time())
        rows = list(es_rows(backlog, start=now - 800))
        for i, row in enumerate(rows):
            row["time"] = str(now - 800 + i * 790 // backlog)
        osqueryd.insert("es_process_events", rows)
        del rows
        env = {**base, "ECSQUERY_SOURCE": "osquery", "ECSQUERY_WINDOW_SECONDS": "900",
               "ECSQUERY_SEED_PROCESSES": "0"}  # fmt: skip
        proc = osqueryd.spawn_extension([sys.executable, "-S", str(ext)], env=env)
        try:
            uuid = osqueryd.wait_for_extension("ecsquery", timeout=60)
            start, count, last = time.monotonic(), 0, -1
            while count != last and time.monotonic() - start < 300:  # until it stops growing
                time.sleep(3)
                last, count = (
                    count,
                    len(osqueryd.generate(uuid, "ecs_process_events", cols_used=["time"])),
                )
            cpu = cpu_seconds(proc.pid)
            peak = rss_peak_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(10)
    return [
        Figure(
            PART, f"restart with a {backlog:,}-row osquery backlog: window holds", count, "rows"
        ),
        Figure(PART, "  extension peak RSS (VmHWM)", peak, "MB", "<= 100 MB", peak <= 100),
        Figure(PART, "  CPU per backlog row (/proc)", cpu / max(count, 1) * 1e6, "us"),
    ]
