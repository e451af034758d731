"""Builders of osqueryd result lines for the alert-reader tests.

Shapes follow osquery/core/query.cpp (``serializeQueryLogItem`` and
``serializeQueryLogItemAsEvents``): legacy fields ``name``, ``hostIdentifier``,
``calendarTime``, ``unixTime``, ``epoch``, ``counter``, then ``decorations`` (nested, or merged
into the top level with ``--decorations_top_level``), and the rows as ``columns`` (event
format), ``diffResults`` (batched) or ``snapshot``. With ``numerics`` the numbers are JSON
numbers (``--logger_numerics``), as in the real samples of tests/fixtures/osquery-results.
"""

from __future__ import annotations

import shutil
import tomllib
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import zstandard

from ecsquery.alerts.follow import Position, Tail
from ecsquery.alerts.reader import AlertReader
from ecsquery.alerts.signal import KibanaSignal
from ecsquery.rows import to_row
from ecsquery.rules.load import load_rule
from ecsquery.rules.model import Rule
from ecsquery.schema import FieldTable

FIXTURES = Path(__file__).parent / "fixtures"
RULES = FIXTURES / "elastic-rules"
RESULTS = FIXTURES / "osquery-results"
KEYCHAIN = RULES / "credential_access_dumping_keychain_security.toml"
PYTHON_SHELL = (
    FIXTURES / "elastic-rules-multi" / "execution_python_shell_spawn_first_occurrence.toml"
)
"""A real new_terms rule: [host.id, process.parent.executable] over now-7d."""
SYSTEMKEY = RULES / "credential_access_systemkey_dumping.toml"
FIELDS = FieldTable()
NUMERIC_COLUMNS = {c.name for c in FIELDS if c.numeric}


def rule(path: Path = KEYCHAIN) -> Rule:
    return load_rule(path)


def toml_threat(path: Path) -> list[dict[str, Any]]:
    """The MITRE block exactly as the rule file has it."""
    threat: list[dict[str, Any]] = tomllib.loads(path.read_text())["rule"]["threat"]
    return threat


def simple_rule(slug: str, **overrides: Any) -> Rule:
    data: dict[str, Any] = {
        "rule_id": f"id-{slug}",
        "name": f"Rule {slug}",
        "type": "query",
        "query": "*",
        "severity": "low",
        "risk_score": 21,
    }
    data.update(overrides)
    return Rule.from_mapping(data, slug=slug)


def keychain_event(seq: int = 1, **changes: Any) -> dict[str, str]:
    """A row of ``ecs_process_events`` for ``security dump-keychain -d``, as the extension
    would serve it (every column present, missing ones ``""``)."""
    t = 1_700_000_000 + seq
    doc: dict[str, Any] = {
        "@timestamp": datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.123Z"),
        "event": {"category": ["process"], "type": ["start"], "action": "exec", "id": f"ev-{seq}"},
        "host": {"os": {"type": "macos"}, "name": "mac-01"},
        "process": {
            "pid": 4000 + seq,
            "entity_id": f"ent-{seq}",
            "executable": "/usr/bin/security",
            "name": "security",
            "args": ["security", "dump-keychain", "-d"],
            "args_count": 3,
            "command_line": "security dump-keychain -d",
            "working_directory": "/Users/alice",
            "code_signature": {"exists": True, "trusted": True, "signing_id": "com.apple.security"},
            "parent": {
                "pid": 300,
                "name": "Terminal",
                "executable": "/System/Applications/Utilities/Terminal.app/Contents/MacOS/Terminal",
            },
        },
        "user": {"id": "0", "name": "root", "effective": {"id": "0"}},
        "group": {"id": "0"},
    }
    row = to_row(doc, FIELDS)
    row["time"] = str(t)
    row.update({k: str(v) for k, v in changes.items()})
    return row


