"""Fuzzing the result-line reader: no input line makes an exception escape ``AlertReader.read``.

Inputs are real result lines (the samples and our own rows, every shape) mutated at random —
bytes flipped, cut, spliced, values swapped for odd JSON — plus raw random bytes. Every alert
that comes out must encode in every format. The default run is short; ``make soak`` runs it
long (``ECSQUERY_FUZZ_EXAMPLES``; ``--hypothesis-show-statistics`` prints the examples run).
"""

from __future__ import annotations

import os

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts_fixtures import (
    RESULTS,
    SYSTEMKEY,
    batch_line,
    event_line,
    keychain_event,
    query_name,
    rule,
    snapshot_line,
)
from ecsquery.alerts.output import FORMATS, make_format
from ecsquery.alerts.reader import AlertReader

EXAMPLES = int(os.environ.get("ECSQUERY_FUZZ_EXAMPLES") or 200)
RULES = [rule(), rule(SYSTEMKEY)]
NAME = query_name(RULES[0].slug)
SEEDS = [
    *(line for p in sorted(RESULTS.iterdir()) for line in p.read_bytes().splitlines()),
    event_line(NAME, keychain_event(1)),
    event_line(NAME, keychain_event(2), numerics=True, top_level_decorations=True),
    batch_line(NAME, [keychain_event(3)], [keychain_event(4)]),
    snapshot_line(query_name(RULES[1].slug, "/", "Global"), [keychain_event(5)]),
]
ODD = [b"null", b"1e999", b"-0", b"[]", b"{}", b'"\\ud800"', b"NaN", b'"\\u0000"', b"9" * 30]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    line = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "odd", "dup"]))
        at = draw(st.integers(0, max(len(line) - 1, 0)))
        if kind == "flip" and line:
            line[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del line[at : at + draw(st.integers(1, 40))]
        elif kind == "insert":
            line[at:at] = draw(st.binary(max_size=12))
        elif kind == "odd":  # a value after a colon swapped for odd JSON
            colon, comma = line.find(b":", at), line.find(b",", at)
            if 0 < colon < comma:
                line[colon + 1 : comma] = draw(st.sampled_from(ODD))
        else:
            line += b"\n" + line
    return bytes(line)


_inputs = st.lists(st.one_of(mutated(), st.binary(max_size=200)), min_size=1, max_size=8)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(lines=_inputs)
def test_no_line_makes_an_exception_escape(lines: list[bytes]) -> None:
    reader = AlertReader(RULES)
    alerts = reader.read(b"\n".join(lines))
    formats = [make_format(name, index="idx") for name in FORMATS]
    for alert in alerts:
        for fmt in formats:
            fmt.encode(alert)
            orjson.dumps(fmt.shape.document(alert))
    s = reader.summary
    accounted = s.skipped + s.parsed + sum(s.malformed.values()) + sum(s.unknown_queries.values())
    assert s.lines == accounted
