"""Pack rendering: structure of each format, values that survive any text, committed packs fresh."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from ecsquery import osquery_sqlite
from ecsquery.errors import EcsqueryError
from ecsquery.replay.events import DEFAULT_HOST, CaptureReader
from ecsquery.rules import kibana
from ecsquery.rules.compile import compile_rules
from ecsquery.rules.load import load_rule, load_rules
from ecsquery.rules.model import Rule
from ecsquery.rules.render import (
    MIN_OSQUERY_VERSION,
    RenderedFile,
    js,
    render_packs,
    write_packs,
    ys,
)
from ecsquery.schema import COLUMNS, TIME_COLUMN, EcsType, FieldTable, OsqueryType
from scenario_support import SAMPLE

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules"
PACKS = ROOT / "packs"
SYSTEMKEY = RULES / "credential_access_systemkey_dumping.yaml"


@dataclass(frozen=True)
class Fake:
    """A CompiledRule stand-in: rendering needs only the rule and its SQL."""

    rule: Rule
    sql: str


NASTY = "SELECT 1 WHERE x = 'it''s \"q\" \\ %_*?[ \n\t é 😀 \u2028 -- }} {{ {% %}'"


def _fake(sql: str = NASTY, **changes: object) -> Fake:
    rule = replace(load_rule(SYSTEMKEY), **changes)  # type: ignore[arg-type]
    return Fake(rule, sql)


def _files(compiled: list[Fake]) -> dict[str, str]:
    return {str(f.path): f.text for f in render_packs(compiled)}


def test_osquery_pack_shape() -> None:
    files = _files([_fake()])
    assert set(files) == {
        "osquery/ecsquery.conf",
        "fleet/ecsquery.yml",
        "fleet/lib/ecsquery.reports.yml",
        "kibana/ecsquery.json",
        "kibana-rules/ecsquery.ndjson",
    }
    pack = json.loads(files["osquery/ecsquery.conf"])
    assert pack["platform"] == "darwin" and pack["version"] == MIN_OSQUERY_VERSION
    q = pack["queries"]["credential_access_systemkey_dumping"]
    assert q["query"] == NASTY
    assert (q["interval"], q["removed"], q["snapshot"]) == (300, False, False)
    # query-level "version" is the minimum osquery version (osquery skips newer ones),
    # never the rule's version (207 would switch the query off)
    assert q["version"] == MIN_OSQUERY_VERSION and q["platform"] == "darwin"
    assert q["description"].startswith("SystemKey Access via Command Line (Elastic rule d759")
    assert q["ecsquery"] == {
        "rule_id": "d75991f2-b989-419d-b797-ac1e54ec2d61",
        "name": "SystemKey Access via Command Line",
        "version": 207,
        "severity": "high",
        "risk_score": 73,
        "mitre": ["TA0006", "T1555", "T1555.001"],
        "interval": 300,
        "lookback": 540,
    }


def test_fleet_documents() -> None:
    files = _files([_fake(), _fake("SELECT 2", slug="second")])
    docs = list(yaml.safe_load_all(files["fleet/ecsquery.yml"]))
    assert [d["kind"] for d in docs] == ["query", "query"]
    assert docs[0] == {
        "apiVersion": "v1",
        "kind": "query",
        "spec": {
            "name": "credential_access_systemkey_dumping",
            "description": json.loads(files["osquery/ecsquery.conf"])["queries"][
                "credential_access_systemkey_dumping"
            ]["description"],
            "query": NASTY,
            "platform": "darwin",
            "interval": 300,
            "min_osquery_version": MIN_OSQUERY_VERSION,
            "logging": "differential_ignore_removals",
            "automations_enabled": True,
            "observer_can_run": False,
        },
    }
    assert docs[1]["spec"]["name"] == "second" and docs[1]["spec"]["query"] == "SELECT 2"


def test_kibana_pack_and_ecs_mapping() -> None:
    # Follows Kibana's pack API body, io-ts createPackRequestBodySchema (elastic/kibana
    # x-pack/platform/plugins/shared/osquery/common/api/packs/create_pack_route.ts, commit
    # 4926f7c08828a5e33b42b3381021c9c522c98425) and packQueryRecordRt (shared_schemas.ts,
    # commit a51c70dc23078cee7f249b7977415b2e50f16dad): `name` required; queries a record of
    # {query (required), interval, snapshot, removed, platform, version, ecs_mapping}. There is
    # no min_osquery_version: `version` is osquery's minimum version, as in osquery packs.
    pack = json.loads(_files([_fake()])["kibana/ecsquery.json"])
    assert set(pack) == {"name", "description", "enabled", "queries"}
    assert pack["name"] == "ecsquery" and pack["enabled"] is True
    q = pack["queries"]["credential_access_systemkey_dumping"]
    assert set(q) <= PACK_QUERY_KEYS and "query" in q
    assert q["query"] == NASTY
    assert (q["interval"], q["platform"], q["version"]) == (300, "darwin", MIN_OSQUERY_VERSION)
    for target, source in q["ecs_mapping"].items():  # {field} or {value: string | string[]}
        assert set(source) in ({"field"}, {"value"}), target
        value = source.get("value", "")
        assert isinstance(value, str) or all(isinstance(v, str) for v in value), target
    fields = {k: v["field"] for k, v in q["ecs_mapping"].items() if "field" in v}
    assert fields == {
        "event.action": "event_action",
        "event.id": "event_id",
        "host.os.type": "host_os_type",
        "host.name": "host_name",
        "process.pid": "process_pid",
        "process.entity_id": "process_entity_id",
        "process.executable": "process_executable",
        "process.name": "process_name",
        "process.command_line": "process_command_line",
        "process.working_directory": "process_working_directory",
        "process.previous.executable": "process_previous_executable",
        "process.code_signature.signing_id": "process_code_signature_signing_id",
        "process.code_signature.team_id": "process_code_signature_team_id",
        "process.parent.pid": "process_parent_pid",
        "process.parent.entity_id": "process_parent_entity_id",
        "process.parent.executable": "process_parent_executable",
        "process.parent.name": "process_parent_name",
        "process.parent.command_line": "process_parent_command_line",
        "process.Ext.effective_parent.entity_id": "process_effective_parent_entity_id",
        "process.Ext.effective_parent.executable": "process_effective_parent_executable",
        "process.Ext.effective_parent.name": "process_effective_parent_name",
        "user.id": "user_id",
        "user.name": "user_name",
        "user.effective.id": "user_effective_id",
        "group.id": "group_id",
    }
    assert q["ecs_mapping"]["event.category"] == {"value": ["process"]}
    assert q["ecs_mapping"]["rule.id"] == {"value": "d75991f2-b989-419d-b797-ac1e54ec2d61"}
    assert q["ecs_mapping"]["threat.technique.id"] == {"value": ["T1555"]}
    assert q["ecs_mapping"]["threat.technique.subtechnique.id"] == {"value": ["T1555.001"]}
    assert q["ecs_mapping"]["threat.tactic.id"] == {"value": ["TA0006"]}


PACK_QUERY_KEYS = {
    "query",
    "interval",
    "snapshot",
    "removed",
    "platform",
    "version",
    "ecs_mapping",
    "schedule_type",
    "rrule_schedule",
}


def _osquerybeat_doc(mapping: dict[str, dict[str, Any]], row: dict[str, str]) -> dict[str, Any]:
    """What osquerybeat indexes for a result row under ``mapping``, as its Go code does.

    resolveHitTypes (elastic/beats x-pack/osquerybeat/internal/osqdcli/client.go, commit
    0409ebd037b08bc4348f8985ff6c62cc569f8a8a): a BIGINT/INTEGER column's value becomes an int
    when strconv.ParseInt takes it, every other value stays the string osquery logged;
    Mapping.Map (internal/ecs/mapping.go, commit 07c89e8bc1614887b59db33abeda0baaa0cf4ed3): a
    `value` is set as is, a `field` copies the resolved column value, absent columns skipped.
    """
    types = {c.name: c.type for c in COLUMNS}
    hit: dict[str, Any] = {}
    for name, text in row.items():
        hit[name] = text
        if types.get(name) in (OsqueryType.BIGINT, OsqueryType.INTEGER):
            with contextlib.suppress(ValueError):
                hit[name] = int(text, 10)
    out: dict[str, Any] = {}
    for target, source in mapping.items():
        if "value" in source:
            out[target] = source["value"]
        elif source["field"] in hit:
            out[target] = hit[source["field"]]
    return out


def _type_errors(doc: dict[str, Any]) -> set[str]:
    """ECS fields whose value the field's Elasticsearch type refuses or misreads."""
    by_ecs = {c.ecs: c for c in COLUMNS if c.ecs}
    bad = set()
    for name, value in doc.items():
        column = by_ecs.get(name)
        ecs_type = column.ecs_type if column else EcsType.KEYWORD
        values = value if isinstance(value, list) else [value]
        if column is not None and column.array and not isinstance(value, list):
            bad.add(name)  # JSON text indexed as one keyword, never matched element-wise
        elif ecs_type is EcsType.KEYWORD and not all(isinstance(v, str) for v in values):
            bad.add(name)
        elif ecs_type is EcsType.LONG and not all(type(v) is int for v in values):
            bad.add(name)  # "" or text: mapper_parsing_exception, the document is lost
        elif ecs_type is EcsType.BOOLEAN and not all(type(v) is bool for v in values):
            bad.add(name)  # 1/0 numbers: a boolean field takes only true/false
        elif ecs_type is EcsType.DATE:
            bad.add(name)  # osquerybeat stamps @timestamp itself
    return bad


