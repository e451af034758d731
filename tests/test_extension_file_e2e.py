"""The file table end to end: the extension process registers ``ecs_process_events`` and
``ecs_file_events`` with the osqueryd stand-in and serves osqueryd's ``es_process_file_events``
rows with the actor's process from ``es_process_events``, over real Unix sockets."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from ecsquery.extension.pipeline import Pipeline
from ecsquery.extension.sources.osquery import OsquerySource
from ecsquery.extension.window import Window
from ecsquery.schema import FILE_TABLE
from ecsquery.testing.standin import OsquerydStandin

SCHEMAS = Path(__file__).parent / "fixtures" / "osquery-schema"
EXTENSION = [sys.executable, "-m", "ecsquery.extension"]
NOW = int(time.time())


def file_row(eid: str, event_type: str, filename: str, dest: str = "") -> dict[str, object]:
    return {
        "version": 7, "seq_num": 1, "global_seq_num": 1, "pid": 600, "parent": 500,
        "path": "/usr/bin/crontab", "filename": filename, "dest_filename": dest,
        "event_type": event_type, "time": NOW - 10, "eid": eid,
    }  # fmt: skip


def exec_row() -> dict[str, object]:
    return {
        "version": 7, "pid": 600, "pidversion": 3, "path": "/usr/bin/crontab", "parent": 500,
        "parent_pidversion": 7, "original_parent": 500, "responsible_pid": 400,
        "responsible_pidversion": 1, "cmdline": "crontab /tmp/c", "cmdline_count": 2,
        "uid": 0, "euid": 0, "gid": 0, "signing_id": "com.apple.crontab", "platform_binary": 1,
        "codesigning_flags": "", "time": NOW - 20, "event_type": "exec", "eid": "e1",
    }  # fmt: skip


def test_file_source_polls_only_the_columns_it_reads(sockdir: Path) -> None:
    with OsquerydStandin(sockdir / "osquery.em", SCHEMAS) as osqueryd:
        osqueryd.insert("es_process_file_events", [file_row("f1", "write", "/etc/sudoers")])
        files = Window(max_age=10**10)
        pipeline = Pipeline(Window(max_age=10**10), windows={"file": files})
        source = OsquerySource(
            pipeline,
            str(sockdir / "osquery.em"),
            tables=("es_process_file_events", "es_process_events"),
            seed=False,
            clock=lambda: NOW,
        )
        assert source.tables == ("es_process_events", "es_process_file_events")
        assert source.poll("es_process_file_events") == 1
        assert source.columns("es_process_file_events") == (
            "time, eid, event_type, pid, parent, path, filename, dest_filename"
        )
        assert pipeline.stats.snapshot() == {"read.osquery": 1, "served": 1}
        source.close()


def test_the_extension_serves_the_file_table(sockdir: Path) -> None:
    with OsquerydStandin(sockdir / "osquery.em", SCHEMAS) as osqueryd:
        osqueryd.insert("es_process_events", [exec_row()])
        osqueryd.insert("es_process_file_events", [
            file_row("f1", "write", "/private/var/at/tabs/root"),
            file_row("f2", "write", "/Users/alice/src/build.o"),  # out of the default scope
        ])  # fmt: skip
        env = {"ECSQUERY_EXTENSION_CONFIG": "/dev/null", "ECSQUERY_POLL_INTERVAL": "0.1"}
        proc = osqueryd.spawn_extension(EXTENSION, env=env, stderr=subprocess.PIPE)
        try:
            uuid = osqueryd.wait_for_extension("ecsquery")
            columns = osqueryd.table_columns(uuid, FILE_TABLE.name)
            assert [name for name, _ in columns] == [c.name for c in FILE_TABLE.columns]
            deadline = time.monotonic() + 15
            rows: list[dict[str, str]] = []
            while not rows and time.monotonic() < deadline:
                rows = osqueryd.generate(uuid, FILE_TABLE.name)
                time.sleep(0.1)
            [row] = rows
            assert {k: row[k] for k in (
                "event_action", "event_type", "file_path", "process_executable", "process_args",
                "process_parent_pid", "process_code_signature_signing_id", "user_id",
            )} == {
                "event_action": "modification", "event_type": '["change"]',
                "file_path": "/private/var/at/tabs/root", "process_executable": "/usr/bin/crontab",
                "process_args": '["crontab","/tmp/c"]', "process_parent_pid": "500",
                "process_code_signature_signing_id": "com.apple.crontab", "user_id": "0",
            }  # fmt: skip
            assert len(osqueryd.generate(uuid, "ecs_process_events")) == 1
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(5)
