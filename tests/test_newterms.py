"""new_terms: the first-seen store (learning period, expiry, commits, a store ahead of its
checkpoint after a kill), and the reader's new_terms alerts equal to the reference on
generated streams read by cron runs killed at each step of the checkpoint (follow mode's
``save``: alerts synced, store committed, checkpoint replaced)."""

from __future__ import annotations

import contextlib
import os
import random
import stat
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts_fixtures import PYTHON_SHELL as PYTHON_SHELL_TOML
from alerts_fixtures import append, new_terms_hit
from ecsquery.alerts.follow import Checkpoint, follow
from ecsquery.alerts.newterms import NewTermsGate, NewTermsRule, NewTermsStore, term_tuples
from ecsquery.alerts.output import AlertSink
from ecsquery.alerts.reader import AlertReader
from ecsquery.alerts.signal import KibanaSignal
from ecsquery.errors import SourceError
from ecsquery.rules.load import load_rule
from ecsquery.testing.multi import new_terms

DAY = 86_400_000
RULE = NewTermsRule(
    "r1", ("host.id", "process.parent.executable"), history_ms=7 * DAY, margin_ms=DAY
)
PYTHON_SHELL = load_rule(PYTHON_SHELL_TOML)
T0 = 1_700_000_000_000


def doc(parent: Any, host: str = "H") -> dict[str, Any]:
    return {"host": {"id": host}, "process": {"parent": {"executable": parent}}}


def test_term_tuples_cover_array_values_and_skip_missing() -> None:
    assert term_tuples(doc(["/a", "/b", "/a"]), RULE.fields) == [("H", "/a"), ("H", "/b")]
    assert term_tuples(doc(""), RULE.fields) == []
    assert term_tuples(doc(None), RULE.fields) == []


def test_the_rule_view_of_a_loaded_rule() -> None:
    view = NewTermsRule.of(PYTHON_SHELL, learning_ms=0)
    assert view is not None
    assert (view.fields, view.history_ms, view.learning) == (
        ("host.id", "process.parent.executable"),
        7 * DAY,
        0,
    )
    assert view.keep_ms == 7 * DAY + (9 + 5) * 60_000  # and the reader's lookback + interval
    assert NewTermsRule.of(PYTHON_SHELL).learning == 7 * DAY  # type: ignore[union-attr]


def test_learning_then_new_then_expired(tmp_path: Path) -> None:
    store = NewTermsStore(tmp_path / "newterms.sqlite")
    t0 = 1_000 * DAY

    def seen(ms: int, parent: str) -> list[Any]:
        return store.observe(RULE, ms, term_tuples(doc(parent), RULE.fields))

    assert seen(t0, "/a") == []  # learning: 7 days from the rule's first event
    assert seen(t0 + 7 * DAY - 1, "/c") == []  # still learning
    assert seen(t0 + 8 * DAY, "/b") == [("H", "/b")]
    assert seen(t0 + 8 * DAY + 1, "/b") == []
    assert seen(t0 + 8 * DAY, "/a") == [("H", "/a")]  # last seen 8 days ago: new again
    assert store.known("r1") == 3
    assert store.expire(t0 + 16 * DAY, [RULE]) == 1  # /c; /a and /b are kept a margin longer
    assert store.expire(t0 + 17 * DAY, [RULE]) == 2
    assert store.known("r1") == 0


