"""Replay routes ECS documents of every served category into their own tables, so a file or
network rule sees the recorded file or network event end to end (read → tables → pack SQL →
result log → alert), and a process rule never sees it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ecsquery.replay.events import CaptureReader
from ecsquery.replay.run import replay
from ecsquery.rules.importer import read_elastic_toml
from ecsquery.rules.model import Rule

MAC = Path(__file__).parent / "fixtures" / "elastic-rules-mac"


def _rule(slug: str) -> Rule:
    _, data = read_elastic_toml(MAC / f"{slug}.toml")
    return Rule.from_mapping(data, slug=slug, source=str(MAC / f"{slug}.toml"))


def _doc(i: int, category: str, **extra: Any) -> dict[str, Any]:
    """An Elastic Defend event, shaped as its macOS file and network events are."""
    return {
        "@timestamp": f"2025-03-04T10:0{i}:00.000Z",
        "event": {"id": f"e{i}", "category": [category], "type": ["change"], **extra.pop("event")},
        "host": {"name": "alice-macbook", "os": {"type": "macos"}},
        "process": {"pid": 100 + i, "name": "vim", "executable": "/usr/bin/vim"},
        **extra,
    }


CRONTAB = _doc(
    1, "file", event={"action": "modification"}, file={"path": "/private/var/at/tabs/root"}
)
CRONTAB_BY_CRONTAB = _doc(
    2,
    "file",
    event={"action": "modification"},
    file={"path": "/private/var/at/tabs/root"},
    process={"pid": 7, "name": "crontab", "executable": "/usr/bin/crontab"},
)
CONNECTION = _doc(
    3,
    "network",
    event={"action": "connection_accepted", "type": ["start"]},
    source={"ip": "203.0.113.9", "port": 50123},
    destination={"ip": "192.168.1.20", "port": 11434},
    process={"pid": 9, "name": "ollama", "executable": "/usr/local/bin/ollama"},
)


def _capture(tmp_path: Path, *docs: dict[str, Any]) -> Path:
    path = tmp_path / "events.ndjson"
    path.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    return path


def test_documents_go_to_the_table_of_their_category(tmp_path: Path) -> None:
    reader = CaptureReader()
    reader.read_paths([_capture(tmp_path, CRONTAB, CONNECTION)])
    rows = reader.rows_by_host()["alice-macbook"]
    assert [(r["event_id"], r.get("file_path"), r.get("destination_port")) for r in rows] == [
        ("e1", "/private/var/at/tabs/root", None),  # a file row has no network columns
        ("e3", None, "11434"),
    ]


def test_a_file_rule_alerts_on_a_recorded_file_event_and_not_on_its_near_miss(
    tmp_path: Path,
) -> None:
    rule = _rule("privilege_escalation_root_crontab_filemod")
    result = replay([_capture(tmp_path, CRONTAB, CRONTAB_BY_CRONTAB)], [rule])
    hits = [(a["event"]["id"], a["file"]["path"]) for a in result.alerts]
    assert hits == [("e1", "/private/var/at/tabs/root")]  # crontab(1) itself is excluded
