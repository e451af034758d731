"""What Kibana and Elastic Agent need from compiled rules: the Osquery Manager pack's
``ecs_mapping`` and the detection rules ``ecsquery render --format kibana-rules`` writes.

**ecs_mapping under Elastic Agent.** osquerybeat copies a mapped column's value into the ECS
field as it is (elastic/beats ``x-pack/osquerybeat/internal/ecs/mapping.go`` ``Mapping.Map``,
commit 07c89e8bc1614887b59db33abeda0baaa0cf4ed3), after turning the values of INTEGER/BIGINT
columns into numbers when they parse and leaving every other value a string
(``internal/osqdcli/client.go`` ``resolveHitTypes``, commit
0409ebd037b08bc4348f8985ff6c62cc569f8a8a). So a column is mapped only when that raw value is
right for its ECS field's type; the others are left out (their raw values stay under
``osquery.*`` in the result document), see ``left_out``.

**Detection rules.** Kibana's rule import (``POST /api/detection_engine/rules/_import``, the
"Import rules" page) takes NDJSON, one rule per line, validated as ``ValidatedRuleToImport``
(elastic/kibana ``x-pack/solutions/security/plugins/security_solution/common/api/
detection_engine/rule_management/import_rules/rule_to_import.ts``, commit
265d1e29fc76f4b6cdc3a080d06652978f86578f): ``BaseRequiredFields`` (``name``, ``description``,
``risk_score``, ``severity``), the query rule's ``type``, ``rule_id`` and ``version``
(``model/rule_schema/rule_schemas.gen.ts``, commit fdfeb2bb4dc128420f22ebdb5cffa598b93cd102).
Two kinds are written:

- one *promotion* rule over ``logs-ecsquery.alert-*``, shaped like Elastic's vendor promotion
  rules (elastic/detection-rules ``rules/promotions/crowdstrike_external_alerts.toml``, commit
  818978975d374e4ad3b3e0b2b905948caf9204bd, and ``external_alerts.toml``, commit
  6d9eef48b02beface8c75689ad97c9df76f4c397): the alert's ``message`` names the Security
  alert, ``event.severity`` 21/47/73/99 sets its severity and ``event.risk_score`` its risk;
- for Elastic Agent fleets, one rule per compiled rule over ``logs-osquery_manager.result-*``
  selecting the results of that rule's pack query by ``action_id``, which osquerybeat sets to
  osquery's query name ``pack_<pack>_<query>`` (``beater/osquerybeat.go`` ``Publish(...,
  res.Name, ...)``, commit 7cdd37d66cfc7ed1eaa58bda254f93fce29ed116; ``pack_delimiter: "_"`` is
  a protected flag in ``internal/osqd/args.go``, commit 16d32e01dc37d3e24fbbe5cef3e2a6a2efc3c389),
  carrying the original rule's name, severity, risk score, threat, note, references and tags.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any

from ecsquery.alerts.ecs import ALERT_DATASET, ALERT_INDEX_PATTERN, SEVERITY_SCORES
from ecsquery.rules.model import PACK_NAME, Rule
from ecsquery.schema import TABLES, Column, EcsType, FieldTable, Table

RESULT_INDEX_PATTERN = "logs-osquery_manager.result-*"
"""Where osquerybeat writes scheduled results (``config.Datastream``: ``logs-`` +
``osquery_manager.result`` + ``-<namespace>``, ``internal/config/config.go``)."""

ALWAYS_SET = frozenset({"process_pid", "process_parent_pid"})
"""The numeric columns the extension fills for every event. Any other number column is ``""``
for some events (``process_exit_code`` before the exit, ``process_args_count`` on ``end``);
osquerybeat keeps such a value as the string ``""``, and a ``long`` mapping refuses it, which
loses the whole document."""


def constant_fields(fields: FieldTable) -> dict[str, list[str]]:
    """ECS fields the table's rows always hold the same value of, mapped as ``value`` (a real
    array) instead of the column's JSON text: a table's ``event.category`` (none for the rows
    of a sequence over several tables)."""
    served = {t.category for t in TABLES}
    return {"event.category": [fields.category]} if fields.category in served else {}


def tables_read(sql: str) -> list[Table]:
    """The extension's tables a pack query reads (``FROM <table>``), in ``TABLES`` order."""
    return [t for t in TABLES if re.search(rf"\bFROM {t.name}\b", sql)]


