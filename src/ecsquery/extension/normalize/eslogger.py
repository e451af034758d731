"""eslogger's JSON (``eslogger exec fork exit --format json``) → :class:`ProcEvent`.

Message versions 9–11 are known (macOS 15, 26, 27 beta samples in tests/fixtures/eslogger).
Their one change that matters here: from version 10 an audit token may be written as the raw
8-integer ``audit_token_t`` array ``[auid, euid, egid, ruid, rgid, pid, asid, pidversion]``
instead of an object. Newer versions are tried as they come; a shape we cannot read is
reported as an unknown version rather than a malformed line.

Code signature, the rule chosen: ``exists`` when the kernel's ``CS_SIGNED`` flag is set (or,
without flags, when there is a signing id); ``trusted`` when signed, ``CS_VALID``, not ad-hoc
(``CS_ADHOC``), and either a platform binary or signed with a team id, i.e. the signature
chains to Apple. Ad-hoc signed tools (no certificate at all) are therefore not trusted.
"""

from __future__ import annotations

import calendar
import functools
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from ecsquery.extension.model import Action, Proc, ProcEvent, Ref, tuple_new
from ecsquery.extension.normalize.errors import BadRecord

KNOWN_VERSIONS = range(9, 12)
EVENT_TYPES = {9: Action.EXEC, 11: Action.FORK, 15: Action.END}  # ES_EVENT_TYPE_NOTIFY_*

CS_VALID = 0x1
CS_ADHOC = 0x2
CS_SIGNED = 0x20000000

_TOKEN_FIELDS = ("auid", "euid", "egid", "ruid", "rgid", "pid", "asid", "pidversion")
_INT_ONLY = frozenset({int})
_STR_ONLY = frozenset({str})


_STAT = '"stat":{'


def without_stat(line: str) -> str:
    """An eslogger line without the ``stat`` object of each file it names (the executable,
    the tty, the cwd, every fd: a third of an exec message), which nothing here reads:
    decoding them cost more than the rest of the event's normalizing.

    Exact on any valid JSON, which eslogger writes: a ``"stat":{`` right after ``{`` or
    ``,`` is a key (a quote inside a string is always escaped), and when no ``{`` and no
    backslash come before the next ``}`` and the quotes before it pair up, that brace ends
    the object (a ``stat_t`` is numbers and time texts). A member is cut with its comma;
    any other shape (``stat`` the only member, a brace inside a string…) leaves the line as
    it is, to be decoded whole (``tests/test_extension_normalize.py``, property tests).
    """
    at = line.find(_STAT)
    if at < 0:
        return line
    pieces = []
    start = 0
    while at >= 0:
        body = at + len(_STAT)
        end = line.find("}", body)
        if (
            end < 0
            or line.find("{", body, end) >= 0  # an object inside: not a stat_t
            or line.find("\\", body, end) >= 0  # an escape: the quotes cannot be counted
            or line.count('"', body, end) % 2  # the brace is inside a string
        ):
            return line
        before = line[at - 1 : at]
        if before == ",":  # a member after the first: cut from its comma
            cut, resume = at - 1, end + 1
        elif before == "{" and line[end + 1 : end + 2] == ",":  # the first: up to the next
            cut, resume = at, end + 2
        else:
            return line
        pieces.append(line[start:cut])
        start = resume
        at = line.find(_STAT, start)
    pieces.append(line[start:])
    return "".join(pieces)


def is_eslogger(record: Mapping[str, Any]) -> bool:
    if "event_type" not in record:
        return False
    process = record.get("process")
    return process.__class__ is dict or isinstance(process, Mapping)


_CANONICAL = re.compile("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}")


@functools.lru_cache(maxsize=256)
def _epoch_of(second: str) -> tuple[int, bool]:
    """``YYYY-MM-DDTHH:MM:SS`` (UTC) as Unix seconds, and whether it is written as
    ``ecs.iso_timestamp`` writes it (zero-padded); cached, as events come in time order."""
    date, _, clock = second.partition("T")
    year, month, day = date.split("-")
    hour, minute, sec = clock.split(":")
    moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(sec))
    canonical = _CANONICAL.fullmatch(second) is not None
    return calendar.timegm(moment.timetuple()), canonical  # datetime() refuses a month 13…


