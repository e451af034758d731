"""Exceptions: loading (good and bad files), the AST they become, the SQL, and the property that
an excepted event never alerts while every other event gets exactly the rule's own answer.

The property tests draw a seed per hypothesis example and expand it into a batch of events with
``random.Random`` (cheap), insert the batch once into osquery's SQL engine stand-in and compare
four answers per event: SQL and reference evaluator, with and without the exceptions. Whether an
event is excepted is decided by a small oracle written here from the *entries* (not from the
AST), so a mistake in ``apply_exceptions`` cannot hide behind the evaluator.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ast_support import leaves
from ecsquery import osquery_sqlite
from ecsquery.errors import RuleLoadError, UnmappedField, UnsupportedConstruct
from ecsquery.rows import get_path, to_row
from ecsquery.rules.compile import CompiledRule, compile_query, parse_rule_query
from ecsquery.rules.exceptions import (
    Comment,
    ExceptionEntry,
    ExceptionItem,
    apply_exceptions,
    exceptions_for,
    item_expr,
    load_exceptions,
    wildcard_pattern,
)
from ecsquery.rules.lang.ast import (
    And,
    Compare,
    Equals,
    Exists,
    FieldRef,
    Length,
    Match,
    Not,
    Or,
    Pattern,
    Query,
    Wild,
)
from ecsquery.rules.load import load_rule, rule_paths
from ecsquery.rules.model import Rule
from ecsquery.rules.sql.pushdown import hits_only, pushdown_terms, without_hits_only
from ecsquery.schema import EcsType, FieldTable
from ecsquery.testing.reference import matches

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules"
SYSTEMKEY = RULES / "credential_access_systemkey_dumping.yaml"
KEYCHAIN = RULES / "credential_access_dumping_keychain_security.yaml"
FAMILY = ROOT / "tests" / "fixtures" / "elastic-rules" / "macos-process"
FIELDS = FieldTable()
OSQUERYD = "/opt/osquery/lib/osquery.app/Contents/MacOS/osqueryd"
EXT = "/usr/local/osquery_extensions/ecsquery.ext"
BZ = "/Library/Backblaze.bzpkg/bztransmit"

BACKBLAZE = f"""\
- name: Backblaze copies SystemKey
  description: Our backup agent copies the System keychain key before each backup.
  comments:
    - comment: Verified with the vendor, ticket SEC-1234.
      created_by: alice@example.com
  entries:
    - field: process.Ext.effective_parent.executable
      operator: included
      type: match
      value: {BZ}
    - field: process.executable
      operator: included
      type: match_any
      value: [/bin/cp, /usr/bin/ditto]
"""

MORE = r"""
- name: Jamf helper outside /tmp
  description: every entry type and the excluded operator
  entries:
    - {field: process.parent.name, operator: included, type: wildcard, value: "Jamf*Helper?"}
    - {field: process.working_directory, operator: excluded, type: match, value: /tmp}
    - {field: user.name, operator: excluded, type: exists}
- name: signed admin tool
  description: typed fields (boolean, long) and a literal star in match_any
  entries:
    - {field: process.code_signature.trusted, operator: included, type: match, value: "true"}
    - field: process.code_signature.team_id
      operator: included
      type: match_any
      value: [ABCDE12345, "A*B"]
    - {field: process.parent.pid, operator: excluded, type: match, value: 1}
- name: escaped wildcard
  description: a backslash makes the next wildcard literal, as in Lucene
  entries:
    - {field: process.args, operator: included, type: wildcard, value: 'backup\*?-*'}
    - {field: process.Ext.effective_parent.name, operator: included, type: exists}
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def without_exceptions(rule: Rule) -> Rule:
    """The rule as the compiler sees it when the exceptions are applied by hand here, so the
    tests hold whether or not ``compile_rule`` applies ``rule.exceptions`` itself."""
    return replace(rule, exceptions=())


def compile_with(rule: Rule, items: tuple[ExceptionItem, ...]) -> CompiledRule:
    return compile_query(without_exceptions(rule), apply_exceptions(parse_rule_query(rule), items))


# --------------------------------------------------------------------------- loading


