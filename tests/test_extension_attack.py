"""The extension under attack (issue #16): what a local user on the Mac can feed it.

Each test is one finding of the adversarial review: a non-UTF-8 byte in an osquery row through
real Thrift framing over a real Unix socket, a lone surrogate, an eslogger stderr flood, a wrong
JSON type in one record, malformed Thrift messages and idle clients. Each must keep serving.
The zipapp has no Thrift C codec, so the socket tests run with the pure-Python protocol (and the
server's also with the C codec, as a venv has it).
"""

from __future__ import annotations

import json
import random
import socket
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import thrift.protocol
from thrift.protocol import TBinaryProtocol

from ecsquery.extension import wire
from ecsquery.extension.argv import quote_cmdline
from ecsquery.extension.client import connect
from ecsquery.extension.pipeline import Pipeline
from ecsquery.extension.server import ExtensionServer
from ecsquery.extension.sources.eslogger import EsloggerSource
from ecsquery.extension.sources.osquery import OsquerySource
from ecsquery.extension.sources.replay import ReplaySource
from ecsquery.extension.table import EcsProcessTable
from ecsquery.extension.window import Window
from ecsquery.replay.events import CaptureReader
from ecsquery.testing.standin import OsquerydStandin

FIXTURES = Path(__file__).parent / "fixtures"
SCHEMAS = FIXTURES / "osquery-schema"
ESLOGGER = FIXTURES / "eslogger" / "mullvad_eslogger_exec_fork_exit.ndjson"
NOW = int(time.time())
FFFD = "\ufffd"


@pytest.fixture
def sockdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="eq", dir="/tmp") as d:  # short Unix socket paths
        yield Path(d)


@pytest.fixture
def pure_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """Thrift without its C codec, as the zipapp runs it on the Mac."""
    monkeypatch.setitem(sys.modules, "thrift.protocol.fastbinary", None)
    monkeypatch.delattr(thrift.protocol, "fastbinary", raising=False)
    assert isinstance(wire.protocol_factory().getProtocol(None), TBinaryProtocol.TBinaryProtocol)
    assert not isinstance(
        wire.protocol_factory().getProtocol(None), TBinaryProtocol.TBinaryProtocolAccelerated
    )


def eslogger_exec(**changes: Any) -> dict[str, Any]:
    """The real v9 exec line of the sample (``/bin/connection-checker``), changed."""
    record: dict[str, Any] = json.loads(ESLOGGER.read_text(encoding="utf-8").splitlines()[1])
    exec_ = record["event"]["exec"]
    exec_["args"] = changes.get("args", exec_["args"])
    exec_["target"]["executable"]["path"] = changes.get(
        "path", exec_["target"]["executable"]["path"]
    )
    return record


def served(window: Window) -> list[dict[str, str]]:
    return EcsProcessTable(window).generate(None)


# -- finding 1: one non-UTF-8 byte in an osquery row ---------------------------------------------


def es_row(pid: int, args: list[str], when: int) -> dict[str, str]:
    return {
        "version": "7", "pid": str(pid), "pidversion": "1", "path": args[0], "parent": "1",
        "parent_pidversion": "1", "cmdline": quote_cmdline(args), "cmdline_count": str(len(args)),
        "uid": "501", "gid": "20", "time": str(when), "event_type": "exec", "eid": f"e{pid}",
    }  # fmt: skip


