"""SQL-on-SQLite and the reference evaluator agree on every generated event, for every rule.

Each hypothesis example draws a seed and a few knobs (how often fields are missing, how
often case is flipped...) and expands them into a batch of events with ``random.Random``:
drawing 200 events value by value through hypothesis would cost minutes per rule, a seeded
expansion costs milliseconds, and the failing seed and event are printed on a mismatch. Each
batch is inserted twice, missing values as NULL and as ``''``, and run through the rule's
real pack SQL. ``derandomize=True`` keeps CI stable.

The events carry the value shapes where ecsquery and Elasticsearch could part (issue #11):
NUL and astral code points inside text, Lucene's special case alternates (KELVIN SIGN, LONG S),
numbers, booleans, nulls and nested lists inside array fields, lists in single-valued fields,
values over Elastic Defend's ``ignore_above`` (1,024) and ``""``. A document with several
values in a single-valued field is refused by the row encoder (``values.ListInScalar``, what
the extension counts as ``bad.list_in_scalar``); every other event must get the same answer.
A few hand-written queries add the constructs the fixture rules lack (``regex~`` with a range,
``length()``, case-insensitive letters with non-ASCII alternates).

File and network rules (from the Mac corpus, and hand-written ones with ``cidrMatch``) run on
their own tables, with the table's columns; ``ip`` fields get addresses at and around each
block's ends, IPv4-mapped and upper-case IPv6 spellings of them, and text that is no address.
"""

from __future__ import annotations

import ipaddress
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ast_support import eql_rule, leaves
from ecsquery import osquery_sqlite
from ecsquery.osquery_sqlite import row_table
from ecsquery.rows import to_row
from ecsquery.rules.compile import CompiledRule, compile_rule
from ecsquery.rules.lang.ast import (
    CidrMatch,
    Compare,
    Equals,
    Exists,
    Length,
    Match,
    Pattern,
    Regex,
    Wild,
)
from ecsquery.rules.load import load_rule
from ecsquery.rules.sql.union import ANY_FIELDS, UNION
from ecsquery.schema import TABLES, EcsType, FieldTable
from ecsquery.testing.reference import matches
from ecsquery.values import IGNORE_ABOVE, ListInScalar

FIXTURES = Path(__file__).parent / "fixtures" / "elastic-rules"
RULE_FILES = sorted(FIXTURES.rglob("*.toml"))
MAC = Path(__file__).parent / "fixtures" / "elastic-rules-mac"
TABLE_RULE_FILES = [
    MAC / f"{slug}.toml"
    for slug in (
        "privilege_escalation_root_crontab_filemod",
        "persistence_suspicious_launch_agent_or_launch_daemon",
        "persistence_shell_profile_modification",
        "persistence_hidden_plist_filename",
        "persistence_docker_shortcuts_plist_modification",  # Effective_process.name
        "persistence_evasion_hidden_launch_agent_deamon_creation",  # Persistence.name
        "initial_access_ollama_api_external_access",
        "credential_access_genai_process_sensitive_file_access",  # event.outcome
        "impact_hosts_file_modified",  # any where: a UNION ALL over the tables
    )
]
"""File and network rules of the Mac corpus (EQL and KQL), each on its own table."""
BATCH = 200
EXAMPLES = 50  # 50 batches x 200 events = 10,000 events per rule
NOW = 1_700_000_000
JUNK = "aZ09 -/._*?%[]'\"\\éÉßİıKK\u212aǅ\x00\U0001f600\U00010000ſẞµμςsSkxRr"
"""Characters for generated text: rule syntax, case oddities, NUL and astral code points."""
EXTRA_QUERIES = (
    'process where process.args regex~ "-[a-z]"',
    'process where process.name regex~ "[ks]x.*" or process.name regex "[^a-z]+"',
    "process where length(process.command_line) >= 4 and length(process.name) < 3",
    'process where process.name : ("k*", "*s", "é?") or process.args like~ "*ς*"',
    'network where not cidrMatch(source.ip, "10.0.0.0/8", "10.9.9.8/31", "8.8.8.8", "::1",'
    ' "fe80::/10", "ff00::/8") and destination.ip in ("192.168.0.1", "::FFFF:10.0.0.1")',
    'file where file.name : "*.plist" and not file.Ext.original.path : "/tmp/*"'
    " and file.extension != null",
)
NON_SCALAR = (1, 0, True, False, 1.5, None, [], ["k"], ["-d", ["x", None]], "")
"""Array elements Elasticsearch flattens or indexes as text."""


