"""Normalization of real samples into ECS rows: eslogger v9/v10/v11 and osquery's process tables."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecsquery.extension.argv import quote_cmdline
from ecsquery.extension.ecs import build_document, iso_timestamp
from ecsquery.extension.model import (
    ARG_MAX_CHARS,
    ARGS_MAX_CHARS,
    Action,
    Proc,
    ProcEvent,
    Ref,
    capped,
)
from ecsquery.extension.normalize import BadRecord, normalize
from ecsquery.extension.normalize import osquery as osquery_normalizer
from ecsquery.extension.normalize.eslogger import (
    exit_code,
    from_eslogger,
    parse_time,
    time_and_stamp,
    token,
    without_stat,
)
from ecsquery.extension.normalize.osquery import COLUMNS_READ
from ecsquery.extension.pipeline import Pipeline
from ecsquery.extension.sources import osquery as osquery_source
from ecsquery.extension.table import EcsProcessTable
from ecsquery.extension.window import DEFAULT_MAX_BYTES, Window
from ecsquery.testing.standin import OsquerydStandin

FIXTURES = Path(__file__).parent / "fixtures"
ESLOGGER = (
    (FIXTURES / "eslogger" / "mullvad_eslogger_exec_fork_exit.ndjson").read_text().splitlines()
)
V9_EXIT, V9_EXEC, V10_FORK, V11_EXEC = (json.loads(line) for line in ESLOGGER)


def rows(*lines: str, source: str = "test") -> tuple[list[dict[str, str]], Pipeline]:
    window = Window(max_age=10**10)
    pipeline = Pipeline(window)
    for line in lines:
        pipeline.feed_line(line, source)
    return EcsProcessTable(window).generate(None), pipeline


def test_v9_exec_to_ecs_row() -> None:
    [row], _ = rows(ESLOGGER[1])
    expected = {
        "time": "1754572895",
        "timestamp": "2025-08-07T13:21:35.880Z",
        "event_category": '["process"]',
        "event_type": '["start"]',
        "event_action": "exec",
        "event_id": "es-289350913517-75",
        "host_os_type": "macos",
        "process_pid": "97391",
        "process_entity_id": "97391-149092",
        "process_executable": "/bin/connection-checker",
        "process_name": "connection-checker",
        "process_args": '["/bin/connection-checker"]',
        "process_args_count": "1",
        "process_command_line": "/bin/connection-checker",
        "process_working_directory": "/bin/mullvadvpn-app",
        # eslogger's event.exec.env is ["FOO=bar"]: FOO is not a captured variable
        "process_code_signature_exists": "1",
        "process_code_signature_trusted": "0",  # ad-hoc signed: no certificate chain
        "process_code_signature_signing_id": "connection_checker-04fde7bdb8bceee3",
        "process_parent_pid": "58916",
        "process_parent_entity_id": "58916-87724",
        # ESF's responsible process (pid 938) differs from the parent: it is the effective parent
        "process_effective_parent_pid": "938",
        "process_effective_parent_entity_id": "938-2424",
        "user_id": "501",
        "user_effective_id": "501",
        "group_id": "20",
    }
    assert {k: v for k, v in row.items() if v} == expected


def test_v9_exit_has_exit_code_and_end_type() -> None:
    [row], _ = rows(ESLOGGER[0])
    assert row["event_action"] == "end"
    assert row["event_type"] == '["end"]'
    assert row["process_exit_code"] == "0"
    assert row["process_executable"] == "/usr/sbin/ipconfig"
    assert row["process_code_signature_trusted"] == "1"  # platform binary
    assert row["process_effective_parent_pid"] == "532"  # responsible == parent


def test_v10_fork_with_array_audit_tokens() -> None:
    event = from_eslogger(V10_FORK)
    assert event is not None and event.action is Action.FORK
    # the event is about the child, the forking process is its parent
    assert (event.proc.pid, event.proc.pidversion) == (21497, 38282)
    assert event.parent == Ref(19745, 35165)
    assert event.proc.uid == 501 and event.proc.gid == 20
    assert event.proc.team_id == "CKG9MXH72F" and event.proc.trusted is True
    assert token([501, 501, 20, 501, 20, 19745, 100013, 35165])["pidversion"] == 35165


def test_v11_exec_reparented_to_launchd_is_its_own_responsible() -> None:
    [row], _ = rows(ESLOGGER[3])
    assert row["process_name"] == "localizationswitcherd"
    assert row["process_working_directory"] == "/"
    assert row["process_parent_pid"] == "1"
    # responsible == the process itself and original_ppid == ppid: the parent is effective
    assert row["process_effective_parent_pid"] == "1"


def test_fork_after_exec_inherits_args_and_parent_image() -> None:
    exec_ = {**V9_EXEC}
    fork = json.loads(json.dumps(V10_FORK))
    # make the v9 exec'd process fork a child
    fork["process"]["audit_token"] = V9_EXEC["event"]["exec"]["target"]["audit_token"]
    served, _ = rows(json.dumps(exec_), json.dumps(fork))
    [child] = [row for row in served if row["event_action"] == "fork"]  # served in time order
    assert child["process_args"] == '["/bin/connection-checker"]'
    assert child["process_parent_executable"] == "/bin/connection-checker"
    assert child["process_parent_name"] == "connection-checker"


def test_exit_status_decoding() -> None:
    assert exit_code(0) == 0
    assert exit_code(3 << 8) == 3
    assert exit_code(9) == 128 + 9  # killed by SIGKILL


def test_osquery_docs_process_events_line() -> None:
    lines = (FIXTURES / "osquery-results" / "osquery_docs_examples.ndjson").read_text()
    line = next(x for x in lines.splitlines() if '"name":"process_events"' in x)
    [row], _ = rows(line)
    assert {k: v for k, v in row.items() if v} == {
        "time": "1527895541",
        "timestamp": "2018-06-01T23:25:41.000Z",
        "event_category": '["process"]',
        "event_type": '["start"]',
        "event_action": "exec",
        "event_id": "process_events-1527895541-30219",
        "host_os_type": "macos",
        "process_pid": "30219",
        "process_executable": "/usr/bin/curl",
        "process_name": "curl",
        "process_args": '["curl","google.com"]',
        "process_args_count": "2",
        "process_command_line": "curl google.com",
        "user_id": "0",
        "user_effective_id": "0",
        "group_id": "0",
    }
    # OpenBSM says nothing about code signing: missing, not false
    assert row["process_code_signature_exists"] == ""


def es_row(**overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "version": "7",
        "pid": "600",
        "pidversion": "3",
        "path": "/usr/bin/defaults",
        "parent": "500",
        "original_parent": "500",
        "responsible_pid": "500",
        "responsible_pidversion": "1",
        "parent_pidversion": "1",
        "cmdline": quote_cmdline(["defaults", "write", "com.apple.loginwindow", "Login Hook"]),
        "uid": "501",
        "euid": "20",
        "gid": "20",
        "time": "1700000000",
        "event_type": "exec",
        "eid": "0000000042",
        "signing_id": "com.apple.defaults",
        "team_id": "",
        "cdhash": "ab",
        "platform_binary": "1",
        "codesigning_flags": "",
        "exit_code": "",
        "child_pid": "",
    }
    row.update(overrides)
    return row


def test_es_process_events_row_recovers_argv() -> None:
    [row], _ = rows(json.dumps(es_row()))
    assert row["process_args"] == '["defaults","write","com.apple.loginwindow","Login Hook"]'
    assert row["process_args_count"] == "4"
    assert row["process_command_line"] == "defaults write com.apple.loginwindow Login Hook"
    assert row["event_id"] == "es_process_events-0000000042"
    assert row["process_code_signature_trusted"] == "1"
    assert row["user_effective_id"] == ""  # osquery's euid column holds the egid: not used


def test_es_process_events_adhoc_is_untrusted_and_fork_is_about_the_child() -> None:
    [row], _ = rows(json.dumps(es_row(codesigning_flags="ADHOC, NOT_RUNTIME", platform_binary="0")))
    assert row["process_code_signature_exists"] == "1"
    assert row["process_code_signature_trusted"] == "0"
    [fork], _ = rows(json.dumps(es_row(event_type="fork", child_pid="601")))
    assert (fork["process_pid"], fork["process_parent_pid"]) == ("601", "600")


def test_ecs_documents_pass_through() -> None:
    doc = {
        "@timestamp": "2024-05-01T10:00:00.000Z",
        "event": {"category": ["process"], "type": ["start"], "action": "exec"},
        "process": {"name": "security", "args": ["security", "dump-keychain", "-d"]},
        "host": {"os": {"type": "macos"}},
    }
    [row], _ = rows(json.dumps(doc))
    assert row["time"] == "1714557600"
    assert row["process_args"] == '["security","dump-keychain","-d"]'
    assert row["process_name"] == "security"


def test_bad_input_is_counted_and_serving_continues(caplog: pytest.LogCaptureFixture) -> None:
    unknown_bad = json.dumps({**V9_EXEC, "version": 99, "event": {"exec": {"weird": 1}}})
    unknown_ok = json.dumps({**V9_EXEC, "version": 12})
    missing = json.loads(ESLOGGER[1])
    del missing["event"]["exec"]["target"]["audit_token"]
    served, pipeline = rows(
        "{not json",
        "[1, 2]",
        unknown_bad,
        unknown_ok,
        json.dumps(missing),
        json.dumps(es_row(pid="")),
        json.dumps({"something": "else"}),
        ESLOGGER[0],
        "",
    )
    stats = pipeline.stats.snapshot()
    assert stats["bad.malformed"] == 2
    assert stats["bad.unknown_version"] == 1
    assert stats["bad.missing_field"] == 2
    assert stats["bad.unrecognized"] == 1
    assert stats["served"] == 2  # the version-12 message that still parses, and the exit
    assert [r["event_action"] for r in served] == ["exec", "end"]
    assert "unknown_version" in caplog.text


def test_normalize_rejects_non_objects() -> None:
    with pytest.raises(BadRecord):
        list(normalize(["a"]))


def _exec_with_args(seq: int, args: list[str]) -> str:
    message = json.loads(ESLOGGER[1])
    message["global_seq_num"] = seq
    message["event"]["exec"]["target"]["audit_token"]["pid"] = 30000 + seq
    message["event"]["exec"]["target"]["audit_token"]["pidversion"] = 90000 + seq
    message["event"]["exec"]["args"] = args
    return json.dumps(message)


def test_huge_argv_is_capped_and_counted() -> None:
    long_arg = "x" * (ARG_MAX_CHARS + 1)
    many = [f"{i:04d}" * 50 for i in range(200)]  # 200 × 200 chars: 40,000 > the budget
    served, pipeline = rows(
        _exec_with_args(1, ["/bin/sh", long_arg, "-c", "id"]), _exec_with_args(2, many)
    )
    first, second = served
    # an element Elasticsearch would not index (ignore_above 1024) is left out of the args
    assert json.loads(first["process_args"]) == ["/bin/sh", "-c", "id"]
    assert first["process_args_count"] == "4"  # the real argv length
    assert first["process_command_line"] == f"/bin/sh {long_arg} -c id"  # still searchable
    kept = json.loads(second["process_args"])
    assert kept == many[: ARGS_MAX_CHARS // 200]
    assert second["process_args_count"] == "200"
    assert len(second["process_command_line"]) == ARGS_MAX_CHARS
    assert pipeline.stats["capped.args"] == 2


FLOOD = """
import json, resource, sys
from ecsquery.extension.pipeline import Pipeline
from ecsquery.extension.window import DEFAULT_MAX_BYTES, Window
message = json.loads(sys.stdin.read())
pipeline = Pipeline(Window(max_age=10**10))
flood = ["A" * 1000] * 262  # 256 KiB of argv in 1,000-char elements (each one indexable)
big = ["B" * (256 * 1024)]  # and in one element
for seq in range(800):
    message["global_seq_num"] = seq
    message["event"]["exec"]["target"]["audit_token"]["pid"] = 30000 + seq
    message["event"]["exec"]["args"] = flood if seq % 2 else big
    pipeline.feed_line(json.dumps(message), "test")
