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
from ecsquery.alerts.fast import NativeFormat

FORMATS = ("ndjson", "bulk", "table")
DEFAULT_INDEX = "ecsquery-alerts"

Alert = dict[str, Any]

_TABLE = (
    ("@timestamp", 24),
    ("severity", 8),
    ("rule", 44),
    ("host", 18),
    ("user", 10),
    ("process", 40),
    ("mitre", 20),
)


_LINE = orjson.OPT_APPEND_NEWLINE
WRITE_BATCH = 64 * 1024


def _ndjson(alert: Alert) -> bytes:
    return orjson.dumps(alert, option=_LINE)


def _bulk(index: str) -> Callable[[Alert], bytes]:
    def encode(alert: Alert) -> bytes:
        action = {"create": {"_index": index, "_id": alert["kibana.alert.uuid"]}}
        return orjson.dumps(action, option=_LINE) + orjson.dumps(alert, option=_LINE)

    return encode


def _parts_ndjson(alert: AlertParts) -> bytes:
    return alert.to_ndjson()


def _bulk_head(index: str) -> bytes:
    return b'{"create":{"_index":' + orjson.dumps(index) + b',"_id":'


def _parts_bulk(index: str) -> Callable[[AlertParts], bytes]:
    """``_bulk`` for ``AlertParts``: the action line is a fixed text around the id."""
    head = _bulk_head(index)

    def encode(alert: AlertParts) -> bytes:
        return b"".join((head, orjson.dumps(alert.uuid), b"}}\n", alert.to_ndjson()))

    return encode


def _parts_table(alert: AlertParts) -> bytes:
    return table_row(alert.to_dict())


def _cell(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def table_header() -> bytes:
    head = "  ".join(name.upper().ljust(width) for name, width in _TABLE).rstrip()
    return (head + "\n").encode()


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
        self, stream: BinaryIO, fmt: str = "ndjson", *, index: str = DEFAULT_INDEX
    ) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown output format {fmt!r}")
        self.stream = stream
        self.format = fmt
        self._encode = {"ndjson": _ndjson, "bulk": _bulk(index), "table": table_row}[fmt]
        self.encode: Callable[[AlertParts], bytes] = {
            "ndjson": _parts_ndjson,
            "bulk": _parts_bulk(index),
            "table": _parts_table,
        }[fmt]
        """One ``AlertParts`` as this sink writes it (for ``AlertReader.read_encoded``)."""
        self.native: NativeFormat | None = {
            "ndjson": NativeFormat(),
            "bulk": NativeFormat(_bulk_head(index)),
            "table": None,
        }[fmt]
        """The same format for the compiled scanner (None: a table needs the documents)."""
        self._header = fmt == "table"

    def write(self, alerts: Iterable[Alert]) -> None:
        """Alert documents (e.g. from ``read_alerts``)."""
        self._write(b"".join(map(self._encode, alerts)))

    def write_parts(self, alerts: Iterable[AlertParts]) -> None:
        """Alerts as ``AlertReader.read`` makes them; the same bytes as ``write`` of their
        documents, made faster."""
        self._write(b"".join(map(self.encode, alerts)))

    def write_encoded(self, alerts: Iterable[bytes]) -> None:
        """Alerts already through ``encode`` (``AlertReader.read_encoded``), written in
        batches of ~64 KiB: joining a whole block's alerts (megabytes) into fresh memory
        costs more in page faults than encoding them (the scanner's pieces are that size)."""
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
            data = table_header() + data
            self._header = False
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


def already_written(path: Path, size: int) -> set[str]:
    """Alert ids in ``path`` after byte ``size`` (written after the last checkpoint).

    A line cut short by a crash is removed first; its alert is not among the ids returned, so
    it is written again, whole.
    """
    try:
        with path.open("r+b") as f:
            end = f.seek(0, os.SEEK_END)
            if end <= size:
                return set()
            f.seek(size)
            tail = f.read()
            cut = tail.rfind(b"\n") + 1
            if cut < len(tail):
                f.truncate(size + cut)
                f.flush()
                os.fsync(f.fileno())
            tail = tail[:cut]
    except FileNotFoundError:
        return set()
    ids: set[str] = set()
    for line in tail.splitlines():
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(doc, dict):
            continue
        uuid = doc.get("kibana.alert.uuid") or (doc.get("create") or {}).get("_id")
        if isinstance(uuid, str):
            ids.add(uuid)
    return ids