def _capture_rows() -> list[dict[str, str]]:
    """Every row the extension serves for the bundled capture (samples/capture.ndjson, real
    eslogger/EndpointSecurity events), as osquery logs them: every value a string."""
    capture = CaptureReader("auto", DEFAULT_HOST)
    capture.read_paths([SAMPLE])
    rows = [r for host_rows in capture.rows_by_host().values() for r in host_rows]
    assert len(rows) == 52 and all(isinstance(v, str) for r in rows for v in r.values())
    return rows


def test_kibana_ecs_mapping_survives_osquerybeats_raw_copy() -> None:
    rows = _capture_rows()
    rule = load_rule(SYSTEMKEY)
    mapping = kibana.ecs_mapping(rule, FieldTable())
    for row in rows:
        doc = _osquerybeat_doc(mapping, row)
        assert _type_errors(doc) == set(), row["event_id"]
        assert doc["process.pid"] == int(row["process_pid"])
    # the check can fail: mapping every column (the previous pack) breaks these fields
    naive = {c.ecs: {"field": c.name} for c in COLUMNS if c.ecs}
    broken = set().union(*(_type_errors(_osquerybeat_doc(naive, r)) for r in rows))
    assert broken == {
        "@timestamp",
        "event.category",
        "event.type",
        "process.args",
        "process.parent.args",
        "process.env_vars",
        "process.args_count",
        "process.exit_code",
        "process.code_signature.exists",
        "process.code_signature.trusted",
        "process.parent.code_signature.exists",
        "process.parent.code_signature.trusted",
        "process.Ext.effective_parent.pid",
    }
    # the constant really is constant, and the left-out columns are the ones the rule names
    assert {r["event_category"] for r in rows} == {'["process"]'}
    left = {c.name: kibana.left_out(c) for c in COLUMNS if c.ecs}
    assert {n for n, why in left.items() if why} == {
        by.name for by in COLUMNS if by.ecs and by.ecs in broken
    }


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_survives_every_format(text: str) -> None:
    """Values are serialized in Python, so no text can break or change a pack's structure."""
    files = _files([_fake(text, name=text)])
    assert (
        json.loads(files["osquery/ecsquery.conf"])["queries"][
            "credential_access_systemkey_dumping"
        ]["query"]
        == text
    )
    assert json.loads(files["kibana/ecsquery.json"])["queries"][
        "credential_access_systemkey_dumping"
    ]["ecs_mapping"]["rule.name"] == {"value": text}
    (doc,) = yaml.safe_load_all(files["fleet/ecsquery.yml"])
    assert doc["spec"]["query"] == text
    assert yaml.safe_load(files["fleet/lib/ecsquery.reports.yml"])[0]["query"] == text
    _, result = files["kibana-rules/ecsquery.ndjson"].splitlines()
    assert json.loads(result)["name"] == text


