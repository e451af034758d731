"""The one error a normalizer raises, carrying the counter it belongs under."""

from __future__ import annotations

from ecsquery.errors import SourceError

REASONS = ("malformed", "missing_field", "unknown_version", "unrecognized")


class BadRecord(SourceError):
    """A source record that cannot become an event; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
