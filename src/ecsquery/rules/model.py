"""The rule model: everything an Elastic detection rule holds, in one immutable value.

Our YAML rule files and Elastic's detection-rules TOML (``[rule]`` table) share key names, so
both load through ``Rule.from_mapping``; only the file syntax differs (see ``load``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ecsquery.errors import RuleLoadError
from ecsquery.rules.exceptions import ExceptionItem

# Elastic's rule defaults (detection engine), used when a rule file leaves the key out.
DEFAULT_INTERVAL = "5m"
DEFAULT_FROM = "now-6m"
DEFAULT_MAX_SIGNALS = 100

PACK_NAME = "ecsquery"
"""The osquery pack every rule is scheduled in: result lines are named ``pack_ecsquery_<slug>``."""

_DURATION = re.compile(r"^(\d{1,30})([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_DURATION = 366 * 86400
"""Longest ``interval`` or lookback accepted (a year): osquery keeps events for its
``events_expiry`` (seconds to hours), a rule scheduled less than once a year never runs, and
larger values overflow osquery's 64-bit time arithmetic (``now-9223372036854775000s``)."""
MAX_SIGNALS = 10_000
"""Largest ``max_signals`` accepted. Kibana caps every rule's alerts per run at
``xpack.alerting.rules.run.alerts.max`` (default 1000, docs: Kibana alerting settings);
Elastic's promotion rules raise ``max_signals`` to that order, never to 10**20."""
RISK_SCORES = range(0, 101)
"""Elastic's ``risk_score`` is an integer from 0 to 100."""
MAX_NEW_TERMS_FIELDS = 3
"""Kibana's ``NewTermsFields`` holds 1 to 3 fields (``new_terms_attributes.schema.yaml``)."""


def duration_seconds(text: str) -> int:
    """Seconds in an Elastic duration (``5m``) or date-math lookback (``now-9m``)."""
    match = _DURATION.match(text.removeprefix("now-"))
    if not match:
        raise RuleLoadError(f"cannot read duration {text!r} (expected like '5m' or 'now-9m')")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _check_ranges(rule: Rule, where: str) -> None:
    """Refuse values that load but would overflow or misbehave when the rule runs."""
    for key, text in (("interval", rule.interval), ("from", rule.from_)):
        if key == "from" and not text.startswith("now-"):
            raise RuleLoadError(
                f"from: {text!r} is not a lookback like 'now-6m'", source=where, rule=rule.rule_id
            )
        try:
            seconds = duration_seconds(text)
        except RuleLoadError as exc:
            raise RuleLoadError(f"{key}: {exc.message}", source=where, rule=rule.rule_id) from exc
        if not 0 < seconds <= MAX_DURATION:
            raise RuleLoadError(
                f"{key}: {text!r} is out of range (1 second to {MAX_DURATION // 86400} days)",
                source=where,
                rule=rule.rule_id,
            )
    if not 1 <= rule.max_signals <= MAX_SIGNALS:
        raise RuleLoadError(
            f"max_signals: {rule.max_signals} is out of range (1 to {MAX_SIGNALS})",
            source=where,
            rule=rule.rule_id,
        )
    if rule.risk_score not in RISK_SCORES:
        raise RuleLoadError(
            f"risk_score: {rule.risk_score} is out of range (0 to 100)",
            source=where,
            rule=rule.rule_id,
        )


def _check_multi(rule: Rule, where: str) -> None:
    """A threshold or new_terms rule has its parameters, in Kibana's ranges
    (``threshold_attributes.schema.yaml``: value ≥ 1, cardinality value ≥ 0;
    ``new_terms_attributes.schema.yaml``: 1 to 3 fields, a history window start), and no other
    rule type carries them (Kibana's schema rejects them there; here they would be ignored)."""

    def fail(message: str) -> RuleLoadError:
        return RuleLoadError(message, source=where, rule=rule.rule_id)

    for key, value in (("threshold", rule.threshold), ("new_terms", rule.new_terms)):
        if value is None and rule.type == key:
            raise fail(f"missing [rule.{key}]: a {key} rule needs one")
        if value is not None and rule.type != key:
            raise fail(f"{key}: only a {key} rule has one, not a {rule.type} rule")
    if rule.threshold is not None:
        t = rule.threshold
        if t.value < 1 or any(v < 0 for _, v in t.cardinality):
            raise fail(f"threshold: value {t.value} must be ≥ 1, cardinality values ≥ 0")
        if not all(t.field) or not all(f for f, _ in t.cardinality):
            raise fail("threshold: a field name is empty")
    if rule.new_terms is not None:
        n = rule.new_terms
        if not 1 <= len(n.fields) <= MAX_NEW_TERMS_FIELDS or not all(n.fields):
            raise fail(f"new_terms: 1 to {MAX_NEW_TERMS_FIELDS} field names, got {list(n.fields)}")
        if not n.history_window_start.startswith("now-"):
            raise fail(
                f"new_terms: history_window_start {n.history_window_start!r} is not 'now-7d'"
            )
        try:
            seconds = duration_seconds(n.history_window_start)
        except RuleLoadError as exc:
            raise fail(f"new_terms: history_window_start: {exc.message}") from exc
        if not 0 < seconds <= MAX_DURATION:
            raise fail(
                f"new_terms: history_window_start {n.history_window_start!r} is out of range"
                f" (1 second to {MAX_DURATION // 86400} days)"
            )


