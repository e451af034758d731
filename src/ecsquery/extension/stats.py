"""Counters for what the sources read, served and rejected (bad input is counted, never lost)."""

from __future__ import annotations

import threading
from collections import Counter


class Stats:
    """Thread-safe named counters; ``snapshot()`` for logs and tests."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def __getitem__(self, name: str) -> int:
        with self._lock:
            return self._counts[name]

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)