@given(st.one_of(st.text(), st.integers(), st.booleans()))
def test_scalar_serializers(value: str | int | bool) -> None:
    assert json.loads(js(value)) == value
    assert yaml.safe_load(f"k: {ys(value)}") == {"k": value}
    assert "\n" not in ys(value)


def test_bad_slugs_are_refused() -> None:
    with pytest.raises(EcsqueryError, match="letters, digits"):
        render_packs([_fake(slug="a b")])
    with pytest.raises(EcsqueryError, match="same slug"):
        render_packs([_fake(), _fake()])
    with pytest.raises(EcsqueryError, match="unknown pack format"):
        render_packs([_fake()], ["splunk"])


def test_missing_template_variable_fails(tmp_path: Path) -> None:
    (tmp_path / "osquery.conf.j2").write_text("{{ nope }}")
    with pytest.raises(Exception, match="nope"):
        render_packs([_fake()], ["osquery"], templates=tmp_path)


def _committed_vs_fresh(tmp_path: Path) -> tuple[list[RenderedFile], list[Path]]:
    rules, errors = load_rules([RULES])
    compiled, compile_errors = compile_rules(rules)
    assert errors == [] and compile_errors == []
    files = render_packs(compiled)
    return files, write_packs(files, tmp_path)


def test_committed_packs_are_fresh(tmp_path: Path) -> None:
    files, written = _committed_vs_fresh(tmp_path)
    assert len(written) == 5
    for f, path in zip(files, written, strict=True):
        committed = PACKS / f.path
        assert committed.exists(), f"{committed} missing: run `make packs`"
        assert committed.read_text(encoding="utf-8") == path.read_text(encoding="utf-8"), (
            f"{committed} is stale: run `make packs` and commit the result"
        )


