"""Golden SQL: rule text in, exact SQL out; every generated statement runs in the stand-in."""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path

import pytest

from ecsquery import osquery_sqlite
from ecsquery.errors import UnmappedField, UnsupportedConstruct
from ecsquery.rows import to_row
from ecsquery.rules.compile import (
    CompiledRule,
    compile_query,
    compile_rule,
    compile_rules,
    compile_where,
)
from ecsquery.rules.lang.ast import (
    And,
    Equals,
    FieldRef,
    Match,
    Or,
    Pattern,
    Query,
    Regex,
    Wild,
)
from ecsquery.rules.load import load_rule
from ecsquery.rules.model import Rule
from ecsquery.schema import FieldTable
from ecsquery.testing.reference import matches

FIXTURES = Path(__file__).parent / "fixtures" / "elastic-rules"
GOLDEN = Path(__file__).parent / "golden"
FIELDS = FieldTable()
REGENERATE = os.environ.get("ECSQUERY_REGEN_GOLDEN") == "1"
"""``ECSQUERY_REGEN_GOLDEN=1 pytest tests/test_sql.py`` rewrites every golden ``.sql`` file
from the current compiler (sqlglot's fixture files); review the diff, then commit it."""
LANGUAGES = {".kql": "kuery", ".eql": "eql"}


def golden(path: Path, actual: str) -> None:
    """Compare with (or, when regenerating, write) a golden file; one SQL text per file."""
    if REGENERATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual + "\n", encoding="utf-8")
    assert path.read_text(encoding="utf-8") == actual + "\n"


def rule(query: str, language: str = "eql", rule_id: str = "r1") -> Rule:
    return Rule(
        slug="t",
        rule_id=rule_id,
        name="t",
        description="",
        type="eql" if language == "eql" else "query",
        language=language,
        query=query,
        severity="high",
        risk_score=73,
        from_="now-9m",
    )


def runs(compiled: CompiledRule) -> None:
    conn = osquery_sqlite.connect(now=1000)
    conn.execute(compiled.sql).fetchall()


SEEDS = sorted(p for p in GOLDEN.iterdir() if p.suffix in LANGUAGES)
RULE_FILES = sorted(str(p.relative_to(FIXTURES)) for p in FIXTURES.rglob("*.toml"))


@pytest.mark.parametrize("source", SEEDS, ids=lambda p: p.stem)
def test_seed_queries_golden_sql(source: Path) -> None:
    """The seed rules' query text verbatim (``golden/<name>.kql|eql``) → the whole pack SQL."""
    query = source.read_text(encoding="utf-8")
    compiled = compile_rule(rule(query, LANGUAGES[source.suffix]))
    golden(source.with_suffix(".sql"), compiled.sql)
    runs(compiled)


def where_clause(compiled: CompiledRule) -> str:
    """The pack SQL's WHERE clause, one conjunct a line (the column list is schema.py's)."""
    return compiled.sql.split("\nWHERE ", 1)[1]


@pytest.mark.parametrize("name", RULE_FILES)
def test_fixture_rules_golden_where(name: str) -> None:
    """Each fixture rule → ``golden/elastic-rules/<same path>.sql`` (its WHERE clause)."""
    compiled = compile_rule(load_rule(FIXTURES / name))
    golden(GOLDEN / "elastic-rules" / Path(name).with_suffix(".sql"), where_clause(compiled))
    assert compiled.where in compiled.sql.replace("\n  AND ", " AND ")
    runs(compiled)


TABLE_RULES = [
    "elastic-rules-mac/privilege_escalation_root_crontab_filemod",
    "elastic-rules-mac/persistence_shell_profile_modification",
    "elastic-rules-mac/initial_access_ollama_api_external_access",
    "elastic-rules-multi/execution_installer_package_spawned_network_event",
    "elastic-rules-multi/persistence_creation_change_launch_agents_file",
    "elastic-rules-mac/discovery_system_and_network_configuration_check",
    "elastic-rules-mac/persistence_evasion_hidden_launch_agent_deamon_creation",
    "elastic-rules-mac/defense_evasion_elastic_agent_service_terminated",
    "elastic-rules-mac/credential_access_genai_process_sensitive_file_access",
    "elastic-rules-mac/impact_hosts_file_modified",
]
"""File and network rules (EQL, KQL, cidrMatch) and sequences with network and file steps:
their whole pack SQL, which names the table each reads."""


@pytest.mark.parametrize("name", TABLE_RULES)
def test_file_and_network_rules_golden_sql(name: str) -> None:
    from ecsquery.rules.importer import read_elastic_toml

    path = FIXTURES.parent / f"{name}.toml"
    _, data = read_elastic_toml(path)
    compiled = compile_rule(Rule.from_mapping(data, slug=path.stem, source=str(path)))
    golden(GOLDEN / f"{name}.sql", compiled.sql)
    runs(compiled)


