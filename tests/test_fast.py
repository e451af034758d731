"""The compiled scanner (``alerts/_fast.c``) writes exactly what the Python reader writes.

Every test reads the same input twice, once with the scanner and once without, and wants the
same bytes out, the same summary and the same dedup/max_signals state. The inputs are the
real result-log samples, every line shape osqueryd writes, and random lines full of the values
the scanner must hand back to Python (numbers as text with spaces, lone surrogates, arrays that
are not plain, missing ids, full runs, garbage).
"""

from __future__ import annotations

import hashlib
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
    snapshot_event_lines,
    snapshot_line,
)
from ecsquery.alerts import fast
from ecsquery.alerts.batch import read_stream
from ecsquery.alerts.output import AlertSink
from ecsquery.alerts.reader import AlertReader
from ecsquery.alerts.state import ReaderState
from ecsquery.rules.model import Rule
from ecsquery.schema import COLUMNS, Column, EcsType, FieldTable, OsqueryType

pytestmark = pytest.mark.skipif(not fast.available(), reason="built without the C scanner")

KEYCHAIN_RULE = rule()
RULES = [KEYCHAIN_RULE, rule(SYSTEMKEY)]
NAME = query_name(KEYCHAIN_RULE.slug)


def read(
    data: bytes, rules: list[Rule], native: bool, fmt: str = "ndjson", state: Any = None
) -> tuple[bytes, dict[str, Any], dict[str, Any], int]:
    """(output, summary, state, lines the Python reader read) of a batch read."""
    reader = AlertReader(rules, native=native, state=state)
    python_lines = 0
    line = reader._line

    def counting(*args: Any) -> None:
        nonlocal python_lines
        python_lines += 1
        line(*args)

    reader._line = counting  # type: ignore[method-assign]
    out = io.BytesIO()
    read_stream(reader, AlertSink(out, fmt), io.BytesIO(data), "log")
    return out.getvalue(), reader.summary.to_dict(), reader.state.to_json(), python_lines


def assert_same(data: bytes, rules: list[Rule] = RULES, fmt: str = "ndjson") -> int:
    """Both paths agree; returns how many lines the scanner left to Python."""
    c_out, c_summary, c_state, python_lines = read(data, rules, True, fmt)
    py_out, py_summary, py_state, _ = read(data, rules, False, fmt)
    assert c_out == py_out
    assert c_summary == py_summary
    assert c_state == py_state
    return python_lines


def test_the_module_is_built() -> None:
    """``make`` installs with a compiler; a build that silently fell back would hide here."""
    assert fast.available()


@given(st.binary(max_size=300))
def test_sha256_is_hashlibs(data: bytes) -> None:
    from ecsquery.alerts import _fast

    assert _fast.sha256_hex(data) == hashlib.sha256(data).hexdigest()


def test_plan_of_the_shipped_table() -> None:
    plan = fast.build_plan(FieldTable())
    assert plan is not None
    assert plan[:8] == (
        ("open", "event", 2),
        ("field", "event_category", "category", 3, 0),
        ("field", "event_type", "type", 3, 0),
        ("field", "event_action", "action", 0, 0),
        ("field", "event_id", "id", 0, 0),
        ("close",),
        ("open", "host", 1),
        ("open", "os", 0),
    )
    assert ("field", "host_name", "name", 0, 1) in plan
    assert ("field", "process_pid", "pid", 1, 0) in plan
    assert ("field", "process_code_signature_exists", "exists", 2, 0) in plan
    assert sum(1 for step in plan if step[0] == "open") == sum(1 for s in plan if s == ("close",))


def _column(name: str, ecs: str) -> Column:
    return Column(name, OsqueryType.TEXT, ecs, EcsType.KEYWORD)


@pytest.mark.parametrize(
    "extra",
    [
        [_column("late_event_field", "event.outcome")],  # event's columns split by others
        [_column("kind", "event.kind")],  # the alert sets it
        [_column("osq", "osquery.name")],  # the alert's own block
    ],
)
def test_tables_the_scanner_cannot_write_in_order_get_no_plan(extra: list[Column]) -> None:
    assert fast.build_plan(FieldTable((*COLUMNS, *extra))) is None


def _lines(*lines: bytes) -> bytes:
    return b"\n".join(lines) + b"\n"


