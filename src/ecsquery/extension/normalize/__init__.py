"""Source records → events: one adapter per source, and :func:`normalize` to pick one by shape.

:data:`OSQUERY_TABLES` is the one map from an osquery table to its rows' adapter (with the
columns it reads): the osquery source knows which table a row came from and calls that adapter
directly. A replay file may mix eslogger messages, osquery rows (bare, or as results-log lines
in event, snapshot or batched format) and ECS documents, so :func:`normalize` decides per
record by shape, and for an osquery row calls the same adapter of the table the row's shape
names (``tests/test_extension_normalize_tables.py`` checks both give the same items).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple, Union

from ecsquery.extension.model import Proc, ProcEvent
from ecsquery.extension.normalize import files, osquery, socket
from ecsquery.extension.normalize.ecs import from_ecs, is_ecs
from ecsquery.extension.normalize.errors import BadRecord
from ecsquery.extension.normalize.eslogger import from_eslogger, is_eslogger
from ecsquery.extension.normalize.eslogger_file import file_event_name, from_eslogger_file
from ecsquery.extension.normalize.files import FileEvent
from ecsquery.extension.normalize.socket import SocketEvent

Item = Union[ProcEvent, Proc, FileEvent, SocketEvent, tuple[int, dict[str, Any]]]  # 3.9: no X | Y
"""An event, a running process (tree seed), a file event, a connection, or an ECS document
with its time."""

Adapter = Callable[[Mapping[str, Any]], Sequence[Item]]
"""One osquery row → its items (none for a row of an event no table serves)."""

__all__ = [
    "OSQUERY_TABLES", "Adapter", "BadRecord", "Item", "OsqueryTable", "eslogger_items", "normalize",
    "rows_of",
]  # fmt: skip


class OsqueryTable(NamedTuple):
    """How one osquery table's rows are read."""

    adapter: Adapter
    columns: tuple[str, ...]
    """The columns the adapter reads: the osquery source polls only these."""
    shape: Callable[[Mapping[str, Any]], bool]
    """Whether a row of unknown origin looks like this table's (:func:`normalize` only)."""
    hidden: frozenset[str] = frozenset()
    """Columns the table's spec marks ``hidden`` (not in ``SELECT *``), polled by name."""


def _processes_items(row: Mapping[str, Any]) -> list[Item]:
    return [osquery.from_processes_row(row)]


PROCESSES_COLUMNS = ("pid", "parent", "name", "path", "cmdline", "cwd", "uid", "euid", "gid",
                     "start_time")  # fmt: skip
"""What the process-tree seed reads from ``processes`` (``name``: what tells its shape)."""

OSQUERY_TABLES: dict[str, OsqueryTable] = {
    "es_process_events": OsqueryTable(
        osquery.es_process_items,
        osquery.COLUMNS_READ["es_process_events"],
        osquery.is_es_process_row,
    ),
    files.TABLE: OsqueryTable(files.es_file_items, files.COLUMNS_READ, files.is_es_file_row),
    "processes": OsqueryTable(_processes_items, PROCESSES_COLUMNS, osquery.is_processes_row),
    "process_events": OsqueryTable(
        osquery.process_events_items,
        osquery.COLUMNS_READ["process_events"],
        osquery.is_process_events_row,
    ),
    socket.TABLE: OsqueryTable(
        socket.socket_items, socket.COLUMNS_READ, socket.is_socket_row, socket.HIDDEN
    ),
}
"""Every osquery table read, in the order :func:`normalize` tries their shapes (a row of one
table never has the shape of an earlier one: ``es_process_events`` before the file table,
whose rows also have ``event_type``; ``processes`` before ``process_events``)."""


def rows_of(record: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The osquery rows in a results-log line (only *added* rows), or the record itself."""
    columns = record.get("columns")
    if isinstance(columns, Mapping):
        if record.get("action", "added") == "added":
            yield columns
        return
    if isinstance(record.get("snapshot"), list):
        yield from (r for r in record["snapshot"] if isinstance(r, Mapping))
        return
    diff = record.get("diffResults")
    if isinstance(diff, Mapping):
        yield from (r for r in diff.get("added") or () if isinstance(r, Mapping))
        return
    yield record


def eslogger_items(record: Any) -> list[Item]:
    """The event in one eslogger message, none for a type the tables do not serve: the
    eslogger source's adapter, which tries no other shape first (a record that is not an
    eslogger message goes through :func:`normalize`, as from any source)."""
    message = (  # is_eslogger() of a decoded line, inline
        record.__class__ is dict
        and "event_type" in record
        and record.get("process").__class__ is dict
    )
    if not message and not (isinstance(record, Mapping) and is_eslogger(record)):
        return list(normalize(record))
    event = from_eslogger(record)
    if event is not None:
        return [event]
    name = file_event_name(record)
    if name is not None:
        file_event = from_eslogger_file(record, name)
        if file_event is not None:
            return [file_event]
    return []


def normalize(record: Any) -> Iterator[Item]:
    """Every item in one decoded source record; raises :class:`BadRecord` if none can be."""
    if record.__class__ is not dict and not isinstance(record, Mapping):
        raise BadRecord("malformed", f"expected a JSON object, got {type(record).__name__}")
    if "_source" in record and isinstance(record["_source"], Mapping):  # an Elasticsearch hit
        record = record["_source"]
    if is_eslogger(record):
        yield from eslogger_items(record)
        return
    if is_ecs(record):
        yield from_ecs(record)
        return
    for row in rows_of(record):
        for table in OSQUERY_TABLES.values():
            if table.shape(row):
                yield from table.adapter(row)
                break
        else:
            raise BadRecord("unrecognized", f"record of unknown shape: {sorted(row)[:8]}")
