"""Process rows assembled from finished parts (``extension.rowparts``) are the rows of the
whole document: the pipeline serves for every event exactly what flattening
``ecs.build_document`` column by column gives, however parts repeat, and each part of the
document writes only the fields its columns say."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ecsquery.extension import wire
from ecsquery.extension.ecs import (
    PARTS,
    build_document,
    effective_part,
    event_part,
    host_part,
    image_part,
    kind_part,
    parent_part,
)
from ecsquery.extension.files import FileScope, file_document
from ecsquery.extension.model import Action, Proc, ProcEvent, Ref
from ecsquery.extension.network import network_document
from ecsquery.extension.normalize.files import FileEvent, LaunchItem
from ecsquery.extension.normalize.socket import SocketEvent
from ecsquery.extension.pipeline import Pipeline
from ecsquery.extension.rowparts import PartCache, part_of
from ecsquery.extension.tree import ProcessTree
from ecsquery.extension.window import Window, entry_bytes
from ecsquery.rows import make_flattener
from ecsquery.schema import COLUMNS, FILE_TABLE, NETWORK_TABLE

_text = st.sampled_from(["", "/bin/zsh", "/usr/bin/security", "a b", "é\ud800", "x\x00y", "-c"])
_pids = st.integers(1, 6)
_versions = st.none() | st.integers(1, 3)


@st.composite
def _proc(draw: Any) -> Proc:
    return Proc(
        pid=draw(_pids),
        pidversion=draw(_versions),
        executable=draw(_text),
        args=tuple(draw(st.lists(_text, max_size=3))),
        cwd=draw(_text),
        signing_id=draw(_text),
        team_id=draw(_text),
        signed=draw(st.none() | st.booleans()),
        trusted=draw(st.none() | st.booleans()),
        uid=draw(st.none() | st.integers(0, 2)),
        euid=draw(st.none() | st.integers(0, 2)),
        gid=draw(st.none() | st.integers(0, 2)),
        user_name=draw(st.sampled_from(["", "alice"])),
        start=draw(st.none() | st.sampled_from([1.5, 2.25])),
    )


_refs = st.none() | st.builds(Ref, _pids, _versions)


@st.composite
def _event(draw: Any, procs: st.SearchStrategy[Proc]) -> ProcEvent:
    action = draw(st.sampled_from(list(Action)))
    return ProcEvent(
        action,
        draw(st.sampled_from([1.0, 1.0015, 2.5])),
        f"e{draw(st.integers(0, 9))}",
        draw(procs),
        parent=draw(_refs),
        original_ppid=draw(st.none() | _pids),
        responsible=draw(_refs),
        exit_code=draw(st.none() | st.integers(0, 255)) if action is Action.END else None,
        env=tuple(draw(st.lists(st.sampled_from(["DYLD_LIBRARY_PATH=/x", "A=b"]), max_size=2))),
        previous_executable=draw(_text),
    )


_plain = make_flattener(COLUMNS, [wire.encode] * len(COLUMNS))


@st.composite
def _events(draw: Any) -> list[ProcEvent]:
    """Events on a few images, some differing from another in one field only (what a part
    cache keyed on too few fields would confuse)."""
    pool = draw(st.lists(_proc(), min_size=1, max_size=3))
    other = draw(_proc())

    @st.composite
    def variant(draw: Any) -> Proc:
        proc = draw(st.sampled_from(pool))
        field = draw(st.none() | st.sampled_from(Proc._fields))
        return proc if field is None else proc._replace(**{field: getattr(other, field)})

    return draw(st.lists(_event(variant()), min_size=1, max_size=12))


@settings(max_examples=400, deadline=None)
@given(_events())
def test_rows_from_parts_are_the_rows_of_the_whole_document(events: list[ProcEvent]) -> None:
    """The same events through the pipeline and, step by step, through a tree of their own:
    every served row equals the whole document flattened, and is charged what the window
    charges for it (``entry_bytes``)."""
    pipeline = Pipeline(Window(max_age=10**9), host_name="mac")
    tree, expected = ProcessTree(), []
    charged = []
    for event in sorted(events, key=lambda e: e.time):  # the window keeps rows in time order
        before = pipeline.window.bytes
        pipeline.add(event)
        charged.append(pipeline.window.bytes - before)
        captured = event._replace(env=pipeline.env_capture(event.env))
        observed = tree.observe(captured)
        doc = build_document(observed, tree, host_name="mac")
        expected.append(_plain(doc, int(observed.time)))
    rows = [values for _, values in pipeline.window.snapshot()]
    assert rows == expected
    assert charged == [entry_bytes(row) for row in rows]


@settings(max_examples=300, deadline=None)
@given(_event(_proc()), _proc(), st.builds(Ref, _pids, _versions))
def test_each_part_writes_only_its_own_fields(event: ProcEvent, known: Proc, ref: Ref) -> None:
    parts = {
        "event": event_part(event),
        "kind": kind_part(event.action),
        "image": image_part(event.proc),
        "parent": parent_part(ref, known),
        "effective": effective_part(ref, known),
        "host": host_part("macos", "mac"),
    }
    assert set(parts) == set(PARTS)
    for name, doc in parts.items():
        for field in _leaves(doc):
            assert part_of(field, PARTS) == name, (name, field)


def _leaves(doc: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key, value in doc.items():
        if isinstance(value, dict):
            out += _leaves(value, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}")
    return out


def test_every_column_belongs_to_one_part() -> None:
    homes = {c.name: part_of(c.ecs, PARTS) for c in COLUMNS if c.ecs}
    assert homes["process_parent_pid"] == "parent"
    assert homes["process_pid"] == "event"
    assert homes["process_effective_parent_name"] == "effective"
    assert homes["event_action"] == "kind"
    assert homes["event_id"] == "event"
    assert homes["user_effective_id"] == "image"
    assert homes["host_name"] == "host"


def test_part_cache_tells_objects_apart_and_is_bounded() -> None:
    cache = PartCache(max_entries=2, max_bytes=10)
    a, b = Proc(1, 1, "/bin/sh"), Proc(1, 1, "/bin/sh")  # equal, not the same object
    cache.put(id(a), ((b"x",), 1), a)
    assert cache.get(id(a), a) == ((b"x",), 1)
    assert cache.get(id(a), b) is None  # an equal object is not the owner
    cache.put(("k",), ((b"y",), 1))
    assert cache.get(("k",)) == ((b"y",), 1)
    cache.put(("l",), ((b"z",), 1))  # a third entry: starts over
    assert len(cache) == 1 and cache.get(("k",)) is None
    cache.put(("big",), ((b"0123456789a",), 11))  # over the byte bound: starts over again
    assert len(cache) == 1


_file_plain = make_flattener(FILE_TABLE.columns, [wire.encode] * len(FILE_TABLE.columns))


@st.composite
def _file_event(draw: Any, actors: st.SearchStrategy[ProcEvent]) -> FileEvent:
    actor = draw(actors)
    item = draw(
        st.none()
        | st.builds(
            LaunchItem,
            st.sampled_from(["/Library/LaunchAgents/a.plist", "", "/x/.p.plist"]),
            _text,
            st.just(1),
            st.none(),
            st.tuples(st.integers(0, 3)),
        )
    )
    path = draw(st.sampled_from(["/etc/hosts", "/private/var/at/tabs/root", "/a/b.c", "/x"]))
    return FileEvent(
        draw(st.sampled_from(["creation", "modification", "rename"])),
        draw(st.sampled_from(["creation", "change"])),
        actor.time,
        f"f{draw(st.integers(0, 9))}",
        path,
        actor._replace(action=Action.END, event_id="", exit_code=None, env=()),
        original_path=draw(st.sampled_from(["", "/tmp/x.plist"])),
        launch_item=item,
    )


@settings(max_examples=150, deadline=None)
@given(_events(), st.data())
def test_file_rows_from_parts_are_the_rows_of_the_file_document(
    events: list[ProcEvent], data: st.DataObject
) -> None:
    """File events on the actors of a process history: each file row equals its whole file
    document flattened, however the actor's parts repeat."""
    pipeline = Pipeline(
        Window(max_age=10**9),
        host_name="mac",
        windows={"file": Window(max_age=10**9)},
        files=FileScope(paths=["/*"], muted=()),
    )
    file_window = pipeline._routes["file"].window
    for event in sorted(events, key=lambda e: e.time):
        pipeline.add(event)
        for _ in range(data.draw(st.integers(0, 2))):
            file_event = data.draw(_file_event(st.sampled_from(events)))
            served = len(file_window)
            pipeline.add(file_event)
            if len(file_window) == served:
                continue  # a launch item seen before (deduplicated), or one never served
            doc = file_document(file_event, pipeline.tree, host_name="mac")
            [(_, row)] = file_window.snapshot(int(file_event.time), int(file_event.time) + 1)[-1:]
            assert row == _file_plain(doc, int(file_event.time))