window, tree = pipeline.window, pipeline.tree
try:  # Linux: ru_maxrss of an exec'd child also counts the parent's pages before exec
    status = open("/proc/self/status").read().split("VmHWM:")[1]
    peak = int(status.split()[0]) * 1024
except OSError:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # bytes on macOS
print(json.dumps({
    "served": pipeline.stats["served"], "capped": pipeline.stats["capped.args"],
    "window": window.bytes, "tree": tree.bytes,
    "rss": peak,
}))
"""


def test_memory_is_bounded_in_bytes_under_an_argv_flood() -> None:
    """#16 finding 8: 800 execs with 256 KiB of argv each once took 1,022 MiB of RSS."""
    command = [sys.executable, "-c", FLOOD]
    done = subprocess.run(command, input=ESLOGGER[1], capture_output=True, text=True, check=True)
    figures = json.loads(done.stdout)
    assert figures["served"] == figures["capped"] == 800
    assert figures["window"] <= DEFAULT_MAX_BYTES and figures["tree"] <= 32 * 1024 * 1024
    assert figures["rss"] < 160 * 1024 * 1024  # peak; holding every argv took 1,022 MiB


# What a hostile Mac sends: U+FFFD (bytes that were not UTF-8), lone surrogates (JSON escapes),
# NUL, quotes and backslashes, and arguments past ignore_above and the argv budget.
_chars = st.characters(codec="utf-8") | st.sampled_from('\ufffd\ud800\udfff\x00"\\= ')
_texts = st.text(_chars, max_size=12) | st.sampled_from(["", "/bin/zsh", "a" * 1100])
_pids = st.integers(0, 5) | st.integers(0, 99999)  # few pids: parents known, images reused
_names = st.sampled_from(["DYLD_INSERT_LIBRARIES", "LD_PRELOAD", "PATH", "ld_preload"])
_env = st.lists(st.tuples(_names, _texts).map("=".join) | _texts, max_size=4).map(tuple)
_procs = st.builds(
    Proc,
    pid=_pids,
    pidversion=st.none() | st.integers(0, 3),
    executable=_texts,
    args=st.tuples() | st.lists(_texts, max_size=4).map(tuple) | st.just(("x" * 5000,) * 5),
    cwd=_texts,
    signing_id=_texts,
    team_id=_texts,
    signed=st.none() | st.booleans(),
    trusted=st.none() | st.booleans(),
    uid=st.none() | st.integers(0, 10**6),
    euid=st.none() | st.integers(0, 10**6),
    gid=st.none() | st.integers(0, 10**6),
    user_name=_texts,
    start=st.none() | st.floats(0, 2e9),
)
_events = st.builds(
    ProcEvent,
    action=st.sampled_from(Action),
    time=st.floats(0, 4e9),
    event_id=_texts,
    proc=_procs,
    parent=st.none() | st.builds(Ref, _pids, st.none() | st.integers(0, 3)),
    original_ppid=st.none() | st.integers(0, 99999),
    responsible=st.none() | st.builds(Ref, _pids, st.none() | st.integers(0, 3)),
    exit_code=st.none() | st.integers(0, 255),
    env=_env,
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_events, min_size=1, max_size=12))
def test_generated_flattener_equals_the_dotted_path_walk(events: list[ProcEvent]) -> None:
    """The pipeline's row (generated flattener, parent objects shared and remembered by
    identity) is the generic path's row (fresh documents, dotted-path walk, ``encode_value``),
    byte for byte, on hostile text and on events that keep naming the same parents."""
    fast, generic = Pipeline(Window(max_age=10**10)), Pipeline(Window(max_age=10**10))
    for event in events:
        fast.add(event)
        small = capped(event.proc)
        event = event if small is None else event._replace(proc=small)
        observed = generic.tree.observe(event._replace(env=generic.env_capture(event.env)))
        doc = build_document(observed, generic.tree)
        generic.add_document(int(observed.time), doc)
    assert fast.window.snapshot() == generic.window.snapshot()
    capped_count = sum(capped(e.proc) is not None for e in events)
    assert fast.stats["served"] == len(events) and fast.stats["capped.args"] == capped_count


