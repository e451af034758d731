"""Rules bench: compile time per rule, and pack SQL time per rule over 50k rows in SQLite.

The SQL figure is what a pack costs osquery each interval if the extension hands it 50k
events (a busy Mac's nine minutes); the baseline is the same pack query with no rule terms
(every column, the lookback window only), so the ratio says what the rule's predicates cost
beyond reading the window.
"""

from __future__ import annotations

import random

from ecsquery import data, osquery_sqlite
from ecsquery.bench import Figure, median_seconds
from ecsquery.rows import to_row
from ecsquery.rules.compile import compile_rule
from ecsquery.rules.load import load_rules
from ecsquery.rules.sql.compiler import select
from ecsquery.schema import FieldTable

ROWS = 50_000
NOW = 1_700_000_000
NAMES = ("security", "cat", "curl", "bash", "zsh", "osascript", "defaults", "spctl", "kcc")
ARGS = ("dump-keychain", "-d", "/var/db/SystemKey", "find-generic-password", "-wa", "write", "x")


def _rows(fields: FieldTable) -> list[dict[str, str]]:
    rng = random.Random(0)
    rows = []
    for i in range(ROWS):
        name = rng.choice(NAMES)
        doc = {
            "event": {"category": ["process"], "type": [rng.choice(("start", "end"))]},
            "host": {"os": {"type": "macos"}},
            "process": {
                "name": name,
                "args": [name, *rng.sample(ARGS, rng.randint(0, 3))],
                "command_line": name + " " + "x" * rng.randint(0, 80),
                "executable": f"/usr/bin/{name}",
                "pid": rng.randint(1, 99999),
            },
        }
        row = to_row(doc, fields)
        row["time"] = str(NOW - rng.randint(0, 1200))
        row["event_id"] = str(i)
        rows.append(row)
    return rows


def run() -> list[Figure]:
    fields = FieldTable()
    with data.as_path(data.rules()) as shipped:
        rules, _errors = load_rules([shipped])
    conn = osquery_sqlite.connect(now=NOW)
    osquery_sqlite.insert_rows(conn, _rows(fields))
    window = select(fields, [], 540)
    base = median_seconds(lambda: conn.execute(window).fetchall())
    figures = [Figure("rules", f"baseline window-only query, {ROWS:,} rows", base * 1000, "ms")]
    for rule in rules:
        compile_s = median_seconds(lambda r=rule: compile_rule(r, fields))  # type: ignore[misc]
        sql = compile_rule(rule, fields).sql
        sql_s = median_seconds(lambda s=sql: conn.execute(s).fetchall())  # type: ignore[misc]
        figures.append(Figure("rules", f"compile {rule.slug}", compile_s * 1000, "ms"))
        figures.append(
            Figure(
                "rules",
                f"pack SQL {rule.slug} over {ROWS:,} rows",
                sql_s * 1000,
                "ms",
                target=f"< 3x baseline ({base * 3000:.1f} ms)",
                ok=sql_s < 3 * base,
            )
        )
    return figures
