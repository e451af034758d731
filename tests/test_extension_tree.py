"""Parent and effective-parent resolution, pid reuse, and the tree's bound."""

from __future__ import annotations

from ecsquery.extension.ecs import build_document
from ecsquery.extension.model import Action, Proc, ProcEvent, Ref
from ecsquery.extension.tree import ProcessTree

SHELL = Proc(pid=500, pidversion=7, executable="/bin/zsh", args=("-zsh",))
TERMINAL = Proc(
    pid=400,
    pidversion=2,
    executable="/System/Applications/Utilities/Terminal.app/Contents/MacOS/Terminal",
)


def exec_(pid: int, pv: int, exe: str, parent: Ref | None, **kw: object) -> ProcEvent:
    proc = Proc(pid=pid, pidversion=pv, executable=exe, args=(exe.rsplit("/", 1)[-1],))
    return ProcEvent(Action.EXEC, 1.0, f"e{pid}", proc, parent=parent, **kw)  # type: ignore[arg-type]


def test_parent_fields_come_from_the_tree() -> None:
    tree = ProcessTree()
    tree.add(SHELL)
    event = tree.observe(exec_(600, 1, "/usr/bin/security", Ref(500, 7)))
    doc = build_document(event, tree)
    assert doc["process"]["parent"] == {
        "pid": 500,
        "entity_id": "500-7",
        "executable": "/bin/zsh",
        "name": "zsh",
        "args": ["-zsh"],
        "args_count": 1,
        "command_line": "-zsh",
    }


def test_effective_parent_is_the_responsible_process_when_it_differs() -> None:
    tree = ProcessTree()
    tree.add(SHELL)
    tree.add(TERMINAL)
    event = tree.observe(exec_(600, 1, "/usr/bin/security", Ref(500, 7), responsible=Ref(400, 2)))
    eff = build_document(event, tree)["process"]["Ext"]["effective_parent"]
    assert eff == {
        "pid": 400,
        "entity_id": "400-2",
        "executable": TERMINAL.executable,
        "name": "Terminal",
    }


def test_effective_parent_is_the_original_parent_after_reparenting() -> None:
    tree = ProcessTree()
    tree.add(SHELL)
    # a daemonized child: reparented to launchd, responsible is itself
    event = exec_(700, 1, "/tmp/payload", Ref(1), original_ppid=500, responsible=Ref(700, 1))
    assert tree.effective_parent(event) == Ref(500)
    eff = build_document(tree.observe(event), tree)["process"]["Ext"]["effective_parent"]
    assert eff["executable"] == "/bin/zsh"


def test_effective_parent_falls_back_to_the_parent() -> None:
    tree = ProcessTree()
    event = exec_(600, 1, "/bin/ls", Ref(500, 7), original_ppid=500, responsible=Ref(500, 7))
    assert tree.effective_parent(event) == Ref(500, 7)
    assert tree.effective_parent(exec_(600, 1, "/bin/ls", None)) is None


def test_pid_reuse_never_borrows_a_dead_process() -> None:
    tree = ProcessTree()
    tree.add(Proc(pid=500, pidversion=7, executable="/bin/zsh"))
    tree.add(Proc(pid=500, pidversion=9, executable="/usr/bin/python3"))  # pid 500 reused
    assert tree.get(Ref(500, 7)).executable == "/bin/zsh"  # type: ignore[union-attr]
    assert tree.get(Ref(500, 9)).executable == "/usr/bin/python3"  # type: ignore[union-attr]
    assert tree.get(Ref(500)).executable == "/usr/bin/python3"  # type: ignore[union-attr]
    assert tree.get(Ref(500, 8)) is None  # a version never seen: unknown, not a guess


def test_seeded_processes_match_any_pidversion_until_replaced() -> None:
    tree = ProcessTree()
    tree.seed([Proc(pid=500, executable="/bin/bash")])
    assert tree.get(Ref(500, 3)).executable == "/bin/bash"  # type: ignore[union-attr]
    tree.add(Proc(pid=500, pidversion=4, executable="/bin/zsh"))
    assert tree.get(Ref(500, 4)).executable == "/bin/zsh"  # type: ignore[union-attr]
    tree.seed([Proc(pid=500, executable="/bin/sh")])  # a late seed never overrides events
    assert tree.get(Ref(500)).executable == "/bin/zsh"  # type: ignore[union-attr]


def test_exit_takes_args_from_the_earlier_exec() -> None:
    tree = ProcessTree()
    tree.observe(exec_(600, 1, "/usr/bin/curl", Ref(500)))
    end = ProcEvent(Action.END, 2.0, "x", Proc(pid=600, pidversion=1), exit_code=0)
    assert tree.observe(end).proc.args == ("curl",)


def test_an_exit_keeps_every_field_it_has_and_fills_only_its_blanks() -> None:
    # fill names every field of Proc (faster than _replace): a field added to Proc and
    # forgotten there would fall back to its default and fail here.
    own = Proc(600, 1, "/bin/own", ("own",), "/own", "own.id", "OWN", False, False, 7, 8, 9,
               "own", 5.0, 3, "own line")  # fmt: skip
    known = Proc(600, 1, "/bin/k", ("k",), "/k", "k.id", "K", True, True, 1, 2, 3, "k", 1.0, 1, "k")
    assert len(own) == len(Proc._fields)  # every field set, none left at its default
    tree = ProcessTree()
    tree.add(known)
    got = tree.observe(ProcEvent(Action.END, 2.0, "x", own, exit_code=0))
    assert got.proc == own
    blank = tree.observe(ProcEvent(Action.END, 2.0, "x", Proc(600, 1), exit_code=0)).proc
    assert blank == known


def test_tree_is_bounded() -> None:
    tree = ProcessTree(max_size=3)
    for pid in range(10):
        tree.add(Proc(pid=pid, pidversion=1))
    assert len(tree) == 3
    assert tree.get(Ref(0, 1)) is None and tree.get(Ref(9, 1)) is not None
