"""One osqueryd result-log line → the rule it belongs to and its rows.

osqueryd writes a scheduled query's results in one of these shapes (osquery/core/query.cpp,
``serializeQueryLogItem`` and ``serializeQueryLogItemAsEvents``):

* event format (``--logger_event_type``, the default): one line per row,
  ``{"action": "added"|"removed", "columns": {...}, "name", "hostIdentifier", ...}``;
* batched differential: ``{"diffResults": {"added": [...], "removed": [...]}, ...}``;
* snapshot: ``{"action": "snapshot", "snapshot": [...], ...}``;
* snapshot as events (``--logger_snapshot_event_type``): one line per row with
  ``"action": "snapshot"`` and ``columns``.

Every shape carries ``name``, ``hostIdentifier``, ``calendarTime``, ``unixTime``, ``epoch``,
``counter`` and optionally ``decorations`` — nested, or merged into the top level with
``--decorations_top_level``. Values are strings unless ``--logger_numerics`` was set (then
numbers), and both occur in the wild, so numbers are read either way.

Query names: osquery joins pack and query with ``_`` (``pack_<pack>_<query>``, and the pack name
may itself contain ``_``), Fleet and older osquery with ``/`` (``pack/Global/<query>``). A name is
resolved by its last component matching a rule's slug (or rule id, as Kibana's Osquery Manager
names queries by id).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ecsquery.rows import LONG_MAX, LONG_MIN
from ecsquery.rules.model import PACK_NAME, Rule
from ecsquery.schema import COLUMNS

LEGACY_KEYS = frozenset(
    {
        "name",
        "hostIdentifier",
        "calendarTime",
        "unixTime",
        "epoch",
        "counter",
        "numerics",
        "logNumericsAsNumbers",
        "columns",
        "action",
        "snapshot",
        "diffResults",
        "decorations",
        "log_type",
    }
)
"""Keys osquery itself writes; anything else at the top level is a top-level decoration."""

ROW_ACTIONS = ("added", "removed", "snapshot")


class Malformed(ValueError):
    """A line that cannot be used at all; the message is the reason shown in the summary."""


MARKER = max((c.name for c in COLUMNS), key=len).encode()
"""The pre-filter: a line without this column name has no row of our table, so no alert.

