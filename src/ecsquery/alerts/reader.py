"""Result-log lines in, alerts out: the reader's library entry point.

``AlertReader`` ties the pieces together — the pre-filter and name resolution (``resultlog``),
the alert builder (``alert``), the dedup and max_signals memory (``state``) and the counters
(``summary``). Its one entry point, ``read``, takes a block of whole lines — from a file, a
followed log or replay — and the pre-filter is a ``bytes.find`` over the whole block, so lines
of other queries cost no Python at all.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson

from ecsquery.alerts.alert import AlertFactory, AlertParts, hit_uuid
from ecsquery.alerts.multi import THRESHOLD_MARKER, MultiAlerts
from ecsquery.alerts.newterms import NewTermsGate
from ecsquery.alerts.resultlog import MARKER, Malformed, QueryIndex, as_int, iter_rows, line_info
from ecsquery.alerts.sources import Block
from ecsquery.alerts.state import ReaderState
from ecsquery.alerts.summary import Summary
from ecsquery.rows import LONG_MAX
from ecsquery.rules.model import PACK_NAME, Rule
from ecsquery.schema import FieldTable

DEFAULT_MAX_LINE = 32 * 1024 * 1024
"""Longest line read (bytes); longer ones are counted as malformed, not buffered whole."""

Encoder = Callable[[AlertParts], Any]


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
        new_terms: NewTermsGate | None = None,
    ) -> None:
        self.index = QueryIndex(rules, pack)
        self.factory = AlertFactory(fields)
        self.multi = MultiAlerts(self.factory)
        """Sequence and threshold rows (``alerts.multi``)."""
        if new_terms is None and any(r.new_terms is not None for r in rules):
            new_terms = NewTermsGate(rules)  # in memory, default learning period
        self.new_terms = new_terms
        """new_terms rules' first-seen step (``alerts.newterms``); follow mode commits its
        store with each checkpoint."""
        self.state = state if state is not None else ReaderState()
        self.summary = summary if summary is not None else Summary()
        self.max_line_bytes = max_line_bytes
        self.marker = marker
        """Pre-filter needle (``resultlog.MARKER``); None parses every line (other tables)."""
        self._horizon = {r.rule_id: r.lookback_seconds + r.interval_seconds for r in rules}
        self._needles = (
            re.compile(re.escape(marker) + b"|" + THRESHOLD_MARKER)
            if marker is not None and any(r.type == "threshold" for r in rules)
            else None
        )
        """With threshold rules, whose bucket rows lack the table's columns, the pre-filter
        looks for either needle (a regex: slower than ``bytes.find``, so only then)."""

    def read(self, block: Block | bytes, encode: Encoder | None = None) -> list[Any]:
        """The alerts of a block of whole lines (the last one may lack its newline), in order:
        ``AlertParts`` (``.to_dict()`` is the document), or each through ``encode`` (e.g.
        ``AlertSink.encode``) as soon as it is made — its dicts are then freed while still in
        the CPU cache, ~10% faster than encoding a block's alerts afterwards."""
        if not isinstance(block, Block):
            block = Block.of(block)
        with _gc_paused():
            return self._scan(block, encode)

    def _scan(self, block: Block, encode: Encoder | None) -> list[Any]:
        data, source, first_line, total = block
        self.summary.lines += total
        out: list[Any] = []
        candidates = 0
        if self.marker is None:
            for line_no, line in enumerate(data.splitlines(), first_line):
                if line.strip():
                    candidates += 1
                    self._read_line(line, source, line_no, out, encode)
            self.summary.skipped += total - candidates
            return out
        marker, read_line = self.marker, self._line
        find, size, pos = data.find, len(data), 0
        seek = (
            (lambda at: find(marker, at)) if self._needles is None else _seeker(self._needles, data)
        )
        while (hit := seek(pos)) >= 0:
            start = data.rfind(b"\n", 0, hit) + 1
            end = find(b"\n", hit)
            if end < 0:
                end = size
            candidates += 1
            try:
                read_line(data[start:end], out, encode)
            except Unusable as bad:  # numbered only now: counting costs ~1 µs a line
                line_no = first_line + data.count(b"\n", 0, start)
                self.summary.bad_line(bad.reason, source, line_no, bad.detail)
            pos = end + 1
        self.summary.skipped += total - candidates
        return out

    def _read_line(
        self, line: bytes, source: str, line_no: int, out: list[Any], encode: Encoder | None
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

    def _line(self, line: bytes, out: list[Any], encode: Encoder | None) -> None:
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
        gate = self.new_terms
        counts = summary.rows
        made = 0
        steps: list[dict[str, Any]] = []
        for action, row in rows:
            counts[action] += 1
            if action == "removed":
                continue
            if not isinstance(row, dict):
                summary.bad_rows["row is not an object"] += 1
                continue
            if "sequence_id" in row:  # a sequence's step: alerted when its group is whole
                steps.append(row)
                continue
            if "threshold_events" in row:
                emit = _emitter(out, encode)
                self.multi.threshold_row(rule, row, info, action, state, summary, horizon, emit)
                continue
            uuid = hit_uuid(run_key, row)
            if uuid in seen:
                summary.duplicates += 1
                continue
            terms = gate if gate is not None and rule_id in gate.rules else None
            if terms is None and not state.admit(run_key, run, rule.max_signals):
                summary.dropped[(rule.name, info.host_name or host, run)] += 1
                continue
            seen_at = as_int(row.get("time")) or unix or state.newest
            seen[uuid] = min(max(seen_at, unix or 0) + horizon, LONG_MAX)  # a checkpoint's int
            alert = build(rule, row, info, action, uuid)
            if terms is not None:  # a new_terms hit: admitted per new tuple, if any
                emit = _emitter(out, encode)
                made += self.multi.new_terms_hit(rule, alert, info, terms, state, summary, emit)
                continue
            out.append(alert if encode is None else encode(alert))
            made += 1
        if made:
            summary.alerts[(rule.name, rule.severity)] += made
        if steps:
            emit = _emitter(out, encode)
            action = "snapshot" if rows[0][0] == "snapshot" else "added"
            self.multi.sequence_rows(rule, steps, info, action, state, summary, horizon, emit)


def _seeker(needles: re.Pattern[bytes], data: bytes) -> Callable[[int], int]:
    """``bytes.find`` of any of ``needles`` from a position, -1 if none."""

    def seek(at: int) -> int:
        found = needles.search(data, at)
        return -1 if found is None else found.start()

    return seek


def _emitter(out: list[Any], encode: Encoder | None) -> Callable[[AlertParts], None]:
    """Appends an alert to ``out``, through ``encode`` if given."""
    if encode is None:
        return out.append
    return lambda alert: out.append(encode(alert))


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
