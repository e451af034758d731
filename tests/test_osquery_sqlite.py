"""The SQLite stand-in behaves like osquery where our SQL depends on it."""

from __future__ import annotations

import sqlite3

import pytest

from ecsquery import osquery_sqlite
from ecsquery.schema import COLUMNS, TABLES, OsqueryType, Table


def test_table_has_the_schema_columns_and_types() -> None:
    conn = osquery_sqlite.connect(now=100)
    info = conn.execute("PRAGMA table_info(ecs_process_events)").fetchall()
    assert [(r[1], r[2]) for r in info] == [(c.name, c.type.value) for c in COLUMNS]


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_every_table_is_created_with_its_columns(table: Table) -> None:
    conn = osquery_sqlite.connect(now=100)
    info = conn.execute(f"PRAGMA table_info({table.name})").fetchall()
    assert [(r[1], r[2]) for r in info] == [(c.name, c.type.value) for c in table.columns]


def test_rows_are_routed_to_the_table_of_their_category() -> None:
    conn = osquery_sqlite.connect(now=100)
    rows = [
        {"event_id": "p", "event_category": '["process"]'},
        {"event_id": "f", "event_category": '["file"]', "file_path": "/x"},
        {"event_id": "n", "event_category": '["network"]', "destination_port": "80"},
        {"event_id": "o", "event_category": '["authentication"]'},  # unserved: inert, process
        {"event_id": "bad", "event_category": "not json"},
    ]
    assert osquery_sqlite.insert_routed(conn, rows) == 5
    got = {
        t.name: [r[0] for r in conn.execute(f"SELECT event_id FROM {t.name} ORDER BY 1")]
        for t in TABLES
    }
    assert got == {
        "ecs_process_events": ["bad", "o", "p"],
        "ecs_file_events": ["f"],
        "ecs_network_events": ["n"],
    }
    assert conn.execute("SELECT file_path FROM ecs_file_events").fetchall() == [("/x",)]


def test_time_table_is_settable() -> None:
    conn = osquery_sqlite.connect(now=100)
    assert conn.execute("SELECT unix_time FROM time").fetchall() == [(100,)]
    osquery_sqlite.set_now(conn, 200)
    assert conn.execute("SELECT unix_time FROM time").fetchall() == [(200,)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("42", 42),
        ("-7", -7),
        (" 5", 5),
        ("0x10", 16),
        ("010", 8),
        ("12abc", 12),  # std::stol stops at junk; osquery does not check pos
        ("", None),
        ("abc", None),
        ("99999999999999999999", None),  # out of range
    ],
)
def test_bigint_conversion_as_osquery(text: str, expected: int | None) -> None:
    assert osquery_sqlite.osquery_integer(text, OsqueryType.BIGINT) == expected


def test_insert_modes() -> None:
    rows = [{"process_name": "", "process_pid": "", "time": "5"}]
    got = {}
    for mode in ("osquery", "null", "empty"):
        conn = osquery_sqlite.connect(now=0)
        osquery_sqlite.insert_rows(conn, rows, missing=mode)
        got[mode] = conn.execute(
            "SELECT process_name, process_pid, time, user_name FROM ecs_process_events"
        ).fetchone()
    assert got == {
        "osquery": ("", None, 5, None),
        "null": (None, None, 5, None),
        "empty": ("", "", 5, ""),
    }


def test_regex_match_is_a_search_returning_groups_or_null() -> None:
    conn = osquery_sqlite.connect(now=0)

    def q(sql: str) -> object:
        return conn.execute(sql).fetchone()[0]

    assert q("SELECT regex_match('security dump', 'dump', 0)") == "dump"
    assert q("SELECT regex_match('a-b', '(a)-(b)', 2)") == "b"
    assert q("SELECT regex_match('a-b', '(a)-(b)', 3)") is None
    assert q("SELECT regex_match('abc', 'x', 0)") is None
    assert q("SELECT regex_match(NULL, 'x', 0)") is None
    assert q("SELECT regex_match('', '^$', 0)") == ""
    # ECMAScript: $ only at the very end, . stops at \r and \n
    assert q("SELECT regex_match('ab' || char(10), '^ab$', 0)") is None
    assert q("SELECT regex_match('a' || char(13) || 'b', 'a.b', 0)") is None
    # bytes, not code points: one '.' is one byte of 'é'
    assert q("SELECT regex_match('é', '^..$', 0)") == "é"
    with pytest.raises(sqlite3.OperationalError):
        q("SELECT regex_match('a', '(', 0)")
    with pytest.raises(sqlite3.OperationalError):
        q(f"SELECT regex_match('a', '{'a' * 257}', 0)")


