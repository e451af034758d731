"""Where result lines come from: plain, gzip or zstd files, rotated sets, stdin.

osqueryd's filesystem logger rotates ``osqueryd.results.log`` itself (``--logger_rotate``):
the live file is renamed to ``.1``, and ``.1`` is compressed with zstd to ``.2.zst`` as it
moves on (osquery/logger/logrotate.cpp); logrotate(8) makes ``.1`` and ``.2.gz`` instead. The
format is therefore told by magic bytes, not by name, and a rotated set is read oldest first.

Both compressions are decoded here (``Decompressed``), frame by frame and in bounded memory:
a file that is cut, or still being written (osquery compresses in place), gives its whole
lines and then raises ``TruncatedFile``; it never passes for a finished one.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple, cast

import zstandard

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
CHUNK = 256 * 1024
"""Bytes read at a time. Small enough to stay in the CPU's L2 cache between the passes a block
gets (read, join, count, ``find``): skipping other queries' lines is ~1.5× faster than with
1 MiB reads (measured with ``make bench``), and per-block costs are still negligible."""
FINGERPRINT_BYTES = 4096

_ROTATED = re.compile(r"^(?P<base>.+?)\.(?P<n>\d+)(?:\.(?:gz|zst))?$")


class TruncatedFile(EOFError):
    """A compressed file ends inside a frame: cut short, or still being written."""


OUTPUT_LIMIT = 4 * CHUNK
"""Most decompressed bytes one ``read`` makes, whatever the input: a 100 KB zstd file can hold
gigabytes of newlines, and decompressing a read's input in one call would hold them all."""
ZSTD_PIECE = 128
"""Compressed bytes decoded per zstd call. zstd expands at most ~32768× (an RLE block: 4 bytes
for 128 KiB), so a piece makes at most 4 MiB; zlib takes an output limit itself."""


class Decompressed(io.RawIOBase):
    """A gzip or zstd file's decompressed bytes, every member or frame, in bounded memory.

    A read returns what has been decoded so far (at most ``OUTPUT_LIMIT`` bytes) before an
    input that ends inside a frame raises ``TruncatedFile`` on the next read: the whole lines
    of a cut file are kept, and a file still being written (osquery compresses in place) never
    passes for a finished one.
    """

    def __init__(self, raw: BinaryIO, kind: str, *, close_raw: bool = True) -> None:
        self._raw = raw
        self._close_raw = close_raw
        self._zstd = kind == "zstd"
        self._dctx = zstandard.ZstdDecompressor() if self._zstd else None
        self._obj: Any = None
        self._in = b""
        self._out = bytearray()
        self._eof = False

    def readable(self) -> bool:
        return True

    def _new(self) -> Any:
        if self._dctx is not None:
            return self._dctx.decompressobj()
        return zlib.decompressobj(zlib.MAX_WBITS | 16)

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._out:
            if not self._in:
                if self._eof:
                    return 0
                self._in = self._raw.read(CHUNK)
                if not self._in:
                    self._eof = True
                    if self._obj is not None:  # inside a frame or member
                        what = "zstd frame" if self._zstd else "gzip member"
                        raise TruncatedFile(f"{what} cut short")
                    return 0
            self._decode()
        n = min(len(b), len(self._out))
        b[:n] = self._out[:n]
        del self._out[:n]
        return n

    def _decode(self) -> None:
        """Some of ``_in`` into ``_out`` (bounded); a finished frame or member closes."""
        obj = self._obj = self._obj or self._new()
        try:
            if self._zstd:
                piece, self._in = self._in[:ZSTD_PIECE], self._in[ZSTD_PIECE:]
                self._out += obj.decompress(piece)
            else:
                self._out += obj.decompress(self._in, OUTPUT_LIMIT)
                self._in = obj.unconsumed_tail
        except zlib.error as exc:
            raise OSError(f"gzip: {exc}") from exc
        if obj.eof:
            self._in = obj.unused_data + self._in
            self._obj = None

    def close(self) -> None:
        if self._close_raw:
            self._raw.close()
        super().close()


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
    raw = io.BufferedReader(cast(io.FileIO, open_regular(path)))
    try:
        head = _head(raw)
    except BaseException:
        raw.close()
        raise
    return _decompressed(raw), fingerprint_of(head)


