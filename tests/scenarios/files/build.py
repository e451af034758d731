"""Writes the file-event stories: eslogger captures with file events, and the alerts they need.

Run ``python tests/scenarios/files/build.py`` after changing a story; ``tests/test_extension_
file_scenarios.py`` fails if the committed files drift from this script. Each story has a
directory with ``events.ndjson`` (eslogger JSON) and ``expected.yaml`` (the alerts of the rules
named in ``rules``, from ``tests/fixtures/elastic-rules-mac`` and ``elastic-rules-multi``).

Shapes: processes are the suite's (``tests/scenarios/build.py``: message version 9, shaped like
the real ``tests/fixtures/eslogger/mullvad_eslogger_exec_fork_exit.ndjson``), file events carry
the members of their EndpointSecurity structs as eslogger names them (Apple's
``EndpointSecurity/ESMessage.h``): ``es_event_create_t`` (``destination_type`` 1 with
``destination.new_path`` ``{dir, filename, mode}``), ``es_event_close_t`` (``modified``,
``target``, ``was_mapped_writable``), ``es_event_rename_t`` (``source``, ``destination_type``,
``destination``); file objects as eslogger writes the executable's (``path``,
``path_truncated``, ``stat``). What a shell does is what ESF reports: a redirection is opened
(``create``) by the forked shell before it execs the command, and closed (``close``,
``modified``) when the command exits, so the close belongs to the command's image.

Time plan as in the main suite: story *i* in its own half hour, the hit 200 s after its base
(in two overlapping 540 s lookbacks of the 5-minute runs).
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("scenario_build_main", HERE.parent / "build.py")
assert _spec is not None and _spec.loader is not None
main = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = main  # its dataclasses look their module up there
_spec.loader.exec_module(main)

T0 = main.T0 + 1800 * 40  # after the main suite's stories
HIT = main.HIT
MAC = main.MAC
APPLE, ADHOC = main.APPLE, main.ADHOC
P, Eslogger = main.P, main.Eslogger
CREATE, CLOSE, RENAME = 13, 12, 25  # ES_EVENT_TYPE_NOTIFY_* (ESMessage.h)

ROOT_CRONTAB = "privilege_escalation_root_crontab_filemod"
CRONTAB = "persistence_crontab_creation"
LAUNCH_AGENT = "persistence_suspicious_launch_agent_or_launch_daemon"
DISCOVERY_FILE = "collection_discovery_output_written_to_suspicious_file"


def esfile(path: str, mode: int = 33188, uid: int = 501) -> dict[str, Any]:
    stat = {"st_uid": uid, "st_gid": 20, "st_mode": mode, "st_nlink": 1, "st_flags": 0}
    return {"path_truncated": False, "stat": stat, "path": path}


def create(es: Any, t: float, proc: Any, directory: str, name: str) -> None:
    new_path = {"dir": esfile(directory, 16877), "filename": name, "mode": 420}
    body = {"destination_type": 1, "destination": {"new_path": new_path}, "acl": None}
    es._msg(t, CREATE, proc, {"create": body})


def close(es: Any, t: float, proc: Any, path: str) -> None:
    body = {"modified": True, "target": esfile(path), "was_mapped_writable": False}
    es._msg(t, CLOSE, proc, {"close": body})


def rename(es: Any, t: float, proc: Any, source: str, destination: str) -> None:
    directory, _, name = destination.rpartition("/")
    new_path = {"dir": esfile(directory, 16877), "filename": name}
    body = {"source": esfile(source), "destination_type": 1, "destination": {"new_path": new_path}}
    es._msg(t, RENAME, proc, {"rename": body})


def hit(rule: str, executable: str, args: list[str], parent: str) -> dict[str, Any]:
    return {
        "rule": rule,
        "host": MAC,
        "process": {"executable": executable, "args": args, "parent": parent},
    }


def root_shell(es: Any, base: int, pid: int) -> Any:
    """Terminal → zsh → ``sudo -s`` → a root zsh."""
    _, shell = main.terminal_shell(es, base, pid)
    sudo = es.spawn(base + 170, shell, pid + 2, "/usr/bin/sudo", ["sudo", "-s"],
                    signing_id="com.apple.sudo", uid=0)  # fmt: skip
    return es.spawn(base + 175, sudo, pid + 3, "/bin/zsh", ["/bin/zsh"],
                    signing_id="com.apple.zsh", cwd="/Users/alice", uid=0)  # fmt: skip


def root_crontab_echo(base: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``echo '* * * * * /Users/Shared/.u/run' >> /private/var/at/tabs/root`` in a root shell:
    the shell itself appends (a builtin), so the modified close is zsh's."""
    es = Eslogger(seq=base % 100_000)
    shell = root_shell(es, base, 7101)
    close(es, base + HIT, shell, "/private/var/at/tabs/root")
    return es.lines, [
        hit(ROOT_CRONTAB, "/bin/zsh", ["/bin/zsh"], "/usr/bin/sudo"),
        hit(CRONTAB, "/bin/zsh", ["/bin/zsh"], "/usr/bin/sudo"),
    ]