def test_shipped_defaults_apply_to_every_shipped_rule() -> None:
    defaults = load_exceptions(RULES / "_default.exceptions.yaml")
    assert [i.name for i in defaults] == [
        "osquery daemon as effective parent",
        "osquery daemon of Fleet's orbit as effective parent",
        "osquery daemon of Elastic Agent as effective parent",
        "eslogger started by the ecsquery extension",
        "eslogger started by the ecsquery extension under Fleet's orbit",
    ]
    parent = "process.Ext.effective_parent.executable"
    app = "osquery.app/Contents/MacOS/osqueryd"
    eslogger = ExceptionEntry("process.executable", "included", "match", "/usr/bin/eslogger")
    assert [i.entries for i in defaults] == [
        (ExceptionEntry(parent, "included", "match", OSQUERYD),),
        (
            ExceptionEntry(
                parent, "included", "wildcard", f"/opt/orbit/bin/osqueryd/macos-app/*/{app}"
            ),
        ),
        (
            ExceptionEntry(
                parent, "included", "wildcard", f"/Library/Elastic/Agent/data/elastic-agent-*/{app}"
            ),
        ),
        (ExceptionEntry("process.parent.args", "included", "match", EXT), eslogger),
        (
            ExceptionEntry(
                "process.parent.args",
                "included",
                "wildcard",
                "/opt/orbit/bin/extensions/ecsquery/macos/*/ecsquery.ext",
            ),
            eslogger,
        ),
    ]
    assert all(i.comments and i.comments[0].created_by == "ecsquery" for i in defaults)
    for path in rule_paths([RULES]):
        assert load_rule(path).exceptions == defaults
    assert "_default.exceptions.yaml" not in [p.name for p in rule_paths([RULES])]


def test_own_file_comes_after_the_defaults(tmp_path: Path) -> None:
    rule = write(tmp_path / "r.yaml", SYSTEMKEY.read_text(encoding="utf-8"))
    assert load_rule(rule).exceptions == ()
    write(tmp_path / "r.exceptions.yaml", BACKBLAZE)
    own = load_rule(rule).exceptions
    assert own == (
        ExceptionItem(
            name="Backblaze copies SystemKey",
            description="Our backup agent copies the System keychain key before each backup.",
            entries=(
                ExceptionEntry("process.Ext.effective_parent.executable", "included", "match", BZ),
                ExceptionEntry(
                    "process.executable", "included", "match_any", ("/bin/cp", "/usr/bin/ditto")
                ),
            ),
            comments=(Comment("Verified with the vendor, ticket SEC-1234.", "alice@example.com"),),
        ),
    )
    write(tmp_path / "_default.exceptions.yaml", MORE)
    assert [i.name for i in exceptions_for(rule)] == [
        "Jamf helper outside /tmp",
        "signed admin tool",
        "escaped wildcard",
        "Backblaze copies SystemKey",
    ]
    assert [p.name for p in rule_paths([tmp_path])] == ["r.yaml"]


def test_values_are_read_as_elastic_stores_them(tmp_path: Path) -> None:
    items = load_exceptions(write(tmp_path / "x.exceptions.yaml", MORE))
    assert items[1].entries[2].value == "1"  # YAML's bare number, back as text
    assert items[2].entries[0].value == "backup\\*?-*"
    assert load_exceptions(write(tmp_path / "e.exceptions.yaml", "# nothing yet\n")) == ()


