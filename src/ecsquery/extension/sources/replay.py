"""NDJSON files of any source's records (eslogger, osquery rows or results logs, ECS docs).

A file that cannot be opened or read is counted (``errors.replay``) and the next one is read.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ecsquery.extension.pipeline import Pipeline
from ecsquery.extension.sources import Source

log = logging.getLogger(__name__)


class ReplaySource(Source):
    name = "replay"

    def __init__(self, pipeline: Pipeline, paths: list[Path]) -> None:
        super().__init__(pipeline)
        self.paths = paths

    def run(self) -> None:
        for path in self.paths:
            try:
                with path.open("rb") as lines:
                    for line in lines:
                        if self.stopping.is_set():
                            return
                        self.feed_line(line)
            except OSError as exc:
                self.pipeline.stats.add(f"errors.{self.name}")
                log.error("replay %s: %s", path, exc)
