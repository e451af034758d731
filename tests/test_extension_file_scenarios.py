"""The file-event stories (``tests/scenarios/files/``): a root crontab change, a LaunchAgent
persistence and a sequence with a file step, each with its near miss.

Two levels: the extension side (always): every story's eslogger capture goes through the
extension pipeline with the default scope and the file rows the rules need are served; and end
to end (``ecsquery replay`` with the stories' rules from the fixture corpus), which needs the
compile side to choose ``ecs_file_events`` for ``file`` rules (issue #15's "tables" work,
merged here from h/tables): a rule that does not compile to that table is skipped, naming why.
"""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from ecsquery.errors import EcsqueryError
from ecsquery.extension.pipeline import Pipeline
from ecsquery.extension.table import EcsProcessTable
from ecsquery.extension.window import Window
from ecsquery.rules.compile import compile_rule
from ecsquery.rules.model import Rule
from ecsquery.schema import FILE_TABLE
from scenario_support import alert_key

STORIES = Path(__file__).parent / "scenarios" / "files"
FIXTURES = Path(__file__).parent / "fixtures"
CORPORA = (FIXTURES / "elastic-rules-mac", FIXTURES / "elastic-rules-multi")


def stories() -> list[tuple[str, Path, dict[str, Any]]]:
    return [
        (d.name, d / "events.ndjson", yaml.safe_load((d / "expected.yaml").read_text()))
        for d in sorted(STORIES.iterdir())
        if (d / "expected.yaml").is_file()
    ]


ALL = stories()


def corpus_rule(slug: str) -> Rule:
    path = next(c / f"{slug}.toml" for c in CORPORA if (c / f"{slug}.toml").exists())
    return Rule.from_mapping(tomllib.loads(path.read_text("utf-8"))["rule"], slug=slug)


def file_rows(events: Path) -> tuple[list[dict[str, str]], Pipeline]:
    files = Window(max_age=10**10)
    pipeline = Pipeline(Window(max_age=10**10), windows={"file": files}, host_name="alice-macbook")
    for line in events.read_text().splitlines():
        pipeline.feed_line(line, "eslogger")
    return EcsProcessTable(files, FILE_TABLE.columns, FILE_TABLE.name).generate(None), pipeline


def test_generated_files_are_in_sync_with_build_script() -> None:
    spec = importlib.util.spec_from_file_location("file_scenario_build", STORIES / "build.py")
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = build
    try:
        spec.loader.exec_module(build)
    finally:
        del sys.modules[spec.name]
    files = build.render()
    stale = [str(p) for p, text in files.items() if not p.exists() or p.read_text() != text]
    assert stale == [], "run: python tests/scenarios/files/build.py"
    assert {p.parent.name for p in files if p.name == "expected.yaml"} == {n for n, _, _ in ALL}
    assert len(ALL) == 6 and sum(1 for _, _, e in ALL if e["alerts"]) == 3


FILE_STEPS = {
    "root_crontab_echo": [("modification", "/private/var/at/tabs/root", "/bin/zsh")],
    "benign_root_crontab_edit": [
        ("modification", "/private/var/at/tabs/tmp.7210", "/usr/bin/crontab"),
        ("modification", "/private/var/at/tabs/tmp.7210", "/usr/bin/crontab"),
        ("rename", "/private/var/at/tabs/root", "/usr/bin/crontab"),
    ],
    "launch_agent_python": [
        ("modification", "/private/tmp/.cache/com.apple.softwareupdated.plist", "/usr/bin/python3"),
        ("modification", "/private/tmp/.cache/com.apple.softwareupdated.plist", "/usr/bin/python3"),
        ("rename", "/Users/alice/Library/LaunchAgents/com.apple.softwareupdated.plist",
         "/usr/bin/python3"),
    ],
    "benign_launch_agent_vim": [
        ("modification", "/Users/alice/Library/LaunchAgents/4913", "/usr/bin/vim"),
        ("modification", "/Users/alice/Library/LaunchAgents/com.alice.backup.plist",
         "/usr/bin/vim"),
    ],
    "discovery_output_to_tmp": [
        ("modification", "/private/tmp/.u", "/bin/zsh"),  # the forked shell's create
        ("modification", "/private/tmp/.u", "/usr/bin/whoami"),
    ],
    "benign_discovery_output_home": [],  # ~/me.txt is outside the default scope
}  # fmt: skip


@pytest.mark.parametrize(("name", "events", "expected"), ALL, ids=[n for n, _, _ in ALL])
def test_the_extension_serves_each_storys_file_events(
    name: str, events: Path, expected: dict[str, Any]
) -> None:
    rows, pipeline = file_rows(events)
    assert [(r["event_action"], r["file_path"], r["process_executable"]) for r in rows] == (
        FILE_STEPS[name]
    )
    stats = pipeline.stats.snapshot()
    assert not any(k.startswith("bad.") for k in stats), stats
    for row in rows:  # every actor is known to the tree: its argv and parent are filled
        assert row["process_args"] and row["process_parent_executable"], row


def _file_table_compiled(slug: str) -> str:
    """Why the end-to-end run cannot be done yet ("" when it can)."""
    try:
        compiled = compile_rule(corpus_rule(slug))
    except EcsqueryError as exc:
        return f"{slug} does not compile yet: {str(exc)[:200]}"
    sql = " ".join(str(v) for v in vars(compiled).values())
    if FILE_TABLE.name not in sql:
        return f"{slug} does not compile to {FILE_TABLE.name} yet (compile side, issue #15)"
    return ""


@pytest.mark.parametrize(("name", "events", "expected"), ALL, ids=[n for n, _, _ in ALL])
def test_story_alerts_end_to_end(name: str, events: Path, expected: dict[str, Any]) -> None:
    from ecsquery.replay.run import replay

    reasons = [r for r in map(_file_table_compiled, expected["rules"]) if r]
    if reasons:
        pytest.skip("; ".join(reasons))
    rules = [corpus_rule(slug) for slug in expected["rules"]]
    result = replay([events], rules, host=expected["host"])
    assert sum(result.read.rejected.values()) == 0
    got = sorted(alert_key(a)[:5] for a in result.alerts)
    want = sorted(
        (
            a["rule"],
            a["host"],
            a["process"]["executable"],
            tuple(a["process"]["args"]),
            a["process"]["parent"],
        )
        for a in expected["alerts"]
    )
    assert got == want
