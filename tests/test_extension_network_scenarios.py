"""The network stories of the scenario suite (``tests/scenarios/osascript_netcon``,
``benign_osascript_near_misses``): eslogger process events and osqueryd ``socket_events``
results-log lines, one capture file each.

Checked: the capture through the extension's pipeline (the connection documents carry the
entity id of the exec that started their process: what ``sequence by process.entity_id`` joins
on); both stories end to end through the corpus rule (replay: the rendered pack's SQL on its
schedule over ``ecs_process_events`` and ``ecs_network_events``, result lines, alerts); and the
near misses one at a time, through the rule less its ``cidrmatch`` clause.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ecsquery.replay.run import rendered_pack, replay
from ecsquery.rules.load import load_rules
from scenario_support import RULES, Scenario, alert_key, scenarios
from test_extension_network import Capture

CORPUS = Path(__file__).parent / "fixtures" / "elastic-rules-multi"
OSASCRIPT = "execution_scripting_osascript_exec_followed_by_netcon"
NETWORK = [s for s in scenarios(every=True) if "socket_events" in s.expected["format"]]


def connections(scenario: Scenario) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """(entity id of each exec'd image by executable, the network documents in order)."""
    pipeline = Capture()
    execs: dict[str, str] = {}
    for line in scenario.events.read_bytes().splitlines():
        record = json.loads(line)
        target = record.get("event", {}).get("exec", {}).get("target")
        if target is not None:
            token = target["audit_token"]
            execs[target["executable"]["path"]] = f"{token['pid']}-{token['pidversion']}"
        pipeline.feed_line(line, "replay")
    assert pipeline.stats.snapshot().get("bad.unexpected") is None
    return execs, [doc for _, doc in pipeline.docs]


def test_the_suite_has_the_network_stories() -> None:
    assert [s.name for s in NETWORK] == ["benign_osascript_near_misses", "osascript_netcon"]


def test_the_hits_connection_joins_the_osascript_exec() -> None:
    [story] = [s for s in NETWORK if s.name == "osascript_netcon"]
    execs, [doc] = connections(story)
    assert doc["process"] == {
        "pid": 4810, "entity_id": execs["/usr/bin/osascript"], "executable": "/usr/bin/osascript",
        "name": "osascript", "command_line": "osascript /Users/alice/Downloads/Invoice.scpt",
        "code_signature": {"exists": True, "trusted": True, "signing_id": "com.apple.osascript"},
    }  # fmt: skip
    assert doc["event"]["type"] == ["start"] and doc["destination"]["ip"] == "93.184.215.14"
    assert doc["@timestamp"] == "2025-03-04T14:03:23.000Z"


def test_the_near_misses_are_what_they_claim() -> None:
    [story] = [s for s in NETWORK if s.name == "benign_osascript_near_misses"]
    execs, docs = connections(story)
    summary = [
        (d["process"]["entity_id"], d["destination"]["ip"], d["@timestamp"][11:19]) for d in docs
    ]
    osa, curl = execs["/usr/bin/osascript"], execs["/usr/bin/curl"]
    assert summary == [
        (osa, "192.168.1.20", "14:33:22"),  # private: the rule's cidrmatch excludes it
        (curl, "93.184.215.14", "14:33:24"),  # another process: another entity id
        (osa, "93.184.215.14", "14:34:05"),  # 45 s after the exec at 14:33:20: past maxspan=30s
    ]


def run_story(scenario: Scenario, corpus: Path) -> list[tuple[Any, ...]]:
    rules, errors = load_rules([RULES, *(corpus / f"{r}.toml" for r in scenario.expected["rules"])])
    assert errors == []
    queries, compile_errors = rendered_pack(rules)
    assert compile_errors == []
    result = replay([scenario.events], rules, host=scenario.host, queries=queries)
    assert sum(result.read.rejected.values()) == 0
    assert all(n == 2 for n in result.hits.values())  # two overlapping lookbacks, alerted once
    assert len({a["ecsquery"]["alert_id"] for a in result.alerts}) == len(result.alerts)
    return sorted(alert_key(a) for a in result.alerts)


@pytest.mark.parametrize("scenario", NETWORK, ids=[s.name for s in NETWORK])
def test_network_story_end_to_end(scenario: Scenario) -> None:
    """The corpus rule as published: the hit alerts, every near miss stays silent."""
    assert run_story(scenario, CORPUS) == scenario.expected_hits()


@pytest.fixture
def without_cidrmatch(tmp_path: Path) -> Path:
    """The osascript rule less its ``cidrmatch`` clause, to take the near misses one by one."""
    text = (CORPUS / f"{OSASCRIPT}.toml").read_text("utf-8")
    start = text.index(" and\n   not cidrmatch(destination.ip,")
    text = text[:start] + "]" + text[text.index(")]", start) + 2 :]
    assert "cidrmatch" not in text
    (tmp_path / f"{OSASCRIPT}.toml").write_text(text, "utf-8")
    return tmp_path


def test_each_near_miss_is_missed_for_its_own_reason(without_cidrmatch: Path) -> None:
    """Without cidrmatch the LAN connection joins (so that near miss is cidrmatch's), and it
    alone: curl's connection (another entity) and the one 45 s after the exec (past maxspan)
    still join nothing."""
    [story] = [s for s in NETWORK if s.name == "benign_osascript_near_misses"]
    keys = run_story(story, without_cidrmatch)
    assert len(keys) == 3 and {k[2] for k in keys} == {"/usr/bin/osascript"}
    [connection] = [
        r
        for r in replay([story.events], load_rules([without_cidrmatch])[0]).alerts
        if r["event"].get("category") == ["network"]
    ]
    assert connection["destination"] == {
        "ip": "192.168.1.20", "address": "192.168.1.20", "port": 548,
    }  # fmt: skip