def test_a_non_utf8_byte_in_an_osquery_row_is_served_as_fffd_and_the_cursor_passes_it(
    sockdir: Path, pure_python: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # osqueryd sends a row's bytes as they are: "/usr/bin/true $'\xff'" arrives with a raw 0xff
    # (written here through the stand-in as the surrogate-escaped byte)
    def write_raw(self: Any, value: str) -> None:
        self.writeBinary(value.encode("utf-8", "surrogateescape"))

    monkeypatch.setattr(TBinaryProtocol.TBinaryProtocol, "writeString", write_raw)
    rows = [
        es_row(700, ["/usr/bin/true", "\udcff"], NOW - 20),
        es_row(701, ["/usr/bin/curl", "-s", "x"], NOW - 10),
    ]
    with OsquerydStandin(sockdir / "osquery.em", SCHEMAS) as osqueryd:
        monkeypatch.setattr(osqueryd, "sql", lambda sql: list(rows))
        window = Window(max_age=10**10)
        pipeline = Pipeline(window)
        source = OsquerySource(pipeline, osqueryd.socket_path, seed=False)
        try:
            assert source.poll("es_process_events") == 2
            assert source.poll("es_process_events") == 0  # the cursor is past both rows
        finally:
            source.close()
    bad, good = served(window)
    assert json.loads(bad["process_args"]) == ["/usr/bin/true", FFFD]
    assert bad["process_command_line"] == f"/usr/bin/true {FFFD}"
    assert good["process_name"] == "curl"
    assert pipeline.stats.snapshot() == {"read.osquery": 2, "served": 2}


def test_both_thrift_codecs_read_a_non_utf8_string_alike() -> None:
    from osquery.extensions.ttypes import ExtensionResponse, ExtensionStatus
    from thrift.transport import TTransport

    reply = ExtensionResponse(ExtensionStatus(code=0, message="OK"), [{"cmdline": "a\xe9"}])
    buffer = TTransport.TMemoryBuffer()
    reply.write(TBinaryProtocol.TBinaryProtocol(buffer))
    data = buffer.getvalue().replace("a\xe9".encode(), b"\xe2\x82\xff")
    for protocol in (wire._Protocol, wire._AcceleratedProtocol):
        got = ExtensionResponse()
        got.read(protocol(TTransport.TMemoryBuffer(data)))
        assert got.response == [{"cmdline": FFFD * 2}], protocol  # Python's "replace", as C


# -- finding 7: a lone surrogate; finding 13: a wrong JSON type; any error in one record ---------


def test_wire_encode_writes_a_lone_surrogate_as_fffd() -> None:
    assert wire.encode("a\ud800b") == b"\x00\x00\x00\x05a\xef\xbf\xbdb"
    assert wire.encode("\udcff") == b"\x00\x00\x00\x03\xef\xbf\xbd"
    assert wire.encode("\U0001f600") == b"\x00\x00\x00\x04\xf0\x9f\x98\x80"  # a real pair


def test_a_lone_surrogate_in_an_eslogger_line_is_served_as_fffd(tmp_path: Path) -> None:
    line = json.dumps(eslogger_exec(args=["/bin/x\ud800", "-c"], path="/tmp/\udc80evil"))
    assert "\\ud800" in line  # JSON's escape, as a process can make eslogger write it
    replay = tmp_path / "lone.ndjson"
    replay.write_text(line + "\n" + ESLOGGER.read_text(encoding="utf-8"), encoding="utf-8")
    window = Window(max_age=10**10)
    source = ReplaySource(Pipeline(window), [replay])
    source.run()
    rows = served(window)
    assert len(rows) == 5
    lone = next(r for r in rows if r["process_executable"].startswith("/tmp/"))
    assert lone["process_executable"] == f"/tmp/{FFFD}evil"
    assert json.loads(lone["process_args"]) == [f"/bin/x{FFFD}", "-c"]


@pytest.mark.parametrize(
    "record",
    [
        {"event_type": "exec", "pid": "9", "pidversion": "1", "time": [1]},  # finding 13
        {"event_type": "exec", "pid": {"x": 1}, "pidversion": "1", "time": "5"},
        {"event_type": "exec", "child_pid": "1", "pid": "9", "time": "5", "uid": [1]},
        {"time": ["x"], "cmdline": "a", "path": "/bin/a", "pid": "1"},  # process_events
        {"start_time": [], "name": "a", "path": "/bin/a", "pid": "1"},  # processes
    ],
)
def test_a_wrong_type_in_one_record_is_counted_and_the_next_is_served(
    record: dict[str, Any],
) -> None:
    window = Window(max_age=10**10)
    pipeline = Pipeline(window)
    pipeline.feed(record, "osquery")
    pipeline.feed(es_row(800, ["/bin/ls"], NOW), "osquery")
    stats = pipeline.stats.snapshot()
    assert stats["read.osquery"] == 2 and stats["served"] == 1
    assert sum(v for k, v in stats.items() if k.startswith("bad.")) == 1


def test_any_error_in_one_record_is_counted_never_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    from ecsquery.extension import pipeline as pipeline_module

    def explode(record: Any) -> Any:
        if record.get("boom"):
            raise ZeroDivisionError("division by zero")
        return real(record)

    real = pipeline_module.normalize
    monkeypatch.setattr(pipeline_module, "normalize", explode)
    window = Window(max_age=10**10)
    pipeline = Pipeline(window)
    pipeline.feed({"boom": 1}, "replay")
    pipeline.feed(es_row(801, ["/bin/ls"], NOW), "replay")
    assert pipeline.stats["bad.unexpected"] == 1 and pipeline.stats["served"] == 1


def test_the_replay_source_counts_a_non_string_time_and_reads_on(tmp_path: Path) -> None:
    capture = tmp_path / "capture.ndjson"
    bad = {"event_type": "exec", "pid": "9", "pidversion": "1", "time": [1]}
    capture.write_text(json.dumps(bad) + "\n" + ESLOGGER.read_text(encoding="utf-8"))
    window = Window(max_age=10**10)
    pipeline = Pipeline(window)
    source = ReplaySource(pipeline, [capture, tmp_path / "missing.ndjson"])
    source.start()
    source.join(10)
    stats = pipeline.stats.snapshot()
    assert (stats["bad.unexpected"], stats["served"], stats["errors.replay"]) == (1, 4, 1)
    assert "died.replay" not in stats


def test_ecsquery_replay_counts_a_non_string_time_as_a_bad_line() -> None:
    reader = CaptureReader()
    bad = {"event_type": "exec", "pid": "9", "pidversion": "1", "time": [1]}
    reader.read_lines([json.dumps(bad).encode(), *ESLOGGER.read_bytes().splitlines()])
    assert reader.stats.rejected == {"unexpected": 1}
    assert reader.stats.events == 4


def test_ecsquery_replay_counts_an_event_it_cannot_build_and_builds_the_rest() -> None:
    # found by the fuzz run: an eslogger executable path of `true` passed the adapter
    lines = ESLOGGER.read_bytes().splitlines()
    record = json.loads(lines[0])
    record["process"]["executable"]["path"] = True
    reader = CaptureReader()
    reader.read_lines([json.dumps(record).encode(), *lines[1:]])
    rows = reader.rows_by_host()
    assert reader.stats.rejected == {"unexpected": 1}
    assert sum(len(r) for r in rows.values()) == 3


# -- finding 6 and 15: eslogger by absolute path, stderr drained while it runs -------------------


def fake_eslogger(tmp_path: Path, stderr_bytes: int) -> Path:
    script = tmp_path / "eslogger"
    script.write_text(
        "#!/bin/sh\n"
        '[ "$*" = "--format json exec fork exit" ] || exit 64\n'
        f"yes 'eslogger: warning: slow client' | head -c {stderr_bytes} >&2\n"
        f"cat {ESLOGGER}\n"
        "exit 1\n"
    )
    script.chmod(0o755)
    return script


def test_an_eslogger_stderr_flood_does_not_stop_events(tmp_path: Path) -> None:
    script = fake_eslogger(tmp_path, 300_000)  # > a 64 KiB pipe
    window = Window(max_age=10**10)
    pipeline = Pipeline(window)
    source = EsloggerSource(
        pipeline, (str(script), "--format", "json", "exec", "fork", "exit"), restart_delay=None
    )
    source.start()
    source.join(20)
    try:
        stats = pipeline.stats.snapshot()
        assert stats.get("served") == 4, stats
        assert stats["died.eslogger"] == 1
        assert stats["stderr.eslogger"] >= 300_000 // 4096
    finally:
        source.stop()


def test_eslogger_runs_by_absolute_path_with_eslogger1s_command_line() -> None:
    from ecsquery.extension.sources.eslogger import COMMAND

    assert COMMAND == (
        "/usr/bin/eslogger", "--format", "json", "exec", "fork", "exit",
        "create", "close", "rename", "unlink", "deleteextattr",
        "btm_launch_item_add", "btm_launch_item_remove",
    )  # fmt: skip


# -- finding 11: the Thrift server under malformed messages and idle clients ---------------------


def _message(name: bytes, body: bytes, mtype: int = 1) -> bytes:
    return (
        struct.pack(">i", -2147418112 | mtype)
        + struct.pack(">i", len(name))
        + name
        + (struct.pack(">i", 1) + body)
    )


_STRING_FIELD_1 = b"\x0b\x00\x01" + struct.pack(">i", 5) + b"table"
MALFORMED = {
    "random bytes": random.Random(16).randbytes(4096),
    "length 0x7fffffff": struct.pack(">i", -2147418111) + struct.pack(">i", 0x7FFFFFFF),
    "unversioned length 0x7fffffff": struct.pack(">i", 0x7FFFFFFF) + b"call",
    "string length 0x7fffffff": _message(b"call", b"\x0b\x00\x01" + struct.pack(">i", 0x7FFFFFFF)),
    "negative map size": _message(
        b"call", _STRING_FIELD_1 + b"\x0d\x00\x03\x0b\x0b\xff\xff\xff\xff"
    ),
    "negative list size": _message(b"call", b"\x0f\x00\x07\x0b\xff\xff\xff\xfe"),
    "unknown type id": _message(b"call", b"\x63\x00\x01" + b"\x00" * 16),
    "100k-deep struct": _message(b"call", b"\x0c\x00\x63" * 100_000 + b"\x00" * 100_001),
    "unknown method": _message(b"nope", b"\x00"),
    "truncated": _message(b"call", _STRING_FIELD_1)[:-3],
    "huge map count": _message(b"call", b"\x0d\x00\x03\x0b\x0b\x7f\xff\xff\xff"),
}


@pytest.fixture(params=["pure-python", "c-codec"])
def extension(
    request: pytest.FixtureRequest, sockdir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ExtensionServer]:
    if request.param == "pure-python":
        request.getfixturevalue("pure_python")
    window = Window(max_age=10**10)
    Pipeline(window).feed(es_row(900, ["/bin/ls", "-l"], NOW), "osquery")
    server = ExtensionServer(EcsProcessTable(window), str(sockdir / "osquery.em"))
    server.uuid = 1
    server.listen()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    yield server
    server.stop()
    thread.join(5)
    assert not thread.is_alive()


def generate(server: ExtensionServer, timeout: float = 3.0) -> list[dict[str, str]]:
    with connect(server.path, timeout) as ext:
        assert ext.ping().code == 0
        reply = ext.call("table", "ecs_process_events", {"action": "generate", "context": "{}"})
    return list(reply.response)


def send(path: str, data: bytes) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(path)
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):
                pass
        except OSError:
            pass  # the server may close on us mid-send: that is a fine answer


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_the_server_survives_a_malformed_message(extension: ExtensionServer, case: str) -> None:
    send(extension.path, MALFORMED[case])
    rows = generate(extension)
    assert [r["process_name"] for r in rows] == ["ls"]
    assert not extension.stopped.is_set()


