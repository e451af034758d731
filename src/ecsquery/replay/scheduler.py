"""osqueryd's schedule, replayed in event time: each pack query every ``interval`` seconds.

The queries and their SQL come from the *rendered* osquery pack (``packs/osquery/ecsquery.conf``
or the same text rendered in memory), never from a re-compilation, so replay tests what ships.

Run times: multiples of the query's interval in Unix time (osqueryd started on the interval
with no splay), from the first one at or after the first event, until the last event has left
the query's lookback (``run - lookback > last event``). At a run time ``r`` the query sees the
rows with ``time <= r`` (later events have not happened yet), ``SELECT unix_time FROM time`` is
``r``, and the pack SQL's own ``time >= r - lookback`` picks the lookback window. An event at
``t`` is therefore seen by every run in ``[t, t + lookback]``: with interval 300 and lookback
540, by two runs when ``t`` lies at most 240 s before a run, else by one.

Runs whose window holds no event at all are not executed (a capture spanning a year would be
100k runs per query): their result is empty, and skipping them changes nothing osqueryd would
log, since no row of an earlier run can come back after such a gap. Each run keeps its number
in the full schedule, which is osqueryd's ``counter``.

Where the rows come from is a :class:`Feed`: the replay keeps a sliding table of recorded rows
(:class:`WindowFeed`); the Thrift chain test asks the real extension for each run's rows.
"""

from __future__ import annotations

import bisect
import json
import math
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ecsquery import osquery_sqlite
from ecsquery.schema import TABLES, TIME_COLUMN

Row = dict[str, str]


@dataclass(frozen=True)
class PackQuery:
    """One query of the rendered osquery pack, with the schedule it runs on."""

    name: str
    sql: str
    interval: int
    lookback: int


def pack_queries(pack_text: str) -> list[PackQuery]:
    """The queries of an osquery pack file as ``ecsquery render`` writes it."""
    pack = json.loads(pack_text)
    out = []
    for name, spec in pack["queries"].items():
        meta = spec.get("ecsquery") or {}
        interval = int(spec["interval"])
        out.append(PackQuery(name, spec["query"], interval, int(meta.get("lookback", interval))))
    return out


@dataclass(frozen=True)
class Run:
    """One scheduled execution: the query, its time, and every row the SQL returned."""

    query: PackQuery
    time: int
    rows: list[Row]
    number: int = 0
    """Runs of this query before this one (osqueryd's ``counter``, empty runs included)."""


def run_times(first: int, last: int, interval: int, lookback: int) -> range:
    """Every run time of a query over events from ``first`` to ``last`` (inclusive)."""
    start = math.ceil(first / interval) * interval
    stop = last + lookback  # the last run that can still see the last event
    return range(start, stop + 1, interval)


class Feed(Protocol):
    """Puts the rows osqueryd's table would serve at ``run_time`` into the SQL engine."""

    def load(self, conn: sqlite3.Connection, run_time: int, lookback: int) -> None: ...


class WindowFeed:
    """Recorded rows (sorted by time) entering their tables as the run time passes them: each
    row goes to the table of its ``event_category`` (``osquery_sqlite.insert_routed``).

    Rows older than the longest lookback are dropped, as the extension's window evicts them;
    no query can see them any more, and the table stays small on long captures.
    """

    def __init__(self, rows: Sequence[Mapping[str, str]], keep: int) -> None:
        self.rows = rows
        self.keep = keep
        self._next = 0

    def load(self, conn: sqlite3.Connection, run_time: int, lookback: int) -> None:
        start = self._next
        end = start
        while end < len(self.rows) and _time(self.rows[end]) <= run_time:
            end += 1
        if end > start:
            osquery_sqlite.insert_routed(conn, self.rows[start:end])
            self._next = end
        for table in TABLES:
            conn.execute(
                f"DELETE FROM {table.name} WHERE {TIME_COLUMN} < ?", (run_time - self.keep,)
            )


def _time(row: Mapping[str, str]) -> int:
    try:
        return int(row[TIME_COLUMN])
    except (KeyError, ValueError):
        return 0


def result_value(value: Any) -> str:
    """A SQL value as osqueryd puts it in a result row: text, NULL as ``""``."""
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


class Scheduler:
    """Runs pack queries on their schedule over one host's table."""

    def __init__(self, queries: Sequence[PackQuery]) -> None:
        self.queries = list(queries)

    @property
    def longest_lookback(self) -> int:
        return max((q.lookback for q in self.queries), default=0)

    def schedule(self, times: Sequence[int]) -> list[tuple[int, int, int]]:
        """(run time, query index, run number) of every run that has events in its window,
        in time order (pack order on ties); ``times`` are the events' times, sorted."""
        if not times:
            return []
        runs = []
        for index, q in enumerate(self.queries):
            grid = run_times(times[0], times[-1], q.interval, q.lookback)
            for number, t in enumerate(grid):
                if bisect.bisect_right(times, t) > bisect.bisect_left(times, t - q.lookback):
                    runs.append((t, index, number))
        return sorted(runs)

    def runs(self, feed: Feed, times: Sequence[int]) -> Iterator[Run]:
        conn = osquery_sqlite.connect(now=times[0] if times else 0)
        try:
            for run_time, index, number in self.schedule(times):
                query = self.queries[index]
                feed.load(conn, run_time, query.lookback)
                osquery_sqlite.set_now(conn, run_time)
                cursor = conn.execute(query.sql)
                names = [d[0] for d in cursor.description]
                rows = [
                    {n: result_value(v) for n, v in zip(names, values, strict=True)}
                    for values in cursor
                ]
                yield Run(query, run_time, rows, number)
        finally:
            conn.close()


def replay_runs(scheduler: Scheduler, rows: Sequence[Mapping[str, str]]) -> Iterator[Run]:
    """Every run over one host's recorded rows (sorted by time)."""
    times = [_time(row) for row in rows]
    return scheduler.runs(WindowFeed(rows, scheduler.longest_lookback), times)
