"""osqueryd's ``es_process_file_events``, polled like the process tables (:mod:`.osquery`).

The same paged polls and (time, eid) cursor as :class:`OsquerySource`, reading only the
columns the file normalizer uses (:data:`ecsquery.extension.normalize.files.COLUMNS_READ`).
osqueryd fills the table only with ``--disable_endpointsecurity_fim=false`` and for the paths
of its ``file_paths`` config (open events also need ``--es_fim_enable_open_events``; osquery
``osquery/events/darwin/endpointsecurity_fim.cpp`` at a5b14f63d), so the extension's own
scoping (``file_paths`` setting) applies on top of osqueryd's. The rows name the actor by pid
only: its argv, signature and user come from the process tree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ecsquery.extension.normalize.files import COLUMNS_READ
from ecsquery.extension.pipeline import Pipeline
from ecsquery.extension.sources.osquery import OsquerySource

TABLE = "es_process_file_events"


class OsqueryFileSource(OsquerySource):
    """The osquery source with ``es_process_file_events`` polled after the process tables in
    every round, on the same thread: a file event's actor is in the process tree once its exec
    row has been read (a separate thread could read the file row first). The one exception is
    an exec that reaches osqueryd's buffer after that round's process poll while its file
    events reach it before the file poll: those events lack the actor's argv."""

    def __init__(
        self,
        pipeline: Pipeline,
        socket_path: str,
        *,
        tables: Sequence[str] = ("es_process_events",),
        **options: Any,
    ) -> None:
        super().__init__(pipeline, socket_path, tables=(*tables, TABLE), **options)

    def columns(self, table: str) -> str:
        """What the file normalizer reads that this osquery's table has (asked once)."""
        if table != TABLE:
            return super().columns(table)
        if table not in self._columns:
            reply = self.query(f"SELECT * FROM {table}", "getQueryColumns")
            have = {name for item in reply for name in item} | {"eid"}
            self._columns[table] = ", ".join(c for c in COLUMNS_READ if c in have)
        return self._columns[table]
