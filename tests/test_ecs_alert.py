"""ECS alert documents (``ecsquery.alerts.ecs``): the golden document, every field typed as ECS
defines it, ``_bulk`` into the data stream, and the replay → promotion-rule path end to end."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from ecsquery.alerts.alert import hit_uuid
from ecsquery.alerts.ecs import (
    ALERT_DATASET,
    SEVERITY_SCORES,
    bulk_lines,
    data_stream,
    ecs_alert,
    threat_fields,
)
from ecsquery.alerts.resultlog import QueryIndex, iter_rows, line_info
from ecsquery.replay.run import replay
from ecsquery.rules import kibana
from ecsquery.rules.lang.kql import parse_kql
from ecsquery.rules.load import load_rule, load_rules
from ecsquery.rules.model import Rule

# The one import of the reference evaluator here: it moves to ecsquery.testing.reference (edges
# helper); change this line when that lands.
from ecsquery.testing.reference import evaluate
from scenario_support import RULES, SAMPLE

KEYCHAIN = RULES / "credential_access_dumping_keychain_security.yaml"

# ECS field types, from elastic/ecs generated/csv/fields.csv at commit
# b85f7573f0b48c03fddf90dad06fc743876f1b33 (subset: tests/fixtures/ecs-fields, SOURCES.md),
# which is built from schemas/event.yml (event.kind, .severity long, .risk_score float,
# .created date ...), rule.yml, threat.yml and data_stream.yml.
ECS_CSV = Path(__file__).parent / "fixtures" / "ecs-fields" / "ecs_fields_subset.csv"
ECS_TYPES = {row["Field"]: row["Type"] for row in csv.DictReader(ECS_CSV.open(encoding="utf-8"))}
CUSTOM = ("osquery.", "ecsquery.", "process.Ext.")
"""Not ECS: the result line's coordinates, ecsquery's own fields, Elastic Endpoint's ``Ext``."""


def _line() -> dict[str, Any]:
    """The first result line osqueryd logs for the bundled capture (from ``ecsquery replay``)."""
    line: dict[str, Any] = json.loads(_replay_lines()[0])
    return line


def _replay_lines() -> list[bytes]:
    rules, errors = load_rules([RULES])
    assert errors == []
    log = io.BytesIO()
    replay([SAMPLE], rules, results_log=log)
    return log.getvalue().splitlines()


def _alert(rule: Rule, obj: dict[str, Any], **kw: Any) -> dict[str, Any]:
    info = line_info(obj, obj["name"])
    ((action, row),) = iter_rows(obj)
    return ecs_alert(rule, row, info, action, _uuid(rule, info.host_key, row), **kw)


def _uuid(rule: Rule, host_key: str, row: dict[str, Any]) -> str:
    return hit_uuid(f"{rule.rule_id}\x1f{host_key}", row)


