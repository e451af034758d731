"""Event sources: each reads one kind of input on its own thread and feeds the pipeline.

A source never raises into the server: bad lines are counted by the pipeline, any other
failure on one record is counted as ``bad.unexpected`` (:meth:`Source.feed_line`), and a source
that dies (eslogger exits, osqueryd restarts) is counted and logged while the table keeps
serving what the window holds.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import Any

from ecsquery.extension import wire
from ecsquery.extension.normalize import Item
from ecsquery.extension.pipeline import Pipeline, unexpected

log = logging.getLogger(__name__)


class Source(ABC):
    """A reader thread with a stop flag; ``run`` returns when input ends or on ``stop``."""

    name = "source"
    adapter: Callable[[Any], Iterable[Item]] | None = None
    """What turns this source's records into items (None: ``normalize``, by their shape)."""
    trim: Callable[[str], str] | None = None
    """What the pipeline cuts from this source's lines before decoding them (``feed_line``)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @abstractmethod
    def run(self) -> None: ...

    def feed_line(self, line: bytes) -> None:
        """One input line into the pipeline, as text (:func:`wire.text`: a byte that is not
        UTF-8 is U+FFFD, not a lost line); whatever else goes wrong with it is counted under
        ``bad.unexpected`` and the loop goes on."""
        try:
            self.pipeline.feed_line(wire.text(line), self.name, self.adapter, self.trim)
        except Exception as exc:
            self.pipeline.reject(self.name, unexpected(exc))

    def _main(self) -> None:
        try:
            self.run()
        except Exception:  # a source must never take the extension down with it
            self.pipeline.stats.add(f"died.{self.name}")
            log.exception("source %s died", self.name)

    def start(self) -> threading.Thread:
        self._thread = threading.Thread(target=self._main, name=f"ecsquery-{self.name}")
        self._thread.daemon = True
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        self.close()
        if self._thread is not None:
            self._thread.join(timeout)

    def close(self) -> None:  # noqa: B027 (optional hook, most sources have nothing to release)
        """Release what ``run`` may be blocked on (a pipe, a socket)."""

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