def fields_of(compiled: CompiledRule) -> FieldTable:
    """The table a compiled single-event rule reads (its SQL names it); every table's fields
    for an ``any where`` rule (a ``UNION ALL`` over the tables)."""
    if UNION in compiled.sql:
        return ANY_FIELDS
    return next(FieldTable.of(t) for t in TABLES if f"FROM {t.name}\n" in compiled.sql)


def near(block: str) -> list[str]:
    """Addresses at and around a block's first and last address, in several spellings."""
    network = ipaddress.ip_network(block)
    make = ipaddress.IPv4Address if network.version == 4 else ipaddress.IPv6Address
    top = 2**network.max_prefixlen - 1
    ends = (int(network.network_address), int(network.broadcast_address))
    out = [str(make(n + d)) for n in ends for d in (-1, 0, 1) if 0 <= n + d <= top]
    if network.version == 4:
        return out + [f"::ffff:{a}" for a in out]
    return out + [a.upper() for a in out]


class EventMaker:
    """Random ECS events built from one rule's fields and literals."""

    def __init__(self, compiled: CompiledRule) -> None:
        self.fields = fields = fields_of(compiled)
        self.strings: dict[str, list[str | Pattern]] = {}
        self.numbers: dict[str, list[int]] = {}
        self.addresses: dict[str, list[str]] = {}
        for leaf in leaves(compiled.query.where):
            if isinstance(leaf, CidrMatch):
                found = self.addresses.setdefault(leaf.field.name, [])
                found.extend(a for b in leaf.blocks for a in near(b))
                continue
            if isinstance(leaf, Equals | Match | Exists | Regex):
                name = leaf.field.name
            elif isinstance(leaf, Compare):
                name = leaf.left.field.name if isinstance(leaf.left, Length) else leaf.left.name
            else:
                continue
            column = fields.by_ecs(name)
            assert column is not None
            if column.ecs_type is EcsType.IP:
                found = self.addresses.setdefault(name, [])
                if isinstance(leaf, Equals):
                    found.extend(a for v in leaf.values for a in near(str(v)))
                continue
            if column.ecs_type is EcsType.LONG or column.ecs_type is EcsType.BOOLEAN:
                nums = self.numbers.setdefault(name, [])
                if isinstance(leaf, Compare) and not isinstance(leaf.left, Length):
                    nums.append(int(leaf.value))
                if isinstance(leaf, Equals):
                    nums.extend(int(v) for v in leaf.values if not isinstance(v, str))
                continue
            lits = self.strings.setdefault(name, [])
            if isinstance(leaf, Equals):
                lits.extend(str(v) for v in leaf.values)
            elif isinstance(leaf, Match):
                lits.extend(leaf.patterns)
        for name in ("host.os.type", "event.category", "event.type", "process.args"):
            self.strings.setdefault(name, [])
        self.strings["host.os.type"] += ["macos", "linux", "windows"]
        self.strings["event.category"] += ["process", "file", "network"]
        self.strings["event.type"] += ["start", "process_started", "end", "info"]

    def flip(self, rng: random.Random, text: str, p_flip: float) -> str:
        out = []
        for ch in text:
            if rng.random() < p_flip:
                alt = ch.upper() if ch.islower() else ch.lower()
                ch = alt if len(alt) == 1 else ch
            out.append(ch)
        return "".join(out)

    def junk(self, rng: random.Random, n: int) -> str:
        return "".join(rng.choice(JUNK) for _ in range(n))

    def text(self, rng: random.Random, lits: list[str | Pattern], p_flip: float) -> str:
        roll = rng.random()
        if not lits or roll < 0.1:
            return self.junk(rng, rng.randint(0, 6))
        lit = rng.choice(lits)
        if isinstance(lit, str):
            lit = Pattern((lit,)) if lit else Pattern(())
        parts: list[str] = []
        for part in lit.parts:
            if part is Wild.ANY:
                parts.append(self.junk(rng, rng.choice((0, 0, 1, 3))))
            elif part is Wild.ONE:
                parts.append(self.junk(rng, rng.choice((1, 1, 1, 0, 2))))
            else:
                parts.append(self.flip(rng, str(part), p_flip))
        value = "".join(parts)
        if roll < 0.2:
            value = self.junk(rng, 1) + value
        elif roll < 0.3:
            value = value + self.junk(rng, 1)
        elif roll < 0.35 and value:
            i = rng.randrange(len(value))
            value = value[:i] + value[i + 1 :]
        elif roll < 0.4:
            value = str(lit).replace("*", "").replace("?", "_")  # wildcards taken literally
        return value

    def element(self, rng: random.Random, lits: list[str | Pattern], flip: float) -> Any:
        if rng.random() < 0.08:
            return rng.choice(NON_SCALAR)
        return self.long(rng, self.text(rng, lits, flip))

    def long(self, rng: random.Random, text: str) -> str:
        """Now and then the same text beyond ``ignore_above`` (matched whole, on purpose)."""
        if rng.random() < 0.02:
            pad = "x" * (IGNORE_ABOVE + 1)
            return rng.choice((pad + text, text + pad, text[:1] + pad + text[1:]))
        return text

    def event(self, rng: random.Random, knobs: dict[str, float]) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        for name, addresses in self.addresses.items():
            if rng.random() < knobs["missing"]:
                continue
            roll = rng.random()
            if roll < 0.05:
                doc[name] = self.junk(rng, rng.randint(1, 6))  # no address: not indexed
            elif roll < 0.1:
                doc[name] = [rng.choice(addresses)]
            else:
                doc[name] = rng.choice(addresses or ["10.0.0.1"])
        fields = self.fields
        for name, lits in self.strings.items():
            if rng.random() < knobs["missing"]:
                if rng.random() < 0.3:
                    doc[name] = rng.choice(([], "", None, [""]))
                continue
            column = fields.by_ecs(name)
            assert column is not None
            if column.array:
                if name != "process.args" and rng.random() < 0.4:
                    doc[name] = self.text(rng, lits, knobs["flip"])  # a plain string
                else:
                    k = rng.choice((0, 1, 2, 3, 4, 6))
                    doc[name] = [self.element(rng, lits, knobs["flip"]) for _ in range(k)]
            else:
                doc[name] = self.long(rng, self.text(rng, lits, knobs["flip"]))
                if rng.random() < 0.3:  # several patterns on one field (``*a*`` and ``*b*``)
                    doc[name] += " " + self.text(rng, lits, knobs["flip"])
                if rng.random() < 0.03:  # a list in a single-valued field
                    doc[name] = [doc[name], *rng.choice(([], [doc[name]], ["macos"], [None]))]
        for name, nums in self.numbers.items():
            if rng.random() < knobs["missing"]:
                continue
            column = self.fields.by_ecs(name)
            assert column is not None
            if column.ecs_type is EcsType.BOOLEAN:
                doc[name] = rng.choice((True, False))
            else:
                doc[name] = rng.choice(nums or [0]) + rng.choice((-1, 0, 0, 1, 7))
        return doc


