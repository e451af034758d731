"""The ``ecs_process_events`` table plugin: name, columns, and a pure ``generate``.

osqueryd sends ``generate`` a context with every column's constraints and the columns the
query uses. Selecting rows is a pure function of a window snapshot and that context
(:func:`select`); turning the selection into dicts (:meth:`EcsProcessTable.generate`,
osquery-python's interface, used by tests) or into a streamed Thrift reply
(:meth:`EcsProcessTable.write_reply`) is separate.

How constraints arrive (osquery 5.23, ``a5b14f63d``): ``xBestIndex`` in
``osquery/sql/virtual_table.cpp`` (l. 715–800) keeps every usable constraint on an indexed
column (extension columns are ``INDEX``: ``--extensions_default_index``, l. 36 and 627) except
``<``/``<=``/``>``/``>=`` on a TEXT column (``sensibleComparison``, l. 705); ``xFilter``
(l. 900–985) adds each one's operator and SQLite's text of the operand to the column's
``ConstraintList``, and for an ``IN`` on an ``OPTIMIZED`` column it adds one ``=`` per value
(l. 950–965), in one call instead of one call per value. ``TablePlugin::setRequestFromContext``
(``osquery/core/tables.cpp`` l. 58–88) serializes that as the ``context`` JSON:
``{"constraints": [{"name", "list": [{"op", "expr"}], "affinity"}], "colsUsed": [...]}``;
operator codes are SQLite's (``osquery/core/tables.h`` l. 135–147).

osquery never sets ``omit``, so SQLite re-checks every constraint on what we return: filtering
here only has to be a *superset* of the answer, and is made exact where it can be:

* several ``=`` on one column are a set (an ``IN``; an ``a = 1 AND a = 2`` only loses speed);
* ``=`` on TEXT matches whatever the collation (osquery does not forward it): values compared
  case-folded and without trailing spaces (NOCASE, RTRIM), a superset of BINARY;
* LIKE compares case-insensitively (SQLite's default; with ``case_sensitive_like`` a superset),
  GLOB exactly; both on TEXT only;
* ``<``, ``<=``, ``>``, ``>=``, ``=`` on numeric columns compare numbers; ``""`` is SQL NULL there
  (osquery turns a non-numeric INTEGER value into NULL), which no comparison keeps;
* anything else (an operand that is not a number for a numeric column, MATCH, REGEXP, ``!=``,
  IS, …) is left to SQLite.

Time is found by bisection: the window is time-ordered, so ``time`` bounds cost O(log n).

Only the columns in ``colsUsed`` are served. osquery sends it to extensions since 3.2.6
(commit 1ea714a32, so every 5.x): ``xBestIndex`` turns SQLite's ``colUsed`` mask into the
names (``virtual_table.cpp`` l. 807-829; bit 63 stands for every later column), ``xFilter``
puts them in the context (l. 990-997) and ``setRequestFromContext`` writes them next to
``colsUsedBitset`` (``tables.cpp`` l. 76-86). A column left out of a row is what osquery's own
tables do (``isColumnUsed``) and reads as NULL (``DynamicTableRow::get_column``,
``osquery/sql/dynamic_table_row.cpp`` l. 104-108), which SQLite never asks for. A context
without ``colsUsed`` (an older caller) gets every column. A pack query selects every column for
the alert, so its own ``generate`` still gets them all; the compiler's ``time IN (SELECT
time ...)`` (``rules/sql/pushdown.py`` ``hits_only``) is the ``generate`` that reads only the
conditions' columns.
"""

from __future__ import annotations

import json
import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ecsquery.extension import wire
from ecsquery.extension.window import Entry, Window
from ecsquery.schema import COLUMNS, TABLE, TIME_COLUMN, Column

# SQLite's xBestIndex operator codes, which osquery passes through unchanged.
EQUALS = 2
GREATER_THAN = 4
LESS_THAN_OR_EQUALS = 8
LESS_THAN = 16
GREATER_THAN_OR_EQUALS = 32
LIKE = 65
GLOB = 66

INDEX, OPTIMIZED = 1, 8
"""``ColumnOptions`` (``osquery/core/sql/column.h`` l. 43, 71): every column is indexed, and
an ``IN`` list reaches one ``generate`` whole instead of one call per value, except on
:data:`PER_VALUE_COLUMNS`."""

