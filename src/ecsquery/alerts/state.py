"""The reader's memory between lines: which hits already alerted, and how full each run is.

Elastic never alerts twice on one event although consecutive rule runs overlap (``from:
now-6m`` every ``5m``), and stops at ``max_signals`` alerts per run. osquery's own differential
hides most repeats, but not all: snapshot queries, an osqueryd restart (new epoch) or a re-read
log bring the same rows back. So the reader remembers alert ids for as long as a hit can come
back — the rule's lookback plus one interval after it was first seen — and forgets them after,
which bounds memory on a log of any length. The state is plain data so follow mode can store
it in its checkpoint (``Checkpoint``, with the read positions) and resume exactly where it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ecsquery.errors import SourceError

CHECKPOINT_VERSION = 1
PRUNE_EVERY = 60
"""Least seconds of log time between sweeps of expired alert ids."""


@dataclass
class ReaderState:
    seen: dict[str, int] = field(default_factory=dict)
    """Alert uuid → log time (unix s) after which the hit cannot come back."""
    runs: dict[str, list[Any]] = field(default_factory=dict)
    """``rule_id\\x1fhost`` → [run, alerts made in it, hits dropped in it]."""
    newest: int = 0
    """Newest ``unixTime`` seen: the log's own clock (never the wall clock)."""
    pending: dict[str, list[Any]] = field(default_factory=dict)
    """``rule_id\x1fhost\x1fsequence_id`` → [run, {step: row}]: a sequence's step rows
    read so far (event-format logs write one row a line; a block can end mid-run)."""
    thresholds: dict[str, list[int]] = field(default_factory=dict)
    """``rule_id\x1fhost\x1fterms`` → [newest event ms that alerted, log time (unix s) after
    which it is forgotten]: Kibana's threshold signal history."""
    _prune_at: int = 0
    _buckets_swept: int = 64

    def advance(self, unix_time: int | None) -> None:
        """Move the log clock on; sweep expired ids now and then.

        A sweep reads every id, so the next one waits half the longest time an id still has
        to live: each id is read a few times over its life, not once a minute (with a 10 min
        lookback, 10 × as often), and expired ids never outnumber half the live ones by much.
        """
        if unix_time is None or unix_time <= self.newest:
            return
        self.newest = unix_time
        if unix_time >= self._prune_at:
            seen = self.seen = {k: exp for k, exp in self.seen.items() if exp >= unix_time}
            longest = max(seen.values(), default=unix_time) - unix_time
            self._prune_at = unix_time + max(PRUNE_EVERY, longest // 2)

    def admit(self, key: str, run: str, limit: int) -> bool:
        """Count one alert toward the run's ``max_signals``; False when the run is full."""
        entry = self.runs.get(key)
        if entry is None or entry[0] != run:
            entry = self.runs[key] = [run, 0, 0]
        if entry[1] >= limit:
            entry[2] += 1
            return False
        entry[1] += 1
        return True

    def last_signal(self, key: str) -> int | None:
        """The newest event (ms) of bucket ``key`` that alerted, None if none still remembered."""
        entry = self.thresholds.get(key)
        return entry[0] if entry is not None and entry[1] >= self.newest else None

    def remember_signal(self, key: str, ms: int, forget_at: int) -> None:
        """Record a bucket's alert; sweep forgotten buckets when the table doubles."""
        thresholds = self.thresholds
        thresholds[key] = [ms, forget_at]
        if len(thresholds) >= 2 * self._buckets_swept:
            live = {k: v for k, v in thresholds.items() if v[1] >= self.newest}
            self.thresholds = live
            self._buckets_swept = max(64, len(live))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"seen": self.seen, "runs": self.runs, "newest": self.newest}
        if self.pending:
            out["pending"] = self.pending
        if self.thresholds:
            out["thresholds"] = self.thresholds
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReaderState:
        state = cls(
            seen={str(k): int(v) for k, v in dict(data.get("seen", {})).items()},
            runs={str(k): list(v) for k, v in dict(data.get("runs", {})).items()},
            newest=int(data.get("newest", 0)),
            pending=_pending(data.get("pending")),
            thresholds=_thresholds(data.get("thresholds")),
        )
        state._prune_at = state.newest + PRUNE_EVERY
        return state


def _pending(data: Any) -> dict[str, list[Any]]:
    """A checkpoint's partial sequences; entries of the wrong shape are dropped (they only
    delay rows that osquery's next snapshot or the re-read rest of the run brings again)."""
    if not isinstance(data, dict):
        return {}
    return {
        str(k): [v[0], v[1]]
        for k, v in data.items()
        if isinstance(v, list) and len(v) == 2 and isinstance(v[0], str) and isinstance(v[1], dict)
    }


