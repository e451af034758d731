"""osqueryd-side cost of the whole pack (issue 12 item 5): rows served per round, and the
largest single reply.

The pack runs on a real SQLite virtual table that plays osqueryd's (``testing/vtab.py``:
``xBestIndex``/``xFilter`` as osquery 5.23's, constraints, IN handling, cost and ``colsUsed``),
each ``xFilter`` answered by the extension's own table in process (``EcsProcessTable.select``);
the reply's bytes are the Thrift reply the extension would stream (``write_reply``).

Input: every rule of the Mac corpus (``data/bench/elastic-rules-mac``, which
``tests/fixtures/elastic-rules-mac`` links to) that compiles to one query on ``ecs_process_events``,
over a capture at 50 ev/s (forks, execs with an environment, exits from the public eslogger
sample, as in ``extension_cost``) filling a 900 s window. Printed side by side from the same
window: the pack as compiled now; without ``hits_only`` (every column of every row a query's
constraints leave, the pack before it); without the compiler's redundant pushdown terms
either (``rules/sql/pushdown.py``); and with ``generate`` honouring only the time range (the
extension before issue 12).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from thrift.protocol import TBinaryProtocol
from thrift.transport import TTransport

from ecsquery import data
from ecsquery.bench import Figure, extension_cost
from ecsquery.extension import wire
from ecsquery.extension.pipeline import Pipeline
from ecsquery.extension.table import EcsProcessTable, column_options
from ecsquery.extension.window import Window
from ecsquery.osquery_sqlite import sql_value
from ecsquery.rules.compile import CompiledRule, compile_rules
from ecsquery.rules.load import load_rules
from ecsquery.rules.sql.pushdown import UNION, pushdown_terms, without_hits_only
from ecsquery.schema import COLUMNS, TABLE, TIME_COLUMN, FieldTable
from ecsquery.testing import vtab
from ecsquery.testing.vtab import Getter, OsqueryModule, VtabColumn

PART = "pack"
RATE = 50
WINDOW_SECONDS = 900
START = 1_754_572_000
NOW = START + WINDOW_SECONDS
CORPUS = "elastic-rules-mac"


@dataclass
class Tally:
    """What one round of the pack asked of ``generate``."""

    calls: int = 0
    rows: int = 0
    largest_rows: int = 0
    largest_bytes: int = 0
    largest_query: str = ""
    bytes: int = 0
    query: str = ""
    """The query running now."""
    per_query: dict[str, int] = field(default_factory=dict)


def _served(
    table: EcsProcessTable, tally: Tally, time_only: bool
) -> Callable[[str], tuple[int, Getter]]:
    """The extension's table answering ``generate`` in process, each reply's rows and Thrift
    bytes counted (with ``time_only``, as the extension before issue 12: only ``time``)."""

    def serve(context: str) -> tuple[int, Getter]:
        if time_only:
            doc = json.loads(context)
            doc["constraints"] = [c for c in doc["constraints"] if c["name"] == TIME_COLUMN]
            context = json.dumps(doc)
        buffer = TTransport.TMemoryBuffer()
        count = table.write_reply(TBinaryProtocol.TBinaryProtocol(buffer), 0, context)
        size = len(buffer.getvalue())
        tally.calls += 1
        tally.rows += count
        tally.bytes += size
        tally.per_query[tally.query] = tally.per_query.get(tally.query, 0) + count
        if size > tally.largest_bytes:
            tally.largest_rows, tally.largest_bytes = count, size
            tally.largest_query = tally.query
        selection = table.select(context)
        wanted = frozenset(selection.columns)
        entries = selection.entries

        def get(row: int, column: int) -> object:
            if column not in wanted:
                return None  # osquery yields NULL for a column the reply left out
            return sql_value(wire.decode(entries[row][1][column]), COLUMNS[column].type)

        return len(entries), get

    return serve


def capture(seconds: int = WINDOW_SECONDS, rate: int = RATE) -> Iterator[str]:
    """The bench capture: the eslogger sample's fork/exec/exit cycle at ``rate`` ev/s."""
    for i, line in enumerate(extension_cost.eslogger_lines(seconds * rate)):
        message = json.loads(line)
        t = START + i / rate
        whole = int(t)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        message["time"] = f"{stamp}.{round((t - whole) * 1e9):09d}Z"
        yield json.dumps(message)


