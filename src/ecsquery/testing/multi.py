"""Reference semantics of multi-event rules over an ordered list of ECS documents, in Python.

Written from Elasticsearch's documentation and its matcher's structure, independently of the
SQL (nothing here imports ``ecsquery.rules.sql``), so that property tests comparing the two
catch a mistake in either. Single-event conditions come from the single-event reference.

Sequences (EQL docs "Sequences"; ``SequenceMatcher.match`` / ``OrdinalGroup.trimBefore``,
elastic/elasticsearch 16b5b76c / e46e35ec): events are ordered by ``@timestamp`` (ms), ties by
``event.id``; the stages are processed one after the other over that ordered list, as
Elasticsearch's window does (stage 0's hits, then stage 1's...). Per stage and join key, a
list of partial sequences in order of their last event:

- a stage-0 hit starts a partial sequence;
- a stage-*s* hit takes the latest partial sequence of stage *s-1* whose last event is before
  it, removing that one and every older one; then rejects it if the hit is more than maxspan
  after the sequence's first event, or if the latest ``until`` event before the hit is at or
  after the sequence's last event; otherwise extends it (a completed sequence at the end);
- a join key is the values of the step's keys; a missing value (absent, null, ``""``) leaves
  the event out of that step unless the key is optional (``?field``: null joins null).

Threshold (Kibana's threshold rule docs): group the matching events by the fields' values
(an event missing any field is in no bucket), keep buckets of at least ``value`` events and
(with cardinality) at least that many distinct values of the cardinality field.

new_terms (Kibana docs "New terms rule"): an event alerts when its tuple of term values was
not seen in any matching event from the history window start up to before the run's window;
an array field contributes each of its values (every combination is a term tuple).

ES|QL (Elasticsearch docs "ES|QL" commands and functions, "multivalued fields"): commands run
one after the other over the rows; ``MV_EXPAND f`` turns a row into one row per value of
``f`` — a keyword array's values are distinct (Elasticsearch removes duplicates on write) —
or one row with ``f`` null when it has no value. A document read from a data stream carries
its name's parts (``type-dataset-namespace``, Elastic's data stream naming scheme) as
``data_stream.type``/``data_stream.dataset``.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Sequence as Seq
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ecsquery.rows import get_path
from ecsquery.rules.lang import esql
from ecsquery.rules.lang.ast import FieldRef, Pattern, Query
from ecsquery.rules.lang.multi import Sequence, Step, Threshold
from ecsquery.rules.lang.passes import optimize
from ecsquery.schema import FieldTable
from ecsquery.testing.reference import evaluate, lucene_regex, matches, values, wildcard_matches

Doc = Mapping[str, Any]
# The single-event reference is imported from ``ecsquery.testing.reference`` here only (it is
# moving to ``ecsquery.testing.reference``: change that one import line).
Matcher = Callable[[Query, Doc], bool]


def event_ms(doc: Doc) -> int:
    """An event's time in milliseconds: ``@timestamp``, else the ``time`` seconds."""
    stamp = get_path(doc, "@timestamp")
    if isinstance(stamp, str) and stamp:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        return round(moment.timestamp() * 1000)
    return int(doc["time"]) * 1000


def ordinal(doc: Doc) -> tuple[int, str]:
    """Elasticsearch's order: timestamp, then a tiebreaker (here ``event.id``)."""
    return event_ms(doc), str(get_path(doc, "event.id") or "")


def join_key(step: Step, doc: Doc) -> tuple[Any, ...] | None:
    """The step's key values for ``doc``, or None when a non-optional one is missing."""
    out = []
    for ref in step.keys:
        found = values(doc, ref)
        if not found and not ref.optional:
            return None
        out.append(found[0] if found else None)
    return tuple(out)


@dataclass
class _Partial:
    docs: list[Doc]
    start: tuple[int, str]
    last: tuple[int, str]


def sequences(seq: Sequence, docs: Iterable[Doc], match: Matcher = matches) -> list[list[Doc]]:
    """Every completed sequence Elasticsearch's matcher returns, each as its step events."""
    ordered = sorted(docs, key=ordinal)
    untils: dict[tuple[Any, ...], list[tuple[int, str]]] = defaultdict(list)
    if seq.until is not None:
        for doc in ordered:
            key = join_key(seq.until, doc)
            if key is not None and match(seq.until.query, doc):
                untils[key].append(ordinal(doc))
    limit = seq.maxspan_ms
    groups: list[dict[tuple[Any, ...], list[_Partial]]] = [defaultdict(list) for _ in seq.steps]
    completed: list[list[Doc]] = []
    for stage, step in enumerate(seq.steps):
        for doc in ordered:
            key = join_key(step, doc)
            if key is None or not match(step.query, doc):
                continue
            here = ordinal(doc)
            if stage == 0:
                groups[0][key].append(_Partial([doc], here, here))
                continue
            group = groups[stage - 1].get(key, [])
            before = [i for i, p in enumerate(group) if p.last < here]
            if not before:
                continue
            taken = group[before[-1]]
            del group[: before[-1] + 1]
            if limit is not None and here[0] - taken.start[0] > limit:
                continue
            nearest = [u for u in untils.get(key, ()) if u < here]
            if nearest and taken.last <= nearest[-1]:
                continue
            grown = _Partial([*taken.docs, doc], taken.start, here)
            if stage == len(seq.steps) - 1:
                completed.append(grown.docs)
            else:
                groups[stage][key].append(grown)
    return completed