def test_rendered_pack_queries_run_in_sqlite(tmp_path: Path) -> None:
    """The SQL as written in the committed osquery pack runs against the extension's schema."""
    files, _ = _committed_vs_fresh(tmp_path)
    pack = json.loads(next(f.text for f in files if f.path.name == "ecsquery.conf"))
    now = 1_700_000_000
    db = osquery_sqlite.connect(now)
    base = {
        "event_category": '["process"]',
        "event_type": '["start"]',
        "host_os_type": "macos",
    }
    rows = [
        {**base, TIME_COLUMN: str(now - 60), "process_args": '["cat", "/var/db/SystemKey"]'},
        {**base, TIME_COLUMN: str(now - 60), "process_args": '["security", "dump-keychain", "-d"]'},
        {**base, TIME_COLUMN: str(now - 600), "process_args": '["cat", "/var/db/SystemKey"]'},
    ]
    osquery_sqlite.insert_rows(db, rows)
    hits = {name: db.execute(q["query"]).fetchall() for name, q in pack["queries"].items()}
    # one hit each; the SystemKey read 600 s ago is outside the 540 s lookback
    assert [len(h) for h in hits.values()] == [1, 1]
    assert "/var/db/SystemKey" in hits["credential_access_systemkey_dumping"][0][12]
    assert "dump-keychain" in hits["credential_access_dumping_keychain_security"][0][12]


