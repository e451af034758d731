"""``ecsquery check``, ``render`` and ``import``: rule files in, SQL, packs or rule YAML out.

A thin layer over ``ecsquery.rules``: commands collect every error of a batch and print them
all (file, rule, position, construct), then fail once with a ``ClickException``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from ecsquery.cli.options import DEFAULT_RULES, existing_paths, rule_sources, rules_option
from ecsquery.errors import EcsqueryError
from ecsquery.extension.config import load_settings
from ecsquery.rules.compile import CompiledRule, compile_rule, compile_rules
from ecsquery.rules.drift import diff_compiled
from ecsquery.rules.importer import ImportResult, import_rules
from ecsquery.rules.load import load_rule, load_rules, rule_paths
from ecsquery.rules.model import Rule
from ecsquery.rules.render import FORMATS, render_packs, write_packs
from ecsquery.rules.sql.multi import rules_window

DEFAULT_PACKS = Path("packs")


def _compile_all(paths: Sequence[Path]) -> tuple[list[CompiledRule], list[str], int]:
    """Compiled rules, every error as a printable line, and the number of rule files."""
    files = rule_paths(paths)
    rules, load_errors = load_rules(files)
    compiled, compile_errors = compile_rules(rules)
    return compiled, [f"error: {e}" for e in (*load_errors, *compile_errors)], len(files)


def _fail(errors: list[str], summary: str) -> None:
    for line in errors:
        click.echo(line, err=True)
    raise click.ClickException(summary)


def _header(rule: Rule) -> str:
    return f"-- {rule.slug}: {rule.name} ({rule.rule_id} v{rule.version}, {rule.language})"


@click.command()
@click.argument("paths", nargs=-1, type=existing_paths)
@click.option(
    "--diff",
    is_flag=True,
    help="Take two rule files OLD NEW (e.g. two Elastic versions) and show what changes.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print only errors and the summary.")
def check(paths: tuple[Path, ...], diff: bool, quiet: bool) -> None:
    """Parse and compile rules; print each rule's SQL, or every error.

    PATHS are rule files (YAML or Elastic TOML) or directories of them (default: ./rules,
    else the rules shipped in the package).
    Exits non-zero if any rule fails to load, parse or compile.
    """
    if diff:
        _check_diff(paths)
        return
    compiled, errors, n_files = _compile_all(rule_sources(paths))
    if not quiet:
        for c in compiled:
            click.echo(f"{_header(c.rule)}\n{c.sql};\n")
    summary = f"{n_files} rule files: {len(compiled)} compiled, {len(errors)} errors"
    if errors:
        _fail(errors, summary)
    click.echo(summary, err=True)


def _check_diff(paths: tuple[Path, ...]) -> None:
    if len(paths) != 2 or any(p.is_dir() for p in paths):
        raise click.ClickException("--diff takes exactly two rule files: OLD NEW")
    compiled: list[CompiledRule] = []
    errors: list[str] = []
    for path in paths:
        try:
            compiled.append(compile_rule(load_rule(path)))
        except EcsqueryError as exc:
            errors.append(f"error: {exc}")
    if errors:
        _fail(errors, "cannot diff: a version does not compile")
    click.echo(diff_compiled(compiled[0], compiled[1]).render(), nl=False)


@click.command()
@rules_option
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_PACKS,
    show_default=True,
    help="Directory the packs are written under (<out>/<format>/...).",
)
@click.option(
    "--format",
    "formats",
    multiple=True,
    type=click.Choice(FORMATS),
    help="Pack format (repeatable; default: all).",
)
@click.option(
    "--extension-config",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The extension's ecsquery.toml: refuse to render if its window_seconds is shorter "
    "than the rules need.",
)
def render(
    rules_dirs: tuple[Path, ...],
    out: Path,
    formats: tuple[str, ...],
    extension_config: Path | None,
) -> None:
    """Compile the rules and render osquery, Fleet and Kibana packs.

    Nothing is written unless every rule compiles: a pack silently missing a rule would
    look deployed and detect nothing; nor when --extension-config's window is too short.
    """
    compiled, errors, n_files = _compile_all(rule_sources(rules_dirs))
    if errors:
        _fail(errors, f"{len(errors)} errors in {n_files} rule files; no packs written")
    if not compiled:
        raise click.ClickException("no rules found; no packs written")
    needed, longest = rules_window(c.rule for c in compiled)
    slug = longest.slug if longest else ""
    if extension_config is not None:
        try:
            settings = load_settings({"ECSQUERY_EXTENSION_CONFIG": str(extension_config)})
        except EcsqueryError as exc:
            raise click.ClickException(f"{exc}; no packs written") from None
        if settings.window_seconds < needed:
            raise click.ClickException(
                f"{extension_config}: window_seconds = {settings.window_seconds:g} is shorter"
                f" than the {needed} s that rule {slug} needs (its lookback; for a sequence at"
                " least interval + maxspan); no packs written"
            )
    click.echo(f"the extension's window_seconds must be at least {needed} ({slug})", err=True)
    try:
        files = render_packs(compiled, formats or FORMATS)
    except EcsqueryError as exc:
        raise click.ClickException(str(exc)) from None
    written = write_packs(files, out)
    click.echo(f"rendered {len(compiled)} rules into {len(written)} files:")
    for path in written:
        click.echo(f"  {path}")


def _table(results: Sequence[ImportResult]) -> str:
    rows = [("rule", "result", "detail")]
    for r in results:
        detail = r.reason
        if r.rule is not None and not detail:
            detail = r.rule.name + (f" → {r.written}" if r.written else "")
        rows.append((f"`{r.slug}`", r.status, detail.replace("|", "\\|")))
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [f"| {a:<{widths[0]}} | {b:<{widths[1]}} | {c} |" for a, b, c in rows]
    lines.insert(1, f"|{'-' * (widths[0] + 2)}|{'-' * (widths[1] + 2)}|---|")
    return "\n".join(lines)


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=existing_paths)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_RULES,
    show_default=True,
    help="Directory the rule YAML files are written to.",
)
@click.option("--dry-run", is_flag=True, help="Check and report only; write nothing.")
@click.option("--force", is_flag=True, help="Overwrite rule files that already exist.")
def import_(paths: tuple[Path, ...], out: Path, dry_run: bool, force: bool) -> None:
    """Convert Elastic detection-rules TOML files (or directories of them) into rule YAML.

    Prints a table: compiled, refused (with the reason the rule cannot run on osquery),
    skipped (file exists) or error. Refusals are expected; exits non-zero only on errors.
    """
    results = import_rules(rule_paths(paths, (".toml",)), None if dry_run else out, force=force)
    click.echo(_table(results))
    counts = {s: sum(1 for r in results if r.status == s) for s in ("compiled", "refused")}
    counts["skipped"] = sum(1 for r in results if r.status == "skipped")
    failed = sum(1 for r in results if r.status == "error")
    summary = (
        f"{len(results)} rules: {counts['compiled']} compiled, {counts['refused']} refused,"
        f" {counts['skipped']} skipped, {failed} errors"
    )
    if failed:
        raise click.ClickException(summary)
    click.echo(summary, err=True)
