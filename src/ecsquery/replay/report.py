"""The end-of-replay summary: what was read, what ran, what alerted (printed to stderr)."""

from __future__ import annotations

from typing import Any

from ecsquery.replay.run import ReplayResult


def render(result: ReplayResult) -> str:
    read, reader = result.read, result.reader
    rejected = sum(read.rejected.values())
    hosts = ", ".join(f"{h} ({n})" for h, n in sorted(read.hosts.items())) or "none"
    out = [
        f"events: {read.lines} lines read, {read.events} events normalized"
        f" ({read.rows} rows on {len(read.hosts)} hosts: {hosts})",
        f"  rejected: {rejected}, without time (skipped): {read.without_time},"
        f" duplicates (kept once): {read.duplicates}, out of order (sorted): {read.out_of_order},"
        f" not process events: {read.ignored}",
    ]
    for reason, n in sorted(read.rejected.items()):
        out.append(f"    {n} × {reason}")
    out.extend(f"      e.g. {example}" for example in read.examples[:5])
    schedule = ", ".join(f"{q.name} every {q.interval}s over {q.lookback}s" for q in result.queries)
    out += [
        f"schedule: {len(result.queries)} pack queries ({schedule})",
        f"runs: {result.runs}, hits: {len(result.hits)}"
        f" ({result.repeated_hits} seen again in an overlapping window, logged once),"
        f" result lines: {result.result_lines}",
        f"alerts: {reader.total_alerts}, duplicates suppressed: {reader.duplicates},"
        f" dropped over max_signals: {sum(reader.dropped.values())}",
    ]
    for (rule, severity), n in sorted(reader.alerts.items(), key=lambda kv: (-kv[1], kv[0])):
        out.append(f"  {n:>5}  {severity:<8}  {rule}")
    if reader.malformed or reader.unknown_queries:
        out.append("result log problems (should not happen):")
        out.append(reader.render())
    return "\n".join(out)


def to_dict(result: ReplayResult) -> dict[str, Any]:
    read = result.read
    return {
        "lines": read.lines,
        "events": read.events,
        "rows": read.rows,
        "hosts": dict(read.hosts),
        "rejected": dict(read.rejected),
        "without_time": read.without_time,
        "duplicates": read.duplicates,
        "out_of_order": read.out_of_order,
        "ignored": read.ignored,
        "runs": result.runs,
        "hits": len(result.hits),
        "repeated_hits": result.repeated_hits,
        "result_lines": result.result_lines,
        "alerts": result.reader.to_dict()["alerts"],
    }
