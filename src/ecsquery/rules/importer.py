"""Elastic detection-rules TOML → our rule YAML, refusing what osquery cannot run.

Refusal is decided before compiling where the rule's *shape* already says no (a rule type other
than ``query``/``eql`` or a multi-event class, an EQL ``sample``, another OS), so the reason is
about the rule and not about a field deep inside it. The compiler picks the table from the
rule's event category and refuses a category no table serves (``library``, ``any``) by name.
What passes is compiled with the real compiler: a field the extension cannot supply or a
construct without exact semantics is a refusal too (``UnmappedField``, ``UnsupportedConstruct``),
while a query our parser cannot read is an *error* (Elastic's rules are valid, so that is our
gap, and the batch exits non-zero).

The YAML is written so that ``load_rule`` reads back exactly the same ``Rule``; ``rule_yaml``
checks that round trip itself instead of trusting the dumper with quoting.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from ecsquery.errors import (
    EcsqueryError,
    RefusedRule,
    RuleLoadError,
    RuleSyntaxError,
)
from ecsquery.rules.load import slug_for
from ecsquery.rules.model import Rule
from ecsquery.rules.sql.multi import multi_kind

Status = Literal["compiled", "refused", "skipped", "error"]

RUNNABLE_TYPES = {"query": "kuery", "eql": "eql"}
"""Rule type → the one query language we compile for it."""

_TYPE_REASONS = {
    "machine_learning": "machine_learning rule (runs an ML job, has no query)",
    "threat_match": "threat_match rule (joins events with an indicator index)",
    "saved_query": "saved_query rule (the query lives in Kibana, not in the file)",
}

_MULTI_EVENT = re.compile(r"^\s*(sequence|sample)\b", re.IGNORECASE)
_OTHER_OS_TAGS = ("OS: Windows", "OS: Linux")
_MACOS_TAG = "OS: macOS"

# Keys of Elastic's [rule] table with no meaning once the rule runs as osquery SQL; named in the
# YAML header so nothing disappears silently.
_MODEL_KEYS = set(Rule.__dataclass_fields__) - {"slug", "source", "from_"} | {"from"}


@dataclass(frozen=True)
class ImportResult:
    """One TOML file's outcome; ``reason`` says why it was refused, skipped or failed."""

    source: Path
    slug: str
    status: Status
    reason: str = ""
    rule: Rule | None = None
    written: Path | None = None


# --------------------------------------------------------------------------- YAML writing


class _Literal(str):
    """A string to be written as a YAML literal block (``|``), kept byte-exact."""


class _Quoted(str):
    """A string holding characters YAML readers take as line breaks: written escaped."""


_YAML_BREAKS = ("\x85", "\u2028", "\u2029", "\ufeff")


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)  # indent list items under their key


def _literal(dumper: yaml.SafeDumper, data: _Literal) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(data), style="|")


def _quoted(dumper: yaml.SafeDumper, data: _Quoted) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(data), style='"')


_Dumper.add_representer(_Literal, _literal)
_Dumper.add_representer(_Quoted, _quoted)


def _block_strings(value: Any, *, force: bool = False) -> Any:
    if isinstance(value, str):
        if any(ch in value for ch in _YAML_BREAKS):
            return _Quoted(value)
        return _Literal(value) if force or "\n" in value else value
    if isinstance(value, list):
        return [_block_strings(v) for v in value]
    if isinstance(value, dict):
        return {k: _block_strings(v) for k, v in value.items()}
    return value


def rule_yaml(rule: Rule, header: str = "") -> str:
    """Our YAML for a rule: Elastic's key names, multi-line text and the query as literal blocks.

    ``header`` becomes ``#`` comment lines on top (provenance). Raises ``RuleLoadError`` if the
    text would not load back as the same rule (never expected; it guards the dumper).
    """
    mapping = rule.to_mapping()
    doc = {k: _block_strings(v, force=(k == "query")) for k, v in mapping.items()}
    body = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=10**9)
    comments = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    text = comments + body
    if yaml.safe_load(text) != mapping:
        raise RuleLoadError(
            "YAML round trip changed the rule", source=rule.source or None, rule=rule.rule_id
        )
    return text


# --------------------------------------------------------------------------- refusal


