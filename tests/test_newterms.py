"""The new_terms first-seen store: equal to the reference on generated streams split into
batches (with the store reopened between batches), a learning period, expiry, replayed batches
skipped, and a real ``kill -9`` loop that loses nothing and decides nothing twice."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecsquery.alerts.newterms import NewTermsRule, NewTermsStore, term_tuples
from ecsquery.testing.multi import new_terms

DAY = 86_400_000
RULE = NewTermsRule("r1", ("host.id", "process.parent.executable"), history_ms=7 * DAY)


def doc(parent: Any, host: str = "H") -> dict[str, Any]:
    return {"host": {"id": host}, "process": {"parent": {"executable": parent}}}


def test_term_tuples_cover_array_values_and_skip_missing() -> None:
    assert term_tuples(doc(["/a", "/b", "/a"]), RULE.fields) == [("H", "/a"), ("H", "/b")]
    assert term_tuples(doc(""), RULE.fields) == []
    assert term_tuples(doc(None), RULE.fields) == []


def test_learning_then_new_then_expired(tmp_path: Path) -> None:
    store = NewTermsStore(tmp_path / "newterms.sqlite")
    t0 = 1_000 * DAY
    assert store.observe(RULE, [(t0, doc("/a"))], stream="s", position=1) == []  # learning
    assert store.observe(RULE, [(t0 + 8 * DAY, doc("/b"))], stream="s", position=2)[0].terms == (
        "H",
        "/b",
    )
    assert store.observe(RULE, [(t0 + 8 * DAY + 1, doc("/b"))], stream="s", position=3) == []
    # /a was last seen 8 days ago: new again
    assert [
        a.terms for a in store.observe(RULE, [(t0 + 8 * DAY, doc("/a"))], stream="s", position=4)
    ] == [("H", "/a")]
    assert (
        store.observe(RULE, [(t0 + 9 * DAY, doc("/c"))], stream="s", position=4) == []
    )  # replayed
    assert store.position("s") == 4
    assert store.expire(t0 + 16 * DAY, [RULE]) == 2
    assert len(store.pending()) == 2
    store.delivered(a.alert_id for a in store.pending())
    assert store.pending() == []


STREAMS = 300


@settings(
    max_examples=STREAMS,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(seed=st.integers(0, 2**32 - 1), learning=st.sampled_from((0, DAY, 3 * DAY)))
def test_store_equals_reference_across_batches_and_reopens(
    tmp_path_factory: Any, seed: int, learning: int
) -> None:
    rng = random.Random(seed)
    rule = NewTermsRule("r", RULE.fields, history_ms=2 * DAY, learning_ms=learning)
    ms, events = 0, []
    for _ in range(rng.randrange(1, 40)):
        ms += rng.choice((0, 1, DAY // 2, 2 * DAY - 1, 2 * DAY, 2 * DAY + 1))
        events.append((ms, doc(rng.choice(("/a", "/b", ["/a", "/c"], "")), rng.choice("HG"))))
    expected = new_terms(rule.fields, rule.history_ms, learning, events)
    path = tmp_path_factory.mktemp("nt") / "store.sqlite"
    got, position, i = [], 0, 0
    while i < len(events):
        j = i + rng.randrange(1, 6)
        while j < len(events) and events[j][0] == events[j - 1][0]:
            j += 1  # a batch boundary never splits a tie (the reader's batches follow time)
        store = NewTermsStore(path)
        position += 1
        got += [
            (a.event_ms, a.terms)
            for a in store.observe(rule, events[i:j], stream="s", position=position)
        ]
        if rng.random() < 0.3:  # the same batch again, as after a crash before the checkpoint
            assert store.observe(rule, events[i:j], stream="s", position=position) == []
        store.close()
        i = j
    assert got == expected, f"seed={seed}"


CHILD = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    from ecsquery.alerts.newterms import NewTermsRule, NewTermsStore
    store_path, out_path, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    rule = NewTermsRule("r", ("process.name",), history_ms=10**12, learning_ms=0)
    store = NewTermsStore(store_path)
    print("go", flush=True)
    with open(out_path, "a") as out:
        def deliver():
            pending = store.pending()
            for a in pending:
                out.write(a.alert_id + "\\n"); out.flush(); os.fsync(out.fileno())
            store.delivered(a.alert_id for a in pending)
        deliver()  # whatever a killed run decided but had not delivered
        start = (store.position("s") or 0) + 1
        for position in range(start, count + 1):
            names = [f"p{(position * 7 + k) % 500}" for k in range(3)]
            events = [(position * 10 + k, {"process": {"name": n}}) for k, n in enumerate(names)]
            store.observe(rule, events, stream="s", position=position)
            deliver()
            time.sleep(0.002)  # so that a kill lands mid-run
    """
)


def run_child(store: Path, out: Path, count: int, **popen: Any) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-c", CHILD, str(store), str(out), str(count)]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, **popen)


def test_kill_9_loses_nothing_and_decides_nothing_twice(tmp_path: Path) -> None:
    store, out, count = tmp_path / "nt.sqlite", tmp_path / "delivered.txt", 300
    rng = random.Random(7)
    kills = 0
    for _ in range(6):
        child = run_child(store, out, count)
        assert child.stdout is not None and child.stdout.readline() == b"go\n"
        try:
            child.wait(timeout=rng.uniform(0.02, 0.15))
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGKILL)
            kills += 1
        child.wait()
        child.stdout.close()
    final = run_child(store, out, count)
    assert final.wait() == 0 and final.stdout is not None
    final.stdout.close()
    assert kills >= 3
    delivered = out.read_text().split()
    # the same program uninterrupted, on a fresh store, decides the expected alerts
    clean_out = tmp_path / "clean.txt"
    clean = run_child(tmp_path / "clean.sqlite", clean_out, count)
    assert clean.wait() == 0 and clean.stdout is not None
    clean.stdout.close()
    expected = clean_out.read_text().split()
    assert len(expected) == len(set(expected)) > 100
    assert set(delivered) == set(expected)  # nothing lost, nothing extra
    # re-delivered (same id) only what was in flight at a kill: at most one batch, 3 events
    assert len(delivered) - len(set(delivered)) <= 3 * kills
    assert NewTermsStore(store).pending() == []
