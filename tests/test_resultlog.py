"""Result-line parsing: every osqueryd format, decorations, numbers, names, the pre-filter."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from alerts_fixtures import (
    FIELDS,
    RESULTS,
    SYSTEMKEY,
    batch_line,
    event_line,
    keychain_event,
    other_line,
    query_name,
    rule,
    simple_rule,
    snapshot_event_lines,
    snapshot_line,
)
from ecsquery.alerts.batch import read_stream
from ecsquery.alerts.output import AlertSink
from ecsquery.alerts.reader import AlertReader
from ecsquery.alerts.resultlog import MARKER, Malformed, QueryIndex, as_int, iter_rows, line_info
from ecsquery.alerts.signal import KibanaSignal
from ecsquery.alerts.sources import Block
from ecsquery.alerts.summary import Summary
from ecsquery.rules.model import Rule
from ecsquery.testing.alert import reference_factory

# Query names of the real samples, by their last component.
SAMPLE_SLUGS = (
    "processes", "process_snapshot", "process_events", "socket_events", "mounts", "schedule",
    "launchd", "installed_applications", "package_receipts", "deb_packages", "osquery_info",
    "listening_ports", "Disallowed", "last",
)  # fmt: skip


def sample_reader() -> AlertReader:
    """Rules named like the samples' queries, every line parsed (they are not our table)."""
    return AlertReader([simple_rule(s) for s in SAMPLE_SLUGS], marker=None)


def read_file(reader: AlertReader, name: str) -> list[dict[str, Any]]:
    block = Block.of((RESULTS / name).read_bytes(), name)
    return [KibanaSignal().document(a) for a in reader.read(block)]


def test_every_real_sample_line_parses_into_rows() -> None:
    reader = sample_reader()
    alerts = []
    for name in sorted(p.name for p in RESULTS.iterdir()):
        alerts += read_file(reader, name)
    s = reader.summary
    assert (s.lines, s.parsed, s.skipped, dict(s.malformed)) == (22, 22, 0, {})
    assert dict(s.unknown_queries) == {} and dict(s.bad_rows) == {}
    # 17 event lines (2 removed), 2 batches of 1 added + 1 removed, snapshots of 4, 1, 0 rows.
    assert dict(s.rows) == {"added": 17, "removed": 4, "snapshot": 5}
    # The docs show the same osqueryd row added in event and in batch format: one alert.
    assert (len(alerts), s.duplicates) == (21, 1)
    assert all(a["osquery"]["action"] in ("added", "snapshot") for a in alerts)


def test_real_sample_hosts_times_and_numbers() -> None:
    reader = sample_reader()
    by_name = {}
    for name in ("panther_parser_test_logs.ndjson", "streamalert_test_events.ndjson"):
        for a in read_file(reader, name):
            by_name[a["osquery"]["name"]] = a  # type: ignore[index]
    jaguar = by_name["pack/incident-response/listening_ports"]
    # integer epoch/counter, hostname decoration, host_uuid decoration.
    assert jaguar["host"] == {
        "name": "jaguar.local",
        "hostname": "jaguar.local",
        "id": "97D8254F-7D98-56AE-91DB-924545EFXXXX",
    }
    assert jaguar["osquery"]["counter"] == 33 and jaguar["osquery"]["epoch"] == 0  # type: ignore[index]
    assert jaguar["@timestamp"] == "2018-09-11T16:14:21.000Z"
    last = by_name["pack_incident-response_last"]  # numeric column values (time as a number)
    assert last["kibana.alert.original_time"] == "2020-02-12T21:22:20.000Z"
    assert last["host"] == {"name": "...", "hostname": "..."}


def test_legacy_docs_line_without_counter_or_host_identifier() -> None:
    reader = sample_reader()
    line = (RESULTS / "osquery_docs_examples.ndjson").read_bytes().splitlines()[0]
    (alert,) = [
        KibanaSignal().document(a) for a in reader.read(line)
    ]  # old osquery wrote "hostname", not hostIdentifier
    assert alert["host"] == {"name": "hostname.local", "hostname": "hostname.local"}
    assert alert["osquery"]["epoch"] == 314159265  # type: ignore[index]


