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
from typing import Any

from ecsquery.extension import wire
from ecsquery.extension.ecs import SharedFields, build_document
from ecsquery.extension.model import EnvCapture, Proc, ProcEvent, capped
from ecsquery.extension.normalize import BadRecord, Item, normalize
from ecsquery.extension.stats import Stats
from ecsquery.extension.tree import ProcessTree
from ecsquery.extension.window import Window
from ecsquery.rows import encode_value, get_path, make_flattener
from ecsquery.schema import COLUMNS, Column
from ecsquery.values import nul_free

log = logging.getLogger(__name__)

UNIQUE_COLUMNS = frozenset({"timestamp", "event_id", "process_entity_id"})
"""Columns whose values rarely repeat: interning them would only churn the cache."""
UNIQUE_MEMOIZED = frozenset({"timestamp"})
"""Of those, the ones still worth the flattener's own small memo: a source with whole-second
times (osquery's ``time``) repeats ``@timestamp`` for every event of a second, and sharing
its bytes saves ~60 bytes an event in the window."""
_LOG_FIRST = 5


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
        env_capture: EnvCapture | None = None,
    ) -> None:
        self.window = window
        self.tree = tree or ProcessTree()
        self.stats = stats or Stats()
        self.columns = tuple(columns)
        self.host_os_type = host_os_type
        self.host_name = host_name
        self.user_names = user_names
        self.env_capture = env_capture or EnvCapture()
        """The environment variables kept in ``process.env_vars`` (Defend's capture list)."""
        self._intern = wire.Interner()
        self._finish = tuple(
            wire.encode if c.name in UNIQUE_COLUMNS else self._intern for c in self.columns
        )
        memoize = [c.name not in UNIQUE_COLUMNS or c.name in UNIQUE_MEMOIZED for c in self.columns]
        self._shared = SharedFields()
        self._flatten = make_flattener(self.columns, self._finish, memoize, SharedFields.PATHS)
        self._lock = threading.Lock()  # the tree is shared by every source thread

    def feed_line(self, line: str | bytes, source: str) -> None:
        """One NDJSON line from a source; blank lines are skipped."""
        if not line.strip():
            return
        try:
            record = json.loads(line)
        except ValueError as exc:
            self.reject(source, BadRecord("malformed", f"not JSON: {exc}"))
            return
        record, mapped = nul_free(line, record)
        if mapped:
            self.stats.add("mapped.nul")
        self.feed(record, source)

    def feed(
        self,
        record: Any,
        source: str,
        adapter: Callable[[Any], Iterable[Item]] | None = None,
    ) -> None:
        """One decoded record; ``adapter`` turns it into items (by default ``normalize``, which
        tells the record's kind by its shape)."""
        self.stats.add(f"read.{source}")
        try:
            items = list((adapter or normalize)(record))
            if not items:
                self.stats.add(f"ignored.{source}")
            for item in items:
                self.add(item)
        except BadRecord as exc:
            self.reject(source, exc)
        except Exception as exc:  # one record never stops a source (counted bad.unexpected)
            self.reject(source, unexpected(exc))

    def add(self, item: ProcEvent | Proc | tuple[int, dict[str, Any]]) -> None:
        if isinstance(item, Proc):
            item = capped(item) or item
            with self._lock:
                self.tree.seed([item])
            self.stats.add("seeded")
            return
        if isinstance(item, ProcEvent):
            small = capped(item.proc)
            if small is not None:
                item = item._replace(proc=small)
                self.stats.add("capped.args")
            if item.env:
                item = item._replace(env=self.env_capture(item.env))
            with self._lock:
                event = self.tree.observe(item)
                uid = event.proc.uid
                if self.user_names is not None and uid is not None and not event.proc.user_name:
                    name = self.user_names(uid)
                    event = event._replace(proc=event.proc._replace(user_name=name))
                doc = build_document(
                    event,
                    self.tree,
                    host_os_type=self.host_os_type,
                    host_name=self.host_name,
                    shared=self._shared,
                )
            time = int(event.time)
            self.window.add(time, self._flatten(doc, time))
            self.stats.add("served")
        else:
            self.add_document(*item)

    def add_document(self, time: int, doc: Mapping[str, Any]) -> None:
        """A document of any ECS shape (dotted keys at any level, as an export may have)."""
        values = tuple(
            finish(encode_value(c, get_path(doc, c.ecs) if c.ecs else time))
            for c, finish in zip(self.columns, self._finish)
        )
        self.window.add(time, values)
        self.stats.add("served")

    def reject(self, source: str, exc: BadRecord) -> None:
        name = f"bad.{exc.reason}"
        self.stats.add(name)
        count = self.stats[name]
        if count <= _LOG_FIRST or count % 1000 == 0:
            log.warning("%s: %s (%s #%d)", source, exc, name, count)
