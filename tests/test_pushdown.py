"""rules/sql/pushdown.py: the redundant GLOB never changes a rule's rows, and generate can
check it exactly (so osquery's reply shrinks without losing a hit)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ecsquery import osquery_sqlite
from ecsquery.extension.pipeline import Pipeline
from ecsquery.extension.table import GLOB, EcsProcessTable
from ecsquery.extension.window import Window
from ecsquery.rules.lang.ast import And, Equals, Expr, FieldRef, Match, Or, Pattern, Wild
from ecsquery.rules.sql.compiler import Compiler
from ecsquery.rules.sql.pushdown import pushdown_terms
from ecsquery.schema import COLUMNS, FieldTable
from ecsquery.testing.standin import build_context

FIELDS = FieldTable()
ARGS = FieldRef("process.args")
_text = st.text(alphabet="ab\"\\*?[]' éÉxX-", min_size=1, max_size=6)
_args = st.lists(_text, max_size=4)
_parts = st.lists(_text | st.sampled_from([Wild.ANY, Wild.ONE]), min_size=1, max_size=4)
_terms = st.one_of(
    st.builds(lambda v, ci: Equals(ARGS, (v,), ci), _text, st.booleans()),
    st.builds(lambda p, ci: Match(ARGS, (Pattern(tuple(p)),), ci), _parts, st.booleans()),
    st.builds(
        lambda vs, ci: Equals(ARGS, tuple(vs), ci), st.lists(_text, min_size=2, max_size=3),
        st.booleans(),
    ),
    st.builds(
        lambda ps, ci: Match(ARGS, tuple(Pattern(tuple(p)) for p in ps), ci),
        st.lists(_parts, min_size=2, max_size=3), st.booleans(),
    ),
)  # fmt: skip
NAME = FieldRef("process.name")
_names = st.sampled_from(["sh", "bash", "Sh", "zsh"])


def _rows(
    events: list[list[str]], names: list[str] | None = None
) -> tuple[EcsProcessTable, list[dict[str, str]]]:
    window = Window(max_age=10**10)
    pipeline = Pipeline(window)
    for i, args in enumerate(events):
        process: dict[str, object] = {"args": args}
        if names:
            process["name"] = names[i % len(names)]
        pipeline.add_document(i, {"event": {"id": str(i)}, "process": process})
    table = EcsProcessTable(window)
    return table, table.generate(None)


def _ids(rows: list[dict[str, str]], where: str) -> list[str]:
    conn = osquery_sqlite.connect(now=10**9)
    osquery_sqlite.insert_rows(conn, rows)
    sql = f"SELECT event_id FROM ecs_process_events WHERE {where} ORDER BY event_id"
    return [r[0] for r in conn.execute(sql)]


@settings(max_examples=150, deadline=None)
@given(st.lists(_args, max_size=6), _terms, st.data())
def test_pushdown_keeps_every_hit(events: list[list[str]], term: Expr, data: st.DataObject) -> None:
    if data.draw(st.booleans()) and events and events[0] and isinstance(term, Equals):
        term = Equals(ARGS, (events[0][0],), term.case_insensitive)  # make hits likely
    table, rows = _rows(events)
    where = " AND ".join(Compiler(FIELDS).conjuncts(term))
    extra = pushdown_terms(And((term,)), FIELDS)
    expected = _ids(rows, where)
    assert _ids(rows, " AND ".join([where, *extra])) == expected
    for pushed in extra:  # what osquery hands generate for the pushed term: SQLite's operand
        pattern = pushed.split(" GLOB ", 1)[1][1:-1].replace("''", "'")
        context = build_context([(c.name, c.type.value) for c in COLUMNS],
                                {"process_args": [(GLOB, pattern)]})  # fmt: skip
        assert _ids(table.generate(context), where) == expected


def test_pushdown_terms_are_globs_on_the_json_text() -> None:
    term = Equals(ARGS, ('say "hi"',))
    match = Match(ARGS, (Pattern((Wild.ANY, "osascript", Wild.ANY)),), True)
    assert pushdown_terms(And((term, match)), FIELDS) == [
        'process_args GLOB \'*"say \\"hi\\""*\'',
        "process_args GLOB '*[oO][sSſ][aA][sSſ][cC][rR][iI][pP][tT]*'",
    ]
    name = Equals(FieldRef("process.name"), ("sh",))
    assert pushdown_terms(name, FIELDS) == []  # a scalar column is pushed by SQLite itself
    assert pushdown_terms(Equals(ARGS, ("a", "b")), FIELDS) == []  # an OR: not a constraint
    assert pushdown_terms(Equals(ARGS, ("ab", "cd")), FIELDS) == []  # nothing long in common
    started = Equals(FieldRef("event.type"), ("start", "process_started"))
    assert pushdown_terms(started, FIELDS) == ["event_type GLOB '*start*'"]
    either = Or((And((Equals(NAME, ("sh",)), term)), Equals(NAME, ("zsh", "bash"))))
    assert pushdown_terms(either, FIELDS) == ["process_name IN ('bash', 'sh', 'zsh')"]
    assert pushdown_terms(Or((Equals(NAME, ("sh",)), term)), FIELDS) == []  # a branch without
    assert pushdown_terms(Or((Equals(NAME, ("sh",), True), Equals(NAME, ("a",)))), FIELDS) == []


@settings(max_examples=100, deadline=None)
@given(
    st.lists(_args, max_size=6),
    st.lists(_names, min_size=1, max_size=4),
    st.lists(st.tuples(st.lists(_names, min_size=1, max_size=2), _terms), min_size=2, max_size=3),
)
def test_or_pushdown_keeps_every_hit(
    events: list[list[str]], names: list[str], branches: list[tuple[list[str], Expr]]
) -> None:
    term = Or(tuple(And((Equals(NAME, tuple(ns)), t)) for ns, t in branches))
    _, rows = _rows(events, names)
    where = " AND ".join(Compiler(FIELDS).conjuncts(term))
    extra = pushdown_terms(term, FIELDS)
    assert extra and extra[0].startswith("process_name IN (")
    assert _ids(rows, " AND ".join([where, *extra])) == _ids(rows, where)