def test_uncommitted_changes_are_dropped_and_a_store_ahead_answers_as_before(
    tmp_path: Path,
) -> None:
    path = tmp_path / "nt.sqlite"
    rule = NewTermsRule("r", ("process.name",), history_ms=DAY, learning_ms=0)

    def seen(store: NewTermsStore, name: str, ms: int) -> list[Any]:
        return store.observe(rule, ms, [(name,)])

    store = NewTermsStore(path)
    assert seen(store, "a", 1) == [("a",)]
    store.commit(checkpointed=0)
    checkpoint = store.seq  # the checkpoint after that commit is written
    assert checkpoint == 1
    assert seen(store, "b", 2) == [("b",)]
    store.close()  # killed before the next commit

    store = NewTermsStore(path)
    assert store.resume(checkpoint) is None
    assert seen(store, "b", 2) == [("b",)]  # decided again, the same
    assert seen(store, "a", 3) == []
    store.commit(checkpoint)
    store.close()  # killed after that commit, before its checkpoint

    store = NewTermsStore(path)
    assert (store.committed, store.resume(checkpoint)) == (3, None)
    store.commit(checkpoint)  # the restart's first checkpoint, before any line: then killed
    store.close()
    store = NewTermsStore(path)
    assert (store.committed, store.resume(checkpoint)) == (3, None)  # still holds all three
    assert seen(store, "b", 2) == [("b",)]  # held already: answered as before, not applied
    assert seen(store, "a", 3) == []
    assert seen(store, "c", 4) == [("c",)]  # past the commit: decided
    assert seen(store, "b", 5) == []
    store.commit(checkpoint)
    store.close()
    store = NewTermsStore(path)
    assert store.resume(store.committed) is None  # its checkpoint was written this time
    assert seen(store, "d", 6) == [("d",)] and seen(store, "c", 7) == []


def test_a_checkpoint_without_new_terms_takes_the_store_as_it_is(tmp_path: Path) -> None:
    """A checkpoint written while no new_terms rule was loaded has no ``new_terms`` part:
    nothing the store holds is a replay then (the rule's next hits are decided)."""
    path = tmp_path / "nt.sqlite"
    store = NewTermsStore(path)
    gate = NewTermsGate([PYTHON_SHELL], store, learning_ms=0)
    assert gate.observe(PYTHON_SHELL.rule_id, T0, doc("/a")) == [("H", "/a")]
    gate.commit()
    store.close()
    gate = NewTermsGate([PYTHON_SHELL], NewTermsStore(path), learning_ms=0)
    assert gate.resume(None) is None
    assert gate.observe(PYTHON_SHELL.rule_id, T0 + 1, doc("/b")) == [("H", "/b")]
    assert gate.observe(PYTHON_SHELL.rule_id, T0 + 2, doc("/a")) == []
    gate.store.close()


def test_a_store_behind_its_checkpoint_is_reported(tmp_path: Path) -> None:
    store = NewTermsStore(tmp_path / "nt.sqlite")
    problem = store.resume(5)
    assert problem is not None and "older than the checkpoint" in problem
    assert store.seq == 5


