"""``/usr/bin/eslogger --format json exec fork exit`` and the file events (``FILE_EVENTS``) as a
subprocess, read line by line.

The command line is eslogger(1)'s, by absolute path: the extension runs as root, and a bare
``eslogger`` would run whatever a PATH entry holds first. eslogger needs root and Full Disk
Access for the responsible app; when it cannot start or exits, the source counts
``died.eslogger``, logs eslogger's stderr tail, and (unless told not to) restarts it after a
pause so a transient failure does not end collection.

eslogger's stderr is drained on its own thread while it runs: a pipe holds 64 KiB, and an
eslogger blocked writing a warning to a full stderr writes no more events either.

Its stdout is read a chunk at a time, with a pause of :data:`BATCH_PAUSE` after a chunk that
did not fill the read (:func:`batched_lines`): eslogger writes each event as it comes, and
waking for every line cost about a third more CPU at 1,000 ev/s than handling the same lines a
few at a time (``make bench``); a full read means eslogger is ahead, and the next read follows
at once.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import IO

from ecsquery.extension.normalize import eslogger_items
from ecsquery.extension.normalize.eslogger import without_stat
from ecsquery.extension.normalize.eslogger_file import EVENTS as FILE_EVENTS
from ecsquery.extension.pipeline import Pipeline
from ecsquery.extension.sources import Source
from ecsquery.extension.stats import Stats

log = logging.getLogger(__name__)

ESLOGGER = "/usr/bin/eslogger"
COMMAND = (ESLOGGER, "--format", "json", "exec", "fork", "exit", *FILE_EVENTS)
_STDERR_LOGGED = 5
_STDERR_LINE = 4096
READ_CHUNK = 1 << 16
"""Bytes per read of eslogger's stdout (a pipe's capacity on macOS and Linux)."""
BATCH_PAUSE = 0.01
"""Seconds to wait after a read that came back short: at 1,000 ev/s (~3 KB each) about 33 KB
gather meanwhile, half the pipe, so eslogger is never held up at that rate (a faster eslogger
fills the read, and a full read is followed at once). Events handled in larger batches cost
less CPU each: a batch finds the code and data still in the caches (the zipapp at 1,000 ev/s,
``make bench``: 17-18% of a core with a 5 ms pause, 14.6-15.1% with 10 ms)."""


def batched_lines(stream: IO[bytes], pause: float = BATCH_PAUSE) -> Iterator[bytes]:
    """The lines of ``stream`` (without their newline), read :data:`READ_CHUNK` bytes at a
    time, pausing ``pause`` seconds after a short read (nothing is lost: the pipe holds what
    arrives meanwhile). A line longer than a chunk is gathered in parts, without a pause."""
    fd = stream.fileno()
    pending: list[bytes] = []
    while True:
        data = os.read(fd, READ_CHUNK)
        if not data:
            break
        end = data.rfind(b"\n")
        if end < 0:
            pending.append(data)
            continue
        head = data[:end]
        if pending:
            pending.append(head)
            head = b"".join(pending)
            pending = []
        yield from head.split(b"\n")
        if end + 1 < len(data):
            pending.append(data[end + 1 :])
        if len(data) < READ_CHUNK:
            time.sleep(pause)
    if pending:
        yield b"".join(pending)


def drain(stream: IO[bytes], tail: deque[bytes], stats: Stats, name: str) -> None:
    """Read ``stream`` to its end, keeping the last lines in ``tail`` (each at most 4 KiB).

    The first few lines are logged as they come (a permission error shows at once, not when
    eslogger exits); the rest are counted under ``stderr.<name>``.
    """
    for line in iter(lambda: stream.readline(_STDERR_LINE), b""):
        tail.append(line)
        stats.add(f"stderr.{name}")
        if stats[f"stderr.{name}"] <= _STDERR_LOGGED:
            log.warning("%s: %s", name, line.decode("utf-8", "replace").rstrip())


class EsloggerSource(Source):
    name = "eslogger"
    adapter = staticmethod(eslogger_items)
    trim = staticmethod(without_stat)

    def __init__(
        self,
        pipeline: Pipeline,
        command: tuple[str, ...] = COMMAND,
        *,
        restart_delay: float | None = 5.0,
    ) -> None:
        super().__init__(pipeline)
        self.command = command
        self.restart_delay = restart_delay
        self._proc: subprocess.Popen[bytes] | None = None

    def run(self) -> None:
        while not self.stopping.is_set():
            self._run_once()
            if self.restart_delay is None or self.stopping.wait(self.restart_delay):
                return

    def _run_once(self) -> None:
        stats = self.pipeline.stats
        try:
            proc = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                bufsize=1 << 16,
            )
        except OSError as exc:
            stats.add("died.eslogger")
            log.error("cannot start %s: %s", self.command[0], exc)
            return
        self._proc = proc
        stats.add("started.eslogger")
        assert proc.stdout is not None and proc.stderr is not None
        tail: deque[bytes] = deque(maxlen=5)
        drainer = threading.Thread(
            target=drain,
            args=(proc.stderr, tail, stats, self.name),
            name="ecsquery-eslogger-stderr",
            daemon=True,
        )
        drainer.start()
        for line in batched_lines(proc.stdout):
            self.feed_line(line)
        code = proc.wait()
        drainer.join(5)
        if not self.stopping.is_set():
            stats.add("died.eslogger")
            errors = b"".join(tail).decode("utf-8", "replace").strip()
            log.error("eslogger exited with status %s: %s", code, errors or "(no stderr)")

    def close(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