# Kibana's rule import (POST /api/detection_engine/rules/_import) validates each NDJSON line as
# ValidatedRuleToImport (elastic/kibana x-pack/solutions/security/plugins/security_solution/
# common/api/detection_engine/rule_management/import_rules/rule_to_import.ts, commit
# 265d1e29fc76f4b6cdc3a080d06652978f86578f): BaseRequiredFields name, description, risk_score,
# severity, QueryRuleRequiredFields type "query" (model/rule_schema/rule_schemas.gen.ts,
# commit fdfeb2bb4dc128420f22ebdb5cffa598b93cd102), rule_id, and version.
IMPORT_REQUIRED = {"name", "description", "risk_score", "severity", "type", "rule_id", "version"}
SEVERITIES = {"low", "medium", "high", "critical"}


def _import_lines(text: str) -> list[dict[str, Any]]:
    assert text.endswith("\n")
    lines = [json.loads(line) for line in text.splitlines()]
    for rule in lines:
        assert set(rule) >= IMPORT_REQUIRED, rule["name"]
        assert rule["type"] == "query" and rule["language"] == "kuery"
        assert rule["severity"] in SEVERITIES and 0 <= rule["risk_score"] <= 100
        assert isinstance(rule["version"], int) and rule["version"] >= 1
    return lines


def test_kibana_rules_promotion_rule() -> None:
    promotion, _ = _import_lines(_files([_fake()])["kibana-rules/ecsquery.ndjson"])
    # shaped like detection-rules rules/promotions/crowdstrike_external_alerts.toml (commit
    # 818978975d374e4ad3b3e0b2b905948caf9204bd): dataset query, message as the alert name,
    # severity from event.severity 21/47/73/99, risk from event.risk_score
    assert (
        promotion["rule_id"] == kibana.PROMOTION_RULE_ID == "8bd665a8-7575-5b20-83f2-cfbe90ea0fee"
    )
    assert promotion["index"] == ["logs-ecsquery.alert-*"]
    assert promotion["query"] == (
        "event.kind: alert and data_stream.dataset: ecsquery.alert"
        " and not ecsquery.sequence.building_block_type: *"
    )
    assert promotion["rule_name_override"] == "message"
    assert promotion["timestamp_override"] == "event.ingested"
    assert promotion["severity_mapping"] == [
        {"field": "event.severity", "operator": "equals", "severity": s, "value": v}
        for s, v in (("low", "21"), ("medium", "47"), ("high", "73"), ("critical", "99"))
    ]
    assert promotion["risk_score_mapping"] == [
        {"field": "event.risk_score", "operator": "equals", "value": ""}
    ]
    assert promotion["from"] == "now-840s"  # the rule's 540 s lookback and 5 minutes


def test_kibana_rules_over_osquery_manager_results() -> None:
    rule = load_rule(SYSTEMKEY)
    _, result = _import_lines(_files([_fake()])["kibana-rules/ecsquery.ndjson"])
    assert result["index"] == ["logs-osquery_manager.result-*"]
    # osquerybeat publishes a scheduled result with action_id = osquery's query name
    # (elastic/beats x-pack/osquerybeat/beater/osquerybeat.go, commit
    # 7cdd37d66cfc7ed1eaa58bda254f93fce29ed116: Publish(..., res.Name, ...)), which is
    # "pack_" + pack + "_" + query with osquerybeat's protected pack_delimiter "_"
    # (internal/osqd/args.go, commit 16d32e01dc37d3e24fbbe5cef3e2a6a2efc3c389)
    assert result["query"] == 'action_id: "pack_ecsquery_credential_access_systemkey_dumping"'
    assert result["rule_id"] != rule.rule_id  # never clashes with Elastic's prebuilt rule
    assert result["meta"] == {
        "ecsquery": {"rule_id": rule.rule_id, "pack": "ecsquery", "query": rule.slug}
    }
    assert (result["name"], result["severity"], result["risk_score"]) == (
        "SystemKey Access via Command Line",
        "high",
        73,
    )
    assert (result["version"], result["interval"], result["from"]) == (207, "5m", "now-9m")
    assert result["threat"] == [t.to_dict() for t in rule.threat]
    assert result["threat"][0]["tactic"]["id"] == "TA0006"
    assert result["note"] == rule.note and result["note"].startswith("## Triage and analysis")
    assert result["references"] == list(rule.references)
    assert result["tags"] == [*rule.tags, "Data Source: Osquery Manager"]


