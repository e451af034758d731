"""The ES|QL subset: parsing and refusals by name, and the SQL's rows equal the reference
interpreter's (``ecsquery.testing.multi.esql_rows``) on generated event streams."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from ecsquery import osquery_sqlite
from ecsquery.errors import UnsupportedConstruct
from ecsquery.rules.lang import esql
from ecsquery.rules.lang.esql import parse_esql
from ecsquery.rules.sql.multi_esql import compile_esql, regex_parts
from ecsquery.testing.multi import esql_rows
from multi_support import FIELDS, Table, agree_on_streams, many, slow

MULTI = Path(__file__).parent / "fixtures" / "elastic-rules-multi"

STREAMS = 300  # per shape: 2,100 for the class
SLOW_STREAMS = 10_000
TABLE = Table()
FROM = "FROM logs-endpoint.events.process-* METADATA _id, _index\n"
LONG_REGEX = r".*(a\s?\s?\s?\s?\s?\s?|c\d?\d?\d?\d?\d?\d?\d?|u\w?\w?\w?\w?\w?\w?).*"
"""Three alternatives, over 256 bytes once translated: two ``regex_match`` calls."""

SHAPES = {
    "filter": FROM + '| WHERE process.name IN ("a", "b") AND NOT (to_lower(user.name) LIKE "al*")\n'
    '| EVAL n = length(process.name), at = locate(process.name, "b")\n| WHERE n >= 1',
    "stats": FROM + '| WHERE event.category == "process"\n'
    "| STATS c = count_distinct(process.name), k = count(*), v = values(process.name),"
    " e = count(process.parent.entity_id) BY user.name, process.pid\n| WHERE c >= 2",
    "kql_case": FROM + '| WHERE KQL("process.args:-e or process.name:c")\n'
    '| EVAL t = CASE(process.name == "a", "A", process.name LIKE "b*", "B", "other"),'
    " b = date_trunc(1 second, @timestamp)\n"
    "| STATS n = count(*), d = count_distinct(t), first = min(@timestamp) BY process.entity_id, b\n"
    "| KEEP n, d, first, process.entity_id",
    "nulls_and_arrays": FROM + '| WHERE process.args IS NOT NULL AND (process.args == "-e"'
    ' OR process.parent.entity_id IS NULL OR process.name RLIKE "[ab]")',
    "mv_expand_stats": FROM + "| MV_EXPAND process.args\n"
    '| WHERE process.args != "x" OR process.args IS NULL\n'
    "| KEEP process.args, process.name, data_stream.dataset\n"
    "| STATS n = count(*), v = values(process.name), ds = values(data_stream.dataset)"
    " BY process.args",
    "mv_expand_rows": FROM + "| MV_EXPAND process.args\n| MV_EXPAND process.args\n"
    '| EVAL arg = CASE(process.args == "-e", "E", process.args IS NULL, "none", "other")\n'
    '| WHERE data_stream.dataset == "endpoint.events.process" AND data_stream.type == "logs"',
    "long_rlike": FROM + f'| WHERE process.name RLIKE """{LONG_REGEX}"""',
}


def row_names(pipeline: esql.Pipeline) -> list[str]:
    """The per-event columns compared: MV_EXPAND'ed fields and EVAL names."""
    names = [c.field for c in pipeline.commands if isinstance(c, esql.MvExpand)]
    names += [n for c in pipeline.commands if isinstance(c, esql.Eval) for n, _ in c.assignments]
    return list(dict.fromkeys(names))


def sql_rows(pipeline: esql.Pipeline, docs: list[dict[str, Any]], missing: str) -> list[Any]:
    rows = TABLE.run(compile_esql(pipeline, FIELDS, 600), docs, missing)  # type: ignore[arg-type]
    if pipeline.stats is None:
        names = row_names(pipeline)
        return sorted(json.dumps([r["event_id"], *(r[n] for n in names)]) for r in rows)
    out = []
    for row in rows:
        row = {k: sorted(json.loads(v)) if k in ("v", "ds") else v for k, v in row.items()}
        out.append(json.dumps(row, sort_keys=True))
    return sorted(out)


def reference_rows(pipeline: esql.Pipeline, docs: list[dict[str, Any]]) -> list[Any]:
    rows = esql_rows(pipeline, docs)
    if pipeline.stats is None:
        names = row_names(pipeline)
        return sorted(json.dumps([r["event.id"], *(r[n] for n in names)]) for r in rows)
    after = pipeline.commands[pipeline.commands.index(pipeline.stats) :]  # type: ignore[arg-type]
    keep = next((c.patterns for c in after if isinstance(c, esql.Keep)), None)
    return sorted(
        json.dumps({k: v for k, v in r.items() if keep is None or k in keep}, sort_keys=True)
        for r in rows
    )


