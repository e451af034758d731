"""One adapter per osquery table (``normalize.OSQUERY_TABLES``): the osquery source feeds each
row to its table's adapter, a replay file's rows go through :func:`normalize`, which tells the
table by the row's shape; both must give the same items (or refuse a row for the same reason)
for every row a table can hold. Rows are as osquery returns them over Thrift (every polled
column, each a string; ``status`` only on Linux) with hostile values in every column."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ecsquery.extension import config, pipeline
from ecsquery.extension.normalize import OSQUERY_TABLES, BadRecord, files, normalize, socket
from ecsquery.extension.pipeline import Pipeline
from ecsquery.extension.sources.osquery import OsquerySource
from ecsquery.extension.window import Window
from ecsquery.testing.standin import OsquerydStandin
from ecsquery.values import ip_text
from test_extension_network import OSASCRIPT, Capture, connect, tree_with

SCHEMAS = Path(__file__).parent / "fixtures" / "osquery-schema"

_HOSTILE = st.text(
    st.characters(codec="utf-8") | st.sampled_from(["\udcff", "\x00", "\u0664", "_", " ", "."]),
    max_size=12,
)
_NUMBER = st.integers(-2, 70_000).map(str) | st.sampled_from(
    ["", "0", "443", "+443", " 443", "443 ", "4_43", "\u0664\u0664\u0663", "0x1bb", "1e3", "00443",
     "000443", "65535", "65536", "-1", "1.5"]
)  # fmt: skip
_ADDRESS = st.sampled_from(
    ["", "0", "::1", "10.0.0.1", "010.0.0.1", "1.2.3.4 ", "256.1.1.1", "::ffff:1.2.3.4",
     "::FFFF:1.2.3.4", "fe80::1%en0", "2606:2800:21F:CB07::1", "1.2.3", "1.2.3.4.5",
     "\u0661.2.3.4", "0.0.0.0", "255.255.255.255"]
) | st.ip_addresses().map(str) | _HOSTILE  # fmt: skip
_ANY = _HOSTILE | _NUMBER | _ADDRESS


def _rows(columns: Mapping[str, st.SearchStrategy[str]], optional: tuple[str, ...] = ()) -> Any:
    """Rows with every column in ``columns`` (those in ``optional`` may be absent)."""
    return st.fixed_dictionaries(
        {k: v for k, v in columns.items() if k not in optional},
        optional={k: v for k, v in columns.items() if k in optional},
    )


SOCKET_ROWS = _rows(
    {
        "time": _NUMBER, "eid": _HOSTILE, "action": st.sampled_from(["connect", "accept", "bind"])
        | _HOSTILE, "pid": _NUMBER, "path": _HOSTILE,
        "family": st.sampled_from(["", "0", "2", "10", "30"]) | _ANY,
        "protocol": st.sampled_from(["", "6", "17"]) | _ANY, "local_address": _ADDRESS,
        "local_port": _NUMBER, "remote_address": _ADDRESS, "remote_port": _NUMBER,
        "success": st.sampled_from(["", "0", "1"]) | _ANY,
        "status": st.sampled_from(["", "succeeded", "failed", "in_progress", "no_client"]),
    },
    optional=("status",),  # Linux only (``extended_schema`` of the spec)
)  # fmt: skip
FILE_ROWS = _rows(
    {
        "time": _NUMBER, "eid": _HOSTILE,
        "event_type": st.sampled_from(["create", "write", "rename", "truncate", "open", "mmap"])
        | _HOSTILE, "pid": _NUMBER, "parent": _NUMBER, "path": _HOSTILE,
        "filename": _HOSTILE | st.just("/Library/LaunchAgents/x.plist"),
        "dest_filename": _HOSTILE,
    }
)  # fmt: skip


def outcome(read: Any, row: Mapping[str, Any]) -> Any:
    """What reading ``row`` gives: its items, or the refusal's reason and message."""
    try:
        return list(read(row))
    except BadRecord as exc:
        return ("refused", exc.reason, str(exc))


def test_the_tables_columns_are_what_the_source_polls() -> None:
    assert set(config.TABLES) | {files.TABLE} <= set(OSQUERY_TABLES)
    assert OSQUERY_TABLES[socket.TABLE].columns == socket.COLUMNS_READ
    assert OSQUERY_TABLES[socket.TABLE].hidden == socket.HIDDEN
    assert OSQUERY_TABLES[files.TABLE].columns == files.COLUMNS_READ


