"""Counters for what the sources read, served and rejected (bad input is counted, never lost)."""

from __future__ import annotations

import threading
import weakref
from collections import Counter


class Stats:
    """Thread-safe named counters; ``snapshot()`` for logs and tests.

    Every event is counted twice or more, so :meth:`add` takes no lock: each thread counts
    in its own :class:`Counter`, which only that thread writes, and a reader sums them (a
    ``dict`` copy is atomic under the GIL). A thread's counts outlive it: when a thread
    registers, the counters of threads that have ended are folded into one, so there are
    never more counters than live threads plus one.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()
        self._threads: list[tuple[weakref.ref[threading.Thread], Counter[str]]] = []
        self._ended: Counter[str] = Counter()

    def add(self, name: str, n: int = 1) -> None:
        try:
            counts = self._local.counts
        except AttributeError:
            counts = self._register()
        counts[name] += n

    def _register(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        with self._lock:
            self._fold_ended()
            self._threads.append((weakref.ref(threading.current_thread()), counts))
        self._local.counts = counts
        return counts

    def _fold_ended(self) -> None:
        """Under the lock: the counts of ended threads into :attr:`_ended` (an ended thread
        adds nothing more, so its counter is read whole)."""
        live = []
        for ref, counts in self._threads:
            thread = ref()
            if thread is None or not thread.is_alive():
                self._ended.update(dict(counts))
            else:
                live.append((ref, counts))
        self._threads = live

    def __getitem__(self, name: str) -> int:
        return self.snapshot().get(name, 0)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            self._fold_ended()
            total = Counter(self._ended)
            for _, counts in self._threads:
                total.update(dict(counts))
        return dict(total)