def load_compiled() -> list[CompiledRule]:
    compiled = [compile_rule(load_rule(path)) for path in [*RULE_FILES, *TABLE_RULE_FILES]]
    compiled += [compile_rule(eql_rule(q, f"extra-{n}")) for n, q in enumerate(EXTRA_QUERIES)]
    unique: dict[str, CompiledRule] = {}
    for c in compiled:
        unique.setdefault(c.where, c)
    return list(unique.values())


def served(doc: dict[str, Any], row: dict[str, str]) -> dict[str, Any]:
    """The document as its table holds it: a union rule's rows go to the table of their
    category (``osquery_sqlite.row_table``), which keeps only its own fields."""
    table = row_table(row)
    return {k: v for k, v in doc.items() if table.by_ecs(k) is not None}


def agree(compiled: CompiledRule, docs: list[dict[str, Any]], seed: int) -> int:
    fields = fields_of(compiled)
    union = fields is ANY_FIELDS
    rows = []
    refused: set[int] = set()
    for i, doc in enumerate(docs):
        try:
            row = to_row(doc, fields)
        except ListInScalar:
            refused.add(i)
            continue
        row["time"] = str(NOW - 60)
        row["event_id"] = str(i)
        rows.append(row)
        if union:
            docs[i] = served(doc, row)
    expected = {
        i for i, doc in enumerate(docs) if i not in refused and matches(compiled.query, doc)
    }
    REFUSED.append(len(refused))
    for missing in ("null", "empty"):
        conn = osquery_sqlite.connect(now=NOW)
        if union:
            osquery_sqlite.insert_routed(conn, rows, missing=missing)
        else:
            osquery_sqlite.insert_rows(conn, rows, missing=missing, fields=fields)
        cursor = conn.execute(compiled.sql)
        event_id = [d[0] for d in cursor.description].index("event_id")
        got = {int(r[event_id]) for r in cursor}
        conn.close()
        if got != expected:
            i = min(got ^ expected)
            raise AssertionError(
                f"{compiled.rule.slug} seed={seed} missing={missing}: SQL says "
                f"{i in got}, reference says {i in expected} for {docs[i]!r}\n{compiled.where}"
            )
    return len(expected)


