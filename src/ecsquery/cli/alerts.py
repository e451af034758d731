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
from ecsquery.errors import EcsqueryError
from ecsquery.rules.model import PACK_NAME


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
) -> None:
    """Turn osqueryd result logs into ECS alert documents with MITRE ATT&CK.

    LOGS are result logs: plain, rotated (.1, .2.zst...), gzip or zstd; '-' (or none) is stdin.
    Lines without a row of ecs_process_events (other queries) are skipped before parsing.

    \b
    With --follow, each LOG is the live file (e.g. /var/log/osquery/osqueryd.results.log),
    followed across rotation by rename or copy-truncate. With --checkpoint, a restart after a
    crash resumes where the last run stopped: nothing lost, nothing written twice (use -o FILE;
    on stdout the stable ecsquery.alert_id lets the consumer drop repeats).
    """
    out_format = alert_format(fmt, namespace, index)
    rules = load_rules_or_fail(rules_dirs)
    live = follow or checkpoint is not None
    paths = list(logs) or [STDIN]
    if live and STDIN in paths:
        raise click.ClickException("--follow and --checkpoint need log files, not stdin")

    reader = AlertReader(rules, max_line_bytes=max_line_bytes, pack=pack)
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
