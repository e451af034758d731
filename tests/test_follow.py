"""Follow mode: rotation by rename and by copy-truncate, compression, checkpoints, SIGKILL."""

from __future__ import annotations

import contextlib
import gzip
import os
from pathlib import Path
from typing import Any

import orjson
import pytest
import zstandard

from alerts_fixtures import (
    append,
    drain,
    event_ids,
    hit,
    new_tail,
    other_line,
    rotate_copytruncate,
    rotate_rename,
    rule,
)
from ecsquery.alerts.follow import Checkpoint, Position, Tail, follow
from ecsquery.alerts.output import AlertSink, Bulk, Ndjson, already_written
from ecsquery.alerts.reader import AlertReader
from ecsquery.alerts.signal import KibanaSignal


def test_tail_follows_rename_rotation_and_compression(tmp_path: Path) -> None:
    base = tmp_path / "osqueryd.results.log"
    reader = AlertReader([rule()])
    tail = new_tail(base, reader)
    assert drain(tail, reader) == []  # not there yet
    append(base, b"".join(hit(i) for i in range(10)))
    assert drain(tail, reader) == list(range(10))
    append(base, hit(10) + other_line(1) + b"\n" + hit(11)[:-30])  # last line still being written
    assert drain(tail, reader) == [10]
    append(base, hit(11)[-30:] + hit(12))
    rotate_rename(base)
    append(base, hit(13) + hit(14))
    rotate_rename(base)  # the first generation is now .2.zst, unlinked under the open file
    append(base, hit(15))
    assert drain(tail, reader) == [11, 12, 13, 14, 15]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "osqueryd.results.log",
        "osqueryd.results.log.1",
        "osqueryd.results.log.2.zst",
    ]
    append(base, hit(16))
    assert drain(tail, reader) == [16]
    assert reader.summary.gaps == []


def test_tail_follows_copy_truncate(tmp_path: Path) -> None:
    base = tmp_path / "r.log"
    reader = AlertReader([rule()])
    tail = new_tail(base, reader)
    append(base, b"".join(hit(i) for i in range(5)))
    assert drain(tail, reader) == list(range(5))
    append(base, hit(5) + hit(6))  # not read before the copy
    rotate_copytruncate(base)
    assert drain(tail, reader) == [5, 6]
    append(base, hit(7) + hit(8))  # regrows past the old offset? no: smaller, then larger
    append(base, b"".join(hit(i) for i in range(9, 20)))
    assert drain(tail, reader) == list(range(7, 20))
    append(base, hit(20))
    rotate_copytruncate(base)
    append(base, b"".join(hit(i) for i in range(21, 40)))  # regrown past the old offset
    assert drain(tail, reader) == list(range(20, 40))


def test_resume_finds_the_generation_wherever_it_went(tmp_path: Path) -> None:
    base = tmp_path / "r.log"
    reader = AlertReader([rule()])
    tail = new_tail(base, reader)
    append(base, b"".join(hit(i) for i in range(10)))
    assert drain(tail, reader) == list(range(10))
    saved = tail.position()
    tail.close()  # "crash": meanwhile the log goes on and rotates twice
    append(base, hit(10) + hit(11))
    rotate_rename(base)
    append(base, hit(12))
    rotate_copytruncate(base)
    append(base, hit(13))
    assert (tmp_path / "r.log.2.zst").exists()
    again = new_tail(base, reader, Position.from_json(saved.to_json()))
    assert drain(again, reader) == [10, 11, 12, 13]
    assert reader.summary.gaps == []


def test_a_generation_that_is_gone_is_reported_as_a_gap(tmp_path: Path) -> None:
    base = tmp_path / "r.log"
    reader = AlertReader([rule()])
    tail = new_tail(base, reader)
    append(base, hit(0))
    drain(tail, reader)
    saved = tail.position()
    base.unlink()
    append(base, hit(1))
    again = new_tail(base, reader, saved, quiet=0.0)  # no rotation under way: report it now
    polls = [drain(again, reader) for _ in range(7)]
    assert [i for ids in polls for i in ids] == [1]
    assert len(reader.summary.gaps) == 1 and "is gone" in reader.summary.gaps[0]


