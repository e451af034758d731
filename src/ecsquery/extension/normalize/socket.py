"""osquery's ``socket_events`` rows → connections, as Elastic Defend writes them on macOS.

The source is OpenBSM (``--disable_audit=false --audit_allow_sockets=true``): osquery's darwin
subscriber (osquery/osquery ``osquery/tables/events/darwin/socket_events.cpp`` at
a5b14f63d98c0d4992ab8ae07d933e0d5ff008df) reads ``AUE_CONNECT``, ``AUE_BIND`` and, since
5.15.0 (PR #8508, commit 9474508dad52706c1643f6f0370f4819c54464dd), ``AUE_ACCEPT``. What a row
holds there, and so what this module can say:

* ``connect``: ``remote_address``/``remote_port`` only (lines 188-190); the local end is not in
  the audit record (before 5.15.0, commit b30bb8128, it was written as ``"0"``/``"0"``).
* ``accept``: ``remote_address`` only — "the message does contain a port value but it does not
  seem to correspond to either the local or the remote port" (lines 184-187).
* ``bind``: since 5.15.0 never a row (only rows with a ``remote_address`` are added, line 227);
  before, with ``remote_address`` ``"0"``. Elastic Defend has no bind event: dropped.
* ``family`` is 2 (IPv4), 10 (IPv6: BSM's 26 mapped to Linux's number) or 0; ``protocol`` is
  never set on macOS (a hidden column filled on Linux only); ``success`` is the syscall's result
  (``status`` on Linux); ``path`` is ``proc_pidpath`` at the time osquery read the record.

The ECS side follows Elastic Defend's macOS network events: ``event.category ["network"]``,
``event.type ["start"]``, ``event.action`` ``connection_attempted`` (Defend's only macOS action
besides ``disconnect_received``: elastic/endpoint-package ``custom_documentation/src/endpoint/
data_stream/network/macos/macos_network_connection_attempted_and_disconnect.yaml`` at
19941229e) or, for an accept, ``connection_accepted`` (Defend's Linux and Windows action, which
``initial_access_ollama_api_external_access`` tests); ``network.direction`` ``egress`` /
``ingress`` (the host's view; Defend's ``sample_event.json``); an outbound connection's
*source* is the local end, an accepted one's *source* the remote peer. The actor's
``process.*`` are those of that field list only (no ``args``, no ``parent`` names, no effective
parent: Defend does not write them on network events, so a rule testing them must not match
here either), taken from the process tree by pid, else from the row's ``path``
(``extension/network.py`` makes the document and the rows).

Choices, each as Elastic would see it:

* **Failed syscalls.** A ``connect`` is kept whatever its result: Defend reports the attempt,
  and a non-blocking connect (most macOS networking) returns ``EINPROGRESS``, which BSM records
  as a failure, so ``success = 0`` cannot tell a failed attempt from a pending one.
  ``event.outcome`` says what is known (``success``, ``failure`` from Linux's ``status``, else
  ``unknown``). A failed ``accept`` accepted nothing: dropped.
* **Addresses** are Elasticsearch ``ip`` values: a text that is not an IP address would make
  Elasticsearch refuse the whole document, so the row is refused (``bad.malformed``); an
  IPv4-mapped IPv6 address is written as the IPv4 address (Elasticsearch stores and matches
  them as one). osquery's ``"0"`` placeholder and ``""`` are missing. Ports are ``long``: a
  non-number is refused likewise; port 0 (a placeholder, never a connection's port) is missing.
* **network.transport** comes from ``protocol`` (6 tcp, 17 udp, …); an accept is tcp (only
  stream sockets accept); a macOS connect has none, so it stays missing.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Mapping
from typing import Any, NamedTuple

from ecsquery.extension.model import tuple_new
from ecsquery.extension.normalize.errors import BadRecord
from ecsquery.values import ip_text

TABLE = "socket_events"
COLUMNS_READ = (
    "time", "eid", "action", "pid", "path", "family", "protocol", "local_address", "local_port",
    "remote_address", "remote_port", "success", "status",
)  # fmt: skip
"""The columns :func:`from_socket_row` reads (not ``fd``, ``auid``, ``uptime``, ``socket``)."""
HIDDEN = frozenset({"eid", "protocol", "success"})
"""Columns of ``specs/posix/socket_events.table`` marked ``hidden``: ``SELECT *`` (and so
``getQueryColumns`` of it) leaves them out, yet every osquery 5.x has them."""

_ACTIONS = {"connect": "connection_attempted", "accept": "connection_accepted"}
_FAMILIES = {"2": "ipv4", "10": "ipv6", "30": "ipv6"}  # 30: Darwin's own AF_INET6
_TRANSPORTS = {"1": "icmp", "6": "tcp", "17": "udp", "58": "ipv6-icmp", "132": "sctp"}
_PLACEHOLDERS = ("", "0")
"""What osquery writes for an address it does not have (``"0"`` before 5.15.0)."""
_FAILED_ACCEPT = ("failed", "no_client")  # Linux ``status`` values of an accept that got none


class SocketEvent(NamedTuple):
    """One connection as Elastic Defend describes it, before the process tree fills the actor."""

    time: int
    event_id: str
    action: str
    """``connection_attempted`` or ``connection_accepted``."""
    pid: int
    path: str
    direction: str
    outcome: str
    network_type: str | None = None
    transport: str | None = None
    source_ip: str | None = None
    source_port: int | None = None
    destination_ip: str | None = None
    destination_port: int | None = None


ADDRESSES = 4096
"""Addresses and ports whose reading :func:`ip` and :func:`port` keep (least recently used
dropped)."""


def is_socket_row(row: Mapping[str, Any]) -> bool:
    return "remote_address" in row and "action" in row and "cmdline" not in row


_TEXTS = (
    "eid", "action", "path", "family", "protocol", "local_address", "local_port",
    "remote_address", "remote_port", "success",
)  # fmt: skip
"""The columns read as text, in :func:`from_socket_row`'s order, but for Linux's ``status``
(never in a macOS row); ``time`` and ``pid`` are read as numbers, as they come."""
_texts = operator.itemgetter(*_TEXTS)
_NONE = (None, None)


def _text(row: Mapping[str, Any], name: str) -> str:
    value = row.get(name)
    return value if value.__class__ is str else "" if value is None else str(value)


@functools.lru_cache(maxsize=ADDRESSES)
def ip(value: str) -> str | None:
    """An address as Elasticsearch's ``ip`` type reads it (``values.ip_text``), None for
    osquery's placeholders; raises ValueError if it is none.

    Cached: a Mac talks to few peers again and again, and parsing an IPv6 address was a fifth
    of a row's cost (a ValueError is not cached, so garbage cannot fill the cache with itself)."""
    if value in _PLACEHOLDERS:
        return None
    canonical = ip_text(value)
    if canonical is None:
        raise ValueError(f"{value!r} is not an IP address")
    return canonical


