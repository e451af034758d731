"""The ``ecsquery`` command: a thin click layer over the library.

Each pipeline part registers its commands from its own module below; user errors are raised
as ``click.ClickException`` there, never as tracebacks.
"""

from __future__ import annotations

import click

from ecsquery import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ecsquery")
def main() -> None:
    """Elastic's macOS detection rules on osquery: compile, serve, replay, alert."""


# Command modules register themselves here, one import per pipeline part.
from ecsquery.cli import alerts as _alerts  # noqa: E402, F401  (alerts)
from ecsquery.cli import extension as _extension  # noqa: E402, F401  (extension rows, dist)
from ecsquery.cli import replay as _replay  # noqa: E402, F401  (offline replay)
from ecsquery.cli import rules as _rules  # noqa: E402, F401  (check, render, import)
