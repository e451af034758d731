"""``process.env_vars``: only the variables named in ``capture_env_vars``, as Elastic Defend's
``mac.advanced.capture_env_vars`` (README, "process.env_vars and process.previous.executable")."""

from __future__ import annotations

import json
import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from ecsquery.extension.model import ARG_MAX_CHARS, EnvCapture
from ecsquery.extension.pipeline import Pipeline
from ecsquery.extension.table import EcsProcessTable
from ecsquery.extension.window import Window

ESLOGGER = (
    (Path(__file__).parent / "fixtures" / "eslogger" / "mullvad_eslogger_exec_fork_exit.ndjson")
    .read_text()
    .splitlines()
)


def rows(line: str, capture: EnvCapture | None = None) -> list[dict[str, str]]:
    pipeline = Pipeline(Window(max_age=10**10), env_capture=capture)
    pipeline.feed_line(line, "test")
    return EcsProcessTable(pipeline.window).generate(None)


def test_exec_env_keeps_only_the_captured_variables() -> None:
    """``process.env_vars`` from eslogger's ``exec.env``, as Elastic Defend's
    ``capture_env_vars``: only the named variables (exact, case-sensitive names), an element
    past ``ignore_above`` dropped (it could never match)."""
    message = json.loads(ESLOGGER[1])
    message["event"]["exec"]["env"] = [
        "HOME=/Users/alice",
        "DYLD_INSERT_LIBRARIES=/tmp/x.dylib",
        "DYLD_INSERT_LIBRARIES_X=1",  # another name sharing the prefix
        "ld_preload=/tmp/y.so",  # names are case-sensitive
        "LD_PRELOAD=" + "y" * ARG_MAX_CHARS,  # over ignore_above
        "LD_PRELOAD=",
        "RUNNER_TRACKING_ID=github_1",
    ]
    [row] = rows(json.dumps(message))
    assert json.loads(row["process_env_vars"]) == [
        "DYLD_INSERT_LIBRARIES=/tmp/x.dylib",
        "LD_PRELOAD=",
        "RUNNER_TRACKING_ID=github_1",
    ]
    message["event"]["exec"]["env"] = ["HOME=/Users/alice", "PATH=/usr/bin:/bin"]
    [row] = rows(json.dumps(message))
    assert row["process_env_vars"] == ""


def test_env_capture_names_and_byte_cap() -> None:
    """The names come from the settings (``capture_env_vars``); the cap is in UTF-8 bytes (a
    lone surrogate counted as its three bytes); a non-text element is never kept."""
    capture = EnvCapture(("FOO", "É"), max_bytes=10)
    assert capture(("FOO=bar", "BAR=foo", 7, "FOO=12")) == ("FOO=bar",)  # 7 + 6 > 10 bytes
    assert capture(("É=éé",)) == ("É=éé",)  # 7 bytes in 4 characters
    assert capture(("FOO=\ud800\ud800",)) == ("FOO=\ud800\ud800",)  # 4 + 2 × 3 = 10 bytes
    assert capture(("FOO=\ud800\ud800a",)) == ()  # 11 bytes
    assert EnvCapture(())(("FOO=bar",)) == ()
    assert EnvCapture()(("DYLD_LIBRARY_PATH=/x", "PATH=/bin", "DYLD_FRAMEWORK_PATH=/y")) == (
        "DYLD_LIBRARY_PATH=/x",
        "DYLD_FRAMEWORK_PATH=/y",
    )


def test_captured_variables_come_from_the_pipelines_setting() -> None:
    message = json.loads(ESLOGGER[1])  # its env is ["FOO=bar"]
    [row] = rows(json.dumps(message), EnvCapture(("FOO",)))
    assert row["process_env_vars"] == '["FOO=bar"]'


_ENV_ITEMS = st.sampled_from(
    ["PATH=/bin", "DYLD_LIBRARY_PATH=/x", "X\nDYLD_INSERT_LIBRARIES=1", "LD_PRELOAD=", "", "\n"]
) | st.text(alphabet="DYL_=\nRUNIE", max_size=12)


@settings(max_examples=500)
@given(st.lists(_ENV_ITEMS, max_size=8))
def test_the_one_scan_finds_what_testing_each_element_finds(env: list[str]) -> None:
    """The joined-environment scan only says when no element can be captured: with it and
    with the exact test of each element alone (a scan that always finds), the same capture."""
    fast = EnvCapture()
    exact = EnvCapture()
    exact._any = re.compile("")  # finds at once: every environment takes the exact test
    assert fast(env) == exact(env)
