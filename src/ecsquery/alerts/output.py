"""Alerts → NDJSON, Elasticsearch ``_bulk`` NDJSON, or a terminal table, in a document shape.

A format is an encoding (``Ndjson``, ``Bulk``, ``Table``) of a shape (``alerts.ecs.EcsAlert``,
the default; ``alerts.signal.KibanaSignal``, the older ``kibana.alert.*`` one): ``FORMATS``
names each pair the CLI offers. The ``_bulk`` form uses ``create`` with ``_id`` = the alert's
stable id: Elasticsearch refuses a second document with the same id, so re-sending alerts
(after a crash, or an overlapping run) never indexes one twice; ``create`` is also the only
operation a data stream takes.

``AlertSink.sync`` flushes and fsyncs a file output; follow mode writes its checkpoint only
after it, and on restart ``already_written`` reads back the alerts written after the last
checkpoint so they are not written again.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from ecsquery.alerts.alert import AlertParts, Shape
from ecsquery.alerts.ecs import DEFAULT_NAMESPACE, SEVERITY_SCORES, EcsAlert
from ecsquery.alerts.signal import KibanaSignal

WRITE_BATCH = 64 * 1024

Alert = dict[str, Any]

_LINE = orjson.OPT_APPEND_NEWLINE


class Format:
    """How alerts are written: one object per output encoding, over one document shape.

    ``document`` encodes an alert document of the shape (a dict: what replay hands over);
    ``encode`` an alert as the reader builds it (``AlertParts``), by default through its
    document — a format overrides it only to be faster, with the same bytes. A new format is
    one more subclass and one more entry in ``FORMATS``.
    """

    header = b""
    """Written once before the first alert."""

    def __init__(self, shape: Shape[Any] | None = None) -> None:
        self.shape: Shape[Any] = shape or EcsAlert()

    def document(self, alert: Alert) -> bytes:
        raise NotImplementedError

    def encode(self, alert: AlertParts) -> bytes:
        return self.document(self.shape.document(alert))

    def record_ids(self, data: bytes) -> tuple[list[str], int]:
        """The alert ids of the whole records at the start of ``data`` (alert lines written by
        this format), and how many bytes they take; the rest is a record cut short."""
        end = data.rfind(b"\n") + 1
        lines = data[:end].splitlines()
        return [uuid for line in lines if (uuid := _line_id(line, self.shape))], end


class Ndjson(Format):
    """One alert document per line."""

    def document(self, alert: Alert) -> bytes:
        return orjson.dumps(alert, option=_LINE)

    def encode(self, alert: AlertParts) -> bytes:
        return self.shape.ndjson(alert)


class Bulk(Format):
    """Elasticsearch ``_bulk`` body: ``create`` into ``index`` (default: the shape's, e.g. the
    ECS alerts' data stream) with ``_id`` = the alert's id, so a second copy of an alert is
    refused by the cluster. Action and document are one record."""

    def __init__(self, index: str | None = None, shape: Shape[Any] | None = None) -> None:
        super().__init__(shape)
        target = index or self.shape.default_index
        self._head = b'{"create":{"_index":' + orjson.dumps(target) + b',"_id":'

    def _action(self, uuid: str | None) -> bytes:
        return b"".join((self._head, orjson.dumps(uuid), b"}}\n"))

    def document(self, alert: Alert) -> bytes:
        return self._action(self.shape.alert_id(alert)) + orjson.dumps(alert, option=_LINE)

    def encode(self, alert: AlertParts) -> bytes:
        return self._action(alert.uuid) + self.shape.ndjson(alert)

    def record_ids(self, data: bytes) -> tuple[list[str], int]:
        """Pairs only: an action line whose document was cut is not a written alert."""
        ids: list[str] = []
        pos = end = 0
        while True:
            action_end = data.find(b"\n", pos) + 1
            doc_end = data.find(b"\n", action_end) + 1 if action_end else 0
            if not doc_end:
                return ids, end
            uuid = _line_id(data[action_end:doc_end], self.shape)
            if uuid:
                ids.append(uuid)
            pos = end = doc_end


_TABLE = (
    ("@timestamp", 24),
    ("severity", 8),
    ("rule", 44),
    ("host", 18),
    ("user", 10),
    ("process", 40),
    ("mitre", 20),
)


class Table(Format):
    """A terminal table, one alert a row, read from the ECS document (``table_row``)."""

    header = (
        "  ".join(name.upper().ljust(width) for name, width in _TABLE).rstrip() + "\n"
    ).encode()

    def __init__(self, index: str | None = None, shape: Shape[Any] | None = None) -> None:
        super().__init__(EcsAlert())  # the table's columns are ECS fields, whatever was asked

    def document(self, alert: Alert) -> bytes:
        return table_row(alert)


FormatClass = Callable[[str | None, Shape[Any]], Format]

FORMATS: dict[str, tuple[FormatClass, Callable[[str], Shape[Any]]]] = {
    "ndjson": (lambda index, shape: Ndjson(shape), EcsAlert),
    "bulk": (Bulk, EcsAlert),
    "table": (Table, EcsAlert),
    "kibana-ndjson": (lambda index, shape: Ndjson(shape), lambda namespace: KibanaSignal()),
    "kibana-bulk": (Bulk, lambda namespace: KibanaSignal()),
}
"""Format name → (encoding for a ``_bulk`` index, shape for a data stream namespace)."""


def make_format(
    name: str, *, index: str | None = None, namespace: str = DEFAULT_NAMESPACE
) -> Format:
    """The format of ``FORMATS`` called ``name`` (``index``: ``_bulk``'s target)."""
    if name not in FORMATS:
        raise ValueError(f"unknown output format {name!r}")
    encoding, shape = FORMATS[name]
    return encoding(index, shape(namespace))


def _line_id(line: bytes, shape: Shape[Any]) -> str | None:
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return shape.alert_id(doc) if isinstance(doc, dict) else None


def _cell(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def table_row(alert: Alert) -> bytes:
    """One table line of an ECS alert document (the rule's severity name from
    ``event.severity``, MITRE as each technique's subtechniques, else the technique)."""
    process = alert.get("process") or {}
    args = process.get("args") or []
    command = " ".join(map(str, args)) if args else str(process.get("name") or "")
    event = alert.get("event") or {}
    technique = (alert.get("threat") or {}).get("technique") or {}
    subs = (technique.get("subtechnique") or {}).get("id") or []
    mitre = []
    for tech in technique.get("id") or []:
        mine = [s for s in subs if s.startswith(f"{tech}.")]
        mitre.extend(mine or [tech])
    cells = {
        "@timestamp": str(alert.get("@timestamp")),
        "severity": _SEVERITY_NAMES.get(event.get("severity"), str(event.get("severity", ""))),
        "rule": str((alert.get("rule") or {}).get("name", "")),
        "host": str((alert.get("host") or {}).get("name", "")),
        "user": _user(alert.get("user") or {}),
        "process": command,
        "mitre": ",".join(dict.fromkeys(mitre)),
    }
    line = "  ".join(_cell(cells[name], width).ljust(width) for name, width in _TABLE)
    return (line.rstrip() + "\n").encode()


_SEVERITY_NAMES: dict[Any, str] = {score: name for name, score in SEVERITY_SCORES.items()}


def _user(user: dict[str, Any]) -> str:
    """The user's name, else ``uid N``: eslogger and osquery give uids, names only live."""
    if user.get("name"):
        return str(user["name"])
    return f"uid {user['id']}" if user.get("id") not in (None, "") else ""


class AlertSink:
    """Writes alerts to a byte stream in one of ``FORMATS`` (or a ``Format``)."""

    def __init__(
        self,
        stream: BinaryIO,
        fmt: str | Format = "ndjson",
        *,
        index: str | None = None,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> None:
        if isinstance(fmt, str):
            fmt = make_format(fmt, index=index, namespace=namespace)
        self.stream = stream
        self.format = fmt
        self._header = fmt.header

    def encode(self, alert: AlertParts) -> bytes:
        """One alert as this sink writes it (for ``AlertReader.read``)."""
        return self.format.encode(alert)

    def write(self, alerts: Iterable[Alert]) -> None:
        """Alert documents of the format's shape (e.g. replay's)."""
        self.write_encoded(map(self.format.document, alerts))

    def write_encoded(self, alerts: Iterable[bytes]) -> None:
        """Alerts already through ``encode``, written in batches of ~64 KiB: joining a whole
        block's alerts (megabytes) into fresh memory costs more in page faults than encoding
        them."""
        batch: list[bytes] = []
        size = 0
        for piece in alerts:
            batch.append(piece)
            size += len(piece)
            if size >= WRITE_BATCH:
                self._write(b"".join(batch))
                batch.clear()
                size = 0
        if batch:
            self._write(b"".join(batch))

    def _write(self, data: bytes) -> None:
        if not data:
            return
        if self._header:
            data = self._header + data
            self._header = b""
        self.stream.write(data)

    def sync(self) -> int | None:
        """Flush (and fsync a regular file); the file's size afterwards, None if not a file."""
        self.stream.flush()
        try:
            fd = self.stream.fileno()
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            os.fsync(fd)
            return os.fstat(fd).st_size
        except (OSError, ValueError, io.UnsupportedOperation):
            return None


def already_written(path: Path, size: int, fmt: Format) -> set[str]:
    """Alert ids in ``path`` after byte ``size`` (written after the last checkpoint).

    A record cut short by a crash (a line; a ``_bulk`` action with its document) is removed
    first; its alert is not among the ids returned, so it is written again, whole.
    """
    try:
        with path.open("r+b") as f:
            end = f.seek(0, os.SEEK_END)
            if end <= size:
                return set()
            f.seek(size)
            tail = f.read()
            ids, whole = fmt.record_ids(tail)
            if whole < len(tail):
                f.truncate(size + whole)
                f.flush()
                os.fsync(f.fileno())
    except FileNotFoundError:
        return set()
    return set(ids)