ecsquery's packs select every column of ``ecs_process_events`` (osquery then writes every
selected column in every row, empty or not), so one ``bytes.find`` over a block finds our lines
whatever the rules, pack name or delimiter; a search per query name would cost one pass per
rule. The longest column name is used because ``bytes.find`` skips ahead by the needle's
length. Lines of other queries that happen to contain it are parsed, then skipped by name.
"""


class QueryIndex:
    """Resolves result-line query names to rules (slug or rule id as the last component)."""

    def __init__(self, rules: Iterable[Rule], pack: str = PACK_NAME) -> None:
        self.pack = pack
        self._keys: dict[str, Rule] = {}
        for rule in rules:
            self._keys.setdefault(rule.slug, rule)
            self._keys.setdefault(rule.rule_id, rule)
        self._by_length = sorted(self._keys, key=len, reverse=True)
        self._cache: dict[str, Rule | None] = {}

    @property
    def rules(self) -> list[Rule]:
        return list({id(r): r for r in self._keys.values()}.values())

    def resolve(self, name: str) -> Rule | None:
        """The rule a query name belongs to, or None (cached: names repeat on every line)."""
        try:
            return self._cache[name]
        except KeyError:
            pass
        rule = self._keys.get(name)
        if rule is None:
            for key in self._by_length:
                if (
                    len(name) > len(key)
                    and name.endswith(key)
                    and name[-len(key) - 1] in "_/"
                    and name.startswith("pack")
                ):
                    rule = self._keys[key]
                    break
        if len(self._cache) < 100_000:
            self._cache[name] = rule
        return rule

    def is_ours(self, name: str) -> bool:
        """Named after our pack, whether or not a loaded rule has this query."""
        return name.startswith((f"pack_{self.pack}_", f"pack/{self.pack}/"))


def as_int(value: Any) -> int | None:
    """A number osquery wrote as a string or (with ``--logger_numerics``) as a number; None
    beyond 64 bits, as for an ECS ``long`` (such a time would also keep a dedup id forever and
    could not be written to the follow checkpoint)."""
    number = _as_int(value)
    if number is not None and not LONG_MIN <= number <= LONG_MAX:
        return None
    return number


def _as_int(value: Any) -> int | None:
    if value.__class__ is int:
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            value = _float(value)
    if isinstance(value, float):
        try:
            return int(value)
        except (ValueError, OverflowError):  # NaN, inf ("inf", a JSON 1e999)
            return None
    return None


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


class LineInfo:
    """What a result line says about the run that produced its rows (read-only by convention;
    a plain slotted class because one is made per line and a frozen dataclass costs ~1 µs)."""

    __slots__ = (
        "counter",
        "decorations",
        "epoch",
        "host_id",
        "host_key",
        "host_name",
        "name",
        "run",
        "unix_time",
    )  # fmt: skip

    def __init__(
        self,
        name: str,
        host_name: str | None,
        host_id: str | None,
        unix_time: int | None,
        epoch: int | None,
        counter: int | None,
        decorations: dict[str, Any],
    ) -> None:
        self.name = name
        self.host_name = host_name
        self.host_id = host_id
        self.unix_time = unix_time
        self.epoch = epoch
        self.counter = counter
        self.decorations = decorations
        self.host_key: str = host_id or host_name or ""
        self.run = f"{epoch}/{counter}@{unix_time}"
        """One scheduled run of a query on a host: osquery's epoch, counter and result time."""

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__[:7])
        return f"LineInfo({fields})"


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def line_info(obj: dict[str, Any], name: str) -> LineInfo:
    """Host, time and run of a parsed line; decorations nested or at the top level."""
    decorations = obj.get("decorations")
    if decorations.__class__ is not dict:  # --decorations_top_level, or none at all
        decorations = {k: v for k, v in obj.items() if k not in LEGACY_KEYS}
    get = decorations.get
    host_name = get("hostname")
    if host_name.__class__ is not str or not host_name:
        host_name = _text(host_name) or _text(obj.get("hostIdentifier"))
    host_id = get("host_uuid")
    if host_id.__class__ is not str or not host_id:
        host_id = _text(host_id) or _text(get("uuid"))
    return LineInfo(
        name,
        host_name,
        host_id,
        as_int(obj.get("unixTime")),
        as_int(obj.get("epoch")),
        as_int(obj.get("counter")),
        decorations,
    )


def iter_rows(obj: dict[str, Any]) -> list[tuple[str, Any]]:
    """(action, row) for every row of the line, whatever its format; rows are not checked here.

    Raises Malformed when the line has no rows in any known shape.
    """
    diff = obj.get("diffResults")
    if diff is None and obj.get("snapshot") is None and "columns" in obj:  # event format
        event_action = obj.get("action")
        if event_action not in ROW_ACTIONS:
            raise Malformed(f"unknown action {event_action!r}")
        return [(str(event_action), obj["columns"])]
    rows: list[tuple[str, Any]] = []
    if diff is not None:
        if not isinstance(diff, dict):
            raise Malformed("diffResults is not an object")
        for action in ("added", "removed"):
            found = diff.get(action)
            if found is None:
                continue
            if not isinstance(found, list):
                raise Malformed(f"diffResults.{action} is not a list")
            rows.extend((action, row) for row in found)
        return rows
    snapshot = obj.get("snapshot")
    if snapshot is not None:
        if not isinstance(snapshot, list):
            raise Malformed("snapshot is not a list")
        return [("snapshot", row) for row in snapshot]
    raise Malformed("no columns, snapshot or diffResults")
