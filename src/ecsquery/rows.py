"""ECS documents ↔ osquery rows, through the one field table.

The extension flattens normalized events into rows; the alert mapper nests result-log columns
back into ECS documents; tests use both directions to feed the same event to SQL and to the
reference evaluator. The encoding is osquery's: every value a string, missing as ``""``,
booleans ``"1"``/``"0"``, arrays as JSON text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from json.encoder import ESCAPE
from typing import Any

from ecsquery.schema import Column, EcsType, FieldTable
from ecsquery.values import NUL, flatten, ip_text, keyword, single, text

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


_ESCAPED = ESCAPE
"""What ``json`` escapes in a string with ``ensure_ascii=False``."""


def _json_array(items: Sequence[str]) -> str:
    """``_ARRAY_JSON(items)`` for text items, without the encoder when nothing needs escaping
    (the common argv: one join and one regex scan instead of the encoder's walk)."""
    if _ESCAPED.search("".join(items)) is None:
        return '["' + '","'.join(items) + '"]'
    return _ARRAY_JSON(items)


def encode_value(column: Column, value: Any) -> str:
    """One ECS value as osquery's row string for that column."""
    if value is None or value == [] or value == "":
        return ""
    if column.array:  # each element as a keyword field indexes it (``values``)
        items = _text_items(value)
        if items is None:
            items = [text(keyword(v)) for v in flatten(value)]
        return _json_array(items) if items else ""
    if isinstance(value, (list, tuple)):  # one value, or ``values.ListInScalar``
        return encode_value(column, single(column.ecs or column.name, value))
    if column.ecs_type is EcsType.IP:  # one text per address, as an ip field (``values``)
        return ip_text(text(keyword(value))) or ""
    if isinstance(value, bool) and column.ecs_type is not EcsType.KEYWORD:
        return "1" if value else "0"
    if column.ecs_type is EcsType.BOOLEAN and isinstance(value, str):
        return {"true": "1", "false": "0"}.get(value.lower(), value)
    return text(keyword(value))


def _text_items(value: Any) -> Sequence[str] | None:
    """The common array (a list or tuple of text): the elements, NUL mapped, with no walk of
    ``values.flatten`` (None for any other shape, which takes the general path)."""
    if value.__class__ is not list and value.__class__ is not tuple:
        return None
    try:
        joined = "".join(value)  # a TypeError unless every element is text
    except TypeError:
        return None
    return value if NUL not in joined else [text(v) for v in value]


Flattener = Callable[[Any, Any], tuple[Any, ...]]
"""``(document, time) → row``; a document is a mapping, or a tuple (``fields``)."""

MEMO_ENTRIES = 1024
"""Per column, the values whose finished form a flattener remembers (then it starts over)."""
MEMO_CHARS = 256
"""Longer strings are finished afresh each time: the memos hold at most ~10 MB however hostile
the input (37 columns × 1,024 entries × 256 characters, with their bytes)."""


def _fast_encoder(
    column: Column,
    finish: Callable[[str], Any],
    memo: dict[Any, Any] | None,
    numbers: dict[int, Any] | None,
) -> Callable[[Any], Any]:
    """``finish(encode_value(column, v))``, remembering the result under ``v`` in ``memo``
    (text, or ``tuple(v)`` for a list of text, when short) or in ``numbers`` (an ``int``)."""

    plain = _plain(column)

    def encoder(v: Any) -> Any:
        cls = v.__class__
        if plain and cls is str:
            result = finish(text(v))
        elif plain and cls is int:
            result = finish(str(v))
        else:
            result = finish(encode_value(column, v))
        if cls is str:
            if memo is None or len(v) > MEMO_CHARS:
                return result
            target: dict[Any, Any] = memo
            key: Any = v
        elif cls is list and memo is not None and all(e.__class__ is str for e in v):
            if sum(map(len, v)) > MEMO_CHARS:
                return result
            target, key = memo, tuple(v)
        elif cls is int and numbers is not None:
            target, key = numbers, v
        else:
            return result
        if len(target) >= MEMO_ENTRIES:
            target.clear()
        target[key] = result
        return result

    return encoder


def _value_lines(i: int, column: Column, value: str, remember: bool, pad: str) -> list[str]:
    """The code finishing column ``i``'s value ``value`` into ``v{i}`` (see make_flattener).

    The tests go by how common a value is: text, then missing, then an ``int`` (never a
    ``bool``: its class is ``bool``), then ``True`` and ``False``."""
    v = f"v{i}"
    lines = [f"{pad}{v} = {value}"]
    if remember:  # text first: the common value, and never None, True or False
        lines.append(f"{pad}if {v}.__class__ is _str: {v} = m{i}.get({v}) or s{i}({v})")
    elif _plain(column):  # a value that rarely repeats: finished at once when it is plain text
        lines.append(f"{pad}if {v}.__class__ is _str and _NUL not in {v}: {v} = q{i}({v})")
    lines.append(f"{pad}{'elif' if remember or _plain(column) else 'if'} {v} is None: {v} = e{i}")
    if remember:
        lines.append(f"{pad}elif {v}.__class__ is _int: {v} = i{i}.get({v}) or f{i}({v})")
    lines += [f"{pad}elif {v} is True: {v} = t{i}", f"{pad}elif {v} is False: {v} = x{i}"]
    if remember and column.array:
        # A list that cannot be a key (a nested list inside) is simply encoded.
        lines.append(f"{pad}elif {v}.__class__ is _list:")
        lines.append(f"{pad}    try: {v} = m{i}.get(tuple({v})) or f{i}({v})")
        lines.append(f"{pad}    except TypeError: {v} = f{i}({v})")
    lines.append(f"{pad}else: {v} = f{i}({v})")
    return lines


def _text_memo(
    column: Column,
    finish: Callable[[str], Any],
    memo: dict[Any, Any],
    general: Callable[[Any], Any],
) -> Callable[[str], Any]:
    """What a memoized column does with text it has not seen: for a plain column, finish it
    and remember it (short text only), as ``general`` does, in fewer steps (a column of
    unique text, ``@timestamp`` from eslogger, misses on every event)."""
    if not _plain(column):
        return general

    def remember(v: str) -> Any:
        result = finish(v if NUL not in v else text(v))
        if len(v) <= MEMO_CHARS:
            if len(memo) >= MEMO_ENTRIES:
                memo.clear()
            memo[v] = result
        return result

    return remember


def _plain(column: Column) -> bool:
    """Text and ints need none of ``encode_value``'s checks in a column that is no array, no
    boolean and no ip (an ip's text is made canonical there: ``values.ip_text``)."""
    return not column.array and column.ecs_type not in (EcsType.BOOLEAN, EcsType.IP)


def make_flattener(
    columns: Sequence[Column],
    finish: Sequence[Callable[[str], Any]],
    memoize: Sequence[bool] | None = None,
    fields: Sequence[str] | None = None,
) -> Flattener:
    """A function ``(doc, time) → row`` for documents nested one key per level (the ones
    :mod:`ecsquery.extension.ecs` writes), generated from the field table.

    Equal to ``finish[i](encode_value(c, get_path(doc, c.ecs)))`` per column (``time`` for the
    column without an ECS field) on such documents, but as straight-line code: each parent
    object is looked up once, with no dotted-path search and no ABC ``isinstance`` checks; a
    missing value, ``True`` and ``False`` are constants finished once; a value already
    seen in a ``memoize`` column is one dict lookup, and plain text in any other column is
    finished at once. Each column has two memos, one for text (and lists of text), one for
    ``int``, and a lookup is guarded by the value's exact class, so ``1``, ``1.0``, ``True``
    and ``"1"`` (equal or not as dict keys) never meet. A document with dotted keys (a
    foreign ECS export) must go through :func:`get_path` instead. ``fields``: documents that
    are tuples of these fields' values (a column of no field among them is missing), one
    index per column.
    """
    env: dict[str, Any] = {"_E": {}, "_dict": dict, "_list": list, "_str": str, "_int": int}
    env["_NUL"] = NUL
    lines = ["def flatten(doc, time):", "    n = doc"]
    nodes: dict[tuple[str, ...], str] = {(): "n"}

    def node(prefix: tuple[str, ...]) -> str:
        if prefix not in nodes:
            parent = node(prefix[:-1])
            name = nodes[prefix] = f"n{len(nodes)}"
            lines.append(f"    {name} = {parent}.get({prefix[-1]!r}, _E)")
            lines.append(f"    if {name}.__class__ is not _dict: {name} = _E")
        return nodes[prefix]

    for i, column in enumerate(columns):
        remember = memoize is None or memoize[i]
        memo: dict[Any, Any] | None = {} if remember else None
        numbers: dict[int, Any] | None = {} if remember else None
        env[f"f{i}"] = _fast_encoder(column, finish[i], memo, numbers)
        if memo is not None:
            env[f"s{i}"] = _text_memo(column, finish[i], memo, env[f"f{i}"])
        env[f"q{i}"] = finish[i]
        env[f"m{i}"], env[f"i{i}"] = memo, numbers
        for name, constant in (("e", None), ("t", True), ("x", False)):
            env[f"{name}{i}"] = finish[i](encode_value(column, constant))
        if column.ecs is None:
            lines += _value_lines(i, column, "time", remember, "    ")
            continue
        if fields is not None:
            if column.ecs not in fields:
                lines.append(f"    v{i} = e{i}")
                continue
            value = f"doc[{list(fields).index(column.ecs)}]"
        else:
            dotted = column.ecs.startswith("@")
            parts = (column.ecs,) if dotted else tuple(column.ecs.split("."))
            value = f"{node(parts[:-1])}.get({parts[-1]!r})"
        lines += _value_lines(i, column, value, remember, "    ")
    lines.append("    return (" + ", ".join(f"v{i}" for i in range(len(columns))) + ",)")
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
