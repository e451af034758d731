"""Elastic Defend's top-level file-event fields as ``ecs_file_events`` columns.

``Effective_process.*`` (the process that asked for the action: ESF's *responsible* process,
``responsible_audit_token`` in ``es_process_t``, when it is not the actor) and
``Persistence.*`` (a ``btm_launch_item_add``'s plist, Defend's ``launch_daemon`` event) are
written by ``ecsquery.extension.files.file_document``; these tests check the columns are filled
through the pipeline and that the rules reading them alert through ``ecsquery replay``. The
messages are built on the real eslogger exec sample, as in ``test_extension_file.py``.
"""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path
from typing import Any

from ecsquery.replay.run import ReplayResult, replay
from ecsquery.rules.model import Rule
from test_extension_file import V9_EXEC, esfile, launch_item, message, pipeline

MAC_RULES = Path(__file__).parent / "fixtures" / "elastic-rules-mac"
EFFECTIVE = ("effective_process_pid", "effective_process_entity_id",
             "effective_process_executable", "effective_process_name")  # fmt: skip
TERMINAL = "/System/Applications/Utilities/Terminal.app/Contents/MacOS/Terminal"
PERSISTENCE = ("persistence_name", "persistence_path", "persistence_executable")


def responsible_exec(executable: str, seq: int) -> dict[str, Any]:
    """An exec that teaches the tree the image of the sample's responsible process (938-2424)."""
    msg = copy.deepcopy(V9_EXEC)
    msg["seq_num"] = msg["global_seq_num"] = seq
    msg["process"]["audit_token"].update(pid=938, pidversion=2424)
    msg["process"]["responsible_audit_token"].update(pid=938, pidversion=2424)
    target = msg["event"]["exec"]["target"]
    target["audit_token"].update(pid=938, pidversion=2424)
    target["executable"]["path"] = executable
    return msg


def open_preferences(seq: int, executable: str = "/usr/bin/python3") -> dict[str, Any]:
    path = "/Library/Preferences/SystemConfiguration/preferences.plist"
    return message("open", {"fflag": 1, "file": esfile(path)}, seq, executable={"path": executable})


def test_effective_process_columns_name_the_responsible_process() -> None:
    pipe, table = pipeline()
    pipe.feed_line(json.dumps(responsible_exec(TERMINAL, 10)), "eslogger")
    pipe.feed_line(json.dumps(open_preferences(20)), "eslogger")
    [row] = table.generate(None)
    assert {c: row[c] for c in EFFECTIVE + PERSISTENCE} == {
        "effective_process_pid": "938",
        "effective_process_entity_id": "938-2424",
        "effective_process_executable":
            "/System/Applications/Utilities/Terminal.app/Contents/MacOS/Terminal",
        "effective_process_name": "Terminal",
        "persistence_name": "", "persistence_path": "", "persistence_executable": "",
    }  # fmt: skip
    assert row["process_executable"] == "/usr/bin/python3"


def test_no_effective_process_when_the_actor_is_its_own_responsible_process() -> None:
    pipe, table = pipeline()
    msg = open_preferences(20)
    msg["process"]["responsible_audit_token"] = copy.deepcopy(msg["process"]["audit_token"])
    pipe.feed_line(json.dumps(msg), "eslogger")
    [row] = table.generate(None)
    assert {c: row[c] for c in EFFECTIVE} == dict.fromkeys(EFFECTIVE, "")


def test_persistence_columns_of_a_launch_item() -> None:
    pipe, table = pipeline()
    pipe.feed_line(
        json.dumps(launch_item("file:///Library/LaunchDaemons/.hidden.plist")), "eslogger"
    )
    [row] = table.generate(None)
    assert {c: row[c] for c in PERSISTENCE} == {
        "persistence_name": ".hidden.plist",
        "persistence_path": "/Library/LaunchDaemons/.hidden.plist",
        "persistence_executable": "/Users/alice/.local/updater",
    }
    assert (row["event_action"], row["file_path"]) == ("launch_daemon", "")


def corpus_rule(slug: str) -> Rule:
    text = (MAC_RULES / f"{slug}.toml").read_text("utf-8")
    return Rule.from_mapping(tomllib.loads(text)["rule"], slug=slug)


