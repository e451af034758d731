"""Result-log lines in, alerts out: the reader's library entry point.

``AlertReader`` ties the pieces together — the pre-filter and name resolution (``resultlog``),
the alert builder (``alert``), the dedup and max_signals memory (``state``) and the counters
(``summary``). It reads either a block of whole lines (files, follow mode: the pre-filter is a
``bytes.find`` over the whole block, so lines of other queries cost no Python at all) or an
iterable of single lines (``read_alerts``, for in-process callers such as the replay harness).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from hashlib import sha256
from typing import Any

import orjson

from ecsquery.alerts.alert import AlertFactory, AlertParts, row_identity
from ecsquery.alerts.fast import FastPath, NativeFormat
from ecsquery.alerts.resultlog import MARKER, Malformed, QueryIndex, as_int, iter_rows, line_info
from ecsquery.alerts.sources import Block, count_lines
from ecsquery.alerts.state import ReaderState
from ecsquery.alerts.summary import Summary
from ecsquery.rows import LONG_MAX
from ecsquery.rules.model import PACK_NAME, Rule
from ecsquery.schema import FieldTable

DEFAULT_MAX_LINE = 32 * 1024 * 1024
"""Longest line read (bytes); longer ones are counted as malformed, not buffered whole."""

Alert = dict[str, Any]
Encoder = Callable[[AlertParts], bytes]


class Unusable(Exception):
    """A line that gives no rows at all: ``reason`` is its category in the summary."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason, self.detail = reason, detail