@pytest.mark.parametrize("table", [socket.TABLE, files.TABLE])
def test_an_adapter_reads_exactly_its_tables_columns(table: str) -> None:
    """Every column polled is read, and nothing else (a row naming what it was asked)."""
    asked: set[str] = set()

    class Recording(dict[str, str]):
        def get(self, key: str, default: Any = None) -> Any:
            asked.add(key)
            return super().get(key, default)

        def __getitem__(self, key: str) -> str:
            asked.add(key)
            return super().__getitem__(key)

    if table == socket.TABLE:
        rows = [connect(), connect(action="accept", local_address="10.0.0.2", local_port="22")]
    else:
        base = {"time": "1", "eid": "e", "pid": "7", "parent": "1", "path": "/bin/zsh",
                "filename": "/etc/a", "dest_filename": "/etc/b"}  # fmt: skip
        rows = [{**base, "event_type": kind} for kind in ("write", "rename")]
    for row in rows:
        assert OSQUERY_TABLES[table].adapter(Recording(row))
    assert asked == set(OSQUERY_TABLES[table].columns)


@settings(max_examples=400, deadline=None)
@given(row=SOCKET_ROWS)
@example(row=connect(remote_port="4_43"))
@example(row=connect(remote_address="010.0.0.1"))
def test_socket_events_adapter_is_normalize(row: dict[str, str]) -> None:
    assert outcome(OSQUERY_TABLES[socket.TABLE].adapter, row) == outcome(normalize, row)


@settings(max_examples=300, deadline=None)
@given(row=FILE_ROWS)
def test_es_process_file_events_adapter_is_normalize(row: dict[str, str]) -> None:
    assert outcome(OSQUERY_TABLES[files.TABLE].adapter, row) == outcome(normalize, row)


@settings(max_examples=200, deadline=None)
@given(row=SOCKET_ROWS)
def test_the_pipeline_counts_a_socket_row_alike_either_way(row: dict[str, str]) -> None:
    """Through the pipeline: the same counters and documents by adapter and by shape."""
    seen = []
    for adapter in (OSQUERY_TABLES[socket.TABLE].adapter, None):
        capture = Capture(tree=tree_with(OSASCRIPT))
        capture.feed(dict(row), "osquery", adapter)
        seen.append((capture.stats.snapshot(), capture.docs))
    assert seen[0] == seen[1]
    assert seen[0][0].get("bad.unexpected", 0) == 0


@pytest.mark.parametrize(
    "changes",
    [
        {"remote_port": "4_43"}, {"remote_port": " 443"}, {"remote_port": "+443"},
        {"remote_port": "\u0664\u0664\u0663"}, {"remote_port": "65536"}, {"local_port": "-1"},
        {"remote_address": "010.0.0.1"}, {"remote_address": "1.2.3.4 "},
        {"remote_address": "\u0661.2.3.4"}, {"local_address": "256.0.0.1"},
    ],
)  # fmt: skip
def test_a_bad_port_or_address_is_a_bad_row(changes: dict[str, str]) -> None:
    capture = Capture(tree=tree_with(OSASCRIPT))
    capture.feed(connect(**changes), "osquery", OSQUERY_TABLES[socket.TABLE].adapter)
    assert capture.stats.snapshot() == {"read.osquery": 1, "bad.malformed": 1}


@settings(max_examples=500, deadline=None)
@given(text=_ADDRESS | st.from_regex(r"[0-9.]{7,15}", fullmatch=True))
def test_ip_text_is_ipaddress(text: str) -> None:
    """The dotted-quad shortcut of ``values.ip_text`` answers as ``ipaddress`` would."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        expected = None
    else:
        mapped = getattr(address, "ipv4_mapped", None)
        expected = str(mapped if mapped is not None else address)
    assert ip_text(text) == expected


def test_the_source_never_classifies_a_row_by_shape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Polled rows of every table go to their adapter: ``normalize`` is never called."""

    def classify(record: Any) -> Any:
        raise AssertionError(f"classified by shape: {record}")

    monkeypatch.setattr(pipeline, "normalize", classify)
    file_row = {"time": "1741085601", "eid": "f1", "event_type": "write", "pid": "4810",
                "parent": "1", "path": "/usr/bin/osascript", "filename": "/etc/hosts",
                "dest_filename": ""}  # fmt: skip
    with OsquerydStandin(tmp_path / "osquery.em", SCHEMAS) as osqueryd:
        osqueryd.insert("socket_events", [connect(time="1741085600")])
        osqueryd.insert(files.TABLE, [file_row])
        target = Pipeline(Window(), windows={"network": Window(), "file": Window()})
        source = OsquerySource(
            target, osqueryd.socket_path, tables=(socket.TABLE, files.TABLE), seed=False,
            clock=lambda: 1_741_085_700,
        )  # fmt: skip
        assert [source.poll(table) for table in source.tables] == [1, 1]
    assert target.stats.snapshot() == {"read.osquery": 2, "served": 2}


def test_a_table_without_an_adapter_is_refused() -> None:
    with pytest.raises(ValueError, match="no adapter for the osquery table"):
        OsquerySource(Pipeline(Window()), "/nonexistent", tables=("file_events",))
