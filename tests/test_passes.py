"""AST passes: each one alone, then all of them together."""

from __future__ import annotations

import pytest

from ecsquery.errors import UnmappedField, UnsupportedConstruct
from ecsquery.rules.lang.ast import (
    And,
    Compare,
    Const,
    Equals,
    Exists,
    FieldRef,
    Length,
    Match,
    Not,
    Or,
    Pattern,
    Query,
    Regex,
)
from ecsquery.rules.lang.parse import parse_query
from ecsquery.rules.lang.passes import (
    RULES,
    coerce_literals,
    index_category,
    literal_matches,
    optimize,
    query_categories,
    resolve_fields,
    run_passes,
    simplify,
    table_for_query,
    with_category,
)
from ecsquery.schema import FieldTable

F = FieldRef
FIELDS = FieldTable()
NAME = Equals(F("process.name"), ("a",))


def test_category_becomes_a_conjunct() -> None:
    q = Query("eql", NAME, "process")
    assert with_category(q) == And((Equals(F("event.category"), ("process",)), NAME))
    assert with_category(Query("eql", NAME, "any")) == NAME
    assert run_passes(q, FIELDS) == Query(
        "eql", And((Equals(F("event.category"), ("process",)), NAME))
    )


@pytest.mark.parametrize(
    ("text", "language", "categories", "table"),
    [
        ('file where file.name == "a"', "eql", ("file",), "ecs_file_events"),
        ("network where true", "eql", ("network",), "ecs_network_events"),
        ("process where true", "eql", ("process",), "ecs_process_events"),
        ("event.category:file and file.name:a", "kuery", ("file",), "ecs_file_events"),
        (  # two pins intersect
            "event.category:(file or network) and event.category:network",
            "kuery",
            ("network",),
            "ecs_network_events",
        ),
        ("process.name:a", "kuery", (), "ecs_process_events"),  # no pin: the given table
        ("not event.category:file", "kuery", (), "ecs_process_events"),
    ],
)
def test_the_category_picks_the_table(
    text: str, language: str, categories: tuple[str, ...], table: str
) -> None:
    query = parse_query(text, language)
    assert query_categories(query) == categories
    assert table_for_query(query, FIELDS).name == table


@pytest.mark.parametrize(
    ("text", "language", "message"),
    [
        ("any where true", "eql", "'any where' spans every event category"),
        ("library where true", "eql", "'library': no table serves it"),
        ("event.category:(file or process)", "kuery", "'file', 'process': one rule over several"),
    ],
)
def test_categories_without_one_table_are_refused_by_name(
    text: str, language: str, message: str
) -> None:
    with pytest.raises(UnsupportedConstruct, match=message):
        table_for_query(parse_query(text, language), FIELDS)


def test_fields_a_table_lacks_are_refused_naming_table_and_source() -> None:
    network = FIELDS.for_category("network")
    assert network is not None and network.category == "network"
    with pytest.raises(UnmappedField) as err:
        resolve_fields(Equals(F("destination.domain"), ("x",)), network)
    assert err.value.message == (
        "field 'destination.domain' has no column in the ECS network-events table:"
        " no osquery table gives DNS names (osquery#7952)"
    )
    with pytest.raises(UnmappedField, match=r"'file\.path' has no column in the ECS network"):
        resolve_fields(Equals(F("file.path"), ("x",)), network)


def test_passes_are_data_in_dependency_order() -> None:
    assert (resolve_fields, literal_matches, coerce_literals, simplify) == RULES
    wild = Match(F("process.pid"), (Pattern.parse("42"),))
    assert optimize(wild, FIELDS) == Equals(F("process.pid"), (42,))
    # without literal_matches first, coerce_literals sees a wildcard on a number and refuses it
    with pytest.raises(UnsupportedConstruct):
        optimize(wild, FIELDS, (resolve_fields, coerce_literals))


