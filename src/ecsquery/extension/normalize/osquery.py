"""Rows of osquery's own process tables → :class:`ProcEvent` (or :class:`Proc` for seeds).

* ``es_process_events`` (EndpointSecurity): ``cmdline`` is argv in osquery ≥ 5.10's quoting
  (see :mod:`ecsquery.extension.argv`). A ``fork`` row describes the *forking* process with the
  child in ``child_pid``; it is turned round so the event is about the child, as Elastic
  Defend reports forks. osquery's ``euid`` column holds the effective *gid* in the releases
  read (``ec->euid = audit_token_to_egid(...)`` in ``es_utils.cpp``), so it is not used.
* ``process_events`` (OpenBSM on macOS, audit on Linux): exec rows with a space-joined
  ``cmdline`` (split on spaces, lossy) and no code-signing data (left missing, not false).
* ``processes``: the running processes, used only to seed the process tree.

Rows arrive as osquery sends them over Thrift (all strings) or from a results log (strings,
or numbers with ``logNumericsAsNumbers``); both are accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from sys import intern
from typing import Any

from ecsquery.extension.argv import parse_cmdline, split_plain
from ecsquery.extension.model import Action, Proc, ProcEvent, Ref
from ecsquery.extension.normalize.errors import BadRecord
from ecsquery.extension.normalize.eslogger import exit_code

COLUMNS_READ = {
    "es_process_events": (
        "time", "eid", "event_type", "pid", "pidversion", "path", "cmdline", "cwd", "uid", "gid",
        "username", "signing_id", "team_id", "cdhash", "codesigning_flags", "platform_binary",
        "parent", "parent_pidversion", "original_parent", "responsible_pid",
        "responsible_pidversion", "child_pid", "exit_code",
    ),
    "process_events": (
        "time", "eid", "pid", "parent", "path", "cmdline", "cwd", "uid", "euid", "gid", "syscall",
    ),
}  # fmt: skip
"""The columns each table's adapter below reads: the osquery source polls only these (not
``SELECT *``: ``env`` alone is ~1.3 KB of a 1 KB-per-row reply otherwise)."""

_ES_ACTIONS = {"exec": Action.EXEC, "fork": Action.FORK, "exit": Action.END}
_FORK_SYSCALLS = {"fork", "vfork", "clone", "clone3"}
_INTERNED = 512  # longer values are kept as they are


def _int(row: Mapping[str, Any], name: str) -> int | None:
    value = row.get(name)
    if value is None or value == "":
        return None
    return int(value)


def _text(row: Mapping[str, Any], name: str) -> str:
    value = row.get(name)
    return "" if value is None else str(value)


def _shared(row: Mapping[str, Any], name: str) -> str:
    """:func:`_text` for a value many rows repeat (a path, a signing id, a user name): the
    process tree keeps it, so every image holding it shares one string (``sys.intern``'s
    strings go when the last reference does, so an attacker's unique paths are not kept)."""
    value = row.get(name)
    if value is None:
        return ""
    return intern(value) if value.__class__ is str and len(value) <= _INTERNED else str(value)


def _required(row: Mapping[str, Any], name: str) -> int:
    value = _int(row, name)
    if value is None:
        raise KeyError(name)
    return value


def is_es_process_row(row: Mapping[str, Any]) -> bool:
    return "event_type" in row and ("child_pid" in row or "pidversion" in row)


def is_process_events_row(row: Mapping[str, Any]) -> bool:
    return "cmdline" in row and "path" in row and "time" in row and "event_type" not in row


def is_processes_row(row: Mapping[str, Any]) -> bool:
    return "start_time" in row and "name" in row and "path" in row


def from_es_process_row(row: Mapping[str, Any]) -> ProcEvent | None:
    action = _ES_ACTIONS.get(_text(row, "event_type"))
    if action is None:
        return None
    try:
        return _es_event(row, action)
    except (KeyError, ValueError) as exc:
        raise BadRecord("missing_field", f"es_process_events row: {exc!r}") from exc


def _es_event(row: Mapping[str, Any], action: Action) -> ProcEvent:
    time = _required(row, "time")
    pid = _required(row, "pid")
    signing_id, team_id = _shared(row, "signing_id"), _shared(row, "team_id")
    flags = _text(row, "codesigning_flags")
    signed = bool(signing_id or _text(row, "cdhash"))
    trusted = (
        signed
        and "NOT_VALID" not in flags
        and "ADHOC" not in flags
        and (_int(row, "platform_binary") == 1 or bool(team_id))
    )
    image = Proc(
        pid=pid,
        pidversion=_int(row, "pidversion"),
        executable=_shared(row, "path"),
        args=tuple(parse_cmdline(_text(row, "cmdline"))),
        cwd=_shared(row, "cwd"),
        signing_id=signing_id,
        team_id=team_id,
        signed=signed,
        trusted=trusted,
        uid=_int(row, "uid"),
        gid=_int(row, "gid"),
        user_name=_shared(row, "username"),
    )
    eid = _text(row, "eid")
    event_id = f"es_process_events-{eid}" if eid else f"es_process_events-{time}-{pid}"
    responsible = _int(row, "responsible_pid")
    parent = _int(row, "parent")
    common = {
        "original_ppid": _int(row, "original_parent"),
        "responsible": Ref(responsible, _int(row, "responsible_pidversion"))
        if responsible
        else None,
        "source": "osquery:es_process_events",
    }
    if action is Action.FORK:
        child = _required(row, "child_pid")
        return ProcEvent(
            action,
            float(time),
            event_id,
            image.as_child(child, None),
            parent=image.ref,
            **common,  # type: ignore[arg-type]
        )
    code = _int(row, "exit_code")
    return ProcEvent(
        action,
        float(time),
        event_id,
        image,
        parent=Ref(parent, _int(row, "parent_pidversion")) if parent is not None else None,
        exit_code=exit_code(code) if action is Action.END and code is not None else None,
        **common,  # type: ignore[arg-type]
    )


def es_process_items(row: Mapping[str, Any]) -> list[ProcEvent]:
    """The event in an ``es_process_events`` row, for a source that knows the row's table."""
    event = from_es_process_row(row)
    return [] if event is None else [event]


def process_events_items(row: Mapping[str, Any]) -> list[ProcEvent]:
    """The event in a ``process_events`` row, for a source that knows the row's table."""
    return [from_process_events_row(row)]


def from_process_events_row(row: Mapping[str, Any]) -> ProcEvent:
    try:
        time = _required(row, "time")
        pid = _required(row, "pid")
        parent = _int(row, "parent")
        eid = _text(row, "eid")
        action = Action.FORK if _text(row, "syscall") in _FORK_SYSCALLS else Action.EXEC
        proc = _row_proc(row, pid)
    except (KeyError, ValueError) as exc:
        raise BadRecord("missing_field", f"process_events row: {exc!r}") from exc
    return ProcEvent(
        action,
        float(time),
        f"process_events-{eid}" if eid else f"process_events-{time}-{pid}",
        proc,
        parent=Ref(parent) if parent is not None and parent > 0 else None,
        source="osquery:process_events",
    )


def from_processes_row(row: Mapping[str, Any]) -> Proc:
    try:
        start = _int(row, "start_time")
        return _row_proc(
            row, _required(row, "pid"), start=float(start) if start and start > 0 else None
        )
    except (KeyError, ValueError) as exc:
        raise BadRecord("missing_field", f"processes row: {exc!r}") from exc


def _row_proc(row: Mapping[str, Any], pid: int, start: float | None = None) -> Proc:
    """The process of a process_events or processes row: both tables name these columns alike
    (the command line is one string, split the way osquery joined it)."""
    return Proc(
        pid=pid,
        executable=_text(row, "path"),
        args=tuple(split_plain(_text(row, "cmdline"))),
        cwd=_text(row, "cwd"),
        uid=_int(row, "uid"),
        euid=_int(row, "euid"),
        gid=_int(row, "gid"),
        start=start,
    )
