"""Options that several commands share, defined once so their flags, defaults and help agree.

``--rules`` means the same everywhere (rule files or directories; default ``./rules`` when there
is one, else the rules shipped in the package, so an installed ``ecsquery`` works anywhere);
``--format``/``--namespace``/``--index``/``--summary`` are the alert-writing options of the
commands that print alerts (``replay``, ``alerts``); ``alert_format`` turns the first three into
the output format. ``render``'s ``--format`` is a pack format, not this one.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import click

from ecsquery import data
from ecsquery.alerts.ecs import DEFAULT_NAMESPACE, namespace_error
from ecsquery.alerts.output import FORMATS, Format, make_format
from ecsquery.rules.load import load_rules
from ecsquery.rules.model import Rule

DEFAULT_RULES = Path("rules")
"""The rules folder of the current directory, taken when no ``--rules`` is given."""

existing_paths = click.Path(exists=True, path_type=Path)
"""Rule files or directories given on the command line."""

rules_option = click.option(
    "--rules",
    "rules_dirs",
    multiple=True,
    type=existing_paths,
    help="Rule files or directories (repeatable; default: ./rules, else the shipped rules).",
)

alert_format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(list(FORMATS)),
    default="ndjson",
    show_default=True,
    help="ndjson: one ECS alert document per line; bulk: Elasticsearch _bulk body (create "
    "into the data stream); table: for terminals; kibana-ndjson, kibana-bulk: the older "
    "kibana.alert.* shape.",
)

namespace_option = click.option(
    "--namespace",
    default=DEFAULT_NAMESPACE,
    show_default=True,
    help="Data stream namespace: alerts are for logs-ecsquery.alert-<namespace>.",
)

index_option = click.option(
    "--index",
    default=None,
    help="Where --format bulk creates (default: logs-ecsquery.alert-<namespace>; "
    "kibana-bulk: ecsquery-alerts).",
)

summary_option = click.option(
    "--summary",
    "summary_fmt",
    type=click.Choice(["text", "json", "none"]),
    default="text",
    show_default=True,
    help="The end-of-run summary on stderr.",
)


def rule_sources(given: Sequence[Path]) -> list[Path]:
    """The rule paths a command works on: those given, else ``./rules``, else the shipped rules
    (as a real folder for as long as the command runs, through ``importlib.resources``)."""
    if given:
        return list(given)
    if DEFAULT_RULES.is_dir():
        return [DEFAULT_RULES]
    shipped = data.as_path(data.rules())
    return [click.get_current_context().with_resource(shipped)]


def load_rules_or_fail(rules_dirs: Sequence[Path]) -> list[Rule]:
    """The rules of ``--rules`` (see :func:`rule_sources`): each bad file is reported on stderr
    and left out; a run with no rule at all fails, since it could never alert."""
    paths = rule_sources(rules_dirs)
    rules, errors = load_rules(paths)
    for error in errors:
        click.echo(f"error: {error}", err=True)
    if not rules:
        raise click.ClickException(f"no rules loaded from {', '.join(map(str, paths))}")
    return rules


def alert_format(fmt: str, namespace: str, index: str | None) -> Format:
    """The output format of ``--format``/``--namespace``/``--index``; a namespace Fleet would
    refuse is a usage error."""
    error = namespace_error(namespace)
    if error:
        raise click.BadParameter(f"{namespace!r} {error}", param_hint="'--namespace'")
    return make_format(fmt, index=index, namespace=namespace)


@contextmanager
def output_stream(output: Path, append: bool = False) -> Iterator[BinaryIO]:
    """``-o``: ``-`` is stdout (flushed, left open for the summary); a file is closed after."""
    if str(output) == "-":
        try:
            yield sys.stdout.buffer
        finally:
            sys.stdout.buffer.flush()
    else:
        with output.open("ab" if append else "wb") as stream:
            yield stream
