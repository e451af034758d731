"""Source records → normalized events → process tree → ECS document → row in the window.

Every source thread calls :meth:`Pipeline.feed`; it never raises for bad input. A record that
cannot be used is counted under ``bad.<reason>`` and logged (the first few of each reason in
full, then every thousandth), and the table keeps serving.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from ecsquery.extension import wire
from ecsquery.extension.ecs import image_part, kind_part
from ecsquery.extension.files import OWN as FILE_OWN
from ecsquery.extension.files import FileScope, file_actor, file_kind, file_own
from ecsquery.extension.model import EnvCapture, Proc, ProcEvent, capped, named
from ecsquery.extension.network import OWN as NETWORK_OWN
from ecsquery.extension.network import network_actor, network_image, network_kind, network_own
from ecsquery.extension.normalize import BadRecord, Item, normalize
from ecsquery.extension.normalize.files import FileEvent
from ecsquery.extension.normalize.socket import SocketEvent
from ecsquery.extension.rowparts import ActorRows
from ecsquery.extension.stats import Stats
from ecsquery.extension.tree import ProcessTree
from ecsquery.extension.window import Window
from ecsquery.rows import encode_value, get_path
from ecsquery.schema import COLUMNS, FILE_TABLE, NETWORK_TABLE, PROCESS_TABLE, TABLES, Column
from ecsquery.values import nul_free

log = logging.getLogger(__name__)

UNIQUE_COLUMNS = frozenset(
    {
        "timestamp",
        "event_id",
        "process_entity_id",
        "process_args",
        "process_command_line",
        "file_path",
        "file_name",
        "file_original_path",
        "file_original_name",
    }
)
"""Columns whose values rarely repeat (an argv, a file written by a build): interning them
would only churn the cache. What repeats with the image (argv) is shared by its row part."""
UNIQUE_MEMOIZED = frozenset({"timestamp"})
"""Of those, the ones still worth the flattener's own small memo: a source with whole-second
times (osquery's ``time``) repeats ``@timestamp`` for every event of a second, and sharing
its bytes saves ~60 bytes an event in the window."""
_LOG_FIRST = 5
_ENV = ProcEvent._fields.index("env")


_CATEGORIES = frozenset(t.category for t in TABLES)


ACTOR_OWN: dict[str, tuple[str, ...]] = {
    PROCESS_TABLE.category: (),
    FILE_TABLE.category: FILE_OWN,
    NETWORK_TABLE.category: NETWORK_OWN,
}
"""Per table, the fields its events have of their own beside their actor's process parts
(``rowparts.ActorRows``): every table's rows are assembled from parts."""
ACTOR_IMAGE: dict[str, Callable[[Proc], dict[str, Any]]] = {NETWORK_TABLE.category: network_image}
"""The tables whose image part is not ``ecs.image_part`` (Defend's network field list)."""


class _Route(NamedTuple):
    """Where events of one category go: a table's window, columns and rows from parts."""

    window: Window
    columns: Sequence[Column]
    finish: tuple[Callable[[str], Any], ...]
    rows: ActorRows


_SCAN: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
"""The C scanner ``json.loads`` runs (it keeps nothing between calls)."""
_JSON_SPACE = " \t\n\r"
"""What JSON counts as whitespace (``json.decoder.WHITESPACE``), around a value."""


def decode_line(line: str) -> Any:
    """``json.loads(line)`` of a text line, by the same C scanner without the decoder's
    Python wrapper (two regular-expression matches and three calls per line, 5% of an
    event's cost); a line that starts with whitespace goes through ``json.loads`` itself.
    Raises ``ValueError`` (``json.JSONDecodeError``) where ``json.loads`` does."""
    if line[:1] in _JSON_SPACE:  # "" too: json.loads says why
        return json.loads(line)
    try:
        value, end = _SCAN(line, 0)
    except StopIteration as exc:
        raise json.JSONDecodeError("Expecting value", line, exc.value) from None
    if end != len(line) and line[end:].strip(_JSON_SPACE):
        raise json.JSONDecodeError("Extra data", line, end)
    return value


def unexpected(exc: Exception) -> BadRecord:
    """Any other failure on one record, as the bad record it is (counted ``bad.unexpected``)."""
    return BadRecord("unexpected", f"{type(exc).__name__}: {exc}"[:500])


class Pipeline:
    def __init__(
        self,
        window: Window,
        *,
        tree: ProcessTree | None = None,
        stats: Stats | None = None,
        columns: Sequence[Column] = COLUMNS,
        host_os_type: str = "macos",
        host_name: str = "",
        user_names: Callable[[int], str] | None = None,
        windows: Mapping[str, Window] | None = None,
        files: FileScope | None = None,
        env_capture: EnvCapture | None = None,
    ) -> None:
        self.window = window
        self.tree = tree if tree is not None else ProcessTree()  # an empty tree is falsy (len)
        self.stats = stats or Stats()
        self.columns = tuple(columns)
        self.host_os_type = host_os_type
        self.host_name = host_name
        self.user_names = user_names
        self.env_capture = env_capture or EnvCapture()
        """The environment variables kept in ``process.env_vars`` (Defend's capture list)."""
        self._intern = wire.Interner()
        self._lock = threading.Lock()  # the tree is shared by every source thread
        self._routes = self._make_routes(windows or {})
        self._process_rows = self._routes[PROCESS_TABLE.category].rows
        self.files = files or FileScope()
        """Which file events are kept (scope, muted processes, repeated launch items)."""
        self._read: dict[str, str] = {}
        self._adders: dict[type, Callable[[Any], None]] = {
            ProcEvent: self.add_event,
            Proc: self.seed,
            FileEvent: self.add_file,
            SocketEvent: self.add_connection,
        }
        """:meth:`add` by the item's exact class (the classes themselves, not subclasses)."""

    def _make_routes(self, windows: Mapping[str, Window]) -> dict[str, _Route]:
        """Per event category: its table's window, columns, value finishers, and its rows
        from parts (:data:`ACTOR_OWN`, :data:`ACTOR_IMAGE`).

        The process table is ``window`` with ``columns``; every other table of
        ``schema.TABLES`` is served when ``windows`` has a window for its category.
        """
        routes = {}
        for table in TABLES:
            window = self.window if table is PROCESS_TABLE else windows.get(table.category)
            if window is None:
                continue
            columns = self.columns if table is PROCESS_TABLE else table.columns
            finish, memoize = self._finishers(columns)
            rows = ActorRows(
                columns, finish, memoize, own=ACTOR_OWN[table.category],
                image=ACTOR_IMAGE.get(table.category, image_part),
                host_os_type=self.host_os_type, host_name=self.host_name,
            )  # fmt: skip
            routes[table.category] = _Route(window, columns, finish, rows)
        return routes

    def _finishers(
        self, columns: Sequence[Column]
    ) -> tuple[tuple[Callable[[str], Any], ...], list[bool]]:
        """A table's value finishers (interned, or encoded as they are for the columns that
        rarely repeat) and which columns a flattener memoizes."""
        finish = tuple(wire.encode if c.name in UNIQUE_COLUMNS else self._intern for c in columns)
        memoize = [c.name not in UNIQUE_COLUMNS or c.name in UNIQUE_MEMOIZED for c in columns]
        return finish, memoize

    def feed_line(
        self,
        line: str | bytes,
        source: str,
        adapter: Callable[[Any], Iterable[Item]] | None = None,
        trim: Callable[[str], str] | None = None,
    ) -> None:
        """One NDJSON line from a source (``adapter``: as :meth:`feed`; ``trim``: what the
        source cuts from a text line before it is decoded, what no adapter reads); blank
        lines are skipped."""
        if not line or line.isspace():  # as `not line.strip()`, without copying the line
            return
        if line.__class__ is str:
            if self.files.skip_line(line):  # out of scope, left undecoded
                self.stats.add(self._read.get(source) or self._read_counter(source))
                self.stats.add("dropped.scope")
                return
            if trim is not None:
                line = trim(line)
        try:
            record = decode_line(line) if line.__class__ is str else json.loads(line)
        except ValueError as exc:
            self.reject(source, BadRecord("malformed", f"not JSON: {exc}"))
            return
        record, mapped = nul_free(line, record)
        if mapped:
            self.stats.add("mapped.nul")
        self.feed(record, source, adapter)

    def feed(
        self,
        record: Any,
        source: str,
        adapter: Callable[[Any], Iterable[Item]] | None = None,
    ) -> None:
        """One decoded record; ``adapter`` turns it into items (by default ``normalize``, which
        tells the record's kind by its shape)."""
        self.stats.add(self._read.get(source) or self._read_counter(source))
        try:
            items = (adapter or normalize)(record)
            if items.__class__ is not list:
                items = list(items)
            if not items:
                self.stats.add(f"ignored.{source}")
            for item in items:
                add = self._adders.get(item.__class__)
                if add is None:
                    self.add(item)
                else:
                    add(item)
        except BadRecord as exc:
            self.reject(source, exc)
        except Exception as exc:  # one record never stops a source (counted bad.unexpected)
            self.reject(source, unexpected(exc))

    def _read_counter(self, source: str) -> str:
        """``read.<source>``, made once per source (it is counted for every record)."""
        name = self._read[source] = f"read.{source}"
        return name

    def add(
        self, item: ProcEvent | Proc | FileEvent | SocketEvent | tuple[int, dict[str, Any]]
    ) -> None:
        """One item, by its class (a document with its time is a plain tuple)."""
        if isinstance(item, ProcEvent):  # the common item first
            self.add_event(item)
        elif isinstance(item, Proc):
            self.seed(item)
        elif isinstance(item, FileEvent):
            self.add_file(item)
        elif isinstance(item, SocketEvent):
            self.add_connection(item)
        else:
            self.add_document(*item)

    def seed(self, proc: Proc) -> None:
        """A process already running (osquery's ``processes``) into the tree."""
        proc = capped(proc) or proc
        with self._lock:
            self.tree.seed([proc])
        self.stats.add("seeded")

    def add_event(self, item: ProcEvent) -> None:
        """An exec, fork or exit: argv and environment within their budgets, through the
        tree, served as a process row assembled from its parts (``rowparts``)."""
        if item.proc.args:  # forks and exits carry none: their argv comes from the tree
            small = capped(item.proc)
            if small is not None:
                item = item._replace(proc=small)
                self.stats.add("capped.args")
        if item.env:  # _make, not _replace (a third of its cost)
            fields = list(item)
            fields[_ENV] = self.env_capture(item.env)
            item = ProcEvent._make(fields)
        with self._lock:
            event = self.tree.observe(item)
            if self.user_names is not None:
                proc = named(event.proc, self.user_names)
                if proc is not event.proc:
                    event = event._replace(proc=proc)
            time = int(event.time)
            rows = self._process_rows
            kind = rows.kind(event.action, kind_part, event.action)
            row, size = rows.row(event, self.tree, time, kind)
        self.window.add(time, row, size)
        self.stats.add("served")

    def add_file(self, event: FileEvent) -> None:
        """A file event: kept if :attr:`files` says so, then served by the file table."""
        dropped = self.files.verdict(event)
        if dropped:
            self.stats.add(f"dropped.{dropped}")
            return
        route = self._routes.get("file")
        if route is None:
            self.stats.add("dropped.no_table")
            return
        rows, time = route.rows, int(event.time)
        with self._lock:  # the actor's image and parents come from the tree
            actor = file_actor(event, self.tree, self.user_names)
            kind = rows.kind((event.action, event.type), file_kind, event.action, event.type)
            row, size = rows.row(actor, self.tree, time, kind, file_own(event, actor, self.tree))
        route.window.add(time, row, size)
        self.stats.add("served")

    def add_connection(self, event: SocketEvent) -> None:
        """A connection, served by the network table: its actor from the process tree."""
        route = self._routes.get("network")
        if route is None:
            self.stats.add("dropped.no_table")
            return
        rows, time = route.rows, int(event.time)
        with self._lock:
            actor = network_actor(event, self.tree, self.user_names)
            key = (event.action, event.outcome)
            kind = rows.kind(key, network_kind, event.action, event.outcome)
            row, size = rows.row(actor, self.tree, time, kind, network_own(event))
        route.window.add(time, row, size)
        self.stats.add("served")

    def add_document(self, time: int, doc: Mapping[str, Any]) -> None:
        """A document of any ECS shape (dotted keys at any level, as an export may have),
        served by the table of its ``event.category`` (the first category a table serves,
        ``schema.TABLES``). A document of a category whose table has no window here is dropped
        (``dropped.no_table``); one of no table's category goes to the process table, as
        before there were several tables."""
        route = self._routes[PROCESS_TABLE.category]
        category = get_path(doc, "event.category")
        for name in category if isinstance(category, list) else [category]:
            if name.__class__ is str and name in _CATEGORIES:  # the first served (Defend: one)
                found = self._routes.get(name)
                if found is None:
                    self.stats.add("dropped.no_table")
                    return
                route = found
                break
        values = tuple(
            finish(encode_value(c, get_path(doc, c.ecs) if c.ecs else time))
            for c, finish in zip(route.columns, route.finish)
        )
        route.window.add(time, values)
        self.stats.add("served")

    def reject(self, source: str, exc: BadRecord) -> None:
        name = f"bad.{exc.reason}"
        self.stats.add(name)
        count = self.stats[name]
        if count <= _LOG_FIRST or count % 1000 == 0:
            log.warning("%s: %s (%s #%d)", source, exc, name, count)
