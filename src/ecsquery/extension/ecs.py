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
from collections.abc import Callable, Mapping, Sequence
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
    return _second_text(whole) + _MILLIS[micros // 1000]


_MILLIS = tuple(f"{ms:03d}Z" for ms in range(1000))
"""The end of a timestamp for each millisecond (formatting it per event was half the cost)."""


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


def _image_fields(proc: Proc) -> dict[str, Any]:
    """The ``process.*`` fields of an image that a process and its parent both carry."""
    fields: dict[str, Any] = {}
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


def _process_fields(proc: Proc) -> dict[str, Any]:
    fields: dict[str, Any] = {"pid": proc.pid}
    if (eid := entity_id(proc)) is not None:
        fields["entity_id"] = eid
    fields.update(_image_fields(proc))
    return fields


def _ref_fields(ref: Ref, known: Proc | None) -> dict[str, Any]:
    if known is not None:
        return _process_fields(known)
    fields: dict[str, Any] = {"pid": ref.pid}
    if (eid := entity_id(ref)) is not None:
        fields["entity_id"] = eid
    return fields


EFFECTIVE_FIELDS = ("pid", "entity_id", "executable", "name")
"""What :func:`effective_values` gives, in order."""


def effective_values(ref: Ref, known: Proc | None) -> tuple[Any, ...]:
    """Who asked for a process, as Defend writes it (``process.Ext.effective_parent`` on
    process events, ``Effective_process`` on file events): the values of
    :data:`EFFECTIVE_FIELDS`, None where absent."""
    executable = known.executable if known is not None and known.executable else None
    return (
        ref.pid,
        entity_id(known or ref),
        executable,
        None if executable is None else _basename(executable),
    )


def present(fields: Sequence[str], values: Sequence[Any]) -> dict[str, Any]:
    """The values that are present (not None), by the names of their fields: a part of a
    document whose row takes the values as they are (``rowparts``)."""
    return {k: v for k, v in zip(fields, values) if v is not None}


def effective_fields(ref: Ref, known: Proc | None) -> dict[str, Any]:
    """:func:`effective_values` as an object's fields."""
    return present(EFFECTIVE_FIELDS, effective_values(ref, known))


# The document of a process event is made of parts, each from one thing the event names, so
# that a row can be assembled from parts finished once and shared (``extension.rowparts``): the
# image's part serves its fork, exec and exit, a parent's part every command a shell runs.

PARTS: dict[str, tuple[str, ...]] = {
    "event": ("@timestamp", "event", "process.pid", "process.entity_id", "process.exit_code",
              "process.env_vars", "process.previous"),
    "kind": ("event.category", "event.type", "event.action", "event.outcome"),
    "image": ("process", "user", "group"),
    "parent": ("process.parent",),
    "effective": ("process.Ext.effective_parent",),
    "host": ("host",),
}  # fmt: skip
"""The ECS fields each part writes, as prefixes (the longest prefix of a field names its part;
``tests/test_extension_rowparts.py`` checks every part writes only its own fields)."""

EVENT_FIELDS = ("@timestamp", "event.id", "process.pid", "process.entity_id",
                "process.exit_code", "process.env_vars", "process.previous.executable")  # fmt: skip
"""The fields of the event part, in the order :func:`event_values` gives them."""

IMAGE_KEY = tuple(f for f in Proc._fields if f not in ("pid", "pidversion", "start"))
"""The :class:`Proc` fields :func:`image_part` reads: equal on these, equal parts."""


def event_values(event: ProcEvent) -> tuple[Any, ...]:
    """What this one event says, its time and id and the process's identity: the values of
    :data:`EVENT_FIELDS` (None where absent). Made anew for every event, so a plain tuple:
    a row takes it as it is (``rowparts``), a document as :func:`event_part`."""
    proc = event.proc
    version = proc.pidversion
    return (
        event.stamp or iso_timestamp(event.time),
        event.event_id,
        proc.pid,
        entity_id(proc) if version is None else f"{proc.pid}-{version}",
        event.exit_code,
        event.env or None,
        event.previous_executable or None,
    )


def event_part(event: ProcEvent) -> dict[str, Any]:
    """:func:`event_values` as a document part (flat: dotted keys)."""
    return {
        field: list(value) if value.__class__ is tuple else value
        for field, value in zip(EVENT_FIELDS, event_values(event))
        if value is not None
    }


def kind_part(action: Action) -> dict[str, Any]:
    """What kind of event it is: the same for every exec (fork, exit)."""
    return {
        "event": {"category": ["process"], "type": list(_TYPES[action]), "action": action.value}
    }


def image_part(proc: Proc) -> dict[str, Any]:
    """What the process image is (program, argv, signature) and whose (user, group)."""
    process = _image_fields(proc)
    if proc.cwd:
        process["working_directory"] = proc.cwd
    part: dict[str, Any] = {"process": process}
    user: dict[str, Any] = {}
    if proc.uid is not None:
        user["id"] = str(proc.uid)
    if proc.user_name:
        user["name"] = proc.user_name
    if proc.euid is not None:
        user["effective"] = {"id": str(proc.euid)}
    if user:
        part["user"] = user
    if proc.gid is not None:
        part["group"] = {"id": str(proc.gid)}
    return part


def parent_part(ref: Ref, known: Proc | None) -> dict[str, Any]:
    """``process.parent``: the image the tree knows for ``ref``, or its pid alone."""
    return {"process": {"parent": _ref_fields(ref, known)}}


def effective_part(ref: Ref, known: Proc | None) -> dict[str, Any]:
    """``process.Ext.effective_parent`` (the tree's rule, ``ProcessTree.effective_parent``)."""
    return {"process": {"Ext": {"effective_parent": effective_fields(ref, known)}}}


def host_part(host_os_type: str = "macos", host_name: str = "") -> dict[str, Any]:
    host: dict[str, Any] = {"os": {"type": host_os_type}}
    if host_name:
        host["name"] = host_name
    return {"host": host}


def merge(into: dict[str, Any], part: Mapping[str, Any]) -> dict[str, Any]:
    """``part``'s fields added to ``into``, nested (objects merged key by key, a dotted key
    of a flat part as the objects it names; parts never overlap)."""
    for key, value in part.items():
        *path, last = key.split(".") if "." in key else (key,)
        node = into
        for name in path:
            node = node.setdefault(name, {})
        mine = node.get(last)
        if mine.__class__ is dict and value.__class__ is dict:
            merge(mine, value)
        else:
            node[last] = value
    return into


def build_document(
    event: ProcEvent,
    tree: ProcessTree,
    *,
    host_os_type: str = "macos",
    host_name: str = "",
    image: Callable[[Proc], dict[str, Any]] = image_part,
) -> dict[str, Any]:
    """The ECS document for an event already passed through :meth:`ProcessTree.observe`: its
    parts merged (the pipeline serves rows assembled from the same parts, finished apart);
    ``image``: how the image's part is made (a network event's is cut to Defend's list)."""
    doc = merge(merge({}, event_part(event)), kind_part(event.action))
    merge(doc, image(event.proc))
    if event.parent is not None:
        merge(doc, parent_part(event.parent, tree.get(event.parent)))
    effective = tree.effective_parent(event)
    if effective is not None:
        merge(doc, effective_part(effective, tree.get(effective)))
    return merge(doc, host_part(host_os_type, host_name))


def actor_document(
    actor: ProcEvent,
    tree: ProcessTree,
    kind: Mapping[str, Any],
    own_fields: Sequence[str],
    own: Sequence[Any],
    *,
    host_os_type: str = "macos",
    host_name: str = "",
    image: Callable[[Proc], dict[str, Any]] = image_part,
) -> dict[str, Any]:
    """The document of an event done by a process (a file event, a connection): the actor's
    process document, with the event's ``kind`` part and its own fields (``own``, the values
    of ``own_fields``); the tree is only read."""
    doc = build_document(actor, tree, host_os_type=host_os_type, host_name=host_name, image=image)
    merge(doc, kind)
    return merge(doc, present(own_fields, own))
