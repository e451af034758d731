"""ECS alert documents (``ecsquery.alerts.ecs``): the golden document, every field typed as ECS
defines it, ``_bulk`` into the data stream, the one builder's bytes, and the replay →
promotion-rule path end to end."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from ecsquery.alerts.alert import AlertFactory, hit_uuid
from ecsquery.alerts.ecs import (
    ALERT_DATASET,
    SEVERITY_SCORES,
    EcsAlert,
    data_stream,
    namespace_error,
    threat_fields,
)
from ecsquery.alerts.output import AlertSink
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


FACTORY = AlertFactory()


def _alert(rule: Rule, obj: dict[str, Any], namespace: str = "default") -> dict[str, Any]:
    """The ECS document of a result line's one row, from the one alert builder."""
    info = line_info(obj, obj["name"])
    ((action, row),) = iter_rows(obj)
    parts = FACTORY.parts(rule, row, info, action, _uuid(rule, info.host_key, row))
    return EcsAlert(namespace).document(parts)


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


def _bulk(obj: dict[str, Any], **kw: Any) -> list[dict[str, Any]]:
    rule = load_rule(KEYCHAIN)
    info = line_info(obj, obj["name"])
    ((action, row),) = iter_rows(obj)
    out = io.BytesIO()
    sink = AlertSink(out, "bulk", **kw)
    sink.write_encoded([sink.encode(FACTORY.parts(rule, row, info, action, "id-1"))])
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def test_bulk_creates_into_the_data_stream() -> None:
    action, source = _bulk(_line(), namespace="prod")
    assert action == {"create": {"_index": "logs-ecsquery.alert-prod", "_id": "id-1"}}
    assert source["data_stream"]["namespace"] == "prod" and source["ecsquery"]["alert_id"] == "id-1"
    assert data_stream("prod") == "logs-ecsquery.alert-prod"
    other, _ = _bulk(_line(), index="alerts-x")
    assert other == {"create": {"_index": "alerts-x", "_id": "id-1"}}


def test_namespace_is_checked_as_fleet_does() -> None:
    """Kibana's isValidNamespace (cited in ``namespace_error``): a refused namespace would
    name a data stream nothing ships to."""
    assert namespace_error("default") is None and namespace_error("prod_eu1") is None
    assert namespace_error("") == "is empty"
    assert namespace_error("Prod") == "must be lowercase"
    assert namespace_error("a-b") is not None and namespace_error("a b") is not None
    assert namespace_error("x" * 101) == "is longer than 100 bytes"


def test_ecs_bytes_are_the_documents_bytes() -> None:
    """``EcsAlert.ndjson`` (the rule's part encoded once) is orjson's encoding of the document,
    on every line replay logs for the bundled capture."""
    rules = {r.slug: r for r in load_rules([RULES])[0]}
    shape = EcsAlert("prod")
    for raw in _replay_lines():
        obj = json.loads(raw)
        rule = rules[obj["name"].removeprefix("pack_ecsquery_")]
        info = line_info(obj, obj["name"])
        for action, row in iter_rows(obj):
            parts = FACTORY.parts(rule, row, info, action, "u")
            want = orjson.dumps(shape.document(parts), option=orjson.OPT_APPEND_NEWLINE)
            assert shape.ndjson(parts) == want


def test_threat_fields_of_a_rule_without_mitre() -> None:
    rule = load_rule(KEYCHAIN)
    assert threat_fields(rule.__class__(**{**rule.__dict__, "threat": ()})) == {}


def _id(doc: dict[str, Any]) -> str:
    alert_id: str = doc["ecsquery"]["alert_id"]
    return alert_id


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
    """``ecsquery replay`` of the bundled capture: its alerts, and ECS alerts of the same hits
    built from its result lines."""
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
            docs.append(EcsAlert().document(FACTORY.parts(rule, row, info, action, uuid)))
    return result.alerts, docs, rules


def test_replay_to_ecs_alerts_to_security_alerts(
    replayed: tuple[list[dict[str, Any]], list[dict[str, Any]], list[Rule]],
) -> None:
    alerts, docs, rules = replayed
    # replay's own alerts are these documents, under the same stable ids
    assert sorted(docs, key=_id) == sorted(alerts, key=_id)
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
    # a sequence's building block rides under its shell alert: ours does not promote it
    block = {**docs[0], "ecsquery": {**docs[0]["ecsquery"], "sequence": {"id": "s", "index": 0,
             "building_block_type": "default"}}}  # fmt: skip
    assert not evaluate(ours.where, block)
    assert set(SEVERITY_SCORES) == {"low", "medium", "high", "critical"}
    low = {**docs[0], "event": {**docs[0]["event"], "severity": 21, "risk_score": 5.0}}
    assert _promoted(promotion, low) == ("low", 5)
