"""Alert documents → NDJSON, Elasticsearch ``_bulk`` NDJSON, or a terminal table.

The ``_bulk`` form uses ``create`` with ``_id`` = ``kibana.alert.uuid``: Elasticsearch refuses
a second document with the same id, so re-sending alerts (after a crash, or an overlapping
run) never indexes one twice.

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

from ecsquery.alerts.alert import AlertParts

DEFAULT_INDEX = "ecsquery-alerts"
WRITE_BATCH = 64 * 1024

Alert = dict[str, Any]

_LINE = orjson.OPT_APPEND_NEWLINE


class Format:
    """How alerts are written: one object per output format.

    ``document`` encodes an alert document (a dict: what replay hands over); ``encode`` an
    alert as the reader builds it (``AlertParts``), by default through its document — a format
    overrides it only to be faster, with the same bytes. A new format is one more subclass and
    one more entry in ``MAKERS``.
    """

    header = b""
    """Written once before the first alert."""

    def document(self, alert: Alert) -> bytes:
        raise NotImplementedError

    def encode(self, alert: AlertParts) -> bytes:
        return self.document(alert.to_dict())

    def record_ids(self, data: bytes) -> tuple[list[str], int]:
        """The alert ids of the whole records at the start of ``data`` (alert lines written by
        this format), and how many bytes they take; the rest is a record cut short."""
        end = data.rfind(b"\n") + 1
        return [uuid for line in data[:end].splitlines() if (uuid := _line_id(line))], end


class Ndjson(Format):
    """One alert document per line."""

    def document(self, alert: Alert) -> bytes:
        return orjson.dumps(alert, option=_LINE)

    def encode(self, alert: AlertParts) -> bytes:
        return alert.to_ndjson()


class Bulk(Format):
    """Elasticsearch ``_bulk`` body: ``create`` with ``_id`` = ``kibana.alert.uuid``, so a
    second copy of an alert is refused by the cluster. Action and document are one record."""

    def __init__(self, index: str = DEFAULT_INDEX) -> None:
        self._head = b'{"create":{"_index":' + orjson.dumps(index) + b',"_id":'

    def _action(self, uuid: str) -> bytes:
        return b"".join((self._head, orjson.dumps(uuid), b"}}\n"))

    def document(self, alert: Alert) -> bytes:
        return self._action(alert["kibana.alert.uuid"]) + orjson.dumps(alert, option=_LINE)

    def encode(self, alert: AlertParts) -> bytes:
        return self._action(alert.uuid) + alert.to_ndjson()

    def record_ids(self, data: bytes) -> tuple[list[str], int]:
        """Pairs only: an action line whose document was cut is not a written alert."""
        ids: list[str] = []
        pos = end = 0
        while True:
            action_end = data.find(b"\n", pos) + 1
            doc_end = data.find(b"\n", action_end) + 1 if action_end else 0
            if not doc_end:
                return ids, end
            uuid = _line_id(data[action_end:doc_end])
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
    """A terminal table, one alert a row."""

    header = (
        "  ".join(name.upper().ljust(width) for name, width in _TABLE).rstrip() + "\n"
    ).encode()

    def document(self, alert: Alert) -> bytes:
        return table_row(alert)


MAKERS: dict[str, Callable[[str], Format]] = {
    "ndjson": lambda index: Ndjson(),
    "bulk": Bulk,
    "table": lambda index: Table(),
}
"""Format name → the format for an Elasticsearch index name (only ``bulk`` uses it)."""
FORMATS = tuple(MAKERS)


def _line_id(line: bytes) -> str | None:
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    uuid = doc.get("kibana.alert.uuid") if isinstance(doc, dict) else None
    return uuid if isinstance(uuid, str) else None


def _cell(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def table_row(alert: Alert) -> bytes:
    process = alert.get("process") or {}
    args = process.get("args") or []
    command = " ".join(map(str, args)) if args else str(process.get("name") or "")
    mitre = []
    for threat in alert.get("threat") or []:
        for tech in threat.get("technique") or []:
            subs = [s["id"] for s in tech.get("subtechnique") or []]
            mitre.extend(subs or [tech["id"]])
    cells = {
        "@timestamp": str(alert.get("kibana.alert.original_time") or alert.get("@timestamp")),
        "severity": str(alert.get("kibana.alert.severity", "")),
        "rule": str(alert.get("kibana.alert.rule.name", "")),
        "host": str((alert.get("host") or {}).get("name", "")),
        "user": _user(alert.get("user") or {}),
        "process": command,
        "mitre": ",".join(dict.fromkeys(mitre)),
    }
    line = "  ".join(_cell(cells[name], width).ljust(width) for name, width in _TABLE)
    return (line.rstrip() + "\n").encode()


def _user(user: dict[str, Any]) -> str:
    """The user's name, else ``uid N``: eslogger and osquery give uids, names only live."""
    if user.get("name"):
        return str(user["name"])
    return f"uid {user['id']}" if user.get("id") not in (None, "") else ""


class AlertSink:
    """Writes alerts to a byte stream in one of ``FORMATS``."""

    def __init__(
        self, stream: BinaryIO, fmt: str | Format = "ndjson", *, index: str = DEFAULT_INDEX
    ) -> None:
        if isinstance(fmt, str):
            if fmt not in MAKERS:
                raise ValueError(f"unknown output format {fmt!r}")
            fmt = MAKERS[fmt](index)
        self.stream = stream
        self.format = fmt
        self._header = fmt.header

    def encode(self, alert: AlertParts) -> bytes:
        """One alert as this sink writes it (for ``AlertReader.read``)."""
        return self.format.encode(alert)

    def write(self, alerts: Iterable[Alert]) -> None:
        """Alert documents (e.g. replay's)."""
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
