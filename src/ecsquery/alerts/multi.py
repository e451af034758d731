"""Multi-event rules' result rows → alerts: a sequence's shell and building blocks, a
threshold bucket once per burst.

**Sequences.** A sequence rule's query returns one row per step event, each with
``sequence_id`` (the steps' ``event.id`` list), ``sequence_step`` and ``sequence_length``
(``rules/sql/multi_sequence``). Rows are gathered per rule, host and sequence until every step
is there (osquery's event format writes one row a line, and a block may end mid-run; the
partial groups live in ``ReaderState.pending``, so follow mode's checkpoint carries them), then
``sequence_groups`` orders them. Like Kibana (``buildAlertGroupFromSequence``, elastic/kibana
``x-pack/solutions/security/plugins/security_solution/server/lib/detection_engine/rule_types/
eql/build_alert_group_from_sequence.ts``) a sequence gives one *building-block* alert per step,
built from that step's event like a single-event alert, then one *shell* alert whose event is
the ``intersection`` of the building blocks' (``objectPairIntersection``). The shell's id is
sha256 of rule, host and ``sequence_id``, so a sequence seen again in an overlapping window is
a duplicate (the reader's ``seen``); a building block's id is sha256 of the shell's id and its
index. ``max_signals`` counts sequences, as Kibana's EQL search asks for ``max_signals`` of them.

**Threshold.** A bucket row (``rules/sql/multi_threshold``) alerts only when
``since_last_signal`` says its events newer than the bucket's last alert still reach the
threshold; the newest alerted event's ms per rule, host and ``threshold_terms`` is kept in
``ReaderState.thresholds`` for the rule's lookback plus one interval (Kibana's threshold signal
history, which it also drops once older than the rule's window). The alert's id is sha256 of
rule, host, terms and that newest ms.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from ecsquery.alerts.alert import AlertFactory, AlertParts, reason
from ecsquery.alerts.newterms import NewTermsGate
from ecsquery.alerts.resultlog import LineInfo, as_int
from ecsquery.alerts.state import ReaderState
from ecsquery.alerts.summary import Summary
from ecsquery.rows import LONG_MAX
from ecsquery.rules.lang.ast import Const, Query
from ecsquery.rules.lang.multi import Threshold
from ecsquery.rules.model import Rule
from ecsquery.rules.sql.multi_alerts import intersection, sequence_groups
from ecsquery.rules.sql.multi_sequence import SEQUENCE_COLUMNS
from ecsquery.rules.sql.multi_threshold import since_last_signal, threshold_from_params

THRESHOLD_COLUMNS = (
    "threshold_terms",
    "threshold_count",
    "threshold_cardinality",
    "threshold_from",
    "threshold_to",
    "threshold_events",
)
"""Columns a threshold query adds to the bucket's key columns."""
THRESHOLD_MARKER = THRESHOLD_COLUMNS[-1].encode()
"""The reader's pre-filter needle for bucket rows (they lack the table's columns)."""

MAX_STEPS = 64
"""Longest sequence a row may claim (the corpus's longest has 5 steps: ``runs=5``)."""

HOST_TERMS = {"host.id": "host_id", "host.hostname": "host_name"}
"""Bucket fields without a column: the result line's host fills them (``LineInfo``)."""

Emit = Callable[[AlertParts], None]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _iso_ms(ms: int) -> str | None:
    """Milliseconds since the epoch as Elastic writes dates, None if out of range."""
    try:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    except (ValueError, OverflowError, OSError):
        return None


def threshold_of(rule: Rule) -> Threshold | None:
    """The rule's ``[rule.threshold]`` as the node ``since_last_signal`` takes; None when the
    rule carries none (``Rule.threshold``, a ``ThresholdParams``, arrives with the compile
    routing of multi-event rules)."""
    params = getattr(rule, "threshold", None)
    if params is None:
        return None
    table = params.to_dict() if hasattr(params, "to_dict") else params
    return threshold_from_params(Query(rule.language, Const(True)), {"threshold": table})