# --------------------------------------------------------------------------- threshold


def bucket_values(fields: Seq[FieldRef], doc: Doc) -> list[tuple[Any, ...]]:
    """The bucket keys an event falls in: one per combination of its fields' values."""
    per_field = [values(doc, ref) for ref in fields]
    if any(not v for v in per_field):
        return []
    return [tuple(combo) for combo in itertools.product(*per_field)]


def threshold(
    rule: Threshold, docs: Iterable[Doc], match: Matcher = matches
) -> dict[tuple[Any, ...], tuple[int, int]]:
    """Alerting buckets → (event count, distinct cardinality values)."""
    counts: dict[tuple[Any, ...], int] = defaultdict(int)
    distinct: dict[tuple[Any, ...], set[Any]] = defaultdict(set)
    for doc in docs:
        if not match(rule.query, doc):
            continue
        for bucket in dict.fromkeys(bucket_values(rule.fields, doc)):
            counts[bucket] += 1
            if rule.cardinality_field is not None:
                distinct[bucket].update(values(doc, rule.cardinality_field))
    out = {}
    for bucket, count in counts.items():
        seen = len(distinct[bucket])
        if count >= rule.value and (
            rule.cardinality_field is None or seen >= rule.cardinality_value
        ):
            out[bucket] = (count, seen)
    return out


# --------------------------------------------------------------------------- new_terms


def new_terms(
    fields: Seq[str], history_ms: int, learning_ms: int, docs: Iterable[tuple[int, Doc]]
) -> list[tuple[int, tuple[Any, ...]]]:
    """``(event ms, tuple)`` for each event whose tuple occurred in no earlier event of the
    last ``history_ms`` (ties in time count as earlier when listed earlier), once the rule's
    learning period (from its first event) is over."""
    ordered = sorted(docs, key=lambda d: d[0])
    if not ordered:
        return []
    learning_until = ordered[0][0] + learning_ms
    seen: list[tuple[int, tuple[Any, ...]]] = []
    out = []
    for ms, doc in ordered:
        for terms in dict.fromkeys(bucket_values([FieldRef(f) for f in fields], doc)):
            recent = any(t == terms and when >= ms - history_ms for when, t in seen)
            if not recent and ms >= learning_until:
                out.append((ms, terms))
            seen.append((ms, terms))
    return out


# --------------------------------------------------------------------------- ES|QL subset

_MULTI = object()  # a multi-valued field: null for comparisons and scalar functions


def _data_stream(pattern: str) -> dict[str, str]:
    """``data_stream.*`` of every document in the data streams ``pattern`` names."""
    kind, dataset, _namespace = pattern.split("-", 2)
    return {"data_stream.type": kind, "data_stream.dataset": dataset}


def _stream_of(category: str) -> dict[str, str]:
    return _data_stream(next(s for s, c in esql.STREAMS.items() if c == category))


def _esql_value(doc: Doc, name: str, category: str) -> Any:
    if name == "@timestamp":
        return event_ms(doc)
    stream = _stream_of(category)
    if name in stream:
        return stream[name]
    raw = get_path(doc, name)
    listed = raw if isinstance(raw, list | tuple) else [raw]
    items = list(dict.fromkeys(v for v in listed if v is not None and v != ""))  # a keyword set
    if not items:
        return None
    return items[0] if len(items) == 1 else _MULTI


def _scalar(value: Any) -> Any:
    return None if value is _MULTI else value


