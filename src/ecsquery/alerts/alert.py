"""A rule's hit (one result row) → an alert document shaped like Elastic Security's.

Field names follow Kibana's alerts-as-data documents: ``kibana.alert.*`` as dotted keys at the
top level, the event's ECS fields nested (``process.args`` a list again), the rule's MITRE
ATT&CK block as ``threat``. Two times: ``kibana.alert.original_time`` is the event's own time
(column ``timestamp``, else ``time``); ``@timestamp`` is when osquery produced the result row
(the line's ``unixTime``), which is the moment the alert could first be made and keeps the
output deterministic for the same input (a wall-clock ``now`` would not be).

``kibana.alert.uuid`` is stable: sha256 of rule id, host and the event's identity (its
``event_id`` column, else the row's content), so the same hit read twice — from an overlapping
lookback window, a re-read rotated file or a restart after a crash — gets the same id.

An alert is built as ``AlertParts``: its time, its rule's part (the same for every alert of
the rule: names, ``threat``, ``tags``, the multi-KB investigation note) and its own fields.
Output encodes the rule's part once per rule and splices it in, so the NDJSON bytes are those
of the whole document without paying for the rule's part per alert.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson

from ecsquery.alerts.nest import Nester, compile_nester
from ecsquery.alerts.resultlog import LineInfo, as_int
from ecsquery.rules.model import Rule
from ecsquery.schema import FieldTable

_SECONDS = tuple(f"{second:02d}.000Z" for second in range(60))


def iso_time(unix: int | None) -> str | None:
    """Unix seconds as Elastic writes dates (ISO 8601 UTC, milliseconds); None if no date."""
    if unix is None:
        return None
    try:
        return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    except (ValueError, OverflowError, OSError):
        return None


def row_identity(row: dict[str, Any]) -> str:
    """What makes a hit the same hit: the event id, else every column (numbers as text)."""
    event_id = row.get("event_id")
    if event_id not in (None, ""):
        return f"event.id:{event_id}"
    canonical = {k: v if isinstance(v, str) else str(v) for k, v in row.items()}
    return "row:" + orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS).decode()


def hit_uuid(run_key: str, row: dict[str, Any]) -> str:
    """``kibana.alert.uuid``: sha256 hex (as Elastic's own alert ids are) of the rule id and
    host (``run_key``: ``rule_id\\x1fhost``) and the hit's ``row_identity``."""
    return hashlib.sha256(f"{run_key}\x1f{row_identity(row)}".encode()).hexdigest()


def _names(value: Any) -> str | None:
    if value is None or value == [] or value == "":
        return None
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def _name(value: Any) -> str | None:
    """``_names`` with a plain non-empty string passed through (what the nester makes)."""
    return value if value.__class__ is str and value else _names(value)


def reason(doc: dict[str, Any], rule: RulePart) -> str:
    """Kibana's alert reason sentence (its ``alertReasonDescription`` template), same parts:
    ``doc`` is the nested event with ``host`` and ``event`` present."""
    category = _name(doc["event"].get("category"))
    text = f"{category} event" if category else "event"
    process = doc.get("process") or {}
    name = _name(process.get("name"))
    parent = _name((process.get("parent") or {}).get("name"))
    if name or parent:
        text += " with"
    if name:
        text += f" process {name},"
    if parent:
        text += f" parent process {parent},"
    user = _name((doc.get("user") or {}).get("name"))
    if user:
        text += f" by {user}"
    host = _name(doc["host"].get("name"))
    if host:
        text += f" on {host}"
    return text + rule.reason_end


def osquery_fields(info: LineInfo, action: str) -> dict[str, Any]:
    """Where the hit came from in the result log, so an analyst can find the line again."""
    return {
        "name": info.name,
        "action": action,
        "epoch": info.epoch,
        "counter": info.counter,
        "unix_time": info.unix_time,
        "decorations": info.decorations,
    }


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


class RulePart(NamedTuple):
    """What every alert of one rule shares, built once: as a dict and as JSON bytes."""

    fields: dict[str, Any]
    """``rule_fields(rule)``."""
    reason_end: str
    """The reason sentence's rule-given end: `` created high alert <name>.``"""
    json: bytes | None
    """``fields`` as JSON object members without the braces (the multi-KB note, ``threat``
    and ``tags`` encoded once, not per alert); None when a hit's own top-level field could
    replace one of them, so only encoding the whole document gives its bytes."""

    @classmethod
    def of(cls, rule: Rule, fields: FieldTable) -> RulePart:
        static = rule_fields(rule)
        tops = {c.ecs.split(".")[0] for c in fields.ecs_columns if c.ecs and c.ecs != "@timestamp"}
        # "," + members + "," : the hit's dict (never empty) then goes on without its "{".
        json = None if tops & static.keys() else b"," + orjson.dumps(static)[1:-1] + b","
        return cls(static, f" created {rule.severity} alert {rule.name}.", json)


class AlertParts(NamedTuple):
    """One alert as built: its time, its rule's shared part and its own fields, in that key
    order. ``to_dict`` is the document; ``to_ndjson`` its exact ``orjson`` bytes, made without
    re-encoding the rule's part."""

    timestamp: str | None
    rule: RulePart
    hit: dict[str, Any]
    """From ``kibana.alert.original_time`` on: reason, uuid, the nested event, ``osquery``."""

    @property
    def uuid(self) -> str:
        uuid: str = self.hit["kibana.alert.uuid"]
        return uuid

    def to_dict(self) -> dict[str, Any]:
        return {"@timestamp": self.timestamp, **self.rule.fields, **self.hit}

    def to_ndjson(self) -> bytes:
        """``orjson.dumps(self.to_dict(), option=OPT_APPEND_NEWLINE)``, byte for byte."""
        static = self.rule.json
        if static is None:
            return orjson.dumps(self.to_dict(), option=_LINE)
        hit = _dumps(self.hit, option=_LINE)[1:]
        return b"".join((b'{"@timestamp":', _dumps(self.timestamp), static, hit))


_LINE = orjson.OPT_APPEND_NEWLINE
_dumps = orjson.dumps


class AlertFactory:
    """The one alert builder: per rule its constant part (``RulePart``), per hit the nested
    event with the alert's host rules, times, reason, id and ``osquery`` block.

    ``nest`` turns a row into the nested ECS event: by default the nester compiled for the
    field table; ``ecsquery.testing.alert`` passes ``rows.from_row`` (the plain way) and
    property tests hold the two equal.
    """

    def __init__(self, fields: FieldTable | None = None, nest: Nester | None = None) -> None:
        self.fields = fields or FieldTable()
        self._nest = nest or compile_nester(self.fields)
        self._plans: dict[str, RulePart] = {}
        self._minutes: dict[int, str] = {}

    def _iso(self, unix: int | None) -> str | None:
        """``iso_time``, its minute cached: ``strftime`` per alert would cost ~2 µs."""
        if unix is None:
            return None
        minute, second = divmod(unix, 60)
        prefix = self._minutes.get(minute)
        if prefix is None:
            if len(self._minutes) >= 4096:
                self._minutes.clear()
            start = iso_time(minute * 60)  # "2023-11-14T22:13:00.000Z"
            prefix = self._minutes[minute] = start[:-7] if start else ""
        return prefix + _SECONDS[second] if prefix else None

    def rule_part(self, rule: Rule) -> RulePart:
        """What every alert of ``rule`` shares (made once per rule)."""
        plan = self._plans.get(rule.rule_id)
        if plan is None:
            plan = self._plans[rule.rule_id] = RulePart.of(rule, self.fields)
        return plan

    def parts(
        self, rule: Rule, row: dict[str, Any], info: LineInfo, action: str, uuid: str
    ) -> AlertParts:
        """The alert of one hit (``to_dict()`` is the document)."""
        plan = self.rule_part(rule)
        doc = self._nest(row)
        host = doc.get("host")
        if host is None:
            host = doc["host"] = {}
        host_name = info.host_name
        if host_name:
            host["name"] = host["hostname"] = host_name
        elif "name" in host:
            host["hostname"] = host["name"]
        if info.host_id:
            host["id"] = info.host_id
        event = doc.get("event")
        if event is None:
            event = doc["event"] = {}
        event["kind"] = "signal"
        made = self._iso(info.unix_time)
        original = doc.pop("@timestamp", None) or self._iso(as_int(row.get("time"))) or made
        hit = {
            "kibana.alert.original_time": original,
            "kibana.alert.reason": reason(doc, plan),
            "kibana.alert.uuid": uuid,
            **doc,
            "osquery": osquery_fields(info, action),
        }
        return AlertParts(made or original, plan, hit)