def root_crontab_edit(base: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Near miss: ``crontab -e`` as root. crontab(1) writes a temporary file in the tabs
    directory and renames it over ``root``: the rules' own exception (/usr/bin/crontab)."""
    es = Eslogger(seq=base % 100_000)
    shell = root_shell(es, base, 7201)
    tab = es.spawn(base + HIT - 5, shell, 7210, "/usr/bin/crontab", ["crontab", "-e"],
                   signing_id="com.apple.crontab", uid=0)  # fmt: skip
    create(es, base + HIT - 1, tab, "/private/var/at/tabs", "tmp.7210")
    close(es, base + HIT - 1, tab, "/private/var/at/tabs/tmp.7210")
    rename(es, base + HIT, tab, "/private/var/at/tabs/tmp.7210", "/private/var/at/tabs/root")
    es.exit(base + HIT + 1, tab)
    return es.lines, []


def launch_agent_python(base: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A Python dropper run from a download writes its plist in /private/tmp and moves it into
    ~/Library/LaunchAgents (``os.rename``): the rename is the rule's hit."""
    es = Eslogger(seq=base % 100_000)
    _, shell = main.terminal_shell(es, base, 7301)
    args = ["python3", "/Users/alice/Downloads/setup.py"]
    py = es.spawn(base + HIT - 10, shell, 7310, "/usr/bin/python3", args,
                  signing_id="com.apple.python3", cwd="/Users/alice/Downloads")  # fmt: skip
    staged = "/private/tmp/.cache/com.apple.softwareupdated.plist"
    create(es, base + HIT - 2, py, "/private/tmp/.cache", "com.apple.softwareupdated.plist")
    close(es, base + HIT - 2, py, staged)
    agent = "/Users/alice/Library/LaunchAgents/com.apple.softwareupdated.plist"
    rename(es, base + HIT, py, staged, agent)
    es.exit(base + HIT + 2, py)
    return es.lines, [hit(LAUNCH_AGENT, "/usr/bin/python3", args, "/bin/zsh")]


def launch_agent_vim(base: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Near miss: the user edits their own agent in vim (Apple-signed, not a script host);
    vim writes the new text to a swap-style file and renames it over the plist."""
    es = Eslogger(seq=base % 100_000)
    _, shell = main.terminal_shell(es, base, 7401)
    agent = "/Users/alice/Library/LaunchAgents/com.alice.backup.plist"
    vim = es.spawn(base + HIT - 20, shell, 7410, "/usr/bin/vim", ["vim", agent],
                   signing_id="com.apple.vim", cwd="/Users/alice")  # fmt: skip
    create(es, base + HIT - 1, vim, "/Users/alice/Library/LaunchAgents", "4913")
    close(es, base + HIT, vim, agent)
    es.exit(base + HIT + 5, vim)
    return es.lines, []


def forked(image: Any) -> Any:
    """The forked shell an exec'd ``image`` was a moment before (same pid, pidversion - 1)."""
    return replace(image, pv=image.pv - 1, path="/bin/zsh", signing_id="com.apple.zsh")


def discovery_to_tmp(base: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``whoami > /private/tmp/.u`` typed in a shell, the first step of a collection script:
    the exec of whoami (parent zsh, one argument) then its modified close of /private/tmp/.u,
    both by the same process (one entity id)."""
    es = Eslogger(seq=base % 100_000)
    _, shell = main.terminal_shell(es, base, 7501)
    who = es.spawn(base + HIT, shell, 7510, "/usr/bin/whoami", ["whoami"],
                   signing_id="com.apple.whoami", cwd="/Users/alice")  # fmt: skip
    create(es, base + HIT + 0.001, forked(who), "/private/tmp", ".u")  # the shell's open(2)
    close(es, base + HIT + 0.010, who, "/private/tmp/.u")
    es.exit(base + HIT + 0.011, who)
    # a sequence alerts as Kibana's group: one building block per step (the exec, the file
    # write) and the shell alert, all three of whoami's process
    return es.lines, [hit(DISCOVERY_FILE, "/usr/bin/whoami", ["whoami"], "/bin/zsh") for _ in "123"]


def discovery_to_home(base: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Near miss: ``whoami > ~/me.txt``: not one of the rule's staging directories."""
    es = Eslogger(seq=base % 100_000)
    _, shell = main.terminal_shell(es, base, 7601)
    who = es.spawn(base + HIT, shell, 7610, "/usr/bin/whoami", ["whoami"],
                   signing_id="com.apple.whoami", cwd="/Users/alice")  # fmt: skip
    create(es, base + HIT + 0.001, forked(who), "/Users/alice", "me.txt")
    close(es, base + HIT + 0.010, who, "/Users/alice/me.txt")
    es.exit(base + HIT + 0.011, who)
    return es.lines, []


@dataclass(frozen=True)
class Story:
    name: str
    story: str
    rules: tuple[str, ...]
    build: Any


STORIES = (
    Story("root_crontab_echo", "a root shell appends a job to /private/var/at/tabs/root",
          (ROOT_CRONTAB, CRONTAB), root_crontab_echo),
    Story("benign_root_crontab_edit", "crontab -e as root (crontab renames its temporary file "
          "over tabs/root)", (ROOT_CRONTAB, CRONTAB), root_crontab_edit),
    Story("launch_agent_python", "a Python dropper moves its plist into ~/Library/LaunchAgents",
          (LAUNCH_AGENT,), launch_agent_python),
    Story("benign_launch_agent_vim", "the user edits their own launch agent in vim",
          (LAUNCH_AGENT,), launch_agent_vim),
    Story("discovery_output_to_tmp", "whoami > /private/tmp/.u (sequence: exec, then the file "
          "written by the same process)", (DISCOVERY_FILE,), discovery_to_tmp),
    Story("benign_discovery_output_home", "whoami > ~/me.txt (not a staging directory)",
          (DISCOVERY_FILE,), discovery_to_home),
)  # fmt: skip


def render() -> dict[Path, str]:
    files: dict[Path, str] = {}
    for i, story in enumerate(STORIES):
        events, alerts = story.build(T0 + 1800 * i)
        out = HERE / story.name
        files[out / "events.ndjson"] = main.ndjson(events)
        expected = {
            "story": story.story,
            "format": "eslogger",
            "host": MAC,
            "rules": list(story.rules),
            "alerts": alerts,
        }
        files[out / "expected.yaml"] = "# Generated by tests/scenarios/files/build.py\n" + (
            yaml.safe_dump(expected, sort_keys=False, width=100, allow_unicode=True)
        )
    return files


def write() -> int:
    for path, text in render().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(HERE.parents[2])}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(write())