@functools.lru_cache(maxsize=ADDRESSES)
def port(value: str) -> int | None:
    """A port as a ``long``; ValueError for anything but decimal ASCII digits (osquery writes
    ``std::to_string`` of the number; ``int`` would also take ``" 443"``, ``"4_43"`` or
    ``"\u0664\u0664\u0663"``) or a number over 65535. Port 0 is a placeholder: None.
    Cached as :func:`ip` is (a few ports come again and again; an error is not cached)."""
    if value == "":
        return None
    if not (len(value) <= 5 and value.isascii() and value.isdigit()):
        raise ValueError(f"port {value!r} is not a port number")
    number = int(value)
    if number > 65535:
        raise ValueError(f"port {number} out of range")
    return number or None


def socket_items(row: Mapping[str, Any]) -> list[SocketEvent]:
    """The connection in a ``socket_events`` row, for a source that knows the row's table."""
    event = from_socket_row(row)
    return [] if event is None else [event]


def from_socket_row(row: Mapping[str, Any]) -> SocketEvent | None:
    """The connection a row records, or None when it records none (bind, a failed accept, no
    IP address); :class:`BadRecord` when a value is unreadable.

    Read at the cost of a decode's fraction: the text columns at once (``itemgetter``), one
    by one only when one is missing or not a string; the event built as
    the tuple it is (``model.tuple_new``). ``tests/test_extension_normalize_fast.py``
    checks both against the same rows read column by column and the event built by keyword."""
    try:
        values = _texts(row)
        "".join(values)  # the cheapest test that each is a string: a TypeError otherwise
    except (KeyError, TypeError):  # a missing column, a results log's number
        values = tuple(_text(row, name) for name in _TEXTS)
    eid, action, path, family, protocol, laddr, lport, raddr, rport, success = values
    status = row.get("status", "")
    if status.__class__ is not str:
        status = _text(row, "status")
    kind = _ACTIONS.get(action)
    if kind is None:
        return None
    accepted = kind == "connection_accepted"
    if accepted and (success == "0" or status in _FAILED_ACCEPT):
        return None
    try:
        time = int(row["time"])
        pid = int(row["pid"])
        remote = ip(raddr), port(rport)
        local = _NONE if laddr == "" and lport == "" else (ip(laddr), port(lport))
    except KeyError as exc:
        raise BadRecord("missing_field", f"socket_events row without {exc}") from exc
    except ValueError as exc:
        raise BadRecord("malformed", f"socket_events row: {exc}"[:500]) from exc
    address = remote[0]
    if address is None:
        return None
    source, destination = (remote, local) if accepted else (local, remote)
    return tuple_new(SocketEvent, (  # SocketEvent's fields, in order
        time,
        f"socket_events-{eid}" if eid else f"socket_events-{time}-{pid}",
        kind,
        pid,
        path,
        "ingress" if accepted else "egress",
        "success" if success == "1" or status == "succeeded" else
        "failure" if status == "failed" else "unknown",
        # the address is canonical (``ip``): an IPv6 one, and only it, has a colon
        _FAMILIES.get(family) or ("ipv6" if ":" in address else "ipv4"),
        _TRANSPORTS.get(protocol) or ("tcp" if accepted else None),
        source[0],
        source[1],
        destination[0],
        destination[1],
    ))  # fmt: skip
