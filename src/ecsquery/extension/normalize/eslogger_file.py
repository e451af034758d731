"""eslogger's file events (``eslogger create close rename unlink deleteextattr
btm_launch_item_add btm_launch_item_remove --format json``, and ``open``/``write`` when
subscribed) → :class:`FileEvent`.

eslogger writes each ``es_message_t`` as JSON with the C structs' field names (Apple's
``EndpointSecurity/ESMessage.h``): the message's ``process`` is the actor, a full
``es_process_t`` with audit tokens and signing data (read by the process adapter's
:func:`ecsquery.extension.normalize.eslogger.process`), and ``event`` holds one member named
after the event type:

* ``create`` (``es_event_create_t``): ``destination_type`` 0 with ``destination.existing_file``
  (a file object, ``{"path", "path_truncated", "stat"}``), or 1 with ``destination.new_path``
  (``dir``, a file object, and ``filename``);
* ``close`` (``es_event_close_t``): ``modified`` and ``target``; only a modified close is an
  event (Defend's ``modification``), an unmodified one is ignored;
* ``write`` (``target``; not subscribed by default: one per ``write(2)``, the modified
  ``close`` says the same once), ``unlink`` (``target``, ``parent_dir``), ``open``
  (``fflag``, ``file``), ``deleteextattr`` (``target``, ``extattr``);
* ``rename`` (``es_event_rename_t``): ``source`` and a destination shaped like ``create``'s;
* ``btm_launch_item_add`` (``es_event_btm_launch_item_add_t``, macOS 13+): ``instigator`` (the
  XPC caller, may be null; taken as the actor when present), ``item`` (``item_type``,
  ``legacy``, ``managed``, ``uid``, ``item_url``, ``app_url``) and ``executable_path``. Only
  agents and daemons (``ES_BTM_ITEM_TYPE_AGENT`` 3, ``_DAEMON`` 4) become Defend's
  ``launch_daemon`` events. ``btm_launch_item_remove`` only lets an item be reported again:
  the add fires again for every installed item when one is added (Apple developer forums,
  thread 720468), so adds are deduplicated (:class:`ecsquery.extension.files.FileScope`).

The event is recognised by the name of its ``event`` member, not by ``event_type``'s number.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from ecsquery.extension.model import ProcEvent, tuple_new
from ecsquery.extension.normalize.errors import BadRecord
from ecsquery.extension.normalize.eslogger import (
    KNOWN_VERSIONS,
    _parent,
    _ref,
    parse_time,
    process,
)
from ecsquery.extension.normalize.files import _END, DEFEND, FileEvent, LaunchItem, actor_tail, join

EVENTS = (
    "create", "close", "rename", "unlink", "deleteextattr",
    "btm_launch_item_add", "btm_launch_item_remove",
)  # fmt: skip
"""The eslogger event types the extension subscribes to by default. ``open`` (Defend's
``open``, four Mac rules) and ``write`` are read when subscribed (``eslogger_command``) but not
by default: every process opens files all the time, and eslogger cannot be scoped to paths,
so each one would be encoded by eslogger and decoded here before scoping drops it."""
_READ = frozenset(EVENTS) | {"open", "write"}
_ACTOR_TAIL = actor_tail("eslogger")
LAUNCHD_ITEMS = {3: "agent", 4: "daemon"}
"""``es_btm_item_type_t`` values reported as ``launch_daemon`` (ESMessage.h)."""


def file_event_name(msg: Mapping[str, Any]) -> str | None:
    """The file event an eslogger message carries, or None when it is none of :data:`EVENTS`."""
    body = msg.get("event")
    if body.__class__ is not dict or len(body) != 1:
        return None
    (name,) = body
    return name if name in _READ else None


def from_eslogger_file(msg: Mapping[str, Any], name: str) -> FileEvent | None:
    """The file event in one eslogger message (``name`` from :func:`file_event_name`); None for
    an unmodified close or a launch item that is not launchd's."""
    try:
        return _event(msg, name, msg["event"][name])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        version = msg.get("version")
        known = isinstance(version, int) and version in KNOWN_VERSIONS
        reason = "missing_field" if known else "unknown_version"
        raise BadRecord(reason, f"eslogger {name} message version {version!r}: {exc!r}") from exc


def _path(file: Mapping[str, Any]) -> str:
    path = file["path"]
    if path.__class__ is not str:
        raise TypeError(f"path of unexpected type {type(path).__name__}")
    return path


def _destination(body: Mapping[str, Any]) -> str:
    """``create``'s and ``rename``'s destination: an existing file, or a directory and name."""
    destination = body["destination"]
    existing = destination.get("existing_file")
    if existing is not None:
        return _path(existing)
    new = destination["new_path"]
    return join(_path(new["dir"]), str(new["filename"]))


def _event(msg: Mapping[str, Any], name: str, body: Mapping[str, Any]) -> FileEvent | None:
    original = ""
    item: LaunchItem | None = None
    actor_process = msg["process"]
    if name == "close":
        if not body.get("modified"):
            return None
        path = _path(body["target"])
    elif name in ("create", "rename"):
        path = _destination(body)
        if name == "rename":
            original = _path(body["source"])
    elif name == "open":
        path = _path(body["file"])
    elif name in ("btm_launch_item_add", "btm_launch_item_remove"):
        item = launch_item(body)
        if item is None:
            return None
        path = item.path
        if body.get("instigator"):
            actor_process = body["instigator"]
    else:  # write, unlink, deleteextattr
        path = _path(body["target"])
    time = parse_time(msg["time"])
    actor = tuple_new(ProcEvent, (  # noqa: RUF005 (a concatenation is a third cheaper)
        _END, time, "", process(actor_process), _parent(actor_process),
        actor_process.get("original_ppid"), _ref(actor_process.get("responsible_audit_token")),
    ) + _ACTOR_TAIL)  # fmt: skip
    remove = name == "btm_launch_item_remove"
    action, kind = DEFEND["btm_launch_item_add" if remove else name]
    return tuple_new(FileEvent, (
        action, kind, time, f"es-{msg.get('mach_time', '')}-{msg['global_seq_num']}", path,
        actor, original, name, item, remove,
    ))  # fmt: skip


def launch_item(body: Mapping[str, Any]) -> LaunchItem | None:
    """The launchd item of a ``btm_launch_item_add``/``_remove`` body (None for login items,
    apps and user items, which Defend's ``launch_daemon`` events do not cover)."""
    raw = body["item"]
    item_type = int(raw["item_type"])
    if item_type not in LAUNCHD_ITEMS:
        return None
    url = str(raw.get("item_url") or "")
    path = unquote(urlsplit(url).path) if url.startswith("file:") else url
    executable = str(body.get("executable_path") or "")
    uid = raw.get("uid")
    key = (item_type, url, executable, uid, raw.get("legacy"), raw.get("managed"))
    return LaunchItem(path, executable, item_type, None if uid is None else int(uid), key)
