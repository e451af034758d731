"""osquery's SQL engine, here: SQLite with osquery's table types, ``time`` table and functions.

osqueryd cannot run in CI, but its SQL engine is SQLite (with JSON1) plus a few functions and
virtual tables. This module rebuilds the parts our pack SQL touches, to osquery's behaviour as
read in its sources (osquery/osquery on GitHub), so the compiled SQL is tested on the engine
it will meet:

- ``ecs_process_events`` with the exact column names and declared types of ``schema.COLUMNS``.
- Row values as the extension's rows become SQL values (``osquery/sql/dynamic_table_row.cpp``,
  ``DynamicTableRow::get_column``, read for this module): a column missing from the row is
  NULL; TEXT is the string as is (so ``""`` stays ``""``); INTEGER/BIGINT go through
  ``tryTo<long>``/``tryTo<long long>`` with base 0, i.e. ``std::stol(s, &pos, 0)``
  (``osquery/utils/conversions/tryto.h``): leading blanks and a sign are accepted, ``0x``
  means hex and a leading ``0`` octal, trailing junk is ignored (``pos`` is not checked), and
  an empty or non-numeric string, or one out of range, becomes NULL. INTEGER is then stored
  with ``sqlite3_result_int`` (32-bit truncation).
- ``time``: a one-row table with osquery's ``unix_time`` column (settable with ``set_now``).
- ``regex_match(value, pattern, index)``, ``concat``, ``concat_ws`` (``sqlite_string.cpp``):
  ``regex_match`` is NULL if any argument is NULL, fails the query for a pattern over 256
  bytes (``--regex_max_size``) or an invalid one, runs ``std::regex_search`` with default
  (ECMAScript) flags over the value's bytes, and returns group ``index`` as text, or NULL when
  nothing matches or ``index`` is past the last group. Here Python's ``re`` runs on the UTF-8
  bytes, with two ECMAScript differences bridged: ``$`` (outside a class) only matches at the
  very end (``\\Z``), and ``.`` does not match ``\\r`` either. Not mirrored: ECMAScript-only
  syntax our compiler never emits (``\\cX``, ``[\\b]``, lookbehind differences, backreference
  quirks) and std::regex's locale-dependent classes (we assume the C locale).
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Literal

from ecsquery.schema import TABLE, FieldTable, OsqueryType

REGEX_MAX_SIZE = 256
_INT = re.compile(rb"^[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
_LIMITS = {OsqueryType.INTEGER: 2**63, OsqueryType.BIGINT: 2**63}

Missing = Literal["osquery", "null", "empty"]
"""How ``insert_rows`` stores a missing value (``""`` or an absent key):

- ``osquery``: as osquery does (absent → NULL, TEXT ``""`` kept, numeric ``""`` → NULL);
- ``null``: every missing value NULL; ``empty``: every missing value ``''``, numbers too (a
  stricter engine than osquery, to prove the SQL guards against ``''`` everywhere).
"""


def osquery_integer(text: str, sql_type: OsqueryType) -> int | None:
    """A row string as osquery's ``tryTo<long>(s, 0)`` reads it, or None (SQL NULL)."""
    match = _INT.match(text.encode("utf-8", "surrogatepass"))
    if not match:
        return None
    sign, digits = match.group(1), match.group(2).decode()
    if digits[:2].lower() == "0x":
        value = int(digits[2:], 16)
    elif digits.startswith("0"):
        value = int(digits, 8)
    else:
        value = int(digits)
    value = -value if sign == b"-" else value
    if not -_LIMITS[sql_type] <= value < _LIMITS[sql_type]:
        return None
    if sql_type is OsqueryType.INTEGER:  # sqlite3_result_int takes a C int
        value = (value + 2**31) % 2**32 - 2**31
    return value


@lru_cache(maxsize=256)
def _ecmascript(pattern: str) -> re.Pattern[bytes]:
    """Python's ``re`` pattern (on bytes) that behaves like std::regex's ECMAScript one."""
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            if pattern[i + 1 : i + 2] == "]":  # ECMAScript "[]" is an empty class
                out.append("(?!)")
                i += 2
                in_class = False
                continue
        elif ch == "$":
            ch = r"\Z"
        elif ch == ".":
            ch = r"[^\n\r]"
        out.append(ch)
        i += 1
    return re.compile("".join(out).encode("utf-8"))


def regex_match(value: object, pattern: object, index: object) -> str | None:
    """osquery's ``regex_match``: a search, group ``index`` as text, NULL for no match."""
    if value is None or pattern is None or index is None:
        return None
    pattern_text = str(pattern)
    if len(pattern_text.encode("utf-8")) > REGEX_MAX_SIZE:
        raise ValueError(f"Invalid regex: too big, max size is {REGEX_MAX_SIZE} bytes")
    try:
        compiled = _ecmascript(pattern_text)
    except re.error as exc:
        raise ValueError("Invalid regex") from exc
    found = compiled.search(_text(value).encode("utf-8", "surrogatepass"))
    group = int(index) if isinstance(index, int | float | str) else 0
    if found is None or not 0 <= group <= compiled.groups:
        return None
    return (found.group(group) or b"").decode("utf-8", "replace")


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _concat(sep: str, args: tuple[object, ...]) -> str | None:
    """osquery's concat loop: NULLs skipped, but a separator follows every non-last argument."""
    if not args:
        return None
    out = ""
    for i, arg in enumerate(args):
        if arg is None:
            continue
        out += _text(arg)
        if sep and i + 1 < len(args):
            out += sep
    return out


def connect(now: int | None = None, fields: FieldTable | None = None) -> sqlite3.Connection:
    """An in-memory database with the extension's table, osquery's ``time`` and functions."""
    table = fields or FieldTable()
    conn = sqlite3.connect(":memory:")
    columns = ", ".join(f"{c.name} {c.type.value}" for c in table)
    conn.execute(f"CREATE TABLE {TABLE} ({columns})")
    conn.execute("CREATE TABLE time (unix_time BIGINT)")
    conn.execute("INSERT INTO time VALUES (?)", (int(time.time()) if now is None else now,))
    conn.create_function("regex_match", 3, regex_match, deterministic=True)
    conn.create_function("concat", -1, lambda *a: _concat("", a), deterministic=True)
    conn.create_function(
        "concat_ws",
        -1,
        lambda *a: _concat("" if a[0] is None else _text(a[0]), a[1:]) if a else None,
        deterministic=True,
    )
    return conn


def set_now(conn: sqlite3.Connection, unix_time: int) -> None:
    """Set what ``SELECT unix_time FROM time`` returns."""
    conn.execute("UPDATE time SET unix_time = ?", (unix_time,))


def sql_value(text: str | None, sql_type: OsqueryType, missing: Missing = "osquery") -> object:
    """One row string as the SQL value osquery's virtual table yields for it."""
    if text is None:
        return "" if missing == "empty" else None
    if text == "" and missing != "osquery":
        return "" if missing == "empty" else None
    if sql_type is OsqueryType.TEXT:
        return text
    return osquery_integer(text, sql_type)


def insert_rows(
    conn: sqlite3.Connection,
    rows: Iterable[Mapping[str, str]],
    *,
    missing: Missing = "osquery",
    fields: FieldTable | None = None,
) -> int:
    """Insert extension rows (string values) converted as osquery converts them; the count."""
    table = fields or FieldTable()
    columns = list(table)
    marks = ", ".join("?" for _ in columns)
    values = [tuple(sql_value(row.get(c.name), c.type, missing) for c in columns) for row in rows]
    conn.executemany(f"INSERT INTO {TABLE} VALUES ({marks})", values)
    return len(values)
