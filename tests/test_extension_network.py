"""osquery ``socket_events`` rows → connections → ECS network documents and rows
(``extension/normalize/socket.py``, ``extension/network.py``).

Row shapes follow osquery's darwin subscriber (``osquery/tables/events/darwin/socket_events.cpp``
at a5b14f63d98c0d4992ab8ae07d933e0d5ff008df): a ``connect`` carries the remote end only, an
``accept`` the remote address only, ``protocol`` is never set, ``success`` is the syscall's result.
Osquery before 5.15.0 (commit b30bb8128) wrote ``"0"`` for the end it did not have.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from ecsquery.extension.model import Action, Proc, ProcEvent, Ref
from ecsquery.extension.network import network_document
from ecsquery.extension.normalize import BadRecord, normalize
from ecsquery.extension.normalize.socket import COLUMNS_READ, HIDDEN, SocketEvent, from_socket_row
from ecsquery.extension.pipeline import Pipeline
from ecsquery.extension.table import EcsProcessTable
from ecsquery.extension.tree import ProcessTree
from ecsquery.extension.window import Window
from ecsquery.rows import encode_value, from_row, get_path
from ecsquery.schema import NETWORK_TABLE, FieldTable

FIXTURES = Path(__file__).parent / "fixtures"
DEFEND_FIELDS = set(
    yaml.safe_load(
        (
            FIXTURES / "ecs-fields" / "macos_network_connection_attempted_and_disconnect.yaml"
        ).read_text()
    )["fields"]["endpoint"]
)
OSASCRIPT = Proc(
    pid=4810, pidversion=9021, executable="/usr/bin/osascript", args=("osascript", "-e", "x"),
    cwd="/Users/alice", signing_id="com.apple.osascript", signed=True, trusted=True, uid=501,
    euid=501, gid=20, user_name="alice",
)  # fmt: skip


def connect(**changes: str) -> dict[str, str]:
    """A macOS connect row as osquery ≥ 5.15 returns it over Thrift (all strings)."""
    row = {
        "time": "1741085600", "eid": "0000001234", "action": "connect", "pid": "4810",
        "path": "/usr/bin/osascript", "family": "2", "protocol": "", "local_address": "",
        "local_port": "", "remote_address": "93.184.215.14", "remote_port": "443",
        "success": "1",
    }  # fmt: skip
    return {**row, **changes}


class Capture(Pipeline):
    """The pipeline with a network window, whose served rows it reads back as documents."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            Window(max_age=10**10), windows={"network": Window(max_age=10**10)}, **kwargs
        )

    @property
    def docs(self) -> list[tuple[int, dict[str, Any]]]:
        """(time, document) of every served connection, nested back from its row as the
        alert mapper nests a result (``rows.from_row``)."""
        window = self._routes["network"].window
        table = EcsProcessTable(window, NETWORK_TABLE.columns, "ecs_network_events")
        fields = FieldTable.of(NETWORK_TABLE)
        return [(int(row["time"]), from_row(row, fields)) for row in table.generate(None)]


def tree_with(*procs: Proc) -> ProcessTree:
    tree = ProcessTree()
    for proc in procs:
        tree.add(proc)
    return tree


