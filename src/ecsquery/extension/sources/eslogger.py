"""``eslogger exec fork exit --format json`` as a subprocess, read line by line.

eslogger needs root and Full Disk Access for the responsible app; when it cannot start or
exits, the source counts ``died.eslogger``, logs eslogger's stderr tail, and (unless told not
to) restarts it after a pause so a transient failure does not end collection.
"""

from __future__ import annotations

import logging
import subprocess
from collections import deque

from ecsquery.extension.pipeline import Pipeline
from ecsquery.extension.sources import Source

log = logging.getLogger(__name__)

COMMAND = ("eslogger", "exec", "fork", "exit", "--format", "json")


class EsloggerSource(Source):
    name = "eslogger"

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
                self.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=1 << 16
            )
        except OSError as exc:
            stats.add("died.eslogger")
            log.error("cannot start %s: %s", self.command[0], exc)
            return
        self._proc = proc
        stats.add("started.eslogger")
        assert proc.stdout is not None and proc.stderr is not None
        for line in proc.stdout:
            self.pipeline.feed_line(line, self.name)
        tail = deque(proc.stderr, maxlen=5)
        code = proc.wait()
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