def parse_time(text: str) -> float:
    """ESF's ISO time (``2025-08-07T13:21:35.877422123Z``: nanoseconds, ``Z``) as Unix seconds."""
    return time_and_stamp(text)[0]


def time_and_stamp(text: str) -> tuple[float, str]:
    """ESF's ISO time as Unix seconds, and as ``@timestamp`` text when it can be cut from the
    source's own (else ""): ``ecs.iso_timestamp`` of those seconds, which keeps the first
    three fraction digits (a property test holds the two equal).

    Read by hand rather than by ``datetime.fromisoformat``: Python 3.9's accepts neither ``Z``
    nor nine fraction digits, and the whole second is cached. The result is the float
    ``datetime.timestamp()`` gives for the time cut to microseconds. Any other shape (an
    offset, no fraction) falls back to ``fromisoformat``.
    """
    fraction = text[20:-1]
    if text[19:20] == "." and text[-1:] == "Z" and fraction.isdigit():
        epoch, canonical = _epoch_of(text[:19])
        if canonical and len(fraction) >= 6 and fraction.isascii():  # eslogger's: ns
            return (epoch * 10**6 + int(fraction[:6])) / 10**6, text[:23] + "Z"
        seconds = (epoch * 10**6 + int(fraction[:6].ljust(6, "0"))) / 10**6
        exact = canonical and fraction.isascii()
        stamp = text[:20] + fraction[:3].ljust(3, "0") + "Z" if exact else ""
        return seconds, stamp
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp(), ""


def token(value: Any) -> dict[str, int]:
    """An audit token, written as an object (v9) or as the raw 8-integer array (v10+)."""
    if value.__class__ is dict and _INT_ONLY.issuperset(map(type, value.values())):
        return value  # already what the dict below builds (the test: a third of `all(...)`)
    if isinstance(value, Mapping):
        return {k: int(value[k]) for k in _TOKEN_FIELDS if k in value}
    if isinstance(value, list) and len(value) == 8:
        return dict(zip(_TOKEN_FIELDS, map(int, value)))
    raise TypeError(f"audit token of unexpected shape: {value!r}")


def _ids(value: Any) -> tuple[Any, ...]:
    """(pid, pidversion, ruid, euid, rgid) of an audit token, each an ``int`` (pidversion
    None if absent). The two real shapes are read in place; any other goes through
    :func:`token`, which raises for what it cannot read."""
    if value.__class__ is list:
        if len(value) == 8 and _INT_ONLY.issuperset(map(type, value)):
            return value[5], value[7], value[3], value[1], value[4]
    elif value.__class__ is dict:
        ids = (value.get("pid"), value.get("pidversion"), value.get("ruid"),
               value.get("euid"), value.get("rgid"))  # fmt: skip
        if _INT_ONLY.issuperset(map(type, ids)):
            return ids
    tok = token(value)
    return tok["pid"], tok.get("pidversion"), tok.get("ruid"), tok.get("euid"), tok.get("rgid")


def _ref(value: Any) -> Ref | None:
    """The process an audit token names (only its pid and pidversion are read)."""
    cls = value.__class__
    if cls is list:
        if len(value) == 8:
            pid, pidversion = value[5], value[7]
            if pid.__class__ is int and pidversion.__class__ is int:
                return tuple_new(Ref, (pid, pidversion))
    elif cls is dict:
        pid, pidversion = value.get("pid"), value.get("pidversion")
        if pid.__class__ is int and (pidversion is None or pidversion.__class__ is int):
            return tuple_new(Ref, (pid, pidversion))
    elif value is None:
        return None
    ids = _ids(value)  # any other shape: read as a whole token, or refused
    return Ref(ids[0], ids[1])


def signature(
    flags: int | None, signing_id: str, team_id: str, platform: bool
) -> tuple[bool, bool]:
    """(exists, trusted) by the rule in the module docstring."""
    signed = bool(flags & CS_SIGNED) if flags is not None else bool(signing_id)
    valid = flags is None or bool(flags & CS_VALID and not flags & CS_ADHOC)
    return signed, signed and valid and (platform or bool(team_id))


