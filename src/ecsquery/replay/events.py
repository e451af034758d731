"""Recorded events → per-host rows of the extension's tables, through the extension's own code.

A capture is read whole, then put in order before anything is built from it, because the
process tree (parents, effective parents) only resolves when a fork is seen before its exec:

1. every line is parsed and normalized (``ecsquery.extension.normalize``, the extension's
   adapters); a line that cannot be used is counted under its reason, never fatal (any other
   failure on one line, e.g. a value of the wrong JSON type, as ``unexpected``);
2. a record without a time is counted and skipped (the schedule runs in event time, so such
   an event could never be placed in a lookback window);
3. the same source event twice (same ``event.id``, or the same bytes when it has none) is kept
   once — captures are often concatenated or re-exported with overlaps;
4. events are sorted by time (stably, so ties keep file order) and the ones that arrived after
   a later event are counted as out of order;
5. each host's events go through its own :class:`Pipeline` (process tree, ECS document, row),
   and the rows are read back through the table's ``generate``, exactly as osqueryd gets them.
   An ECS document goes to the table of its ``event.category`` (the pipeline routes it: file
   and network events to theirs, with one process tree per host shared by all the tables); the
   rows of all tables come back merged in time order, each row's ``event_category`` telling
   the scheduler its table.

Host: an ECS document keeps its ``host.name``; eslogger messages and osquery rows carry none, so
they belong to the host given by the caller (``--host``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ecsquery.extension.model import Proc, ProcEvent
from ecsquery.extension.normalize import OSQUERY_TABLES, BadRecord, Item, normalize, rows_of
from ecsquery.extension.normalize.ecs import from_ecs, is_ecs
from ecsquery.extension.normalize.eslogger import from_eslogger, is_eslogger
from ecsquery.extension.normalize.files import FileEvent
from ecsquery.extension.normalize.osquery import is_es_process_row
from ecsquery.extension.normalize.socket import SocketEvent
from ecsquery.extension.pipeline import Pipeline
from ecsquery.extension.table import EcsProcessTable
from ecsquery.extension.window import Window
from ecsquery.rows import get_path
from ecsquery.schema import PROCESS_TABLE, TABLES, TIME_COLUMN
from ecsquery.values import nul_free

SOURCES = ("auto", "ecs", "eslogger", "es_process_events", "process_events")
DEFAULT_HOST = "mac-replay"

Row = dict[str, str]
Progress = Callable[[int], None]
"""Called with the number of bytes just consumed (for a progress bar)."""


@dataclass
class ReadStats:
    """What reading the capture did with every line: the replay's half of the summary."""

    lines: int = 0
    records: int = 0
    events: int = 0
    seeds: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    """Reason → lines that could not be used (malformed JSON, unknown shape, wrong source...)."""
    examples: list[str] = field(default_factory=list)
    ignored: int = 0
    """Records of event types the table does not serve (e.g. other ESF events)."""
    without_time: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    nul_mapped: int = 0
    """Lines whose text held NUL, mapped to U+FFFD (``ecsquery.values``)."""
    rows: int = 0
    hosts: Counter[str] = field(default_factory=Counter)

    def reject(self, reason: str, where: str) -> None:
        self.rejected[reason] += 1
        if len(self.examples) < 10:
            self.examples.append(f"{where}: {reason}")


@dataclass(frozen=True)
class _Timed:
    time: float
    host: str
    item: Item


def _lacks_time(record: Mapping[str, Any]) -> bool:
    if is_eslogger(record):
        return not record.get("time")
    if is_ecs(record):
        return not get_path(record, "@timestamp")
    rows = [r for r in rows_of(record) if is_es_process_row(r) or ("cmdline" in r and "path" in r)]
    return bool(rows) and all(row.get("time") in (None, "") for row in rows)


def _forced(record: Mapping[str, Any], source: str) -> Iterator[Item]:
    """Normalize as the chosen ``--source``; a record of another shape is rejected."""
    if source == "eslogger":
        if not is_eslogger(record):
            raise BadRecord("not_eslogger", "not an eslogger message")
        event = from_eslogger(record)
        if event is not None:
            yield event
        return
    if source == "ecs":
        if not is_ecs(record) or is_eslogger(record):
            raise BadRecord("not_ecs", "not an ECS document")
        yield from_ecs(record)
        return
    table = OSQUERY_TABLES[source]  # the osquery source's own adapter for that table
    for row in rows_of(record):
        if not table.shape(row):
            raise BadRecord(f"not_{source}", f"not an osquery {source} row")
        try:
            built = table.adapter(row)
        except (KeyError, TypeError, ValueError) as exc:
            raise BadRecord("missing_field", f"{source} row: {exc!r}") from exc
        yield from built


