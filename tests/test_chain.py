"""The full chain through Thrift: the real extension process serves the scenario events over a
Unix socket; osqueryd's part (stood in for) runs the pack SQL over what ``generate`` returned,
on the schedule, and writes differential result lines; the alert reader makes the alerts.
They must be the replay's alerts, alert for alert (same ``ecsquery.alert_id``, same document).

What osqueryd does for one run of a pack query at time ``r`` is: ``xFilter`` on our table with
the constraint SQLite pushes down from ``time >= (SELECT unix_time FROM time) - <lookback>``
(``time >= r - lookback``), the rows the extension returns put into the virtual table, then the
rest of the WHERE clause. Here the SQL engine is ``ecsquery.osquery_sqlite`` and the rows are
exactly the strings ``generate`` sent. Two things differ from a live Mac, both because a whole
capture is served at once: the extension's window is widened to hold it (live, it holds the last
15 minutes), and rows newer than ``r`` are dropped (live, they would not have happened yet).
One extension serves every host of the capture here; each host's runs take its own rows.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from ecsquery import osquery_sqlite
from ecsquery.extension.table import GREATER_THAN_OR_EQUALS
from ecsquery.replay.run import alerts_from_runs, rendered_pack, replay
from ecsquery.replay.scheduler import Run, Scheduler
from ecsquery.rules.load import load_rules
from ecsquery.schema import TABLE
from ecsquery.testing.standin import OsquerydStandin
from scenario_support import RULES, SAMPLE, scenarios

SCHEMAS = Path(__file__).parent / "fixtures" / "osquery-schema"
HOST = "alice-macbook"  # the host name the extension puts on events that carry none


class ExtensionFeed:
    """A run's rows, asked of the extension as osqueryd's xFilter asks (one host's share)."""

    def __init__(self, osqueryd: OsquerydStandin, uuid: int, host: str) -> None:
        self.osqueryd, self.uuid, self.host = osqueryd, uuid, host
        self.calls = 0

    def load(self, conn: sqlite3.Connection, run_time: int, lookback: int) -> None:
        rows = self.osqueryd.generate(
            self.uuid, TABLE, {"time": [(GREATER_THAN_OR_EQUALS, str(run_time - lookback))]}
        )
        self.calls += 1
        conn.execute(f"DELETE FROM {TABLE}")
        osquery_sqlite.insert_rows(
            conn, [r for r in rows if r["host_name"] == self.host and int(r["time"]) <= run_time]
        )


def test_scenarios_through_the_real_extension_match_replay(sockdir: Path) -> None:
    rules, errors = load_rules([RULES])
    assert errors == []
    queries, compile_errors = rendered_pack(rules)
    assert compile_errors == []
    expected = replay([SAMPLE], rules, host=HOST, queries=queries)
    events = sum(1 for line in SAMPLE.read_bytes().splitlines() if line.strip())

    env = {
        "ECSQUERY_EXTENSION_CONFIG": os.devnull,
        "ECSQUERY_SOURCE": "replay",
        "ECSQUERY_REPLAY": str(SAMPLE),
        "ECSQUERY_WINDOW_SECONDS": str(10**10),
        "ECSQUERY_HOST_NAME": HOST,
    }
    with OsquerydStandin(sockdir / "osquery.em", SCHEMAS) as osqueryd:
        proc = osqueryd.spawn_extension(
            [sys.executable, "-m", "ecsquery.extension"], env=env, stderr=subprocess.PIPE
        )
        try:
            uuid = osqueryd.wait_for_extension("ecsquery", timeout=30)
            deadline = time.monotonic() + 30
            while True:
                index = osqueryd.generate(uuid, TABLE, cols_used=["time", "host_name"])
                if len(index) == events or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert len(index) == events
            hosts = sorted({r["host_name"] for r in index})
            feeds = {h: ExtensionFeed(osqueryd, uuid, h) for h in hosts}
            scheduler = Scheduler(queries)
            runs: dict[str, Iterator[Run]] = {
                h: scheduler.runs(
                    feeds[h], sorted(int(r["time"]) for r in index if r["host_name"] == h)
                )
                for h in hosts
            }
            alerts, summary, lines = alerts_from_runs(runs, rules)
        finally:
            proc.terminate()
            proc.wait(10)

    assert hosts == sorted(expected.read.hosts)
    assert sum(f.calls for f in feeds.values()) == expected.runs
    assert lines == expected.result_lines and summary.total_alerts == len(alerts)
    assert [a["ecsquery"]["alert_id"] for a in alerts] == [
        a["ecsquery"]["alert_id"] for a in expected.alerts
    ]
    assert alerts == expected.alerts  # the whole documents, field for field
    assert len(alerts) == sum(len(s.expected["alerts"]) for s in scenarios())

    # ... and scenario by scenario: each one's alerts, replayed alone, are the chain's
    for scenario in scenarios():
        alone = replay([scenario.events], rules, host=scenario.host, queries=queries)
        ids = {a["ecsquery"]["alert_id"] for a in alone.alerts}
        assert ids <= {a["ecsquery"]["alert_id"] for a in alerts}, scenario.name
        assert len(ids) == len(scenario.expected["alerts"]), scenario.name
