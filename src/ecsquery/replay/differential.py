"""Scheduled query results → result-log lines exactly as osqueryd writes them.

osqueryd keeps each scheduled query's previous results and logs only the difference
(``osquery/core/query.cpp``: ``Query::addNewResults`` and ``diff``): on the first run of an
epoch every row is ``added``; after that a row is ``added`` when it was not in the previous
run's results (whole rows compared; ``diff`` uses ``std::find``, so a row present at all in
the previous results is not added again) and ``removed`` when it left them. Our packs set
``removed: false``, so removed rows are not logged. ``counter`` is 0 on the first run of an
epoch and counts up by one every run after (``Run.number``). A run with nothing added logs
nothing.

Lines are in osquery's default event format (``--logger_event_type``): one line per row, with
``name`` ``pack_<pack>_<query>``, ``hostIdentifier``, ``calendarTime`` (``"%a %b %e %H:%M:%S %Y
UTC"``), ``unixTime``, ``epoch``, ``counter``, ``numerics: false``, ``decorations`` (``host_uuid``
and ``hostname``, the decorators most fleets configure), ``columns`` (every value a string,
keys sorted: osquery's rows are ``std::map``) and ``action``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping

import orjson

from ecsquery.replay.scheduler import Run
from ecsquery.rules.model import PACK_NAME

_HOST_NAMESPACE = uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")  # uuid.NAMESPACE_DNS


def host_uuid(host: str) -> str:
    """A stable hardware-UUID stand-in for a replayed host (upper case, as macOS prints it)."""
    return str(uuid.uuid5(_HOST_NAMESPACE, host)).upper()


def calendar_time(unix: int) -> str:
    """osquery's ``getAsciiTime``: e.g. ``Tue Mar  4 09:05:00 2025 UTC``."""
    return time.strftime("%a %b %e %H:%M:%S %Y UTC", time.gmtime(unix))


def _key(row: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(row.items()))


class Differential:
    """One host's osqueryd: previous results per query, and the lines each run logs."""

    def __init__(self, host: str, *, epoch: int = 0, pack: str = PACK_NAME) -> None:
        self.host = host
        self.epoch = epoch
        self.pack = pack
        self.decorations = {"host_uuid": host_uuid(host), "hostname": host}
        self._previous: dict[str, set[tuple[tuple[str, str], ...]]] = {}

    def added(self, run: Run) -> list[dict[str, str]]:
        """The run's rows that were not in the previous run of the same query."""
        name = run.query.name
        previous = self._previous.get(name)
        self._previous[name] = {_key(r) for r in run.rows}
        if previous is None:
            return list(run.rows)
        return [row for row in run.rows if _key(row) not in previous]

    def lines(self, run: Run) -> list[bytes]:
        """The result-log lines of one run (without newlines)."""
        added = self.added(run)
        if not added:
            return []
        head = {
            "name": f"pack_{self.pack}_{run.query.name}",
            "hostIdentifier": self.host,
            "calendarTime": calendar_time(run.time),
            "unixTime": run.time,
            "epoch": self.epoch,
            "counter": run.number,
            "numerics": False,
            "decorations": self.decorations,
        }
        return [
            orjson.dumps({**head, "columns": dict(sorted(row.items())), "action": "added"})
            for row in added
        ]
