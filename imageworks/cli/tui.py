"""`imageworks tui`: the Textual app (also what `imageworks` alone runs). ``tui`` is imported here, inside the
command, and nowhere else in the core (the CLI is the composition root)."""

from __future__ import annotations

import shlex
import sys

import click

from imageworks.cli.common import handle_errors
from imageworks.errors import ImageWorksError


@click.command("tui")
@click.option("--no-start", is_flag=True, help="Do not start a daemon when none is running (connect only).")
@click.option(
    "--serve",
    is_flag=True,
    help="Serve the TUI to a web browser instead (needs textual-serve); the URL to open, with its secret token, is "
    "printed once.",
)
@click.option(
    "--host",
    default="localhost",
    show_default=True,
    help="With --serve: the address to listen on (any address gets the same token check).",
)
@click.option("--port", default=8000, show_default=True, help="With --serve: the port to listen on.")
@handle_errors
def tui_cmd(no_start: bool, serve: bool, host: str, port: int) -> None:
    """The terminal UI: configure a run, execute it, browse results, jobs and the daemon."""
    from imageworks import config, paths

    cfg = config.load()
    paths.runtime_dir()  # a runtime dir another user controls is refused here, in one line, before the UI starts
    if serve:
        try:
            from imageworks.tui.serve import TokenServer, new_token
        except ImportError:
            raise ImageWorksError("--serve needs textual-serve: pip install textual-serve") from None
        command = shlex.join([sys.executable, "-m", "imageworks", "tui", *(["--no-start"] if no_start else [])])
        TokenServer(command, host=host, port=port, token=new_token(), title="ImageWorks").serve()
        return
    from imageworks.tui.widgets import preview

    preview.prepare(cfg.tui.image_preview)  # asks the terminal about graphics before Textual takes it over
    from imageworks.tui.app import ImageWorksApp

    message = ImageWorksApp(cfg, autostart_daemon=not no_start).run()
    if message:
        click.echo(message)