RULES = load_compiled()
REFUSED: list[int] = []


def test_every_fixture_rule_compiles() -> None:
    assert len(RULE_FILES) == 23
    assert len(RULES) == len({c.where for c in RULES}) >= 20 + len(EXTRA_QUERIES)
    assert all(c.sql for c in RULES)


@pytest.mark.parametrize("compiled", RULES, ids=lambda c: c.rule.slug)
def test_sql_agrees_with_reference(compiled: CompiledRule) -> None:
    maker = EventMaker(compiled)
    hits: list[int] = []

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(
        seed=st.integers(0, 2**32 - 1),
        missing=st.sampled_from((0.0, 0.0, 0.1, 0.3, 0.6)),
        flip=st.sampled_from((0.0, 0.1, 0.5)),
    )
    def batch(seed: int, missing: float, flip: float) -> None:
        rng = random.Random(seed)
        docs = [maker.event(rng, {"missing": missing, "flip": flip}) for _ in range(BATCH)]
        hits.append(agree(compiled, docs, seed))

    REFUSED.clear()
    batch()
    assert len(hits) == EXAMPLES  # 10,000 events
    assert sum(hits) > 0, "the generator never produced a matching event"
    assert 0 < sum(REFUSED) < EXAMPLES * BATCH // 10  # lists in scalars: refused, not guessed


# --- fields looked up in osquery's signature table at query time -------------------------

LOOKUP_QUERY = (
    'process where process.name : "elastic-agent*" and not ('
    'process.parent.code_signature.subject_name == "Elasticsearch, Inc." and'
    ' process.code_signature.subject_name : "*elastic*")'
)
AGENT = "/Library/Elastic/Agent/elastic-agent"
AGENT_PARENT = "/Library/Elastic/Agent/elastic-agent-parent"


@pytest.mark.parametrize(
    ("parent", "own", "hit"),
    [
        (None, None, True),  # unsigned (no signature row): not excepted
        ("Elasticsearch, Inc.", None, True),
        ("Elasticsearch, Inc.", "Elasticsearch, Inc.", False),  # the exception
        ("elasticsearch, inc.", "Elasticsearch, Inc.", True),  # == is case-sensitive
        ("", "Elasticsearch, Inc.", True),  # authority "" (no certificate) is missing
    ],
)
def test_signature_lookups_agree_with_reference(
    parent: str | None, own: str | None, hit: bool
) -> None:
    """The document carries Defend's ``subject_name``s; the row cannot (no event does), so the
    SQL reads them from ``signature`` rows for the two executables, as osquery would."""
    compiled = compile_rule(eql_rule(LOOKUP_QUERY, "lookup"))
    process: dict[str, Any] = {"name": "elastic-agent", "executable": AGENT,
                               "parent": {"executable": AGENT_PARENT}}  # fmt: skip
    signers = {AGENT_PARENT: parent, AGENT: own}
    if parent is not None:
        process["parent"]["code_signature"] = {"subject_name": parent}
    if own is not None:
        process["code_signature"] = {"subject_name": own}
    doc = {"event": {"category": ["process"]}, "process": process}
    assert matches(compiled.query, doc) is hit
    fields = fields_of(compiled)
    row = to_row(doc, fields)
    assert "process_code_signature_subject_name" not in row  # not a served column
    row["time"] = str(NOW - 60)
    conn = osquery_sqlite.connect(now=NOW)
    osquery_sqlite.insert_rows(conn, [row], fields=fields)
    for path, authority in signers.items():
        if authority is not None:
            osquery_sqlite.insert_signature(conn, path, authority)
    assert len(conn.execute(compiled.sql).fetchall()) == int(hit)
    conn.close()
