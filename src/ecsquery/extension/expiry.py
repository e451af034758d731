"""osquery's event buffer expiry, and how the ``osquery`` source stays ahead of it.

osqueryd keeps evented rows (``es_process_events``, ``process_events``) in a buffer and deletes
the old ones. Read at osquery commit a5b14f63d98c0d4992ab8ae07d933e0d5ff008df,
``osquery/events/eventsubscriberplugin.cpp``:

- ``expireEventBatches`` (lines 586-646) deletes the rows with ``time <= now - expiry``, in whole
  seconds, except the newest second's (lines 612-619).
- It runs after every ``SELECT`` on the table (``generateRows``, lines 288-291) once every
  scheduled query reading the table has run (``executedAllQueries``, line 333; with none
  scheduled that is always), whoever sent the SELECT: a scheduled query, a live query, or this
  extension's own ``query`` call, which osqueryd answers through the same ``genTable``
  (``ExtensionManagerHandler::query``, ``osquery/extensions/impl_thrift.cpp`` line 288, runs
  ``osquery::query``, ``osquery/extensions/interface.cpp`` line 156). It also
  runs every 256 rows added (``add``, lines 185-196), whoever reads.
- ``expiry`` is ``getMinExpiry`` (lines 233-239): ``--events_expiry``, raised to the minimum
  ``EventFactory::configUpdate`` derives from the schedule (``osquery/events/eventfactory.cpp``
  lines 345-347): three times the longest interval of a scheduled query reading the table,
  rounded up past the next minute. ``events_max`` evicts the oldest batches too.
- A row's ``time`` is when osqueryd buffered it, in whole seconds, and its ``eid`` the next of
  the table's counter (``addBatch`` lines 121-131, ``generateEventIdentifier`` line 399), so
  ids rise with time and a missing id is a row gone.
- ``events_optimize`` does not concern the source: its ``time >=`` constraint turns the
  optimization off (``genTable`` lines 298-299), so its polls never move a scheduled query's
  "rows since last run" marker.

osquerybeat forces ``--events_expiry=1`` (elastic/beats ``x-pack/osquerybeat/internal/osqd/
args.go`` ``protectedFlags``). A row's guaranteed life is then ``expiry - 1`` seconds (a row
stamped late in second *T* goes at *T + expiry*): zero, so no poll interval is safe.
:func:`plan` decides, at start: poll faster when that suffices, otherwise read ``eslogger``
(``source = "auto"``) or keep polling with a warning; :class:`BufferLoss` counts the rows that
went anyway, from the gaps in osquery's per-table event ids (``lost.osquery_buffer``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from ecsquery.extension.client import connect
from ecsquery.extension.stats import Stats

log = logging.getLogger(__name__)

FLAGS_SQL = (
    "SELECT name, value FROM osquery_flags"
    " WHERE name IN ('events_expiry', 'events_max', 'events_optimize')"
)
SCHEDULE_SQL = "SELECT query, interval FROM osquery_schedule"
MARGIN = 3
"""Polls per guaranteed row life: two polls may be late (watchdog, a slow page) and none lost."""
MIN_INTERVAL = 0.5
"""The fastest the source polls: below it the Thrift round trips are the extension's CPU."""
LOST = "lost.osquery_buffer"

Query = Callable[[str], list[dict[str, str]]]


def schedule_floor(table: str, schedule: Iterable[Mapping[str, str]]) -> int:
    """``EventFactory::configUpdate``'s minimum expiry for ``table`` (0: no scheduled reader).

    osquery parses each query's tables (``getQueryTables``); a word match on the table name is
    the stand-in for that here, erring towards a reader (a longer floor).
    """
    pattern = re.compile(rf"\b{re.escape(table)}\b", re.IGNORECASE)
    intervals = [
        int(row.get("interval") or 0)
        for row in schedule
        if pattern.search(row.get("query") or "") and (row.get("interval") or "").isdigit()
    ]
    if not intervals:
        return 0
    floor = max(intervals) * 3
    return floor + (60 - floor % 60)


@dataclass(frozen=True)
class Buffer:
    """What osqueryd was started with, as its ``osquery_flags`` and ``osquery_schedule`` say."""

    events_expiry: int
    events_max: int
    floors: Mapping[str, int]
    """Per polled table, :func:`schedule_floor`."""

    def lifetime(self, table: str) -> int:
        """``getMinExpiry`` for ``table``: seconds a row may stay (0: never expired)."""
        return max(self.events_expiry, self.floors.get(table, 0))


