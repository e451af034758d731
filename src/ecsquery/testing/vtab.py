"""osqueryd's SQLite side of an extension table, for tests and ``make bench``.

osqueryd runs a query over an extension's table as an SQLite virtual table whose ``xBestIndex``
and ``xFilter`` turn SQLite's constraints and used columns into the ``generate`` context. This
module does the same on a real SQLite virtual table (``apsw``, a dev dependency only: Python's
``sqlite3`` has no virtual tables), following osquery 5.23 (``a5b14f63d``,
``osquery/sql/virtual_table.cpp``):

* ``xBestIndex`` (l. 715-856): every usable constraint is kept, except an ordering
  (``<``, ``<=``, ``>``, ``>=``) on a TEXT column (``sensibleComparison``, l. 705; it adds 10 to
  the cost); the cost is 1 once a constraint on an ``INDEX`` column is kept, else
  ``kMaxIndexCost`` (1,000,000, l. 67); an ``IN`` on an ``OPTIMIZED`` column is taken whole
  (``sqlite3_vtab_in``, l. 780-784), on any other column SQLite calls ``xFilter`` once per
  value; SQLite's ``colUsed`` mask becomes ``colsUsed`` (bit 63 standing for every later
  column, l. 807-829); ``omit`` is never set, so SQLite re-checks every constraint.
* ``xFilter`` (l. 900-997): each operand as SQLite's text of it (none for NULL, nor for ``''``
  outside a whole IN, l. 929-934), an IN's values as one ``=`` each, in the context
  :func:`ecsquery.testing.standin.build_context` writes.

What the table answers is up to ``serve``: the bench calls the extension's table in process,
the stand-in calls ``generate`` over Thrift. A column missing from a served row reads as NULL,
as ``DynamicTableRow::get_column`` does (``osquery/sql/dynamic_table_row.cpp`` l. 104-108).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from ecsquery.osquery_sqlite import SIGNATURE_DDL, _concat, _text, regex_match
from ecsquery.testing.standin import build_context

EQUALS = 2
ORDERING = (4, 8, 16, 32)  # SQLite's GT, LE, LT, GE
LIMIT_OFFSET = (73, 74)  # SQLITE_INDEX_CONSTRAINT_LIMIT/OFFSET: not on a column
MAX_COST = 1e6
INDEX, OPTIMIZED = 1, 8


class VtabColumn(NamedTuple):
    """A column as osqueryd holds it: name, osquery type name, ``ColumnOptions`` bits."""

    name: str
    type: str
    options: int


Getter = Callable[[int, int], object]
"""The SQL value of (row, column) in a served reply."""
Serve = Callable[[str], tuple[int, Getter]]
"""A ``generate`` call: the context JSON in; the row count and a :data:`Getter` out."""


def _expr(value: object) -> str:
    """SQLite's text of an operand, as ``xFilter`` takes it (``sqlite3_value_text``)."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class OsqueryModule:
    """The apsw module for one extension table; ``contexts`` keeps every ``generate`` context."""

    def __init__(self, name: str, columns: Sequence[VtabColumn], serve: Serve) -> None:
        self.name, self.columns, self.serve = name, tuple(columns), serve
        self.contexts: list[str] = []

    def Create(self, *_: Any) -> tuple[str, OsqueryModule]:
        columns = ", ".join(f"{c.name} {c.type}" for c in self.columns)
        return f"CREATE TABLE {self.name} ({columns})", self

    Connect = Create

    def BestIndexObject(self, info: Any) -> bool:
        kept: list[tuple[int, int]] = []
        cost = MAX_COST
        for i in range(info.nConstraint):
            column, op = info.get_aConstraint_iColumn(i), info.get_aConstraint_op(i)
            if not info.get_aConstraint_usable(i) or column < 0 or op in LIMIT_OFFSET:
                continue
            if column >= len(self.columns):
                continue
            spec = self.columns[column]
            if op in ORDERING and spec.type == "TEXT":
                cost += 10  # sensibleComparison
                continue
            if not spec.options & INDEX:
                continue  # osquery lets SQLite filter it
            cost = 1
            info.set_aConstraintUsage_argvIndex(i, len(kept) + 1)
            if info.get_aConstraintUsage_in(i) and spec.options & OPTIMIZED:
                info.set_aConstraintUsage_in(i, True)
            kept.append((column, op))
        used = {min(i, 63) for i in info.colUsed}
        names = [c.name for i, c in enumerate(self.columns) if min(i, 63) in used]
        info.idxStr = json.dumps([kept, names])
        info.estimatedCost = cost
        return True

    def Open(self) -> _Cursor:
        return _Cursor(self)

    def Disconnect(self) -> None:
        pass

    Destroy = Disconnect


class _Cursor:
    def __init__(self, module: OsqueryModule) -> None:
        self.module = module
        self.count = 0
        self.get: Getter = lambda row, column: None
        self.at = 0

    def Filter(self, _num: int, idx: str, args: Sequence[object]) -> None:
        kept, used = json.loads(idx)
        constraints: dict[str, list[tuple[int, str]]] = {}
        for (column, op), arg in zip(kept, args, strict=True):
            name = self.module.columns[column].name
            whole = isinstance(arg, (set, frozenset))
            values: list[object] = (
                sorted(arg, key=str) if isinstance(arg, (set, frozenset)) else [arg]
            )
            for value in values:
                text = None if value is None else _expr(value)
                if text is None or (text == "" and not whole):
                    continue  # xFilter skips an operand without text, or empty outside an IN
                constraints.setdefault(name, []).append((EQUALS if whole else op, text))
        specs = [(c.name, c.type) for c in self.module.columns]
        context = build_context(specs, constraints, used)
        self.module.contexts.append(context)
        self.count, self.get = self.module.serve(context)
        self.at = 0

    def Eof(self) -> bool:
        return self.at >= self.count

    def Rowid(self) -> int:
        return self.at

    def Column(self, number: int) -> object:
        return self.at if number < 0 else self.get(self.at, number)

    def Next(self) -> None:
        self.at += 1

    def Close(self) -> None:
        pass


def connect(module: OsqueryModule, now: int) -> Any:
    """An apsw connection with ``module``'s table, osquery's ``time`` at ``now`` and the
    osquery functions the packs call."""
    import apsw  # a dev dependency only

    conn: Any = apsw.Connection(":memory:")
    conn.create_module("osquery_extension", module, use_bestindex_object=True)
    conn.execute(f"CREATE VIRTUAL TABLE {module.name} USING osquery_extension()")
    conn.execute("CREATE TABLE time (unix_time BIGINT)")
    conn.execute("INSERT INTO time VALUES (?)", (now,))
    conn.execute(SIGNATURE_DDL)
    conn.create_scalar_function("regex_match", regex_match, 3, deterministic=True)
    conn.create_scalar_function("concat", lambda *a: _concat("", a), -1, deterministic=True)
    conn.create_scalar_function(
        "concat_ws",
        lambda *a: _concat("" if a[0] is None else _text(a[0]), a[1:]) if a else None,
        -1,
        deterministic=True,
    )
    return conn
