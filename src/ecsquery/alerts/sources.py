"""Where result lines come from: plain, gzip or zstd files, rotated sets, stdin.

osqueryd's filesystem logger rotates ``osqueryd.results.log`` itself (``--logger_rotate``):
the live file is renamed to ``.1``, and ``.1`` is compressed with zstd to ``.2.zst`` as it
moves on (osquery/logger/logrotate.cpp); logrotate(8) makes ``.1`` and ``.2.gz`` instead. The
format is therefore told by magic bytes, not by name, and a rotated set is read oldest first.

A zstd file that is still being written (osquery compresses in place) must not pass for a
finished one, so zstd is decoded frame by frame here and a cut frame raises ``TruncatedFile``,
as ``gzip`` already does.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple, cast

import zstandard

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
CHUNK = 1 << 20
FINGERPRINT_BYTES = 4096

_ROTATED = re.compile(r"^(?P<base>.+?)\.(?P<n>\d+)(?:\.(?:gz|zst))?$")


class TruncatedFile(EOFError):
    """A compressed file ends inside a frame: cut short, or still being written."""


class ZstdStream(io.RawIOBase):
    """Decompresses every frame of a zstd file; a frame cut short raises ``TruncatedFile``."""

    def __init__(self, raw: BinaryIO, *, close_raw: bool = True) -> None:
        self._raw = raw
        self._close_raw = close_raw
        self._dctx = zstandard.ZstdDecompressor()
        self._obj = self._dctx.decompressobj()
        self._buf = bytearray()
        self._in_frame = False
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buf:
            if self._eof:
                return 0
            data = self._raw.read(CHUNK)
            if not data:
                self._eof = True
                if self._in_frame:
                    raise TruncatedFile("zstd frame cut short")
                return 0
            self._feed(data)
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        del self._buf[:n]
        return n

    def _feed(self, data: bytes) -> None:
        while data:
            self._in_frame = True
            self._buf += self._obj.decompress(data)
            if not self._obj.eof:
                return
            data = self._obj.unused_data
            self._obj = self._dctx.decompressobj()
            self._in_frame = False

    def close(self) -> None:
        if self._close_raw:
            self._raw.close()
        super().close()


class _Gzip(gzip.GzipFile):
    """GzipFile that closes the file it reads (``gzip.GzipFile(fileobj=...)`` does not)."""

    def __init__(self, raw: BinaryIO) -> None:
        super().__init__(fileobj=raw, mode="rb")
        self._raw = raw

    def close(self) -> None:
        super().close()
        self._raw.close()


def open_log(path: Path) -> BinaryIO:
    """A decompressed byte stream of a log file, whatever its compression."""
    return _decompressed(path.open("rb"))


def open_generation(path: Path) -> tuple[BinaryIO, str | None]:
    """A log's decompressed stream and the ``fingerprint`` of that very file.

    Both come from one open file. A rotation can give the name to another generation at any
    moment, so fingerprinting a name and then opening it may open a different generation than
    the one fingerprinted: follow mode once read the rest of a newer generation in place of an
    older one that way, and lost the older one's end.
    """
    raw = path.open("rb")
    try:
        head = _head(raw)
    except BaseException:
        raw.close()
        raise
    return _decompressed(raw), fingerprint_of(head)


def _decompressed(raw: BinaryIO) -> BinaryIO:
    magic = raw.read(4)
    raw.seek(0)
    if magic[:2] == GZIP_MAGIC:
        return cast(BinaryIO, _Gzip(raw))
    if magic == ZSTD_MAGIC:
        return io.BufferedReader(ZstdStream(raw), CHUNK)
    return raw


def _head(raw: BinaryIO) -> bytes:
    """The first ``FINGERPRINT_BYTES`` decompressed bytes of an open file, which is left open
    at its start."""
    magic = raw.read(4)
    raw.seek(0)
    stream: BinaryIO
    if magic[:2] == GZIP_MAGIC:
        stream = cast(BinaryIO, gzip.GzipFile(fileobj=raw, mode="rb"))  # leaves raw open
    elif magic == ZSTD_MAGIC:
        stream = cast(BinaryIO, ZstdStream(raw, close_raw=False))
    else:
        stream = raw
    try:
        return read_fully(stream, FINGERPRINT_BYTES)
    finally:
        if stream is not raw:
            stream.close()
        raw.seek(0)


def read_fully(stream: BinaryIO, size: int) -> bytes:
    """Up to ``size`` bytes (decompressing streams may return less per read)."""
    parts: list[bytes] = []
    while size > 0:
        data = stream.read(size)
        if not data:
            break
        parts.append(data)
        size -= len(data)
    return b"".join(parts)


def fingerprint_of(head: bytes) -> str | None:
    """Identity of a log generation: a hash of its first line (at most 4 KiB of it).

    The first line of an append-only file never changes, survives rename, copy and
    compression, and differs between generations (it holds a time and a counter). None while
    the first line is not complete yet.
    """
    newline = head.find(b"\n", 0, FINGERPRINT_BYTES)
    if newline < 0:
        if len(head) < FINGERPRINT_BYTES:
            return None
        newline = FINGERPRINT_BYTES - 1
    return hashlib.sha256(head[: newline + 1]).hexdigest()[:32]


def fingerprint(path: Path) -> str | None:
    """``fingerprint_of`` a file's decompressed head; None if unreadable or still empty."""
    try:
        with path.open("rb") as raw:
            return fingerprint_of(_head(raw))
    except (OSError, EOFError, zstandard.ZstdError):
        return None