def esql_eval(node: esql.Node, doc: Doc, env: Mapping[str, Any], category: str = "process") -> Any:
    """One ES|QL expression over one row (``env``: EVAL'd or STATS names), null as None;
    ``category`` is the source's (``Pipeline.category``: its stream's ``data_stream.*``)."""

    def ev(n: esql.Node) -> Any:
        return _scalar(esql_eval(n, doc, env, category))

    if isinstance(node, esql.Lit):
        return node.value
    if isinstance(node, esql.Field):
        return env[node.name] if node.name in env else _esql_value(doc, node.name, category)
    if isinstance(node, esql.Bool):
        vals = [ev(c) for c in node.children]
        if node.op == "and":
            return False if False in vals else (None if None in vals else True)
        return True if True in vals else (None if None in vals else False)
    if isinstance(node, esql.Neg):
        v = ev(node.child)
        return None if v is None else not v
    if isinstance(node, esql.IsNull):
        raw = esql_eval(node.left, doc, env, category)
        return (raw is not None) if node.negated else (raw is None)
    if isinstance(node, esql.Cmp):
        a, b = ev(node.left), ev(node.right)
        if a is None or b is None:
            return None
        return {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[
            node.op
        ]
    if isinstance(node, esql.Like):
        v = ev(node.left)
        if v is None:
            return None
        if node.regex:
            hit = lucene_regex(node.pattern, False).fullmatch(v) is not None
        else:
            hit = wildcard_matches(Pattern.parse(node.pattern, "*?", escape="\\"), v, False)
        return hit != node.negated
    if isinstance(node, esql.In):
        v = ev(node.left)
        items = [ev(i) for i in node.items]
        if v is None:
            return None
        found = True if v in items else (None if None in items else False)
        return found if found is None or not node.negated else not found
    if isinstance(node, esql.Kql):
        table = FieldTable().for_category(category)
        assert table is not None, "esql.STREAMS holds served categories only"
        return evaluate(optimize(node.where, table), doc)
    if isinstance(node, esql.Call):
        args = [ev(a) for a in node.args]
        if node.name == "case":
            for i in range(0, len(args) - 1, 2):
                if args[i] is True:
                    return args[i + 1]
            return args[-1] if len(args) % 2 else None
        if any(a is None for a in args):
            return None
        functions: dict[str, Callable[..., Any]] = {
            "to_lower": lambda s: s.lower(),
            "length": len,
            "locate": lambda s, sub: s.find(sub) + 1,
            "space": lambda n: " " * n,
            "date_trunc": lambda step, ms: ms // step * step,
        }
        return functions[node.name](*args)
    raise TypeError(type(node).__name__)


def esql_rows(pipeline: esql.Pipeline, docs: Iterable[Doc]) -> list[dict[str, Any]]:
    """The rows an ES|QL pipeline returns: per event (``event.id`` and EVAL names), or per
    STATS group (BY names and aggregates; VALUES sorted)."""
    rows: list[tuple[Doc, dict[str, Any]]] = [(d, {}) for d in docs]
    category = pipeline.category
    stats_done = False
    out: list[dict[str, Any]] = []
    for command in pipeline.commands:
        if isinstance(command, esql.Where):
            if stats_done:
                out = [r for r in out if esql_eval(command.condition, {}, r, category) is True]
            else:
                rows = [
                    (d, e) for d, e in rows if esql_eval(command.condition, d, e, category) is True
                ]
        elif isinstance(command, esql.Eval):
            for doc, env in rows:
                for name, value in command.assignments:
                    env[name] = _scalar(esql_eval(value, doc, env, category))
        elif isinstance(command, esql.MvExpand):
            rows = [
                (doc, {**env, command.field: value})
                for doc, env in rows
                for value in _expanded(doc, env, command.field)
            ]
        elif isinstance(command, esql.Stats):
            groups: dict[tuple[Any, ...], list[tuple[Doc, dict[str, Any]]]] = defaultdict(list)
            for doc, env in rows:
                key = tuple(_scalar(esql_eval(v, doc, env, category)) for _, v in command.by)
                groups[key].append((doc, env))
            for key, members in groups.items():
                row = dict(zip((n for n, _ in command.by), key, strict=True))
                for name, call in command.aggregates:
                    row[name] = _aggregate(call, members, category)
                out.append(row)
            stats_done = True
    if stats_done:
        return out
    return [{"event.id": get_path(d, "event.id"), **e} for d, e in rows]


def _expanded(doc: Doc, env: Mapping[str, Any], name: str) -> list[Any]:
    """The values ``MV_EXPAND name`` makes rows of: each distinct one once, or ``[None]``."""
    if name in env:
        return [env[name]]
    raw = get_path(doc, name)
    items = raw if isinstance(raw, list | tuple) else [raw]
    present = list(dict.fromkeys(v for v in items if v is not None and v != ""))
    return present or [None]


def _aggregate(call: esql.Call, members: list[tuple[Doc, dict[str, Any]]], category: str) -> Any:
    if call.star:
        return len(members)
    values = (_scalar(esql_eval(call.args[0], d, e, category)) for d, e in members)
    present = [v for v in values if v is not None]
    if call.name == "count":
        return len(present)
    if call.name == "count_distinct":
        return len(set(present))
    if call.name == "values":
        return sorted(set(present))
    if not present:
        return None
    return min(present) if call.name == "min" else max(present)
