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
"""Name of the extension's process table, as the packs query it (``PROCESS_TABLE.name``)."""

TIME_COLUMN = "time"
"""Unix seconds of the source event: the lookback window and osquery's constraint column."""


class EcsType(Enum):
    """The Elasticsearch mapping type of a field, which decides how rules compare it."""

    KEYWORD = "keyword"
    LONG = "long"
    BOOLEAN = "boolean"
    DATE = "date"
    IP = "ip"


class OsqueryType(Enum):
    """Column types as osquery's table plugin API names them."""

    TEXT = "TEXT"
    INTEGER = "INTEGER"
    BIGINT = "BIGINT"


@dataclass(frozen=True)
class Column:
    """One column of an ECS events table and the ECS field it carries."""

    name: str
    type: OsqueryType
    ecs: str | None
    ecs_type: EcsType
    array: bool = False
    sql: str | None = None
    """A field no event carries but osquery can look up when the query runs: the SQL
    expression computing it (:data:`LOOKUPS`). The extension serves no such column and no
    result row holds it; only rule conditions read it."""
    reads: tuple[str, ...] = ()
    """The columns a lookup's ``sql`` reads: its value is a function of them (and of the table
    it looks in), which lets a pack query evaluate it once per row (``pushdown.hits_only``)."""

    @property
    def numeric(self) -> bool:
        return self.type is not OsqueryType.TEXT

    @property
    def expr(self) -> str:
        """The SQL that reads this field in a query over its table: the column, or the lookup."""
        return self.name if self.sql is None else self.sql


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
        EcsType.IP: OsqueryType.TEXT,
        EcsType.LONG: OsqueryType.BIGINT,
        EcsType.BOOLEAN: OsqueryType.INTEGER,
    }[ecs_type]
    if ecs is None:  # the raw source time is a number of seconds, not an ECS date string
        sql_type = OsqueryType.BIGINT
    return Column(name, sql_type, ecs, ecs_type, array)


K, L, B, D, IP = EcsType.KEYWORD, EcsType.LONG, EcsType.BOOLEAN, EcsType.DATE, EcsType.IP

_EVENT: tuple[Column, ...] = (
    _c(TIME_COLUMN, None, L),
    _c("timestamp", "@timestamp", D),
    _c("event_category", "event.category", array=True),
    _c("event_type", "event.type", array=True),
    _c("event_action", "event.action"),
    _c("event_id", "event.id"),
    _c("host_os_type", "host.os.type"),
    _c("host_name", "host.name"),
)
"""Columns every table has: the source time, the event's identity and the host."""