def pack(corpus: str = CORPUS) -> list[CompiledRule]:
    """Every rule of the corpus that compiles to one query on ``ecs_process_events`` (an ``any
    where`` rule's ``UNION ALL`` reads the other tables too)."""
    with data.as_path(data.files("bench", corpus)) as folder:
        rules, _ = load_rules([folder])
    compiled, _ = compile_rules(rules)
    return [r for r in compiled if f"\nFROM {TABLE}\n" in r.sql and UNION not in r.sql]


def without_pushdown(rule: CompiledRule, fields: FieldTable) -> str:
    """The rule's SQL minus ``hits_only`` and the compiler's redundant pushdown terms."""
    sql = without_hits_only(rule.sql)
    for term in pushdown_terms(rule.query.where, fields):
        sql = sql.replace(f"\n  AND {term}", "", 1)
    return sql


def round_of(
    table: EcsProcessTable, queries: Mapping[str, str], time_only: bool = False
) -> tuple[Tally, dict[str, list[tuple[Any, ...]]]]:
    """Run every query once, as one schedule round; returns the tally and each one's rows."""
    tally = Tally()
    columns = [VtabColumn(c.name, c.type.value, column_options(c.name)) for c in COLUMNS]
    conn = vtab.connect(OsqueryModule(TABLE, columns, _served(table, tally, time_only)), NOW)
    hits: dict[str, list[tuple[Any, ...]]] = {}
    for name, sql in queries.items():
        tally.query = name
        hits[name] = conn.execute(sql).fetchall()
    return tally, hits


_LOOKBACK = re.compile(r"time >= \(SELECT unix_time FROM time\) - (\d+)")


def run() -> list[Figure]:
    fields = FieldTable()
    rules = pack()
    pipeline = Pipeline(Window(max_age=10**10))
    for line in capture():
        pipeline.feed_line(line, "eslogger")
    table = EcsProcessTable(pipeline.window)
    times = [t for t, _ in pipeline.window.snapshot()]
    lookback_rows = 0
    for rule in rules:
        found = _LOOKBACK.search(rule.sql)
        since = NOW - int(found.group(1)) if found else 0
        lookback_rows += sum(1 for t in times if t >= since)
    now = {r.rule.slug: r.sql for r in rules}
    wide = {r.rule.slug: without_hits_only(r.sql) for r in rules}
    plain = {r.rule.slug: without_pushdown(r, fields) for r in rules}
    figures = [
        Figure(PART, f"pack: {len(rules)} rules, window {len(times):,} events at {RATE} ev/s",
               len(rules), "queries"),
        Figure(PART, "  queries x lookback rows per round", lookback_rows, "rows"),
    ]  # fmt: skip
    answers: set[frozenset[tuple[str, tuple[Any, ...]]]] = set()
    for label, queries, time_only, target in (
        ("hits_only + pushdown + every constraint", now, False, True),
        ("every column of every row, pushdown + every constraint", wide, False, False),
        ("every constraint, no pushdown terms", plain, False, False),
        ("time constraint only (before issue 12)", plain, True, False),
    ):
        tally, hits = round_of(table, queries, time_only)
        answers.add(frozenset((name, row) for name, rows in hits.items() for row in rows))
        share = tally.rows / max(lookback_rows, 1) * 100
        mb = tally.largest_bytes / 1e6
        figures += [
            Figure(PART, f"{label}: rows served per round ({tally.calls} generates)",
                   tally.rows, "rows"),
            Figure(PART, "    share of queries x lookback rows", share, "%",
                   "<= 10%" if target else "", share <= 10 if target else None),
            Figure(PART, "    bytes served per round", tally.bytes / 1e6, "MB"),
            Figure(PART, f"    largest single reply ({tally.largest_rows:,} rows, "
                   f"{tally.largest_query})", mb, "MB",
                   "<= 20 MB" if target else "", mb <= 20 if target else None),
        ]  # fmt: skip
    same = len(min(answers, key=len))
    figures.append(
        Figure(PART, "  hits per round (the same in all four)", same, "rows", "same",
               len(answers) == 1)
    )  # fmt: skip
    return figures


if __name__ == "__main__":
    from ecsquery.bench import format_table

    print(format_table(run()))
