"""Compiled rules → osquery, Fleet and Kibana packs, through Jinja templates shipped as package
data (``ecsquery/data/templates``, read through the package loader, so an installed wheel renders).

Every value is serialized here (``json.dumps`` for JSON, a double-quoted YAML scalar for YAML)
before it reaches a template, and templates run in a ``SandboxedEnvironment`` with autoescape
off: a template only places finished text, so a quote or newline in a rule cannot change a
pack's structure, and no format's escaping rules live in Jinja.

Rendering is pure (compiled rules in, file texts out); ``write_packs`` is the only I/O, which
is what lets the staleness test compare against the committed ``packs/`` without writing there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import jinja2
import yaml
from jinja2.sandbox import SandboxedEnvironment

from ecsquery.errors import EcsqueryError
from ecsquery.rules import kibana
from ecsquery.rules.model import PACK_NAME, Rule
from ecsquery.schema import TABLES, FieldTable

FORMATS = ("osquery", "fleet", "kibana", "kibana-rules")

TEMPLATES = ("ecsquery", "data/templates")
"""The templates' package and folder, for ``jinja2.PackageLoader`` (``importlib`` underneath)."""

PLATFORM = "darwin"

MIN_OSQUERY_VERSION = "5.0.0"
"""Oldest osquery the packs declare. The SQL needs ``regex_match`` (osquery 4.0.0), SQLite's
JSON1 ``json_each`` and the ``time`` table, all in every 5.x build; 5.x is also the line
that runs on current macOS. osquery skips a query whose ``version`` is newer than itself, so
this must be an osquery version (the rule's own version goes in the metadata)."""

_SLUG = re.compile(r"^[A-Za-z0-9_-]+$")


class CompiledLike(Protocol):
    """What rendering needs of ``ecsquery.rules.compile.CompiledRule``."""

    @property
    def rule(self) -> Rule: ...

    @property
    def sql(self) -> str: ...


@dataclass(frozen=True)
class RenderedFile:
    """One pack file: ``path`` relative to the output directory."""

    path: Path
    text: str


# --------------------------------------------------------------------------- serializers


def js(value: Any, *, indent: int | None = None) -> str:
    """JSON text for a template slot (ASCII-only, so any byte sequence survives every reader)."""
    return json.dumps(value, ensure_ascii=True, indent=indent)


def ys(value: str | int | bool) -> str:
    """A YAML scalar for a template slot: strings double-quoted on one line, never folded."""
    if isinstance(value, bool | int):
        return js(value)
    text = yaml.safe_dump(value, default_style='"', width=2**31 - 1, allow_unicode=False)
    return text.removesuffix("\n")


# --------------------------------------------------------------------------- shared views


def metadata(rule: Rule) -> dict[str, Any]:
    """The rule facts the alert reader needs, carried in the packs and in the rule index."""
    return {
        "rule_id": rule.rule_id,
        "name": rule.name,
        "version": rule.version,
        "severity": rule.severity,
        "risk_score": rule.risk_score,
        "mitre": list(rule.mitre_ids),
        "interval": rule.interval_seconds,
        "lookback": rule.lookback_seconds,
    }


def description(rule: Rule) -> str:
    """One line for pack UIs: the rule name and how to find the rule behind a result."""
    mitre = " ".join(rule.mitre_ids) or "none"
    return (
        f"{rule.name} (Elastic rule {rule.rule_id} v{rule.version}; severity {rule.severity},"
        f" risk {rule.risk_score}; MITRE {mitre})"
    )


# --------------------------------------------------------------------------- rendering


