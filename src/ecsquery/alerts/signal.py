"""The older alert shape, behind ``--format kibana-ndjson|kibana-bulk``: Kibana's internal
alerts-as-data fields imitated.

``kibana.alert.*`` as dotted keys at the top level, the event's ECS fields nested with
``event.kind: signal``, the rule's MITRE ATT&CK block as ``threat`` (Kibana's list form).
``@timestamp`` is when the alert was made (``AlertParts.made``), ``kibana.alert.original_time``
the event's time. Writing ``.alerts-security.*`` directly is not a supported interface, and
these documents lack what Kibana's alert search filters on; ``alerts.ecs`` is the supported
way in. Kept for whoever consumes this shape already.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson

from ecsquery.alerts.alert import LINE, AlertParts, RulePart, Shape
from ecsquery.rules.model import Rule

DEFAULT_INDEX = "ecsquery-alerts"


def rule_fields(rule: Rule) -> dict[str, Any]:
    """The part of every alert of a rule that does not depend on the hit (built once)."""
    threat = [t.to_dict() for t in rule.threat]
    return {
        "kibana.alert.rule.rule_id": rule.rule_id,
        "kibana.alert.rule.uuid": rule.rule_id,
        "kibana.alert.rule.name": rule.name,
        "kibana.alert.rule.version": rule.version,
        "kibana.alert.rule.references": list(rule.references),
        "kibana.alert.rule.description": rule.description,
        "kibana.alert.rule.note": rule.note,
        "kibana.alert.rule.type": rule.type,
        "kibana.alert.rule.severity": rule.severity,
        "kibana.alert.rule.risk_score": rule.risk_score,
        "kibana.alert.rule.threat": threat,
        "kibana.alert.severity": rule.severity,
        "kibana.alert.risk_score": rule.risk_score,
        "kibana.alert.status": "active",
        "kibana.alert.workflow_status": "open",
        "threat": threat,
        "tags": list(rule.tags),
    }


def multi_fields(multi: dict[str, Any]) -> dict[str, Any]:
    """Kibana's fields for a multi-event rule's alert (``AlertParts.multi``): a sequence's
    building block and shell (``build_alert_group_from_sequence.ts``), a threshold bucket's
    ``kibana.alert.threshold_result``."""
    out: dict[str, Any] = {}
    sequence = multi.get("sequence")
    if sequence is not None:
        out["kibana.alert.group.id"] = sequence["id"]
        if "index" in sequence:
            out["kibana.alert.group.index"] = sequence["index"]
            out["kibana.alert.building_block_type"] = sequence["building_block_type"]
    threshold = multi.get("threshold")
    if threshold is not None:
        out["kibana.alert.threshold_result"] = threshold
    if "new_terms" in multi:
        out["kibana.alert.new_terms"] = multi["new_terms"]
    return out


class SignalPart(NamedTuple):
    """The rule's fields, as a dict and as JSON bytes."""

    fields: dict[str, Any]
    json: bytes | None
    """``fields`` as JSON object members without the braces (the multi-KB note, ``threat``
    and ``tags`` encoded once, not per alert); None when a hit's own top-level field could
    replace one of them, so only encoding the whole document gives its bytes."""


class KibanaSignal(Shape[SignalPart]):
    """``@timestamp``, the rule's fields, then the hit's (``kibana.alert.original_time``,
    ``.reason``, ``.uuid``, the nested event, ``osquery``), in that key order."""

    default_index = DEFAULT_INDEX

    def rule_part(self, rule: RulePart) -> SignalPart:
        static = rule_fields(rule.rule)
        return SignalPart(static, rule.members(static))

    @staticmethod
    def _hit(alert: AlertParts) -> dict[str, Any]:
        doc = alert.doc
        return {
            "kibana.alert.original_time": alert.original,
            "kibana.alert.reason": alert.reason,
            "kibana.alert.uuid": alert.uuid,
            **(multi_fields(alert.multi) if alert.multi else {}),
            **doc,
            "event": {**doc["event"], "kind": "signal"},
            "osquery": alert.osquery,
        }

    def document(self, alert: AlertParts) -> dict[str, Any]:
        made = alert.made or alert.original
        return {"@timestamp": made, **self.part(alert.rule).fields, **self._hit(alert)}

    def ndjson(self, alert: AlertParts) -> bytes:
        static = self.part(alert.rule).json
        if static is None:
            return orjson.dumps(self.document(alert), option=LINE)
        hit = orjson.dumps(self._hit(alert), option=LINE)[1:]
        return b"".join(
            (b'{"@timestamp":', orjson.dumps(alert.made or alert.original), static, hit)
        )

    def alert_id(self, doc: dict[str, Any]) -> str | None:
        uuid = doc.get("kibana.alert.uuid")
        return uuid if isinstance(uuid, str) else None