def _kind(raw: BinaryIO) -> str | None:
    """ "gzip", "zstd" or None (plain), by magic bytes, without moving the stream: ``peek``
    works on pipes too (``ecsquery alerts <(zstdcat x.zst)``)."""
    peek = getattr(raw, "peek", None)
    if peek is not None:
        magic = peek(4)[:4]
    else:
        magic = raw.read(4)
        raw.seek(0)
    if magic[:2] == GZIP_MAGIC:
        return "gzip"
    return "zstd" if magic == ZSTD_MAGIC else None


def _decompressed(raw: BinaryIO) -> BinaryIO:
    kind = _kind(raw)
    return raw if kind is None else cast(BinaryIO, Decompressed(raw, kind))


def _head(raw: BinaryIO) -> bytes:
    """The first ``FINGERPRINT_BYTES`` decompressed bytes of an open file, which is left open
    at its start."""
    kind = _kind(raw)
    stream = raw if kind is None else cast(BinaryIO, Decompressed(raw, kind, close_raw=False))
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
    try:  # never blocks: a FIFO planted among the rotated files is not a generation
        with io.BufferedReader(cast(io.FileIO, open_regular(path))) as raw:
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


CHAIN_TRIES = 4
"""Listings of the rotated files per ``chain``, at most, while a rotation renames them."""


def chain(base: Path) -> list[tuple[str | None, Path]]:
    """A log's generations newest first with their fingerprints, one entry per fingerprint (a
    copy mid-compression is there twice).

    A rotated file without a fingerprint yet is left out: it is a copy or a compression still
    being written (of a generation that is still in the chain under its old name), or empty.
    Taken for a generation, a half-made copy would be read as finished.

    Each name is opened after the directory is listed, so a rotation renaming files in between
    (``.2.zst`` → ``.3.zst``, ``.1`` compressed and removed) can leave a generation out, or show
    it under two names and another under none: the listing is taken again until it is the
    same after the opens as before them (a few times at most).
    """
    found: list[tuple[str | None, Path]] = []
    listed = generations(base)
    for _ in range(CHAIN_TRIES):
        found = _fingerprinted(base, listed)
        again = generations(base)
        if again == listed:
            break
        listed = again
    return found


def _fingerprinted(base: Path, paths: list[Path]) -> list[tuple[str | None, Path]]:
    found: list[tuple[str | None, Path]] = []
    seen: set[str] = set()
    for path in paths:
        fp = fingerprint(path)
        if fp is None and path != base:
            continue
        if fp is not None and fp in seen:
            continue
        if fp is not None:
            seen.add(fp)
        found.append((fp, path))
    return found


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


def skip(stream: BinaryIO, count: int) -> int:
    """Move ``count`` bytes into a stream (seek a plain file, read through a compressed one)."""
    if isinstance(stream, io.BufferedReader) and isinstance(stream.raw, io.FileIO):
        size = os.fstat(stream.fileno()).st_size
        return stream.seek(min(count, size))
    skipped = 0
    while skipped < count:
        data = stream.read(min(CHUNK, count - skipped))
        if not data:
            break
        skipped += len(data)
    return skipped


class NotRegular(OSError):
    """A followed path that is not a regular file."""


def open_regular(path: Path) -> BinaryIO:
    """Open a live log without blocking (a FIFO would block ``open`` and every read) and
    refuse anything but a regular file."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegular(f"mode {stat.filemode(info.st_mode)}")
        os.set_blocking(fd, True)
        return open(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise


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
        # one copy of the chunk, not two (slice, then concatenation): this is most of what
        # skipping other queries' lines costs
        block = (
            b"".join((self.pending, memoryview(data)[: last + 1]))
            if self.pending
            else data[: last + 1]
        )
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
