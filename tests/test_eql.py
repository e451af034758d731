"""EQL parser: every construct, its exact AST, named errors with positions, eql as oracle."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecsquery.errors import Pos, RuleSyntaxError, UnsupportedConstruct
from ecsquery.rules.lang.ast import (
    And,
    CidrMatch,
    Compare,
    Const,
    Equals,
    Exists,
    Expr,
    FieldRef,
    Length,
    Match,
    Not,
    Or,
    Pattern,
    Query,
    Regex,
    Scalar,
    Wild,
)
from ecsquery.rules.lang.parse import parse_query

RULES = Path(__file__).parent / "fixtures" / "elastic-rules"
ANY, ONE = Wild.ANY, Wild.ONE


def f(name: str, optional: bool = False) -> FieldRef:
    return FieldRef(name, optional)


def eq(name: str, *values: Scalar, ci: bool = False) -> Equals:
    return Equals(f(name), values, ci)


def pat(*parts: str | Wild) -> Pattern:
    return Pattern(parts)


def where(condition: str) -> Expr:
    query = parse_query(f"process where {condition}", "eql")
    assert query.category == "process" and query.language == "eql"
    return query.where


def rule_query(path: Path) -> tuple[str, str]:
    rule = tomllib.loads(path.read_text("utf-8"))["rule"]
    return rule["query"], rule["language"]


def test_seed_dump_keychain_exact_ast() -> None:
    path = RULES / "history/credential_access_dumping_keychain_security.ab89dfb98d.toml"
    text, language = rule_query(path)
    assert language == "eql"
    assert parse_query(text, language) == Query(
        language="eql",
        category="process",
        where=And(
            (
                eq("host.os.type", "macos"),
                eq("event.type", "start", "process_started"),
                eq("process.args", "dump-keychain", ci=True),
                eq("process.args", "-d", ci=True),
            )
        ),
    )


def test_current_systemkey_exact_ast() -> None:
    text, language = rule_query(RULES / "credential_access_systemkey_dumping.toml")
    exe = "/Library/Elastic/Endpoint/elastic-endpoint.app/Contents/MacOS/elastic-endpoint"
    assert parse_query(text, language).where == And(
        (
            eq("host.os.type", "macos"),
            eq("event.type", "start", "process_started"),
            eq("process.args", "/private/var/db/SystemKey", "/var/db/SystemKey"),
            Not(Match(f("process.Ext.effective_parent.executable"), (pat(exe),))),
        )
    )


def test_every_eql_fixture_parses() -> None:
    paths = [p for p in sorted(RULES.rglob("*.toml")) if rule_query(p)[1] == "eql"]
    assert len(paths) >= 17
    for path in paths:
        query = parse_query(*rule_query(path))
        assert query.category == "process" and isinstance(query.where, And), path


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        # == != and null
        ('x == "v"', eq("x", "v")),
        ("x == 5", eq("x", 5)),
        ("x == -5.5", eq("x", -5.5)),
        ("x == 1e3", eq("x", 1000.0)),
        ("x == .5", eq("x", 0.5)),
        ("x == true", eq("x", True)),
        ("x == false", eq("x", False)),
        ('x != "v"', Not(eq("x", "v"))),
        ("x == null", Not(Exists(f("x")))),
        ("x != null", Exists(f("x"))),
        ('"v" == x', eq("x", "v")),
        # strings: escapes, raw strings, unicode
        (r'x == "a\"b\\c\td\ne\rf\'g"', eq("x", "a\"b\\c\td\ne\rf'g")),
        (r'x == "\u{41}\u{1F600}"', eq("x", "A\U0001f600")),
        (r'x == """C:\raw "quoted" *"""', eq("x", 'C:\\raw "quoted" *')),
        ('x == """ends in quote""""', eq("x", 'ends in quote"')),
        (r'x == ?"C:\raw\"q"', eq("x", 'C:\\raw\\"q')),
        ('x == "é"', eq("x", "é")),
        # fields: dotted, backquoted, optional, @timestamp
        ("`a b`.c == 1", eq("a b.c", 1)),
        ("a.`b-c` == 1", eq("a.b-c", 1)),
        ("`a``b` == 1", eq("a`b", 1)),
        ("?x.y == 1", Equals(f("x.y", optional=True), (1,))),
        ("?`x y` == 1", Equals(f("x y", optional=True), (1,))),
        ("@timestamp > 5", Compare(f("@timestamp"), ">", 5)),
        # : is case-insensitive with * and ? wildcards
        ('x : "v"', eq("x", "v", ci=True)),
        ('x : ("a", "b")', eq("x", "a", "b", ci=True)),
        ('x : ("a*", "b")', Match(f("x"), (pat("a", ANY), pat("b")), True)),
        ('x : "a?c"', Match(f("x"), (pat("a", ONE, "c"),), True)),
        ("x : 5", eq("x", 5, ci=True)),
        ("x : (5, true)", eq("x", 5, True, ci=True)),
        ('x : ("a*", 5)', Or((Match(f("x"), (pat("a", ANY),), True), eq("x", 5, ci=True)))),
        # like / like~: always Match
        ('x like "v"', Match(f("x"), (pat("v"),), False)),
        ('x like~ ("a*", "?b")', Match(f("x"), (pat("a", ANY), pat(ONE, "b")), True)),
        # in / in~ / not in
        ('x in ("a", "b")', eq("x", "a", "b")),
        ('x in ("a")', eq("x", "a")),
        ("x in (1, 2)", eq("x", 1, 2)),
        ('x in~ ("a", "b")', eq("x", "a", "b", ci=True)),
        ('x not in ("a", "b")', Not(eq("x", "a", "b"))),
        ('not x in ("a")', Not(eq("x", "a"))),
        ('x not in~ ("a")', Not(eq("x", "a", ci=True))),
        # regex
        (r'x regex "a\\.b.*"', Regex(f("x"), (r"a\.b.*",), False)),
        ('x regex~ ("a", "b")', Regex(f("x"), ("a", "b"), True)),
        # numeric comparison, flipped when the literal is on the left
        ("x < 5", Compare(f("x"), "<", 5)),
        ("x <= 5", Compare(f("x"), "<=", 5)),
        ("x > -1", Compare(f("x"), ">", -1)),
        ("5 >= x", Compare(f("x"), "<=", 5)),
        ("1.5 < x", Compare(f("x"), ">", 1.5)),
        # string functions: the literal argument is literal text
        ('startsWith(x, "a*")', Match(f("x"), (pat("a*", ANY),), False)),
        ('startsWith~(x, "a")', Match(f("x"), (pat("a", ANY),), True)),
        ('endsWith(x, "a")', Match(f("x"), (pat(ANY, "a"),), False)),
        ('endsWith~(?x, "a")', Match(f("x", optional=True), (pat(ANY, "a"),), True)),
        ('stringContains(x, "a?")', Match(f("x"), (pat(ANY, "a?", ANY),), False)),
        ('stringContains~(x, "a")', Match(f("x"), (pat(ANY, "a", ANY),), True)),
        ('startsWith(x, "")', Match(f("x"), (pat(ANY),), False)),
        ('stringContains(x, "")', Match(f("x"), (pat(ANY),), False)),
        ('wildcard(x, "a*", "b?")', Match(f("x"), (pat("a", ANY), pat("b", ONE)), False)),
        ('wildcard~(x, "a")', Match(f("x"), (pat("a"),), True)),
        ("length(x) > 3", Compare(Length(f("x")), ">", 3)),
        ("length(x) == 0", Compare(Length(f("x")), "==", 0)),
        ("length(x) != 3", Not(Compare(Length(f("x")), "==", 3))),
        ("3 <= length(x)", Compare(Length(f("x")), ">=", 3)),
        # boolean structure: precedence or < and < not, flattening, parentheses
        ("a == 1 or b == 2 and c == 3", Or((eq("a", 1), And((eq("b", 2), eq("c", 3)))))),
        ("not a == 1 and b == 2", And((Not(eq("a", 1)), eq("b", 2)))),
        ("not (a == 1 or b == 2)", Not(Or((eq("a", 1), eq("b", 2))))),
        ("not not a == 1", Not(Not(eq("a", 1)))),
        ("a == 1 and (b == 2 and c == 3)", And((eq("a", 1), eq("b", 2), eq("c", 3)))),
        ("(a == 1 or b == 2) or c == 3", Or((eq("a", 1), eq("b", 2), eq("c", 3)))),
        ("(x) == 1", eq("x", 1)),
        ("true", Const(True)),
        ("false or x == 1", Or((Const(False), eq("x", 1)))),
        # comments and whitespace
        ("x == 1 // trailing comment", eq("x", 1)),
        ("x /* inline */ == 1", eq("x", 1)),
    ],
)
def test_eql_ast(condition: str, expected: Expr) -> None:
    assert where(condition) == expected


def test_cidr_match_in_any_case_of_its_name() -> None:
    query = parse_query('network where cidrmatch(source.ip, "10.0.0.0/8", "::1")', "eql")
    assert query.where == CidrMatch(FieldRef("source.ip"), ("10.0.0.0/8", "::1"))


def test_any_category_and_backquoted_category() -> None:
    assert parse_query("any where true", "eql") == Query("eql", Const(True), "any")
    assert parse_query("`my cat` where true", "eql").category == "my cat"


@pytest.mark.parametrize(
    ("query", "construct", "pos"),
    [
        ("sequence by host.id [process where true] [file where true]", "sequence", Pos(1, 1)),
        ("join [process where true] [file where true]", "join", Pos(1, 1)),
        ("sample by host.id [process where true]", "sample", Pos(1, 1)),
        ("process where x == 1\n| head 5", "pipe", Pos(2, 1)),
        ('process where x == "|" | unique x', "pipe", Pos(1, 24)),
        ("process where x + 1 == 2", "arithmetic", Pos(1, 17)),
        ("process where x == 2 * 3", "arithmetic", Pos(1, 22)),
        ("process where - x == 1", "arithmetic", Pos(1, 15)),
        ("process where x == y", "field comparison", Pos(1, 20)),
        ("process where x in (y)", "field comparison", Pos(1, 21)),
        ("process where length(x) > length(y)", "field comparison", Pos(1, 27)),
        ('process where x < "a"', "string ordering", Pos(1, 19)),
        ("process where x < true", "boolean ordering", Pos(1, 19)),
        ("process where x < null", "null ordering", Pos(1, 15)),
        ('process where x in ("a", null)', "null in list", Pos(1, 26)),
        ("process where 1 == 1", "constant comparison", Pos(1, 15)),
        ("process where x", "bare value", Pos(1, 15)),
        ("process where (a == 1) == true", "boolean comparison", Pos(1, 16)),
        ('network where cidrMatch~(source.ip, "10.0.0.0/8")', "function cidrMatch~", Pos(1, 15)),
        ("network where cidrMatch(source.ip, 10)", "function cidrMatch", Pos(1, 15)),
        ('process where x == concat("a", "b")', "function concat", Pos(1, 20)),
        ('process where STARTSWITH(x, "a")', "function STARTSWITH", Pos(1, 15)),
        ("process where startsWith(x, y)", "function startsWith", Pos(1, 15)),
        ('process where startsWith("a", x)', "function startsWith", Pos(1, 15)),
        ('process where startsWith(x, "a", "b")', "function startsWith", Pos(1, 15)),
        ("process where wildcard(x)", "function wildcard", Pos(1, 15)),
        ("process where length(x)", "function length", Pos(1, 15)),
        ('process where length(x) == "3"', "function length", Pos(1, 28)),
        ("process where length~(x) > 1", "function length~", Pos(1, 15)),
        ('process where startsWith(x, "a") == true', "function startsWith", Pos(1, 15)),
        ('process where length(x) : "a"', "function length", Pos(1, 15)),
    ],
)
def test_eql_unsupported(query: str, construct: str, pos: Pos) -> None:
    with pytest.raises(UnsupportedConstruct) as info:
        parse_query(query, "eql")
    assert (info.value.construct, info.value.pos) == (construct, pos)


@pytest.mark.parametrize(
    ("query", "pos", "message"),
    [
        ("process where x == 'a'", Pos(1, 20), "single-quoted strings are not EQL"),
        ("process where x == ?'a'", Pos(1, 20), "single-quoted strings are not EQL"),
        ("process where x = 1", Pos(1, 17), "'=' is not an EQL comparison; use '=='"),
        ("process where\n  x ==", Pos(2, 7), "unexpected end of query; expected '('"),
        ('process where x == "open', Pos(1, 20), "unexpected '\"'"),
        ("process where x == 1 and", Pos(1, 25), "unexpected end of query"),
        ("process x == 1", Pos(1, 9), "unexpected 'x'; expected 'where'"),
        ("proc.ess where true", Pos(1, 1), "event category proc.ess is not a name"),
        ('process where x : ("a" "b")', Pos(1, 24), "unexpected '\"b\"'"),
        ('process where x in ("a",)', Pos(1, 25), "unexpected ')'"),
        ("process where x like 5", Pos(1, 22), "like needs string patterns, not 5"),
        ("process where x regex~ (true)", Pos(1, 25), "regex needs string patterns"),
        ('process where x == "\\u{110000}"', Pos(1, 20), "invalid unicode escape"),
        ('process where x == "\\q"', Pos(1, 20), "unexpected '\"'"),
        ("process where x == 1 AND y == 2", Pos(1, 22), "unexpected 'AND'"),
        ('process where x == ("a", "b")', Pos(1, 20), "a list cannot be compared with =="),
    ],
)
def test_eql_syntax_errors(query: str, pos: Pos, message: str) -> None:
    with pytest.raises(RuleSyntaxError) as info:
        parse_query(query, "eql")
    assert info.value.pos == pos
    assert info.value.message.startswith(message), info.value.message


def test_eql_positions() -> None:
    expr = parse_query('process where a == 1 and\n  not startsWith(b, "x")', "eql").where
    assert isinstance(expr, And)
    first, negation = expr.children
    assert isinstance(first, Equals) and isinstance(negation, Not)
    assert (expr.pos, first.pos, first.field.pos) == (Pos(1, 15), Pos(1, 15), Pos(1, 15))
    assert negation.pos == Pos(2, 3)
    match = negation.child
    assert isinstance(match, Match)
    assert (match.pos, match.field.pos) == (Pos(2, 7), Pos(2, 18))


# ----------------------------------------------------------------- eql package as an oracle

ORACLE_CASES = [
    'process where x == "v"',
    'process where x : ("a*", "b")',
    'process where x like~ "a?"',
    'process where x regex "a.*"',
    'process where x in ("a", "b") and not y in~ ("c")',
    'process where x not in ("a")',
    'process where startsWith~(x, "a") or endsWith(x, "b")',
    'process where stringContains(x, "a") and wildcard(x, "a*", "b")',
    "process where length(x) > 3",
    "process where ?x.y == 1 and `a b`.c == 2",
    'process where x == """raw\\"""',
    'process where x == "\\u{41}"',
    "any where true",
    "process where x != null",
    "process where x == .5",
    # rejected by both
    "process where x == 'a'",
    "process where x = 1",
    "process where x == 1 AND y == 2",
    "process WHERE x == 1",
    "process where x not like 'a'",
    'process where x : "a" or',
    "process where (x == 1",
    "process where x ==",
]


def _oracle_accepts(query: str) -> bool:
    eql = pytest.importorskip("eql")
    from eql.parser import elasticsearch_syntax, ignore_missing_functions

    try:
        with elasticsearch_syntax, ignore_missing_functions:
            eql.parse_query(query)
    except eql.EqlParseError:
        return False
    return True


@pytest.mark.parametrize("query", ORACLE_CASES)
def test_eql_package_agrees_on_acceptance(query: str) -> None:
    try:
        parse_query(query, "eql")
        ours = True
    except RuleSyntaxError:
        ours = False
    assert ours == _oracle_accepts(query)


# ----------------------------------------------------------------- escaping round trips


def _eql_string(value: str) -> str:
    escapes = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r"}
    return '"' + "".join(escapes.get(ch, ch) for ch in value) + '"'


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_round_trips_through_an_eql_string(value: str) -> None:
    text = _eql_string(value)
    assert where(f"x == {text}") == eq("x", value)
    assert where(f"x in ({text}, {text})") == eq("x", value, value)
    pattern = Pattern.parse(value, "*?")
    seq = where(f"x : {text}")
    if pattern.is_literal:
        assert seq == eq("x", value, ci=True)
    else:
        assert seq == Match(f("x"), (pattern,), True)
    assert where(f"startsWith(x, {text})") == Match(
        f("x"), (Pattern((value, ANY) if value else (ANY,)),), False
    )
