"""Batch mode: read finished logs (and stdin) once, oldest generation first.

A file that cannot be opened, or breaks off while being read (a cut compressed stream, a
read error), is named in the summary with how far it got; the other files are still read.
A file deleted while it is read is read to its end: the open descriptor keeps it alive.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import zstandard

from ecsquery.alerts.output import AlertSink
from ecsquery.alerts.reader import AlertReader
from ecsquery.alerts.sources import LineSplitter, iter_blocks, log_order, open_log

STDIN = Path("-")


def read_stream(reader: AlertReader, sink: AlertSink, stream: BinaryIO, source: str) -> None:
    """Every line of one stream through the reader into the sink; read errors are reported
    (the lines before the error are kept: a cut compressed file gives what it holds)."""
    splitter = LineSplitter(reader.max_line_bytes)
    blocks = iter_blocks(stream, splitter, source)
    while True:
        try:  # only reading: an error writing the alerts is not this input's fault
            block = next(blocks, None)
        except (OSError, EOFError, zstandard.ZstdError) as exc:
            reader.summary.source_errors.append(
                f"{source}: stopped after line {splitter.line_no - 1}: {exc}"
            )
            return
        if block is None:
            return
        for line_no, size in splitter.long_lines:
            reader.summary.bad_line(
                f"line longer than {reader.max_line_bytes} bytes", source, line_no, f"{size}"
            )
        splitter.long_lines.clear()
        sink.write_encoded(reader.read(block, sink.encode))


def read_logs(
    reader: AlertReader, sink: AlertSink, paths: Iterable[Path], stdin: BinaryIO | None = None
) -> int:
    """Read each path (``-`` is ``stdin``), rotated sets oldest first, then sync the sink; the
    number of inputs that could be opened."""
    opened = 0
    for path in log_order(paths):
        if path == STDIN:
            if stdin is not None:
                read_stream(reader, sink, stdin, "<stdin>")
                opened += 1
            continue
        try:
            stream = open_log(path)
        except OSError as exc:
            reader.summary.source_errors.append(f"{path}: cannot open: {exc.strerror or exc}")
            continue
        opened += 1
        with stream:
            read_stream(reader, sink, stream, str(path))
    sink.sync()
    return opened
