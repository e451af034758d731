"""The extension's counters: exact under threads, kept when a thread ends, and bounded."""

from __future__ import annotations

import threading

from ecsquery.extension.stats import Stats


def _count(stats: Stats, name: str, times: int) -> threading.Thread:
    thread = threading.Thread(target=lambda: [stats.add(name) for _ in range(times)])
    thread.start()
    return thread


def test_threads_count_exactly_and_their_counts_outlive_them() -> None:
    stats = Stats()
    threads = [_count(stats, "served", 20_000) for _ in range(4)]
    stats.add("served", 5)
    for thread in threads:
        thread.join()
    assert stats["served"] == 80_005
    assert stats.snapshot() == {"served": 80_005}
    assert stats["never"] == 0


def test_counters_are_never_more_than_the_live_threads_plus_one() -> None:
    """A thread per connection, thousands over a day: an ended thread's counter is folded."""
    stats = Stats()
    for _ in range(50):
        _count(stats, "generate", 3).join()
    stats.add("main")
    assert len(stats._threads) <= 2
    assert stats.snapshot() == {"generate": 150, "main": 1}