def leaves(doc: Mapping[str, Any], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for key, value in doc.items():
        name = f"{prefix}{key}"
        out |= leaves(value, f"{name}.") if isinstance(value, Mapping) else {name}
    return out


def test_connect_by_a_known_process_is_an_egress_attempt_as_defend_writes_it() -> None:
    event = from_socket_row(connect())
    assert event is not None
    doc = network_document(event, tree_with(OSASCRIPT), host_name="alice-macbook")
    assert doc == {
        "@timestamp": "2025-03-04T10:53:20.000Z",
        "event": {
            "category": ["network"], "type": ["start"], "action": "connection_attempted",
            "id": "socket_events-0000001234", "outcome": "success",
        },
        "host": {"os": {"type": "macos"}, "name": "alice-macbook"},
        "process": {
            "pid": 4810, "entity_id": "4810-9021", "executable": "/usr/bin/osascript",
            "name": "osascript", "command_line": "osascript -e x",
            "code_signature": {
                "exists": True, "trusted": True, "signing_id": "com.apple.osascript",
            },
        },
        "user": {"id": "501", "name": "alice"},
        "group": {"id": "20"},
        "network": {"direction": "egress", "type": "ipv4"},
        "destination": {"ip": "93.184.215.14", "address": "93.184.215.14", "port": 443},
    }  # fmt: skip


def test_every_field_written_is_one_defend_writes_on_macos() -> None:
    accept = from_socket_row(connect(action="accept", remote_port="", protocol="6"))
    docs = [
        network_document(e, tree_with(OSASCRIPT), host_name="h")
        for e in (from_socket_row(connect()), accept)
        if e is not None
    ]
    written = set().union(*map(leaves, docs))
    assert len(docs) == 2 and written - DEFEND_FIELDS == set()
    # and every column the network table has for them is one of those fields or the shared ones
    network_cols = {c.ecs for c in NETWORK_TABLE.columns if c.ecs and c.ecs.split(".")[0] in (
        "source", "destination", "network")}  # fmt: skip
    assert network_cols - DEFEND_FIELDS == set()


def test_accept_puts_the_peer_in_source_and_is_tcp_ingress() -> None:
    row = connect(action="accept", remote_address="203.0.113.9", remote_port="", eid="77")
    event = from_socket_row(row)
    assert event == SocketEvent(
        time=1741085600, event_id="socket_events-77", action="connection_accepted", pid=4810,
        path="/usr/bin/osascript", direction="ingress", outcome="success", network_type="ipv4",
        transport="tcp", source_ip="203.0.113.9",
    )  # fmt: skip
    doc = network_document(event, ProcessTree())
    assert (doc["source"], "destination" in doc) == (
        {"ip": "203.0.113.9", "address": "203.0.113.9"},
        False,
    )
    assert doc["network"] == {"direction": "ingress", "type": "ipv4", "transport": "tcp"}


def test_an_unknown_pid_keeps_pid_and_the_rows_path() -> None:
    event = from_socket_row(connect(pid="999", path="/tmp/x/implant"))
    assert event is not None
    doc = network_document(event, tree_with(OSASCRIPT))
    assert doc["process"] == {"pid": 999, "executable": "/tmp/x/implant", "name": "implant"}
    assert "user" not in doc and "group" not in doc


def test_the_actor_part_is_finished_once_per_image_and_follows_the_tree() -> None:
    """A second connection of the same image shares its image part's values (the same
    objects), and an exec that replaces the pid's image is seen at once."""
    event = from_socket_row(connect())
    assert event is not None
    pipeline = Capture(tree=tree_with(OSASCRIPT), user_names={501: "alice"}.get)
    window = pipeline._routes["network"].window
    pipeline.add(event)
    pipeline.add(event)
    (_, first), (_, second) = window.snapshot()
    executable = [c.name for c in NETWORK_TABLE.columns].index("process_executable")
    assert first == second and first[executable] is second[executable]
    pipeline.tree.add(
        OSASCRIPT._replace(pidversion=9022, executable="/tmp/osascript", user_name="mallory")
    )
    pipeline.add(event)
    third = pipeline.docs[-1][1]
    assert (third["process"]["executable"], third["process"]["entity_id"]) == (
        "/tmp/osascript", "4810-9022",
    )  # fmt: skip
    assert third["user"] == {"id": "501", "name": "mallory"}


def test_old_osquery_placeholders_and_binds() -> None:
    # osquery < 5.15 wrote "0" for the end it did not have, and added bind rows
    old = from_socket_row(connect(local_address="0", local_port="0"))
    assert old is not None and (old.source_ip, old.source_port) == (None, None)
    bind = connect(action="bind", remote_address="0", remote_port="0", local_address="0.0.0.0",
                   local_port="8080")  # fmt: skip
    assert from_socket_row(bind) is None
    assert from_socket_row(connect(action="listen")) is None


def test_failed_syscalls_connect_kept_with_its_outcome_accept_dropped() -> None:
    pending = from_socket_row(connect(success="0"))  # EINPROGRESS looks like this
    assert pending is not None and pending.outcome == "unknown"
    assert from_socket_row(connect(action="accept", success="0")) is None
    linux_failed = from_socket_row(connect(success="", status="failed"))
    assert linux_failed is not None and linux_failed.outcome == "failure"
    assert from_socket_row(connect(action="accept", success="", status="no_client")) is None


def test_ipv6_family_mapped_addresses_and_transport() -> None:
    v6 = from_socket_row(connect(family="10", remote_address="2606:2800:21F:CB07::1"))
    assert v6 is not None and (v6.network_type, v6.destination_ip) == (
        "ipv6",
        "2606:2800:21f:cb07::1",
    )
    mapped = from_socket_row(connect(family="10", remote_address="::ffff:169.254.169.254"))
    assert mapped is not None and (mapped.network_type, mapped.destination_ip) == (
        "ipv6",
        "169.254.169.254",
    )
    udp = from_socket_row(connect(protocol="17", family="0"))
    assert udp is not None and (udp.transport, udp.network_type) == ("udp", "ipv4")


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"remote_address": "93.184.215.999"}, "malformed"),
        ({"remote_address": "not\udcffan-ip"}, "malformed"),
        ({"remote_port": "https"}, "malformed"),
        ({"remote_port": "70000"}, "malformed"),
        ({"local_port": "-1"}, "malformed"),
        ({"pid": "12a"}, "malformed"),
        ({"time": ""}, "malformed"),
    ],
)
def test_unreadable_values_are_refused_with_a_reason(changes: dict[str, str], reason: str) -> None:
    with pytest.raises(BadRecord) as info:
        from_socket_row(connect(**changes))
    assert info.value.reason == reason


def test_missing_columns_are_counted_as_missing_fields() -> None:
    row = connect()
    del row["pid"]
    with pytest.raises(BadRecord) as info:
        from_socket_row(row)
    assert info.value.reason == "missing_field"


