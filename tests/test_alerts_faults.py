"""The reader under faults an attacker or the log host can produce (issue 16's reader findings).

Each test reproduces one finding of the adversarial review and fails on the code before its fix:
a ``_bulk`` pair cut by a crash, cron mode facing a generation rotated past retention, a
copy-truncate between two polls of an empty live file, a crash before the first checkpoint, a
full disk, a planted symlink at the checkpoint, damaged checkpoints, decompression bombs, cut
compressed files, pipes and FIFOs, and a batch run with no readable input.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import select
import shutil
import signal
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import orjson
import zstandard
from click.testing import CliRunner

from alerts_fixtures import KEYCHAIN, append, drain, event_ids, hit, new_tail, rule
from ecsquery.alerts.batch import read_logs
from ecsquery.alerts.follow import Checkpoint, follow
from ecsquery.alerts.output import AlertSink, Bulk, already_written
from ecsquery.alerts.reader import AlertReader
from ecsquery.alerts.sources import LineSplitter, iter_blocks, open_log
from ecsquery.cli import main

ECSQUERY = str(Path(sys.executable).with_name("ecsquery"))


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["alerts", "--rules", str(KEYCHAIN), *args])
    return result.exit_code, result.stdout, result.stderr


def ids_in(path: Path) -> list[int]:
    return event_ids([orjson.loads(line) for line in path.read_bytes().splitlines()])


def cron(base: Path, out: Path, ck: Path, **kw: Any) -> AlertReader:
    """One cron run (``--checkpoint`` without ``--follow``) into ``out``."""
    reader = AlertReader([rule()])
    with out.open("ab") as stream:
        follow(reader, AlertSink(stream), [base], checkpoint=Checkpoint(ck), output=out,
               poll=0.01, idle_exit=0.0, **kw)  # fmt: skip
    return reader


# -- 2: a _bulk pair is one record -------------------------------------------------------------


def test_bulk_action_line_whose_document_was_cut_is_not_a_written_alert(tmp_path: Path) -> None:
    """A crash between the action line and the end of its document: the action line must go
    too (else the ``_bulk`` body has two action lines in a row) and the alert is rewritten."""
    out = tmp_path / "bulk.ndjson"
    fmt = Bulk("x")  # the default shape: ECS, whose id is ecsquery.alert_id
    whole = fmt.document({"ecsquery": {"alert_id": "u1"}, "n": 1})
    cut = fmt.document({"ecsquery": {"alert_id": "u2"}, "n": 2})
    action_end = cut.index(b"\n") + 1
    out.write_bytes(whole + cut[: action_end + 5])
    assert already_written(out, 0, fmt) == {"u1"}
    assert out.read_bytes() == whole
    out.write_bytes(whole + cut[:action_end])  # cut right after the action line
    assert already_written(out, 0, fmt) == {"u1"}
    assert out.read_bytes() == whole


# -- 3: cron mode reports a gap and goes on from the live file ---------------------------------


def test_cron_mode_reports_a_generation_gone_and_reads_the_live_file(tmp_path: Path) -> None:
    base, out, ck = tmp_path / "r.log", tmp_path / "out.ndjson", tmp_path / "ck.json"
    append(base, b"".join(hit(i) for i in range(3)))
    cron(base, out, ck)
    append(base, hit(3))
    base.rename(tmp_path / "r.log.1")  # rotated ...
    (tmp_path / "r.log.1").unlink()  # ... and past retention before the next run
    append(base, b"".join(hit(i) for i in range(10, 13)))
    reader = cron(base, out, ck, quiet=0.2)
    assert len(reader.summary.gaps) == 1 and "is gone" in reader.summary.gaps[0]
    assert ids_in(out) == [0, 1, 2, 10, 11, 12]
    append(base, hit(13))
    assert cron(base, out, ck).summary.gaps == []  # and the next run goes on from there
    assert ids_in(out) == [0, 1, 2, 10, 11, 12, 13]


# -- 4: copy-truncate before the first line was read -------------------------------------------


def test_copy_truncate_between_two_polls_of_an_empty_live_file(tmp_path: Path) -> None:
    base = tmp_path / "r.log"
    base.touch()
    reader = AlertReader([rule()])
    tail = new_tail(base, reader)
    assert drain(tail, reader) == []  # at offset 0 of an empty file, no fingerprint yet
    append(base, b"".join(hit(i) for i in range(5)))  # a small generation, between two polls,
    shutil.copyfile(base, tmp_path / "r.log.1")  # copied
    with base.open("r+b") as f:
        f.truncate(0)  # and truncated
    assert drain(tail, reader) == [0, 1, 2, 3, 4]
    append(base, hit(5))
    assert drain(tail, reader) == [5]
    assert reader.summary.gaps == []


def test_copy_truncate_then_new_lines_before_the_next_poll(tmp_path: Path) -> None:
    """Lines written after the truncation must not be taken for the generation's start."""
    base = tmp_path / "r.log"
    base.touch()
    reader = AlertReader([rule()])
    tail = new_tail(base, reader)
    assert drain(tail, reader) == []
    append(base, b"".join(hit(i) for i in range(5)))
    shutil.copyfile(base, tmp_path / "r.log.1")
    with base.open("r+b") as f:
        f.truncate(0)
    append(base, b"".join(hit(i) for i in range(5, 8)))
    ids = drain(tail, reader)
    ids += drain(tail, reader)
    assert ids == list(range(8))


