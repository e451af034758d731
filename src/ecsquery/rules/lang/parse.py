"""The one entry point: rule query text and Elastic's language name → ``Query``.

Callers never pick a parser themselves; the language string is spelled as in Elastic's rule
files (``language = "kuery"`` or ``"eql"``), ``"kql"`` accepted as an alias.
"""

from __future__ import annotations

from ecsquery.errors import UnsupportedConstruct
from ecsquery.rules.lang.ast import Query
from ecsquery.rules.lang.eql import parse_eql
from ecsquery.rules.lang.kql import parse_kql

__all__ = ["parse_query"]


def parse_query(text: str, language: str) -> Query:
    """Parse ``text``; raises ``RuleSyntaxError`` or ``UnsupportedConstruct`` with a position.

    The rule id is attached by the caller (``err.with_rule(rule_id)``).
    """
    match language.lower():
        case "kuery" | "kql":
            return parse_kql(text)
        case "eql":
            return parse_eql(text)
    raise UnsupportedConstruct(
        f"language {language}", "only KQL (kuery) and EQL rules can be compiled"
    )
