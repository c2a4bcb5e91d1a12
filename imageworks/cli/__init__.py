"""The ``imageworks`` command: the one composition root. It may import ``tui`` and ``daemon`` lazily, inside the
subcommand that runs them; every other module of the core imports neither (tests/test_layers.py)."""

from __future__ import annotations

import click

from imageworks import __version__
from imageworks.cli.daemon import daemon_group
from imageworks.cli.jobs import jobs_group
from imageworks.cli.metadata import metadata_group
from imageworks.cli.models import models_group
from imageworks.cli.scan import cache_group, scan_cmd
from imageworks.cli.tag import tag_cmd
from imageworks.cli.tui import tui_cmd


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="imageworks")
@click.pass_context
def main(ctx: click.Context) -> None:
    """ImageWorks: tag, review and write photo metadata with a vision-language model held by a daemon.

    With no subcommand, starts the TUI (same as `imageworks tui`)."""
    if ctx.invoked_subcommand is None:
        tui_cmd = main.get_command(ctx, "tui")
        if tui_cmd is None:
            click.echo(ctx.get_help())
            return
        ctx.invoke(tui_cmd)


main.add_command(daemon_group)
main.add_command(scan_cmd)
main.add_command(cache_group)
main.add_command(jobs_group)
main.add_command(tag_cmd)
main.add_command(metadata_group)
main.add_command(models_group)
main.add_command(tui_cmd)