PER_VALUE_COLUMNS = frozenset({TIME_COLUMN})
"""Columns declared ``INDEX`` only, so SQLite calls ``xFilter`` once per ``IN`` value.

The pack's ``time IN (SELECT time ...)`` (``rules/sql/pushdown.py`` ``hits_only``) usually
has no values. Handed whole (``OPTIMIZED``), an empty list still reaches ``xFilter``, which
then adds no constraint for it (osquery 5.23 ``a5b14f63d``, ``osquery/sql/virtual_table.cpp``
l. 955-960: the loop over ``sqlite3_vtab_in_first`` adds nothing), so ``generate`` would
serve every row of the lookback the other constraints leave, with every column. Value by
value, an empty list makes no call and each hit second one small one."""


_ORDER: dict[int, Callable[[Any, Any], bool]] = {
    GREATER_THAN: operator.gt,
    LESS_THAN_OR_EQUALS: operator.le,
    LESS_THAN: operator.lt,
    GREATER_THAN_OR_EQUALS: operator.ge,
}

Test = Callable[[bytes], bool]
"""A check on one Thrift-encoded value (4-byte length, then UTF-8)."""


@dataclass(frozen=True)
class Selection:
    """What a ``generate`` call returns: which columns, and which rows of the snapshot."""

    columns: tuple[int, ...]
    entries: list[Entry]


def column_options(name: str) -> int:
    """The ``ColumnOptions`` a column is registered with (osquery reads them per column,
    ``osquery/core/tables.cpp`` l. 347-352)."""
    return INDEX if name in PER_VALUE_COLUMNS else INDEX | OPTIMIZED


def parse_context(context: str | Mapping[str, Any] | None) -> Mapping[str, Any]:
    """osquery's context JSON (or an already-decoded dict); malformed means unconstrained."""
    if context is None or context == "":
        return {}
    if isinstance(context, Mapping):
        return context
    try:
        value = json.loads(context)
    except ValueError:
        return {}
    return value if isinstance(value, Mapping) else {}


def _number(text: str) -> float | int:
    try:
        return int(text)
    except ValueError:
        return float(text)


def _fold(text: str) -> str:
    """What NOCASE and RTRIM collations both ignore: ASCII case (and more) and trailing blanks."""
    return text.rstrip(" ").lower()


def _value(wire_value: bytes) -> str:
    return wire.decode(wire_value)


