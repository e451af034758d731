"""The bounded buffer of recent rows that ``generate`` serves.

Bounded twice: by count (memory) and by age (the longest rule lookback). Age is measured on the
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


class Window:
    def __init__(
        self, max_age: float = DEFAULT_MAX_AGE, max_events: int = DEFAULT_MAX_EVENTS
    ) -> None:
        self.max_age = max_age
        self.max_events = max_events
        self._entries: deque[Entry] = deque(maxlen=max_events)
        self._lock = threading.Lock()
        self.newest = 0
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, time: int, values: tuple[bytes, ...]) -> None:
        with self._lock:
            if len(self._entries) == self.max_events:
                self.evicted += 1
            self._entries.append((time, values))
            if time > self.newest:
                self.newest = time
            oldest_kept = self.newest - self.max_age
            entries = self._entries
            while entries and entries[0][0] < oldest_kept:
                entries.popleft()
                self.evicted += 1

    def snapshot(self) -> list[Entry]:
        with self._lock:
            return list(self._entries)
