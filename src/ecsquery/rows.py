"""ECS documents ↔ osquery rows, through the one field table.

The extension flattens normalized events into rows; the alert mapper nests result-log columns
back into ECS documents; tests use both directions to feed the same event to SQL and to the
reference evaluator. The encoding is osquery's: every value a string, missing as ``""``,
booleans ``"1"``/``"0"``, arrays as JSON text.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ecsquery.schema import Column, EcsType, FieldTable
from ecsquery.values import flatten, ip_text, keyword, single, text

_MISSING = object()

LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1
"""The range of an ECS ``long``; a value outside it is unreadable, so treated as missing."""


def get_path(doc: Mapping[str, Any], dotted: str) -> Any:
    """A field from a nested ECS document, accepting dotted keys at any level (as ES does)."""
    if dotted in doc:
        return doc[dotted]
    head, sep, rest = dotted.partition(".")
    while sep:
        sub = doc.get(head, _MISSING)
        if isinstance(sub, Mapping):
            found = get_path(sub, rest)
            if found is not None:
                return found
        nxt, sep, rest = rest.partition(".")
        head = f"{head}.{nxt}"
        if head in doc and not sep:
            return doc[head]
    return None


_ARRAY_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
"""The one encoder for array columns (``json.dumps`` with options builds a new one per call)."""


def encode_value(column: Column, value: Any) -> str:
    """One ECS value as osquery's row string for that column."""
    if value is None or value == [] or value == "":
        return ""
    if column.array:  # each element as a keyword field indexes it (``values``)
        items = [text(keyword(v)) for v in flatten(value)]
        return _ARRAY_JSON(items) if items else ""
    if isinstance(value, (list, tuple)):  # one value, or ``values.ListInScalar``
        return encode_value(column, single(column.ecs or column.name, value))
    if column.ecs_type is EcsType.IP:  # one text per address, as an ip field (``values``)
        return ip_text(text(keyword(value))) or ""
    if isinstance(value, bool) and column.ecs_type is not EcsType.KEYWORD:
        return "1" if value else "0"
    if column.ecs_type is EcsType.BOOLEAN and isinstance(value, str):
        return {"true": "1", "false": "0"}.get(value.lower(), value)
    return text(keyword(value))


Flattener = Callable[[Mapping[str, Any], Any], tuple[Any, ...]]

MEMO_ENTRIES = 1024
"""Per column, the values whose finished form a flattener remembers (then it starts over)."""
MEMO_CHARS = 256
"""Longer strings are finished afresh each time: the memos hold at most ~10 MB however hostile
the input (37 columns × 1,024 entries × 256 characters, with their bytes)."""


def _fast_encoder(
    column: Column, finish: Callable[[str], Any], memo: dict[Any, Any] | None
) -> Callable[[Any], Any]:
    """``finish(encode_value(column, v))``, remembering the result in ``memo`` (if any)
    under ``v`` (or ``tuple(v)`` for an array) when that is hashable and short."""

    def encoder(v: Any) -> Any:
        result = finish(encode_value(column, v))
        if memo is not None:
            # Only text is remembered: ``1``, ``1.0`` and ``True`` are equal dict keys but
            # encode differently in one keyword column, and a str key never equals a number.
            if v.__class__ is str:
                if len(v) > MEMO_CHARS:
                    return result
                key: Any = v
            elif v.__class__ is list and all(e.__class__ is str for e in v):
                if sum(map(len, v)) > MEMO_CHARS:
                    return result
                key = tuple(v)
            else:
                return result
            if len(memo) >= MEMO_ENTRIES:
                memo.clear()
            with contextlib.suppress(TypeError):  # unhashable: nothing to remember
                memo[key] = result
        return result

    return encoder


