"""Durability soak: the follower SIGKILLed at random while the log is written and rotated.

A writer appends hits (and other queries' lines), cuts lines across writes, rotates by rename
and by copy-truncate (osquery's and logrotate's ways), and compresses each older generation to
zstd, some written whole under a temporary name and renamed, some written progressively under
their final name. Meanwhile ``ecsquery alerts`` runs against it — ``--follow`` in NDJSON and in
``_bulk``, or ``--checkpoint`` alone from "cron" — and is killed with SIGKILL at random
moments, then restarted. In the end, the union of everything every run wrote must hold each
alert exactly once (and a valid ``_bulk`` body: action, document, action, document...).

Beside the keychain rule's hits, every event is also a hit of a real new_terms rule (First
Time Python Spawned a Shell on Host: host.id and process.parent.executable over 7 days, read
with ``--new-terms-learning 0``) whose parent changes every third event: each parent must
alert exactly once, so the first-seen store beside the checkpoint must survive every kill in
step with it (a store behind its checkpoint alerts a parent again, one ahead loses one).

``make test`` runs each mode for a few seconds; ``make soak`` runs them long
(``ECSQUERY_SOAK_SECONDS``, default 120 each) and prints the counts.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
import zstandard

from alerts_fixtures import (
    KEYCHAIN,
    PYTHON_SHELL,
    append,
    compress_whole,
    hit,
    new_terms_hit,
    other_line,
    shift,
)

ECSQUERY = str(Path(sys.executable).with_name("ecsquery"))
SECONDS = float(os.environ.get("ECSQUERY_SOAK_SECONDS", "0") or 0)


def _compress(one: Path, target: Path, rng: random.Random) -> None:
    """``.1`` → ``target`` (zstd), written whole then renamed, or progressively in place."""
    if rng.random() < 0.5:
        compress_whole(one, target)
        return
    packed = zstandard.ZstdCompressor().compress(one.read_bytes())
    with target.open("wb") as f:
        for start in range(0, len(packed), 4096):
            f.write(packed[start : start + 4096])
            f.flush()
            time.sleep(0.002)
    one.unlink()


def _rotate(base: Path, rng: random.Random) -> str:
    """Shift and compress the older generations, then rotate the live file."""
    shift(base, lambda one, target: _compress(one, target, rng))
    if rng.random() < 0.5:
        base.rename(base.with_name(base.name + ".1"))
        return "rename"
    shutil.copyfile(base, base.with_name(base.name + ".1"))
    with base.open("r+b") as f:
        f.truncate(0)
    return "copytruncate"


class Writer(threading.Thread):
    """osqueryd and logrotate, in one thread."""

    def __init__(self, base: Path, seconds: float, seed: int) -> None:
        super().__init__(daemon=True)
        self.base, self.seconds, self.rng = base, seconds, random.Random(seed)
        self.written = 0
        self.rotations: Counter[str] = Counter()

    def run(self) -> None:
        end = time.monotonic() + self.seconds
        since_rotation = 0
        while time.monotonic() < end:
            burst = b"".join(
                hit(i) + other_line(i) + b"\n" + new_terms_hit(i, parent=f"/p/{i // 3}")
                for i in range(self.written, self.written + 40)
            )
            self.written += 40
            cut = self.rng.randrange(1, len(burst))  # a line split across two writes
            append(self.base, burst[:cut])
            time.sleep(self.rng.uniform(0, 0.004))
            append(self.base, burst[cut:])
            since_rotation += 40
            if since_rotation >= self.rng.randrange(200, 900):
                self.rotations[_rotate(self.base, self.rng)] += 1
                since_rotation = 0
            time.sleep(self.rng.uniform(0.005, 0.03))


def _alert_ids(out: Path, fmt: str) -> tuple[list[int], list[str]]:
    """The keychain alerts' event numbers and the new_terms alerts' parents."""
    lines = out.read_bytes().splitlines()
    if fmt == "bulk":
        assert len(lines) % 2 == 0
        for action, doc in zip(lines[::2], lines[1::2], strict=True):
            uuid = orjson.loads(action)["create"]["_id"]
            assert orjson.loads(doc)["ecsquery"]["alert_id"] == uuid  # pairs never torn apart
        lines = lines[1::2]
    docs = [orjson.loads(x) for x in lines]
    ids = [
        int(d["event"]["id"].removeprefix("ev-")) for d in docs if "new_terms" not in d["ecsquery"]
    ]
    parents = [d["ecsquery"]["new_terms"][1] for d in docs if "new_terms" in d["ecsquery"]]
    return ids, parents


def soak(tmp_path: Path, seconds: float, mode: str, seed: int) -> dict[str, Any]:
    base, out, ck = tmp_path / "osqueryd.results.log", tmp_path / "alerts", tmp_path / "ck"
    fmt = "bulk" if mode == "bulk" else "ndjson"
    command = [ECSQUERY, "alerts", "--rules", str(KEYCHAIN), "--rules", str(PYTHON_SHELL),
               "--new-terms-learning", "0", "--checkpoint", str(ck), "-o", str(out),
               "--format", fmt, "--poll", "0.02", "--summary", "none", str(base)]  # fmt: skip
    if mode != "cron":
        command.append("--follow")
    base.touch()
    rng = random.Random(seed)
    writer = Writer(base, seconds, seed)
    kills = runs = extra = 0
    errors = tmp_path / "stderr"
    # Until the writer is done, and (a cron run often exits before its kill comes) until at
    # least two runs were killed, with a bound: the short soak must exercise a kill either way.
    while writer.is_alive() or not runs or (kills < 2 and extra < 40):
        extra += not writer.is_alive() and runs > 0
        with errors.open("ab") as stderr:
            proc = subprocess.Popen(command, stderr=stderr)
        runs += 1
        if runs == 1:  # the first run's checkpoint names the live file: from then on, rotate
            while not ck.exists():
                time.sleep(0.01)
            writer.start()
        try:
            proc.wait(timeout=rng.uniform(0.1, 1.5))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
        if mode == "cron":
            time.sleep(rng.uniform(0, 0.2))
    final = [*command, "--idle-exit", "1"] if mode != "cron" else command
    with errors.open("ab") as stderr:
        done = subprocess.run(final, stderr=stderr, timeout=300, check=False)
    assert done.returncode == 0
    ids, parents = _alert_ids(out, fmt)
    counts, firsts = Counter(ids), Counter(parents)
    parents_written = (writer.written + 2) // 3
    result = {
        "mode": mode,
        "seconds": seconds,
        "runs": runs + 1,
        "kills": kills,
        "rotations": dict(writer.rotations),
        "generations compressed": len(list(tmp_path.glob("*.zst"))),
        "alerts": writer.written,
        "lost": writer.written - len(counts),
        "duplicated": len(ids) - len(counts),
        "new_terms alerts": parents_written,
        "new_terms lost": parents_written - len(firsts),
        "new_terms duplicated": len(parents) - len(firsts),
        "new_terms others": sorted(set(firsts) - {f"/p/{k}" for k in range(parents_written)}),
        "stderr": errors.read_text(),
    }
    print(result)
    return result


@pytest.mark.soak
@pytest.mark.parametrize("mode", ["ndjson", "bulk", "cron"])
def test_soak(tmp_path: Path, mode: str) -> None:
    seconds = SECONDS or 4.0
    result = soak(tmp_path, seconds, mode, seed={"ndjson": 1, "bulk": 2, "cron": 3}[mode])
    assert result["kills"] >= 2 and sum(result["rotations"].values()) >= 2
    assert (result["lost"], result["duplicated"]) == (0, 0), result
    assert (result["new_terms lost"], result["new_terms duplicated"]) == (0, 0), result
    assert result["new_terms others"] == [], result
    assert result["stderr"] == "", result["stderr"]  # no gap, no error in any run