class MultiAlerts:
    """The reader's multi-event step: built on the reader's factory, given its state and
    summary per call (follow mode replaces the state on resume)."""

    def __init__(self, factory: AlertFactory) -> None:
        self.factory = factory
        self._thresholds: dict[str, Threshold | None] = {}

    def sequence_rows(
        self,
        rule: Rule,
        rows: list[dict[str, Any]],
        info: LineInfo,
        action: str,
        state: ReaderState,
        summary: Summary,
        horizon: int,
        emit: Emit,
    ) -> None:
        """Gather step rows; alert each sequence whose steps are all there."""
        prefix = f"{rule.rule_id}\x1f{info.host_key}\x1f"
        pending = state.pending
        for key in [k for k, v in pending.items() if k.startswith(prefix) and v[0] != info.run]:
            summary.bad_rows["sequence incomplete in its run"] += len(pending.pop(key)[1])
        ready = []
        for row in rows:
            step, length = as_int(row.get("sequence_step")), as_int(row.get("sequence_length"))
            if step is None or length is None or not 1 <= step <= length <= MAX_STEPS:
                summary.bad_rows["sequence row without a valid step"] += 1
                continue
            key = prefix + str(row.get("sequence_id"))
            entry = pending.setdefault(key, [info.run, {}])
            entry[1][str(step)] = row
            if len(entry[1]) == length:
                ready.append(key)
        run_key = f"{rule.rule_id}\x1f{info.host_key}"
        for key in ready:
            groups = sequence_groups(pending.pop(key)[1].values())
            if not groups:  # steps disagree on the length
                summary.bad_rows["sequence row without a valid step"] += 1
                continue
            group = groups[0]
            shell_id = _sha(f"{run_key}\x1fsequence:{group[0]['sequence_id']}")
            if shell_id in state.seen:
                summary.duplicates += 1
                continue
            if not state.admit(run_key, info.run, rule.max_signals):
                summary.dropped[(rule.name, info.host_name or info.host_key, info.run)] += 1
                continue
            newest = max(as_int(r.get("time")) or 0 for r in group)
            state.seen[shell_id] = _forget_at(newest, info, state, horizon)
            self._sequence(rule, [dict(r) for r in group], info, action, shell_id, emit)
            summary.alerts[(rule.name, rule.severity)] += len(group) + 1

    def _sequence(
        self,
        rule: Rule,
        group: list[dict[str, Any]],
        info: LineInfo,
        action: str,
        shell_id: str,
        emit: Emit,
    ) -> None:
        blocks = []
        for index, row in enumerate(group):
            event = {k: v for k, v in row.items() if k not in SEQUENCE_COLUMNS}
            block = self.factory.parts(rule, event, info, action, _sha(f"{shell_id}\x1f{index}"))
            group_of = {"id": shell_id, "index": index, "building_block_type": "default"}
            blocks.append(block._replace(multi={"sequence": group_of}))
        doc = intersection([b.doc for b in blocks]) or {}
        doc["host"] = dict(doc.get("host") or {})
        doc["event"] = dict(doc.get("event") or {})
        first, last = blocks[0], blocks[-1]
        shell = AlertParts(
            first.rule,
            last.made,
            first.original,
            shell_id,
            reason(doc, first.rule),
            doc,
            last.osquery,
            {
                "sequence": {
                    "id": shell_id,
                    "length": len(blocks),
                    "alerts": [b.uuid for b in blocks],
                }
            },
        )
        for alert in (*blocks, shell):  # Kibana's order: the building blocks, then the shell
            emit(alert)

    def new_terms_hit(
        self,
        rule: Rule,
        alert: AlertParts,
        info: LineInfo,
        gate: NewTermsGate,
        state: ReaderState,
        summary: Summary,
        emit: Emit,
    ) -> int:
        """A new_terms rule's hit: one alert per tuple new in the history window (Kibana's
        ``wrapNewTermsAlerts``: the id hashes the event and the terms), the count made."""
        new = gate.observe(rule.rule_id, event_ms(alert), alert.doc)
        if not new:
            summary.not_new[rule.name] += 1
            return 0
        run_key = f"{rule.rule_id}\x1f{info.host_key}"
        made = 0
        for terms in new:
            if not state.admit(run_key, info.run, rule.max_signals):
                summary.dropped[(rule.name, info.host_name or info.host_key, info.run)] += 1
                continue
            uuid = _sha(f"{alert.uuid}\x1fnew_terms:{orjson.dumps(terms).decode()}")
            emit(alert._replace(uuid=uuid, multi={"new_terms": list(terms)}))
            made += 1
        return made

    def threshold_row(
        self,
        rule: Rule,
        row: dict[str, Any],
        info: LineInfo,
        action: str,
        state: ReaderState,
        summary: Summary,
        horizon: int,
        emit: Emit,
    ) -> None:
        """One bucket row: an alert if its events since the bucket's last alert reach the
        threshold (``since_last_signal``)."""
        if rule.rule_id not in self._thresholds:
            self._thresholds[rule.rule_id] = threshold_of(rule)
        threshold = self._thresholds[rule.rule_id]
        if threshold is None:
            summary.bad_rows["threshold row of a rule without [rule.threshold]"] += 1
            return
        try:
            terms = [
                {"field": str(t["field"]), "value": t["value"]}
                for t in orjson.loads(row["threshold_terms"])
            ]
            for term in terms:
                if term["value"] is None and term["field"] in HOST_TERMS:
                    term["value"] = getattr(info, HOST_TERMS[term["field"]])
            key = f"{rule.rule_id}\x1f{info.host_key}\x1f{orjson.dumps(terms).decode()}"
            counted = since_last_signal(row, threshold, state.last_signal(key))
        except (KeyError, TypeError, ValueError, IndexError, orjson.JSONDecodeError):
            summary.bad_rows["threshold row not readable"] += 1
            return
        if counted is None:  # the bucket's newer events stay below the threshold
            summary.duplicates += 1
            return
        count, distinct, newest = counted
        run_key = f"{rule.rule_id}\x1f{info.host_key}"
        uuid = _sha(f"{key}\x1f{newest}")
        if uuid in state.seen:
            summary.duplicates += 1
            return
        if not state.admit(run_key, info.run, rule.max_signals):
            summary.dropped[(rule.name, info.host_name or info.host_key, info.run)] += 1
            return
        forget_at = _forget_at(newest // 1000, info, state, horizon)
        state.seen[uuid] = forget_at
        state.remember_signal(key, newest, forget_at)
        events = sorted(e[0] for e in orjson.loads(row["threshold_events"]))
        after = _first_counted(events, newest, count)
        result: dict[str, Any] = {"terms": terms, "count": count, "from": _iso_ms(after)}
        if threshold.cardinality_field is not None:
            result["cardinality"] = [{"field": threshold.cardinality_field.name, "value": distinct}]
        event = {k: v for k, v in row.items() if k not in THRESHOLD_COLUMNS}
        alert = self.factory.parts(rule, event, info, action, uuid)
        emit(
            alert._replace(original=_iso_ms(newest) or alert.original, multi={"threshold": result})
        )
        summary.alerts[(rule.name, rule.severity)] += 1


def event_ms(alert: AlertParts) -> int:
    """The event's time in ms (its ``@timestamp``, else ``time``, else the line's): what a
    new_terms tuple is seen at."""
    stamp = alert.original or alert.made
    if not stamp:
        return 0
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return 0
    return round(moment.timestamp() * 1000)


def _forget_at(event_unix: int, info: LineInfo, state: ReaderState, horizon: int) -> int:
    """When a hit can no longer come back: as the reader's single-event hits (lookback plus
    one interval after the later of its event and its line), a checkpoint's int."""
    seen_at = max(event_unix, info.unix_time or 0) or state.newest
    return min(seen_at + horizon, LONG_MAX)


def _first_counted(events_ms: list[int], newest: int, count: int) -> int:
    """The earliest counted event: the ``count`` newest of the bucket end at ``newest``."""
    counted = [ms for ms in events_ms if ms <= newest][-count:]
    return counted[0] if counted else newest