def _refusal(data: Mapping[str, Any]) -> str | None:
    """Why a raw ``[rule]`` table cannot run on osquery, judged from its shape alone."""
    rule_type = str(data.get("type", ""))
    if multi_kind(data):
        return None  # compiled (or refused with its reason) by rules.sql.multi
    if rule_type in _TYPE_REASONS:
        return _TYPE_REASONS[rule_type]
    if rule_type not in RUNNABLE_TYPES:
        return f"rule type {rule_type!r} is not a single-event query rule"
    language = str(data.get("language") or RUNNABLE_TYPES[rule_type])
    if language != RUNNABLE_TYPES[rule_type]:
        return f"{rule_type} rule in language {language!r} (only KQL and EQL compile)"
    tags = [str(t) for t in data.get("tags") or ()]
    if _MACOS_TAG not in tags and any(t in tags for t in _OTHER_OS_TAGS):
        other = ", ".join(t for t in tags if t in _OTHER_OS_TAGS)
        return f"not a macOS rule ({other})"
    query = str(data.get("query", ""))
    if language == "eql":
        multi = _MULTI_EVENT.match(query)
        if multi:
            return f"EQL {multi.group(1).lower()} (multi-event; osquery SQL sees one event)"
    return None


# --------------------------------------------------------------------------- import


def read_elastic_toml(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``[metadata]`` and ``[rule]`` tables of a detection-rules TOML file."""
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleLoadError(f"cannot read: {exc}", source=str(path)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise RuleLoadError(f"not valid TOML: {exc}", source=str(path)) from exc
    rule = doc.get("rule")
    if not isinstance(rule, dict):
        raise RuleLoadError("no [rule] table", source=str(path))
    metadata = doc.get("metadata")
    return (metadata if isinstance(metadata, dict) else {}), rule


def import_header(path: Path, metadata: Mapping[str, Any], data: Mapping[str, Any]) -> str:
    """Provenance comment for an imported rule: where from, and what the model does not keep."""
    lines = [
        f"Imported by `ecsquery import` from {path.name}",
        f"(Elastic detection-rules TOML; license: {data.get('license') or 'not stated'})."
        " The query is verbatim.",
    ]
    if metadata:
        meta = ", ".join(f"{k}={v}" for k, v in sorted(metadata.items()))
        lines.append(f"[metadata] {meta}")
    if "version" not in data:
        lines.append(
            "version: the TOML has none (detection-rules keeps it in etc/version.lock.json);"
            " 1 is a placeholder."
        )
    dropped = sorted(set(data) - _MODEL_KEYS)
    if dropped:
        lines.append(f"Not carried (no meaning for osquery SQL): {', '.join(dropped)}")
    return "\n".join(lines)


def import_rule(path: Path, out_dir: Path | None, *, force: bool = False) -> ImportResult:
    """Import one TOML file; write ``<out_dir>/<slug>.yaml`` when it compiles.

    ``out_dir=None`` only checks. An existing file is left alone unless ``force``.
    """
    from ecsquery.rules.compile import compile_rule  # the compiler imports the model, not us

    slug = slug_for(path)
    try:
        metadata, data = read_elastic_toml(path)
        refused = _refusal(data)
        if refused:
            raise RefusedRule(
                refused, source=str(path), rule=str(data.get("rule_id") or "") or None
            )
        rule = Rule.from_mapping(data, slug=slug, source=str(path))
        compile_rule(rule)  # multi-event rules too; the event category picks the table
    except RuleSyntaxError as exc:
        return ImportResult(path, slug, "error", f"does not parse: {exc}")
    except RuleLoadError as exc:
        return ImportResult(path, slug, "error", str(exc))
    except EcsqueryError as exc:  # RefusedRule, UnmappedField, UnsupportedConstruct
        return ImportResult(path, slug, "refused", exc.message)
    if out_dir is None:
        return ImportResult(path, slug, "compiled", rule=rule)
    target = out_dir / f"{slug}.yaml"
    if target.exists() and not force:
        return ImportResult(path, slug, "skipped", f"{target} exists (--force overwrites)", rule)
    text = rule_yaml(rule, import_header(path, metadata, data))
    out_dir.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return ImportResult(path, slug, "compiled", rule=rule, written=target)


def import_rules(
    paths: Iterable[Path], out_dir: Path | None, *, force: bool = False
) -> list[ImportResult]:
    """Every file's outcome, in the order given; one bad file never stops the batch. Two files
    with one slug would write one YAML file: the second is an error, not an overwrite."""
    results: list[ImportResult] = []
    taken: dict[str, Path] = {}
    for path in paths:
        slug = slug_for(path)
        if slug in taken:
            reason = f"pack query name {slug!r} is already {taken[slug]}'s; rename one"
            results.append(ImportResult(path, slug, "error", reason))
            continue
        taken[slug] = path
        try:
            results.append(import_rule(path, out_dir, force=force))
        except Exception as exc:  # a bug, not a rule problem: report it, keep going, exit 1
            results.append(ImportResult(path, slug, "error", f"internal error: {exc!r}"))
    return results
