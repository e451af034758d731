"""``make bench``: figures measured side by side in one run, reported as medians and ratios.

Each pipeline part contributes a module with ``run() -> list[Figure]``; ``__main__`` runs
them all and prints one table. The machines are shared and noisy, so every figure is the
median of several runs and targets are stated as ratios to a baseline measured in the same run.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """One line of the bench table: what, how much, and against what target."""

    part: str
    what: str
    value: float
    unit: str
    target: str = ""
    ok: bool | None = None


def median_seconds(fn: Callable[[], object], runs: int = 5) -> float:
    """Median wall time of ``fn`` over ``runs`` calls (one warm-up call first)."""
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def format_table(figures: list[Figure]) -> str:
    rows = [("part", "figure", "value", "target", "")]
    for f in figures:
        verdict = "" if f.ok is None else ("ok" if f.ok else "MISSED")
        rows.append((f.part, f.what, f"{f.value:,.3f} {f.unit}", f.target, verdict))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)
