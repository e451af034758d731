"""The bounded buffer of recent rows that ``generate`` serves.

Bounded three ways: by bytes and by count (memory) and by age (the longest rule lookback).
The byte bound is what holds against an attacker (one 256 KiB argv is worth 400 ordinary
events): each entry is charged :func:`entry_bytes`, its values' lengths plus the fixed cost
of the tuples holding them. Age is measured on the
*event* clock (the newest event time seen), not the wall clock, so a replay of last week's
events is served the same as live ones. Sources append from their threads; ``generate`` takes
a snapshot, so a slow query never blocks the readers for longer than a list copy.
"""

from __future__ import annotations

import threading
from collections import deque

Entry = tuple[int, tuple[bytes, ...]]
"""(source time in Unix seconds, the row's values Thrift-encoded in column order)."""

DEFAULT_MAX_AGE = 15 * 60
DEFAULT_MAX_EVENTS = 100_000
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
_ENTRY_FIXED = 128  # the entry tuple, its time int, the values tuple's header (CPython, 64-bit)


def entry_bytes(values: tuple[bytes, ...]) -> int:
    """What an entry is charged: an estimate of its memory (interned values counted in full,
    so it errs high; ``make bench`` prints the measured figure per event next to it)."""
    return _ENTRY_FIXED + 8 * len(values) + sum(map(len, values))


class Window:
    def __init__(
        self,
        max_age: float = DEFAULT_MAX_AGE,
        max_events: int = DEFAULT_MAX_EVENTS,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.max_age = max_age
        self.max_events = max_events
        self.max_bytes = max_bytes
        self._entries: deque[Entry] = deque()
        self._lock = threading.Lock()
        self.newest = 0
        self.evicted = 0
        self.bytes = 0
        """The charged size of what the window holds now (:func:`entry_bytes`)."""

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, time: int, values: tuple[bytes, ...]) -> None:
        with self._lock:
            entries = self._entries
            entries.append((time, values))
            self.bytes += entry_bytes(values)
            if time > self.newest:
                self.newest = time
            oldest_kept = self.newest - self.max_age
            while entries and (
                entries[0][0] < oldest_kept
                or len(entries) > self.max_events
                or self.bytes > self.max_bytes
            ):
                self.bytes -= entry_bytes(entries.popleft()[1])
                self.evicted += 1

    def snapshot(self) -> list[Entry]:
        with self._lock:
            return list(self._entries)
