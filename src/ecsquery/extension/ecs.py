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
import time
from collections.abc import Callable
from typing import Any, Optional

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


def _basename(path: str) -> str:
    """``posixpath.basename`` of a text path (the same slice, without its ``fspath`` and
    separator look-ups: it runs once or twice per event)."""
    return path[path.rfind("/") + 1 :]


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
        fields["name"] = _basename(proc.executable)
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


def _effective_fields(ref: Ref, known: Proc | None) -> dict[str, Any]:
    eff: dict[str, Any] = {"pid": ref.pid}
    if (eid := entity_id(known or ref)) is not None:
        eff["entity_id"] = eid
    if known is not None and known.executable:
        eff["executable"] = known.executable
        eff["name"] = _basename(known.executable)
    return eff


SHARED_IMAGES = 1024
"""Parents (and effective parents) whose objects :class:`SharedFields` keeps (then anew)."""

_Fields = Callable[[Ref, Optional[Proc]], dict[str, Any]]  # runtime: 3.9 has no `X | Y`


class SharedFields:
    """The ``process.parent`` and ``process.Ext.effective_parent`` objects, built once per
    parent and shared by every document naming it (a shell is the parent of each command it
    runs). Never changed once built, so a flattener may remember their finished values by
    identity (``rows.make_flattener``'s ``stable``). A parent the tree knows is keyed by its
    image object (by ``id``, with the image kept beside it so a reused ``id`` is never
    confused); one it does not know, by its :class:`Ref` (pid and pidversion) alone."""

    PATHS = ("process.parent", "process.Ext.effective_parent")

    def __init__(self) -> None:
        self._caches: dict[Any, dict[Any, tuple[Any, dict[str, Any]]]] = {
            _ref_fields: {},
            _effective_fields: {},
        }

    def parent(self, ref: Ref, known: Proc | None) -> dict[str, Any]:
        return self._get(_ref_fields, ref, known)

    def effective(self, ref: Ref, known: Proc | None) -> dict[str, Any]:
        return self._get(_effective_fields, ref, known)

    def _get(self, build: _Fields, ref: Ref, known: Proc | None) -> dict[str, Any]:
        cache = self._caches[build]
        key: Any = ref if known is None else id(known)
        owner: Any = ref if known is None else known
        hit = cache.get(key)
        if hit is not None and (hit[0] is owner or (known is None and hit[0] == ref)):
            return hit[1]
        if len(cache) >= SHARED_IMAGES:
            cache.clear()
        fields = build(ref, known)
        cache[key] = (owner, fields)
        return fields


def build_document(
    event: ProcEvent,
    tree: ProcessTree,
    *,
    host_os_type: str = "macos",
    host_name: str = "",
    shared: SharedFields | None = None,
) -> dict[str, Any]:
    """The ECS document for an event already passed through :meth:`ProcessTree.observe`
    (with ``shared``, its parent objects are shared with other documents: read them only)."""
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
        known = tree.get(event.parent)
        build = _ref_fields if shared is None else shared.parent
        process["parent"] = build(event.parent, known)
    effective = tree.effective_parent(event)
    if effective is not None:
        build = _effective_fields if shared is None else shared.effective
        process["Ext"] = {"effective_parent": build(effective, tree.get(effective))}
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
