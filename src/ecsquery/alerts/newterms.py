"""The first-seen store of new_terms rules: which term tuples each rule has seen, and when.

Kibana's new_terms rule alerts on an event whose tuple of ``new_terms.field`` values did not
occur in the rule's history window (``history_window_start``, e.g. ``now-7d``) before it. Kibana
asks Elasticsearch for that history; the host has none, so the reader keeps it here: one
SQLite file beside the reader's checkpoint, a row per (rule, tuple) with the time it was last
seen. A tuple last seen longer ago than the history window is new again (and ``expire`` drops
it, so the file stays bounded by the distinct tuples of one window).

**Before the history is full** the store knows less than Elasticsearch would: every tuple looks
new. So each rule has a *learning period* (default: its history window) from the first event
the store sees for it, during which tuples are recorded and never alerted.

**Crash safety** (the checkpoint's guarantees: nothing lost, nothing twice): ``observe`` takes
the reader's position of the batch (any increasing integer per stream, e.g. the byte offset
after the batch's last line) and commits the tuples, the position and the alerts it decided in
one SQLite transaction. A batch at or before the stored position is skipped, so re-reading
after a crash (the reader's own checkpoint is behind) changes nothing and decides nothing
twice. Decided alerts wait in an outbox until ``delivered``; each has a deterministic id, so
one delivered again after a crash between writing it and ``delivered`` is the same alert
(deduplicated by id downstream, as the reader's alert ids are).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecsquery.rows import get_path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS terms (
  rule_id TEXT NOT NULL, terms TEXT NOT NULL, last_seen_ms INTEGER NOT NULL,
  PRIMARY KEY (rule_id, terms)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rules (rule_id TEXT PRIMARY KEY, learning_until_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS positions (stream TEXT PRIMARY KEY, position INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
  alert_id TEXT PRIMARY KEY, rule_id TEXT NOT NULL, terms TEXT NOT NULL,
  event_ms INTEGER NOT NULL, event TEXT NOT NULL);
"""


@dataclass(frozen=True)
class NewTermsRule:
    """What the store needs of a new_terms rule."""

    rule_id: str
    fields: tuple[str, ...]
    history_ms: int
    learning_ms: int | None = None
    """None: the history window (Elastic's history is full from the start; ours is not)."""


@dataclass(frozen=True)
class NewTermAlert:
    """A decided alert: the first event of a tuple new in the history window."""

    alert_id: str
    rule_id: str
    terms: tuple[Any, ...]
    event_ms: int
    event: Mapping[str, Any]


def term_tuples(doc: Mapping[str, Any], fields: Sequence[str]) -> list[tuple[Any, ...]]:
    """Every tuple of the fields' values (an array contributes each value); none if missing."""
    per_field = []
    for name in fields:
        raw = get_path(doc, name)
        items = raw if isinstance(raw, list | tuple) else [raw]
        present = list(dict.fromkeys(v for v in items if v is not None and v != ""))
        if not present:
            return []
        per_field.append(present)
    return list(itertools.product(*per_field))


class NewTermsStore:
    """One SQLite file; open it once per reader process (``close`` when done)."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.executescript(_SCHEMA)

    def close(self) -> None:
        self.conn.close()

    def position(self, stream: str) -> int | None:
        row = self.conn.execute("SELECT position FROM positions WHERE stream = ?", (stream,))
        found = row.fetchone()
        return None if found is None else int(found[0])

    def observe(
        self,
        rule: NewTermsRule,
        events: Iterable[tuple[int, Mapping[str, Any]]],
        *,
        stream: str,
        position: int,
    ) -> list[NewTermAlert]:
        """Record a batch of ``(event ms, ECS doc)`` read up to ``position``; the new alerts.

        Events are taken in time order. Returns [] (and changes nothing) for a batch at or
        before the stream's stored position.
        """
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            done = self.position(stream)
            if done is not None and position <= done:
                conn.execute("ROLLBACK")
                return []
            alerts = [
                a
                for ms, doc in sorted(events, key=lambda e: e[0])
                for a in self._one(rule, ms, doc)
            ]
            conn.execute(
                "INSERT INTO positions VALUES (?, ?) ON CONFLICT (stream) DO UPDATE"
                " SET position = excluded.position",
                (stream, position),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return alerts

    def _one(self, rule: NewTermsRule, ms: int, doc: Mapping[str, Any]) -> list[NewTermAlert]:
        conn = self.conn
        learning = rule.history_ms if rule.learning_ms is None else rule.learning_ms
        conn.execute("INSERT OR IGNORE INTO rules VALUES (?, ?)", (rule.rule_id, ms + learning))
        (until,) = conn.execute(
            "SELECT learning_until_ms FROM rules WHERE rule_id = ?", (rule.rule_id,)
        ).fetchone()
        out = []
        for terms in term_tuples(doc, rule.fields):
            key = json.dumps(terms, ensure_ascii=False, separators=(",", ":"))
            row = conn.execute(
                "SELECT last_seen_ms FROM terms WHERE rule_id = ? AND terms = ?",
                (rule.rule_id, key),
            ).fetchone()
            new = row is None or row[0] < ms - rule.history_ms
            conn.execute(
                "INSERT INTO terms VALUES (?, ?, ?) ON CONFLICT (rule_id, terms) DO UPDATE"
                " SET last_seen_ms = max(last_seen_ms, excluded.last_seen_ms)",
                (rule.rule_id, key, ms),
            )
            if new and ms >= until:
                digest = hashlib.sha256(f"{rule.rule_id}\0{key}\0{ms}".encode()).hexdigest()
                alert = NewTermAlert(digest[:32], rule.rule_id, terms, ms, doc)
                conn.execute(
                    "INSERT OR IGNORE INTO outbox VALUES (?, ?, ?, ?, ?)",
                    (alert.alert_id, rule.rule_id, key, ms, json.dumps(doc, default=str)),
                )
                out.append(alert)
        return out

    def pending(self) -> list[NewTermAlert]:
        """Alerts decided but not yet ``delivered`` (after a crash: deliver these first)."""
        rows = self.conn.execute(
            "SELECT alert_id, rule_id, terms, event_ms, event FROM outbox"
            " ORDER BY event_ms, alert_id"
        )
        return [
            NewTermAlert(a, r, tuple(json.loads(t)), ms, json.loads(e)) for a, r, t, ms, e in rows
        ]

    def delivered(self, alert_ids: Iterable[str]) -> None:
        self.conn.executemany("DELETE FROM outbox WHERE alert_id = ?", ((a,) for a in alert_ids))

    def expire(self, now_ms: int, rules: Iterable[NewTermsRule]) -> int:
        """Forget tuples last seen before each rule's history window; how many were dropped."""
        dropped = 0
        for rule in rules:
            cursor = self.conn.execute(
                "DELETE FROM terms WHERE rule_id = ? AND last_seen_ms < ?",
                (rule.rule_id, now_ms - rule.history_ms),
            )
            dropped += cursor.rowcount
        return dropped
