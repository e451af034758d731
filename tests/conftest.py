"""Fixtures shared by several test modules, defined once (pytest finds them here by name)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from ecsquery.rules.load import load_rules
from ecsquery.rules.model import Rule
from scenario_support import RULES


@pytest.fixture
def sockdir() -> Iterator[Path]:
    """A fresh directory for Unix sockets: their paths are limited to ~104 bytes, so it is a
    short one under /tmp, not under pytest's long ``tmp_path``."""
    with tempfile.TemporaryDirectory(prefix="eq", dir="/tmp") as d:
        yield Path(d)


@pytest.fixture
def runner() -> CliRunner:
    """click's runner for the ``ecsquery`` command (stdout and stderr kept apart)."""
    return CliRunner()


@pytest.fixture(scope="session")
def shipped_rules() -> list[Rule]:
    """The shipped rules (``rules/``), loaded once; loading them must not fail."""
    loaded, errors = load_rules([RULES])
    assert errors == []
    return loaded
