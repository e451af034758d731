"""osqueryd's own event tables, polled through the extension manager's ``query`` call.

Runs on its own thread with its own connection and cursor, never inside ``generate``: a
``generate`` that queried osqueryd back would deadlock osquery's single SQL worker. The cursor
is (time, eids already seen at that second), so each poll asks only for ``time >= cursor`` and
drops the boundary rows it has already read; the first poll reaches back one window length,
refilling the window after a restart. The ``processes`` table seeds the process tree once.

Works for ``es_process_events`` (EndpointSecurity, ``--disable_endpointsecurity=false``) and
``process_events`` (OpenBSM, ``--disable_audit=false``); both may be polled together.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from ecsquery.extension.client import Connection
from ecsquery.extension.pipeline import Pipeline
from ecsquery.extension.sources import Source

log = logging.getLogger(__name__)

SEED_SQL = "SELECT pid, parent, name, path, cmdline, cwd, uid, euid, gid, start_time FROM processes"


class QueryFailed(Exception):
    """osqueryd answered a query with a non-zero status (e.g. the table is disabled)."""


class Cursor:
    """Where a table's polling has got to: a time and the event ids already read at it."""

    def __init__(self, since: int) -> None:
        self.time = since
        self.seen: set[str] = set()

    def sql(self, table: str) -> str:
        return f"SELECT *, eid FROM {table} WHERE time >= {int(self.time)}"

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
    ) -> None:
        super().__init__(pipeline)
        self.socket_path = socket_path
        self.tables = tuple(tables)
        self.interval = interval
        self.seed = seed
        self.cmdline = cmdline
        """Rewrites ``es_process_events.cmdline`` first (osquery < 5.10: argv.requote_joined)."""
        since = int(clock() - lookback)
        self.cursors = {table: Cursor(since) for table in self.tables}
        self._conn: Connection | None = None
        self._failing: set[str] = set()

    def query(self, sql: str) -> list[dict[str, str]]:
        if self._conn is None:
            self._conn = Connection(self.socket_path)
        try:
            reply: Any = self._conn.client.query(sql)
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
            self.pipeline.feed(row, self.name)
        log.info("seeded the process tree with %d running processes", len(rows))

    def poll(self, table: str) -> int:
        rows = self.cursors[table].fresh(self.query(self.cursors[table].sql(table)))
        for row in rows:
            if self.cmdline is not None and table == "es_process_events" and "cmdline" in row:
                row["cmdline"] = self.cmdline(row["cmdline"])
                self.pipeline.stats.add("reconstructed.args")
            self.pipeline.feed(row, self.name)
        return len(rows)

    def _guarded(self, what: str, step: Callable[[], object]) -> None:
        """Run one step; a failure is counted and logged once until that step works again."""
        try:
            step()
        except Exception as exc:
            self.pipeline.stats.add(f"errors.{self.name}")
            if what not in self._failing:
                self._failing.add(what)
                log.error("osquery %s: %s", what, exc)
            return
        self._failing.discard(what)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
