"""Per-row CPU of osquery ``socket_events`` rows (issue 15, network), measured as the osquery
source's process rows are in :mod:`ecsquery.bench.extension_cost`: the pure-Python Thrift
decode of the polled reply, against decode + normalize + process-tree lookup + row of the same
reply, CPU time (``process_time``: user + system, what osquery's watchdog reads), best of
several rounds. Rows are the ones osquery's darwin subscriber writes (connects to varied
IPv4/IPv6 peers, no local end, ``success``); the tree holds every process they name, so each
row pays a real lookup, and rows are flattened into ``ecs_network_events``' columns.
"""

from __future__ import annotations

from collections.abc import Iterator

from ecsquery.bench import Figure
from ecsquery.bench.extension_cost import _best, _decode, _reply_bytes
from ecsquery.extension.model import Proc
from ecsquery.extension.normalize.socket import COLUMNS_READ, TABLE
from ecsquery.extension.pipeline import Pipeline
from ecsquery.extension.tree import ProcessTree
from ecsquery.extension.window import Window
from ecsquery.schema import NETWORK_TABLE

PART = "network"
ROWS = 3000
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


def tree() -> ProcessTree:
    procs = ProcessTree()
    for i in range(PROCESSES):
        image = Proc(20000 + i, 100000 + i, SLACK, (SLACK, f"-{i}"), "/", "com.tinyspeck.slack")
        procs.add(image._replace(signed=True, trusted=True, uid=501, gid=20, user_name="alice"))
    return procs


def run() -> list[Figure]:
    wanted = [c for c in COLUMNS_READ[TABLE] if c != "status"]
    rows = list(socket_rows(ROWS))
    assert all(list(r) == wanted for r in rows)
    reply = _reply_bytes(rows)
    decode = _best(lambda: _decode(reply), 3)
    procs = tree()
    served: list[int] = []

    def source_all() -> None:
        pipeline = Pipeline(Window(), tree=procs, windows={NETWORK_TABLE.category: Window()})
        for row in _decode(reply):
            pipeline.feed(row, "osquery")
        served.append(pipeline.stats["served"])

    routed = _best(source_all, 3)
    assert served == [ROWS] * len(served), served
    per = ROWS / 1e6
    return [
        Figure(PART, f"Thrift decode (pure Python) of a socket_events row ({len(reply) // ROWS} B)",
               decode / per, "us"),
        Figure(PART, "socket_events row: decode + normalize + tree + row (CPU)", routed / per,
               "us"),
        Figure(PART, "  ratio to the decode of that reply", routed / decode, "x", "<= 2",
               routed / decode <= 2),
    ]  # fmt: skip
