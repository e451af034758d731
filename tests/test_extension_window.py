"""The window's memory: evicted rows are freed at once, and one ``int`` serves a second."""

from __future__ import annotations

import sys

from ecsquery.extension.window import Window


def test_evicted_rows_are_released_before_the_list_is_compacted() -> None:
    """Only this test's list still holds an evicted row (the window compacts its list only
    past 1,024 evictions; until then an evicted row used to stay alive in its slot)."""
    window = Window(max_age=10**10, max_events=10)
    rows = [(f"row {i}".encode(),) for i in range(100)]
    for i, row in enumerate(rows):
        window.add(1000 + i, row)
    del row
    counts = [sys.getrefcount(row) for row in rows]  # each evicted row: this list's only
    held = [i for i, count in enumerate(counts) if count > min(counts)]
    assert held == list(range(90, 100))
    assert [t for t, _ in window.snapshot()] == list(range(1090, 1100))
    assert window.evicted == 90 and len(window) == 10


def test_entries_of_one_second_share_one_time_object() -> None:
    window = Window(max_age=10**10)
    for text in ("1754572000", "1754572000", "1754572001"):
        window.add(int(text), (b"",))  # a fresh int object each time, as the pipeline's
    first, second, third = (t for t, _ in window.snapshot())
    assert first is second and first == 1754572000 and third == 1754572001


def test_a_late_entry_is_inserted_in_time_order_after_evictions() -> None:
    window = Window(max_age=10**10, max_events=3)
    for t in (5, 6, 7, 8, 3):
        window.add(t, (str(t).encode(),))
    assert [t for t, _ in window.snapshot()] == [6, 7, 8]
    assert [t for t, _ in window.snapshot(7, 9)] == [7, 8]
