"""Prepares the Docker lab's inputs: the capture moved to "now", and a Linux variant of the pack.

Standard library only (it runs in a plain python image before osqueryd and the extension).

osqueryd's ``time`` table is the wall clock, so a pack query with a 540 s lookback only sees
events of the last nine minutes. The lab replays recorded stories, so their times are moved:
gaps longer than ``--max-gap`` seconds between consecutive events are shortened to it (the
stories keep their order and their process trees) and the last event lands ``--end-ago``
seconds before now. eslogger messages (``time``, ``start_time``) and ECS documents
(``@timestamp``, ``event.created``, ``process.start``) are rewritten; other lines pass as is.

The pack: ``packs/osquery/ecsquery.conf`` declares ``platform: darwin`` (the rules are macOS
rules, and on a Mac the extension reads EndpointSecurity). osqueryd in a Linux container skips
darwin queries, so the lab copy says ``linux`` and runs every ``--interval`` seconds (default 60,
instead of 300, so the lab finishes in a couple of minutes). The SQL is not touched: it is the
shipped text, lookback included.

Usage: python3 prepare.py CAPTURE PACK OUTDIR [--max-gap 2] [--end-ago 5] [--interval 60]
writes OUTDIR/capture.ndjson and OUTDIR/ecsquery.conf.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import UTC, datetime
from typing import Any


def _parse(text: str) -> float:
    return datetime.fromisoformat(text[:26].rstrip("Z") + "+00:00").timestamp()


def _iso(t: float, nanos: bool) -> str:
    stamp = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return stamp + "000Z" if nanos else stamp[:-3] + "Z"


def _when(record: dict[str, Any]) -> float | None:
    stamp = record.get("time") if "event_type" in record else record.get("@timestamp")
    return _parse(stamp) if isinstance(stamp, str) else None


def _retime(record: dict[str, Any], delta: float) -> None:
    def move(holder: dict[str, Any], key: str, nanos: bool) -> None:
        value = holder.get(key)
        if isinstance(value, str):
            holder[key] = _iso(_parse(value) + delta, nanos)

    if "event_type" in record:  # eslogger
        move(record, "time", True)
        for proc in (record.get("process"), *_children(record)):
            if isinstance(proc, dict):
                move(proc, "start_time", False)
        return
    move(record, "@timestamp", False)
    move(record.get("event") or {}, "created", False)
    move(record.get("process") or {}, "start", False)


def _children(record: dict[str, Any]) -> list[Any]:
    event = record.get("event") or {}
    return [(event.get("exec") or {}).get("target"), (event.get("fork") or {}).get("child")]


def shift(lines: list[str], now: float, max_gap: float, end_ago: float) -> list[str]:
    records = [json.loads(line) for line in lines if line.strip()]
    times = [_when(r) for r in records]
    known = sorted(t for t in times if t is not None)
    if not known:
        return [json.dumps(r) for r in records]
    squeezed: dict[float, float] = {}
    position = 0.0
    for previous, current in zip([known[0], *known], known, strict=False):
        position += min(current - previous, max_gap)
        squeezed.setdefault(current, position)
    end = now - end_ago
    out = []
    for record, t in zip(records, times, strict=True):
        if t is not None:
            _retime(record, end - squeezed[known[-1]] + squeezed[t] - t)
        out.append(json.dumps(record, separators=(",", ":")))
    return out


def lab_pack(pack_text: str, interval: int) -> str:
    pack = json.loads(pack_text)
    pack["platform"] = "linux"
    for query in pack["queries"].values():
        query["platform"] = "linux"
        query["interval"] = interval
    return json.dumps(pack, indent=2) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("capture")
    parser.add_argument("pack")
    parser.add_argument("outdir")
    parser.add_argument("--max-gap", type=float, default=2.0)
    parser.add_argument("--end-ago", type=float, default=5.0)
    parser.add_argument("--interval", type=int, default=60)
    args = parser.parse_args()
    with open(args.capture, encoding="utf-8") as f:
        lines = f.read().splitlines()
    shifted = shift(lines, time.time(), args.max_gap, args.end_ago)
    with open(os.path.join(args.outdir, "capture.ndjson"), "w", encoding="utf-8") as f:
        f.write("\n".join(shifted) + "\n")
    with open(args.pack, encoding="utf-8") as f:
        pack = lab_pack(f.read(), args.interval)
    with open(os.path.join(args.outdir, "ecsquery.conf"), "w", encoding="utf-8") as f:
        f.write(pack)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