def test_the_pipeline_counts_every_dropped_row_and_keeps_going() -> None:
    pipeline = Capture(tree=tree_with(OSASCRIPT))
    rows = [
        connect(remote_port="https"),  # bad.malformed
        connect(action="bind", remote_address="0"),  # ignored
        connect(path="/bin/\udcff\udcfe"),  # a path that was not UTF-8 (surrogateescape)
        connect(remote_address="::1", family="10", eid="2"),
    ]
    for row in rows:
        pipeline.feed(row, "osquery")
    assert pipeline.stats.snapshot() == {
        "read.osquery": 4, "bad.malformed": 1, "ignored.osquery": 1, "served": 2,
    }  # fmt: skip
    assert [d["destination"]["ip"] for _, d in pipeline.docs] == ["93.184.215.14", "::1"]


def test_the_osquery_docs_socket_events_line_is_a_connection() -> None:
    """osquery's own (Linux) sample line, a results-log ``added`` row."""
    lines = (FIXTURES / "osquery-results" / "osquery_docs_examples.ndjson").read_text()
    line = next(x for x in lines.splitlines() if '"name":"socket_events"' in x)
    [item] = list(normalize(json.loads(line)))
    assert item == SocketEvent(
        time=1527895541, event_id="socket_events-1527895541-30220",
        action="connection_attempted", pid=30220, path="/usr/bin/curl", direction="egress",
        outcome="success", network_type="ipv4", destination_ip="172.217.164.110",
        destination_port=80,
    )  # fmt: skip


def test_the_columns_polled_are_the_specs() -> None:
    spec = json.loads((FIXTURES / "osquery-schema" / "socket_events.json").read_text())
    names = {c["name"] for c in spec["columns"]}
    linux = {c["name"] for e in spec["extended_schema"] for c in e["columns"]}
    assert set(COLUMNS_READ) - names == linux == {"status"}
    assert {c["name"] for c in spec["columns"] if c["hidden"]} - {"socket"} == HIDDEN


_TEXT = st.text(st.characters(codec="utf-8") | st.sampled_from(["\udcff", "\x00"]), max_size=12)
_VALUE = (
    _TEXT
    | st.integers(-2, 70_000).map(str)
    | st.sampled_from(["", "0", "::1", "10.0.0.1", "::ffff:1.2.3.4", "fe80::1%en0", "1e3"])
)
_ROWS = st.fixed_dictionaries(
    {},
    optional={
        "time": _VALUE, "eid": _TEXT, "pid": _VALUE, "path": _TEXT, "protocol": _VALUE,
        "family": st.sampled_from(["", "0", "2", "10", "1"]) | _VALUE,
        "action": st.sampled_from(["connect", "accept", "bind", ""]) | _TEXT,
        "local_address": _VALUE, "local_port": _VALUE, "remote_address": _VALUE,
        "remote_port": _VALUE, "success": st.sampled_from(["", "0", "1"]),
        "status": st.sampled_from(["", "succeeded", "failed", "in_progress", "no_client"]),
    },
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(row=_ROWS)
def test_any_row_is_a_connection_nothing_or_a_bad_record(row: dict[str, str]) -> None:
    """One hostile row never raises anything else, and what it becomes fits the table."""
    try:
        event = from_socket_row(row)
    except BadRecord as exc:
        assert exc.reason in ("malformed", "missing_field")
        return
    if event is None:
        return
    assert event.destination_ip is not None or event.source_ip is not None
    doc = network_document(event, tree_with(OSASCRIPT))
    assert leaves(doc) - DEFEND_FIELDS == set()
    for column in NETWORK_TABLE.columns:  # every value encodes into its column
        if column.ecs is not None:
            encode_value(column, get_path(doc, column.ecs))
    for port in (event.source_port, event.destination_port):
        assert port is None or 1 <= port <= 65535


@settings(max_examples=200, deadline=None)
@given(row=_ROWS)
def test_the_pipeline_survives_any_row(row: dict[str, str]) -> None:
    pipeline = Capture(tree=tree_with(OSASCRIPT))
    pipeline.feed(row, "osquery")
    pipeline.feed(connect(), "osquery")  # and the next row is still served
    stats = pipeline.stats.snapshot()
    assert stats["read.osquery"] == 2 and stats.get("bad.unexpected", 0) == 0
    assert pipeline.docs[-1][1]["destination"]["port"] == 443


def test_the_actor_is_the_pids_latest_image() -> None:
    """A pid reused by a new exec names the new image; its events find it by pid alone."""
    pipeline = Capture()
    for proc in (OSASCRIPT, OSASCRIPT._replace(pidversion=9022, executable="/usr/bin/curl")):
        pipeline.add(ProcEvent(Action.EXEC, 1741085590.0, "e", proc, parent=Ref(1)))
    pipeline.feed(connect(), "osquery")
    process = pipeline.docs[-1][1]["process"]
    assert (process["entity_id"], process["name"]) == ("4810-9022", "curl")


def test_a_pipeline_given_an_empty_tree_shares_it() -> None:
    """Replay builds one pipeline per table on one tree; an empty tree is falsy (``len``), and
    ``tree or ProcessTree()`` once gave each pipeline its own, so connections lost their actor."""
    shared = ProcessTree()
    assert len(shared) == 0 and Capture(tree=shared).tree is shared