@settings(max_examples=500, deadline=None)
@given(st.floats(0, 4e9) | st.integers(0, 4 * 10**9).map(lambda s: s + 0.9995))
def test_iso_timestamp_is_datetimes(seconds: float) -> None:
    moment = datetime.fromtimestamp(seconds, UTC)
    expected = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    assert iso_timestamp(seconds) == expected


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 4 * 10**9), st.text("0123456789", min_size=1, max_size=9))
def test_parse_time_is_fromisoformat(second: int, fraction: str) -> None:
    text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    text += f".{fraction}Z"
    assert parse_time(text) == datetime.fromisoformat(text[:-1] + "+00:00").timestamp()


@settings(max_examples=500, deadline=None)
@given(
    st.integers(0, 4 * 10**9),
    st.text("0123456789", min_size=1, max_size=9),
    st.sampled_from(["", "-8-", "T1:", "\u0663"]),
)
def test_stamp_cut_from_eslogger_time_is_iso_timestamp(
    second: int, fraction: str, odd: str
) -> None:
    """The ``@timestamp`` text cut from eslogger's own time is what ``iso_timestamp`` writes
    for the seconds read from it; a time written any other way gets no stamp (the row then
    formats the seconds)."""
    written = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{fraction}Z"
    text = written
    if odd == "-8-":  # a month without its zero
        text = text[:5] + str(int(text[5:7])) + text[7:]
    elif odd == "T1:":  # an hour without its zero
        text = text[:11] + str(int(text[11:13])) + text[13:]
    elif odd:  # a digit that is not ASCII in the fraction
        text = text[:-2] + odd + "Z"
    try:
        seconds, stamp = time_and_stamp(text)
    except ValueError:
        assert text != written  # only an odd shape may be refused
        return
    if text == written:
        assert stamp == iso_timestamp(seconds)
        assert stamp
    else:
        assert stamp == ""


