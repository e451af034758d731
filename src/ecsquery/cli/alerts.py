"""``ecsquery alerts``: osqueryd result logs in, ECS alert documents out.

A thin layer over ``ecsquery.alerts``: batch mode (``batch.read_logs``), or follow mode with a
checkpoint (``follow.follow``). The summary goes to stderr so stdout stays pure NDJSON.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import click
import orjson

from ecsquery.alerts.batch import STDIN, read_logs
from ecsquery.alerts.follow import Checkpoint
from ecsquery.alerts.follow import follow as follow_logs
from ecsquery.alerts.newterms import NewTermsGate, NewTermsStore
from ecsquery.alerts.output import AlertSink, Format
from ecsquery.alerts.reader import DEFAULT_MAX_LINE, AlertReader
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
from ecsquery.errors import EcsqueryError, RuleLoadError
from ecsquery.rules.model import MAX_DURATION, PACK_NAME, Rule, duration_seconds

STORE_SUFFIX = ".newterms.sqlite"
"""The new_terms first-seen store lives beside the checkpoint: ``<checkpoint>.newterms.sqlite``."""


def learning_option(value: str | None) -> int | None:
    """``--new-terms-learning``: a duration (``7d``, ``12h``, ``0``) in ms; None (or
    ``history``): each rule's history window."""
    if value is None or value.strip() == "history":
        return None
    if value.strip() == "0":
        return 0
    try:
        seconds = duration_seconds(value.strip())
    except RuleLoadError as exc:
        raise click.BadParameter(exc.message, param_hint="--new-terms-learning") from exc
    if seconds > MAX_DURATION:
        raise click.BadParameter(
            f"{value!r} is longer than {MAX_DURATION // 86400} days",
            param_hint="--new-terms-learning",
        )
    return seconds * 1000


def new_terms_gate(
    rules: list[Rule], checkpoint: Path | None, learning_ms: int | None
) -> NewTermsGate | None:
    """The reader's new_terms step: its store beside the checkpoint (in memory without one);
    None when no rule is a new_terms rule."""
    if not any(r.new_terms is not None for r in rules):
        return None
    path = None if checkpoint is None else checkpoint.with_name(checkpoint.name + STORE_SUFFIX)
    return NewTermsGate(rules, NewTermsStore(path), learning_ms=learning_ms)


