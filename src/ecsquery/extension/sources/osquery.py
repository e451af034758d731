"""osqueryd's own event tables, polled through the extension manager's ``query`` call.

Runs on its own thread with its own connection and cursor, never inside ``generate``: a
``generate`` that queried osqueryd back would deadlock osquery's single SQL worker. The cursor
is (time, eids already seen at that second), so each poll asks only for ``time >= cursor`` and
drops the boundary rows it has already read; the first poll reaches back one window length,
refilling the window after a restart. The ``processes`` table seeds the process tree once.

Memory stays bounded however large the backlog: a poll reads in time slices (``time >= a AND
time < b``), each sized from the last one's row count so a reply holds about
:data:`PAGE_ROWS` rows, and names only the columns the normalizer reads (learned against the
table's real columns with ``getQueryColumns``, so an osquery version lacking one still works).
Without paging the first poll after a restart decoded the whole 900 s backlog at once
(573 MB peak RSS at 100k rows).

Works for ``es_process_events`` (EndpointSecurity, ``--disable_endpointsecurity=false``) and
``process_events`` (OpenBSM, ``--disable_audit=false``); both may be polled together, and with
them ``es_process_file_events`` (``--disable_endpointsecurity_fim=false``, only for the paths of
osqueryd's ``file_paths`` config; open events also need ``--es_fim_enable_open_events``: osquery
``osquery/events/darwin/endpointsecurity_fim.cpp`` at a5b14f63d) and ``socket_events`` (OpenBSM
connect/accept, ``--disable_audit=false --audit_allow_sockets=true``). One thread polls every
table in turn, file and socket events after the process tables (:func:`poll_order`): their rows
name the actor by pid only, and the process tree knows it once its exec row has been read (a
second thread could read the file or connection row first and lose the process).

``protocol``, ``success`` and ``eid`` are ``hidden`` columns of ``specs/posix/socket_events.table``
(osquery a5b14f63d98c0d4992ab8ae07d933e0d5ff008df): ``SELECT *`` and so ``getQueryColumns``
of it leave them out, yet every 5.x has them, so they are polled by name (``OsqueryTable.hidden``).

Each table's rows go straight to its adapter (``normalize.OSQUERY_TABLES``, the one map from a
table to its normalizer and the columns it reads): a row's table is known here, so it is never
classified by its shape, and a table without an adapter is refused when the source is made.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from ecsquery.extension.client import Connection
from ecsquery.extension.normalize import OSQUERY_TABLES, files, socket
from ecsquery.extension.pipeline import Pipeline
from ecsquery.extension.sources import Source

log = logging.getLogger(__name__)

PAGE_ROWS = 1_000
"""Rows a time slice aims at (~0.7 MB of reply, decoded and dropped before the next)."""

AFTER_PROCESSES = (files.TABLE, socket.TABLE)
"""Tables whose rows name their actor by pid: polled after the process tables, in this order."""


def poll_order(tables: Sequence[str]) -> tuple[str, ...]:
    """``tables`` with the process tables first (in their order), then :data:`AFTER_PROCESSES`."""
    rank = {t: i + 1 for i, t in enumerate(AFTER_PROCESSES)}
    return tuple(sorted(tables, key=lambda t: rank.get(t, 0)))  # sorted is stable


MAX_SLICE = 3_600

SEEDS = OSQUERY_TABLES["processes"]
SEED_SQL = f"SELECT {', '.join(SEEDS.columns)} FROM processes"


class QueryFailed(Exception):
    """osqueryd answered a query with a non-zero status (e.g. the table is disabled)."""


class Cursor:
    """Where a table's polling has got to: a time and the event ids already read at it."""

    def __init__(self, since: int) -> None:
        self.time = since
        self.seen: set[str] = set()
        self.slice = 10
        """Seconds per page, adapted to the rate: about :data:`PAGE_ROWS` rows each."""

    def sql(self, table: str, columns: str = "*, eid", start: int | None = None) -> str:
        """The page from ``start`` (the cursor by default); open-ended if it reaches ``now``."""
        begin = int(self.time if start is None else start)
        return f"SELECT {columns} FROM {table} WHERE time >= {begin}"

    def page_sql(self, table: str, columns: str, start: int, now: float) -> tuple[str, int | None]:
        """One slice's query and its end (None: open-ended, the slice reaches ``now``), in
        time order and capped at ``4 × PAGE_ROWS`` rows: a burst after a quiet stretch (when
        the slice has grown) still cannot make one reply large."""
        end = start + self.slice
        sql = self.sql(table, columns, start)
        if end <= now:
            sql += f" AND time < {end}"
        return f"{sql} ORDER BY time LIMIT {4 * PAGE_ROWS}", end if end <= now else None

    def resize(self, rows: int) -> None:
        """Halve the slice after a page over the target, double it after a small one."""
        if rows > PAGE_ROWS and self.slice > 1:
            self.slice //= 2
        elif rows < PAGE_ROWS // 4 and self.slice < MAX_SLICE:
            self.slice *= 2

    def fresh(self, rows: list[dict[str, str]]) -> list[dict[str, str]]:
        """The rows not read before, in time order; advances the cursor past them."""

        def key(row: dict[str, str]) -> tuple[int, str]:
            try:
                return int(row.get("time") or 0), row.get("eid", "")
            except ValueError:
                return 0, row.get("eid", "")

        new = []
        for row in sorted(rows, key=key):
            t, eid = key(row)
            if t < self.time or (t == self.time and eid in self.seen):
                continue
            if t > self.time:
                self.time, self.seen = t, set()
            self.seen.add(eid)
            new.append(row)
        return new