def test_golden_ecs_alert() -> None:
    rule = load_rule(KEYCHAIN)
    doc = _alert(rule, _line())
    assert doc["@timestamp"] == "2025-03-04T09:03:20.002Z"  # the event's own time
    assert doc["message"] == "Dumping of Keychain Content via Security Command"
    assert doc["data_stream"] == {
        "type": "logs",
        "dataset": "ecsquery.alert",
        "namespace": "default",
    }
    assert doc["event"] == {
        "category": ["process"],
        "type": ["start"],
        "action": "exec",
        "id": "es-400200002000-78806",
        "kind": "alert",
        "module": "ecsquery",
        "dataset": "ecsquery.alert",
        "severity": 73,
        "risk_score": 73.0,
        "reason": (
            "process event with process security, parent process zsh, on mac-replay"
            " created high alert Dumping of Keychain Content via Security Command."
        ),
        "created": "2025-03-04T09:05:00.000Z",  # osquery's unixTime of the result line
    }
    assert "ingested" not in doc["event"]  # arrival in Elasticsearch: its ingest pipeline's
    assert doc["rule"] == {
        "id": "565d6ca5-75ba-4c82-9b13-add25353471c",
        "uuid": "565d6ca5-75ba-4c82-9b13-add25353471c",
        "name": "Dumping of Keychain Content via Security Command",
        "version": "1",
        "description": rule.description,
        "ruleset": "Elastic detection rules (ecsquery)",
        "reference": ["https://ss64.com/osx/security.html"],
        "author": ["Elastic"],
        "license": "Elastic License v2",
        "category": ["Credential Access"],
    }
    assert doc["threat"] == {
        "framework": "MITRE ATT&CK",
        "tactic": {
            "id": ["TA0006"],
            "name": ["Credential Access"],
            "reference": ["https://attack.mitre.org/tactics/TA0006/"],
        },
        "technique": {
            "id": ["T1555"],
            "name": ["Credentials from Password Stores"],
            "reference": ["https://attack.mitre.org/techniques/T1555/"],
            "subtechnique": {
                "id": ["T1555.001"],
                "name": ["Keychain"],
                "reference": ["https://attack.mitre.org/techniques/T1555/001/"],
            },
        },
    }
    assert doc["tags"] == list(rule.tags)
    assert doc["process"]["args"] == ["security", "dump-keychain", "-d"]
    assert doc["process"]["code_signature"] == {
        "exists": True,
        "trusted": True,
        "signing_id": "com.apple.security",
    }
    assert doc["host"] == {
        "os": {"type": "macos"},
        "name": "mac-replay",
        "hostname": "mac-replay",
        "id": "544B2F7D-E3F8-53B7-82B8-EDEDDAEC8CD6",
    }
    assert doc["osquery"]["name"] == "pack_ecsquery_credential_access_dumping_keychain_security"
    # the investigation guide travels with the alert
    assert doc["ecsquery"]["rule"] == {"slug": rule.slug, "note": rule.note}
    assert doc["ecsquery"]["rule"]["note"].startswith("## Triage and analysis")
    host_key = "544B2F7D-E3F8-53B7-82B8-EDEDDAEC8CD6"  # host_uuid decoration
    assert doc["ecsquery"]["alert_id"] == _uuid(rule, host_key, _line()["columns"])
    assert doc["ecsquery"]["alert_id"] == (
        "9f5e5d9ecc73978b2876550814c88c5174afcd86ee45e006a72aa59133193cb2"
    )


