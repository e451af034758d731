"""Elastic TOML → rule YAML: the twelve real macOS process rules import; others are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from ecsquery.errors import RuleLoadError
from ecsquery.rules.importer import import_rule, import_rules, rule_yaml, slug_for
from ecsquery.rules.load import load_rule

ROOT = Path(__file__).resolve().parents[1]
FAMILY = sorted((ROOT / "tests" / "fixtures" / "elastic-rules" / "macos-process").glob("*.toml"))
SYSTEMKEY = ROOT / "rules" / "credential_access_systemkey_dumping.yaml"

BASE = """
[metadata]
creation_date = "2024/01/01"
maturity = "production"

[rule]
author = ["Elastic"]
description = "A test rule."
from = "now-9m"
index = ["logs-endpoint.events.*"]
license = "Elastic License v2"
name = "Test rule"
risk_score = 47
rule_id = "00000000-0000-0000-0000-000000000001"
severity = "medium"
timestamp_override = "event.ingested"
"""


def _toml(tmp_path: Path, body: str, name: str = "test_rule.toml") -> Path:
    path = tmp_path / name
    path.write_text(BASE + body, encoding="utf-8")
    return path


def test_family_has_twelve_rules() -> None:
    assert len(FAMILY) == 12


@pytest.mark.parametrize("path", FAMILY, ids=lambda p: p.stem)
def test_every_family_rule_imports(path: Path, tmp_path: Path) -> None:
    result = import_rule(path, tmp_path)
    assert (result.status, result.reason) == ("compiled", "")
    assert result.written == tmp_path / f"{path.stem}.yaml"
    again = load_rule(result.written)
    original = load_rule(path)
    assert again == original  # every model key, the query byte for byte
    text = result.written.read_text(encoding="utf-8")
    assert text.startswith(f"# Imported by `ecsquery import` from {path.name}\n")
    assert "# [metadata] creation_date=" in text
    assert "timestamp_override" in text  # named as not carried, not silently dropped


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('type = "esql"\nlanguage = "esql"\nquery = "from logs-*"', "ES|QL rule"),
        (
            'type = "threshold"\nlanguage = "kuery"\nquery = "x:1"\n'
            'threshold = {field = ["host.id"], value = 20}',
            "threshold rule: ",
        ),
        (
            'type = "new_terms"\nlanguage = "kuery"\nquery = "process.name:x"\n'
            'new_terms = {field = "new_terms_fields", value = ["file.path"],'
            ' history_window_start = [{field = "history_window_start", value = "now-7d"}]}',
            "new_terms rule: ",
        ),
        ('type = "machine_learning"', "machine_learning rule"),
        ('type = "threat_match"\nlanguage = "kuery"\nquery = "x:1"', "threat_match rule"),
        ('type = "query"\nlanguage = "lucene"\nquery = "x:1"', "language 'lucene'"),
        (
            'type = "eql"\nlanguage = "eql"\nquery = """sequence by host.id\n'
            ' [process where true] [network where true]"""',
            "EQL sequence (multi-event",
        ),
        (
            'type = "eql"\nlanguage = "eql"\nquery = "sample by host.id [process where true]"',
            "EQL sample (multi-event",
        ),
        (
            'type = "eql"\nlanguage = "eql"\nquery = "library where dll.name == \\"x\\""',
            "event category: 'library': no table serves it (the extension serves process, file,"
            " network)",
        ),
        (
            'type = "eql"\nlanguage = "eql"\n'
            'query = "any where file.path == \\"/x\\" and destination.port == 22"',
            "'any where' whose condition no table can satisfy",
        ),
        (
            'type = "query"\nlanguage = "kuery"\n'
            'query = "event.category:configuration and host.os.type:macos"',
            "event category: 'configuration'",
        ),
        (
            'type = "query"\nlanguage = "kuery"\n'
            'query = "event.category:(file or network) and host.os.type:macos"',
            "'file', 'network': one rule over several tables",
        ),
        (
            'type = "query"\nlanguage = "kuery"\n'
            'query = "event.category:network and destination.domain:x"',
            "field 'destination.domain' has no column in the ECS network-events table: no"
            " osquery table gives DNS names (osquery#7952)",
        ),
        (
            'type = "eql"\nlanguage = "eql"\ntags = ["OS: Windows"]\n'
            'query = "process where process.name == \\"cmd.exe\\""',
            "not a macOS rule (OS: Windows)",
        ),
        (
            'type = "eql"\nlanguage = "eql"\n'
            'query = "process where process.pe.original_file_name == \\"x\\""',
            "process.pe.original_file_name",
        ),
    ],
)
def test_refusals_say_why(tmp_path: Path, body: str, reason: str) -> None:
    result = import_rule(_toml(tmp_path, body), tmp_path / "out")
    assert result.status == "refused", result
    assert reason in result.reason
    assert not (tmp_path / "out").exists()


def test_unparseable_query_is_an_error(tmp_path: Path) -> None:
    path = _toml(tmp_path, 'type = "eql"\nlanguage = "eql"\nquery = "process where ((("')
    result = import_rule(path, tmp_path)
    assert result.status == "error" and result.reason.startswith("does not parse")


def test_broken_toml_is_an_error_and_the_batch_goes_on(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[rule\n", encoding="utf-8")
    results = import_rules([bad, FAMILY[0]], tmp_path / "out")
    assert [r.status for r in results] == ["error", "compiled"]
    assert "not valid TOML" in results[0].reason


def test_existing_file_is_kept_unless_forced(tmp_path: Path) -> None:
    target = tmp_path / f"{FAMILY[0].stem}.yaml"
    target.write_text("mine", encoding="utf-8")
    result = import_rule(FAMILY[0], tmp_path)
    assert result.status == "skipped" and "--force" in result.reason
    assert target.read_text(encoding="utf-8") == "mine"
    assert import_rule(FAMILY[0], tmp_path, force=True).status == "compiled"
    assert load_rule(target) == load_rule(FAMILY[0])


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    result = import_rule(FAMILY[0], None)
    assert result.status == "compiled" and result.written is None


def test_slug_folds_characters_packs_cannot_name() -> None:
    assert (
        slug_for(Path("a/credential_access_x.3fc34b86f2.toml")) == "credential_access_x_3fc34b86f2"
    )


@settings(max_examples=200, deadline=None)
@given(
    query=st.text(min_size=1).filter(lambda s: s.strip() != ""),
    note=st.text(),
    name=st.text(min_size=1).filter(lambda s: s.strip() != ""),
)
def test_rule_yaml_round_trips_any_text(query: str, note: str, name: str) -> None:
    from dataclasses import replace

    rule = replace(load_rule(SYSTEMKEY), query=query, note=note, name=name)
    text = rule_yaml(rule, "header\nline two")
    assert yaml.safe_load(text) == rule.to_mapping()
    assert text.startswith("# header\n# line two\n")


def test_rule_yaml_refuses_a_lossy_dump(monkeypatch: pytest.MonkeyPatch) -> None:
    rule = load_rule(SYSTEMKEY)
    monkeypatch.setattr(yaml, "safe_load", lambda _text: {})
    with pytest.raises(RuleLoadError, match="round trip"):
        rule_yaml(rule)
