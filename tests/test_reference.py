"""The reference evaluator: the seeds' named cases (also through SQL), the case rule, and
agreement with the ``eql`` package's engine on case-insensitive forms over scalar fields."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, get_args

import pytest

from ecsquery import osquery_sqlite
from ecsquery.rows import to_row
from ecsquery.rules.compile import CompiledRule, compile_rule
from ecsquery.rules.lang.ast import And, Equals, Expr, FieldRef, Match, Not, Or, Pattern
from ecsquery.rules.load import load_rule
from ecsquery.schema import FieldTable
from ecsquery.testing.reference import SEMANTICS, matches, wildcard_matches

eql = pytest.importorskip("eql")  # AGPL: a test oracle only

FIXTURES = Path(__file__).parent / "fixtures" / "elastic-rules"
FIELDS = FieldTable()
SYSTEMKEY_KQL = FIXTURES / "history" / "credential_access_systemkey_dumping.fe8c81d762.toml"
SYSTEMKEY_EQL = FIXTURES / "credential_access_systemkey_dumping.toml"
DUMP_COLON = FIXTURES / "history" / "credential_access_dumping_keychain_security.ab89dfb98d.toml"
DUMP_LIKE = FIXTURES / "credential_access_dumping_keychain_security.toml"
ENDPOINT = "/Library/Elastic/Endpoint/elastic-endpoint.app/Contents/MacOS/elastic-endpoint"


def event(args: list[str], **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "event": {"category": ["process"], "type": ["start"]},
        "host": {"os": {"type": "macos"}},
        "process": {"args": args, "name": args[0] if args else ""},
    }
    for dotted, value in extra.items():
        doc[dotted.replace("__", ".")] = value
    return doc


def both(path: Path, doc: dict[str, Any]) -> bool:
    """The verdict of the reference evaluator, checked equal to SQL's (NULL and '' modes)."""
    compiled = compile_rule(load_rule(path))
    verdict = matches(compiled.query, doc)
    for missing in ("osquery", "null", "empty"):
        conn = osquery_sqlite.connect(now=1000)
        osquery_sqlite.insert_rows(conn, [to_row(doc, FIELDS) | {"time": "999"}], missing=missing)
        assert bool(conn.execute(compiled.sql).fetchall()) is verdict, missing
    return verdict


@pytest.mark.parametrize("path", [DUMP_COLON, DUMP_LIKE])
def test_dump_keychain_with_d_hits(path: Path) -> None:
    assert both(path, event(["security", "dump-keychain", "-d"]))


def test_upper_case_dump_keychain_hits_the_seed_colon_version() -> None:
    assert both(DUMP_COLON, event(["security", "DUMP-KEYCHAIN", "-d"]))
    assert both(DUMP_LIKE, event(["security", "DUMP-KEYCHAIN", "-d"]))  # like~ folds too
    assert both(DUMP_COLON, event(["security", "dump-keychain", "-D"]))  # `:` folds "-d"
    assert not both(DUMP_LIKE, event(["security", "dump-keychain", "-D"]))  # `==` does not


@pytest.mark.parametrize("path", [DUMP_COLON, DUMP_LIKE])
def test_dump_keychain_without_d_does_not_hit(path: Path) -> None:
    assert not both(path, event(["security", "dump-keychain"]))


@pytest.mark.parametrize("path", [SYSTEMKEY_KQL, SYSTEMKEY_EQL])
@pytest.mark.parametrize("arg", ["/var/db/SystemKey", "/private/var/db/SystemKey"])
def test_systemkey_hits(path: Path, arg: str) -> None:
    assert both(path, event(["cat", arg]))
    assert not both(path, event(["cat", arg.lower()]))  # KQL `:` on keyword is exact


@pytest.mark.parametrize("path", [SYSTEMKEY_KQL, SYSTEMKEY_EQL])
def test_effective_parent(path: Path) -> None:
    base = ["cat", "/var/db/SystemKey"]
    excluded = {"process.Ext.effective_parent.executable": ENDPOINT}
    assert not both(path, event(base) | excluded)
    assert both(path, event(base))  # no effective parent still hits
    other = {"process.Ext.effective_parent.executable": "/bin/zsh"}
    assert both(path, event(base) | other)


