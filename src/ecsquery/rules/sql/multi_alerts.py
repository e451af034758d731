"""The pieces the alert reader needs to turn multi-event rows into Elastic-shaped alerts.

A completed sequence arrives as one result row per step event (``multi_sequence``). Kibana
turns an EQL sequence into N+1 alerts (``buildAlertGroupFromSequence``, elastic/kibana
``.../rule_types/eql/build_alert_group_from_sequence.ts``): one *building-block* alert per
event, built like a single-event alert from that event and carrying
``kibana.alert.building_block_type: "default"``, ``kibana.alert.group.id`` (the shell's id)
and ``kibana.alert.group.index`` (the step, from 0); and one *shell* alert whose source is the
intersection of the building blocks' documents (``objectPairIntersection``: a key stays when
both sides have it, nested objects recursively, other values only when equal) plus the rule
fields, with ``kibana.alert.group.id`` = its own id and the building blocks as ancestors.

``sequence_groups`` gives the rows of each sequence in step order; ``intersection`` is the
shell's merged document. The reader builds each building block with its single-event builder
and the shell from ``intersection`` of their ECS documents. Ids: the shell's
``kibana.alert.group.id`` should be derived from ``sequence_id`` (the steps' ``event.id``
list: stable across runs), each building block's from it and its index.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ecsquery.rules.sql.multi_sequence import SEQUENCE_COLUMNS

ID, STEP, LENGTH = SEQUENCE_COLUMNS


def sequence_groups(rows: Iterable[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """Rows grouped by ``sequence_id``, each group in step order; only complete groups (a
    result line can be split, a group short of ``sequence_length`` rows waits for the rest)."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(str(row[ID]), []).append(row)
    out = []
    for members in groups.values():
        members.sort(key=lambda r: int(r[STEP]))
        if len(members) == int(members[0][LENGTH]):
            out.append(members)
    return out


def intersection(docs: list[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Kibana's ``objectArrayIntersection`` of the building blocks' documents."""
    if not docs:
        return None
    merged: dict[str, Any] | None = dict(docs[0])
    for doc in docs[1:]:
        merged = _pair(merged, doc)
    return merged


def _pair(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if a is None or b is None:
        return None
    out: dict[str, Any] = {}
    for key, left in a.items():
        if key not in b:
            continue
        right = b[key]
        if isinstance(left, Mapping) and isinstance(right, Mapping):
            out[key] = _pair(left, right)
        elif left == right:
            out[key] = left
    return out if any(v is not None for v in out.values()) else None