def make_flattener(
    columns: Sequence[Column],
    finish: Sequence[Callable[[str], Any]],
    memoize: Sequence[bool] | None = None,
) -> Flattener:
    """A function ``(doc, time) → row`` for documents nested one key per level (the ones
    :func:`ecsquery.extension.ecs.build_document` writes), generated from the field table.

    Equal to ``finish[i](encode_value(c, get_path(doc, c.ecs)))`` per column (``time`` for the
    column without an ECS field) on such documents, but as straight-line code: each parent
    object is looked up once, with no dotted-path search and no ABC ``isinstance`` checks,
    and a value already seen in a ``memoize`` column is one dict lookup (each column has its
    own memo, and only text is remembered, so ``1``, ``True`` and ``"1"`` never meet). A
    document with dotted keys (a foreign ECS export) must go through :func:`get_path` instead.
    """
    env: dict[str, Any] = {"_E": {}, "_dict": dict, "_list": list, "_tuple": tuple}
    lines = ["def flatten(doc, time):", "    n = doc"]
    nodes: dict[tuple[str, ...], str] = {(): "n"}
    values = []
    for i, column in enumerate(columns):
        memo: dict[Any, Any] | None = {} if memoize is None or memoize[i] else None
        env[f"f{i}"], env[f"m{i}"] = _fast_encoder(column, finish[i], memo), memo
        if column.ecs is None:
            value = "time"
        else:
            parts = (column.ecs,) if column.ecs.startswith("@") else tuple(column.ecs.split("."))
            for depth in range(1, len(parts)):
                prefix = parts[:depth]
                if prefix not in nodes:
                    name = nodes[prefix] = f"n{len(nodes)}"
                    parent = nodes[prefix[:-1]]
                    lines.append(f"    {name} = {parent}.get({prefix[-1]!r}, _E)")
                    lines.append(f"    if {name}.__class__ is not _dict: {name} = _E")
            value = f"{nodes[parts[:-1]]}.get({parts[-1]!r})"
        lines.append(f"    v{i} = {value}")
        if memo is None:
            values.append(f"f{i}(v{i})")
            continue
        key = f"(_tuple(v{i}) if v{i}.__class__ is _list else v{i})" if column.array else f"v{i}"
        # A value that cannot be a key (a nested list) is simply encoded: never an error.
        lines.append(f"    try: v{i} = m{i}.get({key}) or f{i}(v{i})")
        lines.append(f"    except TypeError: v{i} = f{i}(v{i})")
        values.append(f"v{i}")
    lines.append("    return (" + ", ".join(values) + ",)")
    exec(compile("\n".join(lines), f"<flattener of {len(columns)} columns>", "exec"), env)
    flatten: Flattener = env["flatten"]
    return flatten


def to_row(doc: Mapping[str, Any], fields: FieldTable) -> dict[str, str]:
    """Flatten an ECS document into a row with every column of the table (``""`` if missing)."""
    return {
        c.name: encode_value(c, get_path(doc, c.ecs) if c.ecs else doc.get(c.name)) for c in fields
    }


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def json_loads(text: Any) -> Any:
    """``json.loads``, with lone surrogates (a JSON ``"\\ud800"`` escape) made U+FFFD.

    Array columns are JSON text inside the line's JSON; ``json`` accepts a lone surrogate
    escape (orjson does not), but such a string cannot be written as UTF-8 again, so the
    alert could not be encoded. The reader already replaces undecodable bytes the same way.
    """
    return _whole(json.loads(text))


def _whole(value: Any) -> Any:
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_whole(v) for v in value]
    if isinstance(value, dict):
        return {_whole(k): _whole(v) for k, v in value.items()}
    return value


def decode_value(column: Column, text: Any) -> Any:
    """A row value back as ECS typed it; None when missing or unreadable for the column."""
    if text is None or text == "":
        return None
    if column.array:
        if isinstance(text, list):
            return text or None
        try:
            value = json_loads(text)
        except (TypeError, ValueError):
            return [text]
        if isinstance(value, list):
            return value or None  # an empty array counts as missing (schema.py)
        return [value]
    if column.ecs_type is EcsType.BOOLEAN:
        return str(text).lower() in ("1", "true")
    if column.ecs_type is EcsType.LONG:
        try:
            number = int(text)
        except (TypeError, ValueError, OverflowError):  # OverflowError: a JSON 1e999 is inf
            return None
        return number if LONG_MIN <= number <= LONG_MAX else None  # ECS long is 64-bit
    return str(text)


def from_row(row: Mapping[str, Any], fields: FieldTable) -> dict[str, Any]:
    """Nest the ECS columns of a row back into an ECS document (missing values left out)."""
    doc: dict[str, Any] = {}
    for column in fields.ecs_columns:
        if column.name not in row:
            continue
        value = decode_value(column, row[column.name])
        if value is None:
            continue
        assert column.ecs is not None
        if column.ecs.startswith("@"):
            doc[column.ecs] = value
            continue
        node = doc
        *parents, leaf = column.ecs.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return doc
