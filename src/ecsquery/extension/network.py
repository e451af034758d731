"""A connection (``normalize.socket.SocketEvent``) with its actor → the network table's ECS.

As a file event's (``extension.files``), a connection's document is a process document of its
actor (``ecs.build_document``) with the connection's own kind and fields, and its rows are
assembled from the same parts (``rowparts.ActorRows``). What differs is Elastic Defend's field
list for macOS network events (``normalize/socket.py``'s docstring): of the actor only
``process.pid``, ``entity_id``, ``executable``, ``name``, ``command_line`` and
``code_signature``, ``user.id``, ``user.name`` and ``group.id`` (no ``args``, no parent, no
effective parent). The actor is the tree's latest image of the pid (``socket_events`` has no
pidversion), else the pid and the row's ``path``; the tree is only read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ecsquery.extension.ecs import actor_document, image_part
from ecsquery.extension.model import Action, Proc, ProcEvent, named, tuple_new
from ecsquery.extension.normalize.socket import SocketEvent
from ecsquery.extension.tree import ProcessTree

OWN = (
    "event.id", "network.direction", "network.type", "network.transport",
    "source.ip", "source.address", "source.port",
    "destination.ip", "destination.address", "destination.port",
)  # fmt: skip
"""The fields a connection has of its own, beside its actor's (``rowparts``), in the order
:func:`network_own` gives their values."""
KEEP_PROCESS = ("executable", "name", "command_line", "code_signature")
"""The image's ``process.*`` Defend writes on macOS network events (``pid`` and ``entity_id``
are the event part's)."""


def network_image(proc: Proc) -> dict[str, Any]:
    """``ecs.image_part`` cut to Defend's network field list (no argv, no working directory,
    no ``user.effective``)."""
    part = image_part(proc)
    part["process"] = {k: v for k, v in part["process"].items() if k in KEEP_PROCESS}
    if not part["process"]:
        del part["process"]
    user = part.get("user")
    if user is not None:
        user.pop("effective", None)
        if not user:
            del part["user"]
    return part


def network_actor(
    event: SocketEvent, tree: ProcessTree, user_names: Callable[[int], str] | None = None
) -> ProcEvent:
    """The connecting (or accepting) process: the tree's latest image of the pid, else the pid
    and the row's ``path``, its user named; with no parent, responsible or original parent
    (none is written: ``ProcessTree.effective_parent`` then names none)."""
    proc = tree.latest(event.pid) or Proc(event.pid)
    if not proc.executable and event.path:
        proc = proc._replace(executable=event.path)
    proc = named(proc, user_names)
    return tuple_new(
        ProcEvent, (Action.EXEC, event.time, "", proc, None, None, None, None, "", (), "", "")
    )


def network_kind(action: str, outcome: str) -> dict[str, Any]:
    """``event.*`` of a connection of this action and outcome (Defend's names)."""
    return {
        "event": {"category": ["network"], "type": ["start"], "action": action, "outcome": outcome}
    }


def network_own(event: SocketEvent) -> tuple[Any, ...]:
    """The connection's own fields, the values of :data:`OWN` (None where absent): its id,
    ``network.*`` and each end (``ip`` and ``address`` the address, ``port``)."""
    return (
        event.event_id, event.direction, event.network_type, event.transport,
        event.source_ip, event.source_ip, event.source_port,
        event.destination_ip, event.destination_ip, event.destination_port,
    )  # fmt: skip


def network_document(
    event: SocketEvent,
    tree: ProcessTree,
    *,
    host_os_type: str = "macos",
    host_name: str = "",
    user_names: Callable[[int], str] | None = None,
) -> dict[str, Any]:
    """The ECS document of a connection (module docstring); the rows the pipeline serves are
    made of the same parts (``rowparts.ActorRows``)."""
    actor = network_actor(event, tree, user_names)
    kind = network_kind(event.action, event.outcome)
    return actor_document(
        actor, tree, kind, OWN, network_own(event),
        host_os_type=host_os_type, host_name=host_name, image=network_image,
    )  # fmt: skip
