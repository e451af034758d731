"""``ecsquery extension rows``: what the table would serve for a file, through CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from ecsquery.cli import main

ESLOGGER = (
    Path(__file__).parent / "fixtures" / "eslogger" / "mullvad_eslogger_exec_fork_exit.ndjson"
)


def test_rows_prints_one_row_per_event() -> None:
    result = CliRunner().invoke(main, ["extension", "rows", str(ESLOGGER)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["event_action"] for r in lines] == ["fork", "exec", "end", "exec"]  # time order
    assert '"served": 4' in result.stderr


def test_rows_needs_a_file() -> None:
    result = CliRunner().invoke(main, ["extension", "rows", "/nonexistent.ndjson"])
    assert result.exit_code == 2
