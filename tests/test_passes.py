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
from ecsquery.rules.lang.passes import (
    add_category,
    coerce_literals,
    literal_matches,
    resolve_fields,
    run_passes,
    simplify,
)
from ecsquery.schema import FieldTable

F = FieldRef
FIELDS = FieldTable()
NAME = Equals(F("process.name"), ("a",))


def test_category_becomes_a_conjunct() -> None:
    q = add_category(Query("eql", NAME, "process"))
    assert q == Query("eql", And((Equals(F("event.category"), ("process",)), NAME)))
    assert add_category(Query("eql", NAME, "any")) == Query("eql", NAME)


def test_unknown_field_is_an_error_with_its_name() -> None:
    with pytest.raises(UnmappedField) as err:
        resolve_fields(Query("eql", Equals(F("file.path"), ("x",))), FIELDS)
    assert err.value.field == "file.path"


def test_unknown_optional_field_is_null() -> None:
    q = Query("eql", And((NAME, Not(Equals(F("file.path", optional=True), ("x",))))))
    assert run_passes(q, FIELDS).where == NAME
    q = Query("eql", And((NAME, Equals(F("file.path", optional=True), ("x",)))))
    assert run_passes(q, FIELDS).where == Const(False)


def test_literal_match_becomes_equals_with_its_case_flag() -> None:
    q = Query("kuery", Match(F("process.name"), (Pattern.parse("a"), Pattern.parse("b")), True))
    assert literal_matches(q).where == Equals(F("process.name"), ("a", "b"), True)
    wild = Query("kuery", Match(F("process.name"), (Pattern.parse("a*"),)))
    assert literal_matches(wild) == wild


def test_kql_strings_are_typed_by_column() -> None:
    q = Query(
        "kuery",
        And(
            (
                Equals(F("process.pid"), ("42",)),
                Equals(F("process.code_signature.trusted"), ("false",)),
            )
        ),
    )
    assert coerce_literals(q, FIELDS).where == And(
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
    q = Query("eql", And((a, And((b, Const(True))), Or((c, Or((a, Const(False))))))))
    assert simplify(q).where == And((a, b, Or((c, a))))
    assert simplify(Query("eql", Or((a, Not(Const(False)))))).where == Const(True)
    assert simplify(Query("eql", Not(Not(a)))).where == a
    assert simplify(Query("eql", And((a, Const(False))))).where == Const(False)


def test_exists_passes_through() -> None:
    q = Query("eql", Exists(F("process.pid")), "process")
    assert run_passes(q, FIELDS).where == And(
        (Equals(F("event.category"), ("process",)), Exists(F("process.pid")))
    )
