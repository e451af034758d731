"""Rule validation at load (issue #16 finding 10): ``check`` refuses what would misbehave later.

``max_signals`` ≤ 0 or 10**20 and ``from: now-9223372036854775000s`` loaded and then overflowed
at read time; a 568-byte YAML alias bomb in ``tags`` made every rule-loading command run for
minutes. Each is now one error naming the rule file and the field.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from ecsquery.cli import main
from ecsquery.errors import RuleLoadError
from ecsquery.rules.load import load_rule

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
