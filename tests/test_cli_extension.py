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


def test_dist_builds_with_the_mac_shebang(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["extension", "dist", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "#!/usr/bin/python3 -I)" in result.stdout
    assert (tmp_path / "ecsquery.ext").read_bytes().startswith(b"#!/usr/bin/python3 -I\n")


def test_dist_refuses_a_shebang_osqueryd_cannot_run_safely(tmp_path: Path) -> None:
    for python, why in [
        ("python3", "give an absolute path"),
        ("/usr/bin/env python3", "env looks the interpreter up in PATH"),
        ("/usr/bin/python3 -I -u", "at most one option word"),
    ]:
        result = CliRunner().invoke(
            main, ["extension", "dist", "--out", str(tmp_path), "--python", python]
        )
        assert result.exit_code == 2 and why in result.stderr, result.output
    assert not (tmp_path / "ecsquery.ext").exists()
