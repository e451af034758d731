"""The extension's entry point, as osqueryd runs it.

osqueryd executes ``ecsquery.ext --socket PATH --timeout N --interval N [--verbose]``; those are
the only flags (unknown ones are tolerated with a warning, since osquery versions differ).
Exit codes, as osquery's own SDK: 0 after a clean stop (osqueryd went away or asked us to shut
down, SIGTERM), 1 when registration failed or osqueryd no longer lists the extension as
registered (:mod:`ecsquery.extension.liveness`). Either way osqueryd's watcher respawns it.
A refused setting is logged once and the process waits, unregistered, until osqueryd goes (then
exits 1), so the error is one line in osqueryd's log rather than a respawn loop.
"""

from __future__ import annotations

import argparse
import logging
import pwd
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from ecsquery.extension import expiry, liveness
from ecsquery.extension.argv import QUOTED_SINCE, quotes_cmdline, requote_joined
from ecsquery.extension.client import osquery_version
from ecsquery.extension.config import ConfigError, Settings, load_settings
from ecsquery.extension.files import FILE_WINDOW_BYTES, FileScope
from ecsquery.extension.model import EnvCapture
from ecsquery.extension.normalize import files
from ecsquery.extension.pipeline import Pipeline
from ecsquery.extension.server import ExtensionServer
from ecsquery.extension.sources import Source
from ecsquery.extension.sources.eslogger import EsloggerSource
from ecsquery.extension.sources.osquery import OsquerySource
from ecsquery.extension.sources.replay import ReplaySource
from ecsquery.extension.table import EcsProcessTable
from ecsquery.extension.tree import ProcessTree
from ecsquery.extension.window import Window
from ecsquery.schema import TABLES

log = logging.getLogger("ecsquery.extension")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="ecsquery.ext", description="ecsquery's osquery extension (ecs_process_events)."
    )
    parser.add_argument("--socket", default="/var/osquery/osquery.em", help="manager socket")
    parser.add_argument("--timeout", type=float, default=3, help="seconds to wait for osqueryd")
    parser.add_argument("--interval", type=float, default=3, help="seconds between pings")
    parser.add_argument("--verbose", action="store_true", help="log informational messages")
    args, unknown = parser.parse_known_args(argv)
    args.unknown = unknown
    return args


@lru_cache(maxsize=4096)
def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return ""


def cmdline_rewrite(settings: Settings, manager_socket: str) -> Callable[[str], str] | None:
    """How to read ``es_process_events.cmdline`` from the osqueryd we registered with.

    osquery quotes argv there only since 5.10.0 (:mod:`ecsquery.extension.argv`), so ask its
    version; older rows are rewritten into the quoted form, each counted as
    ``reconstructed.args``, with one warning saying why.
    """
    if settings.source != "osquery" or "es_process_events" not in settings.tables:
        return None
    try:
        version = osquery_version(manager_socket, liveness.THRIFT_TIMEOUT)
    except Exception as exc:
        log.warning("cannot learn osquery's version (%s); reading cmdline as 5.10+ writes it", exc)
        return None
    if quotes_cmdline(version):
        log.info("osquery %s quotes es_process_events.cmdline", version)
        return None
    since = ".".join(map(str, QUOTED_SINCE))
    log.warning(
        "osquery %s writes es_process_events.cmdline unquoted (quoting came in %s): process.args"
        " is reconstructed by splitting on spaces, so an argument holding a space reads as"
        " several (rows counted as reconstructed.args)",
        version,
        since,
    )
    return requote_joined


NETWORK_WINDOW_BYTES = 16 * 1024 * 1024
"""The network table's window budget: with the process table's 64 MiB (``window.py``) and the
file table's 32 MiB (``files.FILE_WINDOW_BYTES``) inside osquery's 200 MB watchdog limit. The
table is always served (empty without ``socket_events``), so a pack's network query finds it."""


def build_source(settings: Settings, pipeline: Pipeline, manager_socket: str) -> Source:
    if settings.source in ("osquery", "auto"):
        # osquerybeat's events_expiry: 1 deletes buffered rows before a poll reads them.
        query = expiry.thrift_query(manager_socket, liveness.THRIFT_TIMEOUT)
        chosen = expiry.decide(settings.source, settings.poll_interval, settings.tables, query)
        settings = replace(settings, source=chosen.source, poll_interval=chosen.interval)
    if settings.source == "eslogger":
        return EsloggerSource(pipeline, settings.eslogger_command)
    if settings.source == "replay":
        return ReplaySource(pipeline, [Path(p) for p in settings.replay])
    tables = settings.tables  # with the file table, es_process_file_events is polled too
    if settings.file_events and files.TABLE not in tables:
        tables = (*tables, files.TABLE)
    return OsquerySource(
        pipeline,
        manager_socket,
        tables=tables,
        interval=settings.poll_interval,
        lookback=settings.window_seconds,
        seed=settings.seed_processes,
        cmdline=cmdline_rewrite(settings, manager_socket),
        observe=expiry.BufferLoss(pipeline.stats),
    )


def run(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        logging.basicConfig(level=logging.WARNING)
        logging.getLogger("thrift").setLevel(logging.CRITICAL)
        log.error("%s", exc)
        liveness.idle_while_core_answers(args.socket, args.interval)  # one line, not a respawn loop
        return 1
    level = settings.log_level or ("INFO" if args.verbose else "WARNING")
    logging.basicConfig(level=level.upper(), format="ecsquery.ext %(levelname)s %(message)s")
    logging.getLogger("thrift").setLevel(logging.CRITICAL)
    if args.unknown:
        log.warning("ignoring unknown arguments: %s", " ".join(args.unknown))

    window = Window(settings.window_seconds, settings.window_events)
    windows = {  # one window per table served besides the process table's
        "network": Window(settings.window_seconds, settings.window_events, NETWORK_WINDOW_BYTES)
    }
    if settings.file_events:
        windows["file"] = Window(
            settings.window_seconds, settings.file_window_events, FILE_WINDOW_BYTES
        )
    live = settings.source != "replay"  # user names are this host's, not the recording's
    pipeline = Pipeline(
        window,
        tree=ProcessTree(settings.tree_size),
        host_os_type=settings.host_os_type,
        host_name=settings.host_name,
        user_names=user_name if settings.resolve_user_names and live else None,
        windows=windows,
        files=FileScope(settings.file_paths, settings.file_mute_processes),
        env_capture=EnvCapture(settings.capture_env_vars, settings.capture_env_vars_bytes),
    )
    tables = [EcsProcessTable(window)] + [
        EcsProcessTable(windows[t.category], t.columns, t.name)
        for t in TABLES
        if t.category in windows
    ]
    server = ExtensionServer(tables, args.socket, timeout=args.timeout, interval=args.interval)
    try:
        server.register()
    except ConnectionError as exc:
        log.error("cannot register with osqueryd: %s", exc)
        return 1
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: server.stop("signal"))
    server.listen()
    source = build_source(settings, pipeline, args.socket)
    source.start()
    status = 0

    def on_exit(verdict: liveness.Exit) -> None:
        nonlocal status
        status = verdict.status
        server.stop(verdict.reason)

    assert server.uuid is not None  # set by register()
    liveness.watch(args.socket, server.uuid, args.interval, server.stopped, on_exit)
    try:
        server.serve()
    finally:
        source.stop()
        log.info("stopped (%s); counters: %s", server.stop_reason, pipeline.stats.snapshot())
    return status


def main() -> None:
    sys.exit(run())
