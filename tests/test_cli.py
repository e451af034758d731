"""The ``ecsquery`` group as a whole: its commands, and every command over awkward rule files.

Rule files come from anywhere (Elastic's history names carry a hash after a dot, users name
files with spaces, accents, a leading dash), so every command that takes rules is run over a
directory of such names, and over rule files whose content is broken in every way we could
think of: each must end in clear results or clear errors, never in a traceback.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
import orjson
import pytest
from click.testing import CliRunner, Result

from ecsquery.cli import COMMANDS, main
from ecsquery.rules.load import slug_for
from scenario_support import RULES

FIX = Path(__file__).parent / "fixtures" / "elastic-rules"
KEYCHAIN = (RULES / "credential_access_dumping_keychain_security.yaml").read_text("utf-8")
HISTORY = FIX / "history" / "credential_access_systemkey_dumping.fe8c81d762.toml"

AWKWARD = {  # file name → its pack query name
    "credential_access_systemkey_dumping.fe8c81d762.toml": (
        "credential_access_systemkey_dumping_fe8c81d762"
    ),
    "keychain dump (copy).yaml": "keychain_dump_copy_",
    "règle-ünïcode.yaml": "regle-unicode",
    "-leading-dash.yaml": "leading-dash",
    "日本.yaml": "_",
}


def ok(result: Result) -> Result:
    """A run that ended by itself (no exception escaped into click's runner)."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def awkward(tmp_path: Path) -> Path:
    """The shipped keychain rule under four awkward names (distinct ids) plus a history file."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "_default.exceptions.yaml").write_bytes(
        (RULES / "_default.exceptions.yaml").read_bytes()
    )
    (rules / HISTORY.name).write_bytes(HISTORY.read_bytes())
    for i, name in enumerate(n for n in AWKWARD if n.endswith(".yaml")):
        text = KEYCHAIN.replace("565d6ca5-75ba-4c82-9b13-add25353471c", f"awkward-{i}")
        (rules / name).write_text(text, encoding="utf-8")
    (rules / "keychain dump (copy).exceptions.yaml").write_text("[]\n", encoding="utf-8")
    return rules


def test_commands_are_registered_once_in_pipeline_order() -> None:
    assert list(main.commands) == ["check", "render", "import", "extension", "replay", "alerts"]
    assert tuple(main.commands.values()) == COMMANDS
    assert all(isinstance(c, click.Command) for c in COMMANDS)


def test_slug_rule() -> None:
    for name, slug in AWKWARD.items():
        assert slug_for(Path("x") / name) == slug
    assert slug_for(Path("a/Café.Crème.yml")) == "Cafe_Creme"
    assert slug_for(Path("--.yaml")) == "_"
    assert slug_for(Path(os.fsdecode(b"bad\xffname.yaml"))) == "bad_name"  # not UTF-8


def test_every_command_over_awkward_names(runner: CliRunner, awkward: Path, tmp_path: Path) -> None:
    slugs = sorted(AWKWARD.values())
    every = sorted(str(p) for p in awkward.iterdir())  # as the shell expands rules/*
    for args in (["check", "-q", str(awkward)], ["check", "-q", *every]):
        check = ok(runner.invoke(main, args))
        assert (check.exit_code, check.stderr) == (0, "5 rule files: 5 compiled, 0 errors\n")

    render = ok(runner.invoke(main, ["render", "--rules", str(awkward), "--out", str(tmp_path)]))
    assert render.exit_code == 0, render.output
    pack = json.loads((tmp_path / "osquery" / "ecsquery.conf").read_text(encoding="utf-8"))
    assert sorted(pack["queries"]) == slugs

    log = tmp_path / "results.log"
    args = ["--rules", str(awkward), "--sample", "--host", "alice-macbook", "--summary", "none"]
    replay = ok(runner.invoke(main, ["replay", *args, "--results-log", str(log)]))
    assert replay.exit_code == 0, replay.output
    alerts = [orjson.loads(line) for line in replay.stdout.splitlines()]
    assert len(alerts) == 4 * 2 + 3  # four keychain copies × two hits, three SystemKey hits
    read = ok(
        runner.invoke(main, ["alerts", "--rules", str(awkward), "--summary", "none", str(log)])
    )
    assert (read.exit_code, [orjson.loads(x) for x in read.stdout.splitlines()]) == (0, alerts)
    names = {line["name"] for line in map(orjson.loads, log.read_bytes().splitlines())}
    assert names == {f"pack_ecsquery_{s}" for s in slugs}

    imported = ok(runner.invoke(main, ["import", str(awkward), "--out", str(tmp_path / "imp")]))
    assert imported.exit_code == 0, imported.output
    assert [p.name for p in (tmp_path / "imp").iterdir()] == [f"{AWKWARD[HISTORY.name]}.yaml"]


def test_one_slug_for_two_files_is_a_clear_error(runner: CliRunner, tmp_path: Path) -> None:
    for name in ("a.b.yaml", "a_b.yaml"):
        (tmp_path / name).write_text(KEYCHAIN, encoding="utf-8")
    taken = f"pack query name 'a_b' is already {tmp_path / 'a.b.yaml'}'s; rename one"
    check = ok(runner.invoke(main, ["check", "-q", str(tmp_path)]))
    assert check.exit_code == 1
    assert check.stderr.splitlines()[0] == (
        f"error: {tmp_path / 'a_b.yaml'}: 565d6ca5-75ba-4c82-9b13-add25353471c: {taken}"
    )
    for args in (["render", "--out", str(tmp_path / "p")], ["replay", "--sample"]):
        result = ok(runner.invoke(main, [*args, "--rules", str(tmp_path)]))
        assert taken in result.stderr, (args, result.output)
    toml = tmp_path / "t"
    toml.mkdir()
    for name in ("x.1.toml", "x_1.toml"):
        (toml / name).write_bytes(HISTORY.read_bytes())
    imported = ok(runner.invoke(main, ["import", "--dry-run", str(toml)]))
    assert imported.exit_code == 1 and "'x_1' is already" in imported.stdout


HOSTILE = {
    "not-utf8.yaml": b"name: \xff\xfe\n",
    "binary.toml": b"\x00\x01\x02[rule]\n",
    "deep.yaml": b"[" * 100_000 + b"]" * 100_000,
    "deep.toml": b"[rule]\nx = " + b"[" * 100_000 + b"]" * 100_000 + b"\n",
    "list.yaml": b"- a\n- b\n",
    "python-tag.yaml": b"!!python/object/apply:os.system ['true']\n",
    "inf-risk.yaml": KEYCHAIN.replace("risk_score: 73", "risk_score: .inf").encode(),
    "bad-from.yaml": KEYCHAIN.replace("565d6ca5", "bad-from").encode() + b"from: later\n",
    "threat-string.yaml": KEYCHAIN.replace("565d6ca5", "threat").encode() + b"threat: x\n",
    "empty.yaml": b"",
}


def test_no_rule_file_makes_any_command_print_a_traceback(
    runner: CliRunner, tmp_path: Path
) -> None:
    for name, content in HOSTILE.items():
        (tmp_path / name).write_bytes(content)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "ok.yaml").write_text(KEYCHAIN, encoding="utf-8")  # found recursively
    check = ok(runner.invoke(main, ["check", "-q", str(tmp_path)]))
    errors = [line for line in check.stderr.splitlines() if line.startswith("error: ")]
    assert check.exit_code == 1 and len(errors) == len(HOSTILE), check.stderr
    named = {line.removeprefix(f"error: {tmp_path}/").split(": ")[0] for line in errors}
    assert named == set(HOSTILE), errors  # each error names its file
    for args in (
        ["render", "--rules", str(tmp_path), "--out", str(tmp_path / "p")],
        ["replay", "--rules", str(tmp_path), "--sample"],
        ["alerts", "--rules", str(tmp_path), "-"],
        ["import", "--dry-run", str(tmp_path)],
        ["check", "--diff", str(tmp_path / "deep.yaml"), str(tmp_path / "sub" / "ok.yaml")],
    ):
        result = ok(runner.invoke(main, args, input=""))
        assert "error" in result.output.lower(), (args, result.output)
