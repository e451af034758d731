"""File events: eslogger's and osquery's ``es_process_file_events`` → ``ecs_file_events`` rows.

The messages are eslogger's JSON: the actor is the real ``es_process_t`` of the exec sample in
``tests/fixtures/eslogger`` (Mullvad's test), and each event body has the members of its
EndpointSecurity struct (``ESMessage.h``: ``es_event_create_t``, ``es_event_close_t``,
``es_event_rename_t``, ``es_event_unlink_t``, ``es_event_open_t``,
``es_event_deleteextattr_t``, ``es_event_btm_launch_item_add_t``), file objects as eslogger
writes them (``path``, ``path_truncated``, ``stat``).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ecsquery.extension.files import DEFAULT_PATHS, FileScope, Globs
from ecsquery.extension.normalize import normalize
from ecsquery.extension.normalize.files import MAX_PATH_CHARS, file_fields
from ecsquery.extension.pipeline import Pipeline
from ecsquery.extension.table import EcsProcessTable
from ecsquery.extension.window import Window
from ecsquery.schema import FILE_TABLE, NETWORK_TABLE

FIXTURES = Path(__file__).parent / "fixtures"
V9_EXEC = json.loads(
    (FIXTURES / "eslogger" / "mullvad_eslogger_exec_fork_exit.ndjson").read_text().splitlines()[1]
)
ACTOR = V9_EXEC["process"]  # /bin/nu, pid 97391, pidversion 149091, uid 501, responsible 938
EVENT_TYPES = {"open": 10, "close": 12, "create": 13, "rename": 25, "unlink": 32, "write": 33,
               "deleteextattr": 70, "btm_launch_item_add": 124,
               "btm_launch_item_remove": 125}  # fmt: skip


def esfile(path: str) -> dict[str, Any]:
    return {"path": path, "path_truncated": False, "stat": {"st_mode": 33188, "st_uid": 501}}


def message(name: str, body: dict[str, Any], seq: int = 500, **process: Any) -> dict[str, Any]:
    return {
        "schema_version": 1, "version": 9, "event_type": EVENT_TYPES[name], "seq_num": seq,
        "global_seq_num": seq, "mach_time": 289350990000 + seq, "action_type": 1,
        "time": "2025-08-07T13:21:40.000000000Z", "thread": {"thread_id": 1},
        "process": {**copy.deepcopy(ACTOR), **process}, "event": {name: body},
    }  # fmt: skip


def create(directory: str, name: str) -> dict[str, Any]:
    return message("create", {"destination_type": 1, "acl": None, "destination": {
        "new_path": {"dir": esfile(directory), "filename": name, "mode": 420}}})  # fmt: skip


def pipeline(scope: FileScope | None = None) -> tuple[Pipeline, EcsProcessTable]:
    window = Window(max_age=10**10)
    files = Window(max_age=10**10)
    pipe = Pipeline(window, windows={"file": files}, files=scope or FileScope(["*"], []))
    return pipe, EcsProcessTable(files, FILE_TABLE.columns, FILE_TABLE.name)


def rows(*messages: dict[str, Any], scope: FileScope | None = None) -> list[dict[str, str]]:
    pipe, table = pipeline(scope)
    pipe.feed_line(json.dumps(V9_EXEC), "eslogger")  # the tree learns /bin/connection-checker
    for msg in messages:
        pipe.feed_line(json.dumps(msg), "eslogger")
    return table.generate(None)


def test_create_of_a_launch_agent_to_an_ecs_file_row() -> None:
    msg = create("/Users/alice/Library/LaunchAgents", "com.apple.updater.plist")
    msg["process"]["audit_token"]["pidversion"] = 149092  # the exec'd image of V9_EXEC
    msg["process"]["executable"]["path"] = "/bin/connection-checker"
    [row] = rows(msg)
    assert {k: v for k, v in row.items() if v} == {
        "time": "1754572900",
        "timestamp": "2025-08-07T13:21:40.000Z",
        "event_category": '["file"]',
        "event_type": '["creation"]',
        "event_action": "modification",
        "event_id": "es-289350990500-500",
        "host_os_type": "macos",
        "event_outcome": "success",
        "process_pid": "97391",
        "process_entity_id": "97391-149092",
        "process_executable": "/bin/connection-checker",
        "process_name": "connection-checker",
        "process_args": '["/bin/connection-checker"]',  # from the exec, through the tree
        "process_args_count": "1",
        "process_command_line": "/bin/connection-checker",
        "process_working_directory": "/bin/mullvadvpn-app",
        "process_code_signature_exists": "1",
        "process_code_signature_trusted": "0",
        "process_code_signature_signing_id": "nu-b9fb5b9dbba2e494",
        "process_parent_pid": "58916",
        "process_parent_entity_id": "58916-87724",
        "process_effective_parent_pid": "938",
        "process_effective_parent_entity_id": "938-2424",
        "user_id": "501",
        "user_effective_id": "501",
        "group_id": "20",
        "file_path": "/Users/alice/Library/LaunchAgents/com.apple.updater.plist",
        "file_name": "com.apple.updater.plist",
        "file_extension": "plist",
        "file_directory": "/Users/alice/Library/LaunchAgents",
        "effective_process_pid": "938",  # responsible, unknown to the tree: no image
        "effective_process_entity_id": "938-2424",
    }


@pytest.mark.parametrize(
    ("name", "body", "action", "kind", "path"),
    [
        ("close", {"modified": True, "target": esfile("/private/var/at/tabs/root"),
                   "was_mapped_writable": False},
         "modification", "change", "/private/var/at/tabs/root"),
        ("write", {"target": esfile("/etc/sudoers")}, "modification", "change", "/etc/sudoers"),
        ("unlink", {"target": esfile("/Users/a/.bash_history"), "parent_dir": esfile("/Users/a")},
         "deletion", "deletion", "/Users/a/.bash_history"),
        ("open", {"fflag": 1, "file": esfile("/Library/Preferences/com.apple.TimeMachine.plist")},
         "open", "access", "/Library/Preferences/com.apple.TimeMachine.plist"),
        ("deleteextattr", {"target": esfile("/Users/a/Downloads/x.app"),
                           "extattr": "com.apple.quarantine"},
         "extended_attributes_delete", "change", "/Users/a/Downloads/x.app"),
        ("create", {"destination_type": 0, "destination": {"existing_file": esfile("/etc/hosts")}},
         "modification", "creation", "/etc/hosts"),
    ],
)  # fmt: skip
def test_defend_action_and_type_of_each_event(
    name: str, body: dict[str, Any], action: str, kind: str, path: str
) -> None:
    [row] = rows(message(name, body))
    assert (row["event_action"], row["event_type"], row["file_path"]) == (
        action,
        json.dumps([kind]),
        path,
    )
    assert row["process_executable"] == "/bin/nu"  # the message's own process


def test_rename_fills_the_original_path() -> None:
    new_path = {"dir": esfile("/Library/LaunchDaemons/"), "filename": ".hidden.plist"}
    body = {
        "source": esfile("/private/tmp/x.plist"),
        "destination_type": 1,
        "destination": {"new_path": new_path},
    }
    [row] = rows(message("rename", body))
    assert {k: row[k] for k in row if k.startswith("file_") or k == "event_action"} == {
        "event_action": "rename",
        "file_path": "/Library/LaunchDaemons/.hidden.plist",
        "file_name": ".hidden.plist",
        "file_extension": "plist",
        "file_directory": "/Library/LaunchDaemons",
        "file_original_path": "/private/tmp/x.plist",
        "file_original_name": "x.plist",
    }


def test_unmodified_close_is_ignored_and_counted() -> None:
    pipe, table = pipeline()
    pipe.feed_line(json.dumps(message("close", {"modified": False, "target": esfile("/a")})), "e")
    assert table.generate(None) == [] and pipe.stats.snapshot() == {"read.e": 1, "ignored.e": 1}


@pytest.mark.parametrize(
    ("path", "name", "extension", "directory"),
    [
        ("/Users/a/.zshrc", ".zshrc", "", "/Users/a"),
        ("/a/b.tar.gz", "b.tar.gz", "gz", "/a"),
        ("/a/trailing.", "trailing.", "", "/a"),
        ("/root", "root", "", "/"),
        ("/a/~$x.zip", "~$x.zip", "zip", "/a"),
    ],
)
def test_file_fields(path: str, name: str, extension: str, directory: str) -> None:
    fields = file_fields(path)
    assert (fields.get("name", ""), fields.get("extension", ""), fields["directory"]) == (
        name,
        extension,
        directory,
    )


def test_a_path_over_ignore_above_is_left_out() -> None:
    long = "/Library/LaunchAgents/" + "a" * MAX_PATH_CHARS + ".plist"
    assert file_fields(long) == {"directory": "/Library/LaunchAgents", "extension": "plist"}


BODIES_BY_PATH = {
    "create": lambda p, o: {"destination_type": 1, "destination": {
        "new_path": {"dir": esfile(p), "filename": o.rsplit("/", 1)[-1], "mode": 420}}},
    "close": lambda p, o: {"modified": True, "target": esfile(p)},
    "rename": lambda p, o: {"source": esfile(p), "destination_type": 0,
                            "destination": {"existing_file": esfile(o)}},
    "unlink": lambda p, o: {"target": esfile(p), "parent_dir": esfile(o)},
    "open": lambda p, o: {"fflag": 1, "file": esfile(p)},
    "deleteextattr": lambda p, o: {"target": esfile(p), "extattr": o},
}  # fmt: skip


# --- launch items --------------------------------------------------------------------------


def launch_item(url: str, remove: bool = False, instigator: bool = True) -> dict[str, Any]:
    item = {"item_type": 3, "legacy": True, "managed": False, "uid": 501, "item_url": url,
            "app_url": None}  # fmt: skip
    body = {
        "instigator": copy.deepcopy(ACTOR) if instigator else None,
        "app": None,
        "item": item,
        "executable_path": "/Users/alice/.local/updater",
    }
    btm = "backgroundtaskmanagementd"
    executable = {"path": f"/System/Library/PrivateFrameworks/BTM.framework/{btm}"}
    name = "btm_launch_item_remove" if remove else "btm_launch_item_add"
    return message(name, body, executable=executable)


def test_launch_item_is_a_launch_daemon_event_reported_once_until_removed() -> None:
    url = "file:///Users/alice/Library/LaunchAgents/.com.evil%20agent.plist"
    other = launch_item("file:///Library/LaunchDaemons/com.vendor.plist")
    pipe, table = pipeline()
    for msg in (launch_item(url), other, launch_item(url), launch_item(url, remove=True),
                launch_item(url)):  # fmt: skip
        pipe.feed_line(json.dumps(msg), "eslogger")
    served = table.generate(None)
    assert [r["event_action"] for r in served] == ["launch_daemon"] * 3
    assert {r["file_path"] for r in served} == {""}  # Defend's launch_daemon has no file.*
    assert served[0]["process_executable"] == "/bin/nu"  # the instigator, not BTM's daemon
    assert pipe.stats["dropped.duplicate"] == 1 and pipe.stats["dropped.launch_item_remove"] == 1
    [event] = list(normalize(launch_item(url)))
    assert event.launch_item is not None
    assert (event.launch_item.path, event.launch_item.executable) == (
        "/Users/alice/Library/LaunchAgents/.com.evil agent.plist",
        "/Users/alice/.local/updater",
    )


def test_login_items_are_not_launch_daemons() -> None:
    msg = launch_item("file:///Applications/X.app")
    msg["event"]["btm_launch_item_add"]["item"]["item_type"] = 2  # ES_BTM_ITEM_TYPE_LOGIN_ITEM
    assert list(normalize(msg)) == []


# --- scoping and muting --------------------------------------------------------------------


def test_default_scope_keeps_the_rule_paths_and_drops_the_rest() -> None:
    scope = FileScope()
    kept = ["/private/var/at/tabs/root", "/Users/bob/Library/LaunchAgents/a.plist",
            "/Library/launchdaemons/X.PLIST", "/Users/bob/.zshrc", "/private/etc/sudoers",
            "/Users/bob/Library/Application Support/Google/Chrome/Default/Cookies"]  # fmt: skip
    dropped = ["/private/var/folders/xy/T/tmp.1", "/Users/bob/src/app/main.o",
               "/Users/bob/.zshrc.bak", "/usr/lib/dyld"]  # fmt: skip
    assert [p for p in kept if not scope.in_scope(p)] == []
    assert [p for p in dropped if scope.in_scope(p)] == []
    assert Globs(["*"]).everything and len(DEFAULT_PATHS) == len(set(DEFAULT_PATHS))


def test_scope_muting_and_renames_out_of_scope_are_counted() -> None:
    eslogger = {"path": "/usr/bin/eslogger"}
    msgs = [
        create("/Users/bob/src", "main.o"),  # out of scope
        create("/Library/LaunchAgents", "a.plist"),  # kept
        message("open", {"fflag": 1, "file": esfile("/etc/hosts")}, executable=eslogger),
        message("rename", {"source": esfile("/Library/LaunchAgents/a.plist"),  # out of scope
                           "destination_type": 0,
                           "destination": {"existing_file": esfile("/Users/bob/a.plist")}}),
    ]  # fmt: skip
    pipe, table = pipeline(FileScope())
    for msg in msgs:
        pipe.feed_line(json.dumps(msg), "eslogger")
    assert [r["event_action"] for r in table.generate(None)] == ["modification", "rename"]
    assert pipe.stats["dropped.scope"] == 1 and pipe.stats["dropped.muted"] == 1


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("/a*b*c", "/aXbYc", True),
        ("/a*b*c", "/acb", False),
        ("/a*bc*bc", "/abc", False),
        ("/Users/*/.zshrc", "/users/Bob/.ZSHRC", True),
        ("/Users/*/key?.db", "/Users/b/x/key4.db", True),
        ("/Users/*/key?.db", "/Users/b/x/key44.db", False),
        ("/etc/*", "/etc", False),
        ("*.plist", "/x/y.plist", True),
    ],
)
def test_globs(pattern: str, path: str, matches: bool) -> None:
    assert Globs([pattern]).match(path) is matches


SEGMENTS = st.sampled_from(
    ["Users", "bob", "Library", "LaunchAgents", "LaunchDaemons", "private", "var", "at", "tabs",
     "root", "etc", "tmp", "src", "build", ".zshrc", "x.plist", "Cookies", "folders", "a\\b",
     'q"uote', "\u00e9", "\ud800", "İ", ""]
)  # fmt: skip
PATHS = st.lists(SEGMENTS, max_size=6).map(lambda parts: "/" + "/".join(parts))


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(sorted(set(BODIES_BY_PATH) - {"btm_launch_item_add"})),
    path=PATHS,
    other=PATHS,
    escaped=st.booleans(),
)
def test_the_line_prefilter_never_skips_what_the_scope_keeps(
    name: str, path: str, other: str, escaped: bool
) -> None:
    """``skip_line`` decides on the raw line; whatever it skips, the full path (decode,
    normalize, ``verdict``) drops too; and an in-scope event is never skipped."""
    scope = FileScope()
    msg = message(name, BODIES_BY_PATH[name](path, other))
    line = json.dumps(msg, separators=(",", ":"))
    if escaped:
        line = line.replace("/", "\\/")  # as eslogger writes JSON
    [decoded] = list(normalize(json.loads(line))) or [None]
    skipped = scope.skip_line(line)
    event(f"skipped={skipped}")  # hypothesis statistics: both outcomes occur
    if skipped:  # (a line kept here but dropped by the scope is allowed: a superset)
        assert decoded is None or scope.verdict(decoded) == "scope", line


def test_the_prefilter_skips_a_build_and_keeps_the_rules_paths() -> None:
    scope = FileScope()
    build = json.dumps(create("/Users/bob/src/app", "main.o"), separators=(",", ":"))
    agent = json.dumps(create("/Users/bob/Library/LaunchAgents", "a.plist"))
    process = json.dumps(V9_EXEC)
    assert [scope.skip_line(line.replace("/", "\\/")) for line in (build, agent, process)] == [
        True,
        False,
        False,
    ]
    pipe, _ = pipeline(FileScope())
    pipe.feed_line(build.replace("/", "\\/"), "eslogger")
    assert pipe.stats.snapshot() == {"read.eslogger": 1, "dropped.scope": 1}


# --- routing by category --------------------------------------------------------------------


def test_documents_go_to_the_table_of_their_category() -> None:
    process, files = Window(max_age=10**10), Window(max_age=10**10)
    pipe = Pipeline(process, windows={"file": files})
    base = {"@timestamp": "2025-08-07T13:21:40.000Z", "host": {"os": {"type": "macos"}}}
    for category in (["file"], "file", ["process"], ["network"], ["authentication"]):
        pipe.feed({**base, "event": {"category": category}}, "replay")
    file_rows = EcsProcessTable(files, FILE_TABLE.columns, FILE_TABLE.name).generate(None)
    assert [r["event_category"] for r in file_rows] == ['["file"]', '["file"]']
    process_rows = EcsProcessTable(process).generate(None)
    assert [r["event_category"] for r in process_rows] == ['["process"]', '["authentication"]']
    assert pipe.stats["dropped.no_table"] == 1  # network: no window given here
    assert NETWORK_TABLE.category == "network"


def test_without_a_file_window_file_events_are_dropped_counted() -> None:
    pipe = Pipeline(Window(), files=FileScope(["*"], []))
    pipe.feed(create("/etc", "x"), "eslogger")
    assert pipe.stats["dropped.no_table"] == 1 and len(pipe.window) == 0


# --- osquery es_process_file_events ----------------------------------------------------------


def test_es_process_file_events_rows() -> None:
    pipe, table = pipeline()
    pipe.feed(
        {
            "pid": "700",
            "parent": "1",
            "path": "/bin/zsh",
            "cmdline": "-zsh",
            "time": "10",
            "start_time": "1",
            "name": "zsh",
            "uid": "0",
        },
        "osquery",
    )  # a processes seed
    for row in (
        {"time": "100", "eid": "01", "event_type": "write", "pid": "700", "parent": "1",
         "path": "/bin/zsh", "filename": "/private/var/at/tabs/root", "dest_filename": ""},
        {"time": "101", "eid": "02", "event_type": "rename", "pid": "700", "parent": "1",
         "path": "/bin/zsh", "filename": "/tmp/a", "dest_filename": "/etc/b.conf"},
        {"time": "102", "eid": "03", "event_type": "mmap", "pid": "700", "parent": "1",
         "path": "/bin/zsh", "filename": "/x", "dest_filename": ""},
    ):  # fmt: skip
        pipe.feed({"name": "files", "columns": row, "action": "added"}, "osquery")
    served = table.generate(None)
    assert [(r["event_id"], r["event_action"], r["file_path"], r["file_original_path"])
            for r in served] == [
        ("es_process_file_events-01", "modification", "/private/var/at/tabs/root", ""),
        ("es_process_file_events-02", "rename", "/etc/b.conf", "/tmp/a"),
    ]  # fmt: skip
    # the actor's argv and user come from the tree (the processes seed)
    assert (served[0]["process_args"], served[0]["user_id"]) == ('["-zsh"]', "0")
    assert pipe.stats["ignored.osquery"] == 1


def test_es_process_file_events_row_without_pid_is_a_bad_record() -> None:
    pipe, _ = pipeline()
    pipe.feed({"time": "1", "event_type": "open", "filename": "/a", "pid": ""}, "osquery")
    assert pipe.stats["bad.missing_field"] == 1


# --- attacker-controlled input -------------------------------------------------------------

HOSTILE = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from(["\x00", "\ud800", "\udfff", "\ufffd", "/", ".", "a"])),
    st.builds(lambda n: "/Library/LaunchAgents/" + "x" * n, st.integers(0, 300_000)),
    st.integers(),
    st.none(),
    st.lists(st.text(max_size=5), max_size=3),
)
BODIES = {
    "create": lambda p: {"destination_type": 1,
                         "destination": {"new_path": {"dir": {"path": p}, "filename": p}}},
    "close": lambda p: {"modified": True, "target": {"path": p}},
    "rename": lambda p: {"source": {"path": p}, "destination_type": 0,
                         "destination": {"existing_file": {"path": p}}},
    "unlink": lambda p: {"target": {"path": p}},
    "open": lambda p: {"file": {"path": p}},
    "btm_launch_item_add": lambda p: {"item": {"item_type": 4, "item_url": p}, "instigator": None,
                                      "executable_path": p},
}  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=st.lists(
        st.tuples(st.sampled_from(sorted(BODIES)), HOSTILE, st.booleans()), min_size=1, max_size=5
    )
)
def test_hostile_paths_never_stop_the_source(events: list[tuple[str, Any, bool]]) -> None:
    """Non-UTF-8 (read as U+FFFD upstream), lone surrogates, NUL, 300 KB paths, wrong types:
    every message is served, ignored or counted bad, the next one is still read, and no cell
    carries a NUL, a surrogate or a path over ignore_above."""
    pipe, table = pipeline()
    lines = []
    for name, path, as_bytes in events:
        text = json.dumps(message(name, BODIES[name](path)))
        lines.append(text.encode("utf-8", "surrogatepass") + b"\xff" if as_bytes else text)
    lines.append(json.dumps(create("/etc", "last")))
    for line in lines:
        pipe.feed_line(line if isinstance(line, str) else line.decode("utf-8", "replace"), "e")
    stats = pipe.stats.snapshot()
    assert stats["read.e"] == len(lines) - sum(1 for line in lines if isinstance(line, bytes))
    served = table.generate(None)
    assert served[-1]["file_path"] == "/etc/last"
    for row in served:
        for value in row.values():
            assert "\x00" not in value and len(value) < 4 * MAX_PATH_CHARS
            value.encode("utf-8")  # no lone surrogate


# --- settings --------------------------------------------------------------------------------


def test_file_settings_defaults_and_environment() -> None:
    from ecsquery.extension.config import load_settings

    base = {"ECSQUERY_EXTENSION_CONFIG": "/dev/null"}
    defaults = load_settings(base)
    assert (defaults.file_events, defaults.file_paths, defaults.file_mute_processes) == (
        True,
        DEFAULT_PATHS,
        ("/usr/bin/eslogger", "/opt/osquery/lib/osquery.app/Contents/MacOS/osqueryd"),
    )
    chosen = load_settings(
        {**base, "ECSQUERY_FILE_PATHS": "/etc/*,/Library/*", "ECSQUERY_FILE_EVENTS": "off"}
    )
    assert (chosen.file_paths, chosen.file_events) == (("/etc/*", "/Library/*"), False)
    assert load_settings({**base, "ECSQUERY_FILE_PATHS": "*"}).file_paths == ("*",)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ECSQUERY_FILE_PATHS", "Library/*", "'file_paths': 'Library/*' is not an absolute"),
        ("ECSQUERY_FILE_MUTE_PROCESSES", "eslogger", "'eslogger' is not an absolute path"),
        ("ECSQUERY_FILE_MUTE_PROCESSES", "*", "setting 'file_mute_processes': '*' is not"),
        ("ECSQUERY_FILE_WINDOW_EVENTS", "0", "setting 'file_window_events': 0 is out of range"),
    ],
)
def test_bad_file_settings_are_refused_naming_them(name: str, value: str, message: str) -> None:
    from ecsquery.extension.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings({"ECSQUERY_EXTENSION_CONFIG": "/dev/null", name: value})
