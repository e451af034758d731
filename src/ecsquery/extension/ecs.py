"""A :class:`ProcEvent` plus the process tree → an ECS document in Elastic Defend's shape.

Field names and values follow what Elastic Defend populates for macOS process events
(``tests/fixtures/ecs-fields/macos_process_fork_exec_exit.yaml``): ``event.category``
``["process"]``; ``event.type`` ``["start"]`` for exec and fork, ``["end"]`` for exit;
``event.action`` exec/fork/end; ``process.args`` the argv list, ``command_line`` the args joined
by spaces, ``name`` the executable's basename.

``user.id`` is the real uid and ``user.effective.id`` the effective one (they differ only for
set-uid programs); ``group.id`` is the real gid.
"""

from __future__ import annotations

import functools
import posixpath
import time
from typing import Any

from ecsquery.extension.model import Action, Proc, ProcEvent, Ref
from ecsquery.extension.tree import ProcessTree

_TYPES = {Action.EXEC: ["start"], Action.FORK: ["start"], Action.END: ["end"]}


@functools.lru_cache(maxsize=64)
def _second_text(second: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS.`` of a whole second: events come in time order, so nearly every
    event reuses a recent second (``strftime`` per event was 5% of the per-event cost)."""
    t = time.gmtime(second)
    return f"{t[0]:04d}-{t[1]:02d}-{t[2]:02d}T{t[3]:02d}:{t[4]:02d}:{t[5]:02d}."


def iso_timestamp(seconds: float) -> str:
    """ISO 8601 UTC with milliseconds, as ``@timestamp`` is written by Elastic Defend.

    The same text as ``datetime.fromtimestamp(seconds, timezone.utc)`` formatted to
    milliseconds (microseconds rounded half-even first, as ``datetime`` does, then truncated).
    """
    whole = int(seconds // 1)
    micros = round((seconds - whole) * 1e6)
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    return f"{_second_text(whole)}{micros // 1000:03d}Z"


def entity_id(proc: Proc | Ref | None) -> str | None:
    """A process identity stable across its events; pid alone is not (pids are reused)."""
    if proc is None or proc.pidversion is None:
        if isinstance(proc, Proc) and proc.start is not None:
            return f"{proc.pid}-t{int(proc.start * 1000)}"
        return None
    return f"{proc.pid}-{proc.pidversion}"


def _process_fields(proc: Proc) -> dict[str, Any]:
    fields: dict[str, Any] = {"pid": proc.pid}
    if (eid := entity_id(proc)) is not None:
        fields["entity_id"] = eid
    if proc.executable:
        fields["executable"] = proc.executable
        fields["name"] = posixpath.basename(proc.executable)
    if proc.args or proc.args_count:
        fields["args"] = list(proc.args)
        fields["args_count"] = proc.args_count or len(proc.args)
        fields["command_line"] = proc.command_line or " ".join(proc.args)
    signature: dict[str, Any] = {}
    if proc.signed is not None:
        signature["exists"] = proc.signed
    if proc.trusted is not None:
        signature["trusted"] = proc.trusted
    if proc.signing_id:
        signature["signing_id"] = proc.signing_id
    if proc.team_id:
        signature["team_id"] = proc.team_id
    if signature:
        fields["code_signature"] = signature
    return fields


def _ref_fields(ref: Ref, known: Proc | None) -> dict[str, Any]:
    if known is not None:
        return _process_fields(known)
    fields: dict[str, Any] = {"pid": ref.pid}
    if (eid := entity_id(ref)) is not None:
        fields["entity_id"] = eid
    return fields


def build_document(
    event: ProcEvent, tree: ProcessTree, *, host_os_type: str = "macos", host_name: str = ""
) -> dict[str, Any]:
    """The ECS document for an event already passed through :meth:`ProcessTree.observe`."""
    proc = event.proc
    process = _process_fields(proc)
    if proc.cwd:
        process["working_directory"] = proc.cwd
    if event.exit_code is not None:
        process["exit_code"] = event.exit_code
    if event.env:
        process["env_vars"] = list(event.env)
    if event.previous_executable:
        process["previous"] = {"executable": event.previous_executable}
    if event.parent is not None:
        process["parent"] = _ref_fields(event.parent, tree.get(event.parent))
    effective = tree.effective_parent(event)
    if effective is not None:
        known = tree.get(effective)
        eff: dict[str, Any] = {"pid": effective.pid}
        if (eid := entity_id(known or effective)) is not None:
            eff["entity_id"] = eid
        if known is not None and known.executable:
            eff["executable"] = known.executable
            eff["name"] = posixpath.basename(known.executable)
        process["Ext"] = {"effective_parent": eff}
    user: dict[str, Any] = {}
    if proc.uid is not None:
        user["id"] = str(proc.uid)
    if proc.user_name:
        user["name"] = proc.user_name
    if proc.euid is not None:
        user["effective"] = {"id": str(proc.euid)}
    host: dict[str, Any] = {"os": {"type": host_os_type}}
    if host_name:
        host["name"] = host_name
    doc: dict[str, Any] = {
        "@timestamp": iso_timestamp(event.time),
        "event": {
            "category": ["process"],
            "type": list(_TYPES[event.action]),
            "action": event.action.value,
            "id": event.event_id,
        },
        "host": host,
        "process": process,
    }
    if user:
        doc["user"] = user
    if proc.gid is not None:
        doc["group"] = {"id": str(proc.gid)}
    return doc