def test_every_golden_file_has_its_source() -> None:
    sources = (
        {p.with_suffix(".sql") for p in SEEDS}
        | {GOLDEN / "elastic-rules" / Path(n).with_suffix(".sql") for n in RULE_FILES}
        | {GOLDEN / f"{n}.sql" for n in TABLE_RULES}
    )
    assert set(GOLDEN.rglob("*.sql")) == sources


TRICKY = ["it's", "50%", "a_b", "a*b", "[x]", "back\\slash", "Straße", "ÉCOLE", "dump-keychain"]
DATA = [
    *TRICKY,
    "its",
    "50x",
    "50%%",
    "aXb",
    "a*b*",
    "x",
    "[X]",
    "back/slash",
    "back\\\\slash",
    "STRASSE",
    "straße",
    "école",
    "École",
    "DUMP-KEYCHAIN",
    "dump-keychain-x",
    "",
    "'",
    "%",
    "_",
    "*",
    "?",
]


def hand(expr: Equals | Match | Regex) -> CompiledRule:
    return compile_query(rule("any where true"), Query("eql", expr))


@pytest.mark.parametrize("value", TRICKY)
@pytest.mark.parametrize("ci", [False, True])
@pytest.mark.parametrize("kind", ["equals", "match", "prefix", "array"])
def test_special_characters_never_break_or_widen(value: str, ci: bool, kind: str) -> None:
    field = FieldRef("process.args" if kind == "array" else "process.name")
    expr: Equals | Match
    if kind in ("equals", "array"):
        expr = Equals(field, (value,), ci)
    else:
        parts = (value,) if kind == "match" else (value, Pattern.parse("*").parts[0])
        expr = Match(field, (Pattern(parts),), ci)  # type: ignore[arg-type]
    compiled = hand(expr)
    conn = osquery_sqlite.connect(now=1000)
    docs = [
        {"process.name": d, "process.args": [d], "event.id": str(i)} for i, d in enumerate(DATA)
    ]
    rows = [to_row(d, FIELDS) | {"time": "999"} for d in docs]
    osquery_sqlite.insert_rows(conn, rows)
    got = {r[5] for r in conn.execute(compiled.sql)}
    expected = {d["event.id"] for d in docs if matches(compiled.query, d)}
    assert got == expected
    assert str(DATA.index(value)) in got  # the value itself always matches


def test_quotes_are_doubled_and_nothing_else_is_escaped() -> None:
    assert hand(Equals(FieldRef("process.name"), ("it's\\%_",))).where == (
        "process_name = 'it''s\\%_'"
    )
    assert hand(Match(FieldRef("process.name"), (Pattern(("a*?[", Wild.ANY)),))).where == (
        "process_name GLOB 'a[*][?][[]*'"
    )


@pytest.mark.parametrize("bad", ["nul\x00", "lone\ud800"])
def test_unrepresentable_text_is_refused(bad: str) -> None:
    with pytest.raises(UnsupportedConstruct) as err:
        hand(Equals(FieldRef("process.name"), (bad,)))
    assert err.value.rule == "r1"


def test_errors_name_the_rule_and_are_collected() -> None:
    good = rule((GOLDEN / "seed-001.eql").read_text(encoding="utf-8"), rule_id="good")
    unmapped = rule('process where file.path == "x"', rule_id="unmapped")
    broken = rule("process where (", rule_id="broken")
    compiled, errors = compile_rules([good, unmapped, broken])
    assert [c.rule.rule_id for c in compiled] == ["good"]
    assert [e.rule for e in errors] == ["unmapped", "broken"]
    assert isinstance(errors[0], UnmappedField)


def test_compile_where_for_exceptions() -> None:
    expr = Match(FieldRef("process.Ext.effective_parent.executable"), (Pattern.parse("/usr/*"),))
    assert compile_where(expr) == "process_effective_parent_executable GLOB '/usr/*'"


def test_signature_lookup_runs_after_the_cheap_terms() -> None:
    """``subject_name`` reads osquery's ``signature`` table for the executable (``schema._signer``),
    once the row's own terms hold; the other terms keep their order."""
    signer = Equals(
        FieldRef("process.parent.code_signature.subject_name"), ("Elasticsearch, Inc.",)
    )
    name = Equals(FieldRef("process.name"), ("x",))
    lookup = (
        "(CASE WHEN process_parent_executable GLOB '/*' THEN (SELECT NULLIF(authority, '')"
        " FROM signature WHERE path = process_parent_executable AND arch = ''"
        " AND hash_resources = 0 AND hash_executable = 0 LIMIT 1) END)"
    )
    assert (
        compile_where(And((signer, name)))
        == f"process_name = 'x' AND {lookup} = 'Elasticsearch, Inc.'"
    )
    assert (
        compile_where(Or((signer, name)))
        == f"({lookup} = 'Elasticsearch, Inc.' OR process_name = 'x')"
    )