def _time_of(row: dict[str, str]) -> int:
    try:
        return int(row.get("time") or 0)
    except ValueError:
        return 0


class OsquerySource(Source):
    name = "osquery"

    def __init__(
        self,
        pipeline: Pipeline,
        socket_path: str,
        *,
        tables: Sequence[str] = ("es_process_events",),
        interval: float = 2.0,
        lookback: float = 900.0,
        seed: bool = True,
        clock: Callable[[], float] = time.time,
        cmdline: Callable[[str], str] | None = None,
        observe: Callable[[str, list[dict[str, str]]], None] | None = None,
    ) -> None:
        super().__init__(pipeline)
        unknown = [t for t in tables if t not in OSQUERY_TABLES]
        if unknown:
            raise ValueError(f"no adapter for the osquery table(s) {', '.join(unknown)}")
        self.socket_path = socket_path
        self.tables = poll_order(tables)
        self.interval = interval
        self.seed = seed
        self.cmdline = cmdline
        """Rewrites ``es_process_events.cmdline`` first (osquery < 5.10: argv.requote_joined)."""
        self.observe = observe
        """Sees each page's new rows first (``expiry.BufferLoss`` counts the expired ones)."""
        since = int(clock() - lookback)
        self.cursors = {table: Cursor(since) for table in self.tables}
        self.clock = clock
        self._columns: dict[str, str] = {}
        self._conn: Connection | None = None
        self._failing: set[str] = set()

    def query(self, sql: str, method: str = "query") -> list[dict[str, str]]:
        """``query`` (or ``getQueryColumns``) over the kept connection; reconnects after a fault."""
        if self._conn is None:
            self._conn = Connection(self.socket_path)
        try:
            reply: Any = getattr(self._conn.client, method)(sql)
        except Exception:
            self._conn.close()
            self._conn = None
            raise
        if reply.status is not None and reply.status.code != 0:
            raise QueryFailed(reply.status.message)
        return list(reply.response or [])

    def run(self) -> None:
        if self.seed:
            self._guarded("processes", self._seed)
        while True:
            for table in self.tables:
                self._guarded(table, functools.partial(self.poll, table))
            if self.stopping.wait(self.interval):
                return

    def _seed(self) -> None:
        rows = self.query(SEED_SQL)
        for row in rows:
            self.pipeline.feed(row, self.name, SEEDS.adapter)
        log.info("seeded the process tree with %d running processes", len(rows))

    def columns(self, table: str) -> str:
        """The column list to poll: what the table's adapter reads that the table has."""
        if table not in self._columns:
            known = OSQUERY_TABLES[table]
            reply = self.query(f"SELECT * FROM {table}", "getQueryColumns")
            have = {name for item in reply for name in item}
            have.add("eid")  # hidden, so not in SELECT *, but every events table has it
            have |= known.hidden
            self._columns[table] = ", ".join(c for c in known.columns if c in have)
        return self._columns[table]

    def poll(self, table: str) -> int:
        """Read everything new in ``table``, one time slice at a time; returns the rows fed."""
        cursor, columns = self.cursors[table], self.columns(table)
        adapter = OSQUERY_TABLES[table].adapter
        start, fed = cursor.time, 0
        while not self.stopping.is_set():
            sql, end = cursor.page_sql(table, columns, start, self.clock())
            page = self.query(sql)
            if len(page) >= 4 * PAGE_ROWS:  # cut by the LIMIT: go on from its last second
                last = max(_time_of(row) for row in page)
                if last <= start:  # one second holds more than a page: read it whole
                    page = self.query(f"{cursor.sql(table, columns, start)} AND time < {start + 1}")
                    last = start + 1
                end = last  # that second is read again; the cursor drops the repeats
            cursor.resize(len(page))
            rows = cursor.fresh(page)
            del page
            if self.observe is not None:
                self.observe(table, rows)
            for row in rows:
                if self.cmdline is not None and table == "es_process_events" and "cmdline" in row:
                    row["cmdline"] = self.cmdline(row["cmdline"])
                    self.pipeline.stats.add("reconstructed.args")
                self.pipeline.feed(row, self.name, adapter)
            fed += len(rows)
            if end is None:
                break
            start = end
        return fed

    def _guarded(self, what: str, step: Callable[[], object]) -> None:
        """Run one step; a failure is counted and logged once until that step works again."""
        try:
            step()
        except Exception as exc:
            if self.stopping.is_set():  # ``stop`` closed the socket under this call: no fault
                return
            self.pipeline.stats.add(f"errors.{self.name}")
            if what not in self._failing:
                self._failing.add(what)
                log.error("osquery %s: %s", what, exc)
            return
        self._failing.discard(what)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
