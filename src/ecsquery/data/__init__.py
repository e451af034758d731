"""The package's data files, found through ``importlib.resources`` and never through a path walked
up from ``__file__``: the same calls work from a checkout, an editable install and a wheel.

The files live here, under ``src/ecsquery/data/``; the checkout's top-level ``rules/``,
``extension/`` and ``samples/`` are symlinks to these folders, so each file exists once.

    templates/  the pack templates (``ecsquery render``; ``jinja2.PackageLoader``)
    rules/      the shipped rules and their exceptions (the default ``--rules``)
    deploy/     the Mac's deploy files that ``ecsquery extension dist`` copies beside the .ext
    samples/    the bundled capture (``ecsquery replay --sample``, ``make run``)
    bench/      ``make bench``'s inputs: osquery's table specs (``osquery-schema/``), the public
                eslogger sample (``eslogger/``) and the Elastic rule corpus (``elastic-rules/``, the
                multi-event rules in ``elastic-rules-multi/``, every single-event Mac rule in
                ``elastic-rules-mac/``, the whole-pack bench's input);
                ``tests/fixtures/`` links to them, so tests read this one copy

Each function returns a ``Traversable``; :func:`as_path` turns one into a real path for the
code that needs ``pathlib`` (rule loading looks beside a rule for its exceptions file).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path


def files(*parts: str) -> Traversable:
    """``ecsquery/data/<parts...>``: a file or folder of the package data."""
    node = resources.files(__name__)
    for part in parts:
        node = node / part
    return node


def rules() -> Traversable:
    """The shipped rules folder: rule YAML files and ``*.exceptions.yaml`` beside them."""
    return files("rules")


def deploy() -> Traversable:
    """The deploy files folder: ``extensions.load``, ``osquery.flags``, ``ecsquery.toml``."""
    return files("deploy")


def sample() -> Traversable:
    """The bundled capture: ten recorded stories (eslogger and Elastic Defend events)."""
    return files("samples", "capture.ndjson")


@contextmanager
def as_path(resource: Traversable) -> Iterator[Path]:
    """A filesystem path for ``resource`` while the context lasts (a copy if it is zipped)."""
    with resources.as_file(resource) as path:
        yield Path(path)