ENTRY = "- {field: process.name, operator: included, type: match, value: x}"
BAD = [
    ("name: x\n", "{f}: expected a list of exception items, got dict"),
    ("- [1, 2\n", None),  # not YAML: message from the YAML parser
    ("- just text\n", "{f}:1:3: exception '#1': an item must be a mapping, got str"),
    (
        "- name: a\n  description: d\n",
        "{f}:1:3: exception 'a': 'entries' must be a non-empty list",
    ),
    (
        "- name: a\n  description: d\n  entries: []\n",
        "{f}:3:12: exception 'a': 'entries' must be a non-empty list",
    ),
    (
        f"- name: a\n  entries:\n  {ENTRY}\n",
        "{f}:1:3: exception 'a': 'description' must be a non-empty string",
    ),
    (
        f"- name: a\n  description: d\n  entires:\n  {ENTRY}\n",
        "{f}:1:3: exception 'a': unknown key 'entires' "
        "(expected one of name, description, comments, entries, item_id, type)",
    ),
    (
        f"- name: a\n  description: d\n  comments: [why]\n  entries:\n  {ENTRY}\n",
        "{f}:3:13: exception 'a': each comment must be a mapping with a 'comment' string",
    ),
    (
        "- name: a\n  description: d\n  entries:\n"
        "  - {field: process.name, operator: is, type: match, value: x}\n",
        "{f}:4:37: exception 'a' entry 1: operator 'is' is not one of included, excluded",
    ),
    (
        "- name: a\n  description: d\n  entries:\n"
        f"  {ENTRY}\n  - {{field: process.name, operator: included, type: is, value: x}}\n",
        "{f}:5:53: exception 'a' entry 2: unsupported type 'is': "
        "expected one of match, match_any, wildcard, exists",
    ),
    (
        "- name: a\n  description: d\n  entries:\n"
        "  - {field: process.name, operator: included, type: list, value: x}\n",
        "{f}:4:53: exception 'a' entry 1: unsupported type 'list': "
        "value lists live in Kibana; write the values with match_any",
    ),
    (
        "- name: a\n  description: d\n  entries:\n"
        "  - {field: process.name, operator: included, type: match_any, value: x}\n",
        "{f}:4:71: exception 'a' entry 1: a 'match_any' entry takes a non-empty list of values",
    ),
    (
        "- name: a\n  description: d\n  entries:\n"
        "  - {field: process.name, operator: included, type: match, value: ''}\n",
        "{f}:4:67: exception 'a' entry 1: value '' must be a non-empty string",
    ),
    (
        "- name: a\n  description: d\n  entries:\n"
        "  - {field: process.name, operator: included, type: match}\n",
        "{f}:4:5: exception 'a' entry 1: a 'match' entry needs a value",
    ),
    (
        "- name: a\n  description: d\n  entries:\n"
        "  - {field: process.name, operator: included, type: exists, value: x}\n",
        "{f}:4:68: exception 'a' entry 1: an 'exists' entry takes no value",
    ),
    (
        "- name: a\n  description: d\n  entries:\n"
        "  - {field: process.name, operator: included, type: wildcard, value: 1.5}\n",
        "{f}:4:70: exception 'a' entry 1: value 1.5 must be a non-empty string",
    ),
    (
        "- name: a\n  description: d\n  entries:\n  - {operator: included, type: exists}\n",
        "{f}:4:5: exception 'a' entry 1: 'field' must be a non-empty string (an ECS field name)",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_files_are_refused_by_file_item_and_entry(
    tmp_path: Path, text: str, message: str | None
) -> None:
    path = write(tmp_path / "r.exceptions.yaml", text)
    with pytest.raises(RuleLoadError) as info:
        load_exceptions(path)
    if message is None:
        assert str(info.value).startswith(f"{path}: not valid YAML: ")
    else:
        assert str(info.value) == message.format(f=path)


def test_a_bad_exceptions_file_fails_its_rule_load(tmp_path: Path) -> None:
    rule = write(tmp_path / "r.yaml", SYSTEMKEY.read_text(encoding="utf-8"))
    write(tmp_path / "r.exceptions.yaml", "- 1\n")
    with pytest.raises(RuleLoadError, match="an item must be a mapping"):
        load_rule(rule)


def test_misnamed_exceptions_file_is_not_ignored(tmp_path: Path) -> None:
    rule = write(tmp_path / "r.yaml", SYSTEMKEY.read_text(encoding="utf-8"))
    stray = write(tmp_path / "r.exceptions.yml", BACKBLAZE)
    with pytest.raises(RuleLoadError) as info:
        load_rule(rule)
    assert str(info.value) == f"{stray}: exceptions files end in '.exceptions.yaml'; rename it"


# --------------------------------------------------------------------------- AST


def test_items_become_and_not_or_of_their_entries(tmp_path: Path) -> None:
    items = load_exceptions(write(tmp_path / "x.exceptions.yaml", BACKBLAZE + MORE))
    where = Equals(FieldRef("process.name"), ("security",))
    got = apply_exceptions(Query("eql", where, "process"), items)
    parent = FieldRef("process.Ext.effective_parent.executable")
    assert got == Query(
        "eql",
        And(
            (
                where,
                Not(
                    Or(
                        (
                            And(
                                (
                                    Equals(parent, (BZ,)),
                                    Equals(
                                        FieldRef("process.executable"),
                                        ("/bin/cp", "/usr/bin/ditto"),
                                    ),
                                )
                            ),
                            And(
                                (
                                    Match(
                                        FieldRef("process.parent.name"),
                                        (Pattern(("Jamf", Wild.ANY, "Helper", Wild.ONE)),),
                                    ),
                                    Not(Equals(FieldRef("process.working_directory"), ("/tmp",))),
                                    Not(Exists(FieldRef("user.name"))),
                                )
                            ),
                            And(
                                (
                                    Equals(FieldRef("process.code_signature.trusted"), ("true",)),
                                    Equals(
                                        FieldRef("process.code_signature.team_id"),
                                        ("ABCDE12345", "A*B"),
                                    ),
                                    Not(Equals(FieldRef("process.parent.pid"), ("1",))),
                                )
                            ),
                            And(
                                (
                                    Match(
                                        FieldRef("process.args"),
                                        (Pattern(("backup*", Wild.ONE, "-", Wild.ANY)),),
                                    ),
                                    Exists(FieldRef("process.Ext.effective_parent.name")),
                                )
                            ),
                        )
                    )
                ),
            )
        ),
        "process",
    )
    one = apply_exceptions(Query("kuery", where), items[:1])  # one item: no Or around it
    assert one.where == And((where, Not(item_expr(items[0]))))
    assert apply_exceptions(Query("kuery", where), ()) == Query("kuery", where)


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("a*b?c", ("a", Wild.ANY, "b", Wild.ONE, "c")),
        ("a\\*b", ("a*b",)),
        ("a\\\\*", ("a\\", Wild.ANY)),
        ("a\\", ("a\\",)),  # a trailing backslash is literal (Lucene is lenient there)
        ("\\?x\\y", ("?xy",)),
    ],
)
def test_wildcard_values_read_like_lucene(text: str, parts: tuple[str | Wild, ...]) -> None:
    assert wildcard_pattern(text) == Pattern(parts)