@pytest.mark.parametrize("numerics", [False, True])
@pytest.mark.parametrize("top", [False, True])
def test_formats_give_the_same_rows(numerics: bool, top: bool) -> None:
    name = query_name("keychain")
    rows = [keychain_event(1), keychain_event(2)]
    kw = {"numerics": numerics, "top_level_decorations": top}
    lines = {
        "event": [event_line(name, r, **kw) for r in rows],
        "batch": [batch_line(name, rows, **kw)],
        "snapshot": [snapshot_line(name, rows, **kw)],
        "snapshot events": snapshot_event_lines(name, rows, **kw),
    }
    for fmt, group in lines.items():
        got = [row for line in group for row in iter_rows(orjson.loads(line))]
        assert [str(r["event_id"]) for _, r in got] == ["ev-1", "ev-2"], fmt
        info = line_info(orjson.loads(group[0]), name)
        assert (info.host_name, info.host_id, info.unix_time, info.epoch, info.counter) == (
            "mac-01",
            "UUID-MAC-01",
            1_700_000_100,
            0,
            1,
        ), fmt
        assert info.decorations["username"] == "alice"


def test_removed_rows_are_read_but_never_alert() -> None:
    name = query_name("keychain")
    reader = AlertReader([simple_rule("keychain")])
    lines = [
        event_line(name, keychain_event(1), "removed"),
        batch_line(name, [], [keychain_event(2)]),
    ]
    assert reader.read(b"\n".join(lines)) == []
    assert dict(reader.summary.rows) == {"removed": 2}


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        ({"diffResults": []}, "diffResults is not an object"),
        ({"diffResults": {"added": {}}}, "diffResults.added is not a list"),
        ({"snapshot": {}}, "snapshot is not a list"),
        ({"columns": {}, "action": "changed"}, "unknown action 'changed'"),
        ({"name": "x"}, "no columns, snapshot or diffResults"),
    ],
)
def test_shapes_that_are_not_results(obj: dict[str, object], reason: str) -> None:
    with pytest.raises(Malformed, match=reason):
        list(iter_rows(obj))


def test_query_names_with_both_delimiters_and_ids() -> None:
    r = rule()
    index = QueryIndex([r])
    good = [
        f"pack_ecsquery_{r.slug}",
        f"pack_my_pack_with_underscores_{r.slug}",
        f"pack/Global/{r.slug}",
        f"pack/team-3/{r.slug}",
        f"pack/ecsquery/{r.slug}",
        f"pack_kibana-pack_{r.rule_id}",
        r.slug,
    ]
    for name in good:
        assert index.resolve(name) is r, name
    for name in (f"pack_x_{r.slug}s", f"pack_x{r.slug}", f"x_{r.slug}", "pack_ecsquery_gone"):
        assert index.resolve(name) is None, name
    assert index.is_ours("pack_ecsquery_gone") and index.is_ours("pack/ecsquery/gone")


def test_other_queries_are_skipped_without_parsing() -> None:
    reader = AlertReader([rule()])
    block = b"\n".join(
        [
            other_line(1),
            b'{"name":"pack_other_thing", truncated',  # not parsed, so not malformed
            b"",
            event_line(query_name(rule().slug), keychain_event(1)),
        ]
    )
    assert len(reader.read(block + b"\n")) == 1
    assert (reader.summary.lines, reader.summary.skipped, reader.summary.parsed) == (4, 3, 1)
    assert dict(reader.summary.malformed) == {}


def test_our_pack_with_an_unknown_query_is_counted_and_named() -> None:
    reader = AlertReader([rule()])
    alerts = reader.read(event_line("pack_ecsquery_retired_rule", keychain_event(1)))
    assert alerts == [] and dict(reader.summary.unknown_queries) == {
        "pack_ecsquery_retired_rule": 1
    }