def _leaves(doc: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _leaves(value, name + ".")
        else:
            yield name, value


def _is_text(v: Any) -> bool:
    return isinstance(v, str)


FITS: dict[str, Callable[[Any], bool]] = {
    "keyword": _is_text,
    "match_only_text": _is_text,
    "wildcard": _is_text,
    "constant_keyword": _is_text,
    "long": lambda v: type(v) is int,
    "float": lambda v: type(v) is float,
    "boolean": lambda v: type(v) is bool,
    "date": lambda v: isinstance(v, str) and v.endswith("Z") and v[10:11] == "T",
}
"""The JSON value each ECS type takes as-is (booleans as true/false, dates ISO 8601 UTC)."""


def _fits(ecs_type: str, value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    return bool(values) and all(FITS[ecs_type](v) for v in values)


def test_every_field_is_ecs_and_typed_as_ecs_says() -> None:
    rules = {r.slug: r for r in load_rules([RULES])[0]}
    for raw in _replay_lines():
        obj = json.loads(raw)
        rule = rules[obj["name"].removeprefix("pack_ecsquery_")]
        for name, value in _leaves(_alert(rule, obj)):
            if name.startswith(CUSTOM):
                continue
            assert name in ECS_TYPES, name
            assert _fits(ECS_TYPES[name], value), (name, value, ECS_TYPES[name])


def test_bulk_creates_into_the_data_stream() -> None:
    rule = load_rule(KEYCHAIN)
    doc = _alert(rule, _line(), namespace="prod")
    action, source = bulk_lines(doc).splitlines()
    assert orjson.loads(action) == {
        "create": {"_index": "logs-ecsquery.alert-prod", "_id": doc["ecsquery"]["alert_id"]}
    }
    assert orjson.loads(source) == doc
    assert data_stream("prod") == "logs-ecsquery.alert-prod"
    other = orjson.loads(bulk_lines(doc, index="alerts-x", op="index").splitlines()[0])
    assert other == {"index": {"_index": "alerts-x", "_id": doc["ecsquery"]["alert_id"]}}


def test_threat_fields_of_a_rule_without_mitre() -> None:
    rule = load_rule(KEYCHAIN)
    assert threat_fields(rule.__class__(**{**rule.__dict__, "threat": ()})) == {}


def _promoted(promotion: dict[str, Any], doc: dict[str, Any]) -> tuple[str, int]:
    """Severity and risk a promotion rule gives the Security alert of ``doc``: the
    severity_mapping entry whose value equals the field's value, else the rule's severity; the
    risk_score_mapping field's value when it is a score, else the rule's risk score (the
    mappings' meaning in detection-rules rules/promotions/external_alerts.toml)."""
    severity = promotion["severity"]
    for m in promotion["severity_mapping"]:
        if str(_get(doc, m["field"])) == m["value"]:
            severity = m["severity"]
    risk = promotion["risk_score"]
    for m in promotion["risk_score_mapping"]:
        value = _get(doc, m["field"])
        if isinstance(value, int | float) and 0 <= value <= 100:
            risk = int(value)
    return severity, risk


def _get(doc: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        doc = doc.get(part) if isinstance(doc, dict) else None  # type: ignore[assignment]
    return doc


@pytest.fixture(scope="module")
def replayed() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[Rule]]:
    """``ecsquery replay`` of the bundled capture: its alerts, and ECS alerts of the same hits."""
    rules, _ = load_rules([RULES])
    log = io.BytesIO()
    result = replay([SAMPLE], rules, results_log=log)
    index = QueryIndex(rules)
    docs = []
    for raw in log.getvalue().splitlines():
        obj = json.loads(raw)
        rule = index.resolve(obj["name"])
        assert rule is not None
        info = line_info(obj, obj["name"])
        for action, row in iter_rows(obj):
            uuid = _uuid(rule, info.host_key, row)
            docs.append(ecs_alert(rule, row, info, action, uuid))
    return result.alerts, docs, rules


def test_replay_to_ecs_alerts_to_security_alerts(
    replayed: tuple[list[dict[str, Any]], list[dict[str, Any]], list[Rule]],
) -> None:
    alerts, docs, rules = replayed
    # the same hits as the alert reader's, under the same stable ids
    assert sorted(d["ecsquery"]["alert_id"] for d in docs) == sorted(
        a["kibana.alert.uuid"] for a in alerts
    )
    assert len(docs) == 5
    external = parse_kql(
        "event.kind:alert and not event.module:(endgame or endpoint or cloud_defend)"
    )
    promotion = kibana.promotion_rule(540)
    ours = parse_kql(promotion["query"])
    by_id = {r.rule_id: r for r in rules}
    for doc in docs:
        assert evaluate(external.where, doc), doc["rule"]["name"]  # Elastic's External Alerts
        assert evaluate(ours.where, doc)  # and the promotion rule kibana-rules writes
        rule = by_id[doc["rule"]["id"]]
        assert _promoted(promotion, doc) == (rule.severity, rule.risk_score)
        assert doc["message"] == rule.name  # rule_name_override: the alert is named after it
        assert doc["data_stream"]["dataset"] == ALERT_DATASET
    # the queries can fail: an Elastic Endpoint alert, or our event without kind, is not promoted
    endpoint = {**docs[0], "event": {**docs[0]["event"], "module": "endpoint"}}
    assert not evaluate(external.where, endpoint)
    plain = {**docs[0], "event": {**docs[0]["event"], "kind": "event"}}
    assert not evaluate(ours.where, plain) and not evaluate(external.where, plain)
    assert set(SEVERITY_SCORES) == {"low", "medium", "high", "critical"}
    low = {**docs[0], "event": {**docs[0]["event"], "severity": 21, "risk_score": 5.0}}
    assert _promoted(promotion, low) == ("low", 5)
