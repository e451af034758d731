"""The osquery source polling ``socket_events`` (``extension/sources/osquery.py``), polling
the osqueryd stand-in over a real Unix socket: paged, only the columns the normalizer reads
(hidden ones by name), connections after the execs they follow, errors counted and survived."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecsquery.extension import config
from ecsquery.extension.argv import quote_cmdline
from ecsquery.extension.normalize.socket import COLUMNS_READ
from ecsquery.extension.sources import osquery as osquery_source
from ecsquery.extension.sources.osquery import OsquerySource, poll_order
from ecsquery.testing.standin import OsquerydStandin
from test_extension_network import Capture, connect

SCHEMAS = Path(__file__).parent / "fixtures" / "osquery-schema"
NOW = 1_741_085_700


def osascript_exec(time: int, pid: int = 4810) -> dict[str, str]:
    """An ``es_process_events`` exec row of ``osascript`` (columns as the spec names them)."""
    return {
        "version": "7", "time": str(time), "eid": f"{pid:010d}", "event_type": "exec",
        "pid": str(pid), "pidversion": "9021", "path": "/usr/bin/osascript",
        "cmdline": quote_cmdline(["osascript", "-e", 'do shell script "id"']),
        "parent": "4801", "parent_pidversion": "7", "original_parent": "4801",
        "responsible_pid": "4800", "responsible_pidversion": "3", "uid": "501", "gid": "20",
        "username": "alice", "signing_id": "com.apple.osascript", "team_id": "", "cdhash": "ab",
        "platform_binary": "1", "codesigning_flags": "",
    }  # fmt: skip


def source_for(pipeline: Capture, sock: Path, **kwargs: Any) -> OsquerySource:
    return OsquerySource(
        pipeline, str(sock), tables=("socket_events", "es_process_events"), seed=False,
        clock=lambda: NOW, **kwargs,
    )  # fmt: skip


def test_polls_socket_events_after_the_process_table_and_names_the_actor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sock = tmp_path / "osquery.em"
    sent: list[str] = []
    with OsquerydStandin(sock, SCHEMAS) as osqueryd:
        osqueryd.insert("es_process_events", [osascript_exec(NOW - 60)])
        osqueryd.insert("socket_events", [connect(time=str(NOW - 59), eid="0000000001")])
        pipeline = Capture()
        source = source_for(pipeline, sock)
        assert source.tables == ("es_process_events", "socket_events")
        original = source.query
        monkeypatch.setattr(source, "query", lambda sql, method="query": (
            sent.append(sql), original(sql, method))[1])  # fmt: skip
        fed = [source.poll(table) for table in source.tables]
        assert fed == [1, 1]
    [(time, doc)] = pipeline.docs
    assert time == NOW - 59
    assert doc["process"]["entity_id"] == "4810-9021"  # the exec's own entity id
    assert doc["process"]["code_signature"]["signing_id"] == "com.apple.osascript"
    assert doc["destination"] == {"ip": "93.184.215.14", "address": "93.184.215.14", "port": 443}
    wanted = ", ".join(c for c in COLUMNS_READ if c != "status")  # Linux-only
    polls = [sql for sql in sent if "FROM socket_events WHERE" in sql]
    assert polls and all(sql.startswith(f"SELECT {wanted} FROM socket_events") for sql in polls)


def test_a_backlog_is_paged_and_nothing_is_read_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(osquery_source, "PAGE_ROWS", 50)
    sock = tmp_path / "osquery.em"
    rows = [
        connect(time=str(NOW - 600 + i // 4), eid=f"{i:010d}", remote_port=str(1 + i))
        for i in range(900)
    ]
    with OsquerydStandin(sock, SCHEMAS) as osqueryd:
        osqueryd.insert("socket_events", rows)
        pipeline = Capture()
        source = source_for(pipeline, sock)
        replies: list[int] = []
        original = source.query

        def spy(sql: str, method: str = "query") -> list[dict[str, str]]:
            reply = original(sql, method)
            replies.append(len(reply))
            return reply

        monkeypatch.setattr(source, "query", spy)
        assert source.poll("socket_events") == 900
        osqueryd.insert("socket_events", [connect(time=str(NOW), eid="x")])
        assert source.poll("socket_events") == 1
    assert max(replies) <= 200 and len(replies) > 5  # 4 × PAGE_ROWS at most, many pages
    ports = [doc["destination"]["port"] for _, doc in pipeline.docs]
    assert ports[:900] == list(range(1, 901)) and len(ports) == 901


def test_bad_rows_are_counted_and_a_missing_table_is_an_error_not_a_stop(tmp_path: Path) -> None:
    sock = tmp_path / "osquery.em"
    bad = [
        connect(eid="1", remote_address="999.1.1.1"),
        connect(eid="2", pid="x"),
        connect(eid="3", action="bind", remote_address="0"),
        connect(eid="4", success="0"),  # a pending non-blocking connect: served
    ]
    with OsquerydStandin(sock, SCHEMAS, tables=("es_process_events",)) as osqueryd:
        pipeline = Capture()
        source = source_for(pipeline, sock)
        source._guarded("socket_events", lambda: source.poll("socket_events"))
        source._guarded("es_process_events", lambda: source.poll("es_process_events"))
        assert pipeline.stats.snapshot() == {"errors.osquery": 1}  # no socket_events table
    with OsquerydStandin(sock, SCHEMAS) as osqueryd:
        osqueryd.insert("socket_events", bad)
        pipeline = Capture()
        assert source_for(pipeline, sock).poll("socket_events") == 4
    assert pipeline.stats.snapshot() == {
        "read.osquery": 4, "bad.malformed": 2, "ignored.osquery": 1, "served": 1,
    }  # fmt: skip
    assert pipeline.docs[0][1]["event"]["outcome"] == "unknown"


def test_settings_accept_socket_events() -> None:
    settings = config.load_settings(
        {
            "ECSQUERY_EXTENSION_CONFIG": "/dev/null",
            "ECSQUERY_TABLES": "es_process_events,socket_events",
        }
    )
    assert settings.tables == ("es_process_events", "socket_events")
    assert poll_order(settings.tables[::-1]) == settings.tables


@given(st.lists(st.sampled_from(config.TABLES), unique=True))
def test_poll_order_puts_socket_events_last_and_keeps_the_rest(tables: list[str]) -> None:
    ordered = poll_order(tables)
    assert sorted(ordered) == sorted(tables)
    assert [t for t in ordered if t != "socket_events"] == [
        t for t in tables if t != "socket_events"
    ]
    assert "socket_events" not in tables or ordered[-1] == "socket_events"
