"""osquery's ``socket_events`` (OpenBSM connect/accept), polled with the process tables.

EndpointSecurity has no TCP/IP events; osquery's macOS ``socket_events`` (``--disable_audit=false
--audit_allow_sockets=true``) has. This is the osquery source (:mod:`.osquery`: its cursor, time
slices, column lists and counted errors) taught that table: set ``tables = ["es_process_events",
"socket_events"]``. One thread polls every table in turn, ``socket_events`` last, so a
connection's row is read after the exec that started its process and the process tree can name
the actor (a second thread could read the connection first, and lose the process).

``protocol``, ``success`` and ``eid`` are ``hidden`` columns of ``specs/posix/socket_events.table``
(osquery a5b14f63d98c0d4992ab8ae07d933e0d5ff008df): ``SELECT *`` and so ``getQueryColumns``
of it leave them out, yet every 5.x has them, so they are polled by name; ``status`` is
Linux-only and polled where the table has it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ecsquery.extension.normalize.socket import COLUMNS_READ, HIDDEN, TABLE
from ecsquery.extension.pipeline import Pipeline
from ecsquery.extension.sources.osquery import OsquerySource


def poll_order(tables: Sequence[str]) -> tuple[str, ...]:
    """The tables with ``socket_events`` last (connections after the execs they follow)."""
    return tuple(t for t in tables if t != TABLE) + tuple(t for t in tables if t == TABLE)


class SocketSource(OsquerySource):
    """The osquery source, polling ``socket_events`` too when it is among its tables."""

    def __init__(self, pipeline: Pipeline, socket_path: str, **kwargs: Any) -> None:
        tables = poll_order(kwargs.pop("tables", ("es_process_events", TABLE)))
        super().__init__(pipeline, socket_path, tables=tables, **kwargs)

    def columns(self, table: str) -> str:
        if table != TABLE:
            return super().columns(table)
        if table not in self._columns:
            reply = self.query(f"SELECT * FROM {table}", "getQueryColumns")
            have = {name for item in reply for name in item} | HIDDEN
            self._columns[table] = ", ".join(c for c in COLUMNS_READ[table] if c in have)
        return self._columns[table]