@given(
    fmt=st.sampled_from(["event", "batch", "snapshot", "snapshot events"]),
    numerics=st.booleans(),
    top=st.booleans(),
    delimiter=st.sampled_from("_/"),
    spaced=st.booleans(),
)
def test_prefilter_never_misses_a_line_with_our_rows(
    fmt: str, numerics: bool, top: bool, delimiter: str, spaced: bool
) -> None:
    name = query_name("x", delimiter)
    rows = [keychain_event(1, process_parent_code_signature_trusted="")]
    kw = {"numerics": numerics, "top_level_decorations": top}
    lines = {
        "event": [event_line(name, rows[0], **kw)],
        "batch": [batch_line(name, rows, **kw)],
        "snapshot": [snapshot_line(name, rows, **kw)],
        "snapshot events": snapshot_event_lines(name, rows, **kw),
    }[fmt]
    for line in lines:
        if spaced:
            line = orjson.dumps(orjson.loads(line), option=orjson.OPT_INDENT_2).replace(b"\n", b"")
        assert MARKER in line


def test_rendered_packs_select_the_prefilter_column() -> None:
    """The pre-filter relies on every pack query selecting every column (see MARKER)."""
    packs = Path(__file__).parent.parent / "packs" / "osquery" / "ecsquery.conf"
    if not packs.exists():
        pytest.skip("packs/osquery/ecsquery.conf not rendered")
    queries = orjson.loads(packs.read_bytes())["queries"]
    assert queries
    for name, query in queries.items():
        assert MARKER.decode() in query["query"], name


def test_summary_accounts_for_every_line() -> None:
    s = Summary()
    reader = AlertReader([rule()], summary=s)
    name = query_name(rule().slug)
    lines = [other_line(1), event_line(name, keychain_event(1)), b'{"name":"%s",' % name.encode()]
    reader.read(b"\n".join(lines))
    bad = sum(s.malformed.values())
    assert s.lines == s.skipped + s.parsed + bad + sum(s.unknown_queries.values()) == 3


@pytest.mark.parametrize("fmt", ["ndjson", "bulk", "table", "kibana-ndjson", "kibana-bulk"])
def test_batch_bytes_equal_writing_the_documents(fmt: str) -> None:
    """On the real samples and on our own rows with a real rule (multi-KB note): what the
    batch path writes (``read`` through the format's ``encode``, each rule's part encoded
    once) is, byte for byte, what writing the reference documents (``from_row`` nesting)
    writes."""
    ours = b"\n".join(event_line(query_name(rule().slug), keychain_event(i)) for i in range(50))
    inputs = [p.read_bytes() for p in sorted(RESULTS.iterdir())] + [ours + b"\n"]
    rules = [*(simple_rule(s) for s in SAMPLE_SLUGS), rule()]
    readers = [AlertReader(rules, marker=None) for _ in range(2)]
    readers[1].factory = reference_factory(readers[1].factory.fields)
    fast, plain = io.BytesIO(), io.BytesIO()
    sinks = [AlertSink(out, fmt, index="idx") for out in (fast, plain)]
    docs = []
    for data in inputs:
        read_stream(readers[0], sinks[0], io.BytesIO(data), "-")
        docs += [sinks[1].format.shape.document(alert) for alert in readers[1].read(data)]
    sinks[1].write(docs)
    assert len(docs) == 71
    assert fast.getvalue() == plain.getvalue()
    assert readers[0].summary == readers[1].summary
    if fmt == "ndjson":
        lines = [orjson.dumps(d, option=orjson.OPT_APPEND_NEWLINE) for d in docs]
        assert fast.getvalue() == b"".join(lines)


def test_numbers_that_are_no_integer_are_none_not_a_crash() -> None:
    values = ["12", "1.5", 7, 2.7, "INF", "nan", "1e999", float("inf"), "x", None, True]
    assert [as_int(v) for v in values] == [12, 1, 7, 2, None, None, None, None, None, None, None]
    assert [as_int(v) for v in (2**63 - 1, -(2**63), 2**63, "-9223372036854775809", 1.9e19)] == [
        2**63 - 1,
        -(2**63),
        None,
        None,
        None,
    ]  # beyond 64 bits: unreadable, as an ECS long


