"""One root error class with narrow subclasses.

Every error that a user can cause carries enough to find the cause without a debugger: the rule
(id or file), the position in the rule text, and the construct or field involved. Batch commands
(``check``, ``render``, ``import``) collect these instead of stopping at the first one, so the
message format is fixed here, in one place.
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

    def __init__(self, message: str, *, rule: str | None = None, pos: Pos | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.rule = rule
        self.pos = pos

    def with_rule(self, rule: str) -> EcsqueryError:
        """Attach the rule id once it is known (parsers and compilers see only text and AST)."""
        if self.rule is None:
            self.rule = rule
        return self

    def __str__(self) -> str:
        where = ":".join(part for part in (self.rule, str(self.pos) if self.pos else None) if part)
        return f"{where}: {self.message}" if where else self.message


class RuleLoadError(EcsqueryError):
    """A rule file is unreadable, or lacks or mistypes a required key."""


class RuleSyntaxError(EcsqueryError):
    """The query text does not parse as KQL or EQL."""


class UnsupportedConstruct(EcsqueryError):
    """Valid KQL/EQL that ecsquery cannot compile with exact semantics (never guessed at)."""

    def __init__(
        self, construct: str, message: str, *, rule: str | None = None, pos: Pos | None = None
    ) -> None:
        super().__init__(f"unsupported {construct}: {message}", rule=rule, pos=pos)
        self.construct = construct


class UnmappedField(EcsqueryError):
    """An ECS field the extension cannot supply on macOS (no column in the field table)."""

    def __init__(self, field: str, *, rule: str | None = None, pos: Pos | None = None) -> None:
        super().__init__(
            f"field {field!r} has no column in the ECS process-events table",
            rule=rule,
            pos=pos,
        )
        self.field = field


class RefusedRule(EcsqueryError):
    """A whole rule that cannot run on osquery (sequence, threshold, ML, non-process...)."""


class SourceError(EcsqueryError):
    """An event source (eslogger, osquery, replay file) produced input that cannot be used."""
