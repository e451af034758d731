"""An osqueryd stand-in: the extension manager side of osquery's Thrift API, for tests and replay.

osqueryd cannot run here, so this plays its part over a real Unix socket, built on
osquery-python's generated ``ExtensionManager`` classes: it accepts ``registerExtension``,
answers ``query`` from SQLite tables that have osquery's ``es_process_events``,
``process_events`` and ``processes`` schemas, and calls an extension's table the way osqueryd's
``xFilter`` does: ``call("table", name, {"action": "generate", "context": <JSON>})`` with a
constraint list for *every* column (in column-name order, empty when unconstrained), plus
``colsUsed`` and ``colsUsedBitset`` (see ``TablePlugin::setRequestFromContext``). ``run_sql``
runs a pack query over an extension's table as osqueryd's SQLite would.

It is a stand-in, not an emulator: no SQL runs over the extension's rows here (that is SQLite's
job inside osqueryd), and ``query`` runs plain SQLite, without osquery's extra functions.

Usage::

    with OsquerydStandin(sock, schema_dir) as osqueryd:
        osqueryd.insert("es_process_events", rows)
        proc = osqueryd.spawn_extension([sys.executable, "-m", "ecsquery.extension"])
        uuid = osqueryd.wait_for_extension("ecsquery")
        rows = osqueryd.generate(uuid, "ecs_process_events", {"time": [(GREATER_THAN, "0")]})
"""

from __future__ import annotations

import itertools
import json
import os
import re
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from osquery.extensions import ExtensionManager
from osquery.extensions.ttypes import (
    ExtensionResponse,
    ExtensionStatus,
    InternalExtensionInfo,
    InternalOptionInfo,
)
from thrift.transport import TSocket

from ecsquery.extension.client import connect
from ecsquery.extension.wire import serve_client

STANDIN_TABLES = (
    "es_process_events",
    "process_events",
    "processes",
    "es_process_file_events",
    "socket_events",
)
EVENT_TABLES = ("es_process_events", "process_events", "es_process_file_events", "socket_events")
"""The evented tables: osquery buffers their rows and expires them (``events_expiry``)."""
DEFAULT_FLAGS = {"events_expiry": "3600", "events_max": "50000", "events_optimize": "1"}
"""osquery's defaults (``osquery/events/eventsubscriberplugin.cpp`` lines 73-87, commit
a5b14f63d98c0d4992ab8ae07d933e0d5ff008df)."""
EVENTS_CHECKPOINT = 256
"""``kEventsCheckpoint`` (same file, line 27): ``add`` expires once per this many rows."""
Constraints = Mapping[str, Sequence[tuple[int, str]]]


def load_schema(schema_dir: Path, table: str) -> list[tuple[str, str]]:
    """(name, type) of every column of an osquery table, hidden ones included."""
    spec = json.loads((schema_dir / f"{table}.json").read_text(encoding="utf-8"))
    columns = [(c["name"], c["type"]) for c in spec["columns"]]
    for extra in spec.get("extended_schema") or ():
        if extra.get("platform") == "darwin":
            columns += [(c["name"], c["type"]) for c in extra["columns"]]
    return columns


def build_context(
    columns: Sequence[tuple[str, str]],
    constraints: Constraints | None = None,
    cols_used: Iterable[str] | None = None,
) -> str:
    """The ``context`` JSON osqueryd sends with ``generate`` for these constraints."""
    constraints = constraints or {}
    unknown = set(constraints) - {name for name, _ in columns}
    if unknown:
        raise ValueError(f"constraints on unknown columns: {sorted(unknown)}")
    doc: dict[str, Any] = {
        "constraints": [
            {
                "name": name,
                "list": [{"op": op, "expr": expr} for op, expr in constraints.get(name, ())],
                "affinity": kind,
            }
            for name, kind in sorted(columns)
        ]
    }
    if cols_used is not None:
        used = set(cols_used)
        doc["colsUsed"] = sorted(used)
        doc["colsUsedBitset"] = sum(
            1 << min(i, 63) for i, (name, _) in enumerate(columns) if name in used
        )
    return json.dumps(doc, separators=(",", ":"))


