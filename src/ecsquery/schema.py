"""The one ECS-field → column table.

The extension serves these columns, the compiler resolves rule fields through them, the pack
renderer writes Kibana's ``ecs_mapping`` from them, and the alert mapper nests result columns
back into ECS documents with them. Keeping it as data in one place is what keeps those four
from drifting apart (pySigma's field-mapping lesson).

Row model (osquery's): every value crosses Thrift as a string and a missing value is ``""``.
osquery turns a missing or non-numeric value of an INTEGER/BIGINT column into SQL NULL, and
keeps ``""`` for TEXT. So for every column *missing* means ``""`` or NULL, and an empty string
cannot be told from a missing value. Array fields are JSON text (``'["security","-d"]'``),
matched element-wise with ``json_each``; an empty array counts as missing. How a value's
shape becomes a cell (NUL, numbers or nested lists in arrays, lists in single-valued fields)
is ``ecsquery.values``, the one place that follows Elasticsearch there.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum

TABLE = "ecs_process_events"
"""Name of the extension's table, as the packs query it."""

TIME_COLUMN = "time"
"""Unix seconds of the source event: the lookback window and osquery's constraint column."""


class EcsType(Enum):
    """The Elasticsearch mapping type of a field, which decides how rules compare it."""

    KEYWORD = "keyword"
    LONG = "long"
    BOOLEAN = "boolean"
    DATE = "date"


class OsqueryType(Enum):
    """Column types as osquery's table plugin API names them."""

    TEXT = "TEXT"
    INTEGER = "INTEGER"
    BIGINT = "BIGINT"


@dataclass(frozen=True)
class Column:
    """One column of the ECS process-events table and the ECS field it carries."""

    name: str
    type: OsqueryType
    ecs: str | None
    ecs_type: EcsType
    array: bool = False

    @property
    def numeric(self) -> bool:
        return self.type is not OsqueryType.TEXT


def _c(
    name: str,
    ecs: str | None,
    ecs_type: EcsType = EcsType.KEYWORD,
    *,
    array: bool = False,
) -> Column:
    sql_type = {
        EcsType.KEYWORD: OsqueryType.TEXT,
        EcsType.DATE: OsqueryType.TEXT,
        EcsType.LONG: OsqueryType.BIGINT,
        EcsType.BOOLEAN: OsqueryType.INTEGER,
    }[ecs_type]
    if ecs is None:  # the raw source time is a number of seconds, not an ECS date string
        sql_type = OsqueryType.BIGINT
    return Column(name, sql_type, ecs, ecs_type, array)


K, L, B, D = EcsType.KEYWORD, EcsType.LONG, EcsType.BOOLEAN, EcsType.DATE

COLUMNS: tuple[Column, ...] = (
    _c(TIME_COLUMN, None, L),
    _c("timestamp", "@timestamp", D),
    _c("event_category", "event.category", array=True),
    _c("event_type", "event.type", array=True),
    _c("event_action", "event.action"),
    _c("event_id", "event.id"),
    _c("host_os_type", "host.os.type"),
    _c("host_name", "host.name"),
    _c("process_pid", "process.pid", L),
    _c("process_entity_id", "process.entity_id"),
    _c("process_executable", "process.executable"),
    _c("process_name", "process.name"),
    _c("process_args", "process.args", array=True),
    _c("process_args_count", "process.args_count", L),
    _c("process_command_line", "process.command_line"),
    _c("process_working_directory", "process.working_directory"),
    _c("process_env_vars", "process.env_vars", array=True),
    _c("process_previous_executable", "process.previous.executable"),
    _c("process_exit_code", "process.exit_code", L),
    _c("process_code_signature_exists", "process.code_signature.exists", B),
    _c("process_code_signature_trusted", "process.code_signature.trusted", B),
    _c("process_code_signature_signing_id", "process.code_signature.signing_id"),
    _c("process_code_signature_team_id", "process.code_signature.team_id"),
    _c("process_parent_pid", "process.parent.pid", L),
    _c("process_parent_entity_id", "process.parent.entity_id"),
    _c("process_parent_executable", "process.parent.executable"),
    _c("process_parent_name", "process.parent.name"),
    _c("process_parent_args", "process.parent.args", array=True),
    _c("process_parent_command_line", "process.parent.command_line"),
    _c("process_parent_code_signature_exists", "process.parent.code_signature.exists", B),
    _c("process_parent_code_signature_trusted", "process.parent.code_signature.trusted", B),
    _c("process_effective_parent_pid", "process.Ext.effective_parent.pid", L),
    _c("process_effective_parent_entity_id", "process.Ext.effective_parent.entity_id"),
    _c("process_effective_parent_executable", "process.Ext.effective_parent.executable"),
    _c("process_effective_parent_name", "process.Ext.effective_parent.name"),
    _c("user_id", "user.id"),
    _c("user_name", "user.name"),
    _c("user_effective_id", "user.effective.id"),
    _c("group_id", "group.id"),
)


class FieldTable:
    """Lookups over a column list; built once and passed to whoever needs it."""

    def __init__(self, columns: Iterable[Column] = COLUMNS) -> None:
        self.columns: tuple[Column, ...] = tuple(columns)
        self._by_name = {c.name: c for c in self.columns}
        self._by_ecs = {c.ecs: c for c in self.columns if c.ecs is not None}
        if len(self._by_name) != len(self.columns) or len(self._by_ecs) != sum(
            1 for c in self.columns if c.ecs is not None
        ):
            raise ValueError("duplicate column or ECS field in the field table")

    def __iter__(self) -> Iterator[Column]:
        return iter(self.columns)

    def by_ecs(self, field: str) -> Column | None:
        """The column carrying an ECS field, or None when the extension cannot supply it."""
        return self._by_ecs.get(field)

    def by_name(self, name: str) -> Column:
        return self._by_name[name]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def ecs_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.ecs is not None)
