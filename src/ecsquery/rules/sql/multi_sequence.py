"""EQL sequence → one osquery SQL query over the extension's tables (never osquery's
``*_events`` tables: a scheduled query on those sees only the events since its last run).

Each step reads the table of its event category (``process where`` → ``ecs_process_events``,
``file where`` → ``ecs_file_events``...); a sequence over several tables walks their events as
one stream (``UNION ALL`` of each table's window, a column another table lacks being NULL:
missing, as the field is on that event in Elasticsearch), so the matcher below is the same.

Elasticsearch's matcher (``x-pack/plugin/eql/.../execution/sequence/SequenceMatcher.java`` and
``OrdinalGroup.java``, elastic/elasticsearch at 16b5b76c / e46e35ec) keeps, per stage and join
key, the partial sequences in order; an event of stage *s* takes the **latest** partial
sequence of stage *s-1* that is strictly before it (``trimBefore``) and drops it and every
older one; the sequence is then rejected if the event is more than maxspan after the
sequence's first event, or if an ``until`` event of the key lies at or after the sequence's
last event and before this one; otherwise it moves to stage *s* (or completes).

Walked in time order, that means each (stage, key) needs only its latest partial sequence:
when the next event of stage *s* arrives every partial sequence of stage *s-1* is before it,
it takes the latest and drops the rest, and an ``until`` event drops them all. So the query

1. numbers the window's events by Elasticsearch's order (``_ms``: ``@timestamp`` in
   milliseconds; ties broken by ``event.id``, our stand-in for the index order ES uses),
2. lists every *hit*: (join key, event, stage) for each step the event matches with all
   its keys present, and (key, event, until); the same event's hits run from the last stage
   down and ``until`` last, because ES only lets an event join what is strictly before it,
3. walks the hits in (key, time) order with a recursive CTE whose row carries, per stage, the
   latest partial sequence (its events and start time), emitting a completed one as ``_done``,
4. returns one row per step event of each completed sequence: the event's columns, plus
   ``sequence_id`` (the ``event.id`` of every step as a JSON array: stable across runs, so
   osquery's differential log reports a sequence once), ``sequence_step`` (1-based) and
   ``sequence_length``.

Each run sees exactly the events of the rule's lookback (``from``), as Kibana's EQL search
does, so its completed sequences are the ones Elasticsearch's matcher returns for that range.
``ecsquery.testing.multi`` states the same semantics as ES's own per-stage algorithm, and the
property tests hold the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass

from ecsquery.errors import UnsupportedConstruct
from ecsquery.rules.lang.ast import FieldRef, Query
from ecsquery.rules.lang.multi import Sequence, Step
from ecsquery.rules.lang.passes import run_passes, table_for_query
from ecsquery.rules.sql.compiler import Compiler
from ecsquery.schema import TABLES, TIME_COLUMN, Column, FieldTable

HOST_CONSTANT = frozenset({"host.id", "host.hostname"})
"""Host fields without a column: every event on the host shares them, so as join keys they
are one constant value (Elastic Defend always sets them)."""

JOIN_CONSTANT = HOST_CONSTANT | {"agent.id"}
"""Join keys that are one value for every event the host's tables hold: the host fields, and
``agent.id``, the Elastic Agent that ships the host's events (one agent per host: Fleet
enrolls a host once, and every integration the agent runs, Defend's streams and others alike,
writes its id). The one difference, named in the README's deliberate differences: an agent
re-enrolled within a sequence's maxspan gets a new id in Elastic, which would split that
sequence; here it stays one."""

SEQUENCE_COLUMNS = ("sequence_id", "sequence_step", "sequence_length")
"""Columns a sequence query adds after the table's own, one row per step event."""

EVENT_MS = (
    "coalesce(CAST(round((julianday(NULLIF(timestamp, '')) - 2440587.5) * 86400000.0)"
    f" AS INTEGER), {TIME_COLUMN} * 1000)"
)
"""An event's time in milliseconds: ``@timestamp`` (ISO 8601 with milliseconds), else
``time`` seconds. (``julianday`` keeps milliseconds exactly; ``unixepoch(..., 'subsec')`` would
need SQLite 3.42 everywhere tests run.)"""


@dataclass(frozen=True)
class SequencePlan:
    """What the reader needs to know about a compiled sequence besides its SQL."""

    length: int
    maxspan_ms: int
    keys: tuple[tuple[str, ...], ...]
    """Per step, the ECS names of its join key, for the alert's ``kibana.alert.group``."""


def step_condition(step: Step, fields: FieldTable) -> str:
    """A step's query as a WHERE expression over its category's table (the single-event
    passes and compiler; ``fields`` is the process table or a sibling)."""
    table = step_table(step, fields)
    normal: Query = run_passes(step.query, table)
    return Compiler(table).where(normal.where)


def step_table(step: Step, fields: FieldTable) -> FieldTable:
    """The table a step reads, from its event category (refused by name when none serves it)."""
    return table_for_query(step.query, fields, step.pos)


def _events(tables: list[FieldTable], window: str) -> tuple[str, tuple[Column, ...]]:
    """The FROM of ``ev`` and its columns: one table as is, several as one ``UNION ALL``
    stream over the columns of all of them (NULL where a table lacks one)."""
    if len(tables) == 1:
        return f"{tables[0].name}\n  WHERE {window}", tables[0].columns
    columns = tuple({c.name: c for t in tables for c in t.columns}.values())
    branches = []
    for table in tables:
        have = set(table.names)
        picked = ", ".join(c.name if c.name in have else f"NULL AS {c.name}" for c in columns)
        branches.append(f"SELECT {picked} FROM {table.name} WHERE {window}")
    union = "\n    UNION ALL ".join(branches)
    return f"(\n    {union}\n  )", columns


