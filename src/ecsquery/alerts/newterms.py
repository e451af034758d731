"""The first-seen store of new_terms rules: which term tuples each rule has seen, and when.

Kibana's new_terms rule alerts on an event whose tuple of ``new_terms.field`` values did not
occur in the rule's history window (``history_window_start``, e.g. ``now-7d``) before it, one
alert per event and new tuple (``kibana.alert.new_terms`` = the tuple; elastic/kibana
``…/rule_types/new_terms/wrap_new_terms_alerts.ts`` at 59720dc2 hashes the event and the
terms into the alert id). Kibana asks Elasticsearch for that history; the host has none, so the
reader keeps it here: one SQLite file beside the reader's checkpoint, a row per (rule, tuple)
with the time it was last seen. A tuple last seen longer ago than the history window is new
again (and expired rows are dropped, so the file stays bounded by the distinct tuples of one
window).

**Before the history is full** the store knows less than Elasticsearch would: every tuple looks
new. So each rule has a *learning period* (default: its history window) from the first event
the store sees for it, during which tuples are recorded and never alerted.

**Crash safety** (the checkpoint's guarantees: nothing lost, nothing twice). The store is part
of the reader's state, so it moves in step with the checkpoint: a run's changes sit in one open
SQLite transaction, committed by the checkpoint step after the alerts before it are flushed and
fsynced, and before the checkpoint file is replaced (``follow.follow``). Observations are
numbered (``seq``), and the checkpoint records the number it was taken at. Killed before the
commit, the store rolls back to the checkpoint's state and the restarted reader, reading the
same lines again, decides the same alerts (stable ids: the output guard drops those already
written). Killed after the commit and before the checkpoint, the store is ahead: observations it
already holds (numbered after the checkpoint's, up to the commit's) are not applied again but
answered from ``decided``, which keeps each observation's new tuples until a later checkpoint
covers it — the same alerts again, which the guard drops. Either way the next decision is the
one an uninterrupted run would make.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecsquery.errors import SourceError
from ecsquery.rows import get_path
from ecsquery.rules.model import Rule

_SCHEMA = """
CREATE TABLE IF NOT EXISTS terms (
  rule_id TEXT NOT NULL, terms TEXT NOT NULL, last_seen_ms INTEGER NOT NULL,
  PRIMARY KEY (rule_id, terms)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rules (rule_id TEXT PRIMARY KEY, learning_until_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS decided (seq INTEGER PRIMARY KEY, new TEXT NOT NULL);
"""


@dataclass(frozen=True)
class NewTermsRule:
    """What the store needs of a new_terms rule."""

    rule_id: str
    fields: tuple[str, ...]
    history_ms: int
    learning_ms: int | None = None
    """None: the history window (Elastic's history is full from the start; ours is not)."""
    margin_ms: int = 0
    """How much longer than the history window a tuple is kept: the reader's own memory of a
    hit (lookback plus one interval), so that a hit seen again — an overlapping window —
    always finds its tuple, whenever the store was last swept."""

    @classmethod
    def of(cls, rule: Rule, learning_ms: int | None = None) -> NewTermsRule | None:
        """The store's view of a loaded rule; None unless it is a new_terms rule."""
        params = rule.new_terms
        if params is None:
            return None
        margin = (rule.lookback_seconds + rule.interval_seconds) * 1000
        return cls(rule.rule_id, params.fields, params.history_seconds * 1000, learning_ms, margin)

    @property
    def keep_ms(self) -> int:
        return self.history_ms + self.margin_ms

    @property
    def learning(self) -> int:
        return self.history_ms if self.learning_ms is None else self.learning_ms


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


def _key(terms: tuple[Any, ...]) -> str:
    return json.dumps(terms, ensure_ascii=False, separators=(",", ":"))


def _private_file(path: Path) -> None:
    """Create the store 0600 (it holds term values: paths, command lines) and refuse anything
    but a regular file there (a planted symlink, a FIFO)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o600)
    except OSError as exc:
        raise SourceError(f"cannot open new_terms store {path}: {exc.strerror}") from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SourceError(f"new_terms store {path} is not a regular file")
    finally:
        os.close(fd)


class NewTermsStore:
    """One SQLite file (or memory: ``path`` None); one per reader process, ``close`` when done.

    Every change waits in the open transaction until ``commit``; ``close`` drops what was not
    committed, as a kill would.
    """

    def __init__(self, path: Path | None = None) -> None:
        if path is not None:
            _private_file(path)
        try:
            self.conn = sqlite3.connect(":memory:" if path is None else path, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.executescript(_SCHEMA)
            row = self.conn.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise SourceError(f"new_terms store {path} is unusable: {exc}") from exc
        self.committed = 0 if row is None else int(row[0])
        """Observations the store holds (as of its last commit)."""
        self.seq = self.committed
        """Observations made (the checkpoint records it)."""
        self._replay_until = self.committed
        self.conn.execute("BEGIN IMMEDIATE")

    def close(self) -> None:
        self.conn.rollback()
        self.conn.close()

    def resume(self, seq: int) -> str | None:
        """Start from a checkpoint taken at observation ``seq``; a problem (to report) when the
        store is behind it — deleted or restored from an older copy: it is used as it is."""
        if seq > self.committed:
            self.seq = self._replay_until = seq
            return (
                f"new_terms store holds {self.committed} observations, its checkpoint {seq}:"
                " the store is older than the checkpoint (replaced?); tuples it misses may"
                " alert again"
            )
        self.seq = seq
        self._replay_until = self.committed
        return None

    def observe(self, rule: NewTermsRule, ms: int, tuples: Iterable[tuple[Any, ...]]) -> list[Any]:
        """Record an event's tuples at ``ms``; those new in the history window and past the
        rule's learning period (the event's alerts)."""
        conn = self.conn
        self.seq += 1
        if self.seq <= self._replay_until:  # held since before a crash: decided already
            row = conn.execute("SELECT new FROM decided WHERE seq = ?", (self.seq,)).fetchone()
            return [] if row is None else [tuple(t) for t in json.loads(row[0])]
        conn.execute(
            "INSERT OR IGNORE INTO rules VALUES (?, ?)", (rule.rule_id, ms + rule.learning)
        )
        (until,) = conn.execute(
            "SELECT learning_until_ms FROM rules WHERE rule_id = ?", (rule.rule_id,)
        ).fetchone()
        new = []
        for terms in dict.fromkeys(tuples):
            key = _key(terms)
            row = conn.execute(
                "SELECT last_seen_ms FROM terms WHERE rule_id = ? AND terms = ?",
                (rule.rule_id, key),
            ).fetchone()
            if (row is None or row[0] < ms - rule.history_ms) and ms >= until:
                new.append(terms)
            conn.execute(
                "INSERT INTO terms VALUES (?, ?, ?) ON CONFLICT (rule_id, terms) DO UPDATE"
                " SET last_seen_ms = max(last_seen_ms, excluded.last_seen_ms)",
                (rule.rule_id, key, ms),
            )
        if new:
            conn.execute("INSERT INTO decided VALUES (?, ?)", (self.seq, _key(tuple(new))))
        return new

    def commit(self, checkpointed: int) -> None:
        """Make every observation so far durable; ``checkpointed``: the ``seq`` of the newest
        checkpoint written, whose earlier decisions need not be kept any more."""
        conn = self.conn
        held = max(self.seq, self._replay_until)  # mid-replay, it holds more than seen so far
        conn.execute("DELETE FROM decided WHERE seq <= ?", (checkpointed,))
        conn.execute(
            "INSERT INTO meta VALUES ('seq', ?) ON CONFLICT (key) DO UPDATE"
            " SET value = excluded.value",
            (held,),
        )
        conn.execute("COMMIT")
        self.committed = held
        conn.execute("BEGIN IMMEDIATE")

    def expire(self, now_ms: int, rules: Iterable[NewTermsRule]) -> int:
        """Forget tuples last seen before each rule's history window and margin; how many
        were dropped (they count as new anyway: only an event older than the log's newest by
        more than that could tell, and osquery's windows bring none)."""
        dropped = 0
        for rule in rules:
            cursor = self.conn.execute(
                "DELETE FROM terms WHERE rule_id = ? AND last_seen_ms < ?",
                (rule.rule_id, now_ms - rule.keep_ms),
            )
            dropped += cursor.rowcount
        return dropped

    def known(self, rule_id: str) -> int:
        """Tuples remembered for a rule (tests, the summary)."""
        (count,) = self.conn.execute(
            "SELECT count(*) FROM terms WHERE rule_id = ?", (rule_id,)
        ).fetchone()
        return int(count)


class NewTermsGate:
    """The reader's new_terms step: the rules' views, the store, the log's newest event time
    (for expiry) and the seq of the last checkpoint written."""

    def __init__(
        self,
        rules: Iterable[Rule],
        store: NewTermsStore | None = None,
        *,
        learning_ms: int | None = None,
    ) -> None:
        views = (NewTermsRule.of(r, learning_ms) for r in rules)
        self.rules = {v.rule_id: v for v in views if v is not None}
        self.store = store if store is not None else NewTermsStore()
        self.newest_ms = 0
        self.checkpointed = self.store.committed

    def observe(self, rule_id: str, ms: int, doc: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        rule = self.rules[rule_id]
        self.newest_ms = max(self.newest_ms, ms)
        return self.store.observe(rule, ms, term_tuples(doc, rule.fields))

    def resume(self, state: Mapping[str, Any] | None) -> str | None:
        """Take the checkpoint's ``new_terms`` part. None (no checkpoint yet, or one written
        without new_terms rules): the store is taken as it is, nothing in it is a replay."""
        seq = self.store.committed if state is None else int(state["seq"])
        self.checkpointed = seq
        return self.store.resume(seq)

    def commit(self) -> dict[str, Any]:
        """Expire and commit; the checkpoint's ``new_terms`` part."""
        if self.newest_ms:
            self.store.expire(self.newest_ms, self.rules.values())
        self.store.commit(self.checkpointed)
        return {"seq": self.store.seq}

    def saved(self, part: Mapping[str, Any]) -> None:
        """The checkpoint holding ``part`` was written."""
        self.checkpointed = int(part["seq"])
