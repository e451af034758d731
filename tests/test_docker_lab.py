"""The Docker lab (``docker/compose.yaml``): osquery's official image, the extension fed a
recorded capture by its replay source, the pack, the result log, ``ecsquery alerts``.

The lab test runs only where a Docker engine answers (``docker info``); elsewhere it is skipped
with the reason. The lab's inputs are checked everywhere: the capture moved to "now" still
tells the same stories (same alerts on replay), and the lab pack is the shipped SQL.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from click.testing import CliRunner

from ecsquery.cli import main
from ecsquery.extension.dist import build
from ecsquery.replay.run import replay
from ecsquery.rules.load import load_rules
from scenario_support import RULES, SAMPLE, alert_key, scenarios

DOCKER = Path(__file__).resolve().parents[1] / "docker"
PACK = RULES.parent / "packs" / "osquery" / "ecsquery.conf"
LAB_TIMEOUT = 300


def prepare_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lab_prepare", DOCKER / "lab" / "prepare.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def expected_processes() -> list[tuple[object, ...]]:
    """(rule, executable, args) of every scenario alert: the lab has one host."""
    return sorted((k[0], k[2], k[3]) for s in scenarios() for k in s.expected_hits())


def test_lab_inputs_tell_the_same_stories(tmp_path: Path) -> None:
    prepare = prepare_module()
    lines = SAMPLE.read_text().splitlines()
    now = time.time()
    shifted = prepare.shift(lines, now, 2.0, 5.0)
    capture = tmp_path / "capture.ndjson"
    capture.write_text("\n".join(shifted) + "\n")
    rules, _ = load_rules([RULES])
    result = replay([capture], rules, host="alice-macbook")
    assert sorted((k[0], k[2], k[3]) for k in map(alert_key, result.alerts)) == (
        expected_processes()
    )
    assert result.read.rows == len(lines)  # every event kept
    stamps = [json.loads(x).get("time") or json.loads(x)["@timestamp"] for x in shifted]
    assert max(stamps) < time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))

    services = yaml.safe_load((DOCKER / "compose.yaml").read_text())["services"]
    assert services["osqueryd"]["image"].endswith("osquery/osquery:5.12.1-ubuntu22.04}")
    assert set(services) == {"prepare", "osqueryd", "extension", "alerts"}

    lab = json.loads(prepare.lab_pack(PACK.read_text(), 60))
    shipped = json.loads(PACK.read_text())
    assert lab["platform"] == "linux" and shipped["platform"] == "darwin"
    for name, query in shipped["queries"].items():
        assert lab["queries"][name]["query"] == query["query"]  # the SQL is the shipped text
        assert (lab["queries"][name]["platform"], lab["queries"][name]["interval"]) == (
            "linux",
            60,
        )


def docker_engine() -> str | None:
    """Why the lab cannot run here, or None when a Docker engine answers."""
    if shutil.which("docker") is None:
        return "no docker CLI on PATH"
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"docker info failed: {exc}"
    if info.returncode != 0:
        detail = info.stderr.decode(errors="replace").strip().splitlines()
        return f"no Docker engine answers `docker info` ({detail[-1] if detail else 'no output'})"
    compose = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=20)
    if compose.returncode != 0:
        return "the docker compose plugin is not installed"
    return None


@pytest.mark.docker
def test_docker_lab_alerts(tmp_path: Path) -> None:
    reason = docker_engine()
    if reason is not None:
        pytest.skip(reason)
    dist, out = tmp_path / "dist", tmp_path / "out"
    build(dist)
    out.mkdir()
    out.chmod(0o777)
    env = {
        **os.environ,
        "ECSQUERY_DIST": str(dist),
        "ECSQUERY_LAB_OUT": str(out),
        "COMPOSE_PROJECT_NAME": f"ecsquery-lab-{uuid.uuid4().hex[:8]}",
    }
    compose = ["docker", "compose", "-f", str(DOCKER / "compose.yaml")]
    log = out / "osqueryd.results.log"
    try:
        up = subprocess.run(
            [*compose, "up", "-d", "prepare", "osqueryd", "extension"],
            env=env,
            capture_output=True,
            timeout=LAB_TIMEOUT,
        )
        assert up.returncode == 0, up.stderr.decode(errors="replace")
        alerts: list[dict[str, object]] = []
        deadline = time.monotonic() + LAB_TIMEOUT
        while time.monotonic() < deadline and len(alerts) < len(expected_processes()):
            time.sleep(5)
            if log.exists():
                result = CliRunner().invoke(main, ["alerts", "--rules", str(RULES), str(log)])
                alerts = [json.loads(x) for x in result.stdout.splitlines()]
        logs = subprocess.run([*compose, "logs"], env=env, capture_output=True, timeout=60)
        sys.stderr.write(logs.stdout.decode(errors="replace")[-4000:])
        got = sorted((k[0], k[2], k[3]) for k in map(alert_key, alerts))
        assert got == expected_processes()
        assert {a["host"]["name"] for a in alerts} == {"alice-macbook"}  # type: ignore[index]
    finally:
        subprocess.run([*compose, "down", "-v"], env=env, capture_output=True, timeout=120)
