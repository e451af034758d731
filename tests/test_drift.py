"""Drift between Elastic versions of a rule: SQL diff first, then query text and metadata."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ecsquery.rules.compile import CompiledRule, compile_rule
from ecsquery.rules.drift import Change, diff_compiled
from ecsquery.rules.load import load_rule

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules"
FIX = ROOT / "tests" / "fixtures" / "elastic-rules"
HIST = FIX / "history"
EXCLUSION = (
    "+  AND NOT coalesce(process_effective_parent_executable = "
    "'/Library/Elastic/Endpoint/elastic-endpoint.app/Contents/MacOS/elastic-endpoint', 0)"
)


def _compiled(path: Path) -> CompiledRule:
    """Compiled without exceptions: drift compares Elastic's versions of the rule itself."""
    return compile_rule(replace(load_rule(path), exceptions=()))


def test_added_exclusion_shows_as_one_sql_line() -> None:
    old = _compiled(HIST / "credential_access_systemkey_dumping.458e67918a.toml")
    new = _compiled(HIST / "credential_access_systemkey_dumping.fe8c81d762.toml")
    drift = diff_compiled(old, new)
    assert drift.same_rule and drift.sql_changed
    changed = [ln for ln in drift.sql_diff if ln[:1] in "+-" and ln[:3] not in ("+++", "---")]
    assert changed == [EXCLUSION]
    assert [c.describe() for c in drift.changes] == [
        "tags: +'Resources: Investigation Guide'",
        "note: text changed (+34 -0 lines)",
    ]
    report = drift.render()
    assert report.startswith("SystemKey Access via Command Line v1 (")
    assert "== SQL ==\n" in report and "== query text (kuery -> kuery) ==" in report


def test_kql_to_eql_rewrite_compiles_to_the_same_sql() -> None:
    """Elastic's 2025 KQL → EQL rewrite of SystemKey changed the language, not the meaning."""
    drift = diff_compiled(
        _compiled(RULES / "credential_access_systemkey_dumping.yaml"),
        _compiled(FIX / "credential_access_systemkey_dumping.toml"),
    )
    assert drift.sql_diff == () and drift.query_diff != ()
    assert "== SQL: unchanged ==" in drift.render()
    described = [c.describe() for c in drift.changes]
    assert "language: 'kuery' -> 'eql'" in described
    assert "threat: +TA0009 +T1005" in described


def test_keychain_colon_to_like_tilde() -> None:
    drift = diff_compiled(
        _compiled(HIST / "credential_access_dumping_keychain_security.ab89dfb98d.toml"),
        _compiled(FIX / "credential_access_dumping_keychain_security.toml"),
    )
    assert drift.query_diff != ()
    # `process.args : "-d"` (case-insensitive) became `process.args == "-d"` (exact)
    assert any(ln.startswith("-") and "GLOB '-[dD]'" in ln for ln in drift.sql_diff)


def test_same_rule_has_no_drift() -> None:
    c = _compiled(RULES / "credential_access_dumping_keychain_security.yaml")
    drift = diff_compiled(c, c)
    assert (drift.sql_diff, drift.query_diff, drift.changes) == ((), (), ())
    assert "== metadata: unchanged ==" in drift.render()


def test_different_rule_ids_are_flagged() -> None:
    a = _compiled(RULES / "credential_access_dumping_keychain_security.yaml")
    b = _compiled(RULES / "credential_access_systemkey_dumping.yaml")
    assert "warning: different rule_id" in diff_compiled(a, b).render()


def test_change_descriptions() -> None:
    assert Change("severity", "high", "low").describe() == "severity: 'high' -> 'low'"
    assert Change("tags", ["a", "b"], ["b", "a"]).describe() == "tags: same items, new order"
    assert Change("risk_score", 73, 47).describe() == "risk_score: 73 -> 47"
    long = Change("references", [], ["x" * 100]).describe()
    assert long.startswith("references: +'xxx") and long.endswith("...'")
    rule = load_rule(RULES / "credential_access_systemkey_dumping.yaml")
    other = replace(rule, threat=())
    assert (
        Change("threat", rule.to_mapping()["threat"], other.to_mapping()["threat"]).describe()
        == "threat: -TA0006 -T1555 -T1555.001"
    )