def test_an_exception_on_an_unknown_field_names_file_item_and_entry(tmp_path: Path) -> None:
    path = write(
        tmp_path / "r.exceptions.yaml",
        "- name: bad field\n  description: d\n  entries:\n"
        "    - {field: process.name, operator: included, type: match, value: x}\n"
        "    - {field: process.pe.original_file_name, operator: included, type: match, value: x}\n",
    )
    rule = load_rule(SYSTEMKEY)
    with pytest.raises(UnmappedField) as info:
        compile_with(rule, load_exceptions(path))
    assert str(info.value) == (
        f"{rule.rule_id}:{path}:5:7: exception 'bad field' entry 2: field "
        "'process.pe.original_file_name' has no column in the ECS process-events table"
    )


def test_exception_values_are_typed_like_the_rule_values(tmp_path: Path) -> None:
    path = write(
        tmp_path / "r.exceptions.yaml",
        "- name: star on a boolean\n  description: d\n  entries:\n"
        "    - {field: process.code_signature.trusted, operator: included, type: wildcard,"
        " value: 't*'}\n",
    )
    rule = load_rule(SYSTEMKEY)
    with pytest.raises(UnsupportedConstruct) as info:
        compile_with(rule, load_exceptions(path))
    assert str(info.value) == (
        f"{rule.rule_id}:{path}:4:7: exception 'star on a boolean' entry 1: "
        "unsupported wildcard: on boolean field 'process.code_signature.trusted'"
    )


# --------------------------------------------------------------------------- SQL


def test_golden_sql_of_systemkey_with_defaults_and_backblaze(tmp_path: Path) -> None:
    rule = load_rule(SYSTEMKEY)
    items = rule.exceptions + load_exceptions(write(tmp_path / "x.exceptions.yaml", BACKBLAZE))
    plain = compile_query(without_exceptions(rule), parse_rule_query(rule))
    compiled = compile_with(rule, items)
    pushed = " AND " + " AND ".join(pushdown_terms(plain.query.where, FieldTable()))
    assert compiled.where.endswith(pushed)  # the pushdown terms come last
    assert compiled.where[: -len(pushed)] == plain.where[: -len(pushed)] + (
        " AND NOT coalesce("
        f"process_effective_parent_executable = '{OSQUERYD}'"
        " OR process_effective_parent_executable GLOB"
        " '/opt/orbit/bin/osqueryd/macos-app/*/osquery.app/Contents/MacOS/osqueryd'"
        " OR process_effective_parent_executable GLOB"
        " '/Library/Elastic/Agent/data/elastic-agent-*/osquery.app/Contents/MacOS/osqueryd'"
        " OR EXISTS (SELECT 1 FROM json_each(NULLIF(process_parent_args, ''))"
        f" WHERE value = '{EXT}') AND process_executable = '/usr/bin/eslogger'"
        " OR EXISTS (SELECT 1 FROM json_each(NULLIF(process_parent_args, ''))"
        " WHERE value GLOB '/opt/orbit/bin/extensions/ecsquery/macos/*/ecsquery.ext')"
        " AND process_executable = '/usr/bin/eslogger'"
        f" OR process_effective_parent_executable = '{BZ}'"
        " AND process_executable IN ('/bin/cp', '/usr/bin/ditto'), 0)"
    )
    added = compiled.where[: -len(pushed)].removeprefix(plain.where[: -len(pushed)] + " AND ")
    assert without_hits_only(compiled.sql) == without_hits_only(plain.sql).replace(
        pushed.replace(" AND ", "\n  AND "),
        "\n  AND " + added + pushed.replace(" AND ", "\n  AND "),
        1,
    )
    assert compiled.sql == hits_only(without_hits_only(compiled.sql))


