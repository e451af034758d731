"""Pack rendering: structure of each format, values that survive any text, committed packs fresh."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from ecsquery import osquery_sqlite
from ecsquery.errors import EcsqueryError
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
from ecsquery.schema import COLUMNS, TIME_COLUMN

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
        "kibana/ecsquery.json",
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
    pack = json.loads(_files([_fake()])["kibana/ecsquery.json"])
    assert pack["name"] == "ecsquery" and pack["enabled"] is True
    q = pack["queries"]["credential_access_systemkey_dumping"]
    assert q["query"] == NASTY
    assert (q["interval"], q["platform"], q["version"]) == (300, "darwin", MIN_OSQUERY_VERSION)
    columns = {c.ecs: {"field": c.name} for c in COLUMNS if c.ecs}
    assert {k: v for k, v in q["ecs_mapping"].items() if "field" in v} == columns
    assert q["ecs_mapping"]["process.args"] == {"field": "process_args"}
    assert q["ecs_mapping"]["rule.id"] == {"value": "d75991f2-b989-419d-b797-ac1e54ec2d61"}
    assert q["ecs_mapping"]["threat.technique.id"] == {"value": ["T1555", "T1555.001"]}
    assert q["ecs_mapping"]["threat.tactic.id"] == {"value": ["TA0006"]}


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
    assert len(written) == 3
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
