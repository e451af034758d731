"""Errors carry the file, the rule id and the position apart, and print them in one format."""

from __future__ import annotations

from pathlib import Path

from ecsquery.errors import EcsqueryError, Pos, RuleLoadError, UnmappedField
from ecsquery.rules.compile import compile_rules
from ecsquery.rules.load import load_rules
from scenario_support import RULES

KEYCHAIN = (RULES / "credential_access_dumping_keychain_security.yaml").read_text("utf-8")


def test_message_format_puts_each_known_part_in_place() -> None:
    assert str(EcsqueryError("m")) == "m"
    assert str(EcsqueryError("m", source="r.yaml")) == "r.yaml: m"
    assert str(EcsqueryError("m", rule="id", pos=Pos(1, 2))) == "id:1:2: m"
    assert str(EcsqueryError("m", source="r.yaml", rule="id", pos=Pos(1, 2))) == "r.yaml: id:1:2: m"


def test_with_rule_fills_only_what_is_missing() -> None:
    error = UnmappedField("x.y", pos=Pos(3, 4)).with_rule("id", "r.yaml")
    assert (error.source, error.rule, error.pos, error.field) == ("r.yaml", "id", Pos(3, 4), "x.y")
    assert error.with_rule("other", "o.yaml") is error and (error.source, error.rule) == (
        "r.yaml",
        "id",
    )


def test_load_and_compile_errors_name_file_and_rule_separately(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\n", encoding="utf-8")
    unmapped = tmp_path / "unmapped.yaml"
    unmapped.write_text(
        KEYCHAIN.replace("565d6ca5-75ba-4c82-9b13-add25353471c", "u-1").replace(
            "process.args", "process.pe.original_file_name", 1
        ),
        encoding="utf-8",
    )
    rules, load_errors = load_rules([tmp_path])
    (load_error,) = load_errors
    assert isinstance(load_error, RuleLoadError)
    assert (load_error.source, load_error.rule) == (str(broken), None)
    _, (compile_error,) = compile_rules(rules)
    assert isinstance(compile_error, UnmappedField)
    assert (compile_error.source, compile_error.rule) == (str(unmapped), "u-1")
    assert str(compile_error).startswith(f"{unmapped}: u-1:")