def result_fields(sql: str, fields: FieldTable) -> FieldTable:
    """The columns a pack query's rows carry: those of every table its SQL reads (one for a
    single-event rule, the step tables of a sequence), ``fields`` standing for its own table."""
    read = [fields if t.name == fields.name else FieldTable.of(t) for t in tables_read(sql)]
    if len(read) <= 1:
        return read[0] if read else fields
    columns = tuple({c.name: c for t in read for c in t.columns}.values())
    return FieldTable(table=Table(" ".join(t.name for t in read), "", columns))


_NAMESPACE = uuid.UUID("6b0b8f0e-5b7a-4f51-9d4c-0c7e6e1d6a51")
"""Namespace of the rule ids made here (uuid5), so a re-render keeps every id."""

PROMOTION_RULE_ID = str(uuid.uuid5(_NAMESPACE, "promotion:" + ALERT_DATASET))

_PROMOTION_NOTE = """## Triage and analysis

Each alert promotes one ecsquery alert document: an Elastic macOS detection rule, compiled to
osquery SQL by ecsquery, matched an event on the host. The document's `rule.*` fields name that
rule, `threat.*` carries its MITRE ATT&CK mapping, `rule.reference` its references and
`ecsquery.rule.note` its own investigation guide; `process.*`, `user.*` and `host.*` are the
event that matched.
"""

_PROMOTION_SETUP = """## Setup

Ship `ecsquery alerts` output into the `logs-ecsquery.alert-<namespace>` data stream (Elastic
Agent custom logs / filestream with the ndjson parser, or `_bulk` `create` into the data
stream).
If Elastic's generic External Alerts rule (eb079c62-4481-4d6e-9643-3ca499df7aaa) is enabled
too, add an exception for `data_stream.dataset: ecsquery.alert` there, or every alert is
promoted twice.
"""


def left_out(column: Column) -> str | None:
    """Why osquerybeat's raw copy would put a wrong value in ``column``'s ECS field, or None
    when the raw value is right for the field's type (keyword: any string)."""
    if column.array:
        return "JSON text such as '[\"start\"]', not an array"
    if column.ecs_type is EcsType.BOOLEAN:
        return 'an INTEGER column: the number 1/0 (or ""), which a boolean mapping rejects'
    if column.ecs_type is EcsType.DATE:
        return "osquerybeat stamps @timestamp itself (publish time)"
    if column.ecs_type is EcsType.IP:
        return '"" for events without that end (a bind), which an ip mapping rejects'
    if column.ecs_type is EcsType.LONG and column.name not in ALWAYS_SET:
        return '"" for events without a value, which a long mapping rejects'
    return None


def ecs_mapping(rule: Rule, fields: FieldTable) -> dict[str, dict[str, Any]]:
    """Kibana's ``ecs_mapping`` for osquerybeat: every column whose raw value is right for its
    ECS field, the constant fields, and the rule's identity and MITRE ids as values."""
    mapping: dict[str, dict[str, Any]] = {
        c.ecs: {"field": c.name} for c in fields.ecs_columns if c.ecs and left_out(c) is None
    }
    mapping.update({name: {"value": value} for name, value in constant_fields(fields).items()})
    mapping["rule.id"] = {"value": rule.rule_id}
    mapping["rule.name"] = {"value": rule.name}
    mapping["rule.version"] = {"value": str(rule.version)}
    ids: dict[str, list[str]] = {
        "threat.tactic.id": [],
        "threat.technique.id": [],
        "threat.technique.subtechnique.id": [],
    }
    for m in rule.mitre_ids:  # ECS: TA0006, T1555 and T1555.001 go in three fields
        kind = "tactic" if m[:2] == "TA" else "technique.subtechnique" if "." in m else "technique"
        ids[f"threat.{kind}.id"].append(m)
    mapping.update({name: {"value": v} for name, v in ids.items() if v})
    return mapping


