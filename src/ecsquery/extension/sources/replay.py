"""NDJSON files of any source's records (eslogger, osquery rows or results logs, ECS docs)."""

from __future__ import annotations

from pathlib import Path

from ecsquery.extension.pipeline import Pipeline
from ecsquery.extension.sources import Source


class ReplaySource(Source):
    name = "replay"

    def __init__(self, pipeline: Pipeline, paths: list[Path]) -> None:
        super().__init__(pipeline)
        self.paths = paths

    def run(self) -> None:
        for path in self.paths:
            with path.open("rb") as lines:
                for line in lines:
                    if self.stopping.is_set():
                        return
                    self.pipeline.feed_line(line, self.name)
