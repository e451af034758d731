"""``ecsquery replay``: recorded events → the rendered pack on its schedule → alerts.

A thin layer over ``ecsquery.replay.run.replay``. Alerts go to stdout (or ``-o``), the summary
to stderr, so ``ecsquery replay ... | jq`` sees only alerts.
"""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path
from typing import BinaryIO

import click
import orjson

from ecsquery import data
from ecsquery.alerts.output import AlertSink
from ecsquery.cli.alerts import learning_option
from ecsquery.cli.options import (
    alert_format,
    alert_format_option,
    index_option,
    load_rules_or_fail,
    namespace_option,
    output_stream,
    rules_option,
    summary_option,
)
from ecsquery.errors import EcsqueryError
from ecsquery.replay import report
from ecsquery.replay.events import DEFAULT_HOST, SOURCES
from ecsquery.replay.run import rendered_pack
from ecsquery.replay.run import replay as run_replay

_PROGRESS_MIN_BYTES = 1 << 20
"""Smaller inputs finish before a bar would be worth drawing."""


@click.command()
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--events",
    "events",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A capture file (repeatable; FILES after the options work too).",
)
@click.option(
    "--sample",
    is_flag=True,
    help="Also replay the bundled capture (10 recorded stories, shipped in the package).",
)
@rules_option
@alert_format_option
@click.option(
    "--source",
    type=click.Choice(SOURCES),
    default="auto",
    show_default=True,
    help="Record format; auto decides per line (files may mix formats).",
)
@click.option(
    "--results-log",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the osqueryd result lines here (feed them to `ecsquery alerts`).",
)
@click.option(
    "--host",
    default=DEFAULT_HOST,
    show_default=True,
    help="Host of records that carry none (eslogger messages, osquery rows).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path, allow_dash=True),
    default="-",
    help="Write alerts here (default: stdout).",
)
@namespace_option
@index_option
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar on stderr (default: when stderr is a terminal and the input > 1 MiB).",
)
@summary_option
@click.option(
    "--new-terms-learning",
    metavar="DURATION",
    default="0",
    show_default=True,
    help="new_terms rules: how long after a rule's first event tuples are only recorded"
    " (0: the recording is the history; 'history': the rule's history window).",
)
def replay(
    files: tuple[Path, ...],
    events: tuple[Path, ...],
    sample: bool,
    rules_dirs: tuple[Path, ...],
    fmt: str,
    source: str,
    results_log: Path | None,
    host: str,
    output: Path,
    namespace: str,
    index: str | None,
    progress: bool | None,
    summary_fmt: str,
    new_terms_learning: str,
) -> None:
    """Replay recorded process events through the rules' osquery pack and print the alerts.

    Captures are NDJSON of Elastic Defend / ECS documents, eslogger JSON, or osquery
    es_process_events / process_events rows (bare, or as result-log lines). They are
    normalized by the extension's code, sorted by time (duplicates by event id kept once,
    records without a time skipped; all counted), and every rule's rendered pack SQL runs over
    them on the rule's schedule in event time. Each run's new rows become osqueryd result
    lines, which the alert reader turns into alerts.

    \b
    Example:
      ecsquery replay --sample --host alice-macbook --format table
    """
    out_format = alert_format(fmt, namespace, index)
    learning_ms = learning_option(new_terms_learning)
    paths = [*events, *files]
    if sample:
        bundled = data.as_path(data.sample())
        paths.append(click.get_current_context().with_resource(bundled))
    if not paths:
        raise click.UsageError("no capture given (use --events FILE, FILES or --sample)")
    rules = load_rules_or_fail(rules_dirs)
    try:
        queries, compile_errors = rendered_pack(rules)
    except EcsqueryError as exc:
        raise click.ClickException(str(exc)) from None
    for error in compile_errors:
        click.echo(f"error: {error} (rule left out of the pack)", err=True)
    if not queries:
        raise click.ClickException("no rule compiles; nothing to replay")

    total = sum(p.stat().st_size for p in paths)
    show = progress if progress is not None else (
        sys.stderr.isatty() and total > _PROGRESS_MIN_BYTES
    )  # fmt: skip
    log: BinaryIO | None = results_log.open("wb") if results_log else None
    try:
        bar = click.progressbar(length=total, label="reading events", file=sys.stderr)
        with bar if show else nullcontext():
            result = run_replay(
                paths, rules, source=source, host=host, results_log=log,
                progress=bar.update if show else None, queries=queries,
                shape=out_format.shape, new_terms_learning_ms=learning_ms,
            )  # fmt: skip
    except (EcsqueryError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        if log is not None:
            log.close()

    with output_stream(output) as stream:
        AlertSink(stream, out_format).write(result.alerts)
        if fmt == "table" and not result.alerts:
            stream.write(b"no alerts\n")
    if summary_fmt == "text":
        click.echo(report.render(result), err=True)
    elif summary_fmt == "json":
        click.echo(orjson.dumps(report.to_dict(result)).decode(), err=True)
