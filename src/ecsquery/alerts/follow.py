"""Follow mode: tail result logs across rotation and resume after a crash, losing nothing.

A position is (generation fingerprint, byte offset): the fingerprint names *which* file
generation (see ``sources.fingerprint_of``), so it stays valid while osquery renames the file
to ``.1`` and compresses it to ``.2.zst``, or logrotate copies it and truncates the original.
After a crash the reader finds its generation wherever it went, reads it from the offset (through
the decompressor if need be), then every newer generation, then keeps tailing the live file.

Exactly once, in two guards: the checkpoint (positions plus dedup memory) is written only after
the alerts before it are flushed and fsynced, so a crash can only repeat work, never skip it;
and on restart the alerts that reached the output after the last checkpoint are read back
(``output.already_written``) and not written again — the stable alert id makes that possible.
Those ids stay in every checkpoint (``pending``) until the restarted reader meets their lines
again: a restart that checkpoints halfway through them and dies must not forget the rest.
The new_terms store (``alerts.newterms``) is committed between the two, after the alerts are
synced and before the checkpoint is replaced; it answers what it holds beyond the checkpoint
as it did before the crash, so the guard sees the same alerts again.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import zstandard

from ecsquery.alerts.alert import AlertParts
from ecsquery.alerts.output import AlertSink, already_written
from ecsquery.alerts.reader import AlertReader
from ecsquery.alerts.sources import (
    CHUNK,
    FINGERPRINT_BYTES,
    Block,
    LineSplitter,
    NotRegular,
    chain,
    fingerprint_of,
    open_generation,
    open_regular,
    rotation_look,
    skip,
)
from ecsquery.alerts.state import Checkpoint as Checkpoint  # re-exported: the CLI takes it here
from ecsquery.alerts.state import Position as Position  # re-exported with Checkpoint
from ecsquery.alerts.state import ReaderState
from ecsquery.alerts.summary import Summary

_log = logging.getLogger(__name__)

GAP_QUIET = 2.0
"""Seconds the rotated files must stay as they are, with the generation being read still
missing, before it is reported gone. A rotation can take long (compressing, copying, renaming
one file after another): while anything in it moves, the generation may yet reappear."""
POLL_BYTES = 8 * CHUNK
"""Bytes read from one log per poll; the checkpoint is written between polls."""


class Tail:
    """One followed log path: yields blocks of whole lines as they appear, in order."""

    def __init__(
        self,
        base: Path,
        start: Position,
        summary: Summary,
        *,
        max_line: int,
        quiet: float = GAP_QUIET,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base = base
        self.summary = summary
        self.max_line = max_line
        self.quiet = quiet
        self.clock = clock
        """Seconds for ``quiet`` (a test passes its own, so it need not sleep)."""
        self._fp = start.fingerprint
        self._known_start = start.rotated if start.fingerprint is None else None
        """Used once, by the first open of the live file (a finished generation's successor is
        found by the chain's order instead). A fresh start knows the generations there now:
        what is rotated after this moment is read, what was there before is not."""
        if start == Position():
            self._known_start = tuple(sorted(fp for fp, p in self._chain() if p != base and fp))
        self._offset = start.offset
        """Offset in the current generation where ``_splitter`` started."""
        self._splitter = LineSplitter(max_line, start.line)
        self._head = bytearray()
        self._done: Position | None = None
        """End of the last finished generation: the position while the next has no line yet."""
        self._stream: BinaryIO | None = None
        self._live = False
        self._finished = False
        self._ino: tuple[int, int] | None = None
        self._path = base
        self._missing: tuple[float, frozenset[tuple[Any, ...]]] | None = None
        """Since when (monotonic) the generation is missing, and how the rotated files looked."""
        self._refused: set[str] = set()
        """Paths already reported as not regular files (a FIFO would block a read forever)."""
        self._rotated: tuple[frozenset[tuple[Any, ...]], frozenset[str | None]] | None = None
        """While the live file has no line yet: how the rotated files looked, and their
        fingerprints, when it was opened empty (see ``_rotated_meanwhile``)."""

    @property
    def waiting(self) -> bool:
        """The generation being read is missing and not yet reported gone: a cron run must not
        exit now, or every later run would find it missing again and never report it."""
        return self._missing is not None

    # -- position ---------------------------------------------------------------------------

    def position(self) -> Position:
        if self._fp is not None:
            return Position(
                self._fp, self._offset + self._splitter.consumed, self._splitter.line_no
            )
        if self._done is not None:
            return self._done
        if self._rotated is not None:
            return Position(rotated=tuple(sorted(f for f in self._rotated[1] if f)))
        # Never a bare Position() once started: on restart that means "skip what is there now".
        return Position(rotated=self._known_start if self._known_start is not None else ())

    def _rebase(self) -> None:
        """Restart the splitter at the last whole line (before reopening a stream there)."""
        self._offset += self._splitter.consumed
        self._splitter = LineSplitter(self.max_line, self._splitter.line_no)

    # -- opening ----------------------------------------------------------------------------

    def _chain(self) -> list[tuple[str | None, Path]]:
        return chain(self.base)

    def _open(self) -> bool:
        """Open the generation holding the position; False to try again at the next poll."""
        if self._fp is None and not self._rotated_since_start():
            return self._open_path(self.base, live=True)
        for fp, path in self._chain():
            if fp == self._fp:
                return self._open_path(path, live=path == self.base, expect=fp)
        return self._wait_or_gap(
            f"{self.base}: the generation being read (line {self._splitter.line_no}) is gone "
            "(rotated past retention or deleted); continuing at the start of the live file"
        )

    def _wait_or_gap(self, message: str) -> bool:
        """Wait while the rotated files change; report a gap once they have kept still for
        ``quiet`` seconds without the generation (deleted past retention, say)."""
        now, look = self.clock(), rotation_look(self.base)
        if self._missing is None or self._missing[1] != look:
            self._missing = (now, look)
            return False
        if now - self._missing[0] < self.quiet:
            return False
        _log.warning("gap: %s", message)
        self.summary.gaps.append(message)
        self._missing = None
        self._fp, self._offset, self._done, self._finished = None, 0, None, False
        self._splitter = LineSplitter(self.max_line)
        return self._open_path(self.base, live=True)

    def _open_path(self, path: Path, *, live: bool, expect: str | None = None) -> bool:
        """Open ``path`` at the offset; False to try again at the next poll.

        ``expect`` is the fingerprint the chain saw under ``path``. It is checked again on the
        file actually opened: a rotation may have moved another generation to the name since.
        """
        self._rebase()
        before: tuple[frozenset[tuple[Any, ...]], frozenset[str | None]] | None = None
        if live and self._fp is None and self._offset == 0:  # the rotated files before the open
            if self._known_start is not None:  # a restart: as the last run saw them
                before = (frozenset(), frozenset(self._known_start))
            else:  # (taken after the open, a copy-truncate in between would be missed)
                done = {self._done.fingerprint} if self._done is not None else set()
                before = (rotation_look(self.base), self._rotated_fps() | done)
        try:
            if live:
                stream: BinaryIO = open_regular(path)
                found = fingerprint_of(os.pread(stream.fileno(), FINGERPRINT_BYTES, 0))
            else:
                stream, found = open_generation(path)
        except NotRegular as exc:
            if str(path) not in self._refused:
                self._refused.add(str(path))
                message = f"{path}: not a regular file ({exc}); not followed"
                _log.warning("%s", message)
                self.summary.source_errors.append(message)
            return False
        except (OSError, EOFError, zstandard.ZstdError):
            return False
        try:
            if expect is not None and found != expect:
                stream.close()
                return False
            if live:
                info = os.fstat(stream.fileno())
                ready = info.st_size >= self._offset
                if ready:
                    stream.seek(self._offset)
                    self._ino = (info.st_dev, info.st_ino)
            else:
                ready = skip(stream, self._offset) >= self._offset
        except (OSError, EOFError, zstandard.ZstdError):
            ready = False
        if not ready:
            stream.close()
            return False
        if before is not None:
            self._rotated, self._known_start = before, None
        _log.debug("reading %s from byte %d (line %d)", path, self._offset, self._splitter.line_no)
        self._stream, self._live, self._path, self._finished = stream, live, path, False
        self._head = bytearray()
        self._missing = None
        return True

    def _close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        self._stream = None

    def close(self) -> None:
        self._close()

    # -- reading ----------------------------------------------------------------------------

    def poll(self, budget: int | None = None) -> Iterator[Block]:
        """Blocks of whole lines newly readable, in order (about ``budget`` bytes at most)."""
        if budget is None:
            budget = POLL_BYTES
        while budget > 0:
            if self._finished and not self._next_generation():
                return
            if self._stream is None and not self._open():
                return
            assert self._stream is not None
            try:
                data = self._stream.read(CHUNK)
            except (OSError, EOFError, zstandard.ZstdError):
                self._close()  # compressed copy still being written, or gone: reopen later
                return
            if self._live and self._fp is None and self._rotated_meanwhile():
                continue  # after the read: a copy-truncate just before it gave it the new lines
            if data and self._live and self._truncated(len(data)):
                data = b""  # read after a copy-truncate: maybe the new content; use the copy
            if data:
                budget -= len(data)
                yield from self._feed(data)
                continue
            if self._live:
                if self._truncated(0):  # copy-truncate: the rest of this generation is in its copy
                    self._close()
                    self._live = False
                    continue
                if not self._renamed():
                    return  # idle: the live file is ours and has nothing new
                while data := self._stream.read(CHUNK):  # written before the rename
                    yield from self._feed(data)
            yield from self._emit(*self._splitter.finish())
            self._close()
            self._finished = True

    def _feed(self, data: bytes) -> Iterator[Block]:
        if self._fp is None and self._offset == 0 and len(self._head) < FINGERPRINT_BYTES:
            self._head += data[: FINGERPRINT_BYTES - len(self._head)]
            self._fp = fingerprint_of(bytes(self._head))
        yield from self._emit(*self._splitter.feed(data))

    def _emit(self, block: bytes, first: int) -> Iterator[Block]:
        for line_no, size in self._splitter.long_lines:
            self.summary.bad_line(
                f"line longer than {self.max_line} bytes", str(self._path), line_no, f"{size}"
            )
        self._splitter.long_lines.clear()
        if block:
            yield Block(block, str(self._path), first, self._splitter.line_no - first)

    def _rotated_fps(self) -> frozenset[str | None]:
        return frozenset(fp for fp, path in self._chain() if path != self.base)

    def _rotated_meanwhile(self) -> bool:
        """Before the live file's first line is read: did a generation appear among the
        rotated files since it was opened empty? Then lines were written to it and it was
        copied and truncated (or renamed) between two polls: read that generation first.

        Identity, not sizes: a copy-truncate leaves the live file as empty as it was, and lines
        written after it would otherwise be taken for the start of the generation.
        """
        if self._rotated is None or self._offset + self._splitter.consumed:
            return False
        look, known = self._rotated
        now = rotation_look(self.base)
        if now == look:
            return False
        if not self._to_oldest_new(known):
            self._rotated = (now, known)
            return False
        _log.debug("%s: a generation was rotated before its first line was read", self.base)
        return True

    def _rotated_since_start(self) -> bool:
        """On a restart before the live file's first line: read what was rotated since first,
        even with no live file (a rename, until the next line), or a cron run reads nothing."""
        return self._known_start is not None and self._to_oldest_new(self._known_start)

    def _to_oldest_new(self, known: tuple[str, ...] | frozenset[str | None]) -> bool:
        """To the start of the oldest rotated generation newer than every ``known`` one (the
        chain leads on from there); False if there is none.

        Only newer ones: rotation puts new generations in front, so one behind a known one
        was there when ``known`` was taken and was missed by that listing (renamed under
        it). Counted as new, it was read again with every generation after it (cron soak).
        """
        new = []
        for fp, path in self._chain():
            if fp in known:
                break
            if path != self.base:
                new.append(fp)
        if not new:
            return False
        self._close()
        self._rotated = self._known_start = None
        self._fp, self._offset = new[-1], 0  # the oldest new one (newest first in the chain)
        self._splitter = LineSplitter(self.max_line)
        self._head = bytearray()
        return True

    def _renamed(self) -> bool:
        """The live path now names another file (or none): our file was rotated away."""
        try:
            now = os.stat(self.base)
        except FileNotFoundError:
            return True
        return (now.st_dev, now.st_ino) != self._ino

    def _truncated(self, just_read: int) -> bool:
        """Our open file was cut (and maybe written again): its content is not ours any more."""
        assert self._stream is not None
        fd = self._stream.fileno()
        read_to = self._offset + self._splitter.consumed + self._splitter.buffered + just_read
        if os.fstat(fd).st_size < read_to:
            return True
        head = os.pread(fd, FINGERPRINT_BYTES, 0)
        return self._fp is not None and fingerprint_of(head) != self._fp

    def _next_generation(self) -> bool:
        """After a generation is read to its end: open the next newer one, if there is one yet."""
        chain = self._chain()
        if self._fp is None:  # it never had a whole line: nothing to place, go to the live file
            self._offset = 0  # (``_done`` still places the last finished generation)
            self._splitter = LineSplitter(self.max_line)
            return self._open_path(self.base, live=True)
        index = next((i for i, (fp, _) in enumerate(chain) if fp == self._fp), None)
        if index is None:
            return self._wait_or_gap(
                f"{self.base}: lost the place of a finished generation among the rotated "
                "files; continuing at the start of the live file"
            )
        if index == 0:
            if chain[0][1] == self.base:  # still the live file after all: keep tailing it
                self._finished = False
                return self._open_path(self.base, live=True, expect=self._fp)
            return False  # rotated, and the new live file is not there yet
        self._done = self.position()
        self._fp, self._offset = None, 0
        self._splitter = LineSplitter(self.max_line)
        expect, path = chain[index - 1]
        if not self._open_path(path, live=path == self.base, expect=expect):
            self._fp, self._offset = self._done.fingerprint, self._done.offset
            self._splitter = LineSplitter(self.max_line, self._done.line)
            return False
        return True


def follow(
    reader: AlertReader,
    sink: AlertSink,
    logs: list[Path],
    *,
    checkpoint: Checkpoint | None = None,
    output: Path | None = None,
    poll: float = 1.0,
    idle_exit: float | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    quiet: float = GAP_QUIET,
) -> None:
    """Tail ``logs`` until stopped (or idle for ``idle_exit`` seconds), checkpointing as it goes."""
    saved = checkpoint.load() if checkpoint else None
    sources: dict[str, Any] = {}
    guard: set[str] = set()
    gate = reader.new_terms
    if gate is not None and checkpoint is not None:
        problem = gate.resume((saved or {}).get("new_terms"))
        if problem:
            _log.warning("%s", problem)
            reader.summary.source_errors.append(problem)
    if saved:
        sources = dict(saved.get("sources") or {})
        reader.state = ReaderState.from_json(saved.get("state") or {})
        out = saved.get("output")
        if output is not None and out and out.get("path") == str(output.resolve()):
            guard = already_written(output, int(out.get("size", 0)), sink.format)
            guard.update(map(str, out.get("pending") or ()))
    keys = [str(p.resolve()) for p in logs]
    summary, max_line = reader.summary, reader.max_line_bytes
    tails = [
        Tail(p, Position.from_json(sources.get(k)), summary, max_line=max_line, quiet=quiet)
        for p, k in zip(logs, keys, strict=True)
    ]

    def positions() -> dict[str, Any]:
        return {k: t.position().to_json() for k, t in zip(keys, tails, strict=True)}

    def save() -> None:
        size = sink.sync()
        if checkpoint is not None:
            out = None
            if output is not None and size is not None:
                # Alerts written by a run that died before checkpointing them and not yet met
                # again: still in the output but before ``size`` now, so name them here.
                out = {"path": str(output.resolve()), "size": size}
                if guard:
                    out["pending"] = sorted(guard)
            data = {"sources": positions(), "output": out, "state": reader.state.to_json()}
            if gate is None:
                checkpoint.save(data)
                return
            part = gate.commit()  # after the alerts are synced, before the checkpoint
            checkpoint.save({**data, "new_terms": part})
            gate.saved(part)

    def encode(alert: AlertParts) -> bytes:
        """Nothing for an alert already in the output (written before a crash)."""
        if guard and _take(guard, alert.uuid):
            return b""
        return sink.encode(alert)

    last = positions()
    idle_since = time.monotonic()
    try:
        # A checkpoint before the first alert: it names the output's size now, so a run killed
        # in its first poll (a backlog) leaves its alerts guarded, not repeated on restart; and
        # a checkpoint that cannot be written fails here, before any alert is.
        save()
        while not should_stop():
            for tail in tails:
                for block in tail.poll():
                    sink.write_encoded(reader.read(block, encode))
            now = positions()
            if now != last:
                save()
                last = now
                idle_since = time.monotonic()
            elif (
                idle_exit is not None
                and time.monotonic() - idle_since >= idle_exit
                and not any(tail.waiting for tail in tails)
            ):
                break
            else:
                time.sleep(poll)
        save()  # only on a clean stop: mid-block, the tails are ahead of what was written
    finally:
        for tail in tails:
            tail.close()


def _take(guard: set[str], uuid: str) -> bool:
    if uuid in guard:
        guard.discard(uuid)
        return True
    return False
