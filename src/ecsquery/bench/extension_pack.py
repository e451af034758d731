"""osqueryd-side cost of the whole pack (issue 12 item 5): rows served per round, and the
largest single reply.

Python's ``sqlite3`` has no virtual tables, so the pack runs on ``apsw`` (a bench/dev
dependency, never a runtime one): a real SQLite virtual table whose ``xBestIndex`` and
``xFilter`` do what osquery's do (osquery 5.23, ``a5b14f63d``, ``osquery/sql/virtual_table.cpp``
l. 705–800 and 900–985, see ``extension/table.py``): every usable constraint is kept except an
ordering on a TEXT column; an ``IN`` on an ``OPTIMIZED`` column reaches one ``xFilter`` whole
(``sqlite3_vtab_in``) and becomes one ``=`` per value; osquery never sets ``omit``, so SQLite
re-checks all of it. Each ``xFilter`` becomes the ``generate`` context osquery sends, which the
extension's own table answers (``EcsProcessTable.select``); the reply's bytes are the Thrift
reply the extension would stream (``write_reply``).

Input: every rule of the fixture corpus that compiles to one query, over a capture at 50 ev/s
(forks, execs with an environment, exits from the public eslogger sample, as in
``extension_cost``) filling a 900 s window. Printed side by side from the same window: the pack
as compiled now; without the compiler's redundant pushdown terms (``rules/sql/pushdown.py``);
and with ``generate`` honouring only the time range (the extension before issue 12).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from thrift.protocol import TBinaryProtocol
from thrift.transport import TTransport

from ecsquery import data
from ecsquery.bench import Figure, extension_cost
from ecsquery.extension import wire
from ecsquery.extension.pipeline import Pipeline
from ecsquery.extension.table import EQUALS, EcsProcessTable
from ecsquery.extension.window import Window
from ecsquery.osquery_sqlite import _concat, _text, regex_match, sql_value
from ecsquery.rules.compile import CompiledRule, compile_rules
from ecsquery.rules.load import load_rules
from ecsquery.rules.sql.pushdown import pushdown_terms
from ecsquery.schema import COLUMNS, TABLE, TIME_COLUMN, FieldTable

PART = "pack"
RATE = 50
WINDOW_SECONDS = 900
START = 1_754_572_000
NOW = START + WINDOW_SECONDS
_ORDERING = (4, 8, 16, 32)  # SQLite's GT, LE, LT, GE
_LIMIT_OFFSET = (73, 74)  # not constraints on a column


@dataclass
class Tally:
    """What one round of the pack asked of ``generate``."""

    calls: int = 0
    rows: int = 0
    largest_rows: int = 0
    largest_bytes: int = 0
    per_query: dict[str, int] = field(default_factory=dict)


class _Module:
    """The apsw module: one ``ecs_process_events`` table over the extension's table plugin."""

    def __init__(self, table: EcsProcessTable, tally: Tally, time_only: bool) -> None:
        self.table, self.tally, self.time_only = table, tally, time_only
        self.query = ""

    def Create(self, *_: Any) -> tuple[str, _Module]:
        columns = ", ".join(f"{c.name} {c.type.value}" for c in COLUMNS)
        return f"CREATE TABLE {TABLE} ({columns})", self

    Connect = Create

    def BestIndexObject(self, info: Any) -> bool:
        kept: list[tuple[int, int]] = []
        for i in range(info.nConstraint):
            column, op = info.get_aConstraint_iColumn(i), info.get_aConstraint_op(i)
            if not info.get_aConstraint_usable(i) or column < 0 or op in _LIMIT_OFFSET:
                continue
            if op in _ORDERING and not COLUMNS[column].numeric:
                continue  # sensibleComparison
            info.set_aConstraintUsage_argvIndex(i, len(kept) + 1)
            if info.get_aConstraintUsage_in(i):
                info.set_aConstraintUsage_in(i, True)
            kept.append((column, op))
        info.idxStr = json.dumps([kept, sorted(info.colUsed)])
        info.estimatedCost = 1e6 / (1 + len(kept))
        return True

    def Open(self) -> _Cursor:
        return _Cursor(self)

    def Disconnect(self) -> None:
        pass

    Destroy = Disconnect


