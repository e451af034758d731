"""``replay()``: recorded events → rows → scheduled pack SQL → result-log lines → alerts.

Every stage is the production code or a faithful stand-in for osqueryd's part of it: the
extension's normalizers, process tree and table (``events``), the rendered pack's SQL on
osquery's SQL engine on osquery's schedule (``scheduler``), osqueryd's differential result log
(``differential``), and the alert reader on those lines (``ecsquery.alerts``).
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ecsquery.alerts.alert import Shape
from ecsquery.alerts.ecs import EcsAlert
from ecsquery.alerts.newterms import NewTermsGate
from ecsquery.alerts.reader import AlertReader
from ecsquery.alerts.sources import Block
from ecsquery.alerts.summary import Summary
from ecsquery.errors import EcsqueryError
from ecsquery.replay.differential import Differential
from ecsquery.replay.events import DEFAULT_HOST, CaptureReader, Progress, ReadStats
from ecsquery.replay.scheduler import PackQuery, Run, Scheduler, pack_queries, replay_runs
from ecsquery.rules.compile import compile_rules
from ecsquery.rules.model import PACK_NAME, Rule
from ecsquery.rules.render import render_packs

Alert = dict[str, Any]


REPLAY_LEARNING_MS = 0
"""new_terms rules learn for no time in a replay by default: the recording is all the history
there is, as for Elastic over an index holding only the recording — a tuple's first occurrence
in the recording alerts (``ecsquery alerts`` learns for the rule's history window instead)."""


def rendered_pack(rules: Sequence[Rule]) -> tuple[list[PackQuery], list[EcsqueryError]]:
    """The rules' osquery pack, rendered as ``ecsquery render`` writes it, read back as queries.

    Rules that do not compile are left out and returned as errors (the pack renderer would
    refuse them too).
    """
    compiled, errors = compile_rules(rules)
    files = render_packs(compiled, ["osquery"])
    conf = next(f for f in files if f.path.name == f"{PACK_NAME}.conf")
    return pack_queries(conf.text), errors


@dataclass
class ReplayResult:
    alerts: list[Alert]
    read: ReadStats
    reader: Summary
    queries: list[PackQuery]
    runs: int = 0
    result_lines: int = 0
    hits: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    """(host, query, event id) → how many scheduled runs returned that row."""

    @property
    def repeated_hits(self) -> int:
        """Hits returned by more than one run (overlapping lookbacks), logged once."""
        return sum(1 for n in self.hits.values() if n > 1)


def host_lines(
    host: str, runs: Iterable[Run], on_run: Callable[[str, Run], None] | None = None
) -> Iterator[tuple[int, bytes]]:
    """(run time, line) of everything one host's osqueryd logs for these runs."""
    differential = Differential(host)
    for run in runs:
        if on_run is not None:
            on_run(host, run)
        for line in differential.lines(run):
            yield run.time, line


def merge_hosts(streams: Iterable[Iterator[tuple[int, bytes]]]) -> Iterator[bytes]:
    """Several hosts' lines in time order (as a central log collector would see them)."""
    for _, line in heapq.merge(*streams, key=lambda item: item[0]):
        yield line


def alerts_from_runs(
    runs_by_host: Mapping[str, Iterable[Run]],
    rules: Sequence[Rule],
    *,
    results_log: BinaryIO | None = None,
    on_run: Callable[[str, Run], None] | None = None,
    shape: Shape[Any] | None = None,
    new_terms_learning_ms: int | None = REPLAY_LEARNING_MS,
) -> tuple[list[Alert], Summary, int]:
    """Alerts (with the reader's summary and the line count) from each host's scheduled runs,
    as documents of ``shape`` (default: ECS alerts); new_terms rules' first-seen store is in
    memory, learning for ``new_terms_learning_ms`` (None: each rule's history window)."""
    gate = None
    if any(r.new_terms is not None for r in rules):
        gate = NewTermsGate(rules, learning_ms=new_terms_learning_ms)
    reader = AlertReader(rules, new_terms=gate)
    count = 0

    def lines() -> Iterator[bytes]:
        nonlocal count
        streams = [host_lines(h, runs, on_run) for h, runs in sorted(runs_by_host.items())]
        for line in merge_hosts(streams):
            count += 1
            if results_log is not None:
                results_log.write(line + b"\n")
            yield line

    block = Block.of(b"".join(line + b"\n" for line in lines()), "replay")
    document = (shape or EcsAlert()).document
    alerts = [document(alert) for alert in reader.read(block)]
    return alerts, reader.summary, count


def replay(
    paths: Iterable[Path],
    rules: Sequence[Rule],
    *,
    source: str = "auto",
    host: str = DEFAULT_HOST,
    results_log: BinaryIO | None = None,
    progress: Progress | None = None,
    queries: Sequence[PackQuery] | None = None,
    shape: Shape[Any] | None = None,
    new_terms_learning_ms: int | None = REPLAY_LEARNING_MS,
) -> ReplayResult:
    """Replay capture files through the pack of ``rules`` (or the given rendered ``queries``);
    the alerts are documents of ``shape`` (default: ECS alerts)."""
    if queries is None:
        queries, errors = rendered_pack(rules)
        if errors:
            raise EcsqueryError("; ".join(str(e) for e in errors))
    capture = CaptureReader(source, host)
    capture.read_paths(paths, progress)
    rows = capture.rows_by_host()
    scheduler = Scheduler(queries)
    result = ReplayResult([], capture.stats, Summary(), list(queries))

    def count(host: str, run: Run) -> None:
        result.runs += 1
        for row in run.rows:
            result.hits[(host, run.query.name, row.get("event_id", ""))] += 1

    runs = {h: replay_runs(scheduler, host_rows) for h, host_rows in rows.items()}
    result.alerts, result.reader, result.result_lines = alerts_from_runs(
        runs,
        rules,
        results_log=results_log,
        on_run=count,
        shape=shape,
        new_terms_learning_ms=new_terms_learning_ms,
    )
    return result
