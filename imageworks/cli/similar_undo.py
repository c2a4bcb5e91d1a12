"""`imageworks similar undo-move [--job ID]`: put back the photos the last move of rejects took away (the TUI's Similar
mode moves them; its undo key does what this does). The daemon does it: a ``move`` job back, made from the journal's
records of the move (``daemon/move_undo.py``), so the photos' sidecars, marks and drafts go back with them."""

from __future__ import annotations

import sys

import click

from imageworks import protocol as P
from imageworks.cli.common import emit_json, ensure_daemon, handle_errors, json_option
from imageworks.errors import ImageWorksError
from imageworks.jobs.records import MoveRecord
from imageworks.scan.records import display_path

EXIT_OK, EXIT_PARTIAL = 0, 3
"""As `tag` documents them: 3 when some photo asked for stayed where it was (each named)."""


@click.command("undo-move")
@click.option(
    "--job", "job_id", default="", help="Undo this move job (its photos not put back yet) [default: the last move]."
)
@json_option
@handle_errors
def undo_move_cmd(job_id: str, as_json: bool) -> None:
    """Put the photos of the last move (or of move job --job) back where they were, with their sidecars, keep/reject
    marks and review drafts. A photo that changed since the move, or whose old name is taken now, stays (named, with
    why); nothing is overwritten. Run it again to undo the move before."""
    from imageworks import client

    ensure_daemon()
    with client.Client("cli-undo-move") as c:
        job = c.submit("move", [], {"undo": job_id}).job
        back: list[MoveRecord] = []
        refused: list[tuple[str, str]] = []
        final = job
        for event in c.follow(job.job_id):
            if isinstance(event, P.ResultRecord) and isinstance(event.record, MoveRecord):
                record = event.record
                if record.status == "ok":
                    back.append(record)
                    refused += [(record.to, problem) for problem in record.problems]
                else:
                    refused.append((str(event.item.get("back", "")), record.error or "not put back"))
            elif isinstance(event, P.JobInfo):
                final = event
    if final.state != "done":
        raise ImageWorksError(final.error or f"the undo job {final.job_id} ended {final.state}")
    undone = str(final.params.get("undo", ""))
    if as_json:
        emit_json(
            {
                "job": final.job_id,
                "undid": undone,
                "back": [{"path": r.to, "from": r.path, "sidecars": [f.dst for f in r.sidecars]} for r in back],
                "refused": [{"path": path, "why": why} for path, why in refused],
            }
        )
    else:
        for record in back:
            click.echo(f"back     {display_path(record.to)}")
        for path, why in refused:
            click.echo(f"refused  {display_path(path)}: {display_path(why)}", err=True)
        photos = f"{len(back):,} photo{'s' * (len(back) != 1)}"
        click.echo(f"{photos} put back, {len(refused):,} refused (undoing move job {undone})")
    sys.exit(EXIT_PARTIAL if refused else EXIT_OK)