def _pattern(expr: str, like: bool) -> re.Pattern[str]:
    """SQLite's LIKE (``%``, ``_``, case-insensitive) or GLOB (``*``, ``?``, ``[...]``)."""
    if like:
        text = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in expr)
        return re.compile(text, re.DOTALL | re.IGNORECASE)
    out: list[str] = []
    i = 0
    while i < len(expr):
        c = expr[i]
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[" and "]" in expr[i + 2 :]:
            end = expr.index("]", i + 2)
            body = expr[i + 1 : end]
            negate = body.startswith("^")
            body = body[1:] if negate else body
            body = "".join(c if c == "-" else re.escape(c) for c in body)
            out.append("[" + ("^" if negate else "") + body + "]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _numeric(op: int, bound: float | int) -> Test:
    compare = operator.eq if op == EQUALS else _ORDER[op]

    def test(value: bytes) -> bool:
        text = _value(value)
        if not text:
            return False  # NULL
        try:
            return bool(compare(_number(text), bound))
        except ValueError:
            return True  # not a number after all: let SQLite decide

    return test


def _matches(pattern: re.Pattern[str]) -> Test:
    return lambda value: pattern.fullmatch(_value(value)) is not None


def column_tests(column: Column, items: Iterable[Any]) -> list[Test]:
    """The checks one column's constraint list allows (each a superset of SQLite's)."""
    tests: list[Test] = []
    equal: set[Any] = set()
    exact: set[bytes] = set()
    for item in items:
        try:
            op, expr = int(item["op"]), str(item["expr"])
        except (KeyError, TypeError, ValueError):
            continue
        if column.numeric:
            if op != EQUALS and op not in _ORDER:
                continue
            try:
                bound = _number(expr)
            except ValueError:
                continue  # text compared with a number: SQLite's rules, not ours
            if op == EQUALS:
                equal.add(bound)
            else:
                tests.append(_numeric(op, bound))
        elif op == EQUALS:
            equal.add(_fold(expr))
            exact.add(wire.encode(expr))
        elif op in (LIKE, GLOB):
            try:
                tests.append(_matches(_pattern(expr, op == LIKE)))
            except re.error:  # e.g. a reversed range: SQLite's to judge
                continue
    if equal and column.numeric:

        def numeric_in(value: bytes) -> bool:
            text = _value(value)
            try:
                return bool(text) and _number(text) in equal
            except ValueError:
                return True

        tests.append(numeric_in)
    elif equal:
        tests.append(lambda value: value in exact or _fold(_value(value)) in equal)
    return tests


def _time_range(items: Iterable[Any]) -> tuple[int | None, int | None]:
    """``[start, stop)`` in whole seconds around the times the constraints allow (exact,
    but for several ``=`` (an IN), whose span it gives: a set test then picks the values)."""
    start: int | None = None
    stop: int | None = None
    equal: list[float | int] = []
    for item in items:
        try:
            op, bound = int(item["op"]), _number(str(item["expr"]))
            low = {GREATER_THAN: math.floor(bound) + 1, GREATER_THAN_OR_EQUALS: math.ceil(bound)}
            high = {LESS_THAN: math.ceil(bound), LESS_THAN_OR_EQUALS: math.floor(bound) + 1}
        except (KeyError, TypeError, ValueError, OverflowError):
            continue
        if op == EQUALS:
            equal.append(bound)
        if op in low:
            start = low[op] if start is None else max(start, low[op])
        if op in high:
            stop = high[op] if stop is None else min(stop, high[op])
    if equal:
        low_eq, high_eq = math.ceil(min(equal)), math.floor(max(equal)) + 1
        start = low_eq if start is None else max(start, low_eq)
        stop = high_eq if stop is None else min(stop, high_eq)
    return start, stop


def select(
    window: Window | Iterable[Entry],
    context: Mapping[str, Any],
    columns: Sequence[Column] = COLUMNS,
) -> Selection:
    """The rows and columns a ``generate`` with this context must return."""
    names = [c.name for c in columns]
    used = context.get("colsUsed")
    if isinstance(used, list):
        wanted = set(used)
        indexes = tuple(i for i, name in enumerate(names) if name in wanted)
    else:
        indexes = tuple(range(len(names)))
    checks: list[tuple[int, Test]] = []
    start = stop = None
    for constraint in context.get("constraints") or ():
        if not isinstance(constraint, Mapping) or constraint.get("name") not in names:
            continue
        items = [i for i in constraint.get("list") or () if isinstance(i, Mapping)]
        index = names.index(constraint["name"])
        if constraint["name"] == TIME_COLUMN:  # integers in time order: bisection
            start, stop = _time_range(items)
            equals = {str(i.get("expr")) for i in items if i.get("op") in (EQUALS, str(EQUALS))}
            if len(equals) < 2:
                continue  # the range is exact
        checks.extend((index, test) for test in column_tests(columns[index], items))
    snapshot = window.snapshot(start, stop) if isinstance(window, Window) else list(window)
    if checks:
        snapshot = [e for e in snapshot if all(test(e[1][i]) for i, test in checks)]
    return Selection(indexes, snapshot)


class EcsProcessTable:
    """osquery-python's table-plugin shape (``name``, ``columns``, ``generate``), on a window."""

    def __init__(
        self, window: Window, columns: Sequence[Column] = COLUMNS, name: str = TABLE
    ) -> None:
        self.window = window
        self._columns = tuple(columns)
        self._keys = [wire.encode(c.name) for c in self._columns]
        self._name = name  # one plugin per served table (``schema.TABLES``)

    def name(self) -> str:
        return self._name

    def columns(self) -> list[tuple[str, str]]:
        return [(c.name, c.type.value) for c in self._columns]

    def routes(self) -> list[dict[str, str]]:
        """The column broadcast osquery reads at registration (osquery-python's format)."""
        return [
            {"id": "column", "name": n, "type": t, "op": str(column_options(n))}
            for n, t in self.columns()
        ]

    def select(self, context: str | Mapping[str, Any] | None) -> Selection:
        return select(self.window, parse_context(context), self._columns)

    def generate(self, context: str | Mapping[str, Any] | None) -> list[dict[str, str]]:
        selection = self.select(context)
        names = [self._columns[i].name for i in selection.columns]
        return [
            {name: wire.decode(values[i]) for name, i in zip(names, selection.columns)}
            for _, values in selection.entries
        ]

    def write_reply(self, oprot: Any, seqid: int, context: str | None) -> int:
        """Stream the ``generate`` reply for ``context``; returns the number of rows sent."""
        selection = self.select(context)
        keys = [self._keys[i] for i in selection.columns]
        if len(selection.columns) == len(self._columns):
            rows: Iterable[Sequence[bytes]] = (values for _, values in selection.entries)
        elif selection.columns:
            pick = operator.itemgetter(*selection.columns)
            single = len(selection.columns) == 1
            rows = ((pick(values),) if single else pick(values) for _, values in selection.entries)
        else:
            rows = (() for _ in selection.entries)
        wire.write_generate_reply(oprot, seqid, keys, rows, len(selection.entries))
        return len(selection.entries)