def rotation_index(path: Path) -> tuple[str, int]:
    """(base name, generation number): ``x.log`` → 0, ``x.log.1`` → 1, ``x.log.2.zst`` → 2."""
    match = _ROTATED.match(path.name)
    if match is None:
        return path.name, 0
    return match["base"], int(match["n"])


def log_order(paths: Iterable[Path]) -> list[Path]:
    """Inputs oldest first within each rotated set (``.3.zst .2.zst .1`` then the live file).

    Sets keep the order they were first named in; other files keep theirs.
    """
    groups: dict[tuple[Path, str], list[Path]] = {}
    for path in paths:
        base, _ = rotation_index(path)
        groups.setdefault((path.parent, base), []).append(path)
    ordered: list[Path] = []
    for members in groups.values():
        ordered.extend(sorted(members, key=lambda p: -rotation_index(p)[1]))
    return ordered


def generations(base: Path) -> list[Path]:
    """The live file and its rotated copies, newest first (plain before compressed)."""
    pattern = re.compile(re.escape(base.name) + r"\.(\d+)(\.gz|\.zst)?")
    found: list[tuple[int, int, Path]] = []
    try:
        entries = list(base.parent.iterdir())
    except OSError:
        entries = []
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match:
            found.append((int(match[1]), 1 if match[2] else 0, entry))
    found.sort()
    return ([base] if base.exists() else []) + [p for _, _, p in found]


def rotation_look(base: Path) -> frozenset[tuple[Any, ...]]:
    """How the log's rotated files look now (names, sizes, times; the live file's identity):
    any change means a rotation is under way. The live file's size is left out, since it grows
    without rotating."""
    look: set[tuple[Any, ...]] = set()
    prefix = base.name + "."
    try:
        with os.scandir(base.parent) as entries:
            for entry in entries:
                if entry.name != base.name and not entry.name.startswith(prefix):
                    continue
                try:
                    info = entry.stat()
                except OSError:
                    continue
                if entry.name == base.name:
                    look.add((entry.name, info.st_ino))
                else:
                    look.add((entry.name, info.st_ino, info.st_size, info.st_mtime_ns))
    except OSError:
        pass
    return frozenset(look)


class Block(NamedTuple):
    """Whole lines read from one source: ``lines`` of them, the first being line ``first``."""

    data: bytes
    source: str
    first: int
    lines: int

    @classmethod
    def of(cls, data: bytes, source: str = "-", first: int = 1) -> Block:
        """A block of bytes from anywhere (its lines counted; the last may lack a newline)."""
        lines = count_lines(data) + (1 if data and not data.endswith(b"\n") else 0)
        return cls(data, source, first, lines)


def count_lines(block: bytes) -> int:
    """Newlines in a block.

    ``bytes.count`` of a single byte walks the block byte by byte; dropping the newlines
    copies the runs between them with memcpy, about 3× faster on log lines — and counting is
    most of what skipping other queries' lines costs.
    """
    return len(block) - len(block.replace(b"\n", b""))


class LineSplitter:
    """Cuts a byte stream into blocks of whole lines, in bounded memory.

    A line longer than ``max_line`` is dropped as it streams by (its length and number are
    reported in ``long_lines``) instead of being buffered whole. ``consumed`` counts the bytes
    of every finished line, so a reader can checkpoint exactly up to the last whole line.
    """

    def __init__(self, max_line: int, line_no: int = 1) -> None:
        self.max_line = max_line
        self.line_no = line_no
        """Number of the next line to finish."""
        self.consumed = 0
        self.pending = bytearray()
        self.long_lines: list[tuple[int, int]] = []
        self._discarding = 0

    def feed(self, data: bytes) -> tuple[bytes, int]:
        """(block of whole lines, number of its first line); the block may be empty."""
        if self._discarding:
            newline = data.find(b"\n")
            if newline < 0:
                self._discarding += len(data)
                return b"", self.line_no
            self._end_long(self._discarding + newline + 1)
            data = data[newline + 1 :]
        last = data.rfind(b"\n")
        if last < 0:
            self.pending += data
            self._check_pending()
            return b"", self.line_no
        block = bytes(self.pending) + data[: last + 1] if self.pending else data[: last + 1]
        self.pending = bytearray(data[last + 1 :])
        first = self.line_no
        self.line_no += count_lines(block)
        self.consumed += len(block)
        self._check_pending()
        return block, first

    def finish(self) -> tuple[bytes, int]:
        """The last line of a finished file, which may lack its newline."""
        if self._discarding:
            self._end_long(self._discarding)
        block, first = bytes(self.pending), self.line_no
        if block:
            self.line_no += 1
            self.consumed += len(block)
        self.pending.clear()
        return block, first

    @property
    def buffered(self) -> int:
        """Bytes read but not yet part of a finished line."""
        return len(self.pending) + self._discarding

    def _check_pending(self) -> None:
        if len(self.pending) > self.max_line:
            self._discarding = len(self.pending)
            self.pending.clear()

    def _end_long(self, size: int) -> None:
        self.long_lines.append((self.line_no, size))
        self.line_no += 1
        self.consumed += size
        self._discarding = 0


def iter_blocks(stream: BinaryIO, splitter: LineSplitter, source: str) -> Iterator[Block]:
    """Blocks of whole lines from a finished stream, to its end (may be empty: long lines)."""
    while True:
        data = stream.read(CHUNK)
        if not data:
            break
        block, first = splitter.feed(data)
        if block or splitter.long_lines:
            yield Block(block, source, first, splitter.line_no - first)
    block, first = splitter.finish()
    if block or splitter.long_lines:
        yield Block(block, source, first, splitter.line_no - first)
