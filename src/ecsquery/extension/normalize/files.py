"""File events, source-neutral: :class:`FileEvent`, Elastic Defend's names for them, and the rows
of osquery's ``es_process_file_events``.

Every file source says the same few things: which process (the *actor*) did what to which path
(and, for a rename, from which path). :data:`DEFEND` maps each source's operation to the
``event.action`` and ``event.type`` Elastic Defend writes for macOS file events. The actions are
the ones elastic/endpoint-package documents for macOS
(``custom_documentation/src/endpoint/data_stream/file/macos/``, commit 19941229e: ``open``,
``modification``, ``rename``, ``deletion``, ``extended_attributes_delete``, ``launch_daemon``);
there is no macOS ``creation`` action, which is why the Mac rules written for a *created* file
(``persistence_emond_rules_file_creation``, ``persistence_credential_access_authorization_plugin_
creation``) test ``event.action == "modification"``. The types follow the rules in
``tests/fixtures/elastic-rules-mac``: a rename and an extended-attribute delete are ``change``
(``persistence_shell_profile_modification`` excludes both from ``event.type:change``), a new file
is ``creation`` and a written one ``change`` (``privilege_escalation_sudoers_file_mod``:
``event.type in ("creation", "change")``), a deletion ``deletion``, an open ``access``.

osquery's ``es_process_file_events`` (osquery/osquery ``osquery/events/darwin/
endpointsecurity_fim.cpp`` at a5b14f63d, ``handleMessage``, l. 251–296) writes ``event_type``
``create``, ``write``, ``rename``, ``truncate`` or ``open``, ``filename`` (the target; a
rename's source) and ``dest_filename`` (a rename's destination), and the actor only as ``pid``,
``parent`` and ``path`` (its executable): no pidversion, no signature, no user. The rest comes
from the process tree.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any, NamedTuple

from ecsquery.extension.ecs import present
from ecsquery.extension.model import Action, Proc, ProcEvent, Ref, tuple_new
from ecsquery.extension.normalize.errors import BadRecord

DEFEND: dict[str, tuple[str, str]] = {
    "open": ("open", "access"),
    "create": ("modification", "creation"),
    "close": ("modification", "change"),  # a close after writing (``modified``)
    "write": ("modification", "change"),
    "truncate": ("modification", "change"),
    "rename": ("rename", "change"),
    "unlink": ("deletion", "deletion"),
    "deleteextattr": ("extended_attributes_delete", "change"),
    "btm_launch_item_add": ("launch_daemon", "creation"),
}
"""A source operation (eslogger's event name, osquery's ``event_type``) → (``event.action``,
``event.type``) as Elastic Defend writes them on macOS (module docstring)."""

MAX_PATH_CHARS = 1024
"""``file.path``, ``file.name``, ``file.directory`` and ``Persistence.*`` are ``keyword`` with
``ignore_above: 1024`` in Defend's file mapping (elastic/endpoint-package
``package/endpoint/data_stream/file/fields/fields.yml`` l. 88–99, 673–677, 750–777, commit
19941229e): a longer value is never matched by a query, so it is left out of the document."""


class LaunchItem(NamedTuple):
    """A background task (``btm_launch_item_add``): the launchd plist and what it runs."""

    path: str
    """The plist (``item_url`` as a path)."""
    executable: str
    item_type: int
    uid: int | None
    key: tuple[Any, ...]
    """What makes two adds the same item (:class:`ecsquery.extension.files.FileScope` dedupes)."""


class FileEvent(NamedTuple):
    """One file operation by one process.

    ``actor`` is the process as a :class:`ProcEvent` (its action is never served: only its image
    and references to parent and responsible process are used). ``path`` is the file acted on
    (a rename's destination), ``original_path`` a rename's source.
    """

    action: str
    type: str
    time: float
    event_id: str
    path: str
    actor: ProcEvent
    original_path: str = ""
    operation: str = ""
    """The source's own name for it (``close``, ``create``…), for counters and scoping."""
    launch_item: LaunchItem | None = None
    forget: bool = False
    """A launch item's removal: never served, it lets the same item be reported again."""


def join(directory: str, name: str) -> str:
    """``dir/name`` as ESF's ``new_path`` spells a file not yet created (osquery joins the same
    way, ``endpointsecurity_fim.cpp`` l. 259–264), without doubling a trailing slash."""
    return f"{directory}{name}" if directory.endswith("/") else f"{directory}/{name}"


FILE_FIELDS = (
    "file.path", "file.name", "file.extension", "file.directory",
    "file.Ext.original.path", "file.Ext.original.name",
)  # fmt: skip
"""What :func:`file_values` gives, in order."""


def file_values(path: str, original: str = "") -> tuple[str | None, ...]:
    """ECS ``file.*`` of a path, the values of :data:`FILE_FIELDS` (None where absent):
    ``name`` the last component, ``extension`` what follows its last dot (not for a dot
    file, ``.zshrc``, nor a trailing dot), ``directory`` the rest; a rename adds
    ``Ext.original.path``/``name``. Values over :data:`MAX_PATH_CHARS` are left out (they
    could never match)."""
    directory, _, name = path.rpartition("/")
    stem, dot, extension = name.rpartition(".")
    return (
        indexable(path),
        indexable(name),
        indexable(extension) if dot and stem else None,
        indexable(directory or ("/" if path.startswith("/") else "")),
        indexable(original),
        indexable(posixpath.basename(original)),
    )


def file_fields(path: str, original: str = "") -> dict[str, Any]:
    """:func:`file_values` as flat dotted fields (a part of the document)."""
    return present(FILE_FIELDS, file_values(path, original))


def indexable(value: str) -> str | None:
    """``value`` when it is one a rule could match: not empty, within ``ignore_above``."""
    return value if value and len(value) <= MAX_PATH_CHARS else None


# --- osquery ``es_process_file_events`` ------------------------------------------------------

TABLE = "es_process_file_events"
COLUMNS_READ = (
    "time", "eid", "event_type", "pid", "parent", "path", "filename", "dest_filename",
)  # fmt: skip
"""The columns :func:`from_es_file_row` reads (``osquery-schema/es_process_file_events.json``:
the table has also version, seq_num, global_seq_num, none of use here)."""


def is_es_file_row(row: Mapping[str, Any]) -> bool:
    return "event_type" in row and "filename" in row


def _text(row: Mapping[str, Any], name: str) -> str:
    value = row.get(name)
    return value if value.__class__ is str else "" if value is None else str(value)


def es_file_items(row: Mapping[str, Any]) -> list[FileEvent]:
    """The event in an ``es_process_file_events`` row, for a source that knows the row's table."""
    event = from_es_file_row(row)
    return [] if event is None else [event]


_END = Action.END  # a global's lookup: an enum member's (``Action.END``) costs four times more
_PROC_DEFAULTS = tuple(Proc(0))[3:]
"""A :class:`Proc`'s fields after ``pid``, ``pidversion`` and ``executable``, as defaults."""
_AFTER_RESPONSIBLE = ProcEvent._fields.index("responsible") + 1


def actor_tail(source: str) -> tuple[Any, ...]:
    """A file event's actor's :class:`ProcEvent` fields after ``responsible``, for
    ``model.tuple_new``: the defaults (no exit code, no environment) but for ``source``."""
    return tuple(ProcEvent(_END, 0.0, "", Proc(0), source=source))[_AFTER_RESPONSIBLE:]


_ACTOR_TAIL = actor_tail("osquery:es_process_file_events")


def from_es_file_row(row: Mapping[str, Any]) -> FileEvent | None:
    """One ``es_process_file_events`` row (Thrift strings or a results log's values); None for
    an ``event_type`` Defend has no event for.

    Per row, so each column is read once and the tuples are built as what they are
    (``model.tuple_new``: the keyword ``__new__`` of the three NamedTuples cost more
    than the rest of the row); ``tests/test_extension_normalize_fast.py`` compares the events
    with the same rows read as before and built by keyword."""
    get = row.get
    operation = get("event_type")
    if operation.__class__ is not str:
        operation = _text(row, "event_type")
    names = DEFEND.get(operation)
    if names is None:
        return None
    try:
        time = get("time")
        time = None if time is None or time == "" else int(time)
        pid = get("pid")
        pid = None if pid is None or pid == "" else int(pid)
        if time is None or pid is None:
            raise KeyError("time" if time is None else "pid")
        parent = get("parent")
        parent = None if parent is None or parent == "" else int(parent)
    except (KeyError, ValueError) as exc:
        raise BadRecord("missing_field", f"es_process_file_events row: {exc!r}") from exc
    path: Any = get("filename")
    if path.__class__ is not str:
        path = _text(row, "filename")
    original = ""
    if operation == "rename":
        path, original = get("dest_filename"), path
        if path.__class__ is not str:
            path = _text(row, "dest_filename")
    eid = get("eid")
    if eid.__class__ is not str:
        eid = _text(row, "eid")
    executable = get("path")
    if executable.__class__ is not str:
        executable = _text(row, "path")
    seconds = float(time)
    actor = tuple_new(ProcEvent, (  # noqa: RUF005 (a concatenation is a third cheaper)
        _END, seconds, "", tuple_new(Proc, (pid, None, executable) + _PROC_DEFAULTS),  # noqa: RUF005
        tuple_new(Ref, (parent, None)) if parent is not None and parent > 0 else None, None, None,
    ) + _ACTOR_TAIL)  # fmt: skip
    return tuple_new(FileEvent, (
        names[0], names[1], seconds,
        f"es_process_file_events-{eid}" if eid else f"es_process_file_events-{time}-{pid}",
        path, actor, original, operation, None, False,
    ))  # fmt: skip
