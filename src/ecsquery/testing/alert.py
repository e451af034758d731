"""The alert built the plain way, for tests: ``rows.from_row`` nests the row.

``AlertFactory`` nests rows with a function compiled per field table (``alerts.nest``) and
encodes each rule's part once; everything else about an alert (host rules, times, reason, id,
``osquery`` block) exists once, in the factory. This reference is that same factory with the
generic nester, its document (in either shape) encoded whole by ``orjson``: property tests
hold the reader's bytes equal to it.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from ecsquery.alerts.alert import AlertFactory, Shape
from ecsquery.alerts.resultlog import LineInfo
from ecsquery.rows import from_row
from ecsquery.rules.model import Rule
from ecsquery.schema import FieldTable


def reference_factory(fields: FieldTable) -> AlertFactory:
    """An ``AlertFactory`` nesting with ``rows.from_row`` instead of the compiled nester."""
    return AlertFactory(fields, nest=partial(from_row, fields=fields))


def reference_alert(
    rule: Rule,
    row: dict[str, Any],
    info: LineInfo,
    action: str,
    uuid: str,
    fields: FieldTable,
    shape: Shape[Any],
) -> dict[str, Any]:
    """The alert document of one hit in ``shape``, nested the plain way."""
    return shape.document(reference_factory(fields).parts(rule, row, info, action, uuid))