def _thresholds(data: Any) -> dict[str, list[int]]:
    if not isinstance(data, dict):
        return {}
    return {
        str(k): [v[0], v[1]]
        for k, v in data.items()
        if isinstance(v, list) and len(v) == 2 and all(type(i) is int for i in v)
    }


class Checkpoint:
    """The follow state on disk, replaced atomically (write, fsync, rename, fsync directory).

    The new state is written to a fresh file made by ``mkstemp`` in the checkpoint's own
    directory (``O_CREAT|O_EXCL``, mode 0600: it can be neither a planted symlink nor read by
    other users — it names log paths and alert ids), then renamed over the checkpoint.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, Any] | None:
        try:
            data = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, orjson.JSONDecodeError) as exc:
            raise SourceError(f"checkpoint {self.path} is unreadable: {exc}") from exc
        if not isinstance(data, dict) or data.get("version") != CHECKPOINT_VERSION:
            raise SourceError(f"checkpoint {self.path} is not an ecsquery checkpoint (version 1)")
        problem = _shape_problem(data)
        if problem:
            raise SourceError(f"checkpoint {self.path} is damaged: {problem}")
        return data

    def save(self, data: dict[str, Any]) -> None:
        """Replace the checkpoint; ``SourceError`` (the old one left as it was) if it cannot."""
        directory = self.path.parent
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
        except OSError as exc:
            raise SourceError(f"cannot write checkpoint {self.path}: {exc.strerror}") from exc
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(orjson.dumps({"version": CHECKPOINT_VERSION, **data}))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise SourceError(f"cannot write checkpoint {self.path}: {exc.strerror}") from exc


def _shape_problem(data: dict[str, Any]) -> str | None:
    """What is wrong with a checkpoint's types (None if nothing): a hand-edited or damaged
    file must give a clear error, not a traceback halfway through resuming."""
    sources, state, output = data.get("sources"), data.get("state"), data.get("output")
    if not isinstance(sources, dict) or not isinstance(state, dict):
        return "'sources' and 'state' must be objects"
    for key, pos in sources.items():
        if not isinstance(pos, dict):
            return f"position of {key} is not an object"
        fp, offset, line = pos.get("fingerprint"), pos.get("offset", 0), pos.get("line", 1)
        rotated = pos.get("rotated", [])
        if not (fp is None or isinstance(fp, str)) or not _count(offset) or not _count(line):
            return f"position of {key} has wrong types"
        if not isinstance(rotated, list) or not all(isinstance(r, str) for r in rotated):
            return f"position of {key} has wrong types"
    seen, runs, newest = state.get("seen", {}), state.get("runs", {}), state.get("newest", 0)
    if not isinstance(seen, dict) or not all(type(v) is int for v in seen.values()):
        return "'state.seen' must map ids to integers"
    if not isinstance(runs, dict) or not all(_run(v) for v in runs.values()):
        return "'state.runs' must map keys to [run, alerts, dropped]"
    if type(newest) is not int:
        return "'state.newest' must be an integer"
    new_terms = data.get("new_terms")
    if new_terms is not None and not (isinstance(new_terms, dict) and _count(new_terms.get("seq"))):
        return "'new_terms' must be {seq: a count}"
    if output is not None and not (
        isinstance(output, dict)
        and isinstance(output.get("path"), str)
        and _count(output.get("size", 0))
        and all(isinstance(u, str) for u in output.get("pending") or ())
    ):
        return "'output' must be {path, size, pending}"
    return None


def _count(value: Any) -> bool:
    return type(value) is int and value >= 0


def _run(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 3
        and isinstance(value[0], str)
        and _count(value[1])
        and _count(value[2])
    )


@dataclass(frozen=True)
class Position:
    """Where reading stopped: after byte ``offset`` of the generation ``fingerprint``."""

    fingerprint: str | None = None
    offset: int = 0
    line: int = 1
    rotated: tuple[str, ...] | None = None
    """Before the live file's first line: the rotated generations there were when it was
    opened empty. Any other found on restart was rotated meanwhile and is read first."""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"fingerprint": self.fingerprint, "offset": self.offset}
        data["line"] = self.line
        if self.rotated is not None:
            data["rotated"] = list(self.rotated)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Position:
        if not data:
            return cls()
        rotated = data.get("rotated")
        return cls(
            data.get("fingerprint"),
            int(data.get("offset", 0)),
            int(data.get("line", 1)),
            None if rotated is None else tuple(map(str, rotated)),
        )