# Fleet GitOps: a `reports:` entry with `path:` names a YAML list of report specs (fleetdm/fleet
# pkg/spec/gitops.go, commit 00b32fd0a466724786eeef6c66a9d14d487eed8f:
# parseReports reads []Query = BaseItem + fleet.QuerySpec, validateReport requires `name`
# (ASCII) and `query`, validateYAMLKeys refuses unknown keys; `queries` is the deprecated name).
QUERY_SPEC_KEYS = {
    "name",
    "description",
    "query",
    "team",
    "interval",
    "observer_can_run",
    "automations_enabled",
    "platform",
    "min_osquery_version",
    "logging",
    "discard_data",
    "labels_include_any",
}


def test_fleet_gitops_reports_lib() -> None:
    files = _files([_fake(), _fake("SELECT 2", slug="second")])
    reports = yaml.safe_load(files["fleet/lib/ecsquery.reports.yml"])
    specs = [d["spec"] for d in yaml.safe_load_all(files["fleet/ecsquery.yml"])]
    assert isinstance(reports, list) and reports == specs  # the same report, two deploy paths
    for report in reports:
        assert set(report) <= QUERY_SPEC_KEYS
        assert report["name"].isascii() and report["name"] and report["query"]


MAC = ROOT / "tests" / "fixtures" / "elastic-rules-mac"
MULTI = ROOT / "tests" / "fixtures" / "elastic-rules-multi"


def _mac(path: Path) -> Rule:
    from ecsquery.rules.importer import read_elastic_toml

    _, data = read_elastic_toml(path)
    return Rule.from_mapping(data, slug=path.stem, source=str(path))


def test_packs_carry_each_rules_table_and_its_ecs_mapping() -> None:
    """A file rule's pack query reads ecs_file_events and Kibana maps its file.* columns with
    event.category ["file"]; a network rule's, ecs_network_events (ip columns left out: ""
    would cost the document); a sequence over process and network steps reads both, maps the
    columns of both, and has no constant category (its rows are of either)."""
    rules = [
        _mac(MAC / "privilege_escalation_root_crontab_filemod.toml"),
        _mac(MAC / "initial_access_ollama_api_external_access.toml"),
        _mac(MULTI / "execution_installer_package_spawned_network_event.toml"),
    ]
    compiled, errors = compile_rules(rules)
    assert errors == []
    files = {f.path.as_posix(): f.text for f in render_packs(compiled)}
    osquery = json.loads(files["osquery/ecsquery.conf"])["queries"]
    kibana_pack = json.loads(files["kibana/ecsquery.json"])
    mapping = {slug: q["ecs_mapping"] for slug, q in kibana_pack["queries"].items()}
    file_rule, network_rule, sequence = (r.slug for r in rules)
    assert "\nFROM ecs_file_events\n" in osquery[file_rule]["query"]
    assert "\nFROM ecs_network_events\n" in osquery[network_rule]["query"]
    assert "FROM ecs_process_events WHERE" in osquery[sequence]["query"]
    assert "FROM ecs_network_events WHERE" in osquery[sequence]["query"]
    assert mapping[file_rule]["file.path"] == {"field": "file_path"}
    assert mapping[file_rule]["event.category"] == {"value": ["file"]}
    assert "destination.ip" not in mapping[network_rule]
    assert "destination.port" not in mapping[network_rule]  # "" without a port, as other longs
    assert mapping[network_rule]["network.transport"] == {"field": "network_transport"}
    assert mapping[network_rule]["event.category"] == {"value": ["network"]}
    assert "file.path" not in mapping[network_rule]
    assert "event.category" not in mapping[sequence]
    assert mapping[sequence]["network.transport"] == {"field": "network_transport"}
    assert mapping[sequence]["process.name"] == {"field": "process_name"}
    assert kibana_pack["description"].endswith(
        "needs the ecsquery extension's ecs_process_events and ecs_file_events and"
        " ecs_network_events tables."
    )
