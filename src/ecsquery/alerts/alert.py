"""A rule's hit (one result row) → the alert's core, which each document shape writes out.

The factory builds what every shape of an alert shares, once per hit (``AlertParts``): the
event's ECS fields nested (``process.args`` a list again) with the alert's host rules, its two
times, Kibana's reason sentence, the stable id and the ``osquery`` block. A ``Shape`` turns
that core into one kind of document: ``alerts.ecs.EcsAlert`` (the default, ECS ``event.kind:
alert`` for a ``logs-*`` data stream) or ``alerts.signal.KibanaSignal`` (the older imitation of
Kibana's internal ``kibana.alert.*`` fields). What a shape adds per rule (names, MITRE block,
tags, the multi-KB investigation note) it builds once per rule (``Shape.part``) and, for
NDJSON, encodes once and splices in, so the bytes are those of the whole document without
paying for the rule's part per alert.

Two times: ``original`` is the event's own time (the row's ``@timestamp`` field, else its
``time`` column), ``made`` when osquery produced the result row (the line's ``unixTime``):
the moment the alert could first be made, deterministic for the same input (a wall-clock
``now`` would not be).

The id is stable: sha256 of rule id, host and the event's identity (its ``event_id`` column,
else the row's content), so the same hit read twice — from an overlapping lookback window, a
re-read rotated file or a restart after a crash — gets the same id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Generic, NamedTuple, TypeVar

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
    """The alert id: sha256 hex (as Elastic's own alert ids are) of the rule id and
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


class RulePart:
    """What every alert of one rule shares whatever its shape, made once per rule, and each
    shape's own part of the rule, made on its first alert (``Shape.part``)."""

    __slots__ = ("reason_end", "rule", "shaped", "tops")

    def __init__(self, rule: Rule, tops: frozenset[str]) -> None:
        self.rule = rule
        self.reason_end = f" created {rule.severity} alert {rule.name}."
        """The reason sentence's rule-given end."""
        self.tops = tops
        """Top-level names the hit's nested event can have (from the field table): a shape
        whose pre-encoded rule part holds one of them encodes such alerts whole."""
        self.shaped: dict[Shape[Any], Any] = {}

    def members(self, fields: dict[str, Any], spliced: Iterable[str] = ()) -> bytes | None:
        """``fields`` encoded once as JSON object members, ``,``-framed for splicing into a
        hit's bytes; None when a hit's own top-level field could replace one of them (or of
        ``spliced``, the shape's other spliced keys), so only encoding the whole document
        gives its bytes."""
        if self.tops & (fields.keys() | set(spliced)):
            return None
        return b"," + orjson.dumps(fields)[1:-1] + b","


class AlertParts(NamedTuple):
    """One alert as built, the same for every shape: ``Shape.document`` makes it a document,
    ``Shape.ndjson`` its exact ``orjson`` bytes."""

    rule: RulePart
    made: str | None
    """When osquery produced the result row (``unixTime``), ISO 8601."""
    original: str | None
    """When the event happened (row ``@timestamp``, else ``time``, else ``made``)."""
    uuid: str
    reason: str
    doc: dict[str, Any]
    """The nested event, host rules applied; ``host`` and ``event`` always present. Shared:
    shapes copy what they add to, never change it."""
    osquery: dict[str, Any]
    multi: dict[str, Any] | None = None
    """What a multi-event rule's alert adds (``alerts.multi``): ``{"sequence": {...}}`` or
    ``{"threshold": {...}}`` in ecsquery's words; each shape writes it its own way."""


P = TypeVar("P")


class Shape(Generic[P]):
    """One kind of alert document over ``AlertParts``: a new shape is one subclass.

    ``rule_part`` builds the shape's per-rule part ``P`` (called once per rule and shape);
    ``document`` is the definition of the document; ``ndjson`` may be faster, with the same
    bytes as encoding ``document`` (property tests hold them equal); ``alert_id`` reads a
    written document's id back (follow mode's restart)."""

    default_index = ""
    """Where ``_bulk`` sends the documents unless told otherwise."""

    def rule_part(self, rule: RulePart) -> P:
        raise NotImplementedError

    def part(self, rule: RulePart) -> P:
        part: P | None = rule.shaped.get(self)
        if part is None:
            part = rule.shaped[self] = self.rule_part(rule)
        return part

    def document(self, alert: AlertParts) -> dict[str, Any]:
        raise NotImplementedError

    def ndjson(self, alert: AlertParts) -> bytes:
        return orjson.dumps(self.document(alert), option=LINE)

    def alert_id(self, doc: dict[str, Any]) -> str | None:
        raise NotImplementedError


LINE = orjson.OPT_APPEND_NEWLINE


class AlertFactory:
    """The one alert builder: per rule its ``RulePart``, per hit the nested event with the
    alert's host rules, times, reason, id and ``osquery`` block (``AlertParts``).

    ``nest`` turns a row into the nested ECS event: by default the nester compiled for the
    field table; ``ecsquery.testing.alert`` passes ``rows.from_row`` (the plain way) and
    property tests hold the two equal.
    """

    def __init__(self, fields: FieldTable | None = None, nest: Nester | None = None) -> None:
        self.fields = fields or FieldTable.union()  # rows of every table nest back
        self._nest = nest or compile_nester(self.fields)
        self._tops = frozenset(
            c.ecs.split(".")[0] for c in self.fields.ecs_columns if c.ecs and c.ecs != "@timestamp"
        )
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
            plan = self._plans[rule.rule_id] = RulePart(rule, self._tops)
        return plan

    def parts(
        self, rule: Rule, row: dict[str, Any], info: LineInfo, action: str, uuid: str
    ) -> AlertParts:
        """The alert of one hit (``Shape.document`` of it is a document)."""
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
        if doc.get("event") is None:
            doc["event"] = {}
        made = self._iso(info.unix_time)
        original = doc.pop("@timestamp", None) or self._iso(as_int(row.get("time"))) or made
        return AlertParts(
            plan, made, original, uuid, reason(doc, plan), doc, osquery_fields(info, action)
        )
