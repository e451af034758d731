"""Per-rule exceptions (allowlists), in the shape of Elastic's exception list items.

A team silences a known-good tool the way it would in Kibana: an item of ``entries`` (field,
operator, type, value) that must *all* hold; the rule stays silent for an event when *any*
item holds. Items live in YAML beside the rule (``<slug>.exceptions.yaml``), plus a directory's
``_default.exceptions.yaml`` that applies to every rule in it.

Exceptions are not a second language with its own SQL: ``apply_exceptions`` turns them into
the rule's own AST, ``where AND NOT (item OR item ...)``, so the same passes (unknown field →
``UnmappedField`` naming the exception file and entry), the same SQL compiler and the same
reference evaluator apply, and the property tests of the rule cover its exceptions too.

Entry semantics follow Kibana's ``build_exception_filter`` (``@kbn/securitysolution-list-utils``):

- ``match`` ("is") is ``match_phrase`` → exact, case-sensitive on keyword fields: ``Equals``;
- ``match_any`` ("is one of") is one ``match_phrase`` per value: ``Equals`` with several values;
- ``wildcard`` ("matches") is a ``wildcard`` query without ``case_insensitive`` → case-sensitive
  on keyword fields, ``*`` any run, ``?`` one code point, ``\\`` escapes the next character
  (Lucene's ``WildcardQuery``): ``Match``;
- ``exists``: ``Exists``; ``operator: excluded`` ("is not"...) wraps the entry in ``Not``, which
  is true for events that lack the field, as Elasticsearch's ``must_not``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any

import yaml

from ecsquery.errors import Pos, RuleLoadError
from ecsquery.rules.lang.ast import (
    And,
    Equals,
    Exists,
    Expr,
    FieldRef,
    Match,
    Not,
    Or,
    Pattern,
    Query,
    Scalar,
)

SUFFIX = ".exceptions.yaml"
"""``<slug>.exceptions.yaml`` beside ``<slug>.yaml`` (or ``.toml``) holds that rule's items."""

DEFAULTS = "_default" + SUFFIX
"""Items for every rule of the directory. ``rule_paths`` skips it like any ``*.exceptions.yaml``;
``_default`` is therefore not a usable rule slug (Elastic's slugs never start with ``_``)."""

OPERATORS = ("included", "excluded")
TYPES = ("match", "match_any", "wildcard", "exists")
_ITEM_KEYS = ("name", "description", "comments", "entries", "item_id", "type")
_ENTRY_KEYS = ("field", "operator", "type", "value")
_COMMENT_KEYS = ("comment", "created_by", "created_at")
_UNSUPPORTED_TYPES = {
    "list": "value lists live in Kibana; write the values with match_any",
    "nested": "the process-events table has no nested fields",
}


@dataclass(frozen=True)
class ExceptionPos(Pos):
    """Where an exception item or entry is: its file, YAML line:column, item name, entry number.

    A ``Pos`` so that errors raised by the passes on an exception's AST node (an unmapped
    field, a wildcard on a number) name the exception instead of a spot in the rule's query.
    """

    source: str = ""
    item: str = ""
    entry: int | None = None

    def __str__(self) -> str:
        entry = f" entry {self.entry}" if self.entry is not None else ""
        return f"{self.source}:{self.line}:{self.column}: exception {self.item!r}{entry}"


@dataclass(frozen=True)
class Comment:
    """Elastic's item comment: why the exception is safe, and who said so."""

    comment: str
    created_by: str = ""
    created_at: str = ""


@dataclass(frozen=True)
class ExceptionEntry:
    """One condition: ``value`` is a string (match, wildcard), a tuple (match_any) or None."""

    field: str
    operator: str
    type: str
    value: str | tuple[str, ...] | None = None
    pos: ExceptionPos | None = dc_field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class ExceptionItem:
    """Entries that must all hold for the rule to stay silent."""

    name: str
    description: str
    entries: tuple[ExceptionEntry, ...]
    comments: tuple[Comment, ...] = ()
    item_id: str = ""
    pos: ExceptionPos | None = dc_field(default=None, compare=False, repr=False)


# --------------------------------------------------------------------------- AST


def wildcard_pattern(text: str) -> Pattern:
    """An Elasticsearch ``wildcard`` value as a pattern: ``*`` any run, ``?`` one code point,
    ``\\`` makes the next character literal (Lucene's ``WildcardQuery``)."""
    return Pattern.parse(text, "*?", escape="\\")


