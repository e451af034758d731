"""Per-row CPU of the osquery source's ``socket_events`` and ``es_process_file_events`` rows
(issue 15, network and files), measured as its process rows are in
:mod:`ecsquery.bench.extension_cost`: the pure-Python Thrift decode of a reply of the polled
columns, against decode + adapter + process tree + document + row of the same reply, CPU time
(``process_time``: user + system, what osquery's watchdog reads), best of several rounds. Each
row goes through its table's adapter (``normalize.OSQUERY_TABLES``), as the source feeds it;
the pipelines are built before the clock starts (compiling a table's flattener is a one-time
cost of the extension, not of a row).

Rows are the ones osquery writes on macOS: connects to varied IPv4/IPv6 peers with no local
end (``socket_events``, the darwin subscriber), and creates, writes and renames under
``/Library/LaunchAgents`` and a user's preferences (``es_process_file_events``, in scope, so
served). The tree holds every process they name, so each row pays a real lookup.

Beside the totals, where a row's time goes (:func:`stages`): the adapter, and the pipeline's
``add`` (the tree, the row as the pipeline makes it — a file row from its parts,
``extension.rowparts``, a connection through ``network_document`` and the flattener — and the
window); the rest of the total is the decode and ``Pipeline.feed`` itself (counters, dispatch).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ecsquery.bench import Figure
from ecsquery.bench.extension_cost import _best, _decode, _reply_bytes
from ecsquery.extension.model import Proc
from ecsquery.extension.normalize import OSQUERY_TABLES, files, socket
from ecsquery.extension.pipeline import Pipeline
from ecsquery.extension.tree import ProcessTree
from ecsquery.extension.window import Window
from ecsquery.schema import FILE_TABLE, NETWORK_TABLE

PART = "network"
ROWS = 3000
ROUNDS = 7
PROCESSES = 500
SLACK = "/Applications/Slack.app/Contents/MacOS/Slack"


def socket_rows(count: int, start: int = 1_754_572_000) -> Iterator[dict[str, str]]:
    """macOS ``socket_events`` connect rows, the polled columns only (``status`` is Linux's)."""
    for i in range(count):
        remote = f"2606:4700:{i % 7:x}::{i % 251:x}" if i % 5 == 0 else f"104.16.{i % 251}.{i % 97}"
        yield {
            "time": str(start + i // 100), "eid": f"{i:010d}", "action": "connect",
            "pid": str(20000 + i % PROCESSES), "path": SLACK,
            "family": "10" if i % 5 == 0 else "2", "protocol": "", "local_address": "",
            "local_port": "", "remote_address": remote, "remote_port": "443",
            "success": str(i % 2),
        }  # fmt: skip


def file_rows(count: int, start: int = 1_754_572_000) -> Iterator[dict[str, str]]:
    """macOS ``es_process_file_events`` rows cycling create → write → rename, in scope."""
    for i in range(count):
        kind = ("create", "write", "rename")[i % 3]
        where = "/Library/LaunchAgents" if i % 2 else "/Users/alice/Library/Preferences"
        name = f"{where}/com.tinyspeck.slack.{i // 3}.plist"
        yield {
            "time": str(start + i // 100), "eid": f"{i:010d}", "event_type": kind,
            "pid": str(20000 + i % PROCESSES), "parent": "1", "path": SLACK,
            "filename": name + (".sb-tmp" if kind == "rename" else ""),
            "dest_filename": name if kind == "rename" else "",
        }  # fmt: skip


def tree() -> ProcessTree:
    procs = ProcessTree()
    for i in range(PROCESSES):
        image = Proc(20000 + i, 100000 + i, SLACK, (SLACK, f"-{i}"), "/", "com.tinyspeck.slack")
        procs.add(image._replace(signed=True, trusted=True, uid=501, gid=20, user_name="alice"))
    return procs


def _pipeline(procs: ProcessTree, category: str) -> Pipeline:
    return Pipeline(Window(), tree=procs, windows={category: Window()})


def table_figures(part: str, table: str, rows: list[dict[str, str]], category: str) -> list[Figure]:
    """The totals and :func:`stages` of one table's rows (see the module docstring)."""
    polled = [c for c in OSQUERY_TABLES[table].columns if c in rows[0]]
    assert all(list(r) == polled for r in rows)  # the reply holds the polled columns only
    adapter = OSQUERY_TABLES[table].adapter
    reply = _reply_bytes(rows)
    procs = tree()
    pipelines = iter([_pipeline(procs, category) for _ in range(ROUNDS)])
    served: list[int] = []

    def source_all() -> None:
        pipeline = next(pipelines)
        for row in _decode(reply):
            pipeline.feed(row, "osquery", adapter)
        served.append(pipeline.stats["served"])

    decode, routed = interleaved((lambda: _decode(reply), source_all))
    assert served == [len(rows)] * ROUNDS, served
    per = len(rows) / 1e6
    figures = [
        Figure(part, f"Thrift decode (pure Python) of a {table} row ({len(reply) // len(rows)} B)",
               decode / per, "us"),
        Figure(part, f"{table} row: decode + adapter + tree + row (CPU)", routed / per, "us"),
        Figure(part, "  ratio to the decode of that reply", routed / decode, "x", "<= 2",
               routed / decode <= 2),
    ]  # fmt: skip
    for what, seconds in stages(_decode(reply), adapter, procs, category).items():
        figures.append(Figure(part, f"  of which {what}", seconds / per, "us"))
    return figures


def interleaved(steps: tuple[Callable[[], object], ...]) -> list[float]:
    """The best CPU seconds of each step over :data:`ROUNDS` rounds, the steps taking turns:
    a shared machine's slow spells then fall on the baseline and the measured step alike (best
    of rounds taken one step after the other gave ratios from 2.1 to 3.7 for the same code)."""
    best = [float("inf")] * len(steps)
    for _ in range(ROUNDS):
        for i, step in enumerate(steps):
            best[i] = min(best[i], _best(step, 1))
    return best


def stages(
    rows: list[dict[str, str]],
    adapter: Callable[[Any], Any],
    procs: ProcessTree,
    category: str,
) -> dict[str, float]:
    """CPU seconds of the two steps after the decode, each timed alone over the previous
    step's output (best of rounds): the adapter, and the pipeline's ``add`` (the tree, the
    row made as the pipeline makes it, the window)."""
    events = [item for row in rows for item in adapter(row)]
    pipelines = iter([_pipeline(procs, category) for _ in range(ROUNDS)])

    def add_all() -> None:
        pipeline = next(pipelines)  # a fresh one: its caches and memos start empty
        for event in events:
            pipeline.add(event)

    times = interleaved((lambda: [adapter(row) for row in rows], add_all))
    names = ("the adapter", "the pipeline's add (tree, row, window)")
    return dict(zip(names, times, strict=True))


def run() -> list[Figure]:
    return table_figures(
        PART, socket.TABLE, list(socket_rows(ROWS)), NETWORK_TABLE.category
    ) + table_figures("files", files.TABLE, list(file_rows(ROWS)), FILE_TABLE.category)
