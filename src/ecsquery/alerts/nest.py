"""Result-log columns → a nested ECS document, compiled once per field table.

``rows.from_row`` is the reference: it walks every column of the table, splits its ECS path
and decodes the value through a generic function, for every row. The reader does this for
every alert, so here the same rules are turned into one straight-line Python function per
field table: each column is one ``row.get``, its converter is inlined, and its parent objects
are local variables made on first use (so the keys come out in ``from_row``'s order and empty
objects never appear). A property test holds the two equal on random rows.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Any

import orjson

from ecsquery.rows import LONG_MAX, LONG_MIN, json_loads
from ecsquery.schema import Column, EcsType, FieldTable

Nester = Callable[[dict[str, Any]], dict[str, Any]]

_CACHE_MAX = 4096
"""Distinct array texts kept decoded (``["process"]`` and ``["start"]`` repeat on every row)."""


def _bool(value: Any) -> bool:
    return str(value).lower() in ("1", "true")


def _array_decoder() -> Callable[[Any], list[Any] | None]:
    """``rows.decode_value`` for array columns, with a cache of texts that decode to strings.

    Cached lists are copied on the way out: every alert gets its own list, as before.
    """
    cache: dict[str, list[Any]] = {}
    loads, error = orjson.loads, orjson.JSONDecodeError

    def decode(value: Any) -> list[Any] | None:
        if value.__class__ is list:
            return value or None
        if isinstance(value, list):
            return value or None
        if value.__class__ is not str:
            try:
                value = json_loads(value)
            except (TypeError, ValueError):
                return [value]
            return (value or None) if isinstance(value, list) else [value]
        hit = cache.get(value)
        if hit is not None:
            return hit[:]
        try:
            decoded = loads(value)
        except error:  # orjson is stricter than json (NaN, lone surrogates): ask json
            try:
                decoded = json_loads(value)
            except ValueError:
                return [value]
        if decoded.__class__ is not list:
            return [decoded]
        if not decoded:
            return None
        if len(cache) < _CACHE_MAX and all(item.__class__ is str for item in decoded):
            cache[value] = decoded[:]
        return decoded

    return decode


def _convert_lines(column: Column) -> list[str]:
    """Statements turning a non-empty ``v`` into the column's ECS value (None: left out).

    ``_long`` is inlined: a call per number column per alert is measurable.
    """
    if column.array:
        return ["v = _array(v)"]
    if column.ecs_type is EcsType.LONG:
        return [
            "if v.__class__ is not int:",
            "    try:",
            "        v = int(v)",
            "    except (TypeError, ValueError, OverflowError):  # a JSON 1e999 is inf",
            "        v = None",
            "if v is not None and not _LONG_MIN <= v <= _LONG_MAX:  # ECS long is 64-bit",
            "    v = None",
        ]
    if column.ecs_type is EcsType.BOOLEAN:
        return ['v = True if v == "1" else False if v == "0" else _bool(v)']
    return ["if v.__class__ is not str:", "    v = str(v)"]


def nester_source(fields: FieldTable) -> str:
    """The Python source of the nester (kept inspectable: it is what runs per alert).

    Every column's value is fetched first into a local ``c<i>``: in one C call
    (``operator.itemgetter``) when the row has every column, as osquery writes our packs' rows;
    else one ``get`` each. A column is then skipped with one string comparison when empty
    (``""`` is most columns of most rows), which is what ``from_row`` leaves out.
    """
    columns = fields.ecs_columns
    names = [f"c{i}" for i in range(len(columns))]
    body = ["def nest(row):"]
    if columns:
        fetch = f"{', '.join(names)}, = _columns(row)" if len(names) > 1 else "c0 = _columns(row)"
        body += ["    try:", f"        {fetch}", "    except KeyError:", "        get = row.get"]
        body += [
            f"        {name} = get({c.name!r})" for name, c in zip(names, columns, strict=True)
        ]
    body.append("    doc = {}")
    parents: dict[tuple[str, ...], str] = {}
    for column in columns:
        assert column.ecs is not None
        path = (column.ecs,) if column.ecs.startswith("@") else tuple(column.ecs.split("."))
        for depth in range(1, len(path)):
            parents.setdefault(path[:depth], f"n{len(parents)}")
    body += [f"    {var} = None" for var in parents.values()]
    for name, column in zip(names, columns, strict=True):
        assert column.ecs is not None
        path = (column.ecs,) if column.ecs.startswith("@") else tuple(column.ecs.split("."))
        body.append(f'    if {name} != "" and {name} is not None:')
        body.append(f"        v = {name}")
        block = _convert_lines(column)
        typed = column.array or column.ecs_type is EcsType.LONG
        inner = "            " if typed else "        "
        block = [f"        {line}" for line in block]
        if typed:
            block.append("        if v is not None:")
        block += [inner + line for line in _make_parents(path, parents)]
        node = parents[path[:-1]] if len(path) > 1 else "doc"
        block.append(f"{inner}{node}[{path[-1]!r}] = v")
        body += block
    body.append("    return doc")
    return "\n".join(body) + "\n"


def _make_parents(path: tuple[str, ...], parents: dict[tuple[str, ...], str]) -> list[str]:
    """Nested ``if`` statements creating the missing parent objects of ``path``, outermost
    last created first: ``if a_b is None: (if a is None: a = doc['a'] = {}) a_b = ...``."""
    lines: list[str] = []

    def ensure(depth: int, indent: str) -> None:
        var = parents[path[:depth]]
        above = "doc" if depth == 1 else parents[path[: depth - 1]]
        lines.append(f"{indent}if {var} is None:")
        if depth > 1:
            ensure(depth - 1, indent + "    ")
        lines.append(f"{indent}    {var} = {above}[{path[depth - 1]!r}] = {{}}")

    if len(path) > 1:
        ensure(len(path) - 1, "")
    return lines


def compile_nester(fields: FieldTable) -> Nester:
    """``rows.from_row(row, fields)`` as one compiled function (same result, several × faster).

    Compiled once per column list: compiling costs milliseconds, and every reader makes one.
    """
    return _compile(fields.columns)


@functools.lru_cache(maxsize=8)
def _compile(columns: tuple[Column, ...]) -> Nester:
    fields = FieldTable(columns)
    names = [c.name for c in fields.ecs_columns]
    namespace: dict[str, Any] = {
        "_bool": _bool,
        "_array": _array_decoder(),
        "_LONG_MIN": LONG_MIN,
        "_LONG_MAX": LONG_MAX,
        "_columns": operator.itemgetter(*names) if names else None,
    }
    source = nester_source(fields)
    exec(compile(source, "<ecsquery nester>", "exec"), namespace)  # our own source only
    nest: Nester = namespace["nest"]
    return nest