def process(p: Mapping[str, Any], args: tuple[str, ...] = (), cwd: str = "") -> Proc:
    """An ``es_process_t`` as eslogger writes it (with the exec's argv and cwd, if any).

    ``start_time`` is read only when the token has no pidversion: it is what tells a reused
    pid apart then (``ecs.entity_id``), and nothing else reads it.
    """
    pid, pidversion, uid, euid, gid = _ids(p["audit_token"])
    flags = p.get("codesigning_flags")
    signing_id = p.get("signing_id") or ""
    team_id = p.get("team_id") or ""
    if flags.__class__ is int:  # signature() for the kernel's flags, inline (every message)
        signed = flags & CS_SIGNED != 0
        trusted = (
            signed
            and flags & CS_VALID != 0
            and flags & CS_ADHOC == 0
            and (bool(p.get("is_platform_binary")) or team_id != "")
        )
    else:
        signed, trusted = signature(
            int(flags) if flags is not None else None,
            signing_id,
            team_id,
            bool(p.get("is_platform_binary")),
        )
    start = p.get("start_time") if pidversion is None else None
    return tuple_new(Proc, (
        pid, pidversion, p["executable"]["path"], args, cwd, signing_id, team_id, signed,
        trusted, uid, euid, gid, "", parse_time(start) if start else None, None, "",
    ))  # fmt: skip


def _parent(p: Mapping[str, Any]) -> Ref | None:
    ref = _ref(p.get("parent_audit_token"))
    if ref is None and p.get("ppid") is not None:
        ref = Ref(int(p["ppid"]))
    return ref


def exit_code(stat: int) -> int:
    """A wait(2) status as a shell shows it: the exit status, or 128 + the killing signal."""
    if stat & 0x7F == 0:
        return (stat >> 8) & 0xFF
    return 128 + (stat & 0x7F)


def from_eslogger(msg: Mapping[str, Any]) -> ProcEvent | None:
    """The event in one eslogger message; None for event types the table does not serve."""
    version = msg.get("version")
    action = EVENT_TYPES.get(msg.get("event_type"))  # type: ignore[arg-type]
    if action is None:
        return None
    try:
        return _event(msg, action)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        known = isinstance(version, int) and version in KNOWN_VERSIONS
        reason = "missing_field" if known else "unknown_version"
        raise BadRecord(reason, f"eslogger message version {version!r}: {exc!r}") from exc


def _event(msg: Mapping[str, Any], action: Action) -> ProcEvent:
    """The event, built as the tuple it is (every field, in ``ProcEvent``'s order)."""
    time, stamp = time_and_stamp(msg["time"])
    event_id = f"es-{msg.get('mach_time', '')}-{msg['global_seq_num']}"
    body = msg["event"]
    if action is Action.EXEC:
        exec_ = body["exec"]
        target = exec_["target"]
        cwd = (exec_.get("cwd") or {}).get("path") or ""
        args = tuple(exec_.get("args") or ())
        if not _STR_ONLY.issuperset(map(type, args)):
            args = tuple(str(a) for a in args)
        env = exec_.get("env")
        return tuple_new(ProcEvent, (
            action, time, event_id, process(target, args, cwd), _parent(target),
            target.get("original_ppid"), _ref(target.get("responsible_audit_token")), None,
            "eslogger", tuple(env) if env.__class__ is list else (), "", stamp,
        ))  # fmt: skip
    if action is Action.FORK:
        child = body["fork"]["child"]
        return tuple_new(ProcEvent, (
            action, time, event_id, process(child), _ref(msg["process"]["audit_token"]),
            child.get("original_ppid"), _ref(child.get("responsible_audit_token")), None,
            "eslogger", (), "", stamp,
        ))  # fmt: skip
    exiting = msg["process"]
    return tuple_new(ProcEvent, (
        action, time, event_id, process(exiting), _parent(exiting),
        exiting.get("original_ppid"), _ref(exiting.get("responsible_audit_token")),
        exit_code(int(body["exit"]["stat"])), "eslogger", (), "", stamp,
    ))  # fmt: skip
