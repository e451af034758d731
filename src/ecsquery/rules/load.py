"""Load rules from our YAML files or Elastic's detection-rules TOML, by file suffix.

Batch loading collects every error instead of stopping at the first bad file, so ``check`` can
report all of them in one run. Every command that takes rule paths expands them here
(:func:`rule_paths`), and every rule's pack query name comes from its file name here
(:func:`slug_for`), so ``check``, ``render``, ``import``, ``replay`` and ``alerts`` agree.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from ecsquery.errors import EcsqueryError, RuleLoadError
from ecsquery.rules.exceptions import exceptions_for
from ecsquery.rules.model import Rule

RULE_SUFFIXES = (".yaml", ".yml", ".toml")

_NOT_SLUG = re.compile(r"[^A-Za-z0-9_-]+")


class _RuleLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing aliases of lists and mappings.

    An alias shares a node, so 568 bytes of nested aliases make a tree that is small in memory
    and exponential to walk: ``str()`` over such ``tags`` ran for minutes. No rule needs one;
    an alias of a scalar (a repeated string) is still read.
    """

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event: Any = self.peek_event()  # type: ignore[no-untyped-call]
            node = self.anchors.get(event.anchor)
            if node is not None and not isinstance(node, yaml.ScalarNode):
                raise yaml.composer.ComposerError(
                    None, None, f"alias *{event.anchor} of a list or mapping", event.start_mark
                )
        return super().compose_node(parent, index)


def slug_for(path: Path) -> str:
    """The pack query name of a rule file, from its file name alone (deterministic).

    The stem (the name without its last suffix), accents dropped (Unicode NFKD, combining marks
    removed: ``règle`` → ``regle``), every run of other characters than ASCII letters, digits,
    ``_`` and ``-`` replaced by one ``_``, and leading ``-`` removed (a name that reads as an
    option helps nobody). That is the set Kibana accepts for a pack query id (its osquery
    plugin's ``idPattern``, ``/^[a-zA-Z0-9-_]+$/``), and osqueryd names the results
    ``pack_ecsquery_<slug>``. Elastic's history files keep their hash:
    ``credential_access_systemkey_dumping.fe8c81d762.toml`` →
    ``credential_access_systemkey_dumping_fe8c81d762``. Two files with one slug are an error
    (:func:`load_rules`), never a silent overwrite.
    """
    folded = unicodedata.normalize("NFKD", path.stem)
    ascii_ = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return _NOT_SLUG.sub("_", ascii_).lstrip("-") or "_"


def is_exceptions_file(path: Path) -> bool:
    """``<stem>.exceptions.yaml`` (or a misnamed ``.yml``) sits beside rules and is not one."""
    return path.stem.endswith(".exceptions")


def rule_paths(paths: Iterable[Path], suffixes: Sequence[str] = RULE_SUFFIXES) -> list[Path]:
    """The rule files of ``paths``, as ``check``, ``render``, ``replay``, ``alerts`` and ``import``
    (``.toml`` only) all take them.

    Files are taken as given, directories expanded recursively to their files with one of
    ``suffixes`` (sorted, so output is stable; hidden files and folders left out). Exceptions
    files are never rules, even when named on the command line (``check rules/*``). A file
    named twice is taken once.
    """
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.suffix in suffixes
                and p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        else:
            out.append(path)
    return list(dict.fromkeys(p for p in out if not is_exceptions_file(p)))


def load_rule(path: Path) -> Rule:
    """One rule file, with the exceptions beside it; its slug (pack query name) is
    :func:`slug_for` of the file name."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleLoadError(f"cannot read: {exc}", source=source) from exc
    data: Any
    try:
        data = (
            tomllib.loads(text).get("rule")
            if path.suffix == ".toml"
            else yaml.load(text, _RuleLoader)
        )
    except (tomllib.TOMLDecodeError, yaml.YAMLError, RecursionError) as exc:
        kind = path.suffix[1:].upper() or "YAML"
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise RuleLoadError(f"not valid {kind}: {reason}", source=source) from None
    if not isinstance(data, dict):
        raise RuleLoadError("no rule mapping in file", source=source)
    rule = Rule.from_mapping(data, slug=slug_for(path), source=source)
    try:  # read here, so that no later stage (pack, reader) meets an unreadable one
        rule.interval_seconds, rule.lookback_seconds  # noqa: B018
    except EcsqueryError as exc:
        raise exc.with_rule(rule.rule_id, source) from None
    return replace(rule, exceptions=exceptions_for(path))


def load_rules(paths: Iterable[Path]) -> tuple[list[Rule], list[EcsqueryError]]:
    """Every loadable rule and every error, in path order. A rule whose slug an earlier file
    already has is an error (one pack cannot hold two queries of one name)."""
    rules: list[Rule] = []
    errors: list[EcsqueryError] = []
    taken: dict[str, str] = {}
    for path in rule_paths(paths):
        try:
            rule = load_rule(path)
        except EcsqueryError as exc:
            errors.append(exc)
            continue
        if rule.slug in taken:
            message = f"pack query name {rule.slug!r} is already {taken[rule.slug]}'s; rename one"
            errors.append(RuleLoadError(message, source=rule.source, rule=rule.rule_id))
            continue
        taken[rule.slug] = rule.source
        rules.append(rule)
    return rules, errors
