"""Extension figures: a 50k-event window served through Thrift ``generate``, and peak RSS.

The extension runs as its own process, as under osqueryd, fed 50k eslogger exec messages by its
replay source; the osqueryd stand-in calls ``generate`` over the real Unix socket with
osqueryd's context JSON and decodes the reply with Thrift's C codec (osqueryd's side is C++,
so the stand-in's own decoding should not be what is measured). Targets from the issue:
``generate`` of the whole window ≤ 1 s, extension peak RSS ≤ 100 MB (osquery's watchdog
default is 200 MB).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ecsquery import data
from ecsquery.bench import Figure, extension_cost, extension_pack, median_seconds
from ecsquery.extension.table import GREATER_THAN
from ecsquery.testing.standin import OsquerydStandin

EVENTS = 50_000
PART = "extension"
BASE_TIME = 1_754_572_000.0
SCHEMAS = data.files("bench", "osquery-schema")
"""osquery's table specs for the stand-in (package data; provenance: tests/fixtures/SOURCES.md)."""

_NAMES = ("security", "curl", "defaults", "osascript", "launchctl", "python3", "git", "ls")


def _token(pid: int, pidversion: int, uid: int = 501) -> dict[str, int]:
    return {
        "auid": uid, "euid": uid, "egid": 20, "ruid": uid, "rgid": 20,
        "pid": pid, "asid": 100019, "pidversion": pidversion,
    }  # fmt: skip


def _process(pid: int, pv: int, path: str, parent: tuple[int, int]) -> dict[str, Any]:
    return {
        "audit_token": _token(pid, pv),
        "parent_audit_token": _token(*parent),
        "responsible_audit_token": _token(938, 2424),
        "ppid": parent[0],
        "original_ppid": parent[0],
        "executable": {"path": path, "path_truncated": False},
        "signing_id": "com.apple." + path.rsplit("/", 1)[-1],
        "team_id": None,
        "codesigning_flags": 0x26015B11,
        "is_platform_binary": True,
        "start_time": "2025-08-07T13:21:35.877422Z",
        "session_id": 58916,
        "group_id": pid,
    }


def event_lines(count: int = EVENTS) -> list[str]:
    """eslogger v9 exec messages (their real shape, minus stat blocks): shells running tools."""
    lines = []
    for i in range(count):
        shell = (58916 + i % 8, 87724 + i % 8)
        name = _NAMES[i % len(_NAMES)]
        pid = 20000 + i % 20000  # pids are reused, as on a busy Mac
        exe = f"/usr/bin/{name}"
        message = {
            "version": 9,
            "event_type": 9,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(BASE_TIME + i // 100))
            + f".{i % 100:02d}0000000Z",
            "mach_time": 289350913517 + i,
            "global_seq_num": i,
            "process": _process(shell[0], shell[1], "/bin/zsh", (938, 2424)),
            "event": {
                "exec": {
                    "target": _process(pid, 100000 + i, exe, shell),
                    "args": [name, "find-generic-password", "-wa", f"item {i}", "-s", "login"],
                    "cwd": {"path": f"/Users/user{i % 5}/Projects"},
                }
            },
        }
        lines.append(json.dumps(message, separators=(",", ":")))
    return lines


def _peak_rss_mb(proc: subprocess.Popen[bytes]) -> float:
    """The extension's peak RSS: Linux's VmHWM, else ru_maxrss after stopping it.

    (On Linux ru_maxrss of a forked-then-exec'd child also counts the parent's pages it held
    before exec, so it overstates the extension's own peak.)
    """
    status_file = Path(f"/proc/{proc.pid}/status")
    if status_file.exists():
        for line in status_file.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
    proc.terminate()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    scale = 1 if sys.platform == "darwin" else 1024
    return usage.ru_maxrss * scale / 1e6


def run() -> list[Figure]:
    with data.as_path(SCHEMAS) as schemas:
        return _run(schemas) + extension_pack.run()


def _run(schemas: Path) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="eqb", dir="/tmp") as tmp:
        replay = Path(tmp) / "events.ndjson"
        with replay.open("w", encoding="utf-8") as out:
            for line in event_lines():
                out.write(line + "\n")
        env = {
            "ECSQUERY_EXTENSION_CONFIG": os.devnull,
            "ECSQUERY_SOURCE": "replay",
            "ECSQUERY_REPLAY": str(replay),
            "ECSQUERY_WINDOW_EVENTS": str(EVENTS),
        }
        with OsquerydStandin(Path(tmp) / "osquery.em", schemas) as osqueryd:
            start = time.perf_counter()
            proc = osqueryd.spawn_extension([sys.executable, "-m", "ecsquery.extension"], env=env)
            try:
                uuid = osqueryd.wait_for_extension("ecsquery", timeout=30)
                count = 0
                while count < EVENTS and time.perf_counter() - start < 300:
                    time.sleep(0.5)
                    count = len(osqueryd.generate(uuid, "ecs_process_events", cols_used=["time"]))
                ingest = time.perf_counter() - start
                full = median_seconds(lambda: osqueryd.generate(uuid, "ecs_process_events"), 5)
                newest = str(int(BASE_TIME + EVENTS // 100 - 60))
                recent = median_seconds(
                    lambda: osqueryd.generate(
                        uuid, "ecs_process_events", {"time": [(GREATER_THAN, newest)]}
                    ),
                    5,
                )
                rows = osqueryd.generate(uuid, "ecs_process_events")
            finally:
                rss = _peak_rss_mb(proc) if proc.poll() is None else float("nan")
                if proc.poll() is None:
                    proc.terminate()
                    proc.wait(10)
    columns = len(rows[0]) if rows else 0
    with tempfile.TemporaryDirectory(prefix="eqb", dir="/tmp") as tmp:
        live = extension_cost.live_figures(Path(tmp), schemas)
    return (
        extension_cost.run()
        + live
        + [
            Figure(PART, f"ingest {count:,} eslogger events (start to served)", ingest, "s"),
            Figure(
                PART,
                f"generate {len(rows):,} rows x {columns} columns via Thrift",
                full,
                "s",
                "<= 1 s",
                full <= 1.0 and len(rows) == EVENTS,
            ),
            Figure(PART, "generate with time > newest-60 s (pack lookback)", recent, "s"),
            Figure(
                PART, "extension peak RSS (50k-event window)", rss, "MB", "<= 100 MB", rss <= 100
            ),
        ]
    )


if __name__ == "__main__":
    from ecsquery.bench import format_table

    print(format_table(run()))
