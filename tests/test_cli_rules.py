"""``ecsquery check``, ``render``, ``import`` and ``check --diff`` through click's CliRunner."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from ecsquery.cli import main

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules"
FIX = ROOT / "tests" / "fixtures" / "elastic-rules"
FAMILY = FIX / "macos-process"

BAD_RULE = """rule_id: bad-1
name: Bad
description: d
type: eql
language: eql
severity: low
risk_score: 1
query: |-
  process where process.pe.original_file_name == "x" and process.name : "a"
"""
BROKEN_RULE = BAD_RULE.replace("bad-1", "bad-2").replace(
    'process where process.pe.original_file_name == "x" and process.name : "a"',
    'process where process.name == "x" and (',
)


def test_every_command_has_help(runner: CliRunner) -> None:
    for command in ("check", "render", "import"):
        result = runner.invoke(main, [command, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output


def test_check_prints_sql_for_every_rule(runner: CliRunner) -> None:
    result = runner.invoke(main, ["check", str(RULES)])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("\nFROM ecs_process_events\n") == 2
    assert result.stdout.startswith(
        "-- credential_access_dumping_keychain_security: Dumping of Keychain Content via"
        " Security Command (565d6ca5-75ba-4c82-9b13-add25353471c v1, eql)\nSELECT\n"
    )
    assert result.stderr == "2 rule files: 2 compiled, 0 errors\n"


def test_check_accepts_toml_and_defaults_to_rules_dir_then_shipped(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = runner.invoke(main, ["check", "-q", str(FAMILY)])
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr == "12 rule files: 12 compiled, 0 errors\n"
    shutil.copytree(RULES, tmp_path / "rules")
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(main, ["check", "-q"]).stderr == "2 rule files: 2 compiled, 0 errors\n"
    (tmp_path / "rules" / "credential_access_systemkey_dumping.yaml").unlink()
    assert runner.invoke(main, ["check", "-q"]).stderr == "1 rule files: 1 compiled, 0 errors\n"
    shutil.rmtree(tmp_path / "rules")  # no ./rules: the rules shipped in the package
    result = runner.invoke(main, ["check", "-q"])
    assert (result.exit_code, result.stderr) == (0, "2 rule files: 2 compiled, 0 errors\n")


def test_check_reports_every_error(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(BAD_RULE, encoding="utf-8")
    (tmp_path / "broken.yaml").write_text(BROKEN_RULE, encoding="utf-8")
    (tmp_path / "empty.yaml").write_text("name: x\n", encoding="utf-8")
    result = runner.invoke(main, ["check", str(tmp_path), str(RULES)])
    assert result.exit_code == 1
    err = result.stderr.splitlines()
    assert len([line for line in err if line.startswith("error: ")]) == 3
    assert any(
        f"{tmp_path / 'bad.yaml'}: bad-1:1:15:" in line and "process.pe.original_file_name" in line
        for line in err
    ), err
    assert any(f"{tmp_path / 'broken.yaml'}: bad-2:" in line for line in err), err
    assert any("empty.yaml" in line and "missing required key" in line for line in err), err
    assert err[-1] == "Error: 5 rule files: 2 compiled, 3 errors"
    assert result.stdout.count("\nFROM ecs_process_events\n") == 2  # the good ones still print


def test_render_writes_all_formats(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["render", "--rules", str(RULES), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "rendered 2 rules into 5 files:",
        f"  {tmp_path / 'osquery' / 'ecsquery.conf'}",
        f"  {tmp_path / 'fleet' / 'ecsquery.yml'}",
        f"  {tmp_path / 'fleet' / 'lib' / 'ecsquery.reports.yml'}",
        f"  {tmp_path / 'kibana' / 'ecsquery.json'}",
        f"  {tmp_path / 'kibana-rules' / 'ecsquery.ndjson'}",
    ]
    pack = json.loads((tmp_path / "osquery" / "ecsquery.conf").read_text(encoding="utf-8"))
    assert sorted(pack["queries"]) == [
        "credential_access_dumping_keychain_security",
        "credential_access_systemkey_dumping",
    ]


def test_render_one_format_from_toml(runner: CliRunner, tmp_path: Path) -> None:
    args = ["render", "--rules", str(FAMILY), "--out", str(tmp_path), "--format", "fleet"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    assert files == ["ecsquery.reports.yml", "ecsquery.yml"]  # fleetctl apply spec, GitOps lib
    assert result.stdout.startswith("rendered 12 rules into 2 files:")


def test_render_writes_nothing_on_error(runner: CliRunner, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    (rules / "bad.yaml").write_text(BAD_RULE, encoding="utf-8")
    result = runner.invoke(main, ["render", "--rules", str(rules), "--out", str(tmp_path / "p")])
    assert result.exit_code == 1
    assert "no packs written" in result.stderr and "process.pe.original_file_name" in result.stderr
    assert not (tmp_path / "p").exists()


def test_import_family_table(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["import", str(FAMILY), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("| rule ") and lines[1].startswith("|---")
    assert len(lines) == 2 + 12
    assert all(" | compiled | " in line for line in lines[2:])
    assert result.stderr == "12 rules: 12 compiled, 0 refused, 0 skipped, 0 errors\n"
    assert len(list(tmp_path.glob("*.yaml"))) == 12
    again = runner.invoke(main, ["import", str(FAMILY), "--out", str(tmp_path)])
    assert again.exit_code == 0 and again.stdout.count(" | skipped | ") == 12


def test_import_refusal_is_not_a_failure_but_an_error_is(runner: CliRunner, tmp_path: Path) -> None:
    seq = tmp_path / "seq.toml"
    seq.write_text(
        '[rule]\nrule_id = "s"\nname = "S"\ntype = "eql"\nlanguage = "eql"\n'
        'severity = "low"\nrisk_score = 1\nquery = "sequence [process where true]"\n',
        encoding="utf-8",
    )
    result = runner.invoke(main, ["import", "--dry-run", str(seq)])
    assert result.exit_code == 0, result.output
    assert "| refused | EQL sequence (multi-event" in result.stdout
    broken = tmp_path / "broken.toml"
    broken.write_text("[rule", encoding="utf-8")
    result = runner.invoke(main, ["import", "--dry-run", str(seq), str(broken)])
    assert result.exit_code == 1
    assert result.stderr.endswith("Error: 2 rules: 0 compiled, 1 refused, 0 skipped, 1 errors\n")


def test_check_diff(runner: CliRunner) -> None:
    old = FIX / "history" / "credential_access_systemkey_dumping.458e67918a.toml"
    new = FIX / "history" / "credential_access_systemkey_dumping.fe8c81d762.toml"
    result = runner.invoke(main, ["check", "--diff", str(old), str(new)])
    assert result.exit_code == 0, result.output
    assert "\n== SQL ==\n" in result.stdout
    assert "+  AND NOT coalesce(process_effective_parent_executable = " in result.stdout
    assert "tags: +'Resources: Investigation Guide'" in result.stdout


def test_check_diff_needs_two_files(runner: CliRunner) -> None:
    result = runner.invoke(main, ["check", "--diff", str(RULES)])
    assert result.exit_code == 1 and "exactly two rule files" in result.stderr


def test_render_refuses_an_extension_window_shorter_than_the_rules_need(
    runner: CliRunner, tmp_path: Path
) -> None:
    """The shipped rules read 540 s (``from`` = now-9m): the shipped 900 s window is enough,
    a 300 s one is refused before any pack is written."""
    config = tmp_path / "ecsquery.toml"
    config.write_text("[extension]\nwindow_seconds = 300\n")
    config.chmod(0o600)
    args = ["render", "--rules", str(RULES), "--out", str(tmp_path / "p")]
    result = runner.invoke(main, [*args, "--extension-config", str(config)])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        f"Error: {config}: window_seconds = 300 is shorter than the 540 s that rule"
        " credential_access_dumping_keychain_security needs (its lookback; for a sequence at"
        " least interval + maxspan); no packs written"
    )
    assert not (tmp_path / "p").exists()
    config.write_text("[extension]\nwindow_seconds = 900\n")
    result = runner.invoke(main, [*args, "--extension-config", str(config)])
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        "the extension's window_seconds must be at least 540"
        " (credential_access_dumping_keychain_security)\n"
    )
