"""Shared by the scenario and chain tests: the scenarios, their expectations, alert summaries."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ecsquery.rules.model import PACK_NAME

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = Path(__file__).parent / "scenarios"
SAMPLE = ROOT / "samples" / "capture.ndjson"
RULES = ROOT / "rules"


@dataclass(frozen=True)
class Scenario:
    name: str
    events: Path
    expected: dict[str, Any]

    @property
    def host(self) -> str:
        return str(self.expected["host"])

    def expected_hits(self) -> list[tuple[Any, ...]]:
        return sorted(hit_key(a) for a in self.expected["alerts"])


def scenarios(every: bool = False) -> list[Scenario]:
    """The stories the shipped rules decide (those naming extra corpus ``rules`` only if
    ``every``: they are not in ``samples/capture.ndjson``)."""
    found = [
        Scenario(d.name, d / "events.ndjson", yaml.safe_load((d / "expected.yaml").read_text()))
        for d in sorted(SCENARIOS.iterdir())
        if (d / "expected.yaml").is_file()
    ]
    return [s for s in found if every or not s.expected.get("rules")]


def hit_key(expected: dict[str, Any]) -> tuple[Any, ...]:
    process = expected["process"]
    return (
        expected["rule"],
        expected["host"],
        process["executable"],
        tuple(process["args"]),
        process["parent"],
        tuple(expected["mitre"]),
    )


def alert_key(alert: dict[str, Any]) -> tuple[Any, ...]:
    """An ECS alert in the terms an expectation states: rule slug, host, process, MITRE ids
    (tactics, techniques, subtechniques: ECS's ``threat.*`` arrays)."""
    slug = alert["ecsquery"]["rule"]["slug"]
    assert alert["osquery"]["name"] == f"pack_{PACK_NAME}_{slug}"
    process = alert.get("process") or {}
    threat = alert["threat"]
    technique = threat.get("technique") or {}
    mitre = [
        *threat["tactic"]["id"],
        *technique.get("id", []),
        *(technique.get("subtechnique") or {}).get("id", []),
    ]
    return (
        slug,
        alert["host"]["name"],
        process.get("executable"),
        tuple(process.get("args") or ()),
        (process.get("parent") or {}).get("executable"),
        tuple(mitre),
    )
