"""KQL parser: every construct, its exact AST, and named errors with positions."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ecsquery.errors import Pos, RuleSyntaxError, UnsupportedConstruct
from ecsquery.rules.lang.ast import (
    And,
    Compare,
    Equals,
    Exists,
    Expr,
    FieldRef,
    Match,
    Not,
    Or,
    Pattern,
    Query,
    Wild,
)
from ecsquery.rules.lang.parse import parse_query

RULES = Path(__file__).parent / "fixtures" / "elastic-rules"
ANY = Wild.ANY


def f(name: str) -> FieldRef:
    return FieldRef(name)


def eq(name: str, *values: str) -> Equals:
    return Equals(f(name), values)


def kql(text: str) -> Expr:
    query = parse_query(text, "kuery")
    assert query.language == "kuery" and query.category is None
    return query.where


def rule_query(path: Path) -> tuple[str, str]:
    rule = tomllib.loads(path.read_text("utf-8"))["rule"]
    return rule["query"], rule["language"]


def test_seed_systemkey_exact_ast() -> None:
    text, language = rule_query(
        RULES / "history/credential_access_systemkey_dumping.fe8c81d762.toml"
    )
    assert language == "kuery"
    assert parse_query(text, language) == Query(
        language="kuery",
        where=And(
            (
                eq("event.category", "process"),
                eq("host.os.type", "macos"),
                eq("event.type", "start", "process_started"),
                eq("process.args", "/private/var/db/SystemKey", "/var/db/SystemKey"),
                Not(
                    eq(
                        "process.Ext.effective_parent.executable",
                        "/Library/Elastic/Endpoint/elastic-endpoint.app/Contents/MacOS/"
                        "elastic-endpoint",
                    )
                ),
            )
        ),
    )


def test_every_kuery_fixture_parses() -> None:
    paths = [p for p in sorted(RULES.rglob("*.toml")) if rule_query(p)[1] == "kuery"]
    assert len(paths) >= 4
    for path in paths:
        text, language = rule_query(path)
        assert isinstance(parse_query(text, language).where, And), path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # quoted: exact text, escapes \" \\ \t \r \n; other backslashes and * ? are literal
        ('a:"x y"', eq("a", "x y")),
        (r'a:"q\"b\\c\d*?"', eq("a", 'q"b\\c\\d*?')),
        (r'a:"t\tn\nr\r"', eq("a", "t\tn\nr\r")),
        ('a:"multi\nline"', eq("a", "multi\nline")),
        ('"quoted field":x', eq("quoted field", "x")),
        # unquoted: strings always; * is the only wildcard; escapes keep specials literal
        ("a:2", eq("a", "2")),
        ("a:true", eq("a", "true")),
        ("a:-0.5", eq("a", "-0.5")),
        ("a:what?", eq("a", "what?")),
        ("a:x*", Match(f("a"), (Pattern(("x", ANY)),))),
        ("a:*x*y", Match(f("a"), (Pattern((ANY, "x", ANY, "y")),))),
        (r"a:x\*", eq("a", "x*")),
        (r"a:\*x*", Match(f("a"), (Pattern(("*x", ANY)),))),
        (r"a:\(\)\:\<\>\"\{\}\\", eq("a", '():<>"{}\\')),
        (r"a:\or\AND\Not", eq("a", "orANDNot")),
        # as in Kibana's grammar, escaped whitespace wins: \not is a newline and "ot"
        (r"a:x\not", eq("a", "x\not")),
        (r"a:x\ty", eq("a", "x\ty")),
        (r"a:\u00e9t\u00E9", eq("a", "été")),
        ("a:été", eq("a", "été")),
        # unquoted values run over inner whitespace (verbatim) and are trimmed
        ("a:foo  bar", eq("a", "foo  bar")),
        ("a: foo bar* ", Match(f("a"), (Pattern(("foo bar", ANY)),))),
        (r"a:x\t", eq("a", "x")),
        ("a:order or b:android", Or((eq("a", "order"), eq("b", "android")))),
        ("a:notes", eq("a", "notes")),
        # exists
        ("a:*", Exists(f("a"))),
        ("a:(*)", Exists(f("a"))),
        # value lists: a boolean expression over one field; exact values merge in order
        ("a:(x or y or z)", eq("a", "x", "y", "z")),
        ("a:(x or y* or z)", Or((eq("a", "x", "z"), Match(f("a"), (Pattern(("y", ANY)),))))),
        ("a:(x and y)", And((eq("a", "x"), eq("a", "y")))),
        ("a:(not x)", Not(eq("a", "x"))),
        ("a:(x and not (y or z))", And((eq("a", "x"), Not(eq("a", "y", "z"))))),
        ('a:("p q" or r)', eq("a", "p q", "r")),
        ("a:(x or y) or a:z", Or((eq("a", "x", "y"), eq("a", "z")))),
        # keywords are case-insensitive; precedence not > and > or
        ("a:1 OR b:2 AnD c:3", Or((eq("a", "1"), And((eq("b", "2"), eq("c", "3")))))),
        ("not a:1 and b:2", And((Not(eq("a", "1")), eq("b", "2")))),
        ("NOT (a:1 or b:2)", Not(Or((eq("a", "1"), eq("b", "2"))))),
        (
            "a:1 and b:2 and (c:3 and d:4)",
            And(tuple(eq(k, v) for k, v in zip("abcd", "1234", strict=True))),
        ),
        ("(a:1)", eq("a", "1")),
        # ranges: numbers only
        ("a < 5", Compare(f("a"), "<", 5)),
        ("a<=5.5", Compare(f("a"), "<=", 5.5)),
        ("a > -2", Compare(f("a"), ">", -2)),
        ('a >= "7"', Compare(f("a"), ">=", 7)),
    ],
)
def test_kql_ast(text: str, expected: Expr) -> None:
    assert kql(text) == expected


def test_kql_alias_language_name() -> None:
    assert parse_query("a:b", "kql") == parse_query("a:b", "kuery")


@pytest.mark.parametrize(
    ("text", "construct", "pos"),
    [
        ("a:{b:c}", "KQL nested query", Pos(1, 1)),
        ("a:1 or\n  foo", "KQL free text", Pos(2, 3)),
        ('"just text"', "KQL free text", Pos(1, 1)),
        ("a:1 and proc*:x", "KQL wildcard field", Pos(1, 9)),
        ("a >= abc", "KQL range on text", Pos(1, 1)),
        ("a > 5*", "KQL range on text", Pos(1, 1)),
        ("a:null", "KQL null value", Pos(1, 3)),
        ("a:(x or 2.50)", "KQL number normalisation", Pos(1, 9)),
        ("a:10.0", "KQL number normalisation", Pos(1, 3)),
        ("a:.5", "KQL number normalisation", Pos(1, 3)),
        ("a:99999999999999999999", "KQL number normalisation", Pos(1, 3)),
    ],
)
def test_kql_unsupported(text: str, construct: str, pos: Pos) -> None:
    with pytest.raises(UnsupportedConstruct) as info:
        kql(text)
    assert (info.value.construct, info.value.pos) == (construct, pos)


@pytest.mark.parametrize(
    ("text", "pos", "message"),
    [
        ("a:", Pos(1, 3), "unexpected end of query; expected '(' or '{' or a quoted value"),
        ("a:b c:d", Pos(1, 6), "unexpected ':'"),
        ("a:(b", Pos(1, 5), "unexpected end of query; expected ')'"),
        ("a:b)", Pos(1, 4), "unexpected ')'"),
        ("a:b\nand and c:d", Pos(2, 10), "unexpected ':'"),
        ("a:b and", Pos(1, 8), "unexpected end of query"),
        ("a:foo not bar", Pos(1, 7), "unexpected 'not' inside a value; quote it"),
        (r"a:x\y", Pos(1, 4), "unexpected '\\\\'"),
        ('a:"open', Pos(1, 3), "unexpected '\"'"),
        ("a < ", Pos(1, 5), "unexpected end of query"),
    ],
)
def test_kql_syntax_errors(text: str, pos: Pos, message: str) -> None:
    with pytest.raises(RuleSyntaxError) as info:
        kql(text)
    assert info.value.pos == pos
    assert info.value.message.startswith(message), info.value.message


def test_kql_positions() -> None:
    where = kql("a:1 and\n  not b:(x or y*)")
    assert isinstance(where, And)
    first, negation = where.children
    assert isinstance(first, Equals) and isinstance(negation, Not)
    assert (where.pos, first.pos, first.field.pos) == (Pos(1, 1), Pos(1, 3), Pos(1, 1))
    assert negation.pos == Pos(2, 3)
    values = negation.child
    assert isinstance(values, Or)
    assert [c.pos for c in values.children] == [Pos(2, 10), Pos(2, 15)]


def test_error_carries_rule_after_with_rule() -> None:
    with pytest.raises(UnsupportedConstruct) as info:
        kql("foo")
    assert str(info.value.with_rule("r1")) == (
        "r1:1:1: unsupported KQL free text: a value without 'field:' searches every field"
    )


def test_unknown_language() -> None:
    with pytest.raises(UnsupportedConstruct) as info:
        parse_query("x", "lucene")
    assert info.value.construct == "language lucene"


# ----------------------------------------------------------------- escaping round trips

_SPECIALS = '\\():<>"*{}'


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_round_trips_through_a_quoted_value(value: str) -> None:
    quoted = value.replace("\\", "\\\\").replace('"', '\\"')
    assert kql(f'a:"{quoted}"') == eq("a", value)


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from([*_SPECIALS, "a", "Z", "é", "?", ".", "-", "/", "1"]), min_size=1))
def test_escaped_unquoted_value_is_literal_text(value: str) -> None:
    assume(not re.fullmatch(r"[-.\d]+", value) and value != "null")
    escaped = "".join("\\" + ch if ch in _SPECIALS else ch for ch in value)
    assert kql(f"a:{escaped}") == eq("a", value)
    assert kql(f"a:({escaped} or x)") == eq("a", value, "x")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["ab", "?", "é", r"\*", "*"]), min_size=1))
def test_only_unescaped_star_is_a_wildcard(pieces: list[str]) -> None:
    expected = Pattern.parse("".join("\0" if p == r"\*" else p for p in pieces), "*")
    expected = Pattern(
        tuple(p.replace("\0", "*") if isinstance(p, str) else p for p in expected.parts)
    )
    where = kql("a:" + "".join(pieces))
    if expected.parts == (ANY,):
        assert where == Exists(f("a"))
    elif expected.is_literal:
        assert where == eq("a", expected.literal())
    else:
        assert where == Match(f("a"), (expected,))
