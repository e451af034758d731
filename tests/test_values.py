"""The value shapes at the edges (issue #11): each one Elasticsearch's answer, or a refusal or
a deliberate difference that names itself, pinned through the real SQL and the reference."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ast_support import eql_rule
from ecsquery import osquery_sqlite
from ecsquery.errors import UnsupportedConstruct
from ecsquery.extension.pipeline import Pipeline
from ecsquery.extension.table import EcsProcessTable
from ecsquery.extension.window import Window
from ecsquery.replay.events import CaptureReader
from ecsquery.rows import to_row
from ecsquery.rules.compile import CompiledRule, compile_rule
from ecsquery.schema import FieldTable
from ecsquery.testing.reference import matches
from ecsquery.values import IGNORE_ABOVE, NUL_STANDIN, ListInScalar, case_alternates

FIELDS = FieldTable()
NOW = 1_700_000_000
STAMP = "2023-11-14T22:12:20.000Z"  # NOW - 60


def rule(query: str) -> CompiledRule:
    return compile_rule(eql_rule(query))


def process(**fields: Any) -> dict[str, Any]:
    """An ECS process document; keyword arguments are dotted names with ``__`` for ``.``."""
    doc: dict[str, Any] = {"event.category": ["process"], "host.os.type": "macos"}
    doc.update({k.replace("__", "."): v for k, v in fields.items()})
    return doc


def sql_says(compiled: CompiledRule, doc: dict[str, Any]) -> bool:
    conn = osquery_sqlite.connect(now=NOW)
    osquery_sqlite.insert_rows(conn, [to_row(doc, FIELDS) | {"time": str(NOW - 60)}])
    return bool(conn.execute(compiled.sql).fetchall())


def both(query: str, doc: dict[str, Any]) -> bool:
    """SQL on SQLite and the reference evaluator, which must agree."""
    compiled = rule(query)
    answer = sql_says(compiled, doc)
    assert matches(compiled.query, doc) is answer
    return answer


def feed(doc: dict[str, Any]) -> tuple[Pipeline, list[dict[str, str]]]:
    """One ECS document through the extension's pipeline as a JSON line, and the rows served."""
    window = Window(max_age=float("inf"))
    pipeline = Pipeline(window)
    pipeline.feed_line(json.dumps({"@timestamp": STAMP, **doc}), "replay")
    return pipeline, EcsProcessTable(window).generate(None)


# ------------------------------------------------------------------ NUL


def test_sqlite_ends_text_at_nul() -> None:
    """Why NUL is mapped: osquery's engine would read ``-d\\0x`` as ``-d`` (a false alert)."""
    conn = osquery_sqlite.connect(now=NOW)
    assert conn.execute("""SELECT value FROM json_each('["-d\\u0000x"]')""").fetchone() == ("-d",)


def test_nul_matches_as_elasticsearch_keeps_it() -> None:
    args = process(process__args=["security", "-d\x00x"])
    assert not both('process where process.args == "-d"', args)
    assert both('process where process.args : "-d?x"', args)  # NUL is one code point
    path = process(process__executable="/usr/bin/security\x00")
    assert both('process where not process.executable : "/usr/bin/security"', path)


def test_nul_is_mapped_and_counted_where_lines_are_read() -> None:
    pipeline, rows = feed(process(process__args=["-d\x00x"], process__name="a\x00"))
    assert pipeline.stats["mapped.nul"] == 1
    assert rows[0]["process_args"] == f'["-d{NUL_STANDIN}x"]'
    assert rows[0]["process_name"] == f"a{NUL_STANDIN}"
    reader = CaptureReader()
    line = json.dumps({"@timestamp": STAMP, **process(process__name="a\x00")})
    reader.read_lines([line.encode(), json.dumps({"@timestamp": STAMP}).encode()])
    assert reader.stats.nul_mapped == 1


@pytest.mark.parametrize("literal", ["a\x00", f"a{NUL_STANDIN}"])
def test_rule_literal_with_nul_or_its_standin_is_refused(literal: str) -> None:
    with pytest.raises(UnsupportedConstruct) as err:
        rule(f'process where process.name == "{literal}"')
    assert err.value.rule == "r1"


# ------------------------------------------------------------------ arrays and scalars