@pytest.mark.parametrize(
    ("text", "construct"),
    [
        ("FROM logs-endpoint.events.process-* | LIMIT 5", "LIMIT"),
        ("FROM logs-endpoint.events.library-*", "FROM logs-endpoint.events.library-*"),
        (
            "FROM logs-endpoint.events.process-*, logs-endpoint.events.file-*",
            "FROM logs-endpoint.events.process-*, logs-endpoint.events.file-*",
        ),
        ('FROM logs-* | WHERE process.name == "a"', "FROM logs-*"),
        (
            'FROM logs-endpoint.events.process-* | EVAL x = concat(process.name, "a")',
            "function CONCAT",
        ),
        ("FROM logs-endpoint.events.process-* | STATS x = process.name", "STATS expression"),
        # a command answered outside the events is refused before an earlier unknown function
        (
            'FROM logs-endpoint.events.process-* | EVAL p = concat(process.name, "a")'
            ' | COMPLETION r = p WITH { "inference_id": "x" }',
            "COMPLETION",
        ),
        ("FROM logs-endpoint.events.process-* | ENRICH hosts ON host.name", "ENRICH"),
        ("FROM logs-endpoint.events.process-* | EVAL process.name", "unnamed column"),
    ],
)
def test_refused_by_name(text: str, construct: str) -> None:
    with pytest.raises(UnsupportedConstruct) as err:
        parse_esql(text)
    assert err.value.construct == construct


def test_wide_source_pinned_to_process_events_and_non_mac_sources() -> None:
    parse_esql('FROM logs-* | WHERE event.category == "process" and event.type == "start"')
    parse_esql("FROM logs-endpoint.events.process-*, logs-system.security-* | KEEP process.name")


@pytest.mark.parametrize(
    ("text", "construct", "reason"),
    [
        (
            '| MV_EXPAND _ignored | WHERE _ignored == "process.command_line"',
            "metadata field _ignored",
            "depends on the cluster's mappings",
        ),
        ('| WHERE _id == "x"', "metadata field _id", "an Elasticsearch document's metadata"),
        ('| WHERE agent.id == "x"', "field", "'agent.id' (one unknown value per host)"),
        ("| EVAL d = data_stream.namespace", "field", "outside STATS ... BY"),
        ("| EVAL a = process.name | MV_EXPAND a", "MV_EXPAND", "computed column 'a'"),
        (
            "| STATS n = count(*) BY process.name | MV_EXPAND process.name",
            "MV_EXPAND after STATS",
            "",
        ),
        ("| MV_EXPAND file.path", "field", "'file.path' has no column"),
    ],
)
def test_compile_refuses_by_name(text: str, construct: str, reason: str) -> None:
    pipeline = parse_esql(FROM + text)
    with pytest.raises(UnsupportedConstruct) as err:
        compile_esql(pipeline, FIELDS, 60)
    assert err.value.construct == construct
    assert reason in err.value.message


def test_long_rlike_is_split_at_its_top_level_alternatives() -> None:
    parts = regex_parts(LONG_REGEX)
    assert [len(p.encode()) for p in parts] == [165, 121]
    word = r"[0-9A-Z\x5fa-z]?"
    assert parts[1] == r"^(?:[\s\S]*(?:u" + word * 6 + r")[\s\S]*)$"
    assert regex_parts("a|b") == ["^(?:a|b)$"]
    with pytest.raises(UnsupportedConstruct, match="256 bytes"):
        regex_parts("(" + "a" * 300 + ")")  # one alternative: nothing to split


def test_data_stream_constants_and_host_constants_in_stats() -> None:
    sql = compile_esql(
        parse_esql(
            FROM + "| STATS d = values(data_stream.dataset), n = values(data_stream.namespace)"
            " BY agent.id, data_stream.type"
        ),
        FIELDS,
        60,
    )
    rows = TABLE.run(sql, [], "null")
    assert rows == []
    docs = [{"time": 1_700_000_000 - 5, "event": {"id": "e1"}, "process": {"name": "a"}}]
    (row,) = TABLE.run(sql, docs, "null")
    assert row == {
        "agent.id": "host",
        "data_stream.type": "logs",
        "d": '["endpoint.events.process"]',
        "n": '["host"]',
    }


def test_keep_before_stats_does_not_hide_the_aggregates() -> None:
    pipeline = parse_esql(FROM + "| KEEP process.name | STATS n = count(*) BY process.name")
    docs = [{"time": 1_700_000_000 - 5, "event": {"id": "e1"}, "process": {"name": "a"}}]
    assert TABLE.run(compile_esql(pipeline, FIELDS, 60), docs, "null") == [
        {"process.name": "a", "n": 1}
    ]


def test_mv_expand_keeps_distinct_elements_and_a_row_without_any() -> None:
    pipeline = parse_esql(FROM + "| MV_EXPAND process.args")
    docs = [
        {"time": 1_700_000_000 - 5, "event": {"id": "e1"}, "process": {"args": ["x", "-e", "x"]}},
        {"time": 1_700_000_000 - 5, "event": {"id": "e2"}, "process": {"args": []}},
    ]
    for missing in ("null", "empty"):
        rows = TABLE.run(compile_esql(pipeline, FIELDS, 60), docs, missing)  # type: ignore[arg-type]
        got = sorted((r["event_id"], r["process.args"] or "") for r in rows)
        assert got == [("e1", "-e"), ("e1", "x"), ("e2", "")]
    assert sorted((r["event.id"], r["process.args"] or "") for r in esql_rows(pipeline, docs)) == [
        ("e1", "-e"),
        ("e1", "x"),
        ("e2", ""),
    ]