def _severity_mapping() -> list[dict[str, str]]:
    return [
        {"field": "event.severity", "operator": "equals", "severity": name, "value": str(score)}
        for name, score in SEVERITY_SCORES.items()
    ]


def promotion_rule(lookback_seconds: int) -> dict[str, Any]:
    """The rule that turns every ecsquery alert document into an Elastic Security alert.

    ``timestamp_override: event.ingested`` as Elastic's promotion rules, so a late-shipped
    document is still seen; without ``event.ingested`` Kibana falls back to ``@timestamp``
    (the event's own time, up to a lookback before the alert), which ``from`` covers.
    """
    return {
        "rule_id": PROMOTION_RULE_ID,
        "name": "ecsquery External Alerts",
        "description": (
            "Generates a detection alert for each ecsquery alert (Elastic macOS detection rules"
            " run on osquery) written to logs-ecsquery.alert-*."
        ),
        "type": "query",
        "language": "kuery",
        "index": [ALERT_INDEX_PATTERN],
        # A sequence's building blocks ride under its shell alert, as Kibana hides them.
        "query": f"event.kind: alert and data_stream.dataset: {ALERT_DATASET}"
        " and not ecsquery.sequence.building_block_type: *",
        "severity": "medium",
        "risk_score": 47,
        "rule_name_override": "message",
        "timestamp_override": "event.ingested",
        "severity_mapping": _severity_mapping(),
        "risk_score_mapping": [{"field": "event.risk_score", "operator": "equals", "value": ""}],
        "interval": "1m",
        "from": f"now-{lookback_seconds + 300}s",
        "max_signals": 1000,
        "version": 1,
        "enabled": False,
        "author": ["ecsquery"],
        "license": "Apache-2.0",
        "tags": ["OS: macOS", "Data Source: Osquery", "Promotion: External Alerts"],
        "references": [],
        "threat": [],
        "note": _PROMOTION_NOTE,
        "setup": _PROMOTION_SETUP,
    }


def result_query_name(rule: Rule, pack: str = PACK_NAME) -> str:
    """osquery's name for a pack query, which osquerybeat writes as ``action_id``."""
    return f"pack_{pack}_{rule.slug}"


def result_rule(rule: Rule, pack: str = PACK_NAME) -> dict[str, Any]:
    """The Kibana query rule over Osquery Manager results of ``rule``'s pack query.

    Its ``rule_id`` is derived (uuid5), not the original's: importing a second rule with the id
    of an installed Elastic prebuilt rule would clash with it.
    """
    return {
        "rule_id": str(uuid.uuid5(_NAMESPACE, f"osquery_manager:{pack}:{rule.rule_id}")),
        "name": rule.name,
        "description": rule.description,
        "type": "query",
        "language": "kuery",
        "index": [RESULT_INDEX_PATTERN],
        "query": f'action_id: "{result_query_name(rule, pack)}"',
        "severity": rule.severity,
        "risk_score": rule.risk_score,
        "interval": rule.interval,
        "from": rule.from_,
        "max_signals": rule.max_signals,
        "version": rule.version,
        "enabled": False,
        "author": list(rule.author),
        "license": rule.license,
        "tags": [*rule.tags, "Data Source: Osquery Manager"],
        "references": list(rule.references),
        "false_positives": list(rule.false_positives),
        "threat": [t.to_dict() for t in rule.threat],
        "note": rule.note,
        "setup": rule.setup,
        "meta": {"ecsquery": {"rule_id": rule.rule_id, "pack": pack, "query": rule.slug}},
    }


def detection_rules(rules: Sequence[Rule], pack: str = PACK_NAME) -> list[dict[str, Any]]:
    """The promotion rule, then one Osquery Manager rule per rule, in the order given."""
    lookback = max((r.lookback_seconds for r in rules), default=0)
    return [promotion_rule(lookback), *(result_rule(r, pack) for r in rules)]