def test_no_gap_while_the_rotated_files_still_change(tmp_path: Path) -> None:
    """A generation missing while a rotation is under way (here: a compression being written
    under a temporary name) is waited for, however long that takes; a gap is reported only
    once the rotated files have kept still for the quiet time without it. The tail's clock is
    the test's: no sleeping, no timing."""
    base = tmp_path / "r.log"
    reader = AlertReader([rule()])
    tail = new_tail(base, reader, quiet=2.0)
    append(base, hit(0))
    assert drain(tail, reader) == [0]
    saved = tail.position()
    tail.close()
    base.unlink()  # gone for now (say, the only copy is being compressed)
    append(base, hit(1))
    now = [0.0]
    again = Tail(base, saved, reader.summary, max_line=reader.max_line_bytes, quiet=2.0,
                 clock=lambda: now[0])  # fmt: skip
    tmp = tmp_path / "r.log.2.zst.tmp"
    for _ in range(30):  # 3 × the quiet time, but the .tmp keeps growing
        append(tmp, b"x" * 10)
        os.utime(tmp, ns=(int(now[0] * 1e9),) * 2)  # its mtime moves, even on a coarse fs
        assert drain(again, reader) == []
        now[0] += 0.2
    assert reader.summary.gaps == []  # the files kept still since the last append (5.8 s)
    now[0] += 1.7  # 1.9 s still
    assert drain(again, reader) == [] and reader.summary.gaps == []
    now[0] += 0.2  # 2.1 s still: gone
    assert drain(again, reader) == [1]
    assert len(reader.summary.gaps) == 1 and "is gone" in reader.summary.gaps[0]