def test_regex_compiles_to_anchored_regex_match() -> None:
    compiled = hand(Regex(FieldRef("process.name"), ("sec.*ty[0-9]{2}",), True))
    assert compiled.where == (
        "regex_match(NULLIF(process_name, ''), '^(?:(?:[Ss]|ſ)[Ee][Cc][\\s\\S]*[Tt][Yy][0-9]{2})$',"
        " 0) IS NOT NULL"
    )
    runs(compiled)


@pytest.mark.parametrize("pattern", ["a~b", "a&b", "<1-5>", "a@", "#", "a.b", "[é]", "[^a]"])
def test_regex_outside_the_exact_subset_is_refused(pattern: str) -> None:
    with pytest.raises(UnsupportedConstruct):
        hand(Regex(FieldRef("process.name"), (pattern,)))


BLOCKS = (
    "10.0.0.0/8",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.168.0.0/16",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "100.64.0.0/10",
    "10.9.9.8/31",
    "8.8.8.8",
    "255.255.255.255/32",
    "::1",
    "FE80::/10",
    "FF00::/8",
    "fc00::/7",
    "2001:db8::/128",
)
"""The corpus rules' blocks (perl, ollama: Elasticsearch's private and special ranges), plus the
corners osquery's ``in_cidr_block`` gets wrong alone: /31, /32, a block ending at the top."""


def _edges(block: str) -> list[str]:
    network = ipaddress.ip_network(block, strict=False)
    first, last = int(network.network_address), int(network.broadcast_address)
    top = 2**network.max_prefixlen - 1
    make = ipaddress.IPv4Address if network.version == 4 else ipaddress.IPv6Address
    out = [
        str(make(n))
        for n in {first - 1, first, first + 1, last - 1, last, last + 1}
        if 0 <= n <= top
    ]
    if network.version == 4:  # the same addresses IPv4-mapped, and in upper case
        out += [f"::ffff:{a}" for a in out] + [f"::FFFF:{out[0]}"]
    else:
        out += [a.upper() for a in out]
    return out


ADDRESSES = sorted({a for b in BLOCKS for a in _edges(b)} | {"", "0.0.0.0", "::", "not an ip"})


@pytest.mark.parametrize("negate", [False, True])
def test_cidr_match_is_elasticsearchs_on_osquerys_in_cidr_block(negate: bool) -> None:
    """Every block's first and last address, and their neighbours, as Elasticsearch's terms
    query on an ``ip`` field answers (the reference: ``ipaddress``), through osquery's
    ``in_cidr_block`` with its boost.asio ranges; the query never fails on any cell."""
    blocks = ", ".join(f'"{b}"' for b in BLOCKS)
    query = f"network where {'not ' if negate else ''}cidrMatch(destination.ip, {blocks})"
    compiled = compile_rule(rule(query))
    assert "FROM ecs_network_events" in compiled.sql
    network = FIELDS.for_category("network")
    assert network is not None
    docs = [
        {"event": {"category": ["network"], "id": str(i)}, "destination": {"ip": a}}
        for i, a in enumerate(ADDRESSES)
    ]
    conn = osquery_sqlite.connect(now=1000)
    rows = [to_row(d, network) | {"time": "1000"} for d in docs]
    osquery_sqlite.insert_rows(conn, rows, fields=network)
    got = {r[0] for r in conn.execute(f"SELECT event_id FROM ({compiled.sql})")}
    expected = {d["event"]["id"] for d in docs if matches(compiled.query, d)}
    assert got == expected
    assert len(expected) > 30 if not negate else len(expected) > 10


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ('cidrMatch(process.name, "10.0.0.0/8")', "on keyword field 'process.name'"),
        ('cidrMatch(destination.ip, "10.0.0.0/33")', "prefix length over 32"),
        ('cidrMatch(destination.ip, "10.0.0/8")', "does not appear to be an IPv4 or IPv6"),
        ('cidrMatch(destination.ip, "::ffff:10.0.0.0/104")', "IPv4-mapped IPv6 block"),
        ("cidrMatch(destination.ip)", "expects a field and one or more address blocks"),
        ('cidrMatch~(destination.ip, "::1")', "has no case-insensitive form"),
        ('destination.ip == "10.0.0.300"', "cannot be compared with ip field"),
        ('destination.ip : "10.*"', "wildcard: on ip field"),
    ],
)
def test_cidr_match_and_ip_terms_refuse_what_elasticsearch_would(call: str, message: str) -> None:
    with pytest.raises(UnsupportedConstruct, match=re.escape(message)):
        compile_rule(rule(f"network where {call}"))


def test_ip_literals_compare_as_addresses() -> None:
    compiled = compile_rule(rule('network where destination.ip in ("::FFFF:10.0.0.1", "FE80::1")'))
    assert "destination_ip IN ('10.0.0.1', 'fe80::1')" in compiled.sql