def test_array_elements_are_flattened_and_indexed_as_keyword_text() -> None:
    """Elasticsearch indexes a number or boolean in a keyword field as its text and flattens
    nested arrays (``[1, [2, 3]]`` is ``[1, 2, 3]``); nulls are skipped."""
    doc = process(process__args=["sh", 1, True, 1.5, [2, [None, "-x"]]])
    assert to_row(doc, FIELDS)["process_args"] == '["sh","1","true","1.5","2","-x"]'
    assert both('process where process.args == "true"', doc)
    assert both('process where process.args == "1.5"', doc)
    assert both('process where process.args : "2"', doc)
    assert both('process where process.args == "-x"', doc)
    assert not both('process where process.args == "None"', doc)


def test_list_in_a_scalar_field_is_refused_and_counted() -> None:
    """``host.os.type: ["m", "macos"]`` would match ``macos`` in Elasticsearch; ecsquery's row has
    one cell, so the document is left out with its reason (no source ecsquery reads builds one:
    eslogger, osquery rows and the process tree all produce one value per field)."""
    doc = process(host__os__type=["m", "macos"])
    with pytest.raises(ListInScalar, match=r"host\.os\.type has 2 values"):
        to_row(doc, FIELDS)
    pipeline, rows = feed(doc)
    assert (pipeline.stats["bad.list_in_scalar"], rows) == (1, [])
    _, rows = feed(process(host__os__type=["macos", "macos"], process__name=["sh"]))
    assert (rows[0]["host_os_type"], rows[0]["process_name"]) == ("macos", "sh")


# ------------------------------------------------------------------ the row model's limits


def test_values_over_ignore_above_match_on_purpose() -> None:
    """Elastic Defend maps ``process.args`` with ``ignore_above: 1024``
    (tests/fixtures/ecs-fields/endpoint_process_fields.yml): a longer argument is not indexed
    and no Elastic query matches it. ecsquery matches the whole value, a deliberate difference
    (README): a 1,025-character argument does not hide from the rule here."""
    long = "-d" + "x" * (IGNORE_ABOVE - 1)
    assert len(long) == IGNORE_ABOVE + 1
    assert both('process where process.args : "-d*"', process(process__args=[long]))


def test_empty_string_is_missing() -> None:
    """osquery's row model cannot tell ``""`` from missing (``schema``), so
    ``process.command_line != null`` is false for ``""`` where Elasticsearch says true."""
    empty = process(process__command_line="", process__args=[""])
    assert not both("process where process.command_line != null", empty)
    assert not both("process where process.args != null", empty)
    assert both('process where not process.command_line : "x"', empty)


# ------------------------------------------------------------------ functions and case


def test_length_counts_utf16_code_units() -> None:
    """EQL's ``LengthFunctionProcessor`` returns Java's ``String.length()``: U+1F600 is 2."""
    doc = process(process__name="\U0001f600", process__args=["a\U00010000\U0001f600é"])
    assert both("process where length(process.name) == 2", doc)
    assert not both("process where length(process.name) == 1", doc)
    assert both("process where length(process.args) == 6", doc)


def test_regex_ranges_stay_unfolded_under_regex_tilde() -> None:
    """Lucene folds single characters under case-insensitive regexps, not class ranges
    (apache/lucene#14378, elastic/elasticsearch#125412)."""
    upper = process(process__args=["-R"])
    assert not both('process where process.args regex~ "-[a-z]"', upper)
    assert both('process where process.args regex~ "-[a-z]"', process(process__args=["-r"]))
    assert both('process where process.args regex~ "-r"', upper)
    assert both('process where process.args regex~ "-[r]"', upper)


@pytest.mark.parametrize(
    ("literal", "data", "expected"),
    [
        ("k", "\u212a", True),  # KELVIN SIGN: in Lucene's CaseFolding.expand
        ("\u212a", "K", True),
        ("s", "\u017f", True),  # LONG S
        ("é", "É", True),
        ("ß", "\u1e9e", True),
        ("ß", "SS", False),
        ("σ", "ς", True),
        ("i", "İ", False),  # dotted capital I lower-cases to i, but i upper-cases to I only
    ],
)
def test_case_insensitive_forms_fold_as_lucene_does(
    literal: str, data: str, expected: bool
) -> None:
    doc = process(process__name=data)
    assert both(f'process where process.name : "{literal}"', doc) is expected
    assert both(f'process where process.name like~ "{literal}*"', doc) is expected
    assert not both(f'process where process.name == "{literal}"', doc)


def test_case_alternates_are_lucenes() -> None:
    assert case_alternates("k") == ("K", "\u212a")
    assert case_alternates("\u212a") == ("k", "K")
    assert case_alternates("ǅ") == ("Ǆ", "ǆ")
    assert case_alternates("İ") == ("i",)
    assert case_alternates("-") == ()
