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

A multi-event rule's alert adds its part under ``ecsquery`` (``alerts.multi``): a sequence's
building block ``ecsquery.sequence`` = ``{id, index, building_block_type: "default"}`` (Kibana's
``kibana.alert.group.id``/``.index`` and ``building_block_type``), its shell ``{id, length,
alerts}`` (the building blocks' ids); a threshold bucket ``ecsquery.threshold`` = ``{terms,
count, from, cardinality}`` (Kibana's ``kibana.alert.threshold_result``).

The document id is the alert's stable id (``alert.hit_uuid``: rule, host, event), so the
``_bulk`` ``create`` of an alert sent twice is refused instead of indexed twice.

``EcsAlert`` is this shape over the one builder's ``AlertParts``: the hit's core (nested event,
host rules, times, reason, id, ``osquery``) comes from ``AlertFactory``; what the shape adds per
rule (``message``, ``data_stream``, ``rule``, ``tags``, ``threat``, the ``event`` members, the
note) is built and encoded once per rule (``EcsPart``).
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import orjson

from ecsquery.alerts.alert import LINE, AlertParts, RulePart, Shape
from ecsquery.rules.model import Rule

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


_BAD_NAMESPACE = re.compile(r'[*\\/?"<>|\s,#:-]')


def namespace_error(namespace: str) -> str | None:
    """Why Fleet would refuse ``namespace`` for a data stream, None if it would not: Kibana's
    ``isValidNamespace`` (elastic/kibana ``x-pack/platform/plugins/shared/fleet/common/services/
    is_valid_namespace.ts`` at 116f5be1c7c189b6b943c9df1a403e04de7f4731): not empty, lowercase,
    none of ``*\\/?"<>|``, whitespace, ``,#:-``, at most 100 bytes."""
    if not namespace.strip():
        return "is empty"
    if namespace != namespace.lower():
        return "must be lowercase"
    if _BAD_NAMESPACE.search(namespace):
        return 'may not contain * \\ / ? " < > | , # : - or whitespace'
    if len(namespace.encode("utf-8", "surrogatepass")) > 100:
        return "is longer than 100 bytes"
    return None


class EcsPart(NamedTuple):
    """An ECS alert's part that depends only on the rule (and the shape's namespace)."""

    head: dict[str, Any]
    """``message``, ``data_stream``, ``rule``, ``tags``, ``threat``: before the hit's fields."""
    event: dict[str, Any]
    """``event.kind``, ``.module``, ``.dataset``, ``.severity``, ``.risk_score``."""
    ecsquery_rule: dict[str, Any]
    """``ecsquery.rule``: the rule's file slug and its investigation guide."""
    head_json: bytes | None
    """``head`` as JSON members, ``,`` before and after; None when a hit's top-level field
    could replace one of them (then only the whole document gives the bytes)."""
    rule_json: bytes


class EcsAlert(Shape[EcsPart]):
    """The ECS alert document (keys: ``@timestamp``, ``EcsPart.head``, the nested event with
    its ``event`` completed, ``osquery``, ``ecsquery``)."""

    def __init__(self, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.namespace = namespace
        self.default_index = data_stream(namespace)

    def rule_part(self, rule: RulePart) -> EcsPart:
        r = rule.rule
        head: dict[str, Any] = {
            "message": r.name,
            "data_stream": {"type": "logs", "dataset": ALERT_DATASET, "namespace": self.namespace},
            "rule": rule_fields(r),
            "tags": list(r.tags),
        }
        threat = threat_fields(r)
        if threat:
            head["threat"] = threat
        event = {
            "kind": "alert",
            "module": ALERT_MODULE,
            "dataset": ALERT_DATASET,
            "severity": SEVERITY_SCORES[r.severity],
            "risk_score": float(r.risk_score),
        }
        ours = {"slug": r.slug, "note": r.note}
        head_json = rule.members(head, ("osquery", "ecsquery"))
        return EcsPart(head, event, ours, head_json, orjson.dumps(ours))

    @staticmethod
    def _hit(alert: AlertParts, part: EcsPart) -> dict[str, Any]:
        doc = alert.doc
        event = {**doc["event"], **part.event, "reason": alert.reason}
        if alert.made:
            event["created"] = alert.made
        return {**doc, "event": event, "osquery": alert.osquery}

    def document(self, alert: AlertParts) -> dict[str, Any]:
        part = self.part(alert.rule)
        return {
            "@timestamp": alert.original,
            **part.head,
            **self._hit(alert, part),
            "ecsquery": {"alert_id": alert.uuid, "rule": part.ecsquery_rule, **(alert.multi or {})},
        }

    def ndjson(self, alert: AlertParts) -> bytes:
        part = self.part(alert.rule)
        if part.head_json is None or alert.multi:
            return orjson.dumps(self.document(alert), option=LINE)
        hit = orjson.dumps(self._hit(alert, part))
        return b"".join(
            (
                b'{"@timestamp":',
                orjson.dumps(alert.original),
                part.head_json,
                hit[1:-1],
                b',"ecsquery":{"alert_id":',
                orjson.dumps(alert.uuid),
                b',"rule":',
                part.rule_json,
                b"}}\n",
            )
        )

    def alert_id(self, doc: dict[str, Any]) -> str | None:
        ours = doc.get("ecsquery")
        uuid = ours.get("alert_id") if isinstance(ours, dict) else None
        return uuid if isinstance(uuid, str) else None
