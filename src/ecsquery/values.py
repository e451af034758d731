"""How Elasticsearch sees a value: the one definition ecsquery's rows, normalizers and
compiler follow for the value shapes at the edges (issue #11).

Elasticsearch version promised: current 9.x on Lucene 10.x, i.e. since
elastic/elasticsearch#153513, where every ``case_insensitive`` query (term, prefix, wildcard,
regexp, hence EQL's ``:``/``~`` forms) folds through Lucene's ``Automata.makeCaseInsensitiveChar``
= ``CaseFolding.expand`` (apache/lucene ``lucene/core/src/java/org/apache/lucene/util/automaton/
CaseFolding.java``, commit 2d873b96): a literal code point matches itself, Java's
``Character.toUpperCase``/``toLowerCase`` of it, and a short table of special alternates (K
matches KELVIN SIGN, s matches LONG S, µ matches μ...). ``RegExp.ASCII_CASE_INSENSITIVE``, which
EQL's ``regex~`` passes (QL ``RLikePattern``), now behaves as ``CASE_INSENSITIVE`` there, and a
class *range* is never folded (apache/lucene#14378, elastic/elasticsearch#125412).

Values, as Elastic Defend's keyword mapping indexes them:

- **NUL**: SQLite (osquery's engine) ends text at NUL, so ``"-d\\u0000x"`` would compare as
  ``"-d"``. Events get every NUL replaced by ``NUL_STANDIN`` (U+FFFD, already the stand-in for
  undecodable bytes and lone surrogates); a rule literal containing U+FFFD is refused at compile
  time, so no rule can tell the stand-in from the NUL Elasticsearch would have kept.
- **numbers, booleans, nested lists in an array field**: a keyword field indexes a JSON number
  or boolean as its text (``true``, ``1``, ``1.5``) and flattens arrays of arrays; ``null``
  elements are skipped.
- **a list in a field ecsquery holds as a scalar**: Elasticsearch would match any of its values;
  the row has one cell, so a document with several distinct values there is refused, counted
  (``bad.list_in_scalar``) and named. A list of one value is that value.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from typing import Any

from ecsquery.schema import ALL_COLUMNS

NUL = "\x00"
NUL_STANDIN = "\ufffd"
"""What a NUL inside event text becomes (see the module docstring)."""

IGNORE_ABOVE = 1024
"""Elastic Defend's ``ignore_above`` for keyword fields (tests/fixtures/ecs-fields): a longer
value is not indexed, so no Elastic query matches it; ecsquery matches the whole value, a
deliberate difference (README, "where ecsquery differs from Elasticsearch")."""


def without_nul(value: Any) -> Any:
    """A decoded JSON value with NUL in every string (keys too) replaced by ``NUL_STANDIN``."""
    if isinstance(value, str):
        return text(value)
    if isinstance(value, list):
        return [without_nul(v) for v in value]
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    return value


def nul_free(line: str | bytes, record: Any) -> tuple[Any, bool]:
    """``record`` decoded from JSON ``line``, NUL mapped; and whether the line had a NUL escape.

    JSON can only carry NUL as the escape ``\\u0000`` (a raw control character is invalid), so
    the cheap byte test on the line keeps the walk off the common path.
    """
    has_escape = b"\\u0000" in line if isinstance(line, bytes) else "\\u0000" in line
    if not has_escape:
        return record, False
    return without_nul(record), True


def text(value: str) -> str:
    """Event text as ecsquery's rows carry it: NUL replaced by ``NUL_STANDIN``."""
    return value.replace(NUL, NUL_STANDIN) if NUL in value else value