def test_a_name_taken_by_a_newer_generation_before_it_is_opened(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """The chain fingerprints ``.1`` as the generation to resume, then a rename rotation gives
    ``.1`` to the next generation before it is opened: the reader must notice that the file it
    opened is another generation, look again, and read its own to the end (the SIGKILL test
    once lost a generation's tail this way, reading the newer one's in its place)."""
    import ecsquery.alerts.follow as follow_module

    base = tmp_path / "r.log"
    reader = AlertReader([rule()])
    tail = new_tail(base, reader)
    append(base, b"".join(hit(i) for i in range(10)))
    assert drain(tail, reader) == list(range(10))
    saved = tail.position()
    tail.close()
    append(base, b"".join(hit(i) for i in range(10, 20)))
    rotate_rename(base)  # generation A (0..19) is .1
    append(base, b"".join(hit(i) for i in range(20, 40)))  # generation B (20..39) is live
    real = follow_module.open_generation
    rotated = []

    def rotate_first(path: Path) -> Any:
        if not rotated:
            rotated.append(path.name)
            rotate_rename(base)  # A → .2.zst, B → .1: between the chain and the open
            append(base, hit(40))
        return real(path)

    monkeypatch.setattr(follow_module, "open_generation", rotate_first)
    again = new_tail(base, reader, saved)
    ids: list[int] = []
    for _ in range(5):
        ids += drain(again, reader)
    assert rotated == ["r.log.1"]
    assert ids == list(range(10, 41))
    assert reader.summary.gaps == []


def test_already_written_drops_a_cut_line_and_returns_later_ids(tmp_path: Path) -> None:
    out = tmp_path / "alerts.ndjson"
    docs = [{"kibana.alert.uuid": f"u{i}", "n": i} for i in range(4)]
    data = b"".join(orjson.dumps(d) + b"\n" for d in docs)
    out.write_bytes(data + orjson.dumps(docs[0])[:10])
    first_two = len(b"".join(orjson.dumps(d) + b"\n" for d in docs[:2]))
    assert already_written(out, first_two, Ndjson(KibanaSignal())) == {"u2", "u3"}
    assert out.read_bytes() == data
    bulk = tmp_path / "bulk.ndjson"
    bulk.write_bytes(b'{"create":{"_index":"x","_id":"u9"}}\n{"kibana.alert.uuid":"u9"}\n')
    assert already_written(bulk, 0, Bulk("x", KibanaSignal())) == {"u9"}
    ecs = tmp_path / "ecs.ndjson"  # the default (ECS) shape keeps its id in ecsquery.alert_id
    ecs.write_bytes(b'{"ecsquery":{"alert_id":"u7"}}\n{"ecsquery":{"alert_id":"u8"}}\n{"ecs')
    assert already_written(ecs, 0, Ndjson()) == {"u7", "u8"}


def test_checkpoint_resume_in_process(tmp_path: Path) -> None:
    base, out, ck = tmp_path / "r.log", tmp_path / "out.ndjson", tmp_path / "ck.json"
    append(base, b"".join(hit(i) for i in range(30)))

    def run() -> None:
        reader = AlertReader([rule()])
        with out.open("ab") as stream:
            follow(reader, AlertSink(stream), [base], checkpoint=Checkpoint(ck), output=out,
                   poll=0.01, idle_exit=0.05)  # fmt: skip

    run()
    append(base, b"".join(hit(i) for i in range(30, 40)))
    rotate_rename(base)
    append(base, hit(40))
    run()
    ids = event_ids([orjson.loads(line) for line in out.read_bytes().splitlines()])
    assert ids == list(range(41))
    saved = orjson.loads(ck.read_bytes())
    assert saved["output"] == {"path": str(out.resolve()), "size": out.stat().st_size}
    assert len(saved["state"]["seen"]) == 41


def test_crash_after_writing_before_checkpoint_writes_nothing_twice(tmp_path: Path) -> None:
    """The second guard, deterministically: alerts reached the output (one of them cut in
    half) but the checkpoint did not; the restart writes the rest, each alert once."""
    base, out, ck = tmp_path / "r.log", tmp_path / "out.ndjson", tmp_path / "ck.json"
    append(base, b"".join(hit(i) for i in range(10)))

    class Crash(Exception):
        pass

    class CrashingSink(AlertSink):
        def write_encoded(self, alerts: Any) -> None:
            lines = b"".join(alerts).splitlines(keepends=True)  # one blob from the scanner
            if len(lines) > 3:  # the second run: write some, cut one, then "die"
                super().write_encoded(lines[:3])
                self.stream.write(lines[3][:40])
                self.stream.flush()
                raise Crash
            super().write_encoded(lines)

    def run(sink_type: type[AlertSink]) -> None:
        with out.open("ab") as stream:
            follow(AlertReader([rule()]), sink_type(stream), [base], checkpoint=Checkpoint(ck),
                   output=out, poll=0.01, idle_exit=0.05)  # fmt: skip

    run(AlertSink)
    append(base, b"".join(hit(i) for i in range(10, 20)))
    with contextlib.suppress(Crash):
        run(CrashingSink)
    assert orjson.loads(ck.read_bytes())["sources"][str(base.resolve())]["line"] == 11
    run(AlertSink)
    ids = event_ids([orjson.loads(line) for line in out.read_bytes().splitlines()])
    assert ids == list(range(20))


def test_compressed_generation_still_being_written_is_waited_for(tmp_path: Path) -> None:
    base = tmp_path / "r.log"
    reader = AlertReader([rule()])
    gen_a = b"".join(hit(i) for i in range(200))
    packed = zstandard.ZstdCompressor().compress(gen_a)
    (tmp_path / "r.log.2.zst").write_bytes(packed[: len(packed) // 2])  # mid-compression
    append(base, hit(500))
    saved = Position(fingerprint=_fp(gen_a), offset=len(hit(0)) * 10, line=11)
    tail = new_tail(base, reader, saved)
    first = drain(tail, reader)
    assert first == list(range(10, len(first) + 10))  # the readable part, no more
    (tmp_path / "r.log.2.zst").write_bytes(packed)  # compression finished
    assert first + drain(tail, reader) == [*range(10, 200), 500]
    assert reader.summary.gaps == []


def _fp(data: bytes) -> str:
    from ecsquery.alerts.sources import fingerprint_of

    fp = fingerprint_of(data)
    assert fp is not None
    return fp


def test_gzip_copy_from_logrotate(tmp_path: Path) -> None:
    base = tmp_path / "r.log"
    reader = AlertReader([rule()])
    tail = new_tail(base, reader)
    append(base, hit(0))
    assert drain(tail, reader) == [0]
    saved = tail.position()
    tail.close()
    append(base, hit(1))
    (tmp_path / "r.log.1.gz").write_bytes(gzip.compress(base.read_bytes()))
    os.truncate(base, 0)
    append(base, hit(2))
    assert drain(new_tail(base, reader, saved), reader) == [1, 2]


def test_restart_that_checkpoints_mid_guard_then_dies_writes_nothing_twice(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """Run 1 writes alerts past its checkpoint and dies; run 2 (reading in smaller polls)
    checkpoints after skipping only some of them, then dies too; run 3 must still know that
    the rest are already written. This is how the SIGKILL test could duplicate under load."""
    import ecsquery.alerts.follow as follow_module

    base, out, ck = tmp_path / "r.log", tmp_path / "out.ndjson", tmp_path / "ck.json"
    append(base, b"".join(hit(i) for i in range(10)))

    class Crash(Exception):
        pass

    class DieBeforeCheckpoint(AlertSink):
        def sync(self) -> int | None:
            raise Crash

    class DieOnSecondWrite(AlertSink):
        calls = 0

        def write_encoded(self, alerts: Any) -> None:
            DieOnSecondWrite.calls += 1
            if DieOnSecondWrite.calls == 2:
                raise Crash
            super().write_encoded(alerts)

    def run(sink_type: type[AlertSink]) -> None:
        with out.open("ab") as stream, contextlib.suppress(Crash):
            follow(AlertReader([rule()]), sink_type(stream), [base], checkpoint=Checkpoint(ck),
                   output=out, poll=0.01, idle_exit=0.05)  # fmt: skip

    run(AlertSink)
    append(base, b"".join(hit(i) for i in range(10, 30)))
    run(DieBeforeCheckpoint)  # alerts 10..29 written, checkpoint still at line 11
    with monkeypatch.context() as m:  # run 2 reads 3 lines per poll
        m.setattr(follow_module, "CHUNK", len(hit(10)) * 3)
        m.setattr(follow_module, "POLL_BYTES", 1)
        run(DieOnSecondWrite)
    assert orjson.loads(ck.read_bytes())["sources"][str(base.resolve())]["line"] == 14
    run(AlertSink)
    ids = event_ids([orjson.loads(line) for line in out.read_bytes().splitlines()])
    assert ids == list(range(30))


def test_copy_truncate_while_the_next_live_file_is_opened(tmp_path: Path, monkeypatch: Any) -> None:
    """The rotated generations an empty live file starts among are taken before it is opened:
    taken after, a copy-truncate in between (lines written, copied to ``.1``, cut) put the new
    ``.1`` among them, and its lines were never read."""
    from ecsquery.alerts import follow as follow_module

    base = tmp_path / "r.log"
    append(base, b"".join(hit(i) for i in range(3)))
    reader = AlertReader([rule()])
    tail = new_tail(base, reader)
    assert drain(tail, reader) == [0, 1, 2]
    rotate_rename(base)
    base.touch()  # the next live file, still empty when the tail moves on to it
    opened = follow_module.open_regular
    calls = []

    def open_then_rotate(path: Path) -> Any:
        stream = opened(path)
        if not calls:  # right after the open, before the tail looks at the rotated files
            append(base, b"".join(hit(i) for i in range(3, 6)))
            rotate_copytruncate(base)
        calls.append(path)
        return stream

    monkeypatch.setattr(follow_module, "open_regular", open_then_rotate)
    ids = drain(tail, reader)
    ids += drain(tail, reader)
    assert ids == [3, 4, 5] and calls
    assert reader.summary.gaps == []


def test_copy_truncate_between_the_rotation_check_and_the_read(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """An empty live file is checked for a rotation after it is read, not before: checked
    before, a copy-truncate and new lines in between were read as the generation's start and
    the copy (the oldest generation, found by the cron soak) was never read."""
    base = tmp_path / "r.log"
    base.touch()
    reader = AlertReader([rule()])
    tail = new_tail(base, reader)
    assert drain(tail, reader) == []
    check = Tail._rotated_meanwhile
    rotated: list[bool] = []

    def check_then_rotate(self: Tail) -> bool:
        moved = check(self)
        if not rotated:
            rotated.append(True)
            append(base, b"".join(hit(i) for i in range(3)))
            rotate_copytruncate(base)
            append(base, b"".join(hit(i) for i in range(3, 5)))
        return moved

    monkeypatch.setattr(Tail, "_rotated_meanwhile", check_then_rotate)
    ids = drain(tail, reader)
    ids += drain(tail, reader)
    assert ids == [0, 1, 2, 3, 4] and rotated
    assert reader.summary.gaps == []


def _shift_once_after_listing(monkeypatch: Any, base: Path) -> list[list[Path]]:
    """The next listing of the rotated files is followed, before any is opened, by the first
    step of a rotation (``.2.zst`` → ``.3.zst``, as osquery's LogRotate and the soak's writer
    make room for a new ``.2.zst``): that listing names a file that is gone when opened."""
    from ecsquery.alerts import sources

    listed = sources.generations
    raced: list[list[Path]] = []

    def listing_then_rename(path: Path) -> list[Path]:
        names = listed(path)
        if not raced:
            raced.append(names)
            two = base.with_name(base.name + ".2.zst")
            two.rename(base.with_name(base.name + ".3.zst"))
        return names

    monkeypatch.setattr(sources, "generations", listing_then_rename)
    return raced


def test_a_rename_under_the_listing_of_the_rotated_files_is_seen(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """The chain is listed again until the listing is the same after the opens as before."""
    base = tmp_path / "r.log"
    reader = AlertReader([rule()])
    for i in range(3):
        append(base, hit(i))
        rotate_rename(base)  # .3.zst, .2.zst, .1: hits 0, 1, 2
    append(base, hit(3))
    tail = new_tail(base, reader)
    truth = [(fp, path.name) for fp, path in tail._chain()]
    assert [name for _, name in truth] == ["r.log", "r.log.1", "r.log.2.zst", "r.log.3.zst"]
    base.with_name("r.log.3.zst").rename(base.with_name("r.log.4.zst"))  # room for .3.zst
    raced = _shift_once_after_listing(monkeypatch, base)
    chain = [(fp, path.name) for fp, path in tail._chain()]
    assert raced and "r.log.2.zst" in [p.name for p in raced[0]]
    assert [fp for fp, _ in chain] == [fp for fp, _ in truth]
    assert [name for _, name in chain] == ["r.log", "r.log.1", "r.log.3.zst", "r.log.4.zst"]


@pytest.mark.parametrize("relist", [True, False])
def test_a_generation_missed_by_the_listing_is_not_read_again(
    tmp_path: Path, monkeypatch: Any, relist: bool
) -> None:
    """The cron soak's duplicates (2,259 of 6,320 alerts): the rotated generations an empty
    live file starts among were listed, then opened by name; a rotation renaming one in
    between left it out, and the rename itself (or a generation rotated before the live
    file's first line) made it look new — the oldest "new" one, read again with every
    generation after it. Now the listing is taken again, and only generations newer than the
    newest known one can be new (both guards are checked: the second with the first off)."""
    from ecsquery.alerts import sources

    base = tmp_path / "r.log"
    append(base, b"".join(hit(i) for i in range(3)))
    reader = AlertReader([rule()])
    tail = new_tail(base, reader)
    assert drain(tail, reader) == [0, 1, 2]
    rotate_rename(base)
    append(base, b"".join(hit(i) for i in range(3, 6)))
    assert drain(tail, reader) == [3, 4, 5]
    rotate_rename(base)  # .2.zst holds 0-2, .1 holds 3-5
    base.touch()  # the next live file, still empty when the tail moves on to it
    fresh = AlertReader([rule()])  # no dedup memory: every line the tail gives again shows
    if not relist:
        monkeypatch.setattr(sources, "CHAIN_TRIES", 1)
    rotated_fps = Tail._rotated_fps
    calls: list[Tail] = []

    def raced_listing(self: Tail) -> frozenset[str | None]:
        calls.append(self)
        if len(calls) > 1:
            return rotated_fps(self)
        with pytest.MonkeyPatch.context() as inner:
            _shift_once_after_listing(inner, base)
            return rotated_fps(self)

    monkeypatch.setattr(Tail, "_rotated_fps", raced_listing)
    assert drain(tail, fresh) == []  # the rename alone made it look new
    assert calls and base.with_name("r.log.3.zst").exists()
    assert drain(tail, fresh) == []
    append(base, b"".join(hit(i) for i in range(6, 9)))
    rotate_copytruncate(base)  # a generation rotated before the live file's first line
    assert drain(tail, fresh) + drain(tail, fresh) == [6, 7, 8]
    assert reader.summary.gaps == fresh.summary.gaps == []


def test_restart_from_a_start_listed_during_a_rename_reads_only_what_is_new(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """Killed with a checkpoint whose list of the rotated generations there were at the start
    lacks an old one (the start's listing raced a rename), the restart reads only the
    generation rotated since, not the old one and everything after it."""
    base = tmp_path / "r.log"
    for i in range(2):
        append(base, hit(i))
        rotate_rename(base)  # .2.zst: hit 0, .1: hit 1
    base.touch()
    reader = AlertReader([rule()])
    tail = new_tail(base, reader)
    newest = tail._chain()[1][0]
    saved = Position(rotated=(newest,))  # as written by the raced start, then SIGKILL
    assert saved.fingerprint is None and saved.rotated is not None
    append(base, hit(2))
    rotate_rename(base)  # .3.zst: 0, .2.zst: 1, .1: 2
    restarted = new_tail(base, reader, Position.from_json(saved.to_json()))
    assert drain(restarted, reader) == [2]