def test_an_idle_client_does_not_block_other_calls(extension: ExtensionServer) -> None:
    with socket.socket(socket.AF_UNIX) as idle:
        idle.connect(extension.path)
        idle.sendall(_message(b"call", b"")[:6])  # half a header, then silence
        started = time.monotonic()
        assert len(generate(extension, timeout=2.0)) == 1
        assert time.monotonic() - started < 2.0


def test_an_idle_client_is_dropped_after_the_client_timeout(sockdir: Path) -> None:
    server = ExtensionServer(
        EcsProcessTable(Window()), str(sockdir / "osquery.em"), client_timeout=0.3
    )
    server.uuid = 2
    server.listen()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        with socket.socket(socket.AF_UNIX) as idle:
            idle.settimeout(5)
            idle.connect(server.path)
            assert idle.recv(1) == b""  # closed by the server, not by us
    finally:
        server.stop()
        thread.join(5)


def test_clients_beyond_the_limit_are_refused_not_queued(sockdir: Path) -> None:
    server = ExtensionServer(EcsProcessTable(Window()), str(sockdir / "osquery.em"), max_clients=2)
    server.uuid = 3
    server.listen()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    held = [socket.socket(socket.AF_UNIX) for _ in range(3)]
    try:
        for sock in held:
            sock.settimeout(5)
            sock.connect(server.path)
        assert held[2].recv(1) == b""
        assert server.refused == 1
        held[0].close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                assert len(generate(server, timeout=1.0)) == 0
                break
            except Exception:
                time.sleep(0.1)  # the freed slot is released when its thread sees the EOF
        else:
            raise AssertionError("no slot came free")
    finally:
        for sock in held:
            sock.close()
        server.stop()
        thread.join(5)
