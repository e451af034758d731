"""A bounded pid/pidversion → process cache, so parents and effective parents resolve.

Events name their parent only by pid (and, from ESF, pidversion); Elastic's rules want the
parent's executable, name, args and signature. The tree remembers every image it sees (exec
targets, fork children, rows of osquery's ``processes`` table used as a seed) and looks parents
up by pid/pidversion, so a reused pid never borrows a dead process's identity.

Effective parent (``process.Ext.effective_parent``), the rule implemented here:

1. ESF's *responsible* process (the app that asked for the launch, e.g. Terminal for a shell
   command, or the app behind an XPC/launchd spawn) when it is neither the parent nor the
   process itself;
2. else the *original* parent (``original_ppid``) when the process was reparented (typically to
   launchd, pid 1) before we saw it;
3. else the parent.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Optional

from ecsquery.extension.model import Action, Proc, ProcEvent, Ref, tuple_new

_Key = tuple[int, Optional[int]]  # runtime: 3.9 has no `X | Y`


class ProcessTree:
    """Processes by (pid, pidversion), least recently used evicted beyond ``max_size``.

    A Mac runs a few hundred processes at a time; the bound is for the images that come and go
    (every exec and fork is one), and a lookup keeps a live parent from being evicted.
    """

    def __init__(self, max_size: int = 16_384, max_bytes: int = 32 * 1024 * 1024) -> None:
        self.max_size = max_size
        self.max_bytes = max_bytes
        self.bytes = 0
        """The charged size of the images held (:func:`proc_bytes`), bounded by ``max_bytes``."""
        self._procs: OrderedDict[_Key, Proc] = OrderedDict()
        self._latest: dict[int, int | None] = {}  # pid → pidversion of its newest image

    def __len__(self) -> int:
        return len(self._procs)

    def add(self, proc: Proc) -> None:
        key = (proc.pid, proc.pidversion)
        old = self._procs.get(key)
        if old is not None:
            self.bytes -= proc_bytes(old)
        self._procs[key] = proc
        self._procs.move_to_end(key)
        self.bytes += proc_bytes(proc)
        self._latest[proc.pid] = proc.pidversion
        while len(self._procs) > self.max_size or (
            self.bytes > self.max_bytes and len(self._procs) > 1
        ):
            (pid, pidversion), gone = self._procs.popitem(last=False)
            self.bytes -= proc_bytes(gone)
            if self._latest.get(pid, -1) == pidversion:
                del self._latest[pid]

    def seed(self, procs: list[Proc]) -> None:
        """Processes already running at start (osquery ``processes``); newer images win."""
        for proc in procs:
            if proc.pid not in self._latest:
                self.add(proc)

    def get(self, ref: Ref | None) -> Proc | None:
        """The image ``ref`` names; a pidversion-less ref or image matches on pid alone."""
        if ref is None:
            return None
        if ref.pidversion is None:
            return self.latest(ref.pid)
        procs = self._procs
        proc = procs.get(ref)  # a Ref is the key tuple
        if proc is not None:  # a process still being named as a parent stays cached
            procs.move_to_end(ref)
            return proc
        if self._latest.get(ref.pid, 0) is None:  # an image of no pidversion: on pid alone
            return self.latest(ref.pid)
        return None

    def latest(self, pid: int) -> Proc | None:
        """The newest image of ``pid`` (``get(Ref(pid))``), kept cached as a lookup does."""
        if pid not in self._latest:
            return None
        key = (pid, self._latest[pid])
        proc = self._procs.get(key)
        if proc is not None:
            self._procs.move_to_end(key)
        return proc

    def observe(self, event: ProcEvent) -> ProcEvent:
        """Record what the event teaches and return it with the image filled in from the tree.

        Fork children and exiting processes carry no argv of their own in ESF; they inherit
        the parent's (fork) or their own earlier exec's (exit).
        """
        proc = event.proc
        if event.action is Action.FORK:
            parent = self.get(event.parent)
            if parent is not None and not proc.args and not proc.args_count:
                proc = fill(proc, parent)
            self.add(proc)
        elif event.action is Action.EXEC:
            before = self.latest(proc.pid)  # the pid's image until this exec
            self.add(proc)
            if (
                before is not None
                and before.executable
                and (proc.pidversion is None or before.pidversion != proc.pidversion)
            ):
                fields = list(event)  # as _with_proc: _replace costs a kwargs dict per field
                fields[_PREVIOUS] = before.executable
                event = ProcEvent._make(fields)
        else:
            known = self.get(proc.ref)
            if known is not None:
                proc = fill(proc, known)
        return event if proc is event.proc else with_proc(event, proc)

    def effective_parent(self, event: ProcEvent) -> Ref | None:
        """The process that asked for this one, by the rule in the module docstring."""
        parent = event.parent
        resp = event.responsible
        if resp is not None and resp.pid not in (event.proc.pid, parent.pid if parent else None):
            return resp
        if event.original_ppid and (parent is None or event.original_ppid != parent.pid):
            original = Ref(event.original_ppid)
            if original.pid != event.proc.pid:
                return original
        return parent


def proc_bytes(proc: Proc) -> int:
    """An estimate of an image's memory: its strings plus the fixed cost of the tuples."""
    args = proc.args
    strings = len(proc.executable) + len(proc.cwd) + len(proc.signing_id) + len(proc.team_id)
    return 400 + 8 * len(args) + sum(map(len, args)) + strings + len(proc.command_line)


def fill(proc: Proc, known: Proc) -> Proc:
    """``proc`` with the blanks the source left filled from what the tree knew."""
    own = bool(proc.args or proc.args_count)  # argv of its own (maybe all of it capped away)
    return Proc(  # positional, in Proc's field order: a third cheaper than keywords
        proc.pid,
        proc.pidversion,
        proc.executable or known.executable,
        proc.args if own else known.args,
        proc.cwd or known.cwd,
        proc.signing_id or known.signing_id,
        proc.team_id or known.team_id,
        known.signed if proc.signed is None else proc.signed,
        known.trusted if proc.trusted is None else proc.trusted,
        known.uid if proc.uid is None else proc.uid,
        known.euid if proc.euid is None else proc.euid,
        known.gid if proc.gid is None else proc.gid,
        proc.user_name or known.user_name,
        proc.start if proc.start is not None else known.start,
        proc.args_count if own else known.args_count,
        proc.command_line if own else known.command_line,
    )


_PROC = ProcEvent._fields.index("proc")
_PREVIOUS = ProcEvent._fields.index("previous_executable")


def with_proc(event: ProcEvent, proc: Proc) -> ProcEvent:
    """``event._replace(proc=proc)`` at a tenth of its cost (it runs for forks, exits and
    every file event): the same fields, in order, built as the tuple they are."""
    return tuple_new(ProcEvent, (*event[:_PROC], proc, *event[_PROC + 1 :]))
