"""The wheel works outside the checkout: package data, not paths walked up from the source tree.

The test builds a wheel from the tracked files only (as a fresh clone has them), with the
venv's own setuptools, installs it with ``--no-deps`` into a new virtual environment whose
dependencies come from the project venv's site-packages (a ``.pth`` line: nothing is
downloaded), and runs the three commands a new user runs first, from a directory that holds no
``rules/`` and no checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from ecsquery import data

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_ALERTS = 5  # the five attack stories of the bundled capture


def _tracked_tree(dest: Path) -> None:
    """The files a clone has (``git ls-files``; the symlinks at the top stay symlinks)."""
    names = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout.split(b"\0")
    for name in filter(None, names):
        source, target = ROOT / os.fsdecode(name), dest / os.fsdecode(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        elif source.is_file():  # a file deleted in the work tree but not yet in the index
            shutil.copy2(source, target)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``bin/`` of a fresh venv holding only the wheel (dependencies borrowed, not installed)."""
    tmp = tmp_path_factory.mktemp("wheel")
    clone, wheels, env = tmp / "clone", tmp / "wheels", tmp / "venv"
    _tracked_tree(clone)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    build = [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(wheels)]
    subprocess.run([*build, str(clone)], check=True)
    (wheel,) = wheels.glob("ecsquery-*.whl")
    venv.create(env, with_pip=False)
    python = env / "bin" / "python"
    install = [*pip, "--python", str(python), "install", "--no-deps", "--no-index"]
    subprocess.run([*install, str(wheel)], check=True)
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    deps = sysconfig.get_paths()["purelib"]  # this venv's: osquery, thrift, click, jinja2...
    (Path(purelib) / "_ecsquery_test_deps.pth").write_text(deps + "\n", encoding="utf-8")
    shutil.rmtree(clone)  # nothing of the source tree is left to find
    return env / "bin"


def _run(bin_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return subprocess.run(
        [str(bin_dir / "ecsquery"), *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def test_the_wheel_imports_its_own_copy(installed: Path, tmp_path: Path) -> None:
    where = subprocess.run(
        [str(installed / "python"), "-c", "import ecsquery; print(ecsquery.__file__)"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert where.startswith(str(installed.parent)), where


def test_render_replay_and_dist_outside_the_checkout(installed: Path, tmp_path: Path) -> None:
    assert not (tmp_path / "rules").exists()
    render = _run(installed, tmp_path, "render", "--out", "packs")
    assert render.returncode == 0, render.stderr
    assert render.stdout.splitlines()[0] == "rendered 2 rules into 5 files:"
    assert (tmp_path / "packs" / "osquery" / "ecsquery.conf").read_text() == (
        ROOT / "packs" / "osquery" / "ecsquery.conf"
    ).read_text()

    with data.as_path(data.sample()) as sample:
        shutil.copy(sample, tmp_path / "capture.ndjson")
    args = ("replay", "--host", "alice-macbook", "--summary", "none")
    replay = _run(installed, tmp_path, *args, "--events", "capture.ndjson")
    assert replay.returncode == 0, replay.stderr
    assert len(replay.stdout.splitlines()) == SAMPLE_ALERTS
    bundled = _run(installed, tmp_path, *args, "--sample")
    assert (bundled.returncode, bundled.stdout) == (0, replay.stdout)

    dist = _run(installed, tmp_path, "extension", "dist", "--out", "d")
    assert dist.returncode == 0, dist.stderr
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == [
        "ecsquery.ext",
        "ecsquery.toml",
        "extensions.load",
        "osquery.flags",
    ]
    for name in ("ecsquery.toml", "extensions.load", "osquery.flags"):
        assert (tmp_path / "d" / name).read_bytes() == (data.deploy() / name).read_bytes()


def test_the_runtime_never_imports_test_support() -> None:
    """Every module outside ``ecsquery.testing`` and the bench imported: no test support loads."""
    code = (
        "import importlib, pkgutil, sys\n"
        "todo = ['ecsquery']\n"
        "while todo:\n"
        "    package = importlib.import_module(todo.pop())\n"
        "    for m in pkgutil.iter_modules(package.__path__, package.__name__ + '.'):\n"
        "        if m.name not in ('ecsquery.testing', 'ecsquery.bench'):\n"
        "            importlib.import_module(m.name)\n"
        "            todo += [m.name] if m.ispkg else []\n"
        "names = [n for n in sys.modules if n.startswith('ecsquery.')]\n"
        "print(len(names), sorted(n for n in names if n.startswith('ecsquery.testing')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    count, loaded = out.stdout.split(" ", 1)
    assert int(count) > 60 and loaded == "[]\n"  # the walk did import the runtime