_PROCESS: tuple[Column, ...] = (
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
"""The process (for file and network events: the actor) and its user, from the process tree."""

_FILE: tuple[Column, ...] = (
    _c("event_outcome", "event.outcome"),
    _c("file_path", "file.path"),
    _c("file_name", "file.name"),
    _c("file_extension", "file.extension"),
    _c("file_directory", "file.directory"),
    _c("file_original_path", "file.Ext.original.path"),
    _c("file_original_name", "file.Ext.original.name"),
    _c("effective_process_pid", "Effective_process.pid", L),
    _c("effective_process_entity_id", "Effective_process.entity_id"),
    _c("effective_process_executable", "Effective_process.executable"),
    _c("effective_process_name", "Effective_process.name"),
    _c("persistence_name", "Persistence.name"),
    _c("persistence_path", "Persistence.path"),
    _c("persistence_executable", "Persistence.executable"),
)
"""The file an event acts on; ``file.Ext.original.*`` is a rename's source, as Elastic Defend.
``event.outcome`` is ``success`` on every file event (``extension.files.OUTCOME``): Defend lists
it among the fields of each macOS file event (elastic/endpoint-package
``custom_documentation/src/endpoint/data_stream/file/macos/*.yaml``, commit 19941229e).
``Effective_process.*`` and ``Persistence.*`` are Defend's top-level fields on macOS file
events: the process that asked for the action (ESF's *responsible* process, when it is not the
actor) and a launch item's plist (the ``launch_daemon`` event), as
``ecsquery.extension.files.file_document`` writes them."""

_NETWORK: tuple[Column, ...] = (
    _c("event_outcome", "event.outcome"),
    _c("source_ip", "source.ip", IP),
    _c("source_port", "source.port", L),
    _c("destination_ip", "destination.ip", IP),
    _c("destination_port", "destination.port", L),
    _c("source_address", "source.address"),
    _c("destination_address", "destination.address"),
    _c("network_transport", "network.transport"),
    _c("network_type", "network.type"),
    _c("network_direction", "network.direction"),
)
"""The connection's two ends, as Elastic Defend's network events carry them (``*.address`` is
the same address as text, as Defend writes it beside ``*.ip``). An ``ip`` cell
holds one canonical text per address (``values.ip_text``), as an Elasticsearch ``ip`` field
indexes one value per address."""


SIGNATURE_COLUMNS: tuple[tuple[str, OsqueryType], ...] = (
    ("path", OsqueryType.TEXT),
    ("hash_resources", OsqueryType.INTEGER),
    ("hash_executable", OsqueryType.INTEGER),
    ("arch", OsqueryType.TEXT),
    ("signed", OsqueryType.INTEGER),
    ("identifier", OsqueryType.TEXT),
    ("cdhash", OsqueryType.TEXT),
    ("team_identifier", OsqueryType.TEXT),
    ("authority", OsqueryType.TEXT),
    ("entitlements", OsqueryType.TEXT),
)
"""osquery's macOS ``signature`` table (``specs/darwin/signature.table``, osquery commit
a5b14f63d98c): ``path`` required, ``hash_resources``/``hash_executable`` "additional"
switches that default to 1, ``authority`` the leaf certificate's common name."""


def _signer(ecs: str, path_column: str) -> Column:
    """``*.code_signature.subject_name`` as osquery's ``signature.authority`` of the executable.

    EndpointSecurity messages carry the signing and team ids but not the certificate, so the
    subject is read from the file on disk *when the query runs*, not when it was executed.
    ``authority`` is the common name of the first certificate of ``kSecCodeInfoCertificates``
    (``osquery/tables/system/darwin/signature.mm`` lines 185-198, commit a5b14f63d98c), the
    name ``codesign -dv`` prints as the first ``Authority``; ``""`` when unsigned (missing).
    osquery returns one row per architecture slice plus ``arch = ''`` for the default
    verification (``kCheckedArches``, lines 37-38 and 239-249): ``arch = ''`` keeps one.
    ``hash_resources = 0 AND hash_executable = 0`` skip hashing the bundle and the
    executable (``getVerifyFlags``, lines 42-57), which the subject does not need. Only an
    absolute path is looked up (an empty one would name osqueryd's working directory).
    """
    lookup = (
        f"CASE WHEN {path_column} GLOB '/*' THEN (SELECT NULLIF(authority, '') FROM signature"
        f" WHERE path = {path_column} AND arch = '' AND hash_resources = 0"
        " AND hash_executable = 0 LIMIT 1) END"
    )
    name = ecs.replace(".", "_")
    return Column(
        name, OsqueryType.TEXT, ecs, EcsType.KEYWORD, sql=f"({lookup})", reads=(path_column,)
    )


LOOKUPS: tuple[Column, ...] = (
    _signer("process.code_signature.subject_name", "process_executable"),
    _signer("process.parent.code_signature.subject_name", "process_parent_executable"),
)
"""Fields every table's rules may read through a lookup in another osquery table at query
time (``Column.sql``); the compiler evaluates them after a condition's other terms."""


@dataclass(frozen=True)
class Table:
    """One table the extension serves: its name, the ECS event category it carries, its columns.

    Every table starts with the shared event and process columns (defined once above), so a
    rule's ``process.*`` condition compiles the same on any of them.
    """

    name: str
    category: str
    columns: tuple[Column, ...]
    lookups: tuple[Column, ...] = ()


PROCESS_TABLE = Table(TABLE, "process", _EVENT + _PROCESS, LOOKUPS)
FILE_TABLE = Table("ecs_file_events", "file", _EVENT + _PROCESS + _FILE, LOOKUPS)
NETWORK_TABLE = Table("ecs_network_events", "network", _EVENT + _PROCESS + _NETWORK, LOOKUPS)
TABLES: tuple[Table, ...] = (PROCESS_TABLE, FILE_TABLE, NETWORK_TABLE)
"""Every table the extension serves, the process table first."""

COLUMNS: tuple[Column, ...] = PROCESS_TABLE.columns
"""The process table's columns (the table single-category code and older packs know)."""

ALL_COLUMNS: tuple[Column, ...] = tuple({c.name: c for t in TABLES for c in t.columns}.values())
"""Every table's columns, each once (shared ones in the process table's order): what a result
row of any table may hold, so the alert reader nests any row back into ECS with one table."""

_DNS = "no osquery table gives DNS names (osquery#7952)"
_STREAMS = (
    "a rule naming its data stream reads several integrations' (network_traffic.http,"
    " suricata.eve, fortinet_fortigate.log, panw); each table holds one kind of the host's own"
    " events, and no macOS source ecsquery reads gives another integration's"
)

MISSING_SOURCES: tuple[tuple[str, str], ...] = (
    ("destination.domain", _DNS),
    ("source.domain", _DNS),
    ("dns.", _DNS),
    ("url.", "no macOS source ecsquery reads sees URLs (HTTP is inside the connection)"),
    ("http.", "no macOS source ecsquery reads sees HTTP requests"),
    ("file.Ext.header_bytes", "EndpointSecurity events carry no file contents"),
    ("data_stream.", _STREAMS),
    ("event.dataset", _STREAMS),
    ("event.module", _STREAMS),
)
"""ECS field (or prefix ending in ``.``) → why no table can carry it: the refusal names the
source that is missing, not only the column."""


def table_for(category: str) -> Table | None:
    """The table serving an ECS event category, or None (``library``, ``configuration``...)."""
    return next((t for t in TABLES if t.category == category), None)


def table_of_row(categories: Iterable[object]) -> Table:
    """The table a document or row of these ``event.category`` values belongs in: the first
    served category (Elastic Defend writes one), else the process table (which no rule of
    another category reads, so such rows stay inert there as they always have)."""
    for category in categories:
        table = table_for(str(category))
        if table is not None:
            return table
    return PROCESS_TABLE


def missing_source(field: str) -> str | None:
    """Why no table carries ``field`` when the reason is a missing source, else None."""
    for prefix, why in MISSING_SOURCES:
        if field == prefix or (prefix.endswith(".") and field.startswith(prefix)):
            return why
    return None


class FieldTable:
    """Lookups over one table's column list; built once and passed to whoever needs it.

    ``name`` and ``category`` say which table the columns are (the compiler writes
    ``FROM name``); ``for_category`` gives the sibling table of another category, so code that
    holds the process table (the default) can compile a ``file where`` rule or step.
    """

    def __init__(
        self,
        columns: Iterable[Column] | None = None,
        *,
        table: Table = PROCESS_TABLE,
    ) -> None:
        self.table = table
        self.columns: tuple[Column, ...] = tuple(table.columns if columns is None else columns)
        self.lookups = table.lookups if columns is None else ()
        self._by_name = {c.name: c for c in self.columns}
        self._by_ecs = {c.ecs: c for c in self.columns + self.lookups if c.ecs is not None}
        if len(self._by_name) != len(self.columns) or len(self._by_ecs) != sum(
            1 for c in self.columns + self.lookups if c.ecs is not None
        ):
            raise ValueError("duplicate column or ECS field in the field table")

    @classmethod
    def of(cls, table: Table) -> FieldTable:
        return cls(table=table)

    @classmethod
    def union(cls) -> FieldTable:
        """Every table's columns (``ALL_COLUMNS``): for reading rows of any table back."""
        return cls(table=Table("", "any", ALL_COLUMNS))

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def category(self) -> str:
        return self.table.category

    def for_category(self, category: str) -> FieldTable | None:
        """This table when it serves ``category``, else the table that does, or None."""
        if category == self.category:
            return self
        table = table_for(category)
        return None if table is None else FieldTable.of(table)

    def __iter__(self) -> Iterator[Column]:
        return iter(self.columns)

    def by_ecs(self, field: str) -> Column | None:
        """The column carrying an ECS field (or its lookup, ``Column.sql``), or None when
        neither the extension nor osquery can supply it."""
        return self._by_ecs.get(field)

    def by_name(self, name: str) -> Column:
        return self._by_name[name]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def ecs_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.ecs is not None)
