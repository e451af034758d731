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

Entry = tuple[int, tuple[bytes, ...]]
"""(source time in Unix seconds, the row's values Thrift-encoded in column order)."""

DEFAULT_MAX_AGE = 15 * 60
DEFAULT_MAX_EVENTS = 100_000
DEFAULT_MAX_BYTES = 48 * 1024 * 1024
"""48 MiB of rows: with the process tree (~20 MB at 16k images) and the runtime (~22 MB) the
extension stays under 100 MB however large a backlog (``make bench``), half osquery's watchdog
limit."""
_ENTRY_FIXED = 128  # the entry tuple, its time int, the values tuple's header (CPython, 64-bit)
_GONE: Entry = (0, ())
"""What an evicted entry's slot holds until the list is compacted: the evicted rows would
otherwise stay alive until then (up to as many dead rows as live ones, 2× the window)."""


def entry_bytes(values: tuple[bytes, ...]) -> int:
    """What an entry is charged: an estimate of its memory (interned values counted in full,
    so it errs high; ``make bench`` prints the measured figure per event next to it)."""
    return _ENTRY_FIXED + 8 * len(values) + sum(map(len, values))


class Window:
    """Entries kept in time order (an older event arriving late is inserted at its place), so
    ``generate`` finds a time range by bisection instead of scanning the whole window."""

    def __init__(
        self,
        max_age: float = DEFAULT_MAX_AGE,
        max_events: int = DEFAULT_MAX_EVENTS,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.max_age = max_age
        self.max_events = max_events
        self.max_bytes = max_bytes
        self._entries: list[Entry] = []
        self._head = 0  # entries before it are evicted (their slots hold _GONE until compacted)
        self._last_time = -1
        self._lock = threading.Lock()
        self.newest = 0
        self.evicted = 0
        self.bytes = 0
        """The charged size of what the window holds now (:func:`entry_bytes`)."""

    def __len__(self) -> int:
        return len(self._entries) - self._head

    def add(self, time: int, values: tuple[bytes, ...], size: int | None = None) -> None:
        """One row; ``size``: its :func:`entry_bytes` when the caller knows it already."""
        charge = entry_bytes(values) if size is None else size
        with self._lock:
            entries = self._entries
            if time == self._last_time:
                time = self._last_time  # one int object per second, not one per entry
            else:
                self._last_time = time
            if time < self.newest and len(entries) > self._head and time < entries[-1][0]:
                entries.insert(self._bisect(time + 1), (time, values))
            else:
                entries.append((time, values))
            self.bytes += charge
            if time > self.newest:
                self.newest = time
            if (
                self.bytes > self.max_bytes
                or len(entries) - self._head > self.max_events
                or entries[self._head][0] < self.newest - self.max_age
            ):
                self._evict()

    def _evict(self) -> None:
        """Under the lock: the oldest entries out until the window is within its bounds."""
        entries = self._entries
        oldest_kept = self.newest - self.max_age
        head = self._head
        while head < len(entries) and (
            entries[head][0] < oldest_kept
            or len(entries) - head > self.max_events
            or self.bytes > self.max_bytes
        ):
            self.bytes -= entry_bytes(entries[head][1])
            entries[head] = _GONE  # freed now, not when the list is next compacted
            head += 1
        self.evicted += head - self._head
        if head > 1024 and head * 2 > len(entries):
            del entries[:head]
            head = 0
        self._head = head

    def _bisect(self, time: float) -> int:
        """The first index at or after the head whose time is >= ``time``."""
        entries, lo, hi = self._entries, self._head, len(self._entries)
        while lo < hi:
            mid = (lo + hi) // 2
            if entries[mid][0] < time:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def snapshot(self, start: float | None = None, stop: float | None = None) -> list[Entry]:
        """The entries with ``start <= time < stop`` (either bound optional), oldest first."""
        with self._lock:
            lo = self._head if start is None else self._bisect(start)
            hi = len(self._entries) if stop is None else self._bisect(stop)
            return self._entries[lo:hi]