def entry_expr(entry: ExceptionEntry) -> Expr:
    """The AST of one entry (before passes: values stay strings, typed by ``coerce_literals``)."""
    pos = entry.pos
    ref = FieldRef(entry.field, pos=pos)
    node: Expr
    if entry.type == "exists":
        node = Exists(ref, pos=pos)
    elif entry.type == "wildcard":
        assert isinstance(entry.value, str)
        node = Match(ref, (wildcard_pattern(entry.value),), case_insensitive=False, pos=pos)
    else:
        values: tuple[Scalar, ...] = (
            entry.value if isinstance(entry.value, tuple) else (str(entry.value),)
        )
        node = Equals(ref, values, case_insensitive=False, pos=pos)
    return Not(node, pos=pos) if entry.operator == "excluded" else node


def item_expr(item: ExceptionItem) -> Expr:
    """True for the events the item excepts: every entry holds."""
    parts = tuple(entry_expr(e) for e in item.entries)
    return parts[0] if len(parts) == 1 else And(parts, pos=item.pos)


def apply_exceptions(query: Query, items: tuple[ExceptionItem, ...]) -> Query:
    """The rule's query that stays silent for excepted events: ``where AND NOT (any item)``.

    Run it before the passes (they then check and type the exception's fields and values like
    the rule's own); no items, no change.
    """
    if not items:
        return query
    parts = tuple(item_expr(i) for i in items)
    excepted = parts[0] if len(parts) == 1 else Or(parts)
    return replace(query, where=And((query.where, Not(excepted))))


# --------------------------------------------------------------------------- loading


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _value_node(node: yaml.Node, key: str) -> yaml.Node:
    """The node of ``key``'s value in a mapping node (the mapping itself if not found)."""
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key and isinstance(v, yaml.Node):
                return v
    return node


Fail = Callable[[str], RuleLoadError]
"""Builds the error for a message, already knowing the file, item, entry and YAML position."""