def _key(keys: tuple[FieldRef, ...], fields: FieldTable) -> tuple[str, list[str]]:
    """The JSON-array key expression and the presence conditions of its non-optional parts."""
    parts: list[str] = []
    present: list[str] = []
    for ref in keys:
        column = fields.by_ecs(ref.name)
        if column is None:
            if ref.name in JOIN_CONSTANT:
                parts.append("'host'")
                continue
            raise UnsupportedConstruct(
                "join key", f"{ref.name!r} has no column in the table", pos=ref.pos
            )
        if column.array:
            raise UnsupportedConstruct("join key", f"{ref.name!r} is an array field", pos=ref.pos)
        value = f"NULLIF({column.expr}, '')"
        parts.append(value)
        if not ref.optional:
            present.append(f"{value} IS NOT NULL")
    return f"json_array({', '.join(parts)})", present


def compile_sequence(seq: Sequence, fields: FieldTable, lookback_seconds: int) -> str:
    """The pack SQL of a sequence (see the module docstring for its shape)."""
    if seq.maxspan_ms is None:
        raise UnsupportedConstruct(
            "sequence without maxspan",
            "an unbounded sequence cannot be matched within the host's window",
            pos=seq.pos,
        )
    n = len(seq.steps)
    hits: list[str] = []
    entries = [(n - i, step) for i, step in enumerate(seq.steps)]  # order: last stage first
    if seq.until is not None:
        entries.append((n + 1, seq.until))
    read: dict[str, FieldTable] = {}
    for order, step in entries:
        table = step_table(step, fields)
        read.setdefault(table.category, table)
        key, present = _key(step.keys, table)
        where = " AND ".join([step_condition(step, fields), *present])
        hits.append(
            f"SELECT {key} AS _k, _ms, event_id AS _id, _eid, {order} AS _o FROM ev WHERE {where}"
        )
    window = f"{TIME_COLUMN} >= (SELECT unix_time FROM time) - {int(lookback_seconds)}"
    tables = sorted(read.values(), key=lambda t: [x.category for x in TABLES].index(t.category))
    source, cols = _events(tables, window)
    names = [c.name for c in cols]
    columns = ", ".join(names)
    state = [f"p{s}, q{s}, t{s}" for s in range(n - 1)]
    seed = ", ".join(["NULL"] * (3 * (n - 1)))
    steps = ",\n    ".join(_transitions(n, seq.maxspan_ms))
    union = "\n    UNION ALL ".join(hits)
    return f"""WITH RECURSIVE
ev AS MATERIALIZED (
  SELECT {columns}, {EVENT_MS} AS _ms,
    row_number() OVER (ORDER BY {EVENT_MS}, event_id) AS _eid
  FROM {source}
),
hits AS MATERIALIZED (
  SELECT row_number() OVER (ORDER BY _k, _ms, _id, _o) AS _rn,
    (row_number() OVER (PARTITION BY _k ORDER BY _ms, _id, _o)) = 1 AS _first,
    _k, _ms, _id, _eid, _o
  FROM (
    {union}
  )
),
walk(_rn, {", ".join(state)}, _done, _ids) AS (
  SELECT 0, {seed}, NULL, NULL
  UNION ALL
  SELECT h._rn,
    {steps}
  FROM walk AS w JOIN hits AS h ON h._rn = w._rn + 1
)
SELECT ev.{", ev.".join(names)},
  w._ids AS sequence_id, j.key + 1 AS sequence_step, {n} AS sequence_length
FROM walk AS w, json_each(w._done) AS j JOIN ev ON ev._eid = j.value
WHERE w._done IS NOT NULL
ORDER BY w._rn, j.key"""


def _transitions(n: int, maxspan_ms: int) -> list[str]:
    """The new value of every state column of ``walk`` for hit ``h`` after state ``w``.

    ``p<s>``/``q<s>``: the latest partial sequence that has matched stages 0..s (event
    numbers / event ids, JSON arrays), ``t<s>``: its first event's milliseconds. A hit of
    stage ``s`` (``_o = n - s``) takes stage ``s-1``'s partial sequence (always dropping it)
    and extends it if within maxspan; stage 0 starts a new one; ``until`` drops all.
    """

    def prev(column: str) -> str:
        return f"(CASE WHEN h._first THEN NULL ELSE w.{column} END)"

    def takes(s: int) -> str:  # hit of stage s finds stage s-1 in flight and within maxspan
        return f"{prev(f'p{s - 1}')} IS NOT NULL AND h._ms - {prev(f't{s - 1}')} <= {maxspan_ms}"

    def append(array: str, value: str) -> str:
        return f"json_insert({array}, '$[#]', {value})"

    out: list[str] = []
    for s in range(n - 1):
        this, nxt = n - s, n - s - 1
        for col, start, grown in (
            ("p", "json_array(h._eid)", append(prev(f"p{s - 1}"), "h._eid")),
            ("q", "json_array(h._id)", append(prev(f"q{s - 1}"), "h._id")),
            ("t", "h._ms", prev(f"t{s - 1}")),
        ):
            own = (
                start
                if s == 0
                else f"CASE WHEN {takes(s)} THEN {grown} ELSE {prev(col + str(s))} END"
            )
            out.append(
                f"CASE h._o WHEN {this} THEN {own} WHEN {nxt} THEN NULL WHEN {n + 1} THEN NULL"
                f" ELSE {prev(col + str(s))} END"
            )
    last = n - 1
    for col in ("p", "q"):
        done = append(prev(f"{col}{last - 1}"), "h._eid" if col == "p" else "h._id")
        out.append(f"CASE WHEN h._o = 1 AND {takes(last)} THEN {done} END")
    return out
