"""Rule validation at load (issue #16 finding 10): ``check`` refuses what would misbehave later.

``max_signals`` ≤ 0 or 10**20 and ``from: now-9223372036854775000s`` loaded and then overflowed
at read time; a 568-byte YAML alias bomb in ``tags`` made every rule-loading command run for
minutes. Each is now one error naming the rule file and the field.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from ecsquery.cli import main
from ecsquery.errors import RuleLoadError
from ecsquery.rules.load import load_rule
from ecsquery.rules.model import NewTermsParams, ThresholdParams

RULE = """rule_id: r-1
name: R
description: d
type: query
language: kuery
severity: low
risk_score: 21
query: 'process.name : "security"'
"""


def write(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(RULE + extra, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("max_signals: -1\n", "max_signals: -1 is out of range (1 to 10000)"),
        ("max_signals: 100000000000000000000\n", "max_signals: 100000000000000000000 is out of"),
        ("from: now-9223372036854775000s\n", "from: 'now-9223372036854775000s' is out of range"),
        ("from: now-1e9s\n", "from: cannot read duration 'now-1e9s'"),
        ("from: now-400d\n", "from: 'now-400d' is out of range (1 second to 366 days)"),
        ("from: now-0s\n", "from: 'now-0s' is out of range"),
        ("from: 6m\n", "from: '6m' is not a lookback like 'now-6m'"),
        ("interval: 0m\n", "interval: '0m' is out of range"),
        ("interval: 99999999h\n", "interval: '99999999h' is out of range"),
        ("risk_score: 101\n", "risk_score: 101 is out of range (0 to 100)"),
        ("tags: [[a]]\n", "tags: expected a list of strings, found a list"),
        ("tags: {a: 1}\n", "tags: expected a list of strings"),
    ],
)
def test_an_out_of_range_rule_is_refused_naming_rule_and_field(
    tmp_path: Path, extra: str, message: str
) -> None:
    path = write(tmp_path, extra.replace("risk_score: 101\n", "").replace("x", "x"))
    if extra.startswith("risk_score"):
        path.write_text(RULE.replace("risk_score: 21", extra.strip()), encoding="utf-8")
    with pytest.raises(RuleLoadError) as caught:
        load_rule(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_check_refuses_an_overflowing_lookback(tmp_path: Path) -> None:
    write(tmp_path, "from: now-9223372036854775s\nmax_signals: 0\n")
    result = CliRunner().invoke(main, ["check", str(tmp_path)])
    assert result.exit_code != 0
    assert "from: 'now-9223372036854775s' is out of range" in result.output


ALIAS_BOMB = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{','.join([f'*{chr(97 + i)}'] * 9)}]" for i in range(8)]
    + ["tags: *i", ""]
)


def test_a_yaml_alias_bomb_in_tags_is_refused_at_once(tmp_path: Path) -> None:
    assert len(ALIAS_BOMB) < 700
    path = write(tmp_path, ALIAS_BOMB)
    with pytest.raises(RuleLoadError, match=r"not valid YAML: alias \*a of a list or mapping"):
        load_rule(path)


def test_an_alias_of_a_scalar_is_still_read(tmp_path: Path) -> None:
    path = write(tmp_path, "author: [&me Elastic]\nfalse_positives: [*me]\n")
    rule = load_rule(path)
    assert (rule.author, rule.false_positives) == (("Elastic",), ("Elastic",))


NEW_TERMS = (
    "new_terms:\n  field: new_terms_fields\n  value: {fields}\n  history_window_start:\n"
    "  - {{field: history_window_start, value: '{start}'}}\n"
)


@pytest.mark.parametrize(
    ("rule_type", "extra", "message"),
    [
        ("threshold", "", "missing [rule.threshold]: a threshold rule needs one"),
        ("new_terms", "", "missing [rule.new_terms]: a new_terms rule needs one"),
        ("query", "threshold: {field: [], value: 5}\n", "threshold: only a threshold rule"),
        ("threshold", "threshold: {field: [], value: 0}\n", "threshold: value 0 must be ≥ 1"),
        ("threshold", "threshold: {field: [], value: true}\n", "threshold.value: expected an"),
        ("threshold", "threshold: {field: [''], value: 5}\n", "threshold: a field name is empty"),
        (
            "threshold",
            "threshold: {field: [], value: 5, cardinality: [{field: user.id, value: -1}]}\n",
            "cardinality values ≥ 0",
        ),
        ("threshold", "threshold: [host.id]\n", "expected a table, found a list"),
        ("new_terms", NEW_TERMS.format(fields="[]", start="now-7d"), "1 to 3 field names"),
        (
            "new_terms",
            NEW_TERMS.format(fields="[a, b, c, d]", start="now-7d"),
            "1 to 3 field names, got ['a', 'b', 'c', 'd']",
        ),
        (
            "new_terms",
            NEW_TERMS.format(fields="[host.id]", start="now-400d"),
            "history_window_start 'now-400d' is out of range (1 second to 366 days)",
        ),
        (
            "new_terms",
            NEW_TERMS.format(fields="[host.id]", start="2024-01-01"),
            "history_window_start '2024-01-01' is not",
        ),
        (
            "new_terms",
            NEW_TERMS.format(fields="[host.id]", start="now-1w"),
            "history_window_start: cannot read duration 'now-1w'",
        ),
    ],
)
def test_threshold_and_new_terms_are_checked_at_load(
    tmp_path: Path, rule_type: str, extra: str, message: str
) -> None:
    """Kibana's ranges (``threshold_attributes.schema.yaml``: value ≥ 1, cardinality ≥ 0;
    ``new_terms_attributes.schema.yaml``: 1 to 3 fields), a lookback no longer than any other,
    and each table only on its own rule type: otherwise the rule would run as a plain query."""
    path = tmp_path / "r.yaml"
    path.write_text(RULE.replace("type: query", f"type: {rule_type}") + extra, encoding="utf-8")
    with pytest.raises(RuleLoadError) as caught:
        load_rule(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_threshold_and_new_terms_load_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        RULE.replace("type: query", "type: new_terms")
        + NEW_TERMS.format(fields="[host.id, process.executable]", start="now-5d"),
        encoding="utf-8",
    )
    rule = load_rule(path)
    assert rule.new_terms == NewTermsParams(("host.id", "process.executable"), "now-5d")
    assert rule.new_terms.history_seconds == 5 * 86400
    assert rule.to_mapping()["new_terms"] == {
        "field": "new_terms_fields",
        "value": ["host.id", "process.executable"],
        "history_window_start": [{"field": "history_window_start", "value": "now-5d"}],
    }
    path.write_text(
        RULE.replace("type: query", "type: threshold")
        + "threshold: {field: host.id, value: 20, cardinality: [{field: user.id, value: 3}]}\n",
        encoding="utf-8",
    )
    rule = load_rule(path)
    assert rule.threshold == ThresholdParams(("host.id",), 20, (("user.id", 3),))
    assert "threshold" not in replace(rule, type="query", threshold=None).to_mapping()
