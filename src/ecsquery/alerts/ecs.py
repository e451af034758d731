"""A rule's hit → an ECS alert document, the supported way into Elastic Security.

Writing Kibana's internal ``.alerts-security.*`` shape is not an interface; third-party alerts
are ECS documents with ``event.kind: alert`` in a ``logs-*`` data stream, which a promotion rule
(Elastic's *External Alerts*, elastic/detection-rules ``rules/promotions/external_alerts.toml``,
or the one ``ecsquery render --format kibana-rules`` writes) turns into Security alerts. The
fields follow ECS (elastic/ecs ``schemas/``: ``event.yml``, ``rule.yml``, ``threat.yml``,
``data_stream.yml``):

- ``event.kind: alert``, ``event.module: ecsquery``, ``event.dataset: ecsquery.alert`` and
  ``data_stream.*`` naming the data stream ``logs-ecsquery.alert-<namespace>``;
- ``message`` is the rule's name (the promotion rule's ``rule_name_override``);
  ``event.severity`` the rule's severity on Elastic's 21/47/73/99 scale (its
  ``severity_mapping``), ``event.risk_score`` the rule's risk score (its ``risk_score_mapping``);
- times as ECS defines them: ``@timestamp`` is when the event happened (the row's
  ``timestamp``, else its ``time``), ``event.created`` when ecsquery's pipeline first saw it
  (osquery's ``unixTime`` of the result line: deterministic for the same input, unlike a
  wall clock), ``event.ingested`` is left to Elasticsearch's ingest pipeline (arrival time);
- ``rule.*`` (``id``, ``uuid``, ``name``, ``version``, ``description``, ``reference``,
  ``ruleset``, ``author``, ``license``, ``category``) and ``threat.*`` in ECS's flattened form
  (``threat.tactic.id`` etc. as arrays) from the rule's MITRE block; ``tags``; ``event.reason``;
- the hit's ECS event fields (``process.*``, ``user.*``, ``host.*`` …) nested as the field
  table says, the result line's coordinates under ``osquery.*`` and the investigation guide
  (``ecsquery.rule.note``, beside ``rule.reference``) under the custom ``ecsquery`` namespace.

The document id is the alert's stable uuid (``alert.alert_uuid``: rule, host, event), so the
``_bulk`` ``create`` of an alert sent twice is refused instead of indexed twice.
"""

from __future__ import annotations

from typing import Any

import orjson

from ecsquery.alerts.alert import RulePart, iso_time, osquery_fields, reason
from ecsquery.alerts.resultlog import LineInfo, as_int
from ecsquery.rows import from_row
from ecsquery.rules.model import Rule
from ecsquery.schema import FieldTable

ALERT_MODULE = "ecsquery"
ALERT_DATASET = "ecsquery.alert"
ALERT_INDEX_PATTERN = f"logs-{ALERT_DATASET}-*"
DEFAULT_NAMESPACE = "default"
RULESET = "Elastic detection rules (ecsquery)"

SEVERITY_SCORES = {"low": 21, "medium": 47, "high": 73, "critical": 99}
"""``event.severity`` per rule severity: the values Elastic's promotion rules map back
(``severity_mapping`` in ``external_alerts.toml``)."""


def data_stream(namespace: str = DEFAULT_NAMESPACE) -> str:
    """The data stream alerts go to (``logs-ecsquery.alert-<namespace>``)."""
    return f"logs-{ALERT_DATASET}-{namespace}"


def threat_fields(rule: Rule) -> dict[str, Any]:
    """ECS ``threat.*`` from the rule's MITRE block: each field an array over all entries."""
    if not rule.threat:
        return {}
    tactics = [t.tactic for t in rule.threat]
    techniques = [q for t in rule.threat for q in t.technique]
    subs = [s for q in techniques for s in q.subtechnique]

    def refs(items: list[Any]) -> dict[str, list[str]]:
        return {
            "id": [i.id for i in items],
            "name": [i.name for i in items],
            "reference": [i.reference for i in items],
        }

    threat: dict[str, Any] = {
        "framework": rule.threat[0].framework,
        "tactic": refs(tactics),
    }
    if techniques:
        threat["technique"] = refs(techniques)
        if subs:
            threat["technique"]["subtechnique"] = refs(subs)
    return threat


def rule_fields(rule: Rule) -> dict[str, Any]:
    """ECS ``rule.*`` (the part of every alert of a rule that does not depend on the hit)."""
    out: dict[str, Any] = {
        "id": rule.rule_id,
        "uuid": rule.rule_id,
        "name": rule.name,
        "version": str(rule.version),
        "description": rule.description,
        "ruleset": RULESET,
    }
    if rule.references:
        out["reference"] = list(rule.references)
    if rule.author:
        out["author"] = list(rule.author)
    if rule.license:
        out["license"] = rule.license
    categories = list(dict.fromkeys(t.tactic.name for t in rule.threat))
    if categories:
        out["category"] = categories
    return out


def ecs_alert(
    rule: Rule,
    row: dict[str, Any],
    info: LineInfo,
    action: str,
    uuid: str,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    fields: FieldTable | None = None,
) -> dict[str, Any]:
    """The ECS alert document for one hit (the same inputs as ``AlertFactory.build``)."""
    fields = fields or FieldTable()
    doc = from_row(row, fields)
    host = doc.setdefault("host", {})
    if info.host_name:
        host["name"] = host["hostname"] = info.host_name
    elif "name" in host:
        host["hostname"] = host["name"]
    if info.host_id:
        host["id"] = info.host_id
    made = iso_time(info.unix_time)
    happened = doc.pop("@timestamp", None) or iso_time(as_int(row.get("time"))) or made
    event = doc.setdefault("event", {})
    event.update(
        {
            "kind": "alert",
            "module": ALERT_MODULE,
            "dataset": ALERT_DATASET,
            "severity": SEVERITY_SCORES[rule.severity],
            "risk_score": float(rule.risk_score),
            "reason": reason(doc, RulePart.of(rule, fields)),
        }
    )
    if made:
        event["created"] = made
    alert: dict[str, Any] = {
        "@timestamp": happened,
        "message": rule.name,
        "data_stream": {"type": "logs", "dataset": ALERT_DATASET, "namespace": namespace},
        "rule": rule_fields(rule),
        "tags": list(rule.tags),
        **doc,
        "osquery": osquery_fields(info, action),
        "ecsquery": {"alert_id": uuid, "rule": {"slug": rule.slug, "note": rule.note}},
    }
    threat = threat_fields(rule)
    if threat:
        alert["threat"] = threat
    return alert


def bulk_lines(alert: dict[str, Any], *, index: str | None = None, op: str = "create") -> bytes:
    """``_bulk`` NDJSON for one ECS alert: ``create`` into its data stream (data streams take
    only ``create``), ``_id`` the alert's stable id. ``index`` overrides the data stream."""
    target = index or data_stream(alert["data_stream"]["namespace"])
    head = {op: {"_index": target, "_id": alert["ecsquery"]["alert_id"]}}
    line = orjson.OPT_APPEND_NEWLINE
    return orjson.dumps(head, option=line) + orjson.dumps(alert, option=line)