@click.command()
@click.argument("logs", nargs=-1, type=click.Path(path_type=Path, allow_dash=True))
@rules_option
@alert_format_option
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False, allow_dash=True),
    default=STDIN,
    help="Write alerts here (default: stdout). Appended to with --checkpoint.",
)
@namespace_option
@index_option
@click.option("-f", "--follow", is_flag=True, help="Keep reading as the logs grow and rotate.")
@click.option(
    "--checkpoint",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Resume from / save the read position here (without --follow: read what is new, exit).",
)
@click.option(
    "--poll", type=float, default=1.0, show_default=True, help="Follow: seconds between polls."
)
@click.option(
    "--idle-exit",
    type=float,
    default=None,
    help="Follow: stop after this many seconds without new lines.",
)
@summary_option
@click.option("--pack", default=PACK_NAME, show_default=True, help="Pack name the rules run in.")
@click.option(
    "--max-line-bytes",
    type=int,
    default=DEFAULT_MAX_LINE,
    show_default=True,
    help="Longer lines are counted as malformed, never buffered whole.",
)
@click.option(
    "--new-terms-learning",
    metavar="DURATION",
    default=None,
    help="new_terms rules: how long after a rule's first event its tuples are only recorded,"
    " not alerted (e.g. 7d, 12h, 0) [default: history, the rule's history window].",
)
def alerts(
    logs: tuple[Path, ...],
    rules_dirs: tuple[Path, ...],
    fmt: str,
    output: Path,
    namespace: str,
    index: str | None,
    follow: bool,
    checkpoint: Path | None,
    poll: float,
    idle_exit: float | None,
    summary_fmt: str,
    pack: str,
    max_line_bytes: int,
    new_terms_learning: str | None,
) -> None:
    """Turn osqueryd result logs into ECS alert documents with MITRE ATT&CK.

    LOGS are result logs: plain, rotated (.1, .2.zst...), gzip or zstd; '-' (or none) is stdin.
    Lines without a row of ecs_process_events (other queries) are skipped before parsing.

    \b
    With --follow, each LOG is the live file (e.g. /var/log/osquery/osqueryd.results.log),
    followed across rotation by rename or copy-truncate. With --checkpoint, a restart after a
    crash resumes where the last run stopped: nothing lost, nothing written twice (use -o FILE;
    on stdout the stable ecsquery.alert_id lets the consumer drop repeats).

    \b
    new_terms rules alert on a tuple of their fields' values not seen in their history
    window. The first-seen store is CHECKPOINT.newterms.sqlite (in memory without
    --checkpoint); it starts empty, so each rule first learns for --new-terms-learning
    (default: its history window), recording tuples without alerting.
    """
    out_format = alert_format(fmt, namespace, index)
    rules = load_rules_or_fail(rules_dirs)
    live = follow or checkpoint is not None
    paths = list(logs) or [STDIN]
    if live and STDIN in paths:
        raise click.ClickException("--follow and --checkpoint need log files, not stdin")

    learning_ms = learning_option(new_terms_learning)
    try:
        gate = new_terms_gate(rules, checkpoint if live else None, learning_ms)
    except EcsqueryError as exc:
        raise click.ClickException(str(exc)) from exc
    reader = AlertReader(rules, max_line_bytes=max_line_bytes, pack=pack, new_terms=gate)
    to_file = output != STDIN
    if to_file:  # created 0600: alerts hold command lines, not for every local user to read
        try:
            os.close(os.open(output, os.O_WRONLY | os.O_CREAT, 0o600))
        except OSError as exc:
            raise click.ClickException(f"cannot write {output}: {exc.strerror}") from exc
    read = 0
    try:
        read = _run(reader, paths, output, out_format, live, checkpoint, follow, poll, idle_exit)
    except OSError as exc:  # the output: a full disk, a closed pipe
        where = output if to_file else "stdout"
        raise click.ClickException(f"cannot write alerts to {where}: {exc.strerror}") from exc
    finally:
        if gate is not None:
            gate.store.close()  # what no checkpoint covers is dropped, as a kill would
    if summary_fmt == "text":
        click.echo(reader.summary.render(), err=True)
    elif summary_fmt == "json":
        click.echo(orjson.dumps(reader.summary.to_dict()).decode(), err=True)
    if not live and not read:
        raise click.ClickException("no input could be read")


def _run(
    reader: AlertReader,
    paths: list[Path],
    output: Path,
    out_format: Format,
    live: bool,
    checkpoint: Path | None,
    follow: bool,
    poll: float,
    idle_exit: float | None,
) -> int:
    """Batch or follow mode into ``output``; the number of inputs read (batch mode)."""
    stop = {"now": False}

    def request_stop(signum: int, frame: object) -> None:
        stop["now"] = True

    with output_stream(output, append=checkpoint is not None) as stream:
        sink = AlertSink(stream, out_format)
        try:
            if live:
                previous = {
                    s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)
                }
                try:
                    follow_logs(
                        reader,
                        sink,
                        paths,
                        checkpoint=Checkpoint(checkpoint) if checkpoint else None,
                        output=output if output != STDIN else None,
                        poll=poll,
                        idle_exit=idle_exit if follow else 0.0,
                        should_stop=lambda: stop["now"],
                    )
                finally:
                    for s, handler in previous.items():
                        signal.signal(s, handler)
                return len(paths)
            return read_logs(reader, sink, paths, stdin=sys.stdin.buffer)
        except EcsqueryError as exc:
            raise click.ClickException(str(exc)) from exc
