"""``ecsquery extension``: inspect what the extension would serve, build its zipapp."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ecsquery.extension.dist import DEFAULT_INTERPRETER
from ecsquery.extension.pipeline import Pipeline
from ecsquery.extension.table import EcsProcessTable
from ecsquery.extension.window import Window


@click.group("extension")
def extension() -> None:
    """The ecs_process_events osquery extension."""


@extension.command("rows")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--all-columns", is_flag=True, help="Also print columns whose value is empty.")
def rows(files: tuple[Path, ...], all_columns: bool) -> None:
    """Print the table rows that NDJSON FILES (eslogger, osquery rows/results, ECS) become.

    The whole input is served (no age or count limit); counters go to stderr.
    """
    window = Window(max_age=float("inf"), max_events=10**9)
    pipeline = Pipeline(window)
    for path in files:
        with path.open("rb") as lines:
            for line in lines:
                pipeline.feed_line(line, path.name)
    for row in EcsProcessTable(window).generate(None):
        shown = row if all_columns else {k: v for k, v in row.items() if v}
        click.echo(json.dumps(shown, ensure_ascii=False))
    click.echo(f"counters: {json.dumps(pipeline.stats.snapshot(), sort_keys=True)}", err=True)


@extension.command("dist")
@click.option("--out", type=click.Path(path_type=Path), default=Path("dist"), show_default=True)
@click.option("--python", default=DEFAULT_INTERPRETER, show_default=True,
              help="Shebang of the zipapp: a Python >= 3.9 on the Mac.")  # fmt: skip
def dist(out: Path, python: str) -> None:
    """Build dist/ecsquery.ext and its deploy files (same as `make dist`)."""
    from ecsquery.extension.dist import main as dist_main

    dist_main(["--out", str(out), "--python", python])