def test_clean_event_lines_are_all_written_by_the_scanner() -> None:
    data = _lines(*(event_line(NAME, keychain_event(i), counter=i) for i in range(50)))
    assert assert_same(data) == 0


def test_numerics_lines_are_written_by_the_scanner_too() -> None:
    """``--logger_numerics``: BIGINT and INTEGER columns (booleans too) as JSON numbers."""
    rows = [keychain_event(i, process_code_signature_trusted="0") for i in range(20)]
    rows[3]["process_code_signature_exists"] = "2"  # the nester: only 1 is true
    data = _lines(*(event_line(NAME, row, numerics=True) for row in rows))
    assert b'"process_code_signature_exists":1' in data
    assert assert_same(data) == 0


@pytest.mark.parametrize("fmt", ["ndjson", "bulk"])
def test_every_shape_and_delimiter(fmt: str) -> None:
    fleet = query_name(KEYCHAIN_RULE.slug, "/", "Global")
    systemkey = query_name(RULES[1].slug)
    data = _lines(
        event_line(NAME, keychain_event(1)),
        event_line(fleet, keychain_event(2), numerics=True),
        event_line(NAME, keychain_event(3), "removed"),
        event_line(NAME, keychain_event(4), top_level_decorations=True),
        event_line(systemkey, keychain_event(5), host="mac-02", host_uuid=""),
        batch_line(NAME, [keychain_event(6), keychain_event(7)], [keychain_event(1)]),
        snapshot_line(NAME, [keychain_event(8)]),
        *snapshot_event_lines(NAME, [keychain_event(9), keychain_event(10)]),
        other_line(1),
        event_line("pack_ecsquery_no_such_rule", keychain_event(11)),
        event_line(NAME, keychain_event(1)),  # seen again: a duplicate
        b'{"name": "pack_ecsquery_x", "columns": {"process_effective_parent_entity_id"',
        b"\xff\xfe" + event_line(NAME, keychain_event(12)),
        event_line(NAME, keychain_event(13)).replace(b'"4013"', b"123456789012345678901234567"),
        event_line(NAME, keychain_event(14)).replace(b'"Terminal"', b'"\\ud800x"'),
        event_line(NAME, keychain_event(15)).replace(b'"Terminal"', b'"T\xe9rminal"'),
    )
    assert 0 < assert_same(data, fmt=fmt) < 12


def test_full_runs_and_repeats() -> None:
    two = replace(KEYCHAIN_RULE, max_signals=2)
    lines = [event_line(NAME, keychain_event(i), counter=i // 5) for i in range(20)]
    assert assert_same(_lines(*lines, *lines[:7]), [two]) > 0


def test_state_carries_over_between_reads() -> None:
    first = _lines(*(event_line(NAME, keychain_event(i), unix=1_700_000_000 + i) for i in range(5)))
    later = _lines(*(event_line(NAME, keychain_event(i), unix=1_700_000_900) for i in range(8)))
    outputs = []
    for native in (True, False):
        state = ReaderState()
        read(first, RULES, native, state=state)
        outputs.append(read(later, RULES, native, state=state)[:3])
    assert outputs[0] == outputs[1]


def test_the_real_samples() -> None:
    for path in sorted(RESULTS.iterdir()):
        assert_same(path.read_bytes())


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
_names = st.sampled_from([NAME, query_name(RULES[1].slug, "/", "Global"), "pack_ecsquery_nope"])
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


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(_line, max_size=12), repeat=st.integers(0, 4), limit=st.integers(1, 4))
def test_random_lines(lines: list[bytes], repeat: int, limit: int) -> None:
    rules = [replace(RULES[0], max_signals=limit), RULES[1]]
    data = _lines(*lines, *lines[:repeat])
    left = assert_same(data, rules)
    candidates = sum(
        1 for line in data.splitlines() if b"process_effective_parent_entity_id" in line
    )
    event(f"scanner wrote {'none' if left == candidates else 'all' if not left else 'some'}")


def test_bulk_and_ndjson_on_a_long_log(tmp_path: Path) -> None:
    """Several output pieces and 1 MiB blocks: the pieces join into the same stream."""
    lines = [event_line(NAME, keychain_event(i % 300), counter=i // 40) for i in range(1500)]
    for fmt in ("ndjson", "bulk"):
        assert assert_same(_lines(*lines), fmt=fmt) == 0
