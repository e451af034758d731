"""Writes the scenario suite: each story's events (in its real source format) and expectations.

Run ``python tests/scenarios/build.py`` after changing a story; the output is committed and
``tests/test_scenarios.py`` fails if it is out of sync with this script. Every scenario has a
directory with ``events.ndjson`` and ``expected.yaml``; ``samples/capture.ndjson`` is all of
them merged in time order (what ``make run`` replays).

Time plan: scenario *i* happens in its own half hour starting at ``T0 + 1800 i`` (``T0`` is a
multiple of 300, so runs of a 5-minute rule fall on ``base``, ``base + 300``, ...). Its
processes start at ``base + 150`` and the process a rule should catch starts at
``base + 200``: 100 s before the run at ``base + 300`` and 400 s before the one at
``base + 600``, so it lies in both runs' 540 s lookbacks (overlapping windows) and must still
alert exactly once.

eslogger messages have the shape of ``tests/fixtures/eslogger/mullvad_eslogger_exec_fork_exit
.ndjson`` (message version 9: audit tokens as objects): a process is forked from its parent,
then the child execs the new image (same pid, pidversion + 1), and exits. Elastic Defend
documents follow the field list of ``tests/fixtures/ecs-fields/macos_process_fork_exec_exit
.yaml``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parents[1] / "samples" / "capture.ndjson"
T0 = 1_741_078_800  # 2025-03-04T09:00:00Z
HIT = 200  # seconds after the scenario's base: in two overlapping lookback windows
MITRE = ["TA0006", "T1555", "T1555.001"]
KEYCHAIN = "credential_access_dumping_keychain_security"
SYSTEMKEY = "credential_access_systemkey_dumping"
MAC = "alice-macbook"  # eslogger has no host name: these are replayed with --host alice-macbook

APPLE = {"flags": 0x26015B11, "platform": True, "team": None}  # real ipconfig sample's flags
DEVELOPER = {"flags": 0x22010301, "platform": False}  # signed with a team id (Mullvad sample)
ADHOC = {"flags": 0x22020203, "platform": False, "team": None}  # ad-hoc: CS_ADHOC set


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


def iso_ms(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# --------------------------------------------------------------------------- eslogger


@dataclass(frozen=True)
class P:
    """One process image as ESF describes it."""

    pid: int
    pv: int
    path: str
    signing_id: str
    sig: dict[str, Any]
    uid: int = 501
    gid: int = 20
    ppid: int = 1
    parent_pv: int = 1
    responsible: tuple[int, int] | None = None  # None: responsible for itself
    original_ppid: int | None = None
    start: float = 0.0
    team: str | None = None

    def token(self, pid: int | None = None, pv: int | None = None) -> dict[str, int]:
        return {
            "auid": self.uid if self.uid else 4294967295, "euid": self.uid, "egid": self.gid,
            "ruid": self.uid, "rgid": self.gid, "pid": self.pid if pid is None else pid,
            "asid": 100017, "pidversion": self.pv if pv is None else pv,
        }  # fmt: skip


def es_process(p: P) -> dict[str, Any]:
    resp = p.responsible or (p.pid, p.pv)
    return {
        "codesigning_flags": p.sig["flags"],
        "cdhash": hashlib.sha1(p.path.encode()).hexdigest().upper(),
        "session_id": p.ppid,
        "ppid": p.ppid,
        "group_id": p.pid,
        "is_platform_binary": p.sig["platform"],
        "team_id": p.sig.get("team", p.team),
        "audit_token": p.token(),
        "responsible_audit_token": p.token(*resp),
        "is_es_client": False,
        "signing_id": p.signing_id,
        "start_time": iso(p.start)[:-4] + "Z",
        "original_ppid": p.original_ppid or p.ppid,
        "parent_audit_token": p.token(p.ppid, p.parent_pv),
        "executable": {
            "path_truncated": False,
            "stat": {"st_uid": 0, "st_gid": 0, "st_mode": 33261, "st_nlink": 1, "st_flags": 0},
            "path": p.path,
        },
        "tty": None,
    }


@dataclass
class Eslogger:
    """Builds one Mac's eslogger stream."""

    seq: int
    lines: list[dict[str, Any]] = field(default_factory=list)

    def _msg(self, t: float, event_type: int, process: P, event: dict[str, Any]) -> None:
        self.seq += 1
        self.lines.append(
            {
                "process": es_process(process),
                "time": iso(t),
                "seq_num": self.seq,
                "action": {"result": {"result_type": 0, "result": {"auth": 0}}},
                "event_type": event_type,
                "event": event,
                "mach_time": 400_000_000_000 + int((t - T0) * 1e6),
                "version": 9,
                "thread": {"thread_id": 600_000 + self.seq},
                "global_seq_num": self.seq,
                "schema_version": 1,
                "action_type": 1,
            }
        )

    def spawn(
        self,
        t: float,
        parent: P,
        pid: int,
        path: str,
        args: list[str],
        *,
        signing_id: str,
        sig: dict[str, Any] = APPLE,
        cwd: str = "/",
        uid: int | None = None,
        responsible: tuple[int, int] | None = None,
        team: str | None = None,
    ) -> P:
        """fork of ``parent`` at ``t``, exec of ``path`` at ``t + 0.002``; returns the image.

        A child inherits its parent's responsible process, except that launchd's children (apps,
        daemons, agents) are responsible for themselves.
        """
        pv = parent.pv + 100 + pid % 97
        resp = responsible or parent.responsible or (parent.pid, parent.pv)
        if parent.pid == 1:
            resp = (pid, pv + 1)
        child = replace(
            parent,
            pid=pid,
            pv=pv,
            ppid=parent.pid,
            parent_pv=parent.pv,
            responsible=resp,
            original_ppid=parent.pid,
            start=t,
        )
        self._msg(t, 11, parent, {"fork": {"child": es_process(child)}})
        image = replace(
            child,
            pv=child.pv + 1,
            path=path,
            signing_id=signing_id,
            sig=sig,
            uid=child.uid if uid is None else uid,
            gid=0 if uid == 0 else child.gid,
            team=team,
        )
        exec_event = {
            "exec": {
                "target": es_process(image),
                "args": args,
                "env": [],
                "cwd": {"path_truncated": False, "path": cwd},
                "script": None,
                "last_fd": 2,
                "image_cputype": 16777228,
                "image_cpusubtype": 2,
                "dyld_exec_path": path,
                "fds": [{"fdtype": 1, "fd": 0}, {"fdtype": 1, "fd": 1}, {"fdtype": 1, "fd": 2}],
            }
        }
        self._msg(t + 0.002, 9, child, exec_event)
        return image

    def exit(self, t: float, proc: P, status: int = 0) -> None:
        self._msg(t, 15, proc, {"exit": {"stat": status << 8}})