def _time_and_host(item: Item, default_host: str) -> tuple[float, str, str | None]:
    """(time, host, event id) of a normalized item."""
    if isinstance(item, (ProcEvent, FileEvent, SocketEvent)):
        return item.time, default_host, item.event_id or None
    if isinstance(item, Proc):
        return float("-inf"), default_host, None
    time, doc = item
    host = get_path(doc, "host.name")
    event_id = get_path(doc, "event.id")
    return (
        float(time),
        str(host) if host else default_host,
        str(event_id) if event_id not in (None, "") else None,
    )


class CaptureReader:
    """Reads capture files into time-ordered, de-duplicated items per host."""

    def __init__(self, source: str = "auto", default_host: str = DEFAULT_HOST) -> None:
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r} (one of {', '.join(SOURCES)})")
        self.source = source
        self.default_host = default_host
        self.stats = ReadStats()
        self._items: list[_Timed] = []
        self._seen: set[tuple[str, str]] = set()
        self._newest = float("-inf")

    def read_paths(self, paths: Iterable[Path], progress: Progress | None = None) -> None:
        for path in paths:
            with path.open("rb") as lines:
                self.read_lines(lines, str(path), progress)

    def read_lines(
        self, lines: Iterable[bytes], name: str = "-", progress: Progress | None = None
    ) -> None:
        for number, line in enumerate(lines, 1):
            if progress is not None:
                progress(len(line))
            if not line.strip():
                continue
            self.stats.lines += 1
            self._line(line, f"{name}:{number}")

    def _line(self, line: bytes, where: str) -> None:
        stats = self.stats
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            stats.reject("malformed", where)
            return
        if not isinstance(record, dict):
            stats.reject("malformed", where)
            return
        record, mapped = nul_free(line, record)
        stats.nul_mapped += mapped
        if isinstance(record.get("_source"), dict):  # an Elasticsearch hit
            record = record["_source"]
        stats.records += 1
        if _lacks_time(record):
            stats.without_time += 1
            return
        try:
            items = list(
                normalize(record) if self.source == "auto" else _forced(record, self.source)
            )
            placed = [(item, *_time_and_host(item, self.default_host)) for item in items]
        except BadRecord as exc:
            stats.reject(exc.reason, where)
            return
        except Exception:  # a value of a type no adapter foresaw (``"time": [1]``): one line
            stats.reject("unexpected", where)
            return
        if not items:
            stats.ignored += 1
        for item, time, host, event_id in placed:
            key = (host, event_id if event_id is not None else line.decode("utf-8", "replace"))
            if not isinstance(item, Proc):
                if key in self._seen:
                    stats.duplicates += 1
                    continue
                self._seen.add(key)
                if time < self._newest:
                    stats.out_of_order += 1
                self._newest = max(self._newest, time)
                stats.events += 1
            else:
                stats.seeds += 1
            self._items.append(_Timed(time, host, item))

    def rows_by_host(self) -> dict[str, list[Row]]:
        """Every host's rows in time order, as the table's ``generate`` returns them."""
        ordered = sorted(self._items, key=lambda t: t.time)  # stable: ties keep file order
        by_host: dict[str, list[Item]] = {}
        for timed in ordered:
            by_host.setdefault(timed.host, []).append(timed.item)
        out: dict[str, list[Row]] = {}
        for host, items in sorted(by_host.items()):
            # one pipeline, one process tree: it routes each item to its category's window
            # (file events and ECS documents by event.category, process events to process)
            windows = {
                t.category: Window(max_age=float("inf"), max_events=len(items) + 1) for t in TABLES
            }
            pipeline = Pipeline(windows[PROCESS_TABLE.category], host_name=host, windows=windows)
            for item in items:
                try:
                    pipeline.add(item)
                except Exception:  # a value of the wrong type that got past the adapter
                    self.stats.reject("unexpected", f"host {host}, building its rows")
            rows = sorted(
                (
                    row
                    for t in TABLES
                    for row in EcsProcessTable(windows[t.category], t.columns).generate(None)
                ),
                key=lambda row: int(row.get(TIME_COLUMN) or 0),
            )
            if rows:
                out[host] = rows
                self.stats.hosts[host] = len(rows)
                self.stats.rows += len(rows)
        return out
