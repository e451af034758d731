"""The osquery source under osqueryd's event expiry (osquerybeat forces ``events_expiry: 1``).

The stand-in expires rows as osquery's ``EventSubscriberPlugin`` does (see
``OsquerydStandin.expire_events``: after every SELECT on the table and every 256 rows added,
osquery commit a5b14f63d98c0d4992ab8ae07d933e0d5ff008df). :func:`measure` writes rows, lets
another query (a live or pack query through the same Thrift ``query``) select the table between
the extension's polls, and reports rows lost of rows written and what the counter saw.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecsquery.extension import expiry
from ecsquery.extension.config import Settings
from ecsquery.extension.main import build_source
from ecsquery.extension.pipeline import Pipeline
from ecsquery.extension.sources.eslogger import EsloggerSource
from ecsquery.extension.sources.osquery import OsquerySource
from ecsquery.extension.stats import Stats
from ecsquery.extension.window import Window
from ecsquery.testing.standin import OsquerydStandin

SCHEMAS = Path(__file__).parent / "fixtures" / "osquery-schema"
TABLE = ("es_process_events",)
EXTENSION = [sys.executable, "-m", "ecsquery.extension"]


def buffer(events_expiry: int, floor: int = 0) -> expiry.Buffer:
    return expiry.Buffer(events_expiry, 50_000, {"es_process_events": floor})


# -- what osquery's source says, as data ------------------------------------------------------


@pytest.mark.parametrize(
    ("intervals", "floor"),
    [((), 0), ((10,), 60), ((60,), 240), ((10, 3600), 10_860), ((20,), 120)],
)
def test_schedule_floor_is_configupdates_minimum(intervals: tuple[int, ...], floor: int) -> None:
    # eventfactory.cpp lines 345-346: min_expiry = 3 * max interval; += 60 - min_expiry % 60.
    schedule = [
        {"query": "SELECT * FROM es_process_events;", "interval": str(i)} for i in intervals
    ]
    schedule.append({"query": "SELECT * FROM processes", "interval": "100000"})
    assert expiry.schedule_floor("es_process_events", schedule) == floor


@pytest.mark.parametrize(
    ("source", "interval", "buf", "want"),
    [
        ("osquery", 2.0, buffer(3600), expiry.Plan("osquery", 2.0)),
        ("osquery", 2.0, buffer(0), expiry.Plan("osquery", 2.0)),
        ("osquery", 2.0, buffer(1, floor=60), expiry.Plan("osquery", 2.0)),  # a scheduled reader
        ("auto", 2.0, buffer(3600), expiry.Plan("osquery", 2.0)),
        ("osquery", 5.0, buffer(4), expiry.Plan("osquery", 1.0, "w")),
        ("osquery", 2.0, buffer(1), expiry.Plan("osquery", 0.5, "w")),
        ("auto", 2.0, buffer(1), expiry.Plan("eslogger", 2.0, "w")),
        ("auto", 2.0, buffer(2), expiry.Plan("eslogger", 2.0, "w")),
    ],
)
def test_plan(source: str, interval: float, buf: expiry.Buffer, want: expiry.Plan) -> None:
    got = expiry.plan(source, interval, buf, TABLE)
    assert (got.source, got.interval, bool(got.warning)) == (
        want.source,
        want.interval,
        bool(want.warning),
    )


def test_plan_warning_names_the_flag_and_the_counter() -> None:
    got = expiry.plan("osquery", 2.0, buffer(1), TABLE)
    assert got.warning == (
        "osqueryd expires buffered events after 1 s (events_expiry=1), too soon to poll safely:"
        " polling every 0.5 s; rows expired before a poll are counted as lost.osquery_buffer"
        ' (set source = "auto" or "eslogger" to avoid them)'
    )


@given(st.lists(st.integers(1, 300), unique=True, max_size=60), st.integers(1, 6))
def test_buffer_loss_counts_every_skipped_id(read: list[int], pages: int) -> None:
    stats = Stats()
    loss = expiry.BufferLoss(stats)
    ordered = sorted(read)
    size = max(1, len(ordered) // pages)
    for i in range(0, len(ordered), size):
        loss("es_process_events", [{"eid": f"{e:010d}"} for e in ordered[i : i + size]])
    want = ordered[-1] - ordered[0] + 1 - len(ordered) if ordered else 0
    assert stats["lost.osquery_buffer"] == want


def test_buffer_loss_ignores_rows_without_an_id_and_ids_read_again() -> None:
    stats = Stats()
    loss = expiry.BufferLoss(stats)
    loss("es_process_events", [{"eid": "5"}, {"eid": ""}, {"eid": "x"}])
    loss("es_process_events", [{"eid": "5"}, {"eid": "3"}, {"eid": "6"}])
    assert stats["lost.osquery_buffer"] == 0
    loss("es_process_events", [{"eid": "9"}])
    assert stats["lost.osquery_buffer"] == 2


# -- the stand-in expires as osqueryd does ----------------------------------------------------


def rows(first_eid: int, times: list[int]) -> list[dict[str, object]]:
    return [
        {"time": t, "eid": f"{first_eid + i:010d}", "event_type": "exec", "pid": first_eid + i}
        for i, t in enumerate(times)
    ]


def test_standin_expires_after_a_select_keeping_the_newest_second(tmp_path: Path) -> None:
    standin = OsquerydStandin(tmp_path / "em", SCHEMAS, flags={"events_expiry": "1"}, expire=True)
    standin.clock = lambda: 1000.5
    standin.insert("es_process_events", rows(1, [990, 995, 998, 999, 999]))
    standin.sql("SELECT count(*) FROM processes")  # another table: no expiry
    assert standin.expired == 0
    got = standin.sql("SELECT eid FROM es_process_events")  # rows first, then the expiry
    assert len(got) == 5
    # now - 1 = 999 would take everything; the newest second (999) stays (osquery#8524).
    assert [r["eid"] for r in standin.sql("SELECT eid FROM es_process_events")] == [
        "0000000004",
        "0000000005",
    ]
    assert standin.expired == 3
    standin.clock = lambda: 1010.0
    standin.insert("es_process_events", rows(6, [1009] * 300))  # the 256-row checkpoint
    assert standin.expired == 5


def test_standin_reports_flags_and_leaves_rows_by_default(tmp_path: Path) -> None:
    standin = OsquerydStandin(tmp_path / "em", SCHEMAS, flags={"events_expiry": "1"})
    assert standin.sql(expiry.FLAGS_SQL) == [
        {"name": "events_expiry", "value": "1"},
        {"name": "events_max", "value": "50000"},
        {"name": "events_optimize", "value": "1"},
    ]
    standin.insert("es_process_events", rows(1, [1, 2]))
    standin.sql("SELECT * FROM es_process_events")
    assert standin.expired == 0


def test_decide_reads_the_flags_over_thrift(
    sockdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sock = str(sockdir / "em")
    with OsquerydStandin(sock, SCHEMAS, flags={"events_expiry": "1"}):
        query = expiry.thrift_query(sock, 5)
        assert expiry.decide("auto", 2.0, TABLE, query).source == "eslogger"
        assert "too soon to poll safely: reading eslogger" in caplog.text
    assert expiry.decide("osquery", 2.0, TABLE, query) == expiry.Plan("osquery", 2.0)
    assert "cannot read osquery's events_expiry" in caplog.text


def test_build_source_follows_the_plan(sockdir: Path) -> None:
    sock = str(sockdir / "em")
    pipeline = Pipeline(Window(900, 1000))
    with OsquerydStandin(sock, SCHEMAS, flags={"events_expiry": "1"}):
        auto = build_source(Settings(source="auto"), pipeline, sock)
        polled = build_source(Settings(source="osquery"), pipeline, sock)
    assert isinstance(auto, EsloggerSource)
    assert isinstance(polled, OsquerySource)
    assert polled.interval == expiry.MIN_INTERVAL
    assert isinstance(polled.observe, expiry.BufferLoss)


def test_the_extension_warns_at_start(sockdir: Path) -> None:
    """The whole extension process, as osqueryd runs it, against osquerybeat's flags."""
    env = {"ECSQUERY_EXTENSION_CONFIG": os.devnull, "ECSQUERY_SOURCE": "osquery"}
    with OsquerydStandin(sockdir / "em", SCHEMAS, flags={"events_expiry": "1"}) as osqueryd:
        proc = osqueryd.spawn_extension(EXTENSION, env=env, stderr=subprocess.PIPE)
        try:
            osqueryd.wait_for_extension("ecsquery")
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    warning = expiry.plan("osquery", 2.0, buffer(1), TABLE).warning
    assert f"ecsquery.ext WARNING {warning}" in err.decode()