def _numbers(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        out[k] = int(v) if k in NUMERIC_COLUMNS and isinstance(v, str) and v.isdigit() else v
    return out


def query_name(slug: str, delimiter: str = "_", pack: str = "ecsquery") -> str:
    return f"pack{delimiter}{pack}{delimiter}{slug}"


def _legacy(
    name: str,
    *,
    host: str = "mac-01",
    host_uuid: str = "UUID-MAC-01",
    unix: int = 1_700_000_100,
    epoch: int = 0,
    counter: int = 1,
    numerics: bool = False,
    top_level_decorations: bool = False,
) -> dict[str, Any]:
    num = (lambda v: v) if numerics else str
    obj: dict[str, Any] = {
        "name": name,
        "hostIdentifier": host,
        "calendarTime": datetime.fromtimestamp(unix, UTC).strftime("%a %b %e %H:%M:%S %Y UTC"),
        "unixTime": num(unix),
        "epoch": num(epoch),
        "counter": num(counter),
        "numerics": numerics,
    }
    decorations = {"host_uuid": host_uuid, "username": "alice"}
    if top_level_decorations:
        obj.update(decorations)
    else:
        obj["decorations"] = decorations
    return obj


def event_line(
    name: str, row: dict[str, Any], action: str = "added", numerics: bool = False, **kw: Any
) -> bytes:
    obj = _legacy(name, numerics=numerics, **kw)
    obj["columns"] = _numbers(row) if numerics else row
    obj["action"] = action
    return orjson.dumps(obj)


def batch_line(
    name: str,
    added: list[dict[str, Any]],
    removed: list[dict[str, Any]] = (),  # type: ignore[assignment]
    numerics: bool = False,
    **kw: Any,
) -> bytes:
    obj: dict[str, Any] = {}
    conv = _numbers if numerics else dict
    obj["diffResults"] = {"added": [conv(r) for r in added], "removed": [conv(r) for r in removed]}
    obj.update(_legacy(name, numerics=numerics, **kw))
    return orjson.dumps(obj)


def snapshot_line(
    name: str, rows: list[dict[str, Any]], numerics: bool = False, **kw: Any
) -> bytes:
    conv = _numbers if numerics else dict
    obj: dict[str, Any] = {"snapshot": [conv(r) for r in rows], "action": "snapshot"}
    obj.update(_legacy(name, numerics=numerics, **kw))
    return orjson.dumps(obj)


def snapshot_event_lines(
    name: str, rows: list[dict[str, Any]], numerics: bool = False, **kw: Any
) -> list[bytes]:
    """``--logger_snapshot_event_type``: one line per row, ``"action": "snapshot"``."""
    return [event_line(name, r, "snapshot", numerics=numerics, **kw) for r in rows]


def other_line(seq: int, name: str = "pack_it-compliance_launchd") -> bytes:
    """A line of somebody else's query (the shape of the real macOS launchd sample)."""
    return orjson.dumps(
        {
            "action": "added",
            "columns": {
                "label": f"com.example.{seq}",
                "name": f"com.example.{seq}.plist",
                "path": f"/Library/LaunchDaemons/com.example.{seq}.plist",
                "program_arguments": "/usr/sbin/syslogd",
                "run_at_load": "1",
            },
            "counter": "0",
            "decorations": {"host_uuid": "4AB2906D-5516-5794-AF54-86D1D7F533F3", "username": "tsg"},
            "epoch": "0",
            "hostIdentifier": "192-168-0-4.rdsnet.ro",
            "name": name,
            "unixTime": str(1514471991 + seq),
        }
    )


def read_docs(
    lines: Iterable[bytes | str],
    rules: list[Rule],
    summary: Any = None,
    state: Any = None,
    shape: Any = None,
    **kw: Any,
) -> list[dict[str, Any]]:
    """Alert documents of result lines through ``AlertReader.read`` (one block), in ``shape``
    (default: the Kibana signal shape, whose exact fields these tests pin)."""
    from ecsquery.alerts.reader import AlertReader

    document = (shape or KibanaSignal()).document

    data = b"".join(
        (x.encode() if isinstance(x, str) else x).rstrip(b"\r\n") + b"\n" for x in lines
    )
    reader = AlertReader(rules, summary=summary, state=state, **kw)
    return [document(alert) for alert in reader.read(data)]


# -- follow mode: a log written, rotated and tailed -------------------------------------------

FOLLOW_NAME = query_name(rule().slug)


def hit(i: int) -> bytes:
    return event_line(FOLLOW_NAME, keychain_event(i), counter=i, unix=1_700_000_000 + i) + b"\n"


NEW_TERMS_NAME = query_name(rule(PYTHON_SHELL).slug)


def iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def new_terms_hit(
    i: int, *, parent: str, ms: int | None = None, host_uuid: str = "UUID-MAC-01"
) -> bytes:
    """A result line of ``PYTHON_SHELL``'s query: event ``nt-i`` at ``ms`` (default: i s after
    the keychain hits' start, as ``hit(i)``), logged a second later."""
    ms = (1_700_000_000 + i) * 1000 + 123 if ms is None else ms
    row = keychain_event(i, process_parent_executable=parent, event_id=f"nt-{i}")
    row.update(timestamp=iso_ms(ms), time=str(ms // 1000))
    line = event_line(NEW_TERMS_NAME, row, counter=i, unix=ms // 1000 + 1, host_uuid=host_uuid)
    return line + b"\n"


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as f:
        f.write(data)


def compress_whole(one: Path, target: Path) -> None:
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(zstandard.ZstdCompressor().compress(one.read_bytes()))
    tmp.rename(target)
    one.unlink()


def shift(base: Path, compress: Callable[[Path, Path], None] = compress_whole) -> None:
    """Make room for a new ``.1`` as osquery's LogRotate does: ``.N.zst`` → ``.N+1.zst``
    (oldest first), then ``.1`` compressed to ``.2.zst`` (by default written whole under a
    temporary name, renamed, then ``.1`` removed)."""
    numbered = sorted(
        (int(p.name.rsplit(".", 2)[-2]), p) for p in base.parent.glob(base.name + ".*.zst")
    )
    for n, path in reversed(numbered):
        path.rename(base.with_name(f"{base.name}.{n + 1}.zst"))
    one = base.with_name(base.name + ".1")
    if one.exists():
        compress(one, base.with_name(base.name + ".2.zst"))


def rotate_rename(base: Path) -> None:
    shift(base)
    base.rename(base.with_name(base.name + ".1"))


def rotate_copytruncate(base: Path) -> None:
    shift(base)
    shutil.copyfile(base, base.with_name(base.name + ".1"))
    with base.open("r+b") as f:
        f.truncate(0)


def event_ids(alerts: list[dict[str, Any]]) -> list[int]:
    return [int(a["event"]["id"].removeprefix("ev-")) for a in alerts]


def drain(tail: Tail, reader: AlertReader) -> list[int]:
    alerts = []
    for block in tail.poll():
        alerts += [KibanaSignal().document(a) for a in reader.read(block)]
    return event_ids(alerts)


def new_tail(
    base: Path, reader: AlertReader, start: Position | None = None, *, quiet: float = 2.0
) -> Tail:
    return Tail(
        base, start or Position(), reader.summary, max_line=reader.max_line_bytes, quiet=quiet
    )
