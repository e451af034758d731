"""eslogger's stdout read in chunks: every line exactly once, whatever the chunk boundaries."""

from __future__ import annotations

import os
import threading
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from ecsquery.extension.sources.eslogger import READ_CHUNK, batched_lines


def _read_all(writes: list[bytes], pause: float = 0.0) -> list[bytes]:
    read_end, write_end = os.pipe()

    def writer() -> None:
        for data in writes:
            os.write(write_end, data)
            time.sleep(pause)
        os.close(write_end)

    thread = threading.Thread(target=writer)
    thread.start()
    with os.fdopen(read_end, "rb", buffering=0) as stream:
        lines = list(batched_lines(stream, pause=0.001))
    thread.join()
    return lines


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=300).map(lambda b: b.replace(b"\n", b"")), max_size=30))
def test_every_line_once_in_order(lines: list[bytes]) -> None:
    data = b"".join(line + b"\n" for line in lines)
    cuts = sorted({len(data) // 3, len(data) // 2, len(data) - 1} - {0, -1})
    writes = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    assert _read_all([w for w in writes if w]) == lines


def test_a_line_longer_than_a_chunk_and_a_last_line_without_newline() -> None:
    long = b"x" * (3 * READ_CHUNK + 5)
    assert _read_all([b'{"a":1}\n', long[:100], long[100:] + b"\n", b"tail"], pause=0.01) == [
        b'{"a":1}',
        long,
        b"tail",
    ]
