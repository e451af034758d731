"""``make dist``: the extension as one ``ecsquery.ext`` zipapp, plus its deploy files.

The zipapp holds the extension's modules and its pure-Python dependencies (osquery-python,
thrift without its C accelerator, future); the target Mac needs only a Python ≥ 3.11 at the
shebang's path. osqueryd autoloads an extension only when its file ends in ``.ext``, is a
regular file owned by root (or osqueryd's user), is owner-executable, and sits in a directory
that is not sticky/world-writable like /tmp; :func:`permission_problems` checks exactly that
(plus "not group/world-writable", which osquery's docs ask for), and the build sets the mode.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import stat
import sys
import tempfile
import zipapp
from collections.abc import Sequence
from pathlib import Path

PACKAGE_FILES = ("__init__.py", "errors.py", "schema.py", "rows.py", "values.py", "py.typed")
DEPENDENCIES = ("osquery", "thrift", "future")
DEPLOY_DIR = Path(__file__).resolve().parents[3] / "extension"
DEPLOY_FILES = ("extensions.load", "osquery.flags", "ecsquery.toml")
DEFAULT_INTERPRETER = "/usr/bin/env python3"

MAIN = """\
import sys

if sys.version_info < (3, 11):
    sys.exit("ecsquery.ext needs Python >= 3.11, this is " + sys.version.split()[0])

from ecsquery.extension.main import main

main()
"""


def _ignore(_: str, names: list[str]) -> list[str]:
    return [n for n in names if n == "__pycache__" or n.endswith((".so", ".pyd", ".pyc"))]


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise SystemExit(f"dependency {name!r} is not installed")
    return Path(spec.origin).parent


def stage(root: Path) -> None:
    """Lay out the zipapp's contents under ``root``."""
    source = _package_dir("ecsquery")
    (root / "ecsquery").mkdir()
    for name in PACKAGE_FILES:
        shutil.copy2(source / name, root / "ecsquery" / name)
    shutil.copytree(source / "extension", root / "ecsquery" / "extension", ignore=_ignore)
    for dep in DEPENDENCIES:
        shutil.copytree(_package_dir(dep), root / dep, ignore=_ignore)
    (root / "__main__.py").write_text(MAIN, encoding="utf-8")


def permission_problems(path: Path) -> list[str]:
    """Why osqueryd would refuse to autoload ``path`` (empty when it would load it)."""
    problems = []
    info = path.stat()
    parent = path.parent.stat()
    if path.suffix != ".ext":
        problems.append("name does not end in .ext")
    if not stat.S_ISREG(info.st_mode):
        problems.append("not a regular file")
    if info.st_uid != 0:
        problems.append(f"owned by uid {info.st_uid}, not root")
    if not info.st_mode & stat.S_IXUSR:
        problems.append("not executable by its owner")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        problems.append("writable by group or others")
    if parent.st_mode & stat.S_ISVTX:
        problems.append("in a sticky (/tmp-like) directory")
    return problems


def build(out: Path, interpreter: str = DEFAULT_INTERPRETER) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    target = out / "ecsquery.ext"
    with tempfile.TemporaryDirectory(prefix="ecsquery-dist-") as tmp:
        stage(Path(tmp))
        zipapp.create_archive(tmp, target, interpreter=interpreter, compressed=True)
    os.chmod(target, 0o755)
    if os.geteuid() == 0:
        os.chown(target, 0, 0)
    for name in DEPLOY_FILES:
        shutil.copy2(DEPLOY_DIR / name, out / name)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ecsquery.extension.dist", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("dist"), help="output directory")
    parser.add_argument(
        "--python", default=DEFAULT_INTERPRETER, help="the shebang: a Python >= 3.11 on the Mac"
    )
    args = parser.parse_args(argv)
    target = build(args.out, args.python)
    size = target.stat().st_size
    print(f"built {target} ({size / 1024:.0f} KiB, #!{args.python})")
    for name in DEPLOY_FILES:
        print(f"copied {args.out / name}")
    problems = permission_problems(target)
    if problems:
        print(f"note: osqueryd would not autoload it here yet: {'; '.join(problems)}")
        print("      install with: sudo install -o root -g wheel -m 0755 ecsquery.ext DIR/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