def read_buffer(query: Query, tables: Sequence[str]) -> Buffer:
    """Ask osqueryd; a schedule that cannot be read counts as none (the shorter life)."""
    flags = {row.get("name", ""): row.get("value", "") for row in query(FLAGS_SQL)}
    try:
        schedule = query(SCHEDULE_SQL)
    except Exception as exc:
        log.info("cannot read osquery_schedule (%s): assuming no scheduled event queries", exc)
        schedule = []
    return Buffer(
        events_expiry=int(flags.get("events_expiry") or 3600),
        events_max=int(flags.get("events_max") or 50000),
        floors={table: schedule_floor(table, schedule) for table in tables},
    )


@dataclass(frozen=True)
class Plan:
    """The source to run and how often it polls, with the warning to log (if any)."""

    source: str
    interval: float
    warning: str = ""


def plan(source: str, interval: float, buffer: Buffer, tables: Sequence[str]) -> Plan:
    """Poll at ``interval`` if rows outlive :data:`MARGIN` polls; else faster, else eslogger."""
    lives = [buffer.lifetime(t) for t in tables if buffer.lifetime(t) > 0]
    if not lives:
        return Plan("osquery", interval)
    life = min(lives)
    safe = (life - 1) / MARGIN  # whole seconds: a row may be stamped just before the next one
    if interval <= safe:
        return Plan("osquery", interval)
    why = f"osqueryd expires buffered events after {life} s (events_expiry={buffer.events_expiry})"
    if safe >= MIN_INTERVAL:
        return Plan("osquery", safe, f"{why}: polling every {safe:g} s instead of {interval:g} s")
    if source == "auto":
        return Plan("eslogger", interval, f"{why}, too soon to poll safely: reading eslogger")
    return Plan(
        "osquery",
        MIN_INTERVAL,
        f"{why}, too soon to poll safely: polling every {MIN_INTERVAL:g} s; rows expired before"
        f' a poll are counted as {LOST} (set source = "auto" or "eslogger" to avoid them)',
    )


class BufferLoss:
    """Counts rows osqueryd deleted before they were read, from gaps in the event ids.

    osquery numbers each table's rows 1, 2, 3, … (``generateEventIdentifier``), so an id skipped
    is a row expired or evicted (``events_max``) unread (or, rarely, one osquery could not
    serialize, ``addBatch`` line 137). Ids at or below the highest already seen are not counted
    again; the first page counts only the gaps inside itself.
    """

    def __init__(self, stats: Stats) -> None:
        self.stats = stats
        self.last: dict[str, int] = {}
        self.warned = False

    def __call__(self, table: str, rows: Sequence[Mapping[str, str]]) -> None:
        eids = sorted(int(r["eid"]) for r in rows if (r.get("eid") or "").isdigit())
        last = self.last.get(table)
        new = [e for e in eids if last is None or e > last]
        if not new:
            return
        base = new[0] - 1 if last is None else last
        lost = new[-1] - base - len(set(new))
        self.last[table] = new[-1]
        if lost <= 0:
            return
        self.stats.add(LOST, lost)
        if not self.warned:
            self.warned = True
            log.warning(
                "osqueryd dropped %d buffered %s rows before the extension read them (expired or"
                " over events_max); further losses are counted as %s",
                lost,
                table,
                LOST,
            )


def thrift_query(manager_socket: str, timeout: float) -> Query:
    """``query`` over osqueryd's manager socket, one connection per call; status != 0 raises."""

    def query(sql: str) -> list[dict[str, str]]:
        with connect(manager_socket, timeout) as manager:
            reply = manager.query(sql)
        if reply.status is not None and reply.status.code != 0:
            raise ConnectionError(reply.status.message)
        return list(reply.response or [])

    return query


def decide(source: str, interval: float, tables: Sequence[str], query: Query) -> Plan:
    """:func:`plan` against the running osqueryd, logged; unreadable flags keep the settings."""
    try:
        buffer = read_buffer(query, tables)
    except Exception as exc:
        log.warning("cannot read osquery's events_expiry (%s): polling every %g s", exc, interval)
        return Plan("osquery", interval)
    chosen = plan(source, interval, buffer, tables)
    if chosen.warning:
        log.warning("%s", chosen.warning)
    else:
        log.info("osqueryd keeps buffered events long enough for a poll every %g s", interval)
    return chosen