# --------------------------------------------------------------------------- properties

BATCH = 200
EXAMPLES = 25  # x 200 events x 3 rules = 15,000 events, about 4 s
NOW = 1_700_000_000
JUNK = "aZ09 -/._*?\\%[]'\"éÉßİıK\u212a"


class Events:
    """Random events whose fields take the rule's and the exceptions' literals, near misses
    (case flipped, a character more or less, wildcards taken literally), junk or nothing."""

    def __init__(self, query: Query) -> None:
        self.pool: dict[str, list[Any]] = {}
        for leaf in leaves(query.where):
            if isinstance(leaf, Compare):
                ref = leaf.left.field if isinstance(leaf.left, Length) else leaf.left
                lits: list[Any] = [leaf.value]
            elif isinstance(leaf, Equals):
                ref, lits = leaf.field, list(leaf.values)
            elif isinstance(leaf, Match):
                ref, lits = leaf.field, list(leaf.patterns)
            elif isinstance(leaf, Exists):
                ref, lits = leaf.field, []
            else:
                continue
            self.pool.setdefault(ref.name, []).extend(lits)

    def text(self, rng: random.Random, lits: list[Any], flip: float) -> str:
        lit = rng.choice(lits) if lits and rng.random() < 0.85 else None
        if lit is None:
            return "".join(rng.choice(JUNK) for _ in range(rng.randint(0, 5)))
        parts = lit.parts if isinstance(lit, Pattern) else (str(lit),)
        out = ""
        for part in parts:
            if part is Wild.ANY:
                out += "".join(rng.choice(JUNK) for _ in range(rng.choice((0, 1, 3))))
            elif part is Wild.ONE:
                out += rng.choice(JUNK)
            else:
                out += "".join(
                    (c.swapcase() if len(c.swapcase()) == 1 else c) if rng.random() < flip else c
                    for c in str(part)
                )
        roll = rng.random()
        if roll < 0.05:
            out += rng.choice(JUNK)
        elif roll < 0.1 and out:
            out = out[1:]
        elif roll < 0.15 and isinstance(lit, Pattern):
            out = str(lit)  # the wildcards as literal characters
        return out

    def event(self, rng: random.Random, missing: float, flip: float) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        for name, lits in self.pool.items():
            if rng.random() < missing:
                if rng.random() < 0.3:
                    doc[name] = rng.choice(([], "", None))
                continue
            column = FIELDS.by_ecs(name)
            assert column is not None
            if column.ecs_type is EcsType.BOOLEAN:
                doc[name] = rng.random() < 0.5
            elif column.ecs_type is EcsType.LONG:
                nums = [int(v) for v in lits if str(v).lstrip("-").isdigit()] or [0]
                doc[name] = rng.choice(nums) + rng.choice((0, 0, 1, -1))
            elif column.array:
                doc[name] = [self.text(rng, lits, flip) for _ in range(rng.choice((0, 1, 2, 4)))]
            else:
                doc[name] = self.text(rng, lits, flip)
        return doc


def values(doc: dict[str, Any], field: str) -> list[str]:
    """The field's values as Elastic's match_phrase compares them: text (true/false, digits)."""
    raw = get_path(doc, field)
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for v in items:
        if v is None or v == "":
            continue
        out.append(("true" if v else "false") if isinstance(v, bool) else str(v))
    return out


