"""rules/sql/pushdown.py: the redundant GLOB never changes a rule's rows, and generate can
check it exactly (so osquery's reply shrinks without losing a hit)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from ast_support import leaves
from ecsquery import osquery_sqlite
from ecsquery.bench import extension_pack
from ecsquery.extension.pipeline import Pipeline
from ecsquery.extension.table import GLOB, EcsProcessTable
from ecsquery.extension.window import Window
from ecsquery.rules.compile import CompiledRule
from ecsquery.rules.lang.ast import And, Equals, Expr, FieldRef, Match, Or, Pattern, Wild
from ecsquery.rules.sql.compiler import Compiler, select
from ecsquery.rules.sql.pushdown import hits_only, pushdown_terms, without_hits_only
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


def test_scalar_or_of_globs_gets_their_common_text() -> None:
    gitleaks = Equals(NAME, ("gitleaks.exe", "gitleaks"), True)
    k, s = "[kK\u212a]", "[sS\u017f]"  # KELVIN SIGN and LONG S fold to k and s
    assert pushdown_terms(gitleaks, FIELDS) == [
        f"process_name GLOB '*[gG][iI][tT][lL][eE][aA]{k}{s}*'"
    ]
    patterns = Match(NAME, (Pattern(("python", Wild.ANY)), Pattern((Wild.ANY, "python3"))), False)
    assert pushdown_terms(patterns, FIELDS) == ["process_name GLOB '*python*'"]
    assert pushdown_terms(Equals(NAME, ("gitleaks", "gitleaks.exe")), FIELDS) == []  # an IN
    assert pushdown_terms(Equals(NAME, ("gitleaks",), True), FIELDS) == []  # one GLOB: passed
    assert pushdown_terms(Match(NAME, (Pattern(("py", Wild.ANY)),)), FIELDS) == []
    assert pushdown_terms(Equals(NAME, ("sh", "zsh"), True), FIELDS) == []  # too short
    parent = FieldRef("process.parent.name")
    either = Or((
        And((Equals(parent, ("node",)), Match(NAME, (Pattern(("mcp-server", Wild.ANY)),), True))),
        Equals(NAME, ("github-mcp-server",)),
    ))  # fmt: skip
    assert pushdown_terms(either, FIELDS) == [
        f"process_name GLOB '*[mM][cC][pP]-{s}[eE][rR][vV][eE][rR]*'"
    ]
    assert pushdown_terms(Or((either, Equals(parent, ("x",)))), FIELDS) == []  # a branch without


@settings(max_examples=150, deadline=None)
@given(
    st.lists(_text, max_size=8),
    st.lists(st.lists(_text | st.sampled_from([Wild.ANY, Wild.ONE]), min_size=1, max_size=3),
             min_size=2, max_size=3),
    st.booleans(), st.booleans(), st.data(),
)  # fmt: skip
def test_scalar_pushdown_keeps_every_hit(
    names: list[str], parts: list[list[str | Wild]], equals: bool, ci: bool, data: st.DataObject
) -> None:
    patterns = tuple(Pattern(tuple(p)) for p in parts)
    if equals:
        values = tuple(str(p) for p in patterns)
        if names and data.draw(st.booleans()):
            values = (names[0], *values[1:])  # make a hit likely
        term: Expr = Equals(NAME, values, ci)
    else:
        term = Match(NAME, patterns, ci)
    window = Window(max_age=10**10)
    pipeline = Pipeline(window)
    for i, name in enumerate(names):
        pipeline.add_document(i, {"event": {"id": str(i)}, "process": {"name": name}})
    table = EcsProcessTable(window)
    rows = table.generate(None)
    where = " AND ".join(Compiler(FIELDS).conjuncts(term))
    extra = pushdown_terms(And((term,)), FIELDS)
    expected = _ids(rows, where)
    assert _ids(rows, " AND ".join([where, *extra])) == expected
    for pushed in extra:
        pattern = pushed.split(" GLOB ", 1)[1][1:-1].replace("''", "'")
        context = build_context([(c.name, c.type.value) for c in COLUMNS],
                                {"process_name": [(GLOB, pattern)]})  # fmt: skip
        assert _ids(table.generate(context), where) == expected


def test_hits_only_adds_the_narrow_subquery() -> None:
    sql = "SELECT\n  time,\n  event_id\nFROM ecs_process_events\nWHERE time >= 5\n  AND a = 'b'"
    assert hits_only(sql) == (
        sql + "\n  AND time IN (\n    SELECT time\n    FROM ecs_process_events\n"
        "    WHERE time >= 5\n      AND a = 'b')"
    )
    assert without_hits_only(hits_only(sql)) == sql
    assert hits_only("SELECT 1") == "SELECT 1"


MAC_RULES = [r for r in extension_pack.pack() if "\nFROM ecs_process_events\n" in r.sql]
_JUNK = "aZ9 -/._*?\"'[]éſK"


def _literals(compiled: CompiledRule) -> dict[str, list[str]]:
    """Per text field of a rule, texts built from its values and patterns (wildcards filled)."""
    found: dict[str, list[str]] = {}
    for leaf in leaves(compiled.query.where):
        if not isinstance(leaf, (Equals, Match)):
            continue
        column = FIELDS.by_ecs(leaf.field.name)
        if column is None or column.numeric:
            continue
        texts = found.setdefault(leaf.field.name, [])
        if isinstance(leaf, Equals):
            texts += [v for v in leaf.values if isinstance(v, str)]
        else:
            texts += [
                "".join(p if isinstance(p, str) else "x" for p in q.parts) for q in leaf.patterns
            ]
    return found


def _text_for(rng: random.Random, texts: list[str]) -> str:
    text = rng.choice(texts) if texts and rng.random() < 0.9 else ""
    text = text.upper() if rng.random() < 0.1 else text
    return text + "".join(rng.choice(_JUNK) for _ in range(rng.choice((0, 0, 0, 1, 2))))


def _event(rng: random.Random, literals: dict[str, list[str]], i: int) -> dict[str, object]:
    doc: dict[str, object] = {"event.id": f"e{i}", "host.os.type": "macos",
                              "event.category": ["process"], "event.type": ["start"]}  # fmt: skip
    for name, texts in literals.items():
        if rng.random() < 0.1:
            continue
        column = FIELDS.by_ecs(name)
        assert column is not None
        if column.array:
            doc[name] = [_text_for(rng, texts) for _ in range(rng.randint(0, 4))]
        else:
            doc[name] = _text_for(rng, texts)
    return doc


@settings(max_examples=3, deadline=None, derandomize=True, database=None)
@given(st.integers(0, 2**32 - 1))
def test_mac_corpus_pushdown_and_hits_only_keep_every_hit(seed: int) -> None:
    """Every process rule of the Mac corpus: the plain conjuncts on a real table, the pack SQL
    (pushdown terms, ``hits_only``) on a real table, and the pack SQL through an SQLite virtual
    table calling ``generate`` as osquery does (constraints, IN per value on ``time``,
    ``colsUsed``) give the same hits."""
    assert len(MAC_RULES) == 83
    rng = random.Random(seed)
    rules_hit = 0
    index = FIELDS.names.index("event_id")
    for compiled in MAC_RULES:
        literals = _literals(compiled)
        window = Window(max_age=10**10)
        pipeline = Pipeline(window)
        for i in range(60):
            pipeline.add_document(extension_pack.NOW - 60 - i % 7, _event(rng, literals, i))
        table = EcsProcessTable(window)
        conn = osquery_sqlite.connect(now=extension_pack.NOW)
        osquery_sqlite.insert_rows(conn, table.generate(None))
        plain = select(FIELDS, Compiler(FIELDS).conjuncts(compiled.query.where), 540)
        expected = sorted(r[index] for r in conn.execute(plain))
        slug = compiled.rule.slug
        assert sorted(r[index] for r in conn.execute(compiled.sql)) == expected, slug
        _, hits = extension_pack.round_of(table, {slug: compiled.sql})
        assert sorted(r[index] for r in hits[slug]) == expected, slug
        rules_hit += bool(expected)
    assert rules_hit >= 40


LOOKUP_QUERY = (
    'process where process.name : ("elastic-agent*", "sh") and not ('
    'process.parent.code_signature.subject_name == "Elasticsearch, Inc." and'
    ' process.code_signature.subject_name : "*elastic*")'
)
_PATHS = ["/opt/a/elastic-agent", "/opt/b/elastic-agent", "/bin/sh", "", "relative/agent"]
_AUTHORITY = st.sampled_from(["Elasticsearch, Inc.", "elasticsearch, inc.", "Elastic", ""])


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["elastic-agent", "sh", "zsh"]), st.sampled_from(_PATHS),
                  st.sampled_from(_PATHS), st.integers(0, 2)),
        max_size=12,
    ),
    st.dictionaries(st.sampled_from(_PATHS[:3]), _AUTHORITY),
)  # fmt: skip
def test_lookup_terms_run_once_per_row_and_keep_every_hit(
    events: list[tuple[str, str, str, int]], signers: dict[str, str]
) -> None:
    """A rule reading ``signature`` lookups: the pack SQL evaluates each lookup in one place
    (the keyed CTE, not again in the outer query) and returns exactly the rows of the plain
    query (``without_hits_only``), over generated rows sharing seconds, paths and signers."""
    keyed_hits(events, signers)


def test_rows_of_one_second_differing_only_by_a_signer() -> None:
    """The same process in one second under two parents: only the one whose parent is not
    signed by Elasticsearch is a hit (the key holds the parent's executable)."""
    events = [
        ("elastic-agent", _PATHS[0], _PATHS[1], 0),
        ("elastic-agent", _PATHS[0], _PATHS[2], 0),
    ]
    assert keyed_hits(events, {_PATHS[0]: "Elastic", _PATHS[1]: "Elasticsearch, Inc."}) == ["1"]


def keyed_hits(events: list[tuple[str, str, str, int]], signers: dict[str, str]) -> list[str]:
    """The event ids ``LOOKUP_QUERY``'s pack SQL returns, checked against the plain query's."""
    from ast_support import eql_rule
    from ecsquery.rules.compile import compile_rule

    compiled = compile_rule(eql_rule(LOOKUP_QUERY, "lookup"))
    plain = without_hits_only(compiled.sql)
    assert compiled.sql.startswith("WITH hits AS MATERIALIZED (\n")
    assert compiled.sql.count("FROM signature") == plain.count("FROM signature") == 2
    assert hits_only(plain, *compiled_lookups(compiled)) == compiled.sql
    conn = osquery_sqlite.connect(now=10**9)
    rows = [
        {"time": str(10**9 - 60 - second), "event_id": str(i), "event_category": '["process"]',
         "process_name": name, "process_executable": own, "process_parent_executable": parent}
        for i, (name, own, parent, second) in enumerate(events)
    ]  # fmt: skip
    osquery_sqlite.insert_rows(conn, rows)
    for path, authority in signers.items():
        osquery_sqlite.insert_signature(conn, path, authority)
    index = FIELDS.names.index("event_id")
    expected = sorted(r[index] for r in conn.execute(plain))
    assert sorted(r[index] for r in conn.execute(compiled.sql)) == expected
    return expected


def compiled_lookups(compiled: CompiledRule) -> tuple[list[str], list[str]]:
    return Compiler(FIELDS).lookup_terms(compiled.query.where)