def _expr(value: object) -> str:
    """SQLite's text of an operand, as osquery's ``xFilter`` takes it."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class _Cursor:
    def __init__(self, module: _Module) -> None:
        self.module = module
        self.rows: list[tuple[bytes, ...]] = []
        self.wanted: frozenset[int] = frozenset()
        self.at = 0

    def Filter(self, _num: int, idx: str, args: Sequence[object]) -> None:
        kept, used = json.loads(idx)
        lists: dict[str, list[dict[str, Any]]] = {}
        for (column, op), arg in zip(kept, args, strict=True):
            name = COLUMNS[column].name
            if self.module.time_only and name != TIME_COLUMN:
                continue
            values = sorted(arg, key=str) if isinstance(arg, (set, frozenset)) else [arg]
            for value in values:
                code = EQUALS if isinstance(arg, (set, frozenset)) else op
                lists.setdefault(name, []).append({"op": code, "expr": _expr(value)})
        context = {
            "constraints": [{"name": n, "list": items} for n, items in lists.items()],
            "colsUsed": [COLUMNS[i].name for i in used if i < len(COLUMNS)],
        }
        module, tally = self.module, self.module.tally
        buffer = TTransport.TMemoryBuffer()
        count = module.table.write_reply(
            TBinaryProtocol.TBinaryProtocol(buffer), 0, json.dumps(context)
        )
        size = len(buffer.getvalue())
        tally.calls += 1
        tally.rows += count
        tally.per_query[module.query] = tally.per_query.get(module.query, 0) + count
        if size > tally.largest_bytes:
            tally.largest_rows, tally.largest_bytes = count, size
        selection = module.table.select(context)
        self.wanted = frozenset(selection.columns)
        self.rows = [values for _, values in selection.entries]
        self.at = 0

    def Eof(self) -> bool:
        return self.at >= len(self.rows)

    def Rowid(self) -> int:
        return self.at

    def Column(self, number: int) -> object:
        if number < 0:
            return self.at
        if number not in self.wanted:
            return None  # osquery yields NULL for a column the query does not use
        text = wire.decode(self.rows[self.at][number])
        return sql_value(text, COLUMNS[number].type)

    def Next(self) -> None:
        self.at += 1

    def Close(self) -> None:
        pass


def capture(seconds: int = WINDOW_SECONDS, rate: int = RATE) -> Iterator[str]:
    """The bench capture: the eslogger sample's fork/exec/exit cycle at ``rate`` ev/s."""
    for i, line in enumerate(extension_cost.eslogger_lines(seconds * rate)):
        message = json.loads(line)
        t = START + i / rate
        whole = int(t)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        message["time"] = f"{stamp}.{round((t - whole) * 1e9):09d}Z"
        yield json.dumps(message)


def pack() -> list[CompiledRule]:
    """Every rule of the fixture corpus that compiles to one query."""
    with data.as_path(data.files("bench", "elastic-rules")) as folder:
        rules, _ = load_rules([folder])
    compiled, _ = compile_rules(rules)
    return compiled


def without_pushdown(rule: CompiledRule, fields: FieldTable) -> str:
    """The rule's SQL minus the compiler's redundant pushdown terms."""
    sql = rule.sql
    for term in pushdown_terms(rule.query.where, fields):
        sql = sql.replace(f"\n  AND {term}", "", 1)
    return sql


def _connect(module: _Module) -> Any:
    import apsw  # a bench/dev dependency only

    conn: Any = apsw.Connection(":memory:")
    conn.create_module("ecsquery", module, use_bestindex_object=True)
    conn.execute(f"CREATE VIRTUAL TABLE {TABLE} USING ecsquery()")
    conn.execute("CREATE TABLE time (unix_time BIGINT)")
    conn.execute("INSERT INTO time VALUES (?)", (NOW,))
    conn.create_scalar_function("regex_match", regex_match, 3, deterministic=True)
    conn.create_scalar_function("concat", lambda *a: _concat("", a), -1, deterministic=True)
    conn.create_scalar_function(
        "concat_ws",
        lambda *a: _concat("" if a[0] is None else _text(a[0]), a[1:]) if a else None,
        -1,
        deterministic=True,
    )
    return conn


def round_of(
    table: EcsProcessTable, queries: Mapping[str, str], time_only: bool = False
) -> tuple[Tally, int]:
    """Run every query once, as one schedule round; returns the tally and the hits."""
    tally = Tally()
    module = _Module(table, tally, time_only)
    conn = _connect(module)
    hits = 0
    for name, sql in queries.items():
        module.query = name
        hits += len(conn.execute(sql).fetchall())
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
    plain = {r.rule.slug: without_pushdown(r, fields) for r in rules}
    figures = [
        Figure(PART, f"pack: {len(rules)} rules, window {len(times):,} events at {RATE} ev/s",
               len(rules), "queries"),
        Figure(PART, "  queries x lookback rows per round", lookback_rows, "rows"),
    ]  # fmt: skip
    answers = set()
    for label, queries, time_only, target in (
        ("pushdown + every constraint", now, False, True),
        ("every constraint, no pushdown terms", plain, False, False),
        ("time constraint only (before)", now, True, False),
    ):
        tally, hits = round_of(table, queries, time_only)
        answers.add(hits)
        share = tally.rows / max(lookback_rows, 1) * 100
        mb = tally.largest_bytes / 1e6
        figures += [
            Figure(PART, f"{label}: rows served per round ({tally.calls} generates)",
                   tally.rows, "rows"),
            Figure(PART, "    share of queries x lookback rows", share, "%",
                   "<= 10%" if target else "", share <= 10 if target else None),
            Figure(PART, f"    largest single reply ({tally.largest_rows:,} rows)", mb, "MB",
                   "<= 20 MB" if target else "", mb <= 20 if target else None),
        ]  # fmt: skip
    figures.append(
        Figure(PART, "  hits per round (the same in all three)", min(answers), "rows", "same",
               len(answers) == 1)
    )  # fmt: skip
    return figures


if __name__ == "__main__":
    from ecsquery.bench import format_table

    print(format_table(run()))
