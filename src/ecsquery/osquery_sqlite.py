"""osquery's SQL engine, here: SQLite with osquery's table types, ``time`` table and functions.

osqueryd cannot run in CI, but its SQL engine is SQLite (with JSON1) plus a few functions and
virtual tables. This module rebuilds the parts our pack SQL touches, to osquery's behaviour as
read in its sources (osquery/osquery on GitHub), so the compiled SQL is tested on the engine
it will meet:

- every table of ``schema.TABLES`` (``ecs_process_events``, ``ecs_file_events``,
  ``ecs_network_events``) with the exact column names and declared types of its columns.
- Row values as the extension's rows become SQL values (``osquery/sql/dynamic_table_row.cpp``,
  ``DynamicTableRow::get_column``, read for this module): a column missing from the row is
  NULL; TEXT is the string as is (so ``""`` stays ``""``); INTEGER/BIGINT go through
  ``tryTo<long>``/``tryTo<long long>`` with base 0, i.e. ``std::stol(s, &pos, 0)``
  (``osquery/utils/conversions/tryto.h``): leading blanks and a sign are accepted, ``0x``
  means hex and a leading ``0`` octal, trailing junk is ignored (``pos`` is not checked), and
  an empty or non-numeric string, or one out of range, becomes NULL. INTEGER is then stored
  with ``sqlite3_result_int`` (32-bit truncation).
- ``time``: a one-row table with osquery's ``unix_time`` column (settable with ``set_now``).
- ``in_cidr_block(cidr, ip)`` (``sqlite_network.cpp``), see ``in_cidr_block``.
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

import ipaddress
import json
import re
import sqlite3
import time
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Literal

from ecsquery.schema import SIGNATURE_COLUMNS, TABLES, FieldTable, OsqueryType, table_of_row

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


def _network(cidr: str, v6: bool) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """boost's ``make_network_v4``/``_v6``: ``address/prefix``, prefix digits only and in range;
    the address need not be the network's (host bits are ignored)."""
    address, slash, prefix = cidr.partition("/")
    if not slash or not prefix or not prefix.isascii() or not prefix.isdigit():
        return None
    try:
        ip = ipaddress.IPv6Address(address) if v6 else ipaddress.IPv4Address(address)
    except ValueError:
        return None
    if int(prefix) > ip.max_prefixlen:
        return None
    return ipaddress.ip_network(f"{ip}/{int(prefix)}", strict=False)


def in_cidr_block(cidr: object, ip: object) -> int:
    """osquery's ``in_cidr_block(cidr, ip)`` (``osquery/sql/sqlite_network.cpp`` lines 22-72 at
    a5b14f63d98c0d4992ab8ae07d933e0d5ff008df), on boost.asio's ``network_v4/v6::hosts()``:

    - a non-text argument, an unparseable IP, or a CIDR of the other family (or unparseable)
      fails the whole query (``sqlite3_result_error``): the compiler never lets that happen;
    - IPv4: ``hosts()`` of a network shorter than /32 runs from network + 1 to the broadcast
      address *exclusive*, so the network and broadcast addresses are not in it (a /31 holds
      nothing); a /32 holds its address (``255.255.255.255/32`` nothing: ``+ 1`` wraps);
    - IPv6: every address of the block, except when its last address is all ones
      (``::/0``, ``ffff::/16``): the range's end wraps to ``::`` and holds nothing.
    """
    if not isinstance(cidr, str):
        raise ValueError("CIDR must be a string")
    if not isinstance(ip, str):
        raise ValueError("IP address must be a string")
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        raise ValueError("IP address cannot be parsed") from None
    v6 = isinstance(address, ipaddress.IPv6Address)
    network = _network(cidr, v6)
    if network is None:
        raise ValueError(f"CIDR for IP address v{6 if v6 else 4} cannot be parsed")
    first, last = int(network.network_address), int(network.broadcast_address)
    top = 2**network.max_prefixlen - 1
    if not v6 and network.prefixlen < 32:
        first, last = first + 1, last - 1
    if last == top:  # the range's end (last + 1) wraps to 0: an empty range
        return 0
    return int(first <= int(address) <= last)


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


SIGNATURE_DDL = "CREATE TABLE signature ({})".format(
    ", ".join(f"{name} {kind.value}" for name, kind in SIGNATURE_COLUMNS)
)
"""osquery's ``signature`` table, which ``schema.LOOKUPS`` query: empty (see
:func:`insert_signature`)."""


def connect(now: int | None = None, fields: FieldTable | None = None) -> sqlite3.Connection:
    """An in-memory database with the extension's tables, osquery's ``time`` and functions;
    ``fields`` replaces the columns of its own table (tests add columns)."""
    conn = sqlite3.connect(":memory:")
    for table in TABLES:
        own = fields if fields is not None and fields.name == table.name else FieldTable.of(table)
        columns = ", ".join(f"{c.name} {c.type.value}" for c in own)
        conn.execute(f"CREATE TABLE {table.name} ({columns})")
    conn.execute("CREATE TABLE time (unix_time BIGINT)")
    conn.execute(SIGNATURE_DDL)
    conn.execute("INSERT INTO time VALUES (?)", (int(time.time()) if now is None else now,))
    conn.create_function("regex_match", 3, regex_match, deterministic=True)
    conn.create_function("in_cidr_block", 2, in_cidr_block, deterministic=True)
    conn.create_function("concat", -1, lambda *a: _concat("", a), deterministic=True)
    conn.create_function(
        "concat_ws",
        -1,
        lambda *a: _concat("" if a[0] is None else _text(a[0]), a[1:]) if a else None,
        deterministic=True,
    )
    return conn


def insert_signature(conn: sqlite3.Connection, path: str, authority: str) -> None:
    """A ``signature`` row for ``path`` as osquery returns it to ``schema.LOOKUPS``' query
    (default architecture, no hashing, signed); without one the subject is missing, as for a
    file osquery cannot open. Replay has none: the files are not on this machine."""
    conn.execute(
        "INSERT INTO signature (path, hash_resources, hash_executable, arch, signed, authority)"
        " VALUES (?, 0, 0, '', 1, ?)",
        (path, authority),
    )


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
    """Insert extension rows (string values) into ``fields``' table (the process table by
    default), converted as osquery converts them; the count."""
    table = fields or FieldTable()
    columns = list(table)
    marks = ", ".join("?" for _ in columns)
    values = [tuple(sql_value(row.get(c.name), c.type, missing) for c in columns) for row in rows]
    conn.executemany(f"INSERT INTO {table.name} VALUES ({marks})", values)
    return len(values)


def row_table(row: Mapping[str, str]) -> FieldTable:
    """The table a row of any table belongs in, by its ``event_category`` (JSON text)."""
    try:
        categories = json.loads(row.get("event_category") or "[]")
    except ValueError:
        categories = []
    return FieldTable.of(table_of_row(categories if isinstance(categories, list) else []))


def insert_routed(
    conn: sqlite3.Connection, rows: Iterable[Mapping[str, str]], *, missing: Missing = "osquery"
) -> int:
    """Insert rows of any table, each into the table of its event category; the count."""
    by_table: dict[str, tuple[FieldTable, list[Mapping[str, str]]]] = {}
    for row in rows:
        table = row_table(row)
        by_table.setdefault(table.name, (table, []))[1].append(row)
    return sum(
        insert_rows(conn, group, missing=missing, fields=table)
        for table, group in by_table.values()
    )
