"""Fuzzing each source's normalizer (issue #16): nothing a record holds escapes as an exception.

Real records (the eslogger, osquery-row, results-log and ECS samples in ``tests/fixtures``) are
mutated by hypothesis: values replaced by any JSON value (lone surrogates, 2**70, NaN, nested
lists), keys deleted, numbers as odd strings, bytes flipped in the line, and non-UTF-8 bytes in
osquery rows sent through real Thrift framing. Each goes through the code a source runs
(:meth:`Pipeline.feed`, :meth:`Source.feed_line`, ``ecsquery replay``'s :class:`CaptureReader`),
then the window is served through ``generate``'s streamed reply. A failure hypothesis finds is
an exception that escaped.

``make test`` runs a short version. The long run (issue #16's ≥ 10 minutes)::

    ECSQUERY_FUZZ_EXAMPLES=40000 .venv/bin/pytest -q tests/test_extension_fuzz.py \\
        --hypothesis-show-statistics

The statistics list, per test, the examples run and, as hypothesis events, which records were
counted how (``bad.unexpected: TypeError`` is a normalizer failure the pipeline absorbed).
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from osquery.extensions.ttypes import ExtensionResponse, ExtensionStatus
from thrift.protocol import TBinaryProtocol
from thrift.transport import TTransport

from ecsquery.extension import wire
from ecsquery.extension.argv import quote_cmdline
from ecsquery.extension.pipeline import Pipeline, decode_line
from ecsquery.extension.sources.eslogger import EsloggerSource
from ecsquery.extension.table import EcsProcessTable
from ecsquery.extension.window import Window
from ecsquery.replay.events import CaptureReader

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLES = int(os.environ.get("ECSQUERY_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _lines(*paths: Path) -> list[dict[str, Any]]:
    out = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line) if line.strip() else None
            if isinstance(record, dict):
                out.append(record)
    return out


ESLOGGER = _lines(FIXTURES / "eslogger" / "mullvad_eslogger_exec_fork_exit.ndjson")
RESULTS = _lines(*sorted((FIXTURES / "osquery-results").glob("*.ndjson")))
ECS = [
    json.loads(p.read_text(encoding="utf-8")) for p in sorted((FIXTURES / "ecs-events").iterdir())
]


def _es_row(event_type: str, pid: int, args: list[str]) -> dict[str, str]:
    return {
        "version": "7", "pid": str(pid), "pidversion": "3", "path": args[0], "parent": "1",
        "parent_pidversion": "1", "original_parent": "1", "responsible_pid": "1",
        "responsible_pidversion": "1", "cmdline": quote_cmdline(args),
        "cmdline_count": str(len(args)), "uid": "501", "euid": "20", "gid": "20",
        "signing_id": "com.apple.ls", "team_id": "", "cdhash": "ab", "platform_binary": "1",
        "codesigning_flags": "", "time": "1700000000", "event_type": event_type,
        "eid": "00001", "child_pid": "0", "exit_code": "0", "cwd": "/",
    }  # fmt: skip


ROWS = [
    _es_row("exec", 600, ["/bin/ls", "-l", 'a "b"']),
    _es_row("fork", 601, ["/bin/zsh"]),
    _es_row("exit", 602, ["/usr/bin/true"]),
    {"pid": "7", "parent": "1", "path": "/bin/sh", "cmdline": "sh -c x", "time": "1700000001",
     "syscall": "execve", "uid": "0", "euid": "0", "gid": "0", "cwd": "/", "eid": "9"},
    {"pid": "8", "parent": "1", "name": "launchd", "path": "/sbin/launchd", "cmdline": "launchd",
     "cwd": "/", "uid": "0", "euid": "0", "gid": "0", "start_time": "1600000000"},
]  # fmt: skip
CORPUS = ESLOGGER + RESULTS + ECS + ROWS

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(st.characters(exclude_categories=()), max_size=12),  # lone surrogates included
    st.from_regex(r"-?[0-9]{1,25}(\.[0-9]+)?([eE][+-]?[0-9]{1,4})?", fullmatch=True),
    st.sampled_from(["", " ", "exec", "fork", "exit", "1e400", "nan", "-1", "0x10"]),
    st.integers(min_value=4000, max_value=5000).map(lambda n: "9" * n),  # past int()'s limit
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*prefix, index)
            yield from _paths(item, (*prefix, index))


@st.composite
def mutated(draw: st.DrawFn, corpus: list[dict[str, Any]] = CORPUS) -> dict[str, Any]:
    """A real record with a few values replaced or removed."""
    record = copy.deepcopy(draw(st.sampled_from(corpus)))
    paths = list(_paths(record))
    for _ in range(draw(st.integers(min_value=0, max_value=5))):
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        try:
            parent = record
            for key in path[:-1]:
                parent = parent[key]
            if draw(st.booleans()):
                parent[path[-1]] = draw(values)
            elif isinstance(parent, dict):
                del parent[path[-1]]
            else:
                parent.pop(path[-1])
        except (AttributeError, LookupError, TypeError):
            continue  # an earlier mutation removed or replaced this path
    return record


@st.composite
def mutated_line(draw: st.DrawFn) -> bytes:
    """A mutated record as an NDJSON line, sometimes with bytes flipped or cut."""
    line = json.dumps(draw(mutated())).encode("utf-8", "surrogatepass")
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        at = draw(st.integers(min_value=0, max_value=max(len(line) - 1, 0)))
        line = line[:at] + bytes([draw(st.integers(0, 255))]) + line[at + 1 :]
    if draw(st.booleans()):
        line = line[: draw(st.integers(min_value=0, max_value=len(line)))]
    return line


def _served(window: Window) -> None:
    """The window as osqueryd gets it: a streamed ``generate`` reply that decodes again."""
    buffer = TTransport.TMemoryBuffer()
    count = EcsProcessTable(window).write_reply(TBinaryProtocol.TBinaryProtocol(buffer), 1, None)
    reply = TTransport.TMemoryBuffer(buffer.getvalue())
    protocol = wire._Protocol(reply)
    protocol.readMessageBegin()
    from osquery.extensions.Extension import call_result

    result = call_result()
    result.read(protocol)
    assert len(result.success.response) == count


class _Unexpected(logging.Handler):
    """Collects the exception type of each ``bad.unexpected`` the pipeline logs."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.kinds: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "(bad.unexpected #" in message:
            self.kinds.append(message.split(": ", 2)[1])


UNEXPECTED = _Unexpected()
logging.getLogger("ecsquery.extension.pipeline").addHandler(UNEXPECTED)


def _note(pipeline: Pipeline) -> None:
    """Hypothesis events: how records were counted (shown by --hypothesis-show-statistics)."""
    for name in pipeline.stats.snapshot():
        if name.startswith(("bad.", "served", "ignored", "seeded")):
            event(name)
    for kind in UNEXPECTED.kinds:
        event(f"bad.unexpected: {kind}")
    UNEXPECTED.kinds.clear()


@FUZZ
@given(records=st.lists(mutated(), min_size=1, max_size=6))
def test_fuzz_pipeline_feed_never_raises(records: list[dict[str, Any]]) -> None:
    window = Window(max_age=10**12)
    pipeline = Pipeline(window)
    for record in records:
        pipeline.feed(record, "fuzz")
    assert pipeline.stats["read.fuzz"] == len(records)
    _note(pipeline)
    _served(window)


@FUZZ
@given(lines=st.lists(mutated_line(), min_size=1, max_size=6))
def test_fuzz_eslogger_lines_never_stop_the_source(lines: list[bytes]) -> None:
    window = Window(max_age=10**12)
    pipeline = Pipeline(window)
    source = EsloggerSource(pipeline, restart_delay=None)
    for line in lines:
        source.feed_line(line)
    _note(pipeline)
    _served(window)


class _RawStrings(TBinaryProtocol.TBinaryProtocol):  # type: ignore[misc]
    """Writes ``bytes`` values as they are: osqueryd sends row bytes unchecked."""

    def writeString(self, value: str | bytes) -> None:
        self.writeBinary(value if isinstance(value, bytes) else value.encode())


raw_values = st.one_of(
    st.binary(max_size=24),
    st.sampled_from([b"\xff", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf", b"1700000000\xff"]),
)


@FUZZ
@given(
    row=st.sampled_from(ROWS),
    changes=st.dictionaries(st.sampled_from(sorted(ROWS[0])), raw_values, max_size=5),
)
def test_fuzz_osquery_rows_through_thrift_framing(
    row: dict[str, str], changes: dict[str, bytes]
) -> None:
    sent = {k: v.encode() for k, v in row.items()} | changes
    buffer = TTransport.TMemoryBuffer()
    ExtensionResponse(ExtensionStatus(code=0, message="OK"), [sent]).write(_RawStrings(buffer))
    reply = ExtensionResponse()
    reply.read(wire.protocol_factory().getProtocol(TTransport.TMemoryBuffer(buffer.getvalue())))
    (got,) = reply.response
    assert got.keys() == sent.keys()
    assert all(isinstance(v, str) for v in got.values())
    window = Window(max_age=10**12)
    pipeline = Pipeline(window)
    pipeline.feed(got, "osquery")
    _note(pipeline)
    _served(window)


@FUZZ
@given(lines=st.lists(mutated_line(), min_size=1, max_size=6), source=st.sampled_from(
    ["auto", "auto", "eslogger", "es_process_events", "process_events", "ecs"]
))  # fmt: skip
def test_fuzz_replay_capture_reader_never_raises(lines: list[bytes], source: str) -> None:
    reader = CaptureReader(source=source)
    reader.read_lines(lines)
    assert reader.stats.lines == sum(1 for line in lines if line.strip())
    for reason in reader.stats.rejected:
        event(f"rejected.{reason}")
    reader.rows_by_host()


_LINE_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=8,
)


@settings(max_examples=500, deadline=None)
@given(
    _LINE_JSON,
    st.sampled_from(["", " ", "\n", "\t\r\n", "\x0b", "\u2028", "x", " 1", "}", "]"]),
    st.sampled_from(["", " ", "\n", "\x0c"]),
    st.integers(0, 40),
)
def test_decode_line_is_json_loads(value: Any, after: str, before: str, cut: int) -> None:
    """``pipeline.decode_line`` gives what ``json.loads`` gives, or fails where it fails
    (whitespace is JSON's four characters, not ``str.isspace``'s; a value cut short)."""
    line = before + json.dumps(value) + after
    line = line[: len(line) - cut] if cut and cut < len(line) else line
    try:
        expected: Any = json.loads(line)
    except ValueError:
        with pytest.raises(ValueError):
            decode_line(line)
        return
    got = decode_line(line)
    assert json.dumps(got) == json.dumps(expected)  # NaN != NaN: compared as text
