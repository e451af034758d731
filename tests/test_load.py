"""Loading rules: our shipped YAML (query byte-exact, round trip) and every Elastic TOML fixture."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml

from ecsquery.rules.importer import rule_yaml
from ecsquery.rules.load import load_rule, load_rules, rule_paths
from ecsquery.rules.model import Rule

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules"
FIXTURES = ROOT / "tests" / "fixtures" / "elastic-rules"
TOMLS = sorted(FIXTURES.rglob("*.toml"))

SYSTEMKEY_QUERY = (
    "event.category:process and host.os.type:macos and event.type:(start or process_started) and\n"
    'process.args:("/private/var/db/SystemKey" or "/var/db/SystemKey") and\n'
    "not process.Ext.effective_parent.executable : "
    '"/Library/Elastic/Endpoint/elastic-endpoint.app/Contents/MacOS/elastic-endpoint"'
)
KEYCHAIN_QUERY = (
    'process where host.os.type == "macos" and event.type in ("start", "process_started")'
    ' and process.args : "dump-keychain" and process.args : "-d"'
)
THREAT = [
    {
        "framework": "MITRE ATT&CK",
        "tactic": {
            "id": "TA0006",
            "name": "Credential Access",
            "reference": "https://attack.mitre.org/tactics/TA0006/",
        },
        "technique": [
            {
                "id": "T1555",
                "name": "Credentials from Password Stores",
                "reference": "https://attack.mitre.org/techniques/T1555/",
                "subtechnique": [
                    {
                        "id": "T1555.001",
                        "name": "Keychain",
                        "reference": "https://attack.mitre.org/techniques/T1555/001/",
                    }
                ],
            }
        ],
    }
]


def test_shipped_rules_are_the_two_seeds() -> None:
    assert [p.name for p in rule_paths([RULES])] == [
        "credential_access_dumping_keychain_security.yaml",
        "credential_access_systemkey_dumping.yaml",
    ]


def test_systemkey_rule() -> None:
    rule = load_rule(RULES / "credential_access_systemkey_dumping.yaml")
    assert rule.query == SYSTEMKEY_QUERY
    assert (rule.slug, rule.rule_id, rule.name) == (
        "credential_access_systemkey_dumping",
        "d75991f2-b989-419d-b797-ac1e54ec2d61",
        "SystemKey Access via Command Line",
    )
    assert (rule.type, rule.language, rule.version) == ("query", "kuery", 207)
    assert (rule.severity, rule.risk_score, rule.max_signals) == ("high", 73, 100)
    assert (rule.interval_seconds, rule.lookback_seconds) == (300, 540)
    assert rule.index == ("logs-endpoint.events.*",)
    assert rule.author == ("Elastic",) and rule.license == "Elastic License v2"
    assert "Resources: Investigation Guide" in rule.tags and "OS: macOS" in rule.tags
    assert rule.note.startswith("## Triage and analysis\n\n> **Disclaimer**:")
    assert "### False positive analysis" in rule.note
    assert len(rule.false_positives) == 4
    assert rule.false_positives[0].startswith("Security software updates or scans")
    assert rule.setup.startswith("## Setup\n")
    assert rule.mitre_ids == ("TA0006", "T1555", "T1555.001")
    assert rule.to_mapping()["threat"] == THREAT


def test_keychain_rule() -> None:
    rule = load_rule(RULES / "credential_access_dumping_keychain_security.yaml")
    assert rule.query == KEYCHAIN_QUERY
    assert rule.rule_id == "565d6ca5-75ba-4c82-9b13-add25353471c"
    assert (rule.type, rule.language) == ("eql", "eql")
    assert (rule.severity, rule.risk_score) == ("high", 73)
    assert (rule.interval, rule.from_, rule.max_signals) == ("5m", "now-9m", 100)
    assert rule.references == ("https://ss64.com/osx/security.html",)
    assert "### Investigating Dumping of Keychain Content via Security Command" in rule.note
    assert len(rule.false_positives) == 4
    assert rule.to_mapping()["threat"] == THREAT


@pytest.mark.parametrize("path", rule_paths([RULES]), ids=lambda p: p.stem)
def test_shipped_yaml_round_trips(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert "\nquery: |-\n" in text  # a literal block: the query reads as written
    assert text.startswith("# ")  # provenance header
    rule = load_rule(path)
    assert yaml.safe_load(rule_yaml(rule)) == rule.to_mapping()
    assert yaml.safe_load(text) == rule.to_mapping()  # no key outside the model


def test_seed_queries_match_elastic_toml() -> None:
    """The seeds' queries are Elastic's (the KQL seed only differs in line indentation)."""
    kql = load_rule(FIXTURES / "history" / "credential_access_systemkey_dumping.fe8c81d762.toml")
    assert [line.strip() for line in kql.query.splitlines()] == SYSTEMKEY_QUERY.splitlines()
    eql = load_rule(
        FIXTURES / "history" / "credential_access_dumping_keychain_security.ab89dfb98d.toml"
    )
    assert eql.query == KEYCHAIN_QUERY + "\n"


@pytest.mark.parametrize("path", TOMLS, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_every_toml_fixture_loads_verbatim(path: Path) -> None:
    raw = tomllib.loads(path.read_text(encoding="utf-8"))["rule"]
    rule = load_rule(path)
    assert rule.slug == path.stem.replace(".", "_") and rule.source == str(path)
    assert rule.query == raw["query"]  # byte for byte, TOML's closing newline included
    for key in ("rule_id", "name", "type", "severity", "risk_score", "license", "from"):
        assert rule.to_mapping()[key] == raw[key]
    assert rule.language == raw["language"]
    assert list(rule.tags) == raw["tags"] and list(rule.index) == raw["index"]
    assert rule.note == raw.get("note", "")
    assert rule.to_mapping()["threat"] == raw["threat"]
    # ... and our YAML of it loads back as the same rule
    again = Rule.from_mapping(yaml.safe_load(rule_yaml(rule)), slug=rule.slug)
    assert again == rule


def test_toml_and_yaml_mix_in_one_batch() -> None:
    rules, errors = load_rules([RULES, FIXTURES / "macos-process"])
    assert errors == []
    assert len(rules) == 2 + 12