def _environment(templates: Path | None) -> SandboxedEnvironment:
    """The sandbox over the shipped templates, or over ``templates`` (a folder, for tests)."""
    loader: jinja2.BaseLoader
    if templates is None:
        loader = jinja2.PackageLoader(*TEMPLATES)
    elif templates.is_dir():
        loader = jinja2.FileSystemLoader(str(templates))
    else:
        raise EcsqueryError(f"pack templates not found in {templates}")
    return SandboxedEnvironment(
        loader=loader,
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def _check(compiled: Sequence[CompiledLike]) -> None:
    seen: set[str] = set()
    for c in compiled:
        slug = c.rule.slug
        if not _SLUG.match(slug):
            raise EcsqueryError("pack query names must be letters, digits, '_' or '-'", rule=slug)
        if slug in seen:
            raise EcsqueryError("two rules with the same slug", rule=slug)
        seen.add(slug)


def _osquery(env: SandboxedEnvironment, compiled: Sequence[CompiledLike]) -> list[RenderedFile]:
    queries = [
        {
            "name": js(c.rule.slug),
            "query": js(c.sql),
            "interval": js(c.rule.interval_seconds),
            "description": js(description(c.rule)),
            "meta": js(metadata(c.rule)),
        }
        for c in compiled
    ]
    ctx = {"platform": js(PLATFORM), "version": js(MIN_OSQUERY_VERSION), "queries": queries}
    return [
        RenderedFile(
            Path("osquery") / f"{PACK_NAME}.conf",
            env.get_template("osquery.conf.j2").render(ctx),
        ),
    ]


def _fleet(env: SandboxedEnvironment, compiled: Sequence[CompiledLike]) -> list[RenderedFile]:
    queries = [
        {
            "name": ys(c.rule.slug),
            "description": ys(description(c.rule)),
            "query": ys(c.sql),
            "platform": ys(PLATFORM),
            "interval": ys(c.rule.interval_seconds),
            "min_osquery_version": ys(MIN_OSQUERY_VERSION),
        }
        for c in compiled
    ]
    ctx = {"queries": queries}
    return [
        RenderedFile(
            Path("fleet") / f"{PACK_NAME}.yml", env.get_template("fleet.yml.j2").render(ctx)
        ),
        RenderedFile(
            Path("fleet") / "lib" / f"{PACK_NAME}.reports.yml",
            env.get_template("fleet-reports.yml.j2").render(ctx),
        ),
    ]


def _kibana(
    env: SandboxedEnvironment, compiled: Sequence[CompiledLike], fields: FieldTable
) -> list[RenderedFile]:
    queries = [
        {
            "name": js(c.rule.slug),
            "query": js(c.sql),
            "interval": js(c.rule.interval_seconds),
            "platform": js(PLATFORM),
            "version": js(MIN_OSQUERY_VERSION),
            "ecs_mapping": js(
                kibana.ecs_mapping(c.rule, kibana.result_fields(c.sql, fields)), indent=2
            ),
        }
        for c in compiled
    ]
    used = {t.name for c in compiled for t in kibana.tables_read(c.sql)}
    read = [t.name for t in TABLES if t.name in used]
    tables = " and ".join(read or [fields.name])
    ctx = {
        "name": js(PACK_NAME),
        "description": js(
            "Elastic macOS detection rules compiled to osquery SQL by ecsquery"
            f" ({len(compiled)} rules); needs the ecsquery extension's {tables}"
            f" table{'s' if len(read) > 1 else ''}."
        ),
        "queries": queries,
    }
    text = env.get_template("kibana.json.j2").render(ctx)
    return [RenderedFile(Path("kibana") / f"{PACK_NAME}.json", text)]


def _kibana_rules(
    env: SandboxedEnvironment, compiled: Sequence[CompiledLike]
) -> list[RenderedFile]:
    """Kibana's rule-import NDJSON: one JSON object per line (``ecsquery.rules.kibana``)."""
    rules = kibana.detection_rules([c.rule for c in compiled])
    text = env.get_template("kibana-rules.ndjson.j2").render({"rules": [js(r) for r in rules]})
    return [RenderedFile(Path("kibana-rules") / f"{PACK_NAME}.ndjson", text)]


def render_packs(
    compiled: Sequence[CompiledLike],
    formats: Iterable[str] = FORMATS,
    *,
    templates: Path | None = None,
    fields: FieldTable | None = None,
) -> list[RenderedFile]:
    """Every pack file for the chosen formats, rules in the order given."""
    _check(compiled)
    env = _environment(templates)
    out: list[RenderedFile] = []
    for fmt in formats:
        if fmt == "osquery":
            out += _osquery(env, compiled)
        elif fmt == "fleet":
            out += _fleet(env, compiled)
        elif fmt == "kibana":
            out += _kibana(env, compiled, fields or FieldTable())
        elif fmt == "kibana-rules":
            out += _kibana_rules(env, compiled)
        else:
            raise EcsqueryError(f"unknown pack format {fmt!r} (one of {', '.join(FORMATS)})")
    return out


def write_packs(files: Iterable[RenderedFile], out_dir: Path) -> list[Path]:
    """Write rendered files under ``out_dir``; returns the paths written."""
    written: list[Path] = []
    for f in files:
        target = out_dir / f.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f.text, encoding="utf-8")
        written.append(target)
    return written
