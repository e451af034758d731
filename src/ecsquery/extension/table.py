"""The ``ecs_process_events`` table plugin: name, columns, and a pure ``generate``.

osqueryd sends ``generate`` a context with every column's constraints (osquery marks all
extension columns as indexed) and the columns the query uses. Selecting rows is a pure
function of a window snapshot and that context (:func:`select`); turning the selection into
dicts (:meth:`EcsProcessTable.generate`, osquery-python's interface, used by tests) or into a
streamed Thrift reply (:meth:`EcsProcessTable.write_reply`) is separate.

Constraint filtering only ever *narrows* to rows SQLite would keep anyway: osquery does not set
``omit``, so SQLite re-checks every constraint on what we return. Only ``time`` (integer) and
``timestamp`` (ISO text, compared bytewise as SQLite's BINARY collation does) are filtered;
other operators and columns are left to SQLite, because osquery does not forward the
constraint's collation and ``= … COLLATE NOCASE`` must not lose rows.
"""

from __future__ import annotations

import json
import operator
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

_OPS: dict[int, Callable[[Any, Any], bool]] = {
    EQUALS: operator.eq,
    GREATER_THAN: operator.gt,
    LESS_THAN_OR_EQUALS: operator.le,
    LESS_THAN: operator.lt,
    GREATER_THAN_OR_EQUALS: operator.ge,
}
TIMESTAMP_COLUMN = "timestamp"


@dataclass(frozen=True)
class Selection:
    """What a ``generate`` call returns: which columns, and which rows of the snapshot."""

    columns: tuple[int, ...]
    entries: list[Entry]


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


def _checks(context: Mapping[str, Any], name: str, parse: Callable[[str], Any]) -> list[Any]:
    checks = []
    for constraint in context.get("constraints") or ():
        if not isinstance(constraint, Mapping) or constraint.get("name") != name:
            continue
        for item in constraint.get("list") or ():
            try:
                op = _OPS[int(item["op"])]
                bound = parse(str(item["expr"]))
            except (KeyError, TypeError, ValueError):
                continue  # an operator or value we cannot compare exactly: SQLite filters it
            checks.append((op, bound))
    return checks


def _number(text: str) -> float | int:
    try:
        return int(text)
    except ValueError:
        return float(text)


def select(
    snapshot: Iterable[Entry], context: Mapping[str, Any], columns: Sequence[Column] = COLUMNS
) -> Selection:
    """The rows and columns a ``generate`` with this context must return."""
    names = [c.name for c in columns]
    used = context.get("colsUsed")
    if isinstance(used, list):
        wanted = set(used)
        indexes = tuple(i for i, name in enumerate(names) if name in wanted)
    else:
        indexes = tuple(range(len(names)))
    time_checks = _checks(context, TIME_COLUMN, _number)
    ts_checks = _checks(context, TIMESTAMP_COLUMN, lambda text: text.encode("utf-8"))
    ts_index = names.index(TIMESTAMP_COLUMN)
    entries = [
        entry
        for entry in snapshot
        if all(op(entry[0], bound) for op, bound in time_checks)
        and all(op(entry[1][ts_index][4:], bound) for op, bound in ts_checks)
    ]
    return Selection(indexes, entries)


class EcsProcessTable:
    """osquery-python's table-plugin shape (``name``, ``columns``, ``generate``), on a window."""

    def __init__(self, window: Window, columns: Sequence[Column] = COLUMNS) -> None:
        self.window = window
        self._columns = tuple(columns)
        self._keys = [wire.encode(c.name) for c in self._columns]

    def name(self) -> str:
        return TABLE

    def columns(self) -> list[tuple[str, str]]:
        return [(c.name, c.type.value) for c in self._columns]

    def routes(self) -> list[dict[str, str]]:
        """The column broadcast osquery reads at registration (osquery-python's format)."""
        return [{"id": "column", "name": n, "type": t, "op": "0"} for n, t in self.columns()]

    def select(self, context: str | Mapping[str, Any] | None) -> Selection:
        return select(self.window.snapshot(), parse_context(context), self._columns)

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