def test_cron_run_while_the_live_file_is_renamed_away_reads_the_rotated_generations(
    tmp_path: Path,
) -> None:
    """osquery renames the live file and writes the next one only with its next result: a cron
    run in between found no live file and read nothing, though a whole generation it had never
    seen waited in ``.1`` (found by the cron soak: all 7,280 alerts of a run missing at its
    end, the last rotation a rename)."""
    base, out, ck = tmp_path / "r.log", tmp_path / "out.ndjson", tmp_path / "ck.json"
    base.touch()
    cron(base, out, ck)  # the live file is empty: the checkpoint holds no fingerprint
    append(base, b"".join(hit(i) for i in range(5)))
    base.rename(tmp_path / "r.log.1")  # and no new live file yet
    cron(base, out, ck)
    assert ids_in(out) == [0, 1, 2, 3, 4]
    append(base, hit(5))
    cron(base, out, ck)
    assert ids_in(out) == [0, 1, 2, 3, 4, 5]


# -- 5: the first checkpoint comes before the first alert; a full disk -------------------------


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs (not even ``follow``'s last checkpoint)."""


def test_killed_in_the_first_poll_of_a_backlog_repeats_nothing(tmp_path: Path) -> None:
    base, out, ck = tmp_path / "r.log", tmp_path / "out.ndjson", tmp_path / "ck.json"
    append(base, b"".join(hit(i) for i in range(400)))

    class DyingSink(AlertSink):
        def write_encoded(self, alerts: Any) -> None:
            super().write_encoded(alerts)
            self.stream.flush()
            raise Killed

    with contextlib.suppress(Killed), out.open("ab") as stream:
        follow(AlertReader([rule()]), DyingSink(stream), [base], checkpoint=Checkpoint(ck),
               output=out, idle_exit=0.0)  # fmt: skip
    assert 0 < len(ids_in(out)) < 400 and ck.exists()
    cron(base, out, ck)
    assert ids_in(out) == list(range(400))


def test_full_disk_is_a_clean_error(tmp_path: Path) -> None:
    log = tmp_path / "r.log"
    append(log, b"".join(hit(i) for i in range(50)))
    code, _, err = cli(str(log), "-o", "/dev/full")
    assert code == 1
    assert "cannot write alerts to /dev/full: No space left on device" in err
    assert "Traceback" not in err


def test_full_disk_mid_write_then_rerun_writes_each_alert_once(tmp_path: Path) -> None:
    base, out, ck = tmp_path / "r.log", tmp_path / "out.ndjson", tmp_path / "ck.json"
    append(base, b"".join(hit(i) for i in range(10)))
    cron(base, out, ck)
    append(base, b"".join(hit(i) for i in range(10, 30)))

    class FullSink(AlertSink):
        def write_encoded(self, alerts: Any) -> None:
            data = b"".join(alerts)
            self.stream.write(data[: len(data) // 2])  # what fitted, cut mid-line
            self.stream.flush()
            raise OSError(28, "No space left on device")

    with contextlib.suppress(OSError), out.open("ab") as stream:
        follow(AlertReader([rule()]), FullSink(stream), [base], checkpoint=Checkpoint(ck),
               output=out, idle_exit=0.0)  # fmt: skip
    cron(base, out, ck)  # space again
    assert ids_in(out) == list(range(30))


# -- 9: checkpoint and alert files ---------------------------------------------------------------


def test_checkpoint_never_follows_a_planted_symlink_and_is_private(tmp_path: Path) -> None:
    base, out, ck = tmp_path / "r.log", tmp_path / "out.ndjson", tmp_path / "ck.json"
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    (tmp_path / "ck.json.tmp").symlink_to(victim)  # the old fixed temporary name
    append(base, hit(1))
    code, _, err = cli("--checkpoint", str(ck), "-o", str(out), str(base))
    assert code == 0, err
    assert victim.read_bytes() == b"precious"
    assert os.stat(ck).st_mode & 0o777 == 0o600
    assert os.stat(out).st_mode & 0o777 == 0o600
    assert ids_in(out) == [1]


# -- 12: damaged checkpoints, bombs, cut files, pipes, FIFOs -----------------------------------


def test_damaged_checkpoint_is_a_clean_error_before_any_alert(tmp_path: Path) -> None:
    base, out, ck = tmp_path / "r.log", tmp_path / "out.ndjson", tmp_path / "ck.json"
    append(base, hit(1))
    damaged = [
        {"version": 1, "sources": {str(base): {"offset": "x"}}, "state": {}},
        {"version": 1, "sources": [], "state": {}},
        {"version": 1, "sources": {}, "state": {"seen": {"a": "b"}}},
        {"version": 1, "sources": {}, "state": {}, "output": {"path": 3}},
        {"version": 1, "sources": {}, "state": {}, "new_terms": {"seq": "x"}},
    ]
    for data in damaged:
        ck.write_bytes(orjson.dumps(data))
        code, _, err = cli("--checkpoint", str(ck), "-o", str(out), str(base))
        assert code == 1 and "is damaged" in err and "Traceback" not in err, err
    assert out.read_bytes() == b""


def test_checkpoint_in_a_missing_directory_fails_before_writing_alerts(tmp_path: Path) -> None:
    base, out = tmp_path / "r.log", tmp_path / "out.ndjson"
    append(base, hit(1))
    ck = tmp_path / "no" / "such" / "ck.json"
    code, _, err = cli("--checkpoint", str(ck), "-o", str(out), str(base))
    assert code == 1 and "cannot write checkpoint" in err and "Traceback" not in err
    assert out.read_bytes() == b""  # so a rerun with a good checkpoint repeats nothing


def test_zstd_bomb_is_decompressed_in_bounded_memory(tmp_path: Path) -> None:
    bomb = tmp_path / "r.log.2.zst"
    size = 256 * 1024 * 1024
    with bomb.open("wb") as raw, zstandard.ZstdCompressor().stream_writer(raw) as writer:
        for _ in range(size // (16 * 1024 * 1024)):
            writer.write(b"\n" * (16 * 1024 * 1024))
    assert bomb.stat().st_size < 100_000
    tracemalloc.start()
    try:
        with open_log(bomb) as stream:
            lines = sum(block.lines for block in iter_blocks(stream, LineSplitter(1 << 20), "b"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert lines == size
    assert peak < 32 * 1024 * 1024  # was the whole 256 MiB at once


def test_cut_gzip_and_zstd_keep_their_whole_lines(tmp_path: Path) -> None:
    data = b"".join(hit(i) for i in range(300))
    for name, packed in (
        ("r.log.1.gz", gzip.compress(data)),
        ("r.log.2.zst", zstandard.ZstdCompressor().compress(data)),
    ):
        cut = tmp_path / name
        cut.write_bytes(packed[: len(packed) * 2 // 3])
        reader, out = AlertReader([rule()]), tmp_path / f"{name}.out"
        with out.open("wb") as stream:
            assert read_logs(reader, AlertSink(stream), [cut]) == 1
        got = ids_in(out)
        assert len(got) > 100 and got == list(range(len(got))), name
        (error,) = reader.summary.source_errors
        assert error.startswith(f"{cut}: stopped after line {len(got)}: ") and "cut short" in error


def test_a_pipe_is_read_without_seeking(tmp_path: Path) -> None:
    """``ecsquery alerts <(zstdcat x.zst)``: the path names a pipe, which cannot seek."""
    data = b"".join(hit(i) for i in range(20))
    (tmp_path / "x.zst").write_bytes(zstandard.ZstdCompressor().compress(data))
    (tmp_path / "x.log").write_bytes(data)
    for name in ("x.zst", "x.log"):
        script = f'exec "$0" alerts --rules {KEYCHAIN} --summary none <(cat {tmp_path / name})'
        done = subprocess.run(["bash", "-c", script, ECSQUERY], capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert event_ids([orjson.loads(x) for x in done.stdout.splitlines()]) == list(range(20))


def test_a_live_path_that_is_a_fifo_is_refused_and_sigterm_stops_the_follower(
    tmp_path: Path,
) -> None:
    fifo = tmp_path / "r.log"
    os.mkfifo(fifo)
    code, _, err = cli("--checkpoint", str(tmp_path / "ck.json"), str(fifo))
    assert code == 0 and f"{fifo}: not a regular file" in err  # cron: refused, said, done
    proc = subprocess.Popen(
        [ECSQUERY, "alerts", "--rules", str(KEYCHAIN), "--follow", "--poll", "0.05", str(fifo)],
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    ready, _, _ = select.select([proc.stderr], [], [], 60)  # started, refused it, polling on
    assert ready and b"not a regular file" in proc.stderr.readline()
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=20)  # it used to block in open() forever, SIGTERM or not
    assert proc.returncode == 0


# -- 15: batch mode with nothing readable --------------------------------------------------------


def test_batch_with_no_readable_input_exits_non_zero(tmp_path: Path) -> None:
    code, _, err = cli(str(tmp_path / "missing.log"), str(tmp_path / "gone.log"))
    assert code == 1 and "no input could be read" in err
    log = tmp_path / "r.log"
    append(log, hit(1))
    code, out, _ = cli(str(tmp_path / "missing.log"), str(log))
    assert code == 0 and len(out.splitlines()) == 1  # one readable input is a good run
