"""End to end over real Unix sockets: the extension process and an osqueryd stand-in.

The stand-in (``ecsquery.testing.standin.OsquerydStandin``) plays osqueryd: it accepts the
extension's ``registerExtension``, answers its ``query`` calls from SQLite tables with osquery's
schemas, and calls ``generate`` with the context JSON osqueryd's xFilter sends.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

from ecsquery.extension import dist
from ecsquery.extension.argv import join_plain, quote_cmdline
from ecsquery.extension.dist import build, permission_problems, stage
from ecsquery.extension.pipeline import Pipeline
from ecsquery.extension.sources.eslogger import COMMAND, EsloggerSource
from ecsquery.extension.table import GREATER_THAN, EcsProcessTable
from ecsquery.extension.window import Window
from ecsquery.rules.compile import compile_rule
from ecsquery.rules.load import load_rule
from ecsquery.schema import COLUMNS, TABLE
from ecsquery.testing.standin import OsquerydStandin

FIXTURES = Path(__file__).parent / "fixtures"
SCHEMAS = FIXTURES / "osquery-schema"
ESLOGGER = FIXTURES / "eslogger" / "mullvad_eslogger_exec_fork_exit.ndjson"
EXTENSION = [sys.executable, "-m", "ecsquery.extension"]
NOW = int(time.time())
KEYCHAIN = "credential_access_dumping_keychain_security.toml"
YEARS = str(10**10)  # the eslogger samples span a year; the window is 15 minutes by default


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


def collect(stream: IO[bytes] | None) -> list[bytes]:
    """The lines of a child's stderr as they come, read on a thread (the list grows)."""
    assert stream is not None
    lines: list[bytes] = []

    def pump() -> None:
        for line in iter(stream.readline, b""):
            lines.append(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


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
        f'[ "$*" = "{" ".join(COMMAND[1:])}" ] || exit 64\n'
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
    source = EsloggerSource(pipeline, (str(fake_eslogger), *COMMAND[1:]), restart_delay=None)
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
            env={
                **env(source="eslogger", window_seconds=YEARS),
                "ECSQUERY_ESLOGGER_COMMAND": " ".join((str(fake_eslogger), *COMMAND[1:])),
                "PATH": path,
            },
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
            # eslogger's death is logged before the shutdown below (else the stop would hide it)
            log = collect(proc.stderr)
            until(lambda: b"eslogger exited with status 1" in b"".join(log))
            # osqueryd's shutdown request ends the extension cleanly
            with osqueryd_connection(osqueryd, uuid) as ext:
                ext.shutdown()
            assert proc.wait(10) == 0
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


# -- the .ext on the Python a Mac has (3.9) ---------------------------------------------------

PYTHON39 = "ECSQUERY_PYTHON39"
"""A Python 3.9 to run the zipapp with; .ci/run installs Debian's pypy3 and sets it."""


@pytest.fixture(scope="module")
def python39() -> str:
    path = os.environ.get(PYTHON39) or shutil.which("pypy3")
    if not path:
        pytest.skip(
            "NO PYTHON 3.9 HERE: the zipapp's Mac-Python test needs one "
            "(`apt-get install -y pypy3`; .ci/run installs it and sets $ECSQUERY_PYTHON39)"
        )
    out = subprocess.run(
        [path, "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == "(3, 9)", f"{path} is not a Python 3.9"
    return path


def served_in_process(path: Path) -> list[dict[str, str]]:
    """What this (3.11+) interpreter's pipeline serves for a replay file, for comparison."""
    window = Window(max_age=10**10)
    pipeline = Pipeline(window)
    with path.open("rb") as lines:
        for line in lines:
            pipeline.feed_line(line, "replay")
    return EcsProcessTable(window).generate(None)


def test_zipapp_on_python39_serves_what_the_venv_serves(
    sockdir: Path, tmp_path: Path, python39: str
) -> None:
    # the shebang exactly as the Mac gets it (interpreter + -I), run by exec, not by us
    target = build(tmp_path / "dist", f"{python39} -I")
    assert target.read_bytes().startswith(f"#!{python39} -I\n".encode())
    config = tmp_path / "ecsquery.toml"  # read by tomli inside the zipapp (3.9 has no tomllib)
    config.write_text(
        f'[extension]\nsource = "replay"\nreplay = [{json.dumps(str(ESLOGGER))}]\n'
        f"window_seconds = {YEARS}\n"
    )
    # -I: an attacker's PYTHONPATH/sitecustomize in osqueryd's environment never runs
    planted = tmp_path / "planted"
    planted.mkdir()
    marker = tmp_path / "sitecustomize-ran"
    (planted / "sitecustomize.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    with OsquerydStandin(sockdir / "osquery.em", SCHEMAS) as osqueryd:
        proc = osqueryd.spawn_extension(
            [str(target)],
            env={"ECSQUERY_EXTENSION_CONFIG": str(config), "PYTHONPATH": str(planted)},
            stderr=subprocess.PIPE,
        )
        try:
            uuid = osqueryd.wait_for_extension("ecsquery", timeout=60)
            rows = until(lambda: len(got := osqueryd.generate(uuid, "ecs_process_events")) == 4
                         and got, timeout=60)  # fmt: skip
            assert rows == served_in_process(ESLOGGER)
        finally:
            stop(proc)
        assert proc.stderr is not None
        assert proc.stderr.read() == b""  # nothing bad, no traceback
    assert not marker.exists()


def test_zipapp_carries_only_what_runs_on_the_mac(tmp_path: Path) -> None:
    target = build(tmp_path / "dist")
    names = zipfile.ZipFile(target).namelist()
    assert {n.split("/")[0] for n in names} == {
        "__main__.py", "ecsquery", "osquery", "thrift", "future", "tomli",
    }  # fmt: skip
    ours = {n for n in names if n.startswith("ecsquery/")}
    tooling = (
        "ecsquery/testing/", "standin", "ecsquery/extension/dist.py", "ecsquery/bench/",
        "ecsquery/cli/", "ecsquery/rules/", "ecsquery/alerts/", "ecsquery/replay/",
    )  # fmt: skip
    assert [n for n in ours if any(t in n for t in tooling)] == []
    assert "ecsquery/extension/main.py" in ours and "tomli/_parser.py" in names
    assert not [n for n in names if n.endswith((".so", ".pyc", ".pyd"))]
    assert target.read_bytes().startswith(b"#!/usr/bin/python3 -I\n")


def test_zipapp_files_need_only_python39(tmp_path: Path) -> None:
    """vermin's static check, a second guard beside the pypy3 run (which covers what runs)."""
    stage(tmp_path)
    # future is 2/3-compatibility code by design (vermin cannot combine its branches); the
    # 3.9 run above imports what of it is used
    paths = [str(tmp_path / p) for p in ("__main__.py", "ecsquery", "tomli", "osquery", "thrift")]
    vermin = Path(sys.executable).with_name("vermin")
    out = subprocess.run(
        [str(vermin), "-t=3.9-", "--no-tips", "--violations", "--eval-annotations", *paths],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_an_older_python_exits_with_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dist, "MIN_PYTHON", (99, 0))  # no Python < 3.9 here: pretend 3.11 is old
    target = build(tmp_path / "dist")
    proc = subprocess.run(
        [sys.executable, "-I", str(target), "--socket", "/nonexistent"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    version = sys.version.split()[0]
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr == (
        f"ecsquery.ext: needs Python >= 99.0, but {sys.executable} is {version}"
        " (rebuild with --python PATH, see the README)\n"
    )


# -- every osquery 5.x: cmdline as the running version wrote it --------------------------------

ARGVS = [
    ["osascript", "-e", 'display dialog "hi there"'],  # a space and quotes in one argument
    ["/bin/echo", "", "a\\b", "--x=1"],  # an empty argument and a backslash
    [""],  # argv == [""] round-trips
]


@pytest.mark.parametrize(
    ("version", "encode", "expected"),
    [
        ("5.9.1", join_plain, [  # space-joined: the argument holding a space is split
            ["osascript", "-e", "display", "dialog", '"hi', 'there"'], ARGVS[1], ARGVS[2],
        ]),
        ("5.10.0", quote_cmdline, ARGVS),  # quoted: exact
    ],
)  # fmt: skip
def test_cmdline_read_as_the_running_osquery_wrote_it(
    sockdir: Path, version: str, encode: Callable[[list[str]], str], expected: list[list[str]]
) -> None:
    with OsquerydStandin(sockdir / "osquery.em", SCHEMAS, version=version) as osqueryd:
        osqueryd.insert("es_process_events", [
            {**es(700 + i, 1, "/bin/x", [], 1, 1, time=NOW - 10 + i), "cmdline": encode(argv)}
            for i, argv in enumerate(ARGVS)
        ])  # fmt: skip
        proc = osqueryd.spawn_extension(
            EXTENSION, env=env(seed_processes="0"), verbose=True, stderr=subprocess.PIPE
        )
        try:
            uuid = osqueryd.wait_for_extension("ecsquery")
            rows = until(lambda: len(got := osqueryd.generate(uuid, "ecs_process_events")) == 3
                         and got)  # fmt: skip
            assert isinstance(rows, list)
            assert [json.loads(r["process_args"]) for r in rows] == expected
        finally:
            stop(proc)
        assert proc.stderr is not None
        log = proc.stderr.read().decode()
    if version == "5.9.1":
        assert (
            "osquery 5.9.1 writes es_process_events.cmdline unquoted (quoting came in 5.10.0)"
            in log
        )
        assert "'reconstructed.args': 3" in log
    else:
        assert "osquery 5.10.0 quotes es_process_events.cmdline" in log
        assert "reconstructed" not in log


# -- liveness as osquery's SDK: exit when no longer registered, for osqueryd to respawn --------


def test_deregistered_extension_exits_and_its_respawn_serves(sockdir: Path) -> None:
    with OsquerydStandin(sockdir / "osquery.em", SCHEMAS) as osqueryd:
        osqueryd.insert("es_process_events", [es(800, 1, "/bin/ls", ["ls", "-l"], 1, 1)])
        first = osqueryd.spawn_extension(EXTENSION, env=env(), interval=1, stderr=subprocess.PIPE)
        try:
            uuid = osqueryd.wait_for_extension("ecsquery")
            osqueryd.deregister(uuid)  # as osqueryd does after failed pings
            assert first.wait(10) == 1  # osquery's SDK status for "not registered"
            assert first.stderr is not None
            assert (
                f"extension {uuid} not registered with osquery core" in first.stderr.read().decode()
            )
            assert not os.path.exists(osqueryd.extension_socket(uuid))
        finally:
            stop(first)
        # osqueryd's watcher starts it again: it registers anew and serves the same events
        again = osqueryd.spawn_extension(EXTENSION, env=env(), interval=1, stderr=subprocess.PIPE)
        try:
            new = osqueryd.wait_for_extension("ecsquery")
            assert new != uuid
            rows = until(lambda: osqueryd.generate(new, "ecs_process_events"))
            assert isinstance(rows, list)
            assert [r["process_args"] for r in rows] == ['["ls","-l"]']
            osqueryd.stop()  # and when the core goes away it exits 0
            assert again.wait(10) == 0
        finally:
            stop(again)


def test_zipapp_on_python39_polls_osquery_5_9_and_leaves_when_deregistered(
    sockdir: Path, tmp_path: Path, python39: str
) -> None:
    """The osquery source's Thrift calls (osquery_info, query, extensions) on a real 3.9."""
    target = build(tmp_path / "dist", f"{python39} -I")
    with OsquerydStandin(sockdir / "osquery.em", SCHEMAS, version="5.9.1") as osqueryd:
        osqueryd.insert("es_process_events", [
            {**es(900, 1, "/bin/x", [], 1, 1), "cmdline": join_plain(argv), "eid": f"e{i}"}
            for i, argv in enumerate(ARGVS)
        ])  # fmt: skip
        proc = osqueryd.spawn_extension([str(target)], env=env(), stderr=subprocess.PIPE)
        try:
            uuid = osqueryd.wait_for_extension("ecsquery", timeout=60)
            rows = until(lambda: len(got := osqueryd.generate(uuid, "ecs_process_events")) == 3
                         and got, timeout=60)  # fmt: skip
            assert isinstance(rows, list)
            assert json.loads(rows[1]["process_args"]) == ARGVS[1]
            osqueryd.deregister(uuid)
            assert proc.wait(30) == 1
        finally:
            stop(proc)
        assert proc.stderr is not None
        log = proc.stderr.read().decode()
    assert "osquery 5.9.1 writes es_process_events.cmdline unquoted" in log
    assert log.rstrip().endswith(f"extension {uuid} not registered with osquery core")


# -- a pack query as osqueryd runs it: SQLite's planner, colsUsed, hits_only -----------------


def test_pack_query_through_osqueryds_planner_reads_wide_rows_for_hits_only(
    sockdir: Path,
) -> None:
    """The compiled rule over the real socket, on an SQLite virtual table that calls
    ``generate`` as osqueryd's does: the first call (``hits_only``'s subquery) asks for the
    conditions' columns only, the second for every column of the one hit second."""
    rule = compile_rule(load_rule(FIXTURES / "elastic-rules" / KEYCHAIN))
    with OsquerydStandin(sockdir / "osquery.em", SCHEMAS) as osqueryd:
        osqueryd.insert("es_process_events", [
            es(500, 7, "/bin/zsh", ["-zsh"], 1, 1, time=NOW - 40),
            es(600, 3, "/usr/bin/security", ["security", "dump-keychain", "-d"], 500, 7,
               time=NOW - 20),
            es(601, 1, "/usr/bin/security", ["security", "list-keychains"], 500, 7,
               time=NOW - 20),
        ])  # fmt: skip
        proc = osqueryd.spawn_extension(EXTENSION, env=env(), stderr=subprocess.PIPE)
        try:
            uuid = osqueryd.wait_for_extension("ecsquery")
            until(lambda: len(osqueryd.generate(uuid, TABLE)) == 3)
            rows, contexts = osqueryd.run_sql(uuid, TABLE, rule.sql, now=NOW)
        finally:
            stop(proc)
    names = [c.name for c in COLUMNS]
    assert [json.loads(r[names.index("process_args")]) for r in rows] == [
        ["security", "dump-keychain", "-d"]
    ]
    inner, outer = (json.loads(c) for c in contexts)  # no call for seconds without a hit
    subquery = rule.sql.split("\n  AND time IN (\n", 1)[1]
    read = sorted(n for n in names if re.search(rf"\b{n}\b", subquery))
    assert inner["colsUsed"] == read
    assert "process_env_vars" not in read and len(read) < len(names)
    assert outer["colsUsed"] == sorted(names)
    times = next(c["list"] for c in outer["constraints"] if c["name"] == "time")
    lookback = {"op": 32, "expr": str(NOW - rule.rule.lookback_seconds)}  # time >= now - 540
    assert times == [lookback, {"op": 2, "expr": str(NOW - 20)}]  # the hit's second
    pushed = {c["name"]: c["list"] for c in inner["constraints"] if c["list"]}
    assert pushed["time"] == [lookback] and pushed["host_os_type"] == [{"op": 2, "expr": "macos"}]