def launchd(uid: int = 0) -> P:
    return P(1, 1, "/sbin/launchd", "com.apple.xpc.launchd", APPLE, uid=0, ppid=0, parent_pv=0)


def terminal_shell(es: Eslogger, base: int, pid: int, uid: int = 501) -> tuple[P, P]:
    """Terminal launched by launchd, and the login shell it opens (``-zsh``)."""
    term = es.spawn(
        base + 150, launchd(), pid,
        "/System/Applications/Utilities/Terminal.app/Contents/MacOS/Terminal", ["Terminal"],
        signing_id="com.apple.Terminal", uid=501,
    )  # fmt: skip
    shell = es.spawn(
        base + 160, term, pid + 1, "/bin/zsh", ["-zsh"], signing_id="com.apple.zsh",
        cwd="/Users/alice", uid=uid,
    )  # fmt: skip
    return term, shell


def ndjson(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)


# --------------------------------------------------------------------------- Elastic Defend


def defend_doc(
    t: float,
    host: str,
    os_type: str,
    *,
    pid: int,
    executable: str,
    args: list[str],
    parent: dict[str, Any],
    effective_parent: dict[str, Any] | None,
    user: tuple[str, str],
    signing_id: str | None,
    event_id: str,
    cwd: str,
) -> dict[str, Any]:
    """A process exec event as Elastic Defend ships it (logs-endpoint.events.process-*)."""
    mac = os_type == "macos"
    name = executable.rsplit("/", 1)[-1]
    entity = hashlib.sha256(f"{host}{pid}{t}".encode()).hexdigest()[:40]
    process: dict[str, Any] = {
        "pid": pid,
        "entity_id": entity,
        "executable": executable,
        "name": name,
        "args": args,
        "args_count": len(args),
        "command_line": " ".join(args),
        "working_directory": cwd,
        "start": iso_ms(t),
        "parent": parent,
        "Ext": {"ancestry": [parent["entity_id"]]},
    }
    if effective_parent is not None:
        process["Ext"]["effective_parent"] = effective_parent
    if signing_id is not None:
        process["code_signature"] = {
            "exists": True, "signing_id": signing_id, "status": "trusted", "trusted": True,
        }  # fmt: skip
    host_os = (
        {"type": "macos", "family": "macos", "name": "macOS", "platform": "macos",
         "version": "14.6.1", "full": "macOS 14.6.1", "kernel": "23.6.0"}
        if mac else
        {"type": "linux", "family": "ubuntu", "name": "Linux", "platform": "ubuntu",
         "version": "22.04.4", "full": "Ubuntu 22.04.4", "kernel": "5.15.0-119-generic"}
    )  # fmt: skip
    return {
        "@timestamp": iso_ms(t),
        "agent": {"id": f"agent-{host}", "type": "endpoint", "version": "8.15.1"},
        "data_stream": {"dataset": "endpoint.events.process", "namespace": "default",
                        "type": "logs"},
        "ecs": {"version": "8.10.0"},
        "event": {
            "action": "exec", "category": ["process"], "type": ["start"], "kind": "event",
            "id": event_id, "created": iso_ms(t), "dataset": "endpoint.events.process",
            "module": "endpoint", "outcome": "unknown", "sequence": int(t) % 100000,
        },
        "host": {
            "name": host, "hostname": host, "id": hashlib.md5(host.encode()).hexdigest(),
            "architecture": "arm64" if mac else "x86_64", "os": host_os,
        },
        "process": process,
        "user": {"id": user[0], "name": user[1]},
        "group": {"id": "20" if mac else "1000", "name": "staff" if mac else user[1]},
        "message": "Endpoint process event",
    }  # fmt: skip