# -- measured: rows lost of rows written ------------------------------------------------------


STEP = 0.05
"""Simulated seconds per step: 5 rows written each (100 rows/s)."""
OTHER_QUERY_EVERY = 6
"""Steps between the other query's SELECTs (0.3 s)."""


PHASES = (0.0, 0.2, 0.4, 0.6, 0.8)
"""Where in a second the runs start: on a Mac the polls fall anywhere in it."""


def measure(sockdir: Path, events_expiry: int, interval: float) -> tuple[int, int, int]:
    """(rows written, rows lost, rows counted lost), summed over runs started at :data:`PHASES`."""
    totals = [0, 0, 0]
    for i, phase in enumerate(PHASES):
        run = measure_once(sockdir / str(i), events_expiry, interval, 1_000_000.0 + phase)
        totals = [a + b for a, b in zip(totals, run, strict=True)]
    return totals[0], totals[1], totals[2]


def measure_once(
    sockdir: Path, events_expiry: int, interval: float, start: float, seconds: float = 6.0
) -> tuple[int, int, int]:
    """(rows written, rows lost, rows counted lost), on a simulated clock over a real socket.

    The stand-in and the source share the clock, so each run is exact and takes no waiting:
    every step writes 5 rows stamped with the current whole second, every 0.3 s another query
    selects the table, every ``interval`` the source polls (as its thread would).
    """
    sockdir.mkdir(parents=True, exist_ok=True)
    sock = str(sockdir / "em")
    now = [start]
    read: set[str] = set()
    with OsquerydStandin(
        sock, SCHEMAS, flags={"events_expiry": str(events_expiry)}, expire=True
    ) as standin:
        standin.clock = lambda: now[0]
        stats = Stats()
        loss = expiry.BufferLoss(stats)

        def observe(table: str, page: list[dict[str, str]]) -> None:
            read.update(r["eid"] for r in page)
            loss(table, page)

        pipeline = Pipeline(Window(900, 100_000), stats=stats)
        source = OsquerySource(
            pipeline, sock, interval=interval, seed=False, observe=observe, clock=lambda: now[0]
        )
        other = expiry.thrift_query(sock, 30)
        steps, poll_every = round(seconds / STEP), round(interval / STEP)
        written = 0
        for step in range(steps):
            now[0] = start + step * STEP
            standin.insert("es_process_events", rows(written + 1, [int(now[0])] * 5))
            written += 5
            if step % OTHER_QUERY_EVERY == OTHER_QUERY_EVERY - 1:
                other("SELECT pid FROM es_process_events")
            if step % poll_every == 0:
                source.poll("es_process_events")
        now[0] = start + (steps // poll_every + 1) * poll_every * STEP
        source.poll("es_process_events")  # the next poll after the writes stop
        source.close()
    return written, written - len(read), stats["lost.osquery_buffer"]


def test_measured_loss_with_and_without_the_plan(sockdir: Path) -> None:
    """events_expiry 4 s, poll every 5 s: rows are lost; the plan's 1 s poll loses none."""
    plan = expiry.plan("osquery", 5.0, buffer(4), TABLE)
    assert plan.interval == 1.0
    assert measure(sockdir / "a", 4, 5.0) == (3000, 405, 405)
    assert measure(sockdir / "b", 4, plan.interval) == (3000, 0, 0)


def test_measured_loss_under_osquerybeats_one_second(sockdir: Path) -> None:
    """events_expiry 1: no poll is safe; the residue at the plan's 0.5 s is counted exactly."""
    assert measure(sockdir / "a", 1, 2.0) == (3000, 1565, 1565)
    plan = expiry.plan("osquery", 2.0, buffer(1), TABLE)
    assert measure(sockdir / "b", 1, plan.interval) == (3000, 145, 145)