@pytest.mark.parametrize("path", [SYSTEMKEY_KQL, SYSTEMKEY_EQL, DUMP_COLON, DUMP_LIKE])
def test_event_type_and_os(path: Path) -> None:
    args = ["security", "dump-keychain", "-d", "/var/db/SystemKey"]
    doc = event(args)
    doc["event"]["type"] = "process_started"  # a plain string, not a list
    assert both(path, doc)
    doc["event"]["type"] = ["change", "process_started"]
    assert both(path, doc)
    doc["event"]["type"] = ["end"]
    assert not both(path, doc)
    linux = event(args)
    linux["host"]["os"]["type"] = "linux"
    assert not both(path, linux)


def test_case_insensitive_rule_follows_lucene_case_folding() -> None:
    """One declared Elasticsearch (current 9.x, Lucene ``CaseFolding.expand``), ASCII or not."""
    ci = Pattern(("straße",))
    assert wildcard_matches(ci, "STRAßE", True)
    assert wildcard_matches(ci, "STRA\u1e9eE", True)  # ß ↔ ẞ is in Lucene's special table
    assert not wildcard_matches(ci, "STRASSE", True)  # one code point never matches two
    assert wildcard_matches(Pattern(("k",)), "K", True)
    assert wildcard_matches(Pattern(("k",)), "\u212a", True)  # KELVIN SIGN, as Lucene folds it
    assert wildcard_matches(Pattern(("\u212a",)), "k", True)
    assert wildcard_matches(Pattern(("s",)), "\u017f", True)  # LONG S
    assert wildcard_matches(Pattern(("é",)), "É", True)
    assert wildcard_matches(Pattern(("É",)), "é", True)
    assert wildcard_matches(Pattern(("σ",)), "ς", True)
    assert not wildcard_matches(Pattern(("k",)), "\u212a", False)
    assert wildcard_matches(Pattern.parse("a?c*"), "abcdef", False)
    assert not wildcard_matches(Pattern.parse("a?c"), "ac", False)


def test_not_is_true_for_missing_fields() -> None:
    from ecsquery.rules.lang.ast import Query

    name = FieldRef("process.name")
    q = Query("eql", Not(Or((Equals(name, ("a",)), And((Match(name, (Pattern.parse("b*"),)),))))))
    assert matches(q, {})
    assert matches(q, {"process": {"name": ""}})
    assert not matches(q, {"process": {"name": "bcd"}})


# ------------------------------------------------------------------ eql package as an oracle

# The eql package treats "?" as a literal character (ES EQL: one code point), so the oracle
# only sees "*" patterns; "?" is covered by the SQL-vs-reference property tests.
SCALAR_CI_QUERIES = [
    'process where process.name : ("bash", "python*", "*url")',
    'process where process.parent.name like~ ("Google Chrome Helper*", "Safari")',
    'process where process.command_line : "*with administrator privileges"',
]


def _flip(rng: random.Random, text: str) -> str:
    return "".join(c.swapcase() if rng.random() < 0.5 else c for c in text)


@pytest.mark.parametrize("text", SCALAR_CI_QUERIES)
def test_reference_agrees_with_the_eql_engine_on_scalar_ci_forms(text: str) -> None:
    from ecsquery.rules.model import Rule

    rule = Rule("t", "t", "t", "", "eql", "eql", text, "high", 73)
    compiled: CompiledRule = compile_rule(rule)
    with eql.parser.elasticsearch_syntax, eql.parser.ignore_missing_functions:
        oracle = eql.parse_query(text)
    seeds = [
        "bash",
        "python3",
        "curl",
        "carl",
        "crl",
        "Google Chrome Helper (GPU)",
        "Safari",
        "osascript -e with administrator privileges",
        "sh",
        "Safari2",
        "xbash",
        "",
    ]
    rng = random.Random(7)
    docs = []
    for _ in range(2000):
        value = _flip(rng, rng.choice(seeds))
        if rng.random() < 0.2:
            value += rng.choice(["*", "?", "x", " "])
        process = {"name": value, "parent": {"name": value}, "command_line": value}
        docs.append({"event": {"category": ["process"]}, "process": process})
    hits: list[Any] = []
    engine = eql.PythonEngine()
    engine.add_query(oracle)
    engine.add_output_hook(lambda e: hits.append(e.events[0].data["i"]))
    engine.stream_events(
        [eql.Event("process", 0, dict(d, i=i)) for i, d in enumerate(docs) if d["process"]["name"]]
    )
    ours = {i for i, d in enumerate(docs) if matches(compiled.query, d)}
    assert ours == set(hits)
    assert ours


def test_every_node_type_has_reference_semantics() -> None:
    assert set(SEMANTICS) == set(get_args(Expr))
