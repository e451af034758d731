"""``make dist``: the extension as one ``ecsquery.ext`` zipapp, plus its deploy files.

The zipapp holds the extension's modules and its pure-Python dependencies (osquery-python,
thrift without its C accelerator, future, tomli) and nothing else: no test support, no build
tooling (:data:`EXCLUDED`). The target Mac needs only a Python ≥ 3.9 at the shebang's path: by
default Command Line Tools' ``/usr/bin/python3`` (3.9), run isolated (``-I``: no PYTHONPATH, no
user site-packages, no ``sitecustomize`` from the environment of whoever starts osqueryd).
osqueryd autoloads an extension only when its file ends in ``.ext``, is a
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

from ecsquery import data

PACKAGE_FILES = ("__init__.py", "errors.py", "schema.py", "rows.py", "values.py", "py.typed")
EXCLUDED = ("dist.py", "standin.py")
"""Modules of ``ecsquery/extension`` that never run on the Mac (this builder, the test stand-in)."""
DEPENDENCIES = ("osquery", "thrift", "future", "tomli")
MIN_PYTHON = (3, 9)
DEPLOY_DIR = data.deploy()
"""Package data (``ecsquery/data/deploy``), so a wheel installed anywhere builds the same dist."""
DEPLOY_FILES = ("extensions.load", "osquery.flags", "ecsquery.toml")
DEFAULT_INTERPRETER = "/usr/bin/python3 -I"
"""One option word: Linux passes the rest of a shebang line as one argument, macOS splits it."""

# Kept to syntax every Python 2 and 3 parses, so an old interpreter prints this one line (to
# osqueryd's stderr log) instead of a SyntaxError from deep inside the package.
MAIN = """\
import sys

if sys.version_info < {min_python!r}:
    sys.exit("ecsquery.ext: needs Python >= {min_text}, but " + sys.executable + " is "
             + sys.version.split()[0] + " (rebuild with --python PATH, see the README)")

from ecsquery.extension.main import main

main()
"""


def _ignore(_: str, names: list[str]) -> list[str]:
    return [n for n in names if n == "__pycache__" or n.endswith((".so", ".pyd", ".pyc"))]


def _ignore_tooling(directory: str, names: list[str]) -> list[str]:
    top = Path(directory).name == "extension"
    return _ignore(directory, names) + [n for n in names if top and n in EXCLUDED]


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
    shutil.copytree(source / "extension", root / "ecsquery" / "extension", ignore=_ignore_tooling)
    for dep in DEPENDENCIES:
        shutil.copytree(_package_dir(dep), root / dep, ignore=_ignore)
    min_text = ".".join(map(str, MIN_PYTHON))
    main = MAIN.format(min_python=MIN_PYTHON, min_text=min_text)
    (root / "__main__.py").write_text(main, encoding="utf-8")


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


def interpreter_problem(interpreter: str) -> str | None:
    """Why osqueryd could not run (or not safely run) a zipapp with this shebang, or None."""
    words = interpreter.split()
    if not words or not os.path.isabs(words[0]):
        return (
            "give an absolute path (osqueryd's launchd job has PATH /usr/bin:/bin:/usr/sbin:/sbin)"
        )
    if Path(words[0]).name == "env":
        return "env looks the interpreter up in PATH, which whoever starts osqueryd controls"
    if len(words) > 2:
        return "at most one option word (Linux passes the rest of a shebang as one argument)"
    return None


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
        (out / name).write_bytes((DEPLOY_DIR / name).read_bytes())
    return target


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ecsquery.extension.dist", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("dist"), help="output directory")
    parser.add_argument(
        "--python", default=DEFAULT_INTERPRETER, help="the shebang: a Python >= 3.9 on the Mac"
    )
    args = parser.parse_args(argv)
    problem = interpreter_problem(args.python)
    if problem:
        parser.error(f"--python {args.python!r}: {problem}")
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
