"""The source-neutral process event every adapter produces before it becomes an ECS document.

eslogger, osquery's ``es_process_events``/``process_events`` and replays all say the same few
things (who ran what, as whom, started by whom); the process tree and the ECS builder only ever
see these classes, so adding a source means writing one small function into them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any, NamedTuple

tuple_new = tuple.__new__
"""``tuple_new(Proc, (...every field, in order))`` builds a NamedTuple without its
``__new__``'s argument handling (on the hot path of every source, that handling cost a
quarter of normalizing a message); tests build the same events by keyword and compare."""


class Action(Enum):
    """Elastic Defend's ``event.action`` values for macOS process events."""

    EXEC = "exec"
    FORK = "fork"
    END = "end"


class Ref(NamedTuple):
    """A process as another process's parent or responsible process points at it.

    ``pidversion`` (ESF's audit-token field) tells a reused pid apart; sources that lack it
    leave it None and the tree falls back to the latest process with that pid.
    """

    pid: int
    pidversion: int | None = None


class Proc(NamedTuple):
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
    args_count: int | None = None
    """The real argv length when ``args`` were capped (:func:`capped`), else None."""
    command_line: str = ""
    """The command line (capped) when ``args`` were capped, else "" (``args`` joined)."""

    @property
    def ref(self) -> Ref:
        return Ref(self.pid, self.pidversion)

    def as_child(self, pid: int, pidversion: int | None) -> Proc:
        """The image a fork child starts with: the parent's, under the child's pid."""
        return self._replace(pid=pid, pidversion=pidversion, start=None)


class ProcEvent(NamedTuple):
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
    env: tuple[str, ...] = ()
    """An exec's environment (``KEY=value``) as the source gave it; the pipeline keeps only the
    variables its :class:`EnvCapture` names. Sources without an exact list (osquery's
    space-joined ``env`` column) leave it empty."""
    previous_executable: str = ""
    """An exec's image before it (same pid), filled by the process tree's ``observe``."""
    stamp: str = ""
    """``@timestamp`` as the source wrote it, when that is already Elastic Defend's text
    (``ecs.iso_timestamp`` of ``time``; eslogger's ISO time cut to milliseconds), else ""."""


ARG_MAX_CHARS = 1024
"""Elastic Defend's mapping indexes ``process.args`` as ``keyword`` with ``ignore_above: 1024``
(elastic/endpoint-package ``package/endpoint/data_stream/process/fields/fields.yml``, commit
19941229e): a longer element is kept in ``_source`` but can never match a query, so dropping
it from the args changes no rule's answer."""
ARGS_MAX_CHARS = 16 * 1024
"""The argv kept per process, in characters (an attacker can exec 256 KiB argvs in a loop).
Past it the remaining elements are dropped: a deliberate difference from Elastic Defend."""


def within_budget(items: tuple[str, ...]) -> tuple[str, ...]:
    """``items`` (an argv) without the elements longer than :data:`ARG_MAX_CHARS`
    (``keyword`` with ``ignore_above: 1024`` in the endpoint-package mapping: they never
    match), and the rest kept up to :data:`ARGS_MAX_CHARS` characters in all (past it: a
    deliberate difference). The environment has its own budget (:class:`EnvCapture`)."""
    kept: list[str] = []
    total = 0
    for item in items:
        if len(item) > ARG_MAX_CHARS:
            continue
        total += len(item)
        if total > ARGS_MAX_CHARS:
            break
        kept.append(item)
    return items if len(kept) == len(items) else tuple(kept)


def named(proc: Proc, user_names: Callable[[int], str] | None) -> Proc:
    """``proc`` with its ``user_name`` looked up (``user_names``: this host's passwd) when the
    source gave a uid and no name; else ``proc`` itself."""
    if user_names is None or proc.uid is None or proc.user_name:
        return proc
    return proc._replace(user_name=user_names(proc.uid))


def capped(proc: Proc) -> Proc | None:
    """``proc`` with its argv within the budget above, or None when it already is (the common
    case). ``args_count`` stays the real count; the command line keeps its first
    :data:`ARGS_MAX_CHARS` characters (Elastic's ``command_line`` is a ``wildcard`` field with
    no length limit, so a long element is still matched there up to the budget)."""
    args = proc.args
    lengths = list(map(len, args))
    if not lengths or (sum(lengths) <= ARGS_MAX_CHARS and max(lengths) <= ARG_MAX_CHARS):
        return None  # the common argv, told in two passes that run in C
    line = " ".join(args)[:ARGS_MAX_CHARS]
    return proc._replace(args=within_budget(args), args_count=len(args), command_line=line)


CAPTURE_ENV_VARS = (
    "DYLD_INSERT_LIBRARIES",
    "DYLD_FRAMEWORK_PATH",
    "DYLD_LIBRARY_PATH",
    "LD_PRELOAD",
    "RUNNER_TRACKING_ID",
)
"""The variables ``process.env_vars`` carries by default. Elastic Defend captures only the
names its policy lists (``mac.advanced.capture_env_vars``, up to five); Kibana's default macOS
policy lists the first four (elastic/kibana ``x-pack/solutions/security/plugins/
security_solution/common/endpoint/models/policy_config.ts`` ``policyFactory``, commit
d4ed5ef326a), and the GitHub-runner rule asks for ``RUNNER_TRACKING_ID`` in its setup."""
CAPTURE_ENV_BYTES = 4096
"""The environment kept per exec, in UTF-8 bytes (past it the remaining matches are dropped)."""
ENV_NAME_MAX_CHARS = 63
"""Elastic's limit on a captured variable's name (longer names are ignored by Elastic Defend)."""


class EnvCapture:
    """Which ``KEY=value`` elements of an exec's environment become ``process.env_vars``.

    As Elastic Defend's ``capture_env_vars``: only the named variables (case-sensitive, as
    macOS's environment is), each element at most :data:`ARG_MAX_CHARS` characters (Elastic
    drops values over 1,023 characters, and the mapping's ``ignore_above`` could never match
    them anyway) and at most ``max_bytes`` of UTF-8 in all. A whole environment in every exec
    row was ~1.3 KB of a 2 KB row, and no rule reads any other variable.
    """

    def __init__(
        self, names: Sequence[str] = CAPTURE_ENV_VARS, max_bytes: int = CAPTURE_ENV_BYTES
    ) -> None:
        self.names = tuple(names)
        self.max_bytes = max_bytes
        self._prefixes = tuple(f"{name}=" for name in self.names)
        self._any = re.compile("\n(?:" + "|".join(map(re.escape, self._prefixes)) + ")")
        """Finds a named variable after a newline in the environment joined by newlines:
        where it finds none, no element starts with one (it may find one that no element
        starts with: the exact test follows). Half the cost of testing each element."""

    def __call__(self, env: Sequence[Any]) -> tuple[str, ...]:
        prefixes = self._prefixes
        if not prefixes or not env:
            return ()
        try:  # the few named variables first, in one pass (most of an environment is not)
            if self._any.search("\n" + "\n".join(env)) is None:
                return ()  # the common exec: one join and one scan, no test per element
            named = [item for item in env if item.startswith(prefixes)]
        except (AttributeError, TypeError):  # an element that is not text: one at a time
            named = [i for i in env if i.__class__ is str and i.startswith(prefixes)]
        kept: list[str] = []
        total = 0
        for item in named:
            if item.__class__ is not str:
                continue
            if len(item) > ARG_MAX_CHARS:
                continue
            total += len(item.encode("utf-8", "surrogatepass"))
            if total > self.max_bytes:
                break
            kept.append(item)
        return tuple(kept)
