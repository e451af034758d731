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

from ecsquery.alerts.nest import compile_nester
from ecsquery.alerts.resultlog import LineInfo, as_int
from ecsquery.rows import from_row
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


def alert_uuid(rule_id: str, host_key: str, identity: str) -> str:
    """sha256 hex, as Elastic's own alert ids are."""
    return hashlib.sha256(f"{rule_id}\x1f{host_key}\x1f{identity}".encode()).hexdigest()


def _names(value: Any) -> str | None:
    if value is None or value == [] or value == "":
        return None
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def reason(rule: Rule, doc: dict[str, Any]) -> str:
    """Kibana's alert reason sentence (its ``alertReasonDescription`` template), same parts."""
    process = doc.get("process") or {}
    parent = process.get("parent") or {}
    category = _names((doc.get("event") or {}).get("category"))
    user = _names((doc.get("user") or {}).get("name"))
    host = _names((doc.get("host") or {}).get("name"))
    text = f"{category} event" if category else "event"
    pname, ppname = _names(process.get("name")), _names(parent.get("name"))
    if pname or ppname:
        text += " with"
    if pname:
        text += f" process {pname},"
    if ppname:
        text += f" parent process {ppname},"
    if user:
        text += f" by {user}"
    if host:
        text += f" on {host}"
    return f"{text} created {rule.severity} alert {rule.name}."


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
    json: bytes | None
    """``fields`` as JSON object members without the braces (the multi-KB note, ``threat``
    and ``tags`` encoded once, not per alert); None when a hit's own top-level field could
    replace one of them, so only encoding the whole document gives its bytes."""


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


def _rule_part(rule: Rule, fields: FieldTable) -> RulePart:
    static = rule_fields(rule)
    tops = {c.ecs.split(".")[0] for c in fields.ecs_columns if c.ecs and c.ecs != "@timestamp"}
    clash = tops & static.keys()
    # "," + members + "," : the hit's dict (never empty) then goes on without its "{".
    json = None if clash else b"," + orjson.dumps(static)[1:-1] + b","
    return RulePart(static, _reason_end(rule), json)


class AlertFactory:
    """Builds alerts: the compiled nester, and per rule its constant fields and reason ending.

    ``reference_alert`` below is the same document built the plain way (``rows.from_row``,
    ``reason``); a property test holds the two equal.
    """

    def __init__(self, fields: FieldTable | None = None) -> None:
        self.fields = fields or FieldTable()
        self._nest = compile_nester(self.fields)
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
            plan = self._plans[rule.rule_id] = _rule_part(rule, self.fields)
        return plan

    def build(
        self, rule: Rule, row: dict[str, Any], info: LineInfo, action: str, uuid: str
    ) -> dict[str, Any]:
        """The alert document."""
        return self.parts(rule, row, info, action, uuid).to_dict()

    def parts(
        self, rule: Rule, row: dict[str, Any], info: LineInfo, action: str, uuid: str
    ) -> AlertParts:
        """The alert, not yet joined into one document (see ``AlertParts``)."""
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
            "kibana.alert.reason": _reason_start(doc, event, host) + plan.reason_end,
            "kibana.alert.uuid": uuid,
            **doc,
            "osquery": osquery_fields(info, action),
        }
        return AlertParts(made or original, plan, hit)


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


def _reason_start(doc: dict[str, Any], event: dict[str, Any], host: dict[str, Any]) -> str:
    """``reason`` up to the rule's part, from the objects ``build`` already holds.

    Each value is used as is when it is a non-empty string (what the nester makes), else
    through ``_names`` as ``reason`` does.
    """
    category = event.get("category")
    if category.__class__ is list and len(category) == 1 and category[0].__class__ is str:
        category = category[0]
    elif category is not None:
        category = _names(category)
    text = f"{category} event" if category else "event"
    process = doc.get("process")
    if process:
        name = process.get("name")
        if name.__class__ is not str and name is not None:
            name = _names(name)
        parent = process.get("parent")
        parent_name = parent.get("name") if parent else None
        if parent_name.__class__ is not str and parent_name is not None:
            parent_name = _names(parent_name)
        if name:
            text += (
                f" with process {name}, parent process {parent_name},"
                if parent_name
                else (f" with process {name},")
            )
        elif parent_name:
            text += f" with parent process {parent_name},"
    user = doc.get("user")
    if user:
        user_name = user.get("name")
        if user_name.__class__ is not str and user_name is not None:
            user_name = _names(user_name)
        if user_name:
            text += f" by {user_name}"
    host_name = host.get("name")
    if host_name.__class__ is not str and host_name is not None:
        host_name = _names(host_name)
    if host_name:
        text += f" on {host_name}"
    return text


def _reason_end(rule: Rule) -> str:
    return f" created {rule.severity} alert {rule.name}."


def reference_alert(
    rule: Rule, row: dict[str, Any], info: LineInfo, action: str, uuid: str, fields: FieldTable
) -> dict[str, Any]:
    """The alert document built the plain way, step by step (what ``AlertFactory.build`` is
    held equal to): nest with ``from_row``, add host and kind, times, the reason."""
    doc = from_row(row, fields)
    host = doc.setdefault("host", {})
    if info.host_name:
        host["name"] = host["hostname"] = info.host_name
    elif "name" in host:
        host["hostname"] = host["name"]
    if info.host_id:
        host["id"] = info.host_id
    doc.setdefault("event", {})["kind"] = "signal"
    made = iso_time(info.unix_time)
    original = doc.pop("@timestamp", None) or iso_time(as_int(row.get("time"))) or made
    alert: dict[str, Any] = {"@timestamp": made or original}
    alert.update(rule_fields(rule))
    alert["kibana.alert.original_time"] = original
    alert["kibana.alert.reason"] = reason(rule, doc)
    alert["kibana.alert.uuid"] = uuid
    alert.update(doc)
    alert["osquery"] = osquery_fields(info, action)
    return alert