def test_store_file_is_private_and_never_a_planted_symlink(tmp_path: Path) -> None:
    path = tmp_path / "nt.sqlite"
    NewTermsStore(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    target, link = tmp_path / "elsewhere", tmp_path / "link.sqlite"
    link.symlink_to(target)
    with pytest.raises(SourceError, match="cannot open new_terms store"):
        NewTermsStore(link)
    assert not target.exists()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(SourceError, match="not a regular file"):
        NewTermsStore(fifo)
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not a database" * 100)
    with pytest.raises(SourceError, match="is unusable"):
        NewTermsStore(garbage)


SLOW = os.environ.get("ECSQUERY_SLOW") == "1"
CI_STREAMS = int(os.environ.get("ECSQUERY_STREAMS") or 0)  # .ci/run: 2,000 (multi_support)
STREAMS = CI_STREAMS or (2_000 if SLOW else 200)
READER_STREAMS = CI_STREAMS or (2_000 if SLOW else 150)


@settings(
    max_examples=STREAMS,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(seed=st.integers(0, 2**32 - 1), learning=st.sampled_from((0, DAY, 3 * DAY)))
def test_store_equals_reference_across_commits_and_kills(
    tmp_path_factory: Any, seed: int, learning: int
) -> None:
    """The checkpoint protocol on the store alone: events read, their alerts written (an
    alert already in the output is dropped, as the reader's guard does), now and then a
    commit followed by the checkpoint, and kills before the commit, between the commit and
    the checkpoint, or not at all; the output equals the reference, each alert once."""
    rng = random.Random(seed)
    rule = NewTermsRule("r", RULE.fields, history_ms=2 * DAY, learning_ms=learning)
    ms, events = 0, []
    for _ in range(rng.randrange(1, 40)):
        ms += rng.choice((0, 1, DAY // 2, 2 * DAY - 1, 2 * DAY, 2 * DAY + 1))
        events.append((ms, doc(rng.choice(("/a", "/b", ["/a", "/c"], "")), rng.choice("HG"))))
    expected = new_terms(rule.fields, rule.history_ms, learning, events)
    path = tmp_path_factory.mktemp("nt") / "store.sqlite"
    out: list[tuple[int, tuple[Any, ...]]] = []
    # (events read, store seq, alerts in the output, alerts written by a killed run and not
    # met again yet: follow's ``output.pending``)
    checkpoint: tuple[int, int, int, frozenset[Any]] = (0, 0, 0, frozenset())
    while True:
        at, seq, written, pending = checkpoint
        store = NewTermsStore(path)
        assert store.resume(seq) is None
        guard = set(out[written:]) | pending
        killed = False
        for i in range(at, len(events)):
            event_ms, event = events[i]
            for terms in store.observe(rule, event_ms, term_tuples(event, rule.fields)):
                if (i, terms) in guard:
                    guard.discard((i, terms))
                else:
                    out.append((i, terms))
            if rng.random() < 0.3 or i == len(events) - 1:  # a checkpoint
                fate = rng.random()
                if fate < 0.15:  # killed before the commit
                    killed = True
                    break
                store.commit(seq)
                if fate < 0.3:  # killed between the commit and the checkpoint
                    killed = True
                    break
                checkpoint = (i + 1, store.seq, len(out), frozenset(guard))
                seq = store.seq
        store.close()
        if not killed:
            break
    assert [(events[i][0], terms) for i, terms in out] == expected, f"seed={seed}"
    assert guard == set()  # every alert written before a kill was decided again and met
    assert len(set(out)) == len(out)


# -- the reader: result lines of a real new_terms rule, cron runs, kills ----------------------


def nt_line(i: int, ms: int, parent: str, host: str) -> bytes:
    return new_terms_hit(i, parent=parent, ms=ms, host_uuid=host)


class Killed(Exception):
    """A SIGKILL at one step of a checkpoint, in process."""


def cron_run(base: Path, out: Path, ck: Path, learning_ms: int | None, kill: str | None) -> None:
    """One ``ecsquery alerts --checkpoint`` run, killed at ``kill``: "commit" (alerts synced,
    store not committed) or "checkpoint" (store committed, checkpoint not replaced)."""
    store = NewTermsStore(ck.with_name(ck.name + ".newterms.sqlite"))
    gate = NewTermsGate([PYTHON_SHELL], store, learning_ms=learning_ms)
    checkpoint = Checkpoint(ck)
    saves = 0
    if kill == "commit":
        commit = gate.commit

        def commit_or_die() -> dict[str, Any]:
            nonlocal saves
            saves += 1
            if saves > 1:  # the first save comes before any line is read
                raise Killed
            return commit()

        gate.commit = commit_or_die  # type: ignore[method-assign]
    elif kill == "checkpoint":
        save = checkpoint.save

        def save_or_die(data: dict[str, Any]) -> None:
            nonlocal saves
            saves += 1
            if saves > 1:
                raise Killed
            save(data)

        checkpoint.save = save_or_die  # type: ignore[method-assign]
    try:
        with out.open("ab") as stream, contextlib.suppress(Killed):
            follow(AlertReader([PYTHON_SHELL], new_terms=gate), AlertSink(stream), [base],
                   checkpoint=checkpoint, output=out, poll=0, idle_exit=0)  # fmt: skip
    finally:
        store.close()


def written_new_terms(out: Path) -> list[tuple[int, tuple[Any, ...]]]:
    docs = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    ids = [d["ecsquery"]["alert_id"] for d in docs]
    assert len(ids) == len(set(ids))
    got = []
    for d in docs:
        moment = datetime.fromisoformat(d["@timestamp"].replace("Z", "+00:00"))
        got.append((round(moment.timestamp() * 1000), tuple(d["ecsquery"]["new_terms"])))
    return got


H = 7 * DAY


@settings(
    max_examples=READER_STREAMS,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    seed=st.integers(0, 2**32 - 1),
    learning=st.sampled_from((0, DAY, None)),
    kills=st.lists(st.sampled_from((None, "commit", "checkpoint")), min_size=1, max_size=8),
)
def test_reader_new_terms_equal_the_reference_across_kills(
    tmp_path_factory: Any, seed: int, learning: int | None, kills: list[str | None]
) -> None:
    """Generated streams (ties, gaps at the history window ± 1 ms, two hosts, a missing
    parent, lines repeated by an overlapping lookback) written in chunks, each followed by a
    cron run killed at a step of its checkpoint or not; then a last clean run. The union of
    the output is the reference's new_terms alerts, in order, each once."""
    rng = random.Random(seed)
    tmp = tmp_path_factory.mktemp("ntr")
    base, out, ck = tmp / "osqueryd.results.log", tmp / "alerts.ndjson", tmp / "ck.json"
    base.touch()
    ms, events, lines, own = T0, [], [], []
    for i in range(rng.randrange(1, 30)):
        ms += rng.choice((0, 1, 60_000, H - 1, H, H + 1))
        parent = rng.choice(("/usr/bin/python3", "/opt/py", "/opt/py", ""))
        host = rng.choice(("UUID-A", "UUID-B"))
        events.append((ms, {"host": {"id": host}, "process": {"parent": {"executable": parent}}}))
        own.append(nt_line(i, ms, parent, host))
        lines.append(own[-1])
        if rng.random() < 0.2:  # the same event again, from the next run's overlapping window
            j = rng.randrange(max(0, i - 2), i + 1)
            if events[j][0] >= ms - 9 * 60_000:  # within the rule's lookback
                lines.append(own[j])
    learning_ms = H if learning is None else learning
    expected = new_terms(("host.id", "process.parent.executable"), H, learning_ms, events)
    cuts = sorted(rng.sample(range(len(lines) + 1), min(len(kills) - 1, len(lines))))
    chunks = [lines[a:b] for a, b in zip([0, *cuts], [*cuts, len(lines)], strict=True)]
    for chunk, kill in zip(chunks, kills, strict=False):
        append(base, b"".join(chunk))
        cron_run(base, out, ck, learning, kill)
    cron_run(base, out, ck, learning, None)
    assert written_new_terms(out) == expected, f"seed={seed}"
    assert "pending" not in orjson.loads(ck.read_bytes())["output"]  # all met again


def test_reader_alert_shape_and_learning_in_the_summary() -> None:
    """One alert per event and new tuple, ``ecsquery.new_terms`` (Kibana shape:
    ``kibana.alert.new_terms``), the id hashing the event's and the terms; hits without a
    new tuple are counted per rule."""
    lines = [
        nt_line(1, T0, "/opt/py", "UUID-A"),  # learning (a day from here)
        nt_line(2, T0 + DAY, "/opt/py", "UUID-A"),  # known
        nt_line(3, T0 + DAY, "/usr/bin/python3", "UUID-A"),  # new
        nt_line(4, T0 + DAY, "/usr/bin/python3", "UUID-B"),  # new host
    ]
    reader = AlertReader([PYTHON_SHELL], new_terms=NewTermsGate([PYTHON_SHELL], learning_ms=DAY))
    alerts = reader.read(b"".join(lines))
    docs = [KibanaSignal().document(a) for a in alerts]
    assert [d["kibana.alert.new_terms"] for d in docs] == [
        ["UUID-A", "/usr/bin/python3"],
        ["UUID-B", "/usr/bin/python3"],
    ]
    assert [d["event"]["id"] for d in docs] == ["nt-3", "nt-4"]
    assert len({a.uuid for a in alerts}) == 2
    assert reader.summary.not_new == {PYTHON_SHELL.name: 2}
    assert "new_terms: 2 hits of" in reader.summary.render()
    again = AlertReader([PYTHON_SHELL], new_terms=NewTermsGate([PYTHON_SHELL], learning_ms=DAY))
    assert [a.uuid for a in again.read(b"".join(lines))] == [a.uuid for a in alerts]


# -- the command line: ecsquery alerts (cron) and ecsquery replay ---------------------------


def _summary(result: Any) -> dict[str, Any]:
    summary: dict[str, Any] = orjson.loads(result.stderr.strip().splitlines()[-1])
    return summary


def test_cli_learns_then_alerts_new_tuples_with_the_store_beside_the_checkpoint(
    tmp_path: Path, runner: Any
) -> None:
    from ecsquery.cli import main

    log, out, ck = tmp_path / "osqueryd.results.log", tmp_path / "alerts", tmp_path / "ck.json"
    args = ["alerts", "--rules", str(PYTHON_SHELL_TOML), "--checkpoint", str(ck), "-o", str(out),
            "--summary", "json", str(log)]  # fmt: skip
    append(log, nt_line(1, T0, "/opt/py", "UUID-A") + nt_line(2, T0 + 1, "/usr/bin/py", "UUID-A"))
    first = runner.invoke(main, args)
    assert first.exit_code == 0, first.output
    assert out.read_bytes() == b""  # learning: the history window (7 days) from the first event
    assert _summary(first)["not_new"] == {PYTHON_SHELL.name: 2}
    store = tmp_path / "ck.json.newterms.sqlite"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    later = T0 + 7 * DAY  # learning ends here; /opt/py was seen exactly 7 days before
    append(log, nt_line(3, later, "/opt/py", "UUID-A") + nt_line(4, later, "/new/py", "UUID-A"))
    second = runner.invoke(main, args)
    assert second.exit_code == 0, second.output
    docs = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [(d["event"]["id"], d["ecsquery"]["new_terms"]) for d in docs] == [
        ("nt-4", ["UUID-A", "/new/py"])  # /opt/py: still in the window (its start included)
    ]
    assert _summary(second)["not_new"] == {PYTHON_SHELL.name: 1}

    fresh = ["alerts", "--rules", str(PYTHON_SHELL_TOML), "--new-terms-learning", "0", str(log)]
    batch = runner.invoke(main, fresh)  # no checkpoint: an in-memory store, no learning
    assert batch.exit_code == 0, batch.output
    terms = [orjson.loads(line)["ecsquery"]["new_terms"][1] for line in batch.stdout.splitlines()]
    assert terms == ["/opt/py", "/usr/bin/py", "/new/py"]
    bad = runner.invoke(main, [*fresh[:3], "--new-terms-learning", "5x", str(log)])
    assert bad.exit_code == 2 and "--new-terms-learning" in bad.stderr
    assert "cannot read duration '5x'" in bad.stderr


def test_replay_alerts_first_occurrences_in_the_recording(tmp_path: Path, runner: Any) -> None:
    """Replay learns for no time by default (the recording is the history); with 'history'
    the rule learns for its window, longer than the recording: no alert."""
    from ecsquery.cli import main
    from test_sequence_stories import T0 as NOW_MS
    from test_sequence_stories import exec_event

    def shell(i: int, ms: int, parent: str) -> dict[str, Any]:
        return exec_event(i, ms, "sh", ["sh", "-c", "id"], command_line="sh -c id",
                          parent={"name": "python3", "executable": parent})  # fmt: skip

    events = [shell(1, NOW_MS, "/usr/bin/python3"), shell(2, NOW_MS + 60_000, "/usr/bin/python3"),
              shell(3, NOW_MS + 61_000, "/opt/homebrew/bin/python3")]  # fmt: skip
    capture = tmp_path / "story.ndjson"
    capture.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    args = ["replay", "--source", "ecs", "--rules", str(PYTHON_SHELL_TOML), str(capture)]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    docs = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [(d["event"]["id"], d["ecsquery"]["new_terms"][1]) for d in docs] == [
        ("e1", "/usr/bin/python3"),
        ("e3", "/opt/homebrew/bin/python3"),
    ]
    learning = runner.invoke(main, [*args, "--new-terms-learning", "history"])
    assert learning.exit_code == 0, learning.output
    assert learning.stdout == ""