def _items(value: Any) -> list[Any]:
    """One value or a list of them (Kibana's ``ThresholdField`` is a string or an array)."""
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _scalar(value: Any, key: str) -> str:
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise TypeError(f"{key}: expected a string, found a {type(value).__name__}")
    return str(value)


def _integer(value: Any, key: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{key}: expected an integer, found a {type(value).__name__}")
    return value


@dataclass(frozen=True)
class ThresholdParams:
    """A threshold rule's ``[rule.threshold]``: bucket fields (none = one bucket), the event
    count a bucket needs, and optionally a field whose distinct values it needs too."""

    field: tuple[str, ...]
    value: int
    cardinality: tuple[tuple[str, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Elastic's shape (detection-rules TOML, Kibana's API), read back by ``from_mapping``."""
        out: dict[str, Any] = {"field": list(self.field), "value": self.value}
        if self.cardinality:
            out["cardinality"] = [{"field": f, "value": v} for f, v in self.cardinality]
        return out

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ThresholdParams:
        cardinality = tuple(
            (
                _scalar(c["field"], "threshold.cardinality.field"),
                _integer(c["value"], "threshold.cardinality.value"),
            )
            for c in _items(data.get("cardinality"))
        )
        return cls(
            tuple(_scalar(f, "threshold.field") for f in _items(data.get("field"))),
            _integer(data["value"], "threshold.value"),
            cardinality,
        )


@dataclass(frozen=True)
class NewTermsParams:
    """A new_terms rule's ``[rule.new_terms]``: the term fields and how far back a tuple counts
    as seen (``history_window_start``, a lookback like ``now-7d``)."""

    fields: tuple[str, ...]
    history_window_start: str

    @property
    def history_seconds(self) -> int:
        return duration_seconds(self.history_window_start)

    def to_dict(self) -> dict[str, Any]:
        """detection-rules' TOML shape (``field = "new_terms_fields"`` and a list of one
        ``history_window_start`` entry), read back by ``from_mapping``."""
        return {
            "field": "new_terms_fields",
            "value": list(self.fields),
            "history_window_start": [
                {"field": "history_window_start", "value": self.history_window_start}
            ],
        }

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> NewTermsParams:
        history = _items(data.get("history_window_start"))
        if len(history) != 1:
            raise ValueError("new_terms: expected one history_window_start entry")
        return cls(
            tuple(_scalar(f, "new_terms.value") for f in _items(data.get("value"))),
            _scalar(history[0]["value"], "new_terms.history_window_start"),
        )


@dataclass(frozen=True)
class Ref:
    """A MITRE ATT&CK object: tactic, technique or subtechnique."""

    id: str
    name: str
    reference: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "reference": self.reference}


@dataclass(frozen=True)
class Technique(Ref):
    subtechnique: tuple[Ref, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = super().to_dict()
        if self.subtechnique:
            out["subtechnique"] = [s.to_dict() for s in self.subtechnique]
        return out


@dataclass(frozen=True)
class Threat:
    """One ``threat`` entry, shaped as Elastic's rules and alerts carry it."""

    framework: str
    tactic: Ref
    technique: tuple[Technique, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"framework": self.framework, "tactic": self.tactic.to_dict()}
        if self.technique:
            out["technique"] = [t.to_dict() for t in self.technique]
        return out

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Threat:
        def ref(d: Mapping[str, Any]) -> Ref:
            return Ref(str(d["id"]), str(d["name"]), str(d["reference"]))

        techniques = tuple(
            Technique(
                str(t["id"]),
                str(t["name"]),
                str(t["reference"]),
                tuple(ref(s) for s in t.get("subtechnique", ())),
            )
            for t in data.get("technique", ())
        )
        return cls(str(data["framework"]), ref(data["tactic"]), techniques)


_P = TypeVar("_P", ThresholdParams, NewTermsParams)


def _params(cls: type[_P], value: Any) -> _P | None:
    """A rule type's parameter table, or None when the rule has none."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a table, found a {type(value).__name__}")
    return cls.from_mapping(value)


@dataclass(frozen=True)
class Rule:
    """An Elastic detection rule. ``slug`` names its pack query (``pack_ecsquery_<slug>``)."""

    slug: str
    rule_id: str
    name: str
    description: str
    type: str
    language: str
    query: str
    severity: str
    risk_score: int
    index: tuple[str, ...] = ()
    interval: str = DEFAULT_INTERVAL
    from_: str = DEFAULT_FROM
    max_signals: int = DEFAULT_MAX_SIGNALS
    tags: tuple[str, ...] = ()
    author: tuple[str, ...] = ()
    license: str = ""
    version: int = 1
    references: tuple[str, ...] = ()
    note: str = ""
    setup: str = ""
    false_positives: tuple[str, ...] = ()
    threat: tuple[Threat, ...] = ()
    threshold: ThresholdParams | None = None
    """``[rule.threshold]`` of a threshold rule (and only of one)."""
    new_terms: NewTermsParams | None = None
    """``[rule.new_terms]`` of a new_terms rule (and only of one)."""
    exceptions: tuple[ExceptionItem, ...] = ()
    """Allowlist items from ``<slug>.exceptions.yaml`` and the directory's defaults (``load``)."""
    source: str = field(default="", compare=False)

    @property
    def interval_seconds(self) -> int:
        return duration_seconds(self.interval)

    @property
    def lookback_seconds(self) -> int:
        return duration_seconds(self.from_)

    @property
    def mitre_ids(self) -> tuple[str, ...]:
        """Tactic, technique and subtechnique ids in rule order, for pack metadata and tags."""
        ids: list[str] = []
        for t in self.threat:
            ids.append(t.tactic.id)
            for tech in t.technique:
                ids.append(tech.id)
                ids.extend(s.id for s in tech.subtechnique)
        return tuple(dict.fromkeys(ids))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, slug: str, source: str = "") -> Rule:
        """Build from our YAML keys or Elastic's TOML ``[rule]`` keys (the same names)."""

        def req(key: str) -> Any:
            if key not in data or data[key] in (None, ""):
                raise RuleLoadError(f"missing required key {key!r}", source=source or slug)
            return data[key]

        def strs(key: str) -> tuple[str, ...]:
            value = data.get(key) or ()
            if isinstance(value, str):
                value = (value,)
            if not isinstance(value, (list, tuple)):
                raise RuleLoadError(f"{key}: expected a list of strings", rule=source or slug)
            for item in value:
                if not isinstance(item, (str, int, float)):
                    kind = type(item).__name__
                    raise RuleLoadError(
                        f"{key}: expected a list of strings, found a {kind}", rule=source or slug
                    )
            return tuple(str(v) for v in value)

        def text(key: str, default: Any = "") -> str:
            value = data.get(key, default)
            if value is None:
                return ""
            if not isinstance(value, (str, int, float)):
                kind = type(value).__name__
                raise RuleLoadError(
                    f"{key}: expected a string, found a {kind}", rule=source or slug
                )
            return str(value)

        try:
            rule = cls(
                slug=slug,
                rule_id=text("rule_id", req("rule_id")),
                name=text("name", req("name")),
                description=text("description").strip(),
                type=text("type", req("type")),
                language=text("language") or ("kuery" if data["type"] == "query" else ""),
                query=text("query", req("query")),
                severity=text("severity", req("severity")),
                risk_score=int(req("risk_score")),
                index=strs("index"),
                interval=text("interval") or DEFAULT_INTERVAL,
                from_=text("from") or DEFAULT_FROM,
                max_signals=int(data.get("max_signals") or DEFAULT_MAX_SIGNALS),
                tags=strs("tags"),
                author=strs("author"),
                license=text("license"),
                version=int(data.get("version") or 1),
                references=strs("references"),
                note=text("note"),
                setup=text("setup"),
                false_positives=strs("false_positives"),
                threat=tuple(Threat.from_mapping(t) for t in data.get("threat") or ()),
                threshold=_params(ThresholdParams, data.get("threshold")),
                new_terms=_params(NewTermsParams, data.get("new_terms")),
                source=source,
            )
        except (KeyError, TypeError, ValueError, OverflowError, AttributeError) as exc:
            raise RuleLoadError(f"malformed rule: {exc!r}", source=source or slug) from exc
        _check_ranges(rule, source or slug)
        _check_multi(rule, source or slug)
        return rule

    def to_mapping(self) -> dict[str, Any]:
        """Our YAML shape: Elastic's key names, the query verbatim."""
        return {
            "rule_id": self.rule_id,
            "name": self.name,
            "description": self.description,
            "type": self.type,
            "language": self.language,
            "query": self.query,
            "index": list(self.index),
            "severity": self.severity,
            "risk_score": self.risk_score,
            "interval": self.interval,
            "from": self.from_,
            "max_signals": self.max_signals,
            "tags": list(self.tags),
            "author": list(self.author),
            "license": self.license,
            "version": self.version,
            "references": list(self.references),
            "note": self.note,
            "setup": self.setup,
            "false_positives": list(self.false_positives),
            "threat": [t.to_dict() for t in self.threat],
            **({"threshold": self.threshold.to_dict()} if self.threshold else {}),
            **({"new_terms": self.new_terms.to_dict()} if self.new_terms else {}),
        }