class _Manager(ExtensionManager.Iface):  # type: ignore[misc]
    def __init__(self, standin: OsquerydStandin) -> None:
        self.standin = standin

    def ping(self) -> ExtensionStatus:
        return ExtensionStatus(code=0, message="OK")

    def call(self, registry: str, item: str, request: dict[str, str]) -> ExtensionResponse:
        message = "the stand-in has no plugins of its own"
        return ExtensionResponse(status=ExtensionStatus(code=1, message=message), response=[])

    def shutdown(self) -> None:
        self.standin.stop()

    def extensions(self) -> dict[int, InternalExtensionInfo]:
        return {uuid: ext["info"] for uuid, ext in self.standin.registered.items()}

    def options(self) -> dict[str, InternalOptionInfo]:
        return {"config_plugin": InternalOptionInfo(value="filesystem", default_value="")}

    def registerExtension(
        self, info: InternalExtensionInfo, registry: dict[str, Any]
    ) -> ExtensionStatus:
        return self.standin._register(info, registry)

    def deregisterExtension(self, uuid: int) -> ExtensionStatus:
        self.standin.registered.pop(uuid, None)
        return ExtensionStatus(code=0, message="OK")

    def query(self, sql: str) -> ExtensionResponse:
        try:
            rows = self.standin.sql(sql)
        except sqlite3.Error as exc:
            return ExtensionResponse(status=ExtensionStatus(code=1, message=str(exc)), response=[])
        return ExtensionResponse(status=ExtensionStatus(code=0, message="OK"), response=rows)

    def getQueryColumns(self, sql: str) -> ExtensionResponse:
        try:
            cursor = self.standin.db.execute(f"SELECT * FROM ({sql}) LIMIT 0")
        except sqlite3.Error as exc:
            return ExtensionResponse(status=ExtensionStatus(code=1, message=str(exc)), response=[])
        columns = [{d[0]: "TEXT"} for d in cursor.description]
        return ExtensionResponse(status=ExtensionStatus(code=0, message="OK"), response=columns)


