"""End to end over real Unix sockets: the extension process and an osqueryd stand-in.

The stand-in (``ecsquery.extension.standin.OsquerydStandin``) plays osqueryd: it accepts the
extension's ``registerExtension``, answers its ``query`` calls from SQLite tables with osquery's
schemas, and calls ``generate`` with the context JSON osqueryd's xFilter sends.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ecsquery.extension.argv import quote_cmdline
from ecsquery.extension.dist import build, permission_problems
from ecsquery.extension.pipeline import Pipeline
from ecsquery.extension.sources.eslogger import EsloggerSource
from ecsquery.extension.standin import OsquerydStandin
from ecsquery.extension.table import GREATER_THAN, EcsProcessTable
from ecsquery.extension.window import Window

FIXTURES = Path(__file__).parent / "fixtures"
SCHEMAS = FIXTURES / "osquery-schema"
ESLOGGER = FIXTURES / "eslogger" / "mullvad_eslogger_exec_fork_exit.ndjson"
EXTENSION = [sys.executable, "-m", "ecsquery.extension"]
NOW = int(time.time())
YEARS = str(10**10)  # the eslogger samples span a year; the window is 15 minutes by default


@pytest.fixture
def sockdir() -> Iterator[Path]:
    # Unix socket paths are limited to ~104 bytes: keep them short, not under pytest's tmp_path
    with tempfile.TemporaryDirectory(prefix="eq", dir="/tmp") as d:
        yield Path(d)


def env(**settings: str) -> dict[str, str]:
    base = {"ECSQUERY_EXTENSION_CONFIG": os.devnull, "ECSQUERY_POLL_INTERVAL": "0.1"}
    return {**base, **{f"ECSQUERY_{k.upper()}": v for k, v in settings.items()}}


def until(check: Callable[[], object], timeout: float = 10.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def es(pid: int, pv: int, path: str, args: list[str], parent: int, ppv: int, **kw: object) -> dict:
    row = {
        "version": 7, "pid": pid, "pidversion": pv, "path": path, "parent": parent,
        "parent_pidversion": ppv, "original_parent": parent, "responsible_pid": parent,
        "responsible_pidversion": ppv, "cmdline": quote_cmdline(args), "cmdline_count": len(args),
        "uid": 501, "euid": 20, "gid": 20, "signing_id": "com.apple." + path.rsplit("/", 1)[-1],
        "platform_binary": 1, "codesigning_flags": "", "time": NOW - 30, "event_type": "exec",
        "eid": f"{pid:010d}{pv}",
    }  # fmt: skip
    row.update(kw)
    return row


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        proc.wait(5)


def test_osquery_source_through_the_real_socket(sockdir: Path) -> None:
    with OsquerydStandin(sockdir / "osquery.em", SCHEMAS) as osqueryd:
        osqueryd.insert("processes", [
            {"pid": 400, "parent": 1, "name": "Terminal", "path": "/Applications/Terminal.app",
             "cmdline": "Terminal", "start_time": NOW - 999},
        ])  # fmt: skip
        osqueryd.insert("es_process_events", [
            es(500, 7, "/bin/zsh", ["-zsh"], 400, 1),
            es(600, 3, "/usr/bin/security", ["security", "dump-keychain", "-d", "a \"b\""], 500, 7,
               responsible_pid=400, responsible_pidversion=1, time=NOW - 20),
            es(600, 3, "/usr/bin/security", [], 500, 7, event_type="exit",
               exit_code=256, time=NOW - 10, eid="x1"),
        ])  # fmt: skip
        proc = osqueryd.spawn_extension(EXTENSION, env=env(), stderr=subprocess.PIPE)
        try:
            uuid = osqueryd.wait_for_extension("ecsquery")
            assert osqueryd.table_columns(uuid, "ecs_process_events")[0] == ("time", "BIGINT")
            rows = until(lambda: len(got := osqueryd.generate(uuid, "ecs_process_events")) == 3
                         and got)  # fmt: skip
            assert isinstance(rows, list)
            shell, security, end = rows
            assert shell["process_parent_executable"] == "/Applications/Terminal.app"  # seeded
            assert json.loads(security["process_args"]) == [
                "security",
                "dump-keychain",
                "-d",
                'a "b"',
            ]
            assert security["process_parent_name"] == "zsh"
            assert security["process_parent_args"] == '["-zsh"]'
            assert security["process_effective_parent_pid"] == "400"
            assert security["process_effective_parent_name"] == "Terminal.app"
            assert security["process_code_signature_signing_id"] == "com.apple.security"
            assert (end["event_action"], end["process_exit_code"]) == ("end", "1")
            assert end["process_args"] == security["process_args"]  # from the tree

            # constraints and colsUsed exactly as osqueryd sends them
            recent = osqueryd.generate(
                uuid, "ecs_process_events", {"time": [(GREATER_THAN, str(NOW - 25))]},
                cols_used=["time", "process_name", "event_action"],
            )  # fmt: skip
            assert recent == [
                {"time": str(NOW - 20), "process_name": "security", "event_action": "exec"},
                {"time": str(NOW - 10), "process_name": "security", "event_action": "end"},
            ]

            # new events are polled with the cursor, none twice; pid 600 reused by a new image
            osqueryd.insert("es_process_events", [
                es(600, 9, "/usr/bin/curl", ["curl", "-s", "x"], 500, 7, time=NOW - 5),
            ])  # fmt: skip
            rows = until(lambda: len(got := osqueryd.generate(uuid, "ecs_process_events")) == 4
                         and got)  # fmt: skip
            assert isinstance(rows, list)
            assert rows[-1]["process_entity_id"] == "600-9"
            assert rows[-1]["process_name"] == "curl"

            # osqueryd goes away (restart): the extension exits cleanly so it can be respawned
            ext_socket = osqueryd.extension_socket(uuid)
            osqueryd.stop()
            assert proc.wait(10) == 0
            assert not os.path.exists(ext_socket)
        finally:
            stop(proc)


@pytest.fixture
def fake_eslogger(tmp_path: Path) -> Path:
    """An ``eslogger`` on PATH that prints the real sample lines and junk, then dies."""
    script = tmp_path / "bin" / "eslogger"
    script.parent.mkdir()
    script.write_text(
        "#!/bin/sh\n"
        f'[ "$*" = "exec fork exit --format json" ] || exit 64\n'
        f"cat {ESLOGGER}\n"
        "echo '{truncated'\n"
        "echo 'eslogger: lost connection to endpointsecurityd' >&2\n"
        "exit 1\n"
    )
    script.chmod(0o755)
    return script


def test_dead_eslogger_is_counted_and_the_table_keeps_serving(
    fake_eslogger: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PATH", f"{fake_eslogger.parent}{os.pathsep}{os.environ['PATH']}")
    window = Window(max_age=10**10)
    pipeline = Pipeline(window)
    source = EsloggerSource(pipeline, restart_delay=None)
    source.start()
    source.join(10)
    stats = pipeline.stats.snapshot()
    assert stats["served"] == 4 and stats["bad.malformed"] == 1
    assert stats["died.eslogger"] == 1
    assert "lost connection to endpointsecurityd" in caplog.text
    rows = EcsProcessTable(window).generate(None)
    # served in event-time order (the window is time-ordered for bisection), not arrival order
    assert [r["event_action"] for r in rows] == ["fork", "exec", "end", "exec"]


def test_eslogger_source_in_the_extension_process(sockdir: Path, fake_eslogger: Path) -> None:
    path = f"{fake_eslogger.parent}{os.pathsep}{os.environ['PATH']}"
    with OsquerydStandin(sockdir / "osquery.em", SCHEMAS) as osqueryd:
        proc = osqueryd.spawn_extension(
            EXTENSION,
            env={**env(source="eslogger", window_seconds=YEARS), "PATH": path},
            stderr=subprocess.PIPE,
        )
        try:
            uuid = osqueryd.wait_for_extension("ecsquery")
            rows = until(lambda: len(got := osqueryd.generate(uuid, "ecs_process_events")) == 4
                         and got)  # fmt: skip
            assert isinstance(rows, list)
            assert rows[1]["process_effective_parent_pid"] == "938"
            assert (
                osqueryd.call(uuid, "table", "ecs_process_events", {"action": "nope"}).status.code
                == 1
            )
            osqueryd.call(uuid, "table", "ecs_process_events", {"action": "columns"})
            # osqueryd's shutdown request ends the extension cleanly
            with osqueryd_connection(osqueryd, uuid) as ext:
                ext.shutdown()
            assert proc.wait(10) == 0
            assert proc.stderr is not None
            assert b"eslogger exited with status 1" in proc.stderr.read()
        finally:
            stop(proc)


def osqueryd_connection(osqueryd: OsquerydStandin, uuid: int):  # type: ignore[no-untyped-def]
    from ecsquery.extension.client import connect

    return connect(osqueryd.extension_socket(uuid))


def test_dist_zipapp_runs_standalone_with_replay(sockdir: Path, tmp_path: Path) -> None:
    target = build(tmp_path / "dist")
    assert target.name == "ecsquery.ext"
    mode = target.stat().st_mode
    assert mode & stat.S_IXUSR and not mode & (stat.S_IWGRP | stat.S_IWOTH)
    if os.geteuid() == 0:
        assert permission_problems(target) == []
    assert (tmp_path / "dist" / "extensions.load").read_text().strip().endswith("/ecsquery.ext")
    flags = (tmp_path / "dist" / "osquery.flags").read_text()
    assert "--disable_endpointsecurity=false" in flags
    with OsquerydStandin(sockdir / "osquery.em", SCHEMAS) as osqueryd:
        # -S: no site-packages, so every dependency must come from inside the zipapp
        proc = osqueryd.spawn_extension(
            [sys.executable, "-S", str(target)],
            env=env(source="replay", replay=str(ESLOGGER), window_seconds=YEARS),
            verbose=True,
            stderr=subprocess.PIPE,
        )
        try:
            uuid = osqueryd.wait_for_extension("ecsquery")
            rows = until(lambda: len(got := osqueryd.generate(uuid, "ecs_process_events")) == 4
                         and got)  # fmt: skip
            assert isinstance(rows, list)
            assert rows[0]["process_code_signature_team_id"] == "CKG9MXH72F"  # the fork, oldest
        finally:
            stop(proc)


def test_registration_failure_exits_nonzero(sockdir: Path) -> None:
    proc = subprocess.run(
        [*EXTENSION, "--socket", str(sockdir / "none.em"), "--timeout", "0", "--interval", "1"],
        env={**os.environ, **env()},
        capture_output=True,
        timeout=30,
    )
    assert proc.returncode == 1
    assert b"cannot register with osqueryd" in proc.stderr