def test_unknown_field_is_an_error_with_its_name() -> None:
    with pytest.raises(UnmappedField) as err:
        resolve_fields(Equals(F("file.path"), ("x",)), FIELDS)
    assert err.value.field == "file.path"


def test_unknown_optional_field_is_null() -> None:
    q = Query("eql", And((NAME, Not(Equals(F("file.path", optional=True), ("x",))))))
    assert run_passes(q, FIELDS).where == NAME
    q = Query("eql", And((NAME, Equals(F("file.path", optional=True), ("x",)))))
    assert run_passes(q, FIELDS).where == Const(False)


def test_literal_match_becomes_equals_with_its_case_flag() -> None:
    q = Match(F("process.name"), (Pattern.parse("a"), Pattern.parse("b")), True)
    assert literal_matches(q, FIELDS) == Equals(F("process.name"), ("a", "b"), True)
    wild = Match(F("process.name"), (Pattern.parse("a*"),))
    assert literal_matches(wild, FIELDS) == wild


def test_kql_strings_are_typed_by_column() -> None:
    q = And(
        (
            Equals(F("process.pid"), ("42",)),
            Equals(F("process.code_signature.trusted"), ("false",)),
        )
    )
    assert coerce_literals(q, FIELDS) == And(
        (Equals(F("process.pid"), (42,)), Equals(F("process.code_signature.trusted"), (False,)))
    )


@pytest.mark.parametrize(
    "expr",
    [
        Equals(F("process.pid"), ("forty",)),
        Equals(F("process.code_signature.trusted"), ("yes",)),
        Match(F("process.pid"), (Pattern.parse("4*"),)),
        Regex(F("process.pid"), ("4.*",)),
        Compare(F("process.name"), ">", 3),
        Compare(Length(F("process.pid")), ">", 3),
    ],
)
def test_uncoercible_values_are_refused(expr: Equals) -> None:
    with pytest.raises(UnsupportedConstruct):
        run_passes(Query("kuery", expr), FIELDS)


def test_simplify_flattens_and_folds() -> None:
    a, b, c = (Equals(F("process.name"), (v,)) for v in "abc")
    q = And((a, And((b, Const(True))), Or((c, Or((a, Const(False)))))))
    assert simplify(q, FIELDS) == And((a, b, Or((c, a))))
    assert simplify(Or((a, Not(Const(False)))), FIELDS) == Const(True)
    assert simplify(Not(Not(a)), FIELDS) == a
    assert simplify(And((a, Const(False))), FIELDS) == Const(False)


def test_exists_passes_through() -> None:
    q = Query("eql", Exists(F("process.pid")), "process")
    assert run_passes(q, FIELDS).where == And(
        (Equals(F("event.category"), ("process",)), Exists(F("process.pid")))
    )


@pytest.mark.parametrize(
    ("index", "category"),
    [
        (["logs-endpoint.events.file-*"], "file"),
        (["logs-endpoint.events.file*"], "file"),
        (["logs-endpoint.events.network-*", "logs-endpoint.events.network-default"], "network"),
        (["logs-endpoint.events.process-*", "logs-endpoint.events.file-*"], None),
        (["logs-endpoint.events.*"], None),
        (["logs-endpoint.events.file-*", "auditbeat-*"], None),
        ([], None),
    ],
)
def test_index_category_is_the_one_defend_stream_named(
    index: list[str], category: str | None
) -> None:
    assert index_category(index) == category


def test_a_query_pinning_no_category_reads_the_table_its_index_names() -> None:
    """Elasticsearch searches only the streams of ``index``: a KQL rule over the file stream
    reads the file table, one over several streams (or none) the process table."""
    query = parse_query("event.action : launch_daemon", "kuery")
    fields = FieldTable()
    assert table_for_query(query, fields, index=["logs-endpoint.events.file-*"]).name == (
        "ecs_file_events"
    )
    assert table_for_query(query, fields, index=["logs-endpoint.events.*"]) is fields
    assert table_for_query(query, fields) is fields
