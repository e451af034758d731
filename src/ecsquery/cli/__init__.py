"""The ``ecsquery`` command: a thin click layer over the library.

Each pipeline part defines its commands in its own module; they are registered here, in one
list, so importing a module never changes the command (sqlite-utils' ``cli`` builds its group
the same way). User errors are raised as ``click.ClickException`` there, never as tracebacks.
"""

from __future__ import annotations

import click

from ecsquery import __version__
from ecsquery.cli.alerts import alerts
from ecsquery.cli.extension import extension
from ecsquery.cli.replay import replay
from ecsquery.cli.rules import check, import_, render

COMMANDS = (check, render, import_, extension, replay, alerts)
"""In pipeline order: rules → packs, the extension, replay, the alert reader."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ecsquery")
def main() -> None:
    """Elastic's macOS detection rules on osquery: compile, serve, replay, alert."""


for _command in COMMANDS:
    main.add_command(_command)