def test_to_lower_only_against_ascii_text() -> None:
    pipeline = parse_esql(FROM + '| WHERE to_lower(process.name) == "é"')
    with pytest.raises(UnsupportedConstruct, match="non-ASCII"):
        compile_esql(pipeline, FIELDS, 60)


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_sql_equals_reference_on_streams(shape: str) -> None:
    agree(shape, STREAMS)


@pytest.mark.slow
@slow
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_sql_equals_reference_on_many_streams(shape: str) -> None:
    agree(shape, many(SLOW_STREAMS))


def spiced(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stream with repeated and empty arguments in some events: Elasticsearch stores a
    keyword array as a set of present values, so ``["-e", "-e", ""]`` is the single ``-e``."""
    out = []
    for i, doc in enumerate(docs):
        args = list(doc["process"]["args"])
        args += args[:1] if i % 3 == 0 else []
        args += [""] if i % 4 == 0 else []
        out.append({**doc, "process": {**doc["process"], "args": args}})
    return out


def agree(shape: str, count: int) -> None:
    pipeline = parse_esql(SHAPES[shape])
    agree_on_streams(
        count,
        lambda docs, missing: sql_rows(pipeline, spiced(docs), missing),
        lambda docs: reference_rows(pipeline, spiced(docs)),
        shape,
        n=10,
    )


@pytest.mark.parametrize(
    "slug",
    [
        "command_and_control_curl_activity_llm_triage",
        "command_and_control_wget_activity_llm_triage",
    ],
)
def test_llm_triage_rules_are_refused_for_their_completion(slug: str) -> None:
    """Elastic's LLM-triage rules keep the rows a model calls TP or SUSPICIOUS (``COMPLETION``,
    then ``DISSECT`` of its reply): nothing on the host could give that answer, so the refusal
    names ``COMPLETION`` whatever else of the query is outside the subset (``CONCAT``,
    ``MV_CONCAT``, ``GROK``, ``INLINE STATS``...)."""
    text = (MULTI / f"{slug}.toml").read_text("utf-8")
    with pytest.raises(UnsupportedConstruct) as err:
        parse_esql(tomllib.loads(text)["rule"]["query"])
    assert (err.value.construct, err.value.pos is not None) == ("COMPLETION", True)
    assert "large language model" in str(err.value)


def test_a_network_stream_query_reads_the_network_table() -> None:
    """``FROM logs-endpoint.events.network-*`` reads ``ecs_network_events``, its stream's
    ``data_stream.dataset`` is ``endpoint.events.network``, and ``KQL()`` resolves network
    fields: curl's three connections to 443 alert (``n >= 3``), its two to 80 (the near miss,
    one short) do not; the SQL and the reference agree."""
    from ecsquery.rows import to_row
    from ecsquery.schema import NETWORK_TABLE, FieldTable

    pipeline = parse_esql(
        "FROM logs-endpoint.events.network-*\n"
        '| WHERE process.name == "curl" AND KQL("destination.port >= 1")\n'
        "| STATS n = COUNT(*), ds = VALUES(data_stream.dataset) BY destination.port\n"
        "| WHERE n >= 3"
    )
    assert pipeline.category == "network"
    sql = compile_esql(pipeline, FIELDS, 60)
    assert "FROM ecs_network_events" in sql
    now = 1_700_000_000
    docs = [
        {"time": now - 5, "event": {"id": f"e{i}", "category": ["network"]},
         "process": {"name": "curl"}, "destination": {"port": port}}
        for i, port in enumerate([443, 443, 443, 80, 80])
    ]  # fmt: skip
    network = FieldTable.of(NETWORK_TABLE)
    for missing in ("null", "empty"):
        conn = osquery_sqlite.connect(now=now)
        rows = [{**to_row(d, network), "time": str(d["time"])} for d in docs]
        osquery_sqlite.insert_rows(conn, rows, missing=missing, fields=network)  # type: ignore[arg-type]
        cursor = conn.execute(sql)
        names = [c[0] for c in cursor.description]
        got = [dict(zip(names, r, strict=True)) for r in cursor]
        assert [(r["destination.port"], r["n"], json.loads(r["ds"])) for r in got] == [
            (443, 3, ["endpoint.events.network"])
        ]
    assert esql_rows(pipeline, docs) == [
        {"destination.port": 443, "n": 3, "ds": ["endpoint.events.network"]}
    ]


def test_the_s3_script_rule_is_refused_for_its_missing_source() -> None:
    """Its network stream is served now; what stops it is ``destination.domain``."""
    text = (MULTI / "command_and_control_aws_s3_connection_via_script.toml").read_text("utf-8")
    pipeline = parse_esql(tomllib.loads(text)["rule"]["query"])
    with pytest.raises(UnsupportedConstruct, match=r"'destination\.domain'.*osquery#7952"):
        compile_esql(pipeline, FIELDS, 60)