_network_plain = make_flattener(NETWORK_TABLE.columns, [wire.encode] * len(NETWORK_TABLE.columns))


@st.composite
def _connection(draw: Any) -> SocketEvent:
    ends = st.none() | st.sampled_from(["93.184.215.14", "::1", "10.0.0.2"])
    ports = st.none() | st.integers(1, 65535)
    return SocketEvent(
        time=draw(st.sampled_from([1, 2])),
        event_id=f"s{draw(st.integers(0, 9))}",
        action=draw(st.sampled_from(["connection_attempted", "connection_accepted"])),
        pid=draw(_pids),
        path=draw(_text),
        direction=draw(st.sampled_from(["egress", "ingress"])),
        outcome=draw(st.sampled_from(["success", "failure", "unknown"])),
        network_type=draw(st.sampled_from(["ipv4", "ipv6"])),
        transport=draw(st.none() | st.sampled_from(["tcp", "udp"])),
        source_ip=draw(ends),
        source_port=draw(ports),
        destination_ip=draw(ends),
        destination_port=draw(ports),
    )


@settings(max_examples=150, deadline=None)
@given(_events(), st.lists(_connection(), min_size=1, max_size=6))
def test_network_rows_from_parts_are_the_rows_of_the_network_document(
    events: list[ProcEvent], connections: list[SocketEvent]
) -> None:
    """Connections by the pids of a process history (or by pids it never saw): each network
    row equals its whole network document flattened, however the actor's parts repeat."""
    pipeline = Pipeline(Window(max_age=10**9), host_name="mac", windows={"network": Window(10**9)})
    network_window = pipeline._routes["network"].window
    for event in sorted(events, key=lambda e: e.time):
        pipeline.add(event)
    for connection in sorted(connections, key=lambda c: c.time):  # rows kept in time order
        pipeline.add(connection)
        doc = network_document(connection, pipeline.tree, host_name="mac")
        [(_, row)] = network_window.snapshot()[-1:]
        assert row == _network_plain(doc, connection.time)