def defend_parent(host: str, pid: int, executable: str, args: list[str]) -> dict[str, Any]:
    return {
        "pid": pid,
        "entity_id": hashlib.sha256(f"{host}{pid}parent".encode()).hexdigest()[:40],
        "executable": executable,
        "name": executable.rsplit("/", 1)[-1],
        "args": args,
        "args_count": len(args),
        "command_line": " ".join(args),
    }


# --------------------------------------------------------------------------- the stories


def hit(rule: str, host: str, executable: str, args: list[str], parent: str) -> dict[str, Any]:
    return {
        "rule": rule,
        "host": host,
        "process": {"executable": executable, "args": args, "parent": parent},
        "mitre": MITRE,
    }


def keychain_dump_terminal(base: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    es = Eslogger(seq=base % 100_000)
    _, shell = terminal_shell(es, base, 4101)
    args = ["security", "dump-keychain", "-d"]
    sec = es.spawn(base + HIT, shell, 4110, "/usr/bin/security", args,
                   signing_id="com.apple.security", cwd="/Users/alice")  # fmt: skip
    es.exit(base + HIT + 3, sec)
    return es.lines, [hit(KEYCHAIN, MAC, "/usr/bin/security", args, "/bin/zsh")]


def cat_systemkey(base: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    es = Eslogger(seq=base % 100_000)
    _, shell = terminal_shell(es, base, 4201, uid=0)
    args = ["cat", "/private/var/db/SystemKey"]
    cat = es.spawn(base + HIT, shell, 4210, "/bin/cat", args, signing_id="com.apple.cat",
                   cwd="/private/var/root", uid=0)  # fmt: skip
    es.exit(base + HIT + 1, cat)
    return es.lines, [hit(SYSTEMKEY, MAC, "/bin/cat", args, "/bin/zsh")]


def chainbreaker(base: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A root shell over SSH runs chainbreaker with the SystemKey to open System.keychain."""
    es = Eslogger(seq=base % 100_000)
    sshd = es.spawn(base + 150, launchd(), 4301, "/usr/sbin/sshd", ["/usr/sbin/sshd", "-i"],
                    signing_id="com.apple.sshd", uid=0)  # fmt: skip
    shell = es.spawn(base + 155, sshd, 4302, "/bin/zsh", ["-zsh"], signing_id="com.apple.zsh",
                     cwd="/private/var/root", uid=0)  # fmt: skip
    args = [
        "python3", "chainbreaker.py", "--dump-all", "--key-file", "/var/db/SystemKey",
        "/Library/Keychains/System.keychain",
    ]  # fmt: skip
    py = es.spawn(base + HIT, shell, 4310, "/usr/bin/python3", args,
                  signing_id="com.apple.python3", cwd="/private/tmp/cb", uid=0)  # fmt: skip
    es.exit(base + HIT + 6, py)
    return es.lines, [hit(SYSTEMKEY, MAC, "/usr/bin/python3", args, "/bin/zsh")]


def hexdump_implant(base: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """An ad-hoc signed implant (a launch agent) shells out to hexdump the SystemKey."""
    es = Eslogger(seq=base % 100_000)
    implant_path = "/Users/Shared/.local/updater"
    implant = es.spawn(base + 150, launchd(), 4401, implant_path, [implant_path, "--daemon"],
                       signing_id="updater-55554944", sig=ADHOC, uid=0)  # fmt: skip
    sh = es.spawn(base + 190, implant, 4402, "/bin/sh",
                  ["/bin/sh", "-c", "hexdump /var/db/SystemKey | base64"],
                  signing_id="com.apple.sh", uid=0)  # fmt: skip
    args = ["hexdump", "/var/db/SystemKey"]
    hd = es.spawn(base + HIT, sh, 4403, "/usr/bin/hexdump", args,
                  signing_id="com.apple.hexdump", uid=0)  # fmt: skip
    es.exit(base + HIT + 1, hd)
    return es.lines, [hit(SYSTEMKEY, MAC, "/usr/bin/hexdump", args, "/bin/sh")]


def find_identity(base: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    es = Eslogger(seq=base % 100_000)
    _, shell = terminal_shell(es, base, 4501)
    sec = es.spawn(base + HIT, shell, 4510, "/usr/bin/security",
                   ["security", "find-identity", "-v", "-p", "codesigning"],
                   signing_id="com.apple.security", cwd="/Users/alice/src/app")  # fmt: skip
    es.exit(base + HIT + 1, sec)
    return es.lines, []


def dump_keychain_no_d(base: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``dump-keychain`` without ``-d`` lists items but not their secrets: not the rule's case."""
    es = Eslogger(seq=base % 100_000)
    _, shell = terminal_shell(es, base, 4601)
    sec = es.spawn(base + HIT, shell, 4610, "/usr/bin/security",
                   ["security", "dump-keychain", "login.keychain"],
                   signing_id="com.apple.security", cwd="/Users/alice")  # fmt: skip
    es.exit(base + HIT + 1, sec)
    return es.lines, []


def osqueryd_parent(base: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """An osquery extension (a compliance check) lists SystemKey's attributes; osqueryd is
    responsible for it, so it is the effective parent — excepted by the shipped defaults."""
    es = Eslogger(seq=base % 100_000)
    osqueryd_path = "/opt/osquery/lib/osquery.app/Contents/MacOS/osqueryd"
    osq = es.spawn(base + 150, launchd(), 4701, osqueryd_path,
                   [osqueryd_path, "--flagfile", "/var/osquery/osquery.flags"],
                   signing_id="io.osquery.agent", sig={**DEVELOPER, "team": "3522FA9PXF"},
                   uid=0)  # fmt: skip
    ext_path = "/usr/local/osquery_extensions/compliance.ext"
    ext = es.spawn(base + 170, osq, 4702, ext_path,
                   [ext_path, "--socket", "/var/osquery/osquery.em", "--timeout", "3",
                    "--interval", "3"],
                   signing_id="com.example.compliance", sig={**DEVELOPER, "team": "A1B2C3D4E5"},
                   uid=0)  # fmt: skip
    args = ["ls", "-lO", "/var/db/SystemKey"]
    ls = es.spawn(base + HIT, ext, 4703, "/bin/ls", args, signing_id="com.apple.ls", uid=0)
    es.exit(base + HIT + 1, ls)
    return es.lines, []


def defend_keychain_quiet(base: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Elastic Defend's own event: ``security -q dump-keychain -d login.keychain``."""
    host = "bob-mbp"
    args = ["security", "-q", "dump-keychain", "-d", "login.keychain"]
    shell = defend_parent(host, 5102, "/bin/bash", ["-bash"])
    effective = {
        "pid": 5101, "entity_id": hashlib.sha256(b"bob-mbp iTerm2").hexdigest()[:40],
        "executable": "/Applications/iTerm.app/Contents/MacOS/iTerm2", "name": "iTerm2",
    }  # fmt: skip
    doc = defend_doc(
        base + HIT, host, "macos", pid=5110, executable="/usr/bin/security", args=args,
        parent=shell, effective_parent=effective, user=("502", "bob"),
        signing_id="com.apple.security", event_id="NiwoZ2aWTdm1j1Ar++++C9Tn", cwd="/Users/bob",
    )  # fmt: skip
    return [doc], [hit(KEYCHAIN, host, "/usr/bin/security", args, "/bin/bash")]


def defend_elastic_endpoint(base: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Elastic's own agent reads SystemKey: the rule's built-in exception."""
    host = "build-mac-02"
    endpoint = "/Library/Elastic/Endpoint/elastic-endpoint.app/Contents/MacOS/elastic-endpoint"
    sh = defend_parent(host, 5202, "/bin/sh", ["/bin/sh", "-c", "cat /var/db/SystemKey"])
    effective = {
        "pid": 5201, "entity_id": hashlib.sha256(b"build-mac-02 endpoint").hexdigest()[:40],
        "executable": endpoint, "name": "elastic-endpoint",
    }  # fmt: skip
    doc = defend_doc(
        base + HIT, host, "macos", pid=5210, executable="/bin/cat",
        args=["cat", "/var/db/SystemKey"], parent=sh, effective_parent=effective,
        user=("0", "root"), signing_id="com.apple.cat", event_id="NiwoZ2aWTdm1j1Ar++++C9Tp",
        cwd="/",
    )  # fmt: skip
    return [doc], []


def linux_host(base: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The same command on a Linux build host: the rules are for host.os.type macos only."""
    host = "ci-linux-01"
    shell = defend_parent(host, 6102, "/usr/bin/bash", ["bash"])
    doc = defend_doc(
        base + HIT, host, "linux", pid=6110, executable="/usr/bin/cat",
        args=["cat", "/var/db/SystemKey"], parent=shell, effective_parent=None,
        user=("1000", "ci"), signing_id=None, event_id="MTY5NjM1NDQ3Mjc0NjAw",
        cwd="/home/ci/fixtures",
    )  # fmt: skip
    return [doc], []


# --------------------------------------------------------------------------- socket_events

OSASCRIPT_NETCON = "execution_scripting_osascript_exec_followed_by_netcon"
NETCON_MITRE = ["TA0002", "TA0011", "T1059", "T1071", "T1105", "T1059.002"]


def socket_line(t: float, proc: P, remote: str, port: int, fd: int = 5) -> dict[str, Any]:
    """A macOS ``socket_events`` connect as osqueryd logs it (an ``added`` results-log line, the
    shape of osquery's own example in ``docs/wiki/deployment/process-auditing.md``) with the
    columns ``SELECT *`` returns and osquery's darwin subscriber fills
    (``osquery/tables/events/darwin/socket_events.cpp`` at a5b14f63d: no local end, family 2,
    ``fd`` in hex, ``path`` from ``proc_pidpath``; ``uptime`` seconds since boot)."""
    return {
        "action": "added",
        "columns": {
            "action": "connect", "auid": str(proc.uid), "family": "2", "fd": f"{fd:x}",
            "local_address": "", "local_port": "", "path": proc.path, "pid": str(proc.pid),
            "remote_address": remote, "remote_port": str(port), "time": str(int(t)),
            "uptime": str(int(t) - T0 + 86_400),
        },
        "unixTime": int(t) + 2,
        "hostIdentifier": MAC,
        "name": "pack_ecsquery_socket_events",
        "numerics": False,
    }  # fmt: skip


def in_time_order(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(records, key=_time)


def osascript_netcon(base: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A downloaded compiled script run with osascript fetches its payload over HTTP."""
    es = Eslogger(seq=base % 100_000)
    _, shell = terminal_shell(es, base, 4801)
    args = ["osascript", "/Users/alice/Downloads/Invoice.scpt"]
    osa = es.spawn(base + HIT, shell, 4810, "/usr/bin/osascript", args,
                   signing_id="com.apple.osascript", cwd="/Users/alice/Downloads")  # fmt: skip
    sockets = [socket_line(base + HIT + 3, osa, "93.184.215.14", 80)]
    es.exit(base + HIT + 5, osa)
    # a sequence alerts once per event and once for the sequence (``alerts``' building blocks):
    # the exec (argv, parent), the connection (Defend writes no args or parent on it), the whole
    alerts = [
        {"rule": OSASCRIPT_NETCON, "host": MAC, "mitre": list(NETCON_MITRE),
         "process": {"executable": "/usr/bin/osascript", "args": a, "parent": parent}}
        for a, parent in ((args, "/bin/zsh"), ([], None), ([], None))
    ]  # fmt: skip
    return in_time_order(es.lines + sockets), alerts


def osascript_near_misses(base: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """osascript mounts a NAS share (a private address, excluded by the rule), its ``do shell
    script`` curl connects out (another process: another entity id), and osascript itself
    connects out 45 s after it started (past the sequence's maxspan of 30 s)."""
    es = Eslogger(seq=base % 100_000)
    _, shell = terminal_shell(es, base, 4901)
    osa = es.spawn(base + HIT, shell, 4910, "/usr/bin/osascript",
                   ["osascript", "-e", 'mount volume "afp://192.168.1.20/Projects"'],
                   signing_id="com.apple.osascript", cwd="/Users/alice")  # fmt: skip
    sh = es.spawn(base + HIT + 3, osa, 4911, "/bin/sh",
                  ["sh", "-c", "curl -s https://93.184.215.14/status"],
                  signing_id="com.apple.sh")  # fmt: skip
    curl = es.spawn(base + HIT + 3.1, sh, 4912, "/usr/bin/curl",
                    ["curl", "-s", "https://93.184.215.14/status"],
                    signing_id="com.apple.curl")  # fmt: skip
    sockets = [
        socket_line(base + HIT + 2, osa, "192.168.1.20", 548),
        socket_line(base + HIT + 4, curl, "93.184.215.14", 443),
        socket_line(base + HIT + 45, osa, "93.184.215.14", 443, fd=7),
    ]
    es.exit(base + HIT + 5, curl)
    es.exit(base + HIT + 5.1, sh)
    es.exit(base + HIT + 50, osa)
    return in_time_order(es.lines + sockets), []


@dataclass(frozen=True)
class Scenario:
    name: str
    story: str
    format: str
    build: Any
    host: str = MAC
    xfail: str = ""
    rules: tuple[str, ...] = ()
    """Corpus rules (``tests/fixtures/elastic-rules-multi``) the story needs beyond the shipped
    ones; such a story is left out of ``samples/capture.ndjson`` (``make run``'s shipped pack)."""


SCENARIOS = (
    Scenario("keychain_dump_terminal", "security dump-keychain -d typed in Terminal "
             "(Terminal → zsh → security)", "eslogger", keychain_dump_terminal),
    Scenario("keychain_dump_quiet_defend", "security -q dump-keychain -d login.keychain, "
             "as Elastic Defend recorded it", "ecs", defend_keychain_quiet, host="bob-mbp"),
    Scenario("cat_systemkey", "cat /private/var/db/SystemKey in a root shell in Terminal",
             "eslogger", cat_systemkey),
    Scenario("chainbreaker_systemkey", "chainbreaker (Python) opening System.keychain with "
             "--key-file /var/db/SystemKey from a root SSH shell", "eslogger", chainbreaker),
    Scenario("hexdump_systemkey", "an ad-hoc signed launch agent runs "
             "sh -c 'hexdump /var/db/SystemKey | base64'", "eslogger", hexdump_implant),
    Scenario("benign_find_identity", "security find-identity -v -p codesigning (Xcode-style "
             "signing identity lookup)", "eslogger", find_identity),
    Scenario("benign_dump_keychain_without_d", "security dump-keychain login.keychain "
             "(no -d: no secrets)", "eslogger", dump_keychain_no_d),
    Scenario("benign_elastic_endpoint", "Elastic Defend's endpoint is the effective parent of "
             "cat /var/db/SystemKey", "ecs", defend_elastic_endpoint, host="build-mac-02"),
    Scenario("benign_osqueryd_parent", "an osquery extension runs ls -lO /var/db/SystemKey; "
             "osqueryd is the effective parent", "eslogger", osqueryd_parent),
    Scenario("benign_linux_host", "cat /var/db/SystemKey on a Linux host (Elastic Defend on "
             "Linux)", "ecs", linux_host, host="ci-linux-01"),
    Scenario("osascript_netcon", "osascript runs a downloaded script that connects out to "
             "93.184.215.14:80 3 s later", "eslogger+socket_events", osascript_netcon,
             rules=(OSASCRIPT_NETCON,)),
    Scenario("benign_osascript_near_misses", "osascript connects to a NAS on the LAN, its curl "
             "child connects out, and osascript connects out 45 s after it started",
             "eslogger+socket_events", osascript_near_misses, rules=(OSASCRIPT_NETCON,)),
)  # fmt: skip


def render() -> dict[Path, str]:
    """Every file this script writes, by path."""
    files: dict[Path, str] = {}
    merged: list[tuple[float, int, dict[str, Any]]] = []
    for i, scenario in enumerate(SCENARIOS):
        base = T0 + 1800 * i
        events, alerts = scenario.build(base)
        out = HERE / scenario.name
        files[out / "events.ndjson"] = ndjson(events)
        expected: dict[str, Any] = {
            "story": scenario.story,
            "format": scenario.format,
            "host": scenario.host,
            "alerts": alerts,
        }
        if scenario.xfail:
            expected["xfail"] = scenario.xfail
        if scenario.rules:
            expected["rules"] = list(scenario.rules)
        files[out / "expected.yaml"] = "# Generated by tests/scenarios/build.py\n" + yaml.safe_dump(
            expected, sort_keys=False, width=100, allow_unicode=True
        )
        if not scenario.rules:
            merged += [(_time(e), i, e) for e in events]
    merged.sort(key=lambda m: (m[0], m[1]))
    files[SAMPLE] = ndjson([e for _, _, e in merged])
    return files


def _time(record: dict[str, Any]) -> float:
    if "columns" in record:  # an osqueryd results-log line: the event's own time column
        return float(record["columns"]["time"])
    stamp = record.get("time") or record["@timestamp"]
    return datetime.fromisoformat(str(stamp)[:26].rstrip("Z") + "+00:00").timestamp()


def main() -> int:
    for path, text in render().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(HERE.parents[1])}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
