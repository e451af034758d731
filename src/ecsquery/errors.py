"""One root error class with narrow subclasses.

Every error that a user can cause carries enough to find the cause without a debugger, each in
its own attribute (pySigma's ``SigmaError`` carries its source the same way): ``source`` (the
file), ``rule`` (the rule id), ``pos`` (line and column in the rule's query text), and the
construct or field involved. Batch commands (``check``, ``render``, ``import``, ``replay``)
collect these instead of stopping at the first one and print ``str(error)``, so the message
format is fixed here, in one place: ``<source>: <rule>:<line>:<column>: <message>``, each part
present when known.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Pos:
    """1-based line and column in a rule's query text."""

    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.line}:{self.column}"


class EcsqueryError(Exception):
    """Root of every error ecsquery raises on purpose (as opposed to bugs)."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        rule: str | None = None,
        pos: Pos | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.source = source
        self.rule = rule
        self.pos = pos

    def with_rule(self, rule: str, source: str | None = None) -> EcsqueryError:
        """Attach the rule id (and its file) once known: parsers and compilers see only text.

        A position that names its own file (an exception item's, in its exceptions file) is the
        place to look, so the rule's file is not put in front of it.
        """
        if self.rule is None:
            self.rule = rule
        if self.source is None and not getattr(self.pos, "source", None):
            self.source = source or None
        return self

    def __str__(self) -> str:
        where = ":".join(part for part in (self.rule, str(self.pos) if self.pos else None) if part)
        parts = (self.source, where, self.message)
        return ": ".join(part for part in parts if part)


class RuleLoadError(EcsqueryError):
    """A rule file is unreadable, or lacks or mistypes a required key."""


class RuleSyntaxError(EcsqueryError):
    """The query text does not parse as KQL or EQL."""


class UnsupportedConstruct(EcsqueryError):
    """Valid KQL/EQL that ecsquery cannot compile with exact semantics (never guessed at)."""

    def __init__(
        self,
        construct: str,
        message: str,
        *,
        source: str | None = None,
        rule: str | None = None,
        pos: Pos | None = None,
    ) -> None:
        super().__init__(f"unsupported {construct}: {message}", source=source, rule=rule, pos=pos)
        self.construct = construct


class UnmappedField(EcsqueryError):
    """An ECS field the extension cannot supply on macOS (no column in the rule's table).

    ``category`` names the table (``process`` → the ECS process-events table); ``why`` is the
    missing source when that is the reason (DNS names: no osquery table has them), by default
    ``schema.missing_source``'s.
    """

    def __init__(
        self,
        field: str,
        *,
        category: str = "process",
        why: str | None = None,
        source: str | None = None,
        rule: str | None = None,
        pos: Pos | None = None,
    ) -> None:
        from ecsquery.schema import missing_source  # the schema is data; errors come first

        why = why or missing_source(field)
        super().__init__(
            f"field {field!r} has no column in the ECS {category}-events table"
            + (f": {why}" if why else ""),
            source=source,
            rule=rule,
            pos=pos,
        )
        self.field = field
        self.category = category


class RefusedRule(EcsqueryError):
    """A whole rule that cannot run on osquery (sequence, threshold, ML, non-process...)."""


class SourceError(EcsqueryError):
    """An event source (eslogger, osquery, replay file) produced input that cannot be used."""