class AlertReader:
    """Turns osqueryd result lines into alerts for a set of rules; keeps the summary and state."""

    def __init__(
        self,
        rules: Sequence[Rule],
        *,
        fields: FieldTable | None = None,
        state: ReaderState | None = None,
        summary: Summary | None = None,
        max_line_bytes: int = DEFAULT_MAX_LINE,
        pack: str = PACK_NAME,
        marker: bytes | None = MARKER,
        native: bool = True,
    ) -> None:
        self.index = QueryIndex(rules, pack)
        self.factory = AlertFactory(fields)
        self.state = state if state is not None else ReaderState()
        self.summary = summary if summary is not None else Summary()
        self.max_line_bytes = max_line_bytes
        self.marker = marker
        """Pre-filter needle (``resultlog.MARKER``); None parses every line (other tables)."""
        self._horizon = {r.rule_id: r.lookback_seconds + r.interval_seconds for r in rules}
        self.native = native
        """Use the compiled scanner (``fast``) where an output format allows it."""
        self._fast: dict[NativeFormat, FastPath | None] = {}

    def read(self, block: Block) -> list[AlertParts]:
        """Alerts from a block a source produced (its lines already counted)."""
        return self.read_block(block.data, block.source, block.first, block.lines)

    def read_encoded(
        self, block: Block, encode: Encoder, native: NativeFormat | None = None
    ) -> list[bytes]:
        """``read``, each alert passed through ``encode`` (e.g. ``AlertSink.encode``) as soon
        as it is made: its dicts are freed while still in the CPU cache, ~10% faster than
        encoding a block's alerts afterwards.

        ``native``, when ``encode`` writes that format (``AlertSink.native``), lets the
        compiled scanner write the common lines itself, several × faster, same bytes.
        """
        fast = self._fast_path(native) if native is not None and self.native else None
        with _gc_paused():
            return self._scan(block.data, block.source, block.first, block.lines, encode, fast)

    def _fast_path(self, native: NativeFormat) -> FastPath | None:
        if native not in self._fast:
            self._fast[native] = FastPath.create(
                self.index, self.factory, self.marker, self.max_line_bytes, self._horizon, native
            )
        return self._fast[native]

    def read_block(
        self, block: bytes, source: str = "-", first_line: int = 1, lines: int | None = None
    ) -> list[AlertParts]:
        """Alerts from a block of whole lines (the last one may lack its newline)."""
        with _gc_paused():
            return self._scan(block, source, first_line, lines, None, None)

    def _scan(
        self,
        block: bytes,
        source: str,
        first_line: int,
        lines: int | None,
        encode: Any,
        fast: FastPath | None,
    ) -> list[Any]:
        total = lines
        if total is None:
            total = count_lines(block)
            if block and not block.endswith(b"\n"):
                total += 1
        self.summary.lines += total
        out: list[Any] = []
        candidates = 0
        if self.marker is None:
            for line_no, line in enumerate(block.splitlines(), first_line):
                if line.strip():
                    candidates += 1
                    self._read_line(line, source, line_no, out, encode)
            self.summary.skipped += total - candidates
            return out
        marker, read_line = self.marker, self._line
        find, size, pos = block.find, len(block), 0
        while True:
            if fast is not None:  # it writes lines until one the Python path must read
                start, alerts, python = fast.scan(block, pos, self.state)
                if alerts:
                    out.append(alerts)
                if not python and start >= 0:
                    pos = start
                    continue
                hit = start
            else:
                hit = find(marker, pos)
                start = block.rfind(b"\n", 0, hit) + 1
            if hit < 0:
                break
            end = find(b"\n", hit)
            if end < 0:
                end = size
            candidates += 1
            try:
                read_line(block[start:end], out, encode)
            except Unusable as bad:  # numbered only now: counting costs ~1 µs a line
                line_no = first_line + block.count(b"\n", 0, start)
                self.summary.bad_line(bad.reason, source, line_no, bad.detail)
            pos = min(end + 1, size)
        if fast is not None:
            candidates += fast.merge(self.summary)
        self.summary.skipped += total - candidates
        return out

    def read_lines(self, lines: Iterable[bytes | str], source: str = "-") -> Iterator[Alert]:
        """Alerts from single lines (with or without their newline), lazily."""
        out: list[Alert] = []
        for line_no, raw in enumerate(lines, 1):
            line = raw.encode() if isinstance(raw, str) else raw
            line = line.rstrip(b"\r\n")
            self.summary.lines += 1
            if not (line.strip() if self.marker is None else self.marker in line):
                self.summary.skipped += 1
                continue
            self._read_line(line, source, line_no, out, AlertParts.to_dict)
            if out:
                yield from out
                out.clear()

    def _read_line(
        self, line: bytes, source: str, line_no: int, out: list[Any], encode: Any
    ) -> None:
        try:
            self._line(line, out, encode)
        except Unusable as bad:
            self.summary.bad_line(bad.reason, source, line_no, bad.detail)

    def _parse(self, line: bytes) -> dict[str, Any]:
        if len(line) > self.max_line_bytes:
            raise Unusable(f"line longer than {self.max_line_bytes} bytes", f"{len(line)}")
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            if "UTF-8" not in str(exc):
                raise Unusable("not JSON", str(exc)) from None
            try:  # osquery copies raw bytes (e.g. odd file names) into its strings
                obj = orjson.loads(line.decode("utf-8", "replace"))
            except orjson.JSONDecodeError as again:
                raise Unusable("not JSON", str(again)) from None
            self.summary.repaired["non-UTF-8 bytes replaced by U+FFFD"] += 1
        if obj.__class__ is not dict:
            raise Unusable("not a JSON object", type(obj).__name__)
        return obj

    def _line(
        self, line: bytes, out: list[Any], encode: Callable[[AlertParts], Any] | None
    ) -> None:
        """Alerts of one line into ``out`` (through ``encode`` if given); raises Unusable
        (before any alert) for a bad line."""
        summary = self.summary
        obj = self._parse(line)
        name = obj.get("name")
        if name.__class__ is not str:
            raise Unusable("no query name")
        rule = self.index.resolve(name)
        if rule is None:
            if self.index.is_ours(name):
                summary.unknown_queries[name] += 1
            else:  # the pre-filter let it through (e.g. our name in a column); not ours
                summary.skipped += 1
            return
        try:
            rows = iter_rows(obj)
        except Malformed as exc:
            raise Unusable(str(exc)) from None
        info = line_info(obj, name)
        unix = info.unix_time
        if unix is None and "unixTime" in obj:
            summary.repaired["unixTime not a number (alert time taken from the event)"] += 1
        summary.parsed += 1
        state = self.state
        state.advance(unix)
        seen = state.seen  # after advance: pruning replaces the dict
        host = info.host_key
        rule_id = rule.rule_id
        run_key = f"{rule_id}\x1f{host}"
        run = info.run
        horizon = self._horizon[rule_id]
        build = self.factory.parts
        counts = summary.rows
        made = 0
        for action, row in rows:
            counts[action] += 1
            if action == "removed":
                continue
            if not isinstance(row, dict):
                summary.bad_rows["row is not an object"] += 1
                continue
            event_id = row.get("event_id")  # alert_uuid(rule_id, host, row_identity(row)):
            if event_id is not None and event_id != "":
                key = f"{run_key}\x1fevent.id:{event_id}"
            else:
                key = f"{run_key}\x1f{row_identity(row)}"
            uuid = sha256(key.encode()).hexdigest()
            if uuid in seen:
                summary.duplicates += 1
                continue
            if not state.admit(run_key, run, rule.max_signals):
                summary.dropped[(rule.name, info.host_name or host, run)] += 1
                continue
            seen_at = as_int(row.get("time")) or unix or state.newest
            seen[uuid] = min(max(seen_at, unix or 0) + horizon, LONG_MAX)  # a checkpoint's int
            alert = build(rule, row, info, action, uuid)
            out.append(alert if encode is None else encode(alert))
            made += 1
        if made:
            summary.alerts[(rule.name, rule.severity)] += made


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic garbage collector is paused while a block is read: an alert is a dozen fresh
    dicts and lists, which would start a collection every few dozen alerts (~8% of the time),
    and none of them can form a cycle (refcounting frees them)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def read_alerts(
    lines: Iterable[bytes | str],
    rules: Sequence[Rule],
    summary: Summary | None = None,
    state: ReaderState | None = None,
) -> Iterator[Alert]:
    """Alerts for ``rules`` from osqueryd result lines, in input order.

    Pass a ``Summary`` to read the counters afterwards (lines, skipped, malformed with reasons,
    alerts by rule and severity, duplicates, max_signals drops), and a ``ReaderState`` to carry
    dedup and max_signals memory across calls.
    """
    reader = AlertReader(rules, summary=summary, state=state)
    yield from reader.read_lines(lines)
