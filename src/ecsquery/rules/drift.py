"""What a new Elastic version of a rule changes: the compiled SQL first, then the metadata.

The SQL diff is the one that matters for a deployment (what osquery will run); the query-text
diff explains it, and the metadata diff says what changes in alerts (severity, risk, MITRE,
tags...). Long text (note, setup) is summarized as changed lines rather than printed whole.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from ecsquery.rules.compile import CompiledRule
from ecsquery.rules.sql.pushdown import without_hits_only

_TEXT_KEYS = ("description", "note", "setup")
_SKIP_KEYS = ("query",)  # shown as its own diff


@dataclass(frozen=True)
class Change:
    """One metadata key that differs; ``old``/``new`` as ``Rule.to_mapping`` has them."""

    key: str
    old: Any
    new: Any

    def describe(self) -> str:
        if self.key in _TEXT_KEYS:
            old, new = str(self.old).splitlines(), str(self.new).splitlines()
            diff = [
                line
                for line in difflib.unified_diff(old, new, lineterm="", n=0)
                if line[:1] in "+-" and line[:3] not in ("+++", "---")
            ]
            added = sum(1 for line in diff if line.startswith("+"))
            removed = len(diff) - added
            return f"{self.key}: text changed (+{added} -{removed} lines)"
        if self.key == "threat":
            old, new = _mitre_ids(self.old), _mitre_ids(self.new)
            parts = [f"+{i}" for i in new if i not in old] + [f"-{i}" for i in old if i not in new]
            return f"threat: {' '.join(parts) or 'names or references changed'}"
        if isinstance(self.old, list) and isinstance(self.new, list):
            gone = [v for v in self.old if v not in self.new]
            came = [v for v in self.new if v not in self.old]
            if gone or came:
                parts = [f"+{_short(v)}" for v in came] + [f"-{_short(v)}" for v in gone]
                return f"{self.key}: {', '.join(parts)}"
            return f"{self.key}: same items, new order"
        return f"{self.key}: {_short(self.old)} -> {_short(self.new)}"


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _mitre_ids(threat: list[dict[str, Any]]) -> list[str]:
    ids: list[str] = []
    for t in threat:
        ids.append(t["tactic"]["id"])
        for tech in t.get("technique", ()):
            ids.append(tech["id"])
            ids.extend(s["id"] for s in tech.get("subtechnique", ()))
    return list(dict.fromkeys(ids))


@dataclass(frozen=True)
class Drift:
    """The difference between two compiled versions of a rule."""

    old: CompiledRule
    new: CompiledRule
    query_diff: tuple[str, ...]
    sql_diff: tuple[str, ...]
    changes: tuple[Change, ...]

    @property
    def same_rule(self) -> bool:
        return self.old.rule.rule_id == self.new.rule.rule_id

    @property
    def sql_changed(self) -> bool:
        return bool(self.sql_diff)

    def render(self) -> str:
        """The report ``ecsquery check --diff`` prints."""
        old, new = self.old.rule, self.new.rule
        out = [f"{old.name} v{old.version} ({old.source}) -> v{new.version} ({new.source})"]
        if not self.same_rule:
            out.append(f"warning: different rule_id ({old.rule_id} vs {new.rule_id})")
        out.append("")
        out.append("== SQL ==" if self.sql_diff else "== SQL: unchanged ==")
        out.extend(self.sql_diff)
        if self.query_diff:
            out += ["", f"== query text ({old.language} -> {new.language}) =="]
            out.extend(self.query_diff)
        out += ["", "== metadata ==" if self.changes else "== metadata: unchanged =="]
        out.extend(c.describe() for c in self.changes)
        return "\n".join(out) + "\n"


def _unified(old: str, new: str, old_name: str, new_name: str) -> tuple[str, ...]:
    return tuple(
        difflib.unified_diff(
            old.splitlines(), new.splitlines(), old_name, new_name, lineterm="", n=2
        )
    )


def diff_compiled(old: CompiledRule, new: CompiledRule) -> Drift:
    """Compare two compiled rules (normally two Elastic versions of one rule)."""
    old_name = old.rule.source or old.rule.slug
    new_name = new.rule.source or new.rule.slug
    old_map, new_map = old.rule.to_mapping(), new.rule.to_mapping()
    changes = tuple(
        Change(key, old_map[key], new_map[key])
        for key in old_map
        if key not in _SKIP_KEYS and old_map[key] != new_map[key]
    )
    return Drift(
        old,
        new,
        _unified(old.rule.query, new.rule.query, old_name, new_name),
        # hits_only's subquery repeats the conditions: each change is shown once
        _unified(without_hits_only(old.sql), without_hits_only(new.sql), old_name, new_name),
        changes,
    )