class OsquerydStandin:
    """osqueryd's extension manager on ``socket_path``, with SQLite-backed event tables."""

    def __init__(
        self,
        socket_path: str | Path,
        schema_dir: Path,
        tables: Sequence[str] = STANDIN_TABLES,
        version: str = "5.23.0",
        flags: Mapping[str, str] | None = None,
        expire: bool = False,
    ) -> None:
        self.socket_path = str(socket_path)
        self.schemas = {table: load_schema(schema_dir, table) for table in tables}
        if (schema_dir / "osquery_info.json").exists():  # the version osquery_info reports
            self.schemas["osquery_info"] = load_schema(schema_dir, "osquery_info")
        self.db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db_lock = threading.Lock()
        for table, columns in self.schemas.items():
            cols = ", ".join(f'"{name}" {kind}' for name, kind in columns)
            self.db.execute(f'CREATE TABLE "{table}" ({cols})')
        self.expire = expire
        """Expire event rows as osqueryd does (:meth:`expire_events`), after ``events_expiry``."""
        self.expired = 0
        """Event rows deleted by expiry so far."""
        self.clock = time.time
        self._added = 0
        if "osquery_info" in self.schemas:
            self.insert("osquery_info", [{"version": version, "pid": os.getpid()}])
        self.flags = {**DEFAULT_FLAGS, **(flags or {})}
        if (schema_dir / "osquery_flags.json").exists():  # the flags osquery_flags reports
            self.schemas["osquery_flags"] = load_schema(schema_dir, "osquery_flags")
            cols = ", ".join(f'"{name}" {kind}' for name, kind in self.schemas["osquery_flags"])
            self.db.execute(f'CREATE TABLE "osquery_flags" ({cols})')
            self.insert("osquery_flags", [{"name": n, "value": v} for n, v in self.flags.items()])
        self.registered: dict[int, dict[str, Any]] = {}
        self._uuids = itertools.count(int(time.time()) % 100_000 * 10)
        self._stopped = threading.Event()
        self._listener: TSocket.TServerSocket | None = None
        self._thread: threading.Thread | None = None
        self.processor = ExtensionManager.Processor(_Manager(self))

    # -- the manager socket -------------------------------------------------------------------

    def start(self) -> OsquerydStandin:
        listener = TSocket.TServerSocket(unix_socket=self.socket_path)
        listener.listen()
        listener.handle.settimeout(0.2)
        self._listener = listener
        self._stopped.clear()
        self._thread = threading.Thread(target=self._serve, name="osqueryd-standin", daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        assert self._listener is not None
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.handle.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn: Any) -> None:
        serve_client(conn, self.processor, self._stopped)

    def stop(self) -> None:
        """Go away as a stopped osqueryd does: stop answering and remove the socket."""
        self._stopped.set()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._thread is not None:
            self._thread.join(2)
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)

    def __enter__(self) -> OsquerydStandin:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- tables osqueryd would have -------------------------------------------------------------

    def insert(self, table: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """Add rows (missing columns NULL); returns how many."""
        names = [name for name, _ in self.schemas[table]]
        placeholders = ", ".join("?" for _ in names)
        data = [[row.get(name) for name in names] for row in rows]
        with self._db_lock:
            self.db.executemany(f'INSERT INTO "{table}" VALUES ({placeholders})', data)
            if self.expire and table in EVENT_TABLES:
                # EventSubscriberPlugin::add (eventsubscriberplugin.cpp lines 185-196): every
                # kEventsCheckpoint rows added, expire against the current time.
                due = (self._added % EVENTS_CHECKPOINT) + len(data) >= EVENTS_CHECKPOINT
                self._added += len(data)
                if due:
                    self._expire(table)
        return len(data)

    def expire_events(self, table: str) -> int:
        """Delete ``table``'s rows as osqueryd's ``expireEventBatches`` does; returns how many.

        ``eventsubscriberplugin.cpp`` (commit a5b14f63d98c0d4992ab8ae07d933e0d5ff008df) lines
        586-646: rows with ``time <= now - events_expiry`` go (``upper_bound`` of the oldest valid
        time, in whole seconds), except that the newest second's rows always stay (lines
        612-619, osquery#8524). ``generateRows`` (lines 288-291) runs it after *every* SELECT on
        the table when no scheduled query reads it (``executedAllQueries``, line 333; the
        expiry time is then ``getTime()``, line 246), whoever sent the SELECT: a scheduled
        query, a live query or an extension's ``query`` call, all end in ``genTable``.
        """
        with self._db_lock:
            return self._expire(table)

    def _expire(self, table: str) -> int:
        expiry = int(self.flags["events_expiry"])
        if expiry == 0:
            return 0
        oldest_valid = int(self.clock()) - expiry
        oldest, newest = self.db.execute(f'SELECT min(time), max(time) FROM "{table}"').fetchone()
        if newest is None or int(oldest) >= oldest_valid:  # line 605: nothing old enough
            return 0
        cutoff = min(oldest_valid, int(newest) - 1)
        gone = self.db.execute(f'DELETE FROM "{table}" WHERE time <= ?', (cutoff,)).rowcount
        self.expired += gone
        return int(gone)

    def sql(self, sql: str) -> list[dict[str, str]]:
        """A query's rows as osqueryd returns them over Thrift: every value a string."""
        with self._db_lock:
            cursor = self.db.execute(sql)
            names = [d[0] for d in cursor.description]
            rows = [
                {n: "" if v is None else str(v) for n, v in zip(names, row, strict=True)}
                for row in cursor
            ]
            if self.expire:
                for table in EVENT_TABLES:
                    if re.search(rf'\bFROM\s+"?{table}\b', sql, re.IGNORECASE):
                        self._expire(table)
            return rows

    # -- extensions -----------------------------------------------------------------------------

    def _register(self, info: InternalExtensionInfo, registry: dict[str, Any]) -> ExtensionStatus:
        for ext in self.registered.values():
            if ext["info"].name == info.name:
                return ExtensionStatus(code=1, message=f"Duplicate extension: {info.name}")
        uuid = next(self._uuids)
        self.registered[uuid] = {"info": info, "registry": registry}
        return ExtensionStatus(code=0, message="OK", uuid=uuid)

    def deregister(self, uuid: int) -> None:
        """Forget an extension, as osqueryd does when its pings fail (it should then exit)."""
        self.registered.pop(uuid, None)

    def wait_for_extension(self, name: str, timeout: float = 10.0) -> int:
        """The uuid of extension ``name`` once it has registered and its socket answers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for uuid, ext in list(self.registered.items()):
                if ext["info"].name == name and self._answers(self.extension_socket(uuid)):
                    return uuid
            time.sleep(0.02)
        raise TimeoutError(f"extension {name!r} did not register within {timeout} s")

    @staticmethod
    def _answers(path: str) -> bool:
        """The socket file exists from bind(), before listen(): only a ping shows it serves."""
        if not os.path.exists(path):
            return False
        try:
            with connect(path, timeout=5) as ext:
                ext.ping()
        except Exception:
            return False
        return True

    def extension_socket(self, uuid: int) -> str:
        return f"{self.socket_path}.{uuid}"

    def table_columns(self, uuid: int, table: str) -> list[tuple[str, str]]:
        """The columns extension ``uuid`` broadcast for ``table`` at registration."""
        routes = self.registered[uuid]["registry"]["table"][table]
        return [(r["name"], r["type"]) for r in routes if r.get("id") == "column"]

    def call(self, uuid: int, registry: str, item: str, request: dict[str, str]) -> Any:
        with connect(self.extension_socket(uuid), timeout=60) as ext:
            return ext.call(registry, item, request)

    def generate(
        self,
        uuid: int,
        table: str,
        constraints: Constraints | None = None,
        cols_used: Iterable[str] | None = None,
    ) -> list[dict[str, str]]:
        """``SELECT`` from an extension table as osqueryd's xFilter asks for it: with
        ``colsUsed`` always (osquery sends it since 3.2.6), every column unless told."""
        columns = self.table_columns(uuid, table)
        used = [name for name, _ in columns] if cols_used is None else cols_used
        context = build_context(columns, constraints, used)
        reply = self.call(uuid, "table", table, {"action": "generate", "context": context})
        if reply.status.code != 0:
            raise RuntimeError(f"generate failed: {reply.status.message}")
        return list(reply.response)

    def run_sql(
        self, uuid: int, table: str, sql: str, now: int | None = None
    ) -> tuple[list[tuple[Any, ...]], list[str]]:
        """Run ``sql`` over extension ``uuid``'s ``table`` as osqueryd does, on a real SQLite
        virtual table whose planner hands ``generate`` (over Thrift) the constraints and
        ``colsUsed`` osquery's would (:mod:`ecsquery.testing.vtab`); ``time.unix_time`` is
        ``now``. Returns the rows and every ``generate`` context sent, in order."""
        from ecsquery.osquery_sqlite import sql_value
        from ecsquery.schema import OsqueryType
        from ecsquery.testing import vtab  # it builds on this module

        routes = self.registered[uuid]["registry"]["table"][table]
        columns = [
            vtab.VtabColumn(r["name"], r["type"], int(r.get("op") or 0))
            for r in routes
            if r.get("id") == "column"
        ]

        def serve(context: str) -> tuple[int, vtab.Getter]:
            reply = self.call(uuid, "table", table, {"action": "generate", "context": context})
            if reply.status.code != 0:
                raise RuntimeError(f"generate failed: {reply.status.message}")
            rows = list(reply.response)

            def get(row: int, column: int) -> object:
                text = rows[row].get(columns[column].name)  # missing: NULL, as osquery
                return None if text is None else sql_value(text, OsqueryType(columns[column].type))

            return len(rows), get

        module = vtab.OsqueryModule(table, columns, serve)
        conn = vtab.connect(module, int(time.time()) if now is None else now)
        return conn.execute(sql).fetchall(), module.contexts

    def spawn_extension(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        timeout: int = 3,
        interval: int = 3,
        verbose: bool = False,
        **popen: Any,
    ) -> subprocess.Popen[bytes]:
        """Start an extension with exactly the arguments osqueryd's watcher passes it."""
        args = [*command, "--socket", self.socket_path]
        args += ["--timeout", str(timeout), "--interval", str(interval)]
        if verbose:
            args.append("--verbose")
        full_env = {**os.environ, **(env or {}), "OSQUERY_EXTENSION": "1"}
        return subprocess.Popen(args, env=full_env, **popen)
