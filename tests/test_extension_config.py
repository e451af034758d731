"""The extension's settings (issue #16 findings 14, 15): refused with one line, never a crash.

osqueryd respawns an extension that exits, so a setting that raised at start was a crash loop
of tracebacks; a value that loaded but served nothing (``window_events = 0``) was silent.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import tempfile
import threading
from pathlib import Path

import pytest

from ecsquery.extension import main
from ecsquery.extension.config import ConfigError, load_settings, unsafe_file
from ecsquery.extension.dist import build
from ecsquery.testing.standin import OsquerydStandin

BASE = {"ECSQUERY_EXTENSION_CONFIG": os.devnull}
SCHEMAS = Path(__file__).parent / "fixtures" / "osquery-schema"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ECSQUERY_LOG_LEVEL", "LOUD", "setting 'log_level': 'LOUD' is not one of DEBUG"),
        ("ECSQUERY_WINDOW_EVENTS", "-1", "setting 'window_events': -1 is out of range"),
        ("ECSQUERY_WINDOW_EVENTS", "0", "setting 'window_events': 0 is out of range"),
        ("ECSQUERY_WINDOW_SECONDS", "nan", "setting 'window_seconds': cannot use 'nan'"),
        ("ECSQUERY_POLL_INTERVAL", "nan", "setting 'poll_interval': nan is out of range"),
        ("ECSQUERY_POLL_INTERVAL", "inf", "setting 'poll_interval': inf is out of range"),
        ("ECSQUERY_POLL_INTERVAL", "0", "setting 'poll_interval': 0.0 is out of range"),
        ("ECSQUERY_TREE_SIZE", "many", "setting 'tree_size': cannot use 'many'"),
        ("ECSQUERY_SEED_PROCESSES", "maybe", "setting 'seed_processes': cannot use 'maybe'"),
        ("ECSQUERY_TABLES", "es_process_events;DROP", "setting 'tables': 'es_process_events;DROP'"),
        ("ECSQUERY_TABLES", "processes", "setting 'tables': 'processes' (each one of"),
        ("ECSQUERY_TABLES", ",", "setting 'tables': none given"),
        ("ECSQUERY_ESLOGGER_COMMAND", "eslogger --format json", "'eslogger' is not an absolute"),
        ("ECSQUERY_CAPTURE_ENV_VARS", "PATH,A=B", "setting 'capture_env_vars': 'A=B' is not"),
        ("ECSQUERY_CAPTURE_ENV_VARS", "X" * 64, "at most 63 characters"),
        ("ECSQUERY_CAPTURE_ENV_VARS_BYTES", "-1", "'capture_env_vars_bytes': -1 is out of"),
    ],
)
def test_a_bad_setting_is_refused_with_one_line(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({**BASE, variable: value})
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_extension_exits_with_one_line_on_a_bad_setting(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ECSQUERY_EXTENSION_CONFIG", os.devnull)
    monkeypatch.setenv("ECSQUERY_LOG_LEVEL", "LOUD")
    with caplog.at_level(logging.WARNING):
        assert main.run(["--socket", "/nonexistent/osquery.em"]) == 1
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == [
        "setting 'log_level': 'LOUD' is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL"
    ]


def test_a_refused_setting_logs_once_and_waits_for_osqueryd_to_go(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # osqueryd respawns an extension that exits: staying up (unregistered) is one line, not a loop
    monkeypatch.setenv("ECSQUERY_EXTENSION_CONFIG", os.devnull)
    monkeypatch.setenv("ECSQUERY_WINDOW_EVENTS", "-1")
    with tempfile.TemporaryDirectory(prefix="eq", dir="/tmp") as sockdir:
        osqueryd = OsquerydStandin(Path(sockdir) / "osquery.em", SCHEMAS).start()
        result: list[int] = []
        args = ["--socket", osqueryd.socket_path, "--interval", "0.1"]
        thread = threading.Thread(target=lambda: result.append(main.run(args)), daemon=True)
        thread.start()
        thread.join(1.0)
        assert thread.is_alive() and not osqueryd.registered
        osqueryd.stop()
        thread.join(10)
    assert result == [1]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == ["setting 'window_events': -1 is out of range (1 to 10000000)"]


def test_good_settings_still_load(tmp_path: Path) -> None:
    config = tmp_path / "ecsquery.toml"
    config.write_text('[extension]\ntables = ["es_process_events", "process_events"]\n')
    config.chmod(0o600)
    env = {"ECSQUERY_EXTENSION_CONFIG": str(config), "ECSQUERY_LOG_LEVEL": "debug"}
    settings = load_settings({**env, "ECSQUERY_SEED_PROCESSES": "off"})
    assert settings.tables == ("es_process_events", "process_events")
    assert (settings.log_level, settings.seed_processes) == ("debug", False)


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o666])
def test_a_group_or_world_writable_config_is_refused(tmp_path: Path, mode: int) -> None:
    config = tmp_path / "ecsquery.toml"
    config.write_text('[extension]\neslogger_command = ["/tmp/x"]\n')
    config.chmod(mode)
    with pytest.raises(ConfigError, match=f"group- or world-writable \\(mode {mode:o}\\)"):
        load_settings({"ECSQUERY_EXTENSION_CONFIG": str(config)})


def test_a_config_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "ecsquery.toml"
    config.write_text("[extension]\n")
    config.chmod(0o644)
    info = config.stat()
    other = os.stat_result((info.st_mode, *info[1:4], 4242, *info[5:]))
    assert unsafe_file(other, uid=501) == "owned by uid 4242, not by root or by uid 501"
    assert unsafe_file(os.stat_result((info.st_mode, *info[1:4], 0, *info[5:])), uid=501) == ""
    assert unsafe_file(os.stat_result((info.st_mode, *info[1:4], 501, *info[5:])), uid=501) == ""
    if os.getuid() == 0:  # root here: make the file really someone else's
        os.chown(config, 4242, 4242)
        with pytest.raises(ConfigError, match="owned by uid 4242, not by root or by uid 0"):
            load_settings({"ECSQUERY_EXTENSION_CONFIG": str(config)})


def test_a_fifo_or_directory_as_config_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo, 0o600)
    for path in (fifo, tmp_path):
        with pytest.raises(ConfigError, match="refused, not a regular file"):
            load_settings({"ECSQUERY_EXTENSION_CONFIG": str(path)})
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_the_shipped_flags_enable_osquerys_extension_watchdog(tmp_path: Path) -> None:
    # osquery/osquery osquery/core/watcher.cpp (a5b14f63d): enable_extensions_watchdog is off by
    # default; the limits apply to extensions only with it (WatcherRunner::watchExtensions)
    build(tmp_path)
    lines = set((tmp_path / "osquery.flags").read_text(encoding="utf-8").split())
    assert {
        "--enable_extensions_watchdog=true",
        "--watchdog_memory_limit=200",
        "--watchdog_utilization_limit=10",
        "--watchdog_latency_limit=12",
    } <= lines


def _pack(path: Path, lookbacks: dict[str, int]) -> Path:
    queries = {n: {"query": "SELECT 1", "ecsquery": {"lookback": s}} for n, s in lookbacks.items()}
    path.write_text(json.dumps({"queries": queries}))
    path.chmod(0o600)
    return path


def test_a_window_shorter_than_a_loaded_packs_lookback_is_refused(tmp_path: Path) -> None:
    """The extension's window must serve every row a pack query asks for (``time >= now -
    lookback``): a shorter one refuses to start, naming the query, the pack and the seconds."""
    pack = _pack(tmp_path / "ecsquery.conf", {"short": 540, "long_rule": 1200})
    env = {"ECSQUERY_EXTENSION_CONFIG": os.devnull, "ECSQUERY_PACKS": str(pack)}
    with pytest.raises(ConfigError) as err:
        load_settings(env)
    assert str(err.value) == (
        f"setting 'window_seconds': 900 s is shorter than the 1200 s lookback of 'long_rule'"
        f" in {pack}; raise it to at least 1200"
    )
    settings = load_settings({**env, "ECSQUERY_WINDOW_SECONDS": "1200"})
    assert settings.packs == (str(pack),)
    assert load_settings({"ECSQUERY_EXTENSION_CONFIG": os.devnull}).packs == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [("[1, 2]", "no queries"), ("{nope", r"not an osquery pack \(Expecting")],
)
def test_a_pack_that_is_not_an_osquery_pack_is_refused(
    tmp_path: Path, text: str, message: str
) -> None:
    pack = tmp_path / "p.conf"
    pack.write_text(text)
    pack.chmod(0o600)
    with pytest.raises(ConfigError, match=message):
        load_settings({"ECSQUERY_EXTENSION_CONFIG": os.devnull, "ECSQUERY_PACKS": str(pack)})


def test_the_captured_environment_variables_are_a_setting(tmp_path: Path) -> None:
    """Elastic Defend's ``capture_env_vars``: Kibana's default macOS list and the runner rule's
    variable by default; a comma-separated variable or a TOML list otherwise (empty: none)."""
    assert load_settings(BASE).capture_env_vars == (
        "DYLD_INSERT_LIBRARIES",
        "DYLD_FRAMEWORK_PATH",
        "DYLD_LIBRARY_PATH",
        "LD_PRELOAD",
        "RUNNER_TRACKING_ID",
    )
    assert load_settings({**BASE, "ECSQUERY_CAPTURE_ENV_VARS": "PATH,USER"}).capture_env_vars == (
        "PATH",
        "USER",
    )
    assert load_settings({**BASE, "ECSQUERY_CAPTURE_ENV_VARS": ""}).capture_env_vars == ()
    config = tmp_path / "ecsquery.toml"
    config.write_text('[extension]\ncapture_env_vars = ["HOME"]\ncapture_env_vars_bytes = 64\n')
    config.chmod(0o600)
    settings = load_settings({"ECSQUERY_EXTENSION_CONFIG": str(config)})
    assert (settings.capture_env_vars, settings.capture_env_vars_bytes) == (("HOME",), 64)
