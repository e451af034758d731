"""Source records → events: one adapter per source, and :func:`classify` to pick one.

A replay file may mix eslogger messages, osquery rows (bare, or as results-log lines in event,
snapshot or batched format) and ECS documents; :func:`classify` decides per record by shape.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Union

from ecsquery.extension.model import Proc, ProcEvent
from ecsquery.extension.normalize.ecs import from_ecs, is_ecs
from ecsquery.extension.normalize.errors import BadRecord
from ecsquery.extension.normalize.eslogger import from_eslogger, is_eslogger
from ecsquery.extension.normalize.eslogger_file import file_event_name, from_eslogger_file
from ecsquery.extension.normalize.files import FileEvent, from_es_file_row, is_es_file_row
from ecsquery.extension.normalize.osquery import (
    from_es_process_row,
    from_process_events_row,
    from_processes_row,
    is_es_process_row,
    is_process_events_row,
    is_processes_row,
)
from ecsquery.extension.normalize.socket import SocketEvent, from_socket_row, is_socket_row

Item = Union[ProcEvent, Proc, FileEvent, SocketEvent, tuple[int, dict[str, Any]]]  # 3.9: no X | Y
"""An event, a running process (tree seed), a file event, a connection, or an ECS document
with its time."""

__all__ = ["BadRecord", "Item", "eslogger_items", "normalize", "rows_of"]


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
    if not (record.__class__ is dict or isinstance(record, Mapping)) or not is_eslogger(record):
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
        if is_es_process_row(row):
            event = from_es_process_row(row)
            if event is not None:
                yield event
        elif is_es_file_row(row):
            file_event = from_es_file_row(row)
            if file_event is not None:
                yield file_event
        elif is_processes_row(row):
            yield from_processes_row(row)
        elif is_process_events_row(row):
            yield from_process_events_row(row)
        elif is_socket_row(row):
            connection = from_socket_row(row)
            if connection is not None:
                yield connection
        else:
            raise BadRecord("unrecognized", f"record of unknown shape: {sorted(row)[:8]}")