def replay_lines(tmp_path: Path, lines: list[dict[str, Any]], rules: list[Rule]) -> ReplayResult:
    """eslogger messages one second apart (replay orders by event time) through ``replay``;
    every line must be read."""
    for second, msg in enumerate(lines):
        msg["time"] = f"2025-08-07T13:21:{40 + second}.000000000Z"
    events = tmp_path / "events.ndjson"
    events.write_text("".join(json.dumps(m) + "\n" for m in lines))
    result = replay([events], rules, host="alice-macbook")
    assert sum(result.read.rejected.values()) == 0
    return result


def test_rules_on_these_columns_alert_through_replay(tmp_path: Path) -> None:
    """Each rule with its near miss: Docker asking python to read the network preferences, and
    a launch daemon whose plist name is not hidden."""
    docker = "/Applications/Docker.app/Contents/MacOS/Docker"
    terminal = TERMINAL
    lines = [
        responsible_exec(terminal, 10),
        open_preferences(20),  # hit: python asked by Terminal
        responsible_exec(docker, 30),  # 938 re-executes as Docker: the near miss
        open_preferences(40),
        launch_item("file:///Users/alice/Library/LaunchAgents/.com.evil.plist"),  # hit
        launch_item("file:///Library/LaunchDaemons/com.vendor.plist"),  # near miss
    ]
    lines[-1]["seq_num"] = lines[-1]["global_seq_num"] = 60
    slugs = ("discovery_system_and_network_configuration_check",
             "persistence_evasion_hidden_launch_agent_deamon_creation")  # fmt: skip
    result = replay_lines(tmp_path, lines, [corpus_rule(s) for s in slugs])
    got = sorted(
        (a["rule"]["name"], a["process"]["executable"], a.get("Effective_process"),
         a.get("Persistence"))
        for a in result.alerts
    )  # fmt: skip
    assert got == [
        ("Creation of Hidden Launch Agent or Daemon", "/bin/nu", {"pid": 938,
         "entity_id": "938-2424", "executable": docker, "name": "Docker"},
         {"name": ".com.evil.plist", "path": "/Users/alice/Library/LaunchAgents/.com.evil.plist",
          "executable": "/Users/alice/.local/updater"}),
        ("System and Network Configuration Check", "/usr/bin/python3",
         {"pid": 938, "entity_id": "938-2424", "executable": terminal, "name": "Terminal"}, None),
    ]  # fmt: skip


def test_event_outcome_is_success_from_both_sources() -> None:
    """Both sources are EndpointSecurity NOTIFY messages: an operation that took place
    (``extension.files.OUTCOME``); the column is the file table's only ``event.outcome``."""
    pipe, table = pipeline()
    pipe.feed_line(json.dumps(open_preferences(20)), "eslogger")
    row = {"time": "100", "eid": "01", "event_type": "write", "pid": "700", "parent": "1",
           "path": "/bin/zsh", "filename": "/private/var/at/tabs/root",
           "dest_filename": ""}  # fmt: skip
    pipe.feed({"name": "files", "columns": row, "action": "added"}, "osquery")
    served = table.generate(None)
    assert sorted((r["event_id"].startswith("es_process_file_events-"), r["event_outcome"])
                  for r in served) == [(False, "success"), (True, "success")]  # fmt: skip


def test_genai_sensitive_file_rule_alerts_through_replay(tmp_path: Path) -> None:
    """``credential_access_genai_process_sensitive_file_access`` (``event.outcome ==
    "success"``): ``claude`` opening a login keychain alerts; the same process opening a file of
    another name (the near miss) and ``zsh`` opening the keychain do not."""
    keychain = "/Users/alice/Library/Keychains/login.keychain-db"
    lines = [
        message("open", {"fflag": 1, "file": esfile(keychain)}, 20,
                executable={"path": "/Users/alice/.local/bin/claude"}),  # hit
        message("open", {"fflag": 1, "file": esfile(keychain + "-journal")}, 21,
                executable={"path": "/Users/alice/.local/bin/claude"}),  # near miss: name
        message("open", {"fflag": 1, "file": esfile(keychain)}, 22,
                executable={"path": "/bin/zsh"}),  # near miss: not a GenAI process
    ]  # fmt: skip
    rule = corpus_rule("credential_access_genai_process_sensitive_file_access")
    result = replay_lines(tmp_path, lines, [rule])
    assert [(a["process"]["name"], a["file"]["path"], a["event"]["outcome"])
            for a in result.alerts] == [("claude", keychain, "success")]  # fmt: skip
