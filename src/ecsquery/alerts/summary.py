"""What a run of the reader saw: every line is turned into rows, skipped, or counted as bad.

The summary is the proof that nothing was silently lost: ``lines`` equals ``skipped`` plus
``parsed`` plus ``malformed`` plus the lines of ``unknown_queries``, and every malformed line
keeps its reason (and the first few keep their place) so a bad log can be found and fixed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

MAX_EXAMPLES = 20
"""How many malformed lines keep their source and line number (the rest are only counted)."""


@dataclass
class Summary:
    lines: int = 0
    skipped: int = 0
    """Lines of other queries (or blank), skipped before JSON parsing."""
    parsed: int = 0
    """Lines of our queries that parsed into rows."""
    malformed: Counter[str] = field(default_factory=Counter)
    """Reason → lines that could not be used at all."""
    examples: list[str] = field(default_factory=list)
    """``source:line: reason`` of the first malformed lines."""
    repaired: Counter[str] = field(default_factory=Counter)
    """Reason → lines used after a repair (e.g. non-UTF-8 bytes replaced)."""
    bad_rows: Counter[str] = field(default_factory=Counter)
    """Reason → rows left out of an otherwise good line (e.g. a row that is not an object)."""
    unknown_queries: Counter[str] = field(default_factory=Counter)
    """Query names of our pack (or that looked like ours) that match no loaded rule."""
    rows: Counter[str] = field(default_factory=Counter)
    """Action (added, snapshot, removed) → rows of our queries."""
    alerts: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(rule name, severity) → alerts made."""
    duplicates: int = 0
    """Hits seen again in an overlapping lookback window (no second alert)."""
    dropped: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    """(rule name, host, run) → hits over the rule's max_signals in that scheduled run."""
    not_new: Counter[str] = field(default_factory=Counter)
    """new_terms rule name → hits without a new tuple (known in the history window, or
    recorded during the rule's learning period): no alert."""
    source_errors: list[str] = field(default_factory=list)
    """Files that could not be opened or read to the end, with the reason."""
    gaps: list[str] = field(default_factory=list)
    """Follow mode: places where the reader lost track of a rotated file."""

    def bad_line(self, reason: str, source: str, line_no: int, detail: str = "") -> None:
        """Count an unusable line: ``reason`` is its category, ``detail`` the specifics."""
        self.malformed[reason] += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(f"{source}:{line_no}: {reason}{f' ({detail})' if detail else ''}")

    @property
    def total_alerts(self) -> int:
        return sum(self.alerts.values())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (tests and ``--summary json`` readers)."""
        return {
            "lines": self.lines,
            "skipped": self.skipped,
            "parsed": self.parsed,
            "malformed": dict(self.malformed),
            "examples": list(self.examples),
            "repaired": dict(self.repaired),
            "bad_rows": dict(self.bad_rows),
            "unknown_queries": dict(self.unknown_queries),
            "rows": dict(self.rows),
            "alerts": [
                {"rule": rule, "severity": sev, "count": n}
                for (rule, sev), n in sorted(self.alerts.items())
            ],
            "duplicates": self.duplicates,
            "dropped": [
                {"rule": rule, "host": host, "run": run, "count": n}
                for (rule, host, run), n in sorted(self.dropped.items())
            ],
            "not_new": dict(self.not_new),
            "source_errors": list(self.source_errors),
            "gaps": list(self.gaps),
        }

    def render(self) -> str:
        """The human summary printed at the end of a run (to stderr)."""
        bad = sum(self.malformed.values())
        unknown = sum(self.unknown_queries.values())
        out = [
            f"lines read: {self.lines}, skipped (other queries): {self.skipped}, "
            f"parsed: {self.parsed}, malformed: {bad}, unknown queries: {unknown}",
            f"rows: {', '.join(f'{k} {v}' for k, v in sorted(self.rows.items())) or 'none'}"
            " (removed rows never alert)",
            f"alerts: {self.total_alerts}, duplicates suppressed: {self.duplicates}, "
            f"dropped over max_signals: {sum(self.dropped.values())}",
        ]
        for (rule, sev), n in sorted(self.alerts.items(), key=lambda kv: (-kv[1], kv[0])):
            out.append(f"  {n:>7}  {sev:<8}  {rule}")
        for (rule, host, run), n in sorted(self.dropped.items()):
            out.append(f"  max_signals: {n} hits of {rule!r} on {host} in run {run} not alerted")
        for rule, n in sorted(self.not_new.items()):
            out.append(f"  new_terms: {n} hits of {rule!r} without a new tuple (known or learning)")
        for reason, n in sorted(self.malformed.items()):
            out.append(f"  malformed: {n} × {reason}")
        out.extend(f"    at {example}" for example in self.examples)
        for reason, n in sorted(self.repaired.items()):
            out.append(f"  repaired: {n} × {reason}")
        for reason, n in sorted(self.bad_rows.items()):
            out.append(f"  rows left out: {n} × {reason}")
        for name, n in sorted(self.unknown_queries.items()):
            out.append(f"  unknown query {name!r}: {n} lines (no loaded rule has this name)")
        out.extend(f"  source error: {e}" for e in self.source_errors)
        out.extend(f"  gap: {g}" for g in self.gaps)
        return "\n".join(out)
