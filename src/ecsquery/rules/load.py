"""Load rules from our YAML files or Elastic's detection-rules TOML, by file suffix.

Batch loading collects every error instead of stopping at the first bad file, so ``check`` can
report all of them in one run.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from ecsquery.errors import EcsqueryError, RuleLoadError
from ecsquery.rules.exceptions import exceptions_for
from ecsquery.rules.model import Rule

RULE_SUFFIXES = (".yaml", ".yml", ".toml")


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


def load_rule(path: Path) -> Rule:
    """One rule file, with the exceptions beside it; the slug (pack query name) is the file name
    without suffix."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleLoadError(f"cannot read: {exc}", rule=str(path)) from exc
    data: Any
    try:
        data = (
            tomllib.loads(text).get("rule")
            if path.suffix == ".toml"
            else yaml.load(text, _RuleLoader)
        )
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise RuleLoadError(f"not valid {path.suffix[1:].upper()}: {exc}", rule=str(path)) from exc
    if not isinstance(data, dict):
        raise RuleLoadError("no rule mapping in file", rule=str(path))
    rule = Rule.from_mapping(data, slug=path.stem, source=str(path))
    return replace(rule, exceptions=exceptions_for(path))


def rule_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given, directories expanded to their rule files (sorted, so output is stable).

    Exception files (``<slug>.exceptions.yaml``) sit beside rules and are not rules.
    """
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(
                p
                for p in sorted(path.iterdir())
                if p.suffix in RULE_SUFFIXES and not p.stem.endswith(".exceptions")
            )
        else:
            out.append(path)
    return out


def load_rules(paths: Iterable[Path]) -> tuple[list[Rule], list[EcsqueryError]]:
    """Every loadable rule and every error, in path order."""
    rules: list[Rule] = []
    errors: list[EcsqueryError] = []
    for path in rule_paths(paths):
        try:
            rules.append(load_rule(path))
        except EcsqueryError as exc:
            errors.append(exc)
    return rules, errors
