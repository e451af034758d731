"""Replay lines that already are ECS documents (Elastic Defend exports, scenario fixtures)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ecsquery.extension.normalize.errors import BadRecord
from ecsquery.rows import get_path
from ecsquery.values import ListInScalar, check_scalars


def is_ecs(record: Mapping[str, Any]) -> bool:
    return "@timestamp" in record or isinstance(record.get("event"), Mapping)


def from_ecs(record: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
    """(source time in Unix seconds, the document); the time comes from ``@timestamp``."""
    stamp = get_path(record, "@timestamp")
    if not isinstance(stamp, str):
        raise BadRecord("missing_field", "ECS document without @timestamp")
    try:
        time = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise BadRecord("malformed", f"ECS @timestamp {stamp!r}: {exc}") from exc
    try:
        check_scalars(record)
    except ListInScalar as exc:
        raise BadRecord("list_in_scalar", str(exc)) from exc
    return int(time), dict(record)
