"""AST nodes for rules that look at several events: EQL sequences, threshold, new_terms.

Kept beside ``ast`` (single-event conditions) rather than in it: a sequence is made *of*
single-event queries, so its steps are ordinary ``Query`` values that every pass, compiler and
evaluator already understands, and only the multi-event layer knows these nodes.

Meaning (Elasticsearch's, see ``ecsquery.testing.multi`` for the executable statement):

- ``Sequence``: steps matched in order of time; a step's event joins the previous step's
  only when every key is equal (a key missing from an event never joins, unless the key is an
  optional ``?field``, elastic/elasticsearch#79677); the whole sequence lies within
  ``maxspan_ms`` of its first event; an ``until`` event with the same keys ends every
  partial sequence before it. ``with runs=N`` is N copies of the step (Elasticsearch expands
  it the same way), so ``steps`` is always the expanded list.
- ``Threshold``: events of ``query`` grouped by ``fields`` (all of them present), a bucket
  alerts when it holds at least ``value`` events, and (``cardinality``) at least
  ``cardinality_value`` distinct values of ``cardinality_field``.
- ``NewTerms``: an event of ``query`` whose tuple of ``fields`` values was not seen since
  ``history_seconds`` before the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field

from ecsquery.errors import Pos
from ecsquery.rules.lang.ast import FieldRef, Query


@dataclass(frozen=True)
class Step:
    """One bracketed query of a sequence with its full join key (sequence keys + its own)."""

    query: Query
    keys: tuple[FieldRef, ...] = ()
    pos: Pos | None = dc_field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Sequence:
    """``sequence [by ...] [with maxspan=...] [q] [q] ... [until [q]]`` (runs expanded)."""

    steps: tuple[Step, ...]
    maxspan_ms: int | None = None
    until: Step | None = None
    pos: Pos | None = dc_field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Threshold:
    """A threshold rule's ``threshold`` table over its (single-event) query."""

    query: Query
    fields: tuple[FieldRef, ...]
    value: int
    cardinality_field: FieldRef | None = None
    cardinality_value: int = 0


@dataclass(frozen=True)
class NewTerms:
    """A new_terms rule: its query, the term fields and the history window in seconds."""

    query: Query
    fields: tuple[FieldRef, ...]
    history_seconds: int
