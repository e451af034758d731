"""The source-neutral process event every adapter produces before it becomes an ECS document.

eslogger, osquery's ``es_process_events``/``process_events`` and replays all say the same few
things (who ran what, as whom, started by whom); the process tree and the ECS builder only ever
see these classes, so adding a source means writing one small function into them.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

# slots save memory per event where the Python has them (3.10+); a Mac's 3.9 runs without.
_SLOTS: dict[str, Any] = {"slots": True} if sys.version_info >= (3, 10) else {}


class Action(Enum):
    """Elastic Defend's ``event.action`` values for macOS process events."""

    EXEC = "exec"
    FORK = "fork"
    END = "end"


@dataclass(frozen=True, **_SLOTS)
class Ref:
    """A process as another process's parent or responsible process points at it.

    ``pidversion`` (ESF's audit-token field) tells a reused pid apart; sources that lack it
    leave it None and the tree falls back to the latest process with that pid.
    """

    pid: int
    pidversion: int | None = None


@dataclass(frozen=True, **_SLOTS)
class Proc:
    """What is known about one process image (one pid/pidversion)."""

    pid: int
    pidversion: int | None = None
    executable: str = ""
    args: tuple[str, ...] = ()
    cwd: str = ""
    signing_id: str = ""
    team_id: str = ""
    signed: bool | None = None
    """Code signature present; None when the source says nothing about signing (OpenBSM)."""
    trusted: bool | None = None
    uid: int | None = None
    euid: int | None = None
    gid: int | None = None
    user_name: str = ""
    start: float | None = None
    """Unix seconds the process started, when the source gives it (for entity ids)."""

    @property
    def ref(self) -> Ref:
        return Ref(self.pid, self.pidversion)

    def as_child(self, pid: int, pidversion: int | None) -> Proc:
        """The image a fork child starts with: the parent's, under the child's pid."""
        return replace(self, pid=pid, pidversion=pidversion, start=None)


@dataclass(frozen=True, **_SLOTS)
class ProcEvent:
    """One exec, fork or exit, with references to the processes around it.

    For ``FORK`` the ``proc`` is the child (as Elastic Defend reports forks) and ``parent`` the
    forking process; for ``END`` it is the exiting process.
    """

    action: Action
    time: float
    """Unix seconds of the source event."""
    event_id: str
    proc: Proc
    parent: Ref | None = None
    original_ppid: int | None = None
    """The parent before any reparenting to launchd (ESF ``original_ppid``)."""
    responsible: Ref | None = None
    """ESF's responsible process (the app that asked for the launch)."""
    exit_code: int | None = None
    source: str = ""
