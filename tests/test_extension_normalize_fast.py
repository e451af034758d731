"""The adapters' per-event fast paths answer exactly as the plain readings they replaced.

Each adapter reads a row or message the cheap way (``socket``: the text columns at once, by
``itemgetter``; NamedTuples built as the tuples they are, ``model.tuple_new``; ``Globs``:
each glob by its shape; ``FileScope.skip_line``: one candidate path at a time). The
references below are those readings as they were written before (ecsquery commit 3c73047:
column by column, every NamedTuple by keyword, every glob tried as a regular expression,
every candidate collected first), and each property test feeds both the same generated
input: rows of Thrift strings and of a results log's other values (numbers, null, lists,
missing columns), eslogger messages with hostile paths, raw lines cut anywhere. The outcome
compared is the whole result with the class of every tuple in it, or the refusal's reason
and message, or the exception's class and message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecsquery.extension import files as scoping
from ecsquery.extension.files import DEFAULT_PATHS, FileScope, Globs
from ecsquery.extension.model import Action, Proc, ProcEvent, Ref
from ecsquery.extension.normalize import BadRecord, eslogger_file, files, socket
from ecsquery.extension.normalize.eslogger import KNOWN_VERSIONS, _parent, _ref, parse_time, process
from ecsquery.extension.normalize.files import DEFEND, FileEvent, join
from ecsquery.extension.normalize.socket import SocketEvent
from test_extension_file import BODIES, BODIES_BY_PATH, PATHS, message
from test_extension_network import connect
from test_extension_normalize_tables import FILE_ROWS, SOCKET_ROWS

_ODD = (
    st.none()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.booleans()
    | st.lists(st.integers(0, 9), max_size=2)
    | st.sampled_from([0, 1, 2, 10, 443, 1.0, "1"])
)
"""What a results log (or a replay file) may hold where Thrift holds a string."""


def _variants(rows: st.SearchStrategy[dict[str, str]]) -> st.SearchStrategy[dict[str, Any]]:
    """The rows as they are (every value a string: the fast path), and the same rows with
    any column missing or holding another JSON value (the per-column path)."""
    return rows | rows.flatmap(
        lambda row: st.fixed_dictionaries(
            {}, optional={k: st.just(v) | _ODD for k, v in row.items()}
        )
    )


def shape(value: Any) -> Any:
    """``value`` with the class of every tuple in it (a tuple equals a NamedTuple of the same
    items: the class must be compared too)."""
    if isinstance(value, tuple):
        return (type(value), tuple(shape(v) for v in value))
    return value


def outcome(read: Callable[..., Any], *args: Any) -> Any:
    try:
        result = read(*args)
    except BadRecord as exc:
        return ("refused", exc.reason, str(exc))
    except Exception as exc:  # what the pipeline counts as bad.unexpected: the same either way
        return ("raised", type(exc), str(exc))
    return ("read", shape(result))


# --- socket_events ---------------------------------------------------------------------------


def _text(row: Mapping[str, Any], name: str) -> str:
    value = row.get(name)
    return value if value.__class__ is str else "" if value is None else str(value)


def socket_reference(row: Mapping[str, Any]) -> SocketEvent | None:
    """``socket.from_socket_row`` as it was: each column through ``_text``, built by keyword."""
    action = socket._ACTIONS.get(_text(row, "action"))
    if action is None:
        return None
    success, status = _text(row, "success"), _text(row, "status")
    accepted = action == "connection_accepted"
    if accepted and (success == "0" or status in socket._FAILED_ACCEPT):
        return None
    try:
        time = int(row["time"])
        pid = int(row["pid"])
        remote = socket.ip(_text(row, "remote_address")), socket.port(_text(row, "remote_port"))
        local = socket.ip(_text(row, "local_address")), socket.port(_text(row, "local_port"))
    except KeyError as exc:
        raise BadRecord("missing_field", f"socket_events row without {exc}") from exc
    except ValueError as exc:
        raise BadRecord("malformed", f"socket_events row: {exc}"[:500]) from exc
    if remote[0] is None:
        return None
    eid = _text(row, "eid")
    source, destination = (remote, local) if accepted else (local, remote)
    return SocketEvent(
        time=time,
        event_id=f"socket_events-{eid}" if eid else f"socket_events-{time}-{pid}",
        action=action,
        pid=pid,
        path=_text(row, "path"),
        direction="ingress" if accepted else "egress",
        outcome="success" if success == "1" or status == "succeeded" else
        "failure" if status == "failed" else "unknown",
        network_type=socket._FAMILIES.get(_text(row, "family")) or
        ("ipv6" if ":" in remote[0] else "ipv4"),
        transport=socket._TRANSPORTS.get(_text(row, "protocol")) or ("tcp" if accepted else None),
        source_ip=source[0],
        source_port=source[1],
        destination_ip=destination[0],
        destination_port=destination[1],
    )  # fmt: skip


@settings(max_examples=600, deadline=None)
@given(row=_variants(SOCKET_ROWS))
def test_a_socket_row_reads_as_column_by_column(row: dict[str, Any]) -> None:
    assert outcome(socket.from_socket_row, row) == outcome(socket_reference, row)


def test_the_socket_fast_path_is_taken_and_equal() -> None:
    """A macOS row (no ``status``) and an accept, each also with one column a number."""
    for row in (connect(), connect(action="accept", local_address="10.0.0.2", local_port="22")):
        for odd in ({}, {"success": 1}, {"local_port": 22}, {"remote_address": None}):
            changed = {**row, **odd}
            assert outcome(socket.from_socket_row, changed) == outcome(socket_reference, changed)
    assert outcome(socket.from_socket_row, connect())[1][0] is SocketEvent


# --- es_process_file_events ------------------------------------------------------------------


def _int(row: Mapping[str, Any], name: str) -> int | None:
    value = row.get(name)
    return None if value is None or value == "" else int(value)


def es_file_reference(row: Mapping[str, Any]) -> FileEvent | None:
    """``files.from_es_file_row`` as it was: ``_text``/``_int`` per column, built by keyword."""
    operation = _text(row, "event_type")
    names = DEFEND.get(operation)
    if names is None:
        return None
    try:
        time = _int(row, "time")
        pid = _int(row, "pid")
        if time is None or pid is None:
            raise KeyError("time" if time is None else "pid")
        parent = _int(row, "parent")
    except (KeyError, ValueError) as exc:
        raise BadRecord("missing_field", f"es_process_file_events row: {exc!r}") from exc
    path, original = _text(row, "filename"), ""
    if operation == "rename":
        path, original = _text(row, "dest_filename"), path
    eid = _text(row, "eid")
    seconds = float(time)
    actor = ProcEvent(
        Action.END,
        seconds,
        "",
        Proc(pid=pid, executable=_text(row, "path")),
        parent=Ref(parent) if parent is not None and parent > 0 else None,
        source="osquery:es_process_file_events",
    )
    return FileEvent(
        names[0],
        names[1],
        seconds,
        f"es_process_file_events-{eid}" if eid else f"es_process_file_events-{time}-{pid}",
        path,
        actor,
        original_path=original,
        operation=operation,
    )


@settings(max_examples=600, deadline=None)
@given(row=_variants(FILE_ROWS))
def test_an_es_file_row_reads_as_column_by_column(row: dict[str, Any]) -> None:
    assert outcome(files.from_es_file_row, row) == outcome(es_file_reference, row)


def test_an_es_file_row_is_built_as_by_keyword() -> None:
    for kind in ("write", "rename", "create"):
        row = {"time": "100", "eid": "01", "event_type": kind, "pid": "700", "parent": "1",
               "path": "/bin/zsh", "filename": "/tmp/a", "dest_filename": "/etc/b"}  # fmt: skip
        read = outcome(files.from_es_file_row, row)
        assert read == outcome(es_file_reference, row) and read[0] == "read"


# --- eslogger file events --------------------------------------------------------------------


def eslogger_file_reference(msg: Mapping[str, Any], name: str) -> FileEvent | None:
    """``eslogger_file.from_eslogger_file`` as it was: its actor and event built by keyword."""
    try:
        body = msg["event"][name]
        original = ""
        item = None
        actor_process = msg["process"]
        if name == "close":
            if not body.get("modified"):
                return None
            path = eslogger_file._path(body["target"])
        elif name in ("create", "rename"):
            path = eslogger_file._destination(body)
            if name == "rename":
                original = eslogger_file._path(body["source"])
        elif name == "open":
            path = eslogger_file._path(body["file"])
        elif name in ("btm_launch_item_add", "btm_launch_item_remove"):
            item = eslogger_file.launch_item(body)
            if item is None:
                return None
            path = item.path
            if body.get("instigator"):
                actor_process = body["instigator"]
        else:
            path = eslogger_file._path(body["target"])
        time = parse_time(msg["time"])
        actor = ProcEvent(
            Action.END,
            time,
            "",
            process(actor_process),
            parent=_parent(actor_process),
            original_ppid=actor_process.get("original_ppid"),
            responsible=_ref(actor_process.get("responsible_audit_token")),
            source="eslogger",
        )
        remove = name == "btm_launch_item_remove"
        action, kind = DEFEND["btm_launch_item_add" if remove else name]
        return FileEvent(
            action,
            kind,
            time,
            f"es-{msg.get('mach_time', '')}-{msg['global_seq_num']}",
            path,
            actor,
            original_path=original,
            operation=name,
            launch_item=item,
            forget=remove,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        version = msg.get("version")
        known = isinstance(version, int) and version in KNOWN_VERSIONS
        reason = "missing_field" if known else "unknown_version"
        raise BadRecord(reason, f"eslogger {name} message version {version!r}: {exc!r}") from exc


_LAUNCH = {
    "btm_launch_item_add": lambda p, o: {"item": {"item_type": 4, "item_url": p, "uid": 0},
                                         "instigator": None, "executable_path": o},
    "btm_launch_item_remove": lambda p, o: {"item": {"item_type": 3, "item_url": f"file://{p}"},
                                            "executable_path": o},
}  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    name=st.sampled_from(sorted({*BODIES_BY_PATH, *_LAUNCH, "write"})),
    path=PATHS | st.text(max_size=8),
    other=PATHS,
    odd=st.none() | st.sampled_from(["time", "global_seq_num", "process", "target", "modified"]),
)
def test_an_eslogger_file_event_is_built_as_by_keyword(
    name: str, path: str, other: str, odd: str | None
) -> None:
    make = {**BODIES_BY_PATH, **_LAUNCH, "write": BODIES_BY_PATH["close"]}[name]
    msg = message(name, make(path, other))
    if odd in ("time", "global_seq_num", "process"):
        del msg[odd]
    elif odd is not None:
        msg["event"][name].pop(odd, None)
    assert outcome(eslogger_file.from_eslogger_file, msg, name) == outcome(
        eslogger_file_reference, msg, name
    )


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(sorted(BODIES)), value=st.text(max_size=8) | _ODD)
def test_an_eslogger_file_event_with_a_hostile_path_reads_alike(name: str, value: Any) -> None:
    msg = message(name, BODIES[name](value))
    assert outcome(eslogger_file.from_eslogger_file, msg, name) == outcome(
        eslogger_file_reference, msg, name
    )


# --- scope: globs and the undecoded line ----------------------------------------------------


def glob_reference(pattern: str, path: str) -> bool:
    """A glob as the settings describe it: ``*`` any text (``/`` too), ``?`` one character,
    case-insensitive (both lower-cased), the whole path."""
    regex = "".join(
        ".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern.lower()
    )
    return re.fullmatch(regex, path.lower(), re.DOTALL) is not None


_GLOB_PARTS = st.sampled_from(["/", "a", "B", "ab", "*", "?", ".", "x.", "İ", "/a/", "/b*"])
_GLOBS = st.lists(_GLOB_PARTS, max_size=6).map("".join)
_PATH_PARTS = st.sampled_from(["/", "a", "b", "A", ".", "x", "ab", "İ", "i\u0307", "/a/", "/b"])
_GLOB_PATHS = st.lists(_PATH_PARTS, max_size=7).map("".join)


@settings(max_examples=800, deadline=None)
@given(patterns=st.lists(_GLOBS, max_size=4), paths=st.lists(_GLOB_PATHS, min_size=1, max_size=4))
def test_globs_match_as_regular_expressions(patterns: list[str], paths: list[str]) -> None:
    globs = Globs(patterns)
    for path in paths + paths:  # twice: the second answer is the remembered one
        assert globs.match(path) is any(glob_reference(p, path) for p in patterns), (patterns, path)


@settings(max_examples=300, deadline=None)
@given(path=PATHS | _GLOB_PATHS)
def test_the_default_globs_match_as_regular_expressions(path: str) -> None:
    globs = Globs(DEFAULT_PATHS)
    assert globs.match(path) is any(glob_reference(p, path) for p in DEFAULT_PATHS)


def test_a_forgotten_answer_is_found_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past ``MEMO_PATHS`` the remembered answers are dropped; long paths are never kept."""
    monkeypatch.setattr(scoping, "MEMO_PATHS", 2)
    globs = Globs(["/etc/*"])
    paths = ["/etc/a", "/tmp/b", "/ETC/c", "/etc/a", "/etc/" + "x" * scoping.MEMO_CHARS, "/tmp/b"]
    assert [globs.match(p) for p in paths] == [True, False, True, True, True, False]
    assert len(globs._memo) <= 2 and all(len(p) <= scoping.MEMO_CHARS for p in globs._memo)