class _File:
    """One exceptions file being read: raises errors that name the file, item and entry."""

    def __init__(self, path: Path) -> None:
        self.source = str(path)

    def error(self, node: yaml.Node, item: str, entry: int | None, message: str) -> RuleLoadError:
        line, column = _mark(node)
        return RuleLoadError(message, pos=ExceptionPos(line, column, self.source, item, entry))

    def items(self, data: Any, root: yaml.Node | None) -> tuple[ExceptionItem, ...]:
        if data is None or root is None:
            return ()
        if not isinstance(data, list) or not isinstance(root, yaml.SequenceNode):
            got = type(data).__name__
            raise RuleLoadError(
                f"expected a list of exception items, got {got}", source=self.source
            )
        return tuple(
            self.item(raw, node, i)
            for i, (raw, node) in enumerate(zip(data, root.value, strict=True))
        )

    def item(self, raw: Any, node: yaml.Node, index: int) -> ExceptionItem:
        label = f"#{index + 1}"
        if isinstance(raw, dict) and isinstance(raw.get("name"), str) and raw["name"].strip():
            label = raw["name"]

        def fail(message: str, at: yaml.Node = node) -> RuleLoadError:
            return self.error(at, label, None, message)

        if not isinstance(raw, dict):
            raise fail(f"an item must be a mapping, got {type(raw).__name__}")
        self.check_keys(raw, _ITEM_KEYS, fail)
        for key in ("name", "description"):
            if not isinstance(raw.get(key), str) or not raw[key].strip():
                raise fail(f"{key!r} must be a non-empty string", _value_node(node, key))
        if raw.get("type", "simple") != "simple":
            raise fail("item 'type' must be 'simple' (Elastic's only item type)")
        entries_raw = raw.get("entries")
        entries_node = _value_node(node, "entries")
        if not isinstance(entries_raw, list) or not entries_raw:
            raise fail("'entries' must be a non-empty list", entries_node)
        assert isinstance(entries_node, yaml.SequenceNode)
        pos = ExceptionPos(*_mark(node), self.source, label)
        entries = tuple(
            self.entry(e, n, label, j + 1)
            for j, (e, n) in enumerate(zip(entries_raw, entries_node.value, strict=True))
        )
        return ExceptionItem(
            name=label,
            description=raw["description"].strip(),
            entries=entries,
            comments=self.comments(
                raw.get("comments"), lambda m: fail(m, _value_node(node, "comments"))
            ),
            item_id=str(raw.get("item_id") or ""),
            pos=pos,
        )

    @staticmethod
    def check_keys(raw: dict[Any, Any], allowed: tuple[str, ...], fail: Fail) -> None:
        unknown = [k for k in raw if k not in allowed]
        if unknown:
            raise fail(f"unknown key {unknown[0]!r} (expected one of {', '.join(allowed)})")

    def comments(self, raw: Any, fail: Fail) -> tuple[Comment, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, list):
            raise fail("'comments' must be a list of {comment: ...} mappings")
        out: list[Comment] = []
        for c in raw:
            if not isinstance(c, dict) or not isinstance(c.get("comment"), str):
                raise fail("each comment must be a mapping with a 'comment' string")
            self.check_keys(c, _COMMENT_KEYS, fail)
            out.append(
                Comment(
                    c["comment"].strip(), str(c.get("created_by", "")), str(c.get("created_at", ""))
                )
            )
        return tuple(out)

    def entry(self, raw: Any, node: yaml.Node, item: str, number: int) -> ExceptionEntry:
        def fail(message: str, key: str | None = None) -> RuleLoadError:
            return self.error(_value_node(node, key) if key else node, item, number, message)

        if not isinstance(raw, dict):
            raise fail(f"an entry must be a mapping, got {type(raw).__name__}")
        self.check_keys(raw, _ENTRY_KEYS, fail)
        field = raw.get("field")
        if not isinstance(field, str) or not field.strip():
            raise fail("'field' must be a non-empty string (an ECS field name)", "field")
        operator = raw.get("operator")
        if operator not in OPERATORS:
            raise fail(f"operator {operator!r} is not one of {', '.join(OPERATORS)}", "operator")
        kind = raw.get("type")
        if kind not in TYPES:
            why = _UNSUPPORTED_TYPES.get(str(kind), f"expected one of {', '.join(TYPES)}")
            raise fail(f"unsupported type {kind!r}: {why}", "type")
        pos = ExceptionPos(*_mark(node), self.source, item, number)
        if kind == "exists":
            if "value" in raw:
                raise fail("an 'exists' entry takes no value", "value")
            return ExceptionEntry(field.strip(), operator, kind, None, pos)
        value = raw.get("value")
        if kind == "match_any":
            if not isinstance(value, list) or not value:
                raise fail("a 'match_any' entry takes a non-empty list of values", "value")
            texts = tuple(self.text(v, lambda m: fail(m, "value")) for v in value)
            return ExceptionEntry(field.strip(), operator, kind, texts, pos)
        if "value" not in raw:
            raise fail(f"a {kind!r} entry needs a value", None)
        return ExceptionEntry(
            field.strip(), operator, kind, self.text(value, lambda m: fail(m, "value")), pos
        )

    @staticmethod
    def text(value: Any, fail: Fail) -> str:
        """A value as Elastic stores it: a non-empty string. YAML's bare booleans and integers
        become ``true``/``false`` and decimal digits (what the field comparison needs); floats,
        dates and the like are refused rather than guessed at."""
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, int):
            value = str(value)
        if not isinstance(value, str) or value == "":
            raise fail(f"value {value!r} must be a non-empty string")
        return value


def load_exceptions(path: Path) -> tuple[ExceptionItem, ...]:
    """The items of one exceptions file; an empty file has none. Bad input → ``RuleLoadError``
    naming the file, the item and the entry, at the YAML line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleLoadError(f"cannot read: {exc}", source=str(path)) from exc
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as exc:
        raise RuleLoadError(f"not valid YAML: {exc}", source=str(path)) from exc
    finally:
        loader.dispose()
    return _File(path).items(data, root)


def exception_paths(rule_path: Path) -> tuple[Path, ...]:
    """The exceptions files that apply to a rule file: its directory's defaults, then its own."""
    own = rule_path.with_name(rule_path.stem + SUFFIX)
    misnamed = own.with_suffix(".yml")
    if misnamed.is_file():  # rule_paths skips it as an exceptions file: never ignore it silently
        raise RuleLoadError(f"exceptions files end in {SUFFIX!r}; rename it", source=str(misnamed))
    candidates = (rule_path.parent / DEFAULTS, own)
    return tuple(dict.fromkeys(p for p in candidates if p.is_file()))


def exceptions_for(rule_path: Path) -> tuple[ExceptionItem, ...]:
    """Every exception item that applies to the rule in ``rule_path``, defaults first."""
    return tuple(item for p in exception_paths(rule_path) for item in load_exceptions(p))
