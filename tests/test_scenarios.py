"""The scenario suite: attack and benign stories replayed through the shipped rules and pack.

Each ``tests/scenarios/<name>/`` holds the story's events in its real source format and
``expected.yaml`` with the alerts it must produce (rule, host, process, parent, MITRE ids).
The test checks exactly those, once each, and that every hit was returned by two scheduled
runs (the events sit in two overlapping lookback windows) yet alerted once.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ecsquery.replay.run import ReplayResult, rendered_pack, replay
from ecsquery.replay.scheduler import PackQuery
from ecsquery.rules.load import load_rules
from ecsquery.rules.model import Rule
from scenario_support import (
    RULES,
    SAMPLE,
    SCENARIOS,
    Scenario,
    alert_key,
    scenarios,
)

ALL = scenarios()


@pytest.fixture(scope="module")
def shipped() -> tuple[list[Rule], list[PackQuery]]:
    rules, errors = load_rules([RULES])
    assert errors == []
    queries, compile_errors = rendered_pack(rules)
    assert compile_errors == []
    return rules, queries


def run(shipped: tuple[list[Rule], list[PackQuery]], paths: list[Path], host: str) -> ReplayResult:
    rules, queries = shipped
    return replay(paths, rules, host=host, queries=queries)


def test_generated_files_are_in_sync_with_build_script() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("scenario_build", SCENARIOS / "build.py")
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = build  # dataclasses look their module up there
    try:
        spec.loader.exec_module(build)
    finally:
        del sys.modules[spec.name]
    files = build.render()
    stale = [str(p) for p, text in files.items() if not p.exists() or p.read_text() != text]
    assert stale == [], "run: python tests/scenarios/build.py"
    assert {p.parent.name for p in files if p.name == "expected.yaml"} == {
        s.name for s in scenarios(every=True)
    }


def test_suite_covers_the_stories() -> None:
    formats = {s.expected["format"] for s in ALL}
    assert formats == {"eslogger", "ecs"}
    attacks = [s for s in ALL if s.expected["alerts"]]
    assert len(attacks) == 5 and len(ALL) == 10


@pytest.mark.parametrize("scenario", ALL, ids=[s.name for s in ALL])
def test_scenario(scenario: Scenario, shipped: tuple[list[Rule], list[PackQuery]]) -> None:
    result = run(shipped, [scenario.events], scenario.host)
    assert sum(result.read.rejected.values()) == 0 and result.read.without_time == 0
    assert sorted(alert_key(a) for a in result.alerts) == scenario.expected_hits()
    # every hit was in two overlapping lookback windows, and alerted once
    assert all(n == 2 for n in result.hits.values())
    assert len(result.hits) == len(result.alerts) == result.result_lines
    assert len({a["ecsquery"]["alert_id"] for a in result.alerts}) == len(result.alerts)


def test_the_sample_capture_is_all_scenarios_together(
    shipped: tuple[list[Rule], list[PackQuery]],
) -> None:
    """``make run``'s capture: one file, mixed formats and hosts; the union of the alerts."""
    result = run(shipped, [SAMPLE], "alice-macbook")
    expected = sorted(k for s in ALL for k in s.expected_hits())
    assert sorted(alert_key(a) for a in result.alerts) == expected
    assert set(result.read.hosts) == {"alice-macbook", "bob-mbp", "build-mac-02", "ci-linux-01"}