def keyword(value: Any) -> str:
    """One JSON scalar as a keyword field indexes it: strings as they are, booleans as
    ``true``/``false``, numbers as their text. Elasticsearch keeps a number's source text
    (Jackson's ``getText``); after JSON decoding Python's repr is the closest, equal for
    integers and for floats written in shortest form (``1.5``, ``1.0``), not for ``1e3``."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def flatten(value: Any) -> Iterator[Any]:
    """The values of a field as Elasticsearch sees them: arrays of arrays flattened, nulls
    skipped (``[1, [2, None, [3]]]`` → 1, 2, 3)."""
    if isinstance(value, (list, tuple)):  # not `list | tuple`: the .ext runs on Python 3.9
        for item in value:
            yield from flatten(item)
    elif value is not None:
        yield value


class ListInScalar(ValueError):
    """A field ecsquery holds as one value came with several distinct values."""


def single(name: str, value: Any) -> Any:
    """The one value of a scalar field (None when it has none), or ``ListInScalar``."""
    if not isinstance(value, (list, tuple)):
        return value
    distinct = list(dict.fromkeys(keyword(v) for v in flatten(value)))
    if len(distinct) > 1:
        raise ListInScalar(
            f"{name} has {len(distinct)} values {distinct[:3]!r}: Elasticsearch would match any "
            "of them, ecsquery's row holds one (the document is counted and left out)"
        )
    return next(flatten(value), None)


_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CANONICAL_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}", re.ASCII).fullmatch
"""A dotted quad exactly as ``str(ipaddress.IPv4Address(...))`` writes it (no leading zero,
each part 0-255): the texts :func:`ip_text` returns unchanged."""


def ip_text(value: str) -> str | None:
    """An IP address in the one text an ``ip`` cell holds, or None for text that is none.

    Elasticsearch's ``ip`` field indexes the address, not the text (``InetAddresses.forString``;
    an IPv4-mapped IPv6 address *is* its IPv4 address there, as in Java), so equal addresses
    must be equal cells: IPv4 dotted quad, IPv6 compressed lowercase (Python's ``ipaddress``),
    IPv4-mapped as IPv4. Text that is no address makes Elasticsearch refuse the document; here
    the field is missing instead. A dotted quad already in that text (most addresses) is
    recognised by :data:`_CANONICAL_IPV4` and returned as it is, unparsed: ``ipaddress`` was
    most of a connection row's address cost, and runs for every other text.
    """
    if _CANONICAL_IPV4(value) is not None:
        return value
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def cidr_block(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A ``cidrMatch`` argument as Elasticsearch reads it (``InetAddresses.parseCidr`` for
    ``a/n``, one address otherwise; host bits ignored), or ``ValueError``. An IPv4-mapped
    IPv6 block is refused: Elasticsearch reads its address as IPv4 and the prefix then as
    out of range (or not), a corner no rule needs."""
    address, slash, prefix = text.partition("/")
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        raise ValueError(f"{text!r} is an IPv4-mapped IPv6 block")
    if slash and not (prefix.isascii() and prefix.isdigit()):
        raise ValueError(f"{text!r}: the prefix length is not a number")
    bits = int(prefix) if slash else ip.max_prefixlen
    if bits > ip.max_prefixlen:
        raise ValueError(f"{text!r}: prefix length over {ip.max_prefixlen}")
    return ipaddress.ip_network(f"{ip}/{bits}", strict=False)


def check_scalars(doc: Mapping[str, Any]) -> None:
    """Raise ``ListInScalar`` for the first scalar field of any table that ``doc`` gives
    several distinct values (sources that build documents themselves never do)."""
    from ecsquery.rows import get_path  # rows encodes through this module

    for column in ALL_COLUMNS:
        if column.ecs is not None and not column.array:
            single(column.ecs, get_path(doc, column.ecs))


_SPECIAL_ALTERNATES = """
004B:212A 0053:017F 006B:212A 0073:017F 00B5:03BC 00C5:212B 00DF:1E9E 00E5:212B 017F:0073
01C4:01C5 01C6:01C5 01C7:01C8 01C9:01C8 01CA:01CB 01CC:01CB 01F1:01F2 01F3:01F2
0345:03B9,1FBE 0390:1FD3 0392:03D0 0395:03F5 0398:03D1,03F4 0399:0345,1FBE 039A:03F0
039C:00B5 03A0:03D6 03A1:03F1 03A3:03C2 03A6:03D5 03A9:2126 03B0:1FE3 03B2:03D0 03B5:03F5
03B8:03D1,03F4 03B9:0345,1FBE 03BA:03F0 03BC:00B5 03C0:03D6 03C1:03F1 03C2:03C3 03C3:03C2
03C6:03D5 03C9:2126 03D0:03B2 03D1:03B8,03F4 03D5:03C6 03D6:03C0 03F0:03BA 03F1:03C1
03F4:0398,03D1 03F5:03B5 0412:1C80 0414:1C81 041E:1C82 0421:1C83 0422:1C84,1C85 042A:1C86
0432:1C80 0434:1C81 043E:1C82 0441:1C83 0442:1C84,1C85 044A:1C86 0462:1C87 0463:1C87
1C80:0432 1C81:0434 1C82:043E 1C83:0441 1C84:0442,1C85 1C85:0442,1C84 1C86:044A 1C87:0463
1C88:A64B 1E60:1E9B 1E61:1E9B 1E9B:1E61 1FBE:0345,03B9 1FD3:0390 1FE3:03B0 2126:03A9
212A:004B 212B:00C5 A64A:1C88 A64B:1C88 FB05:FB06 FB06:FB05
"""
"""Lucene ``CaseFolding.expand``'s special alternates (code point: extra alternates), as data."""

SPECIAL_ALTERNATES: dict[str, tuple[str, ...]] = {
    chr(int(key, 16)): tuple(chr(int(v, 16)) for v in alts.split(","))
    for key, _, alts in (entry.partition(":") for entry in _SPECIAL_ALTERNATES.split())
}


def _simple(ch: str, full: str, title: str) -> str:
    """Java's one-code-point case mapping from Python's full one: the full mapping when it is
    one code point; else the titlecase when that is (Greek with ypogegrammeni, U+1F80...), or
    the first code point of ``İ``'s lowercase; else none (``ß`` has no simple uppercase)."""
    if len(full) == 1:
        return full
    if len(title) == 1 and title != ch and full.isupper():
        return title
    if ch == "\u0130":
        return full[0]
    return ch


def case_alternates(ch: str) -> tuple[str, ...]:
    """The other code points a case-insensitive literal ``ch`` matches, in Lucene's order
    (``CaseFolding.expand``: upper, lower, then the special table)."""
    out: list[str] = []
    for alt in (
        _simple(ch, ch.upper(), ch.title()),
        _simple(ch, ch.lower(), ch.title()),
        *SPECIAL_ALTERNATES.get(ch, ()),
    ):
        if alt != ch and alt not in out:
            out.append(alt)
    return tuple(out)