_TEXT = st.text(st.sampled_from('ab/\\"{},:\x00é\ud800'), max_size=8)
"""Strings as a process may write them: quotes, backslashes, braces, ``"stat":{`` itself."""


def _stat() -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(
        st.sampled_from(["st_size", "st_ino", "st_mtimespec"]),
        st.integers(0, 2**40) | st.just("2025-08-07T13:21:35.877422123Z"),
        max_size=3,
    )


_FILE_OBJECT = st.builds(
    lambda path, stat, first: (
        {"stat": stat, "path": path} if first else {"path": path, "stat": stat}
    ),
    _TEXT,
    _stat(),
    st.booleans(),
)
"""An ``es_file_t`` as eslogger writes it: a path and its ``stat`` object, either first."""


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | _TEXT,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["stat", "path", "path_truncated", "exec", "x"]) | _TEXT,
            inner,
            max_size=4,
        )
        | _FILE_OBJECT
    ),
    max_leaves=12,
)


def _holds_object(value: Any) -> bool:
    if isinstance(value, dict):
        return True
    return isinstance(value, list) and any(map(_holds_object, value))


def _no_stat(value: Any) -> Any:
    """``value`` without the ``stat`` members :func:`without_stat` cuts: an object with no
    object inside, beside other members."""
    if isinstance(value, list):
        return [_no_stat(v) for v in value]
    if not isinstance(value, dict):
        return value
    stat = value.get("stat")
    cut = len(value) > 1 and isinstance(stat, dict) and not _holds_object(list(stat.values()))
    return {k: _no_stat(v) for k, v in value.items() if not (cut and k == "stat")}