def lucene_wildcard(text: str) -> re.Pattern[str]:
    out, chars = "", iter(text)
    for ch in chars:
        if ch == "\\":
            out += re.escape(next(chars, "\\"))
        else:
            out += {"*": ".*", "?": "."}.get(ch, re.escape(ch))
    return re.compile(out, re.DOTALL)


def entry_holds(entry: ExceptionEntry, doc: dict[str, Any]) -> bool:
    vals = values(doc, entry.field)
    if entry.type == "exists":
        held = bool(vals)
    elif entry.type == "wildcard":
        assert isinstance(entry.value, str)
        held = any(lucene_wildcard(entry.value).fullmatch(v) for v in vals)
    else:
        wanted = entry.value if isinstance(entry.value, tuple) else (entry.value,)
        held = any(v in wanted for v in vals)
    return held if entry.operator == "included" else not held


def excepted(items: tuple[ExceptionItem, ...], doc: dict[str, Any]) -> bool:
    return any(all(entry_holds(e, doc) for e in item.entries) for item in items)


def sql_hits(conn: Any, compiled: CompiledRule) -> set[int]:
    event_id = FIELDS.names.index("event_id")
    return {int(r[event_id]) for r in conn.execute(compiled.sql)}


def property_rules() -> list[Path]:
    return [SYSTEMKEY, KEYCHAIN, FAMILY / "credential_access_credentials_keychains.toml"]


@pytest.fixture(scope="module")
def items(tmp_path_factory: pytest.TempPathFactory) -> tuple[ExceptionItem, ...]:
    path = tmp_path_factory.mktemp("exc") / "x.exceptions.yaml"
    defaults = load_exceptions(RULES / "_default.exceptions.yaml")
    return defaults + load_exceptions(write(path, BACKBLAZE + MORE))


@pytest.mark.parametrize("path", property_rules(), ids=lambda p: p.stem)
def test_excepted_events_never_alert_and_nothing_else_changes(
    path: Path, items: tuple[ExceptionItem, ...]
) -> None:
    rule = load_rule(path)
    plain = compile_query(without_exceptions(rule), parse_rule_query(rule))
    with_exc = compile_with(rule, items)
    maker = Events(with_exc.query)
    counts: Counter[str] = Counter()
    silenced_by: Counter[str] = Counter()

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(
        seed=st.integers(0, 2**32 - 1),
        missing=st.sampled_from((0.0, 0.1, 0.3)),
        flip=st.sampled_from((0.0, 0.02, 0.2)),
        store=st.sampled_from(("osquery", "null", "empty")),
    )
    def batch(seed: int, missing: float, flip: float, store: Any) -> None:
        rng = random.Random(seed)
        docs = [maker.event(rng, missing, flip) for _ in range(BATCH)]
        rows = []
        for i, doc in enumerate(docs):
            row = to_row(doc, FIELDS)
            row.update(time=str(NOW - 60), event_id=str(i))
            rows.append(row)
        conn = osquery_sqlite.connect(now=NOW)
        osquery_sqlite.insert_rows(conn, rows, missing=store)
        sql_plain, sql_with = sql_hits(conn, plain), sql_hits(conn, with_exc)
        conn.close()
        for i, doc in enumerate(docs):
            ref_plain, ref_with = matches(plain.query, doc), matches(with_exc.query, doc)
            got = (i in sql_plain, i in sql_with, ref_plain, ref_with)
            where = f"{path.stem} seed={seed} store={store}: {got} for {doc!r}"
            assert got[0] == ref_plain and got[1] == ref_with, where  # SQL = evaluator
            if excepted(items, doc):
                assert not ref_with and not got[1], where  # an excepted event never alerts
                counts["excepted, would alert" if ref_plain else "excepted"] += 1
                if ref_plain:
                    silenced_by.update(i.name for i in items if excepted((i,), doc))
            else:
                assert ref_with == ref_plain, where  # nothing else changes
                counts["alerts" if ref_plain else "silent"] += 1

    batch()
    assert sum(counts.values()) == EXAMPLES * BATCH
    # the interesting cases all occur: alerts kept, and alerts silenced by an exception
    assert counts["alerts"] > 0 and counts["excepted, would alert"] > 0, counts
    assert all(silenced_by[i.name] > 0 for i in items), silenced_by  # each one silenced some