def test_concat_functions_skip_nulls_like_osquery() -> None:
    conn = osquery_sqlite.connect(now=0)
    assert conn.execute("SELECT concat('a', NULL, 'b', 1)").fetchone() == ("ab1",)
    assert conn.execute("SELECT concat_ws('-', 'a', 'b')").fetchone() == ("a-b",)
    assert conn.execute("SELECT concat_ws('-', 'a', NULL)").fetchone() == ("a-",)


@pytest.mark.parametrize(
    ("cidr", "ip", "expected"),
    [
        # osquery's own cases (osquery/sql/tests/sqlite_network_tests.cpp lines 25-57, a5b14f63)
        ("10.0.0.0/26", "10.0.0.24", 1),
        ("198.51.100.14/24", "198.51.100.14", 1),
        ("2a00:a040:019e:f12a:0000:0000:0000:0000/64", "2a00:a040:19e:f12a:658b:3589:b2ba:71a3", 1),
        ("2001:db8::/48", "2001:db8:0:ffff:ffff:ffff:ffff:ffff", 1),
        # boost.asio's network_v4::hosts(): network + 1 up to the broadcast address, exclusive
        ("10.0.0.0/8", "10.0.0.0", 0),
        ("10.0.0.0/8", "10.0.0.1", 1),
        ("10.0.0.0/8", "10.255.255.254", 1),
        ("10.0.0.0/8", "10.255.255.255", 0),
        ("10.0.0.0/8", "11.0.0.0", 0),
        ("10.0.0.0/31", "10.0.0.0", 0),  # a /31 holds nothing
        ("10.0.0.0/31", "10.0.0.1", 0),
        ("10.0.0.1/32", "10.0.0.1", 1),  # is_host(): the address itself
        ("255.255.255.255/32", "255.255.255.255", 0),  # its end (+1) wraps to 0.0.0.0
        ("0.0.0.0/0", "0.0.0.0", 0),
        ("0.0.0.0/0", "8.8.8.8", 1),
        # network_v6::hosts(): every address, but an end of ffff...ffff wraps to :: (empty)
        ("fe80::/10", "fe80::1", 1),
        ("fe80::/10", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1),
        ("fe80::/10", "fec0::", 0),
        ("::1/128", "::1", 1),
        ("ff00::/8", "ff02::1", 0),
        ("::/0", "::1", 0),
    ],
)
def test_in_cidr_block_is_osquerys(cidr: str, ip: str, expected: int) -> None:
    conn = osquery_sqlite.connect(now=100)
    assert conn.execute("SELECT in_cidr_block(?, ?)", (cidr, ip)).fetchall() == [(expected,)]


@pytest.mark.parametrize(
    ("cidr", "ip"),
    [
        ("::1/128", "10.0.0.1"),  # a v6 block for a v4 address: "CIDR for IP address v4 ..."
        ("10.0.0.0/8", "::1"),
        ("10.0.0.0/8", "not an ip"),
        ("10.0.0.0/8", ""),
        ("10.0.0.0", "10.0.0.1"),  # no prefix: boost's make_network_v4 refuses it
        ("10.0.0.0/33", "10.0.0.1"),
        ("10.0.0.0/8", None),  # NULL: "IP address must be a string"
        (None, "10.0.0.1"),
    ],
)
def test_in_cidr_block_fails_the_query_as_osquery_does(cidr: str | None, ip: str | None) -> None:
    conn = osquery_sqlite.connect(now=100)
    with pytest.raises(sqlite3.OperationalError):
        conn.execute("SELECT in_cidr_block(?, ?)", (cidr, ip)).fetchall()