def _line(message: Any, escape_slash: bool, ascii_: bool) -> str:
    line = json.dumps(message, separators=(",", ":"), ensure_ascii=ascii_)
    return line.replace("/", "\\/") if escape_slash else line


@settings(max_examples=600, deadline=None)
@given(_JSON, st.booleans(), st.booleans())
def test_without_stat_never_changes_what_a_line_says(
    message: Any, escape_slash: bool, ascii_: bool
) -> None:
    """Over JSON of any shape, written as eslogger writes it or with the encoder's defaults,
    the cut line decodes to the message without its ``stat`` objects, or to the message
    (a ``stat`` it does not cut: a brace or an escape inside, an object inside)."""
    cut = json.loads(without_stat(_line(message, escape_slash, ascii_)))
    assert cut in (_no_stat(message), message)


_ES_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | _TEXT,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["path", "exec", "x"]) | _TEXT, inner, max_size=4)
        | _FILE_OBJECT
    ),
    max_leaves=12,
)


@settings(max_examples=600, deadline=None)
@given(_ES_JSON, st.booleans(), st.booleans())
def test_without_stat_cuts_every_stat_as_eslogger_writes_them(
    message: Any, escape_slash: bool, ascii_: bool
) -> None:
    """Where ``stat`` objects are what eslogger writes (numbers and time texts) and any text
    may be anywhere else, every one of them is cut."""
    cut = json.loads(without_stat(_line(message, escape_slash, ascii_)))
    assert cut == _no_stat(message)