KEYCHAIN_RULE, SYSTEMKEY_RULE = rule(), rule(SYSTEMKEY)
NAME = query_name(KEYCHAIN_RULE.slug)
_text = st.text(st.characters(codec="utf-8"), max_size=8)
_NUMBERS = ["", " 12", "1_0", "+5", "-0", "007", "9223372036854775808", "-9223372036854775809"]
_NUMBERS += ["1", "0", "2", "true", "3.5"]
_ARRAYS = ["[]", "[1]", '["a","b"]', '[ "a"]', '["a\\"b"]', '["\\u00e9"]', "null", "{}"]
_STRINGS = ['\x00\x1f"\\', "é\u2028😀", '["\\ud800"]']
_odd = st.one_of(
    _text,
    st.sampled_from(_NUMBERS + _ARRAYS + _STRINGS),
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(_text, max_size=2),
    st.lists(_text, max_size=3).map(lambda v: orjson.dumps(v).decode()),
)
_changes = st.dictionaries(st.sampled_from([c.name for c in FIELDS]), _odd, max_size=4)
_rows = st.builds(
    lambda seq, changes: {**keychain_event(seq), **changes}, st.integers(0, 6), _changes
)
_legacy = st.fixed_dictionaries(
    {},
    optional={
        "host": st.sampled_from(["mac-01", "mac-02", "", "ホスト"]),
        "host_uuid": st.sampled_from(["UUID-MAC-01", "", "UUID-2"]),
        "unix": st.one_of(
            st.integers(1_700_000_000, 1_700_000_400), st.sampled_from([-5, 0, 253402300799])
        ),
        "epoch": st.integers(0, 2),
        "counter": st.integers(0, 3),
        "numerics": st.booleans(),
        "top_level_decorations": st.booleans(),
    },
)
_names = st.sampled_from(
    [NAME, query_name(SYSTEMKEY_RULE.slug, "/", "Global"), "pack_ecsquery_nope"]
)
_line = st.one_of(
    st.builds(
        lambda name, row, action, kw: event_line(name, row, action, **kw),
        _names,
        _rows,
        st.sampled_from(["added", "added", "snapshot", "removed", "weird"]),
        _legacy,
    ),
    st.builds(
        lambda name, rows, kw: snapshot_line(name, rows, **kw),
        _names,
        st.lists(_rows, max_size=2),
        _legacy,
    ),
    st.builds(lambda seq: other_line(seq), st.integers(0, 3)),
    st.sampled_from([b"", b"{", b"[1]", b'"process_effective_parent_entity_id"', b"\xff\xfe"]),
)


def _both_ways(data: bytes, rules: list[Rule], fmt: str) -> None:
    """The reader's bytes (each rule's part encoded once, the compiled nester) equal the
    reference's (``from_row``, the whole document encoded), with the same summary and state."""
    outs, summaries, states = [], [], []
    for reference in (False, True):
        reader = AlertReader(rules)
        if reference:
            reader.factory = reference_factory(reader.factory.fields)
        out = io.BytesIO()
        sink = AlertSink(out, fmt)
        if reference:
            try:
                sink.write([sink.format.shape.document(alert) for alert in reader.read(data)])
            except TypeError:  # beyond 64 bits in an array column: rows.decode_value keeps
                event("the reference cannot encode")  # the int, the nester has orjson's float
                return
        else:
            read_stream(reader, sink, io.BytesIO(data), "-")
        outs.append(out.getvalue())
        summaries.append(reader.summary.to_dict())
        states.append(reader.state.to_json())
    assert outs[0] == outs[1]
    assert summaries[0] == summaries[1]
    assert states[0] == states[1]


@settings(max_examples=150, deadline=None)
@given(
    lines=st.lists(_line, max_size=12),
    repeat=st.integers(0, 4),
    limit=st.integers(1, 4),
    fmt=st.sampled_from(["ndjson", "bulk", "kibana-ndjson", "kibana-bulk"]),
)
def test_random_lines_read_as_the_reference_reads_them(
    lines: list[bytes], repeat: int, limit: int, fmt: str
) -> None:
    """Odd values (numbers as text with spaces, lone surrogates, arrays that are not plain,
    missing ids), full runs, repeats and garbage, in every line shape."""
    rules = [replace(KEYCHAIN_RULE, max_signals=limit), SYSTEMKEY_RULE]
    data = b"".join(line + b"\n" for line in [*lines, *lines[:repeat]])
    _both_ways(data, rules, fmt)