def skip_reference(patterns: tuple[str, ...], line: str) -> bool:
    """``FileScope.skip_line`` as it was: every candidate collected, then each tried."""
    if "*" in patterns:
        return False
    start = line.find('"event":{"')
    if start < 0:
        return False
    start += 10
    if line[start : line.find('"', start)] not in scoping.PREFILTERED:
        return False
    paths = scoping._strings(line, '"path":"', start)
    names = scoping._strings(line, '"filename":"', start)
    if paths is None or names is None:
        return False
    candidates = paths + [join(path, name) for path in paths for name in names]
    return not any(glob_reference(p, c) for p in patterns for c in candidates)


_HOSTILE_PATHS = PATHS | st.lists(
    st.sampled_from(["/", "a", '"', "\\", "\\u00e9", "\x00", "\ud800", "é", "/Users/b"]),
    max_size=8,
).map("".join)


@settings(max_examples=500, deadline=None)
@given(
    name=st.sampled_from(sorted({*BODIES_BY_PATH, "write", "btm_launch_item_add"})),
    path=_HOSTILE_PATHS,
    other=_HOSTILE_PATHS,
    escaped=st.booleans(),
    cut=st.none() | st.integers(0, 4000),
    first=st.booleans(),
    more=st.none() | st.sampled_from([".zshrc", "a.plist", "LaunchAgents", "x"]),
)
def test_the_line_prefilter_answers_as_collecting_every_candidate(
    name: str, path: str, other: str, escaped: bool, cut: int | None, first: bool, more: str | None
) -> None:
    make = {**BODIES_BY_PATH, **_LAUNCH, "write": BODIES_BY_PATH["close"]}[name]
    msg = message(name, make(path, other))
    if first:  # eslogger writes the members in no fixed order
        msg = {"event": msg.pop("event"), **msg}
    if more is not None:  # another name: every directory is joined with each
        msg["event"][name]["more"] = {"filename": more}
    line = json.dumps(msg, separators=(",", ":"))
    if escaped:
        line = line.replace("/", "\\/")  # as eslogger writes JSON
    if cut is not None:
        line = line[:cut]
    for scope in (FileScope(), FileScope(["/Users/*", "/tmp/a?", "*.plist"])):
        assert scope.skip_line(line) is skip_reference(scope.paths, line), line