def test_without_stat_cuts_the_samples_stat_objects() -> None:
    """On the public capture, every ``stat`` object goes and nothing else changes."""
    for line in ESLOGGER:
        cut = without_stat(line)
        assert '"stat":{' not in cut
        assert json.loads(cut) == _no_stat(json.loads(line))


def test_osquery_source_pages_a_backlog_and_polls_only_the_columns_it_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(osquery_source, "PAGE_ROWS", 100)
    now = 1_754_572_000
    backlog = [es_row(pid=str(1000 + i), eid=f"{i:06d}", time=str(now - 600 + i // 5))
               for i in range(2000)]  # fmt: skip
    burst = [es_row(pid="7", eid=f"b{i:04d}", time=str(now - 100)) for i in range(500)]
    sent: list[str] = []
    with OsquerydStandin(tmp_path / "osquery.em", FIXTURES / "osquery-schema") as osqueryd:
        osqueryd.insert("es_process_events", backlog + burst)  # 500 in one second > a page
        pipeline = Pipeline(Window(max_age=10**10))
        source = osquery_source.OsquerySource(
            pipeline, str(tmp_path / "osquery.em"), seed=False, clock=lambda: now
        )
        original = source.query

        def spy(sql: str, method: str = "query") -> list[dict[str, str]]:
            sent.append(sql)
            replies = original(sql, method)
            assert method != "query" or len(replies) <= 500  # paged: never the whole backlog
            return replies

        monkeypatch.setattr(source, "query", spy)
        assert source.poll("es_process_events") == 2500
        osqueryd.insert("es_process_events", [es_row(pid="9", eid="x", time=str(now))])
        assert source.poll("es_process_events") == 1  # nothing read twice
    polls = [sql for sql in sent if "WHERE" in sql]
    assert len(polls) > 5
    wanted = ", ".join(COLUMNS_READ["es_process_events"])
    assert all(sql.startswith(f"SELECT {wanted} FROM es_process_events WHERE") for sql in polls)
    assert len(pipeline.window) == 2501


def test_columns_read_names_every_column_the_adapters_read() -> None:
    source = Path(osquery_normalizer.__file__).read_text(encoding="utf-8")
    start = source.index("def from_es_process_row")
    end = source.index("def from_process_events_row")
    read = set(re.findall(r'_(?:int|text|shared|required)\(row, "(\w+)"\)', source[start:end]))
    assert read - {"eid"} <= set(COLUMNS_READ["es_process_events"])
    read = set(re.findall(r'_(?:int|text|required)\(row, "(\w+)"\)', source[end:]))
    assert read <= set(COLUMNS_READ["process_events"]) | {"start_time"}  # processes: seed only


def test_es_process_events_env_is_left_empty() -> None:
    """osquery's ``env`` is the variables joined by spaces, and a value may hold spaces: it
    cannot be split back exactly, so that source never fills ``process.env_vars``."""
    assert "env" not in COLUMNS_READ["es_process_events"]
    event = osquery_normalizer.from_es_process_row(es_row(env="A=1 B=two words"))
    assert event is not None and event.env == ()


def test_previous_executable_is_the_pids_image_before_the_exec() -> None:
    """``process.previous.executable`` on an exec: the image the tree held for that pid (the
    fork child's inherited image, or the earlier exec), none for a pid the tree never saw."""
    fork = json.loads(json.dumps(V10_FORK))
    child = fork["event"]["fork"]["child"]
    first = json.loads(ESLOGGER[1])
    first["event"]["exec"]["target"]["audit_token"]["pid"] = child["audit_token"][5]
    first["event"]["exec"]["target"]["audit_token"]["pidversion"] = child["audit_token"][7] + 1
    second = json.loads(json.dumps(first))
    second["global_seq_num"] += 1
    second["event"]["exec"]["target"]["executable"]["path"] = "/bin/zsh"
    second["event"]["exec"]["target"]["audit_token"]["pidversion"] += 1
    served, _ = rows(json.dumps(fork), json.dumps(first), json.dumps(second))
    previous = {r["process_executable"]: r["process_previous_executable"] for r in served}
    assert previous == {
        child["executable"]["path"]: "",  # the fork
        "/bin/connection-checker": child["executable"]["path"],
        "/bin/zsh": "/bin/connection-checker",
    }
    [alone], _ = rows(ESLOGGER[1])
    assert alone["process_previous_executable"] == ""


def test_eslogger_events_built_as_tuples_equal_the_keyword_built_ones() -> None:
    """``normalize.eslogger`` builds its NamedTuples as plain tuples in field order (cheaper):
    the same events written out by keyword, field by field, from the sample's messages."""
    assert from_eslogger(V9_EXEC) == ProcEvent(
        action=Action.EXEC,
        time=parse_time(V9_EXEC["time"]),
        event_id="es-289350913517-75",
        proc=Proc(
            pid=97391,
            pidversion=149092,
            executable="/bin/connection-checker",
            args=("/bin/connection-checker",),
            cwd="/bin/mullvadvpn-app",
            signing_id="connection_checker-04fde7bdb8bceee3",
            signed=True,
            trusted=False,
            uid=501,
            euid=501,
            gid=20,
        ),
        parent=Ref(58916, 87724),
        original_ppid=58916,
        responsible=Ref(938, 2424),
        source="eslogger",
        env=("FOO=bar",),
        stamp="2025-08-07T13:21:35.880Z",  # from "2025-08-07T13:21:35.880814738Z"
    )
    fork = from_eslogger(V10_FORK)
    assert fork == ProcEvent(
        action=Action.FORK,
        time=parse_time(V10_FORK["time"]),
        event_id="es-241051246374-1",
        proc=Proc(
            pid=21497,
            pidversion=38282,
            executable="/Applications/Mullvad VPN.app/Contents/MacOS/Mullvad VPN",
            signing_id="net.mullvad.vpn",
            team_id="CKG9MXH72F",
            signed=True,
            trusted=True,
            uid=501,
            euid=501,
            gid=20,
        ),
        parent=Ref(19745, 35165),
        original_ppid=19745,
        responsible=Ref(19745, 35165),
        source="eslogger",
        stamp="2025-07-22T15:09:01.084Z",
    )
    exit_ = from_eslogger(V9_EXIT)
    assert exit_ is not None and exit_._fields == ProcEvent._fields
    assert (exit_.exit_code, exit_.env, exit_.previous_executable, exit_.source) == (
        0,
        (),
        "",
        "eslogger",
    )
