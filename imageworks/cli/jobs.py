"""`imageworks jobs [list] | attach ID | resume ID | cancel ID | export ID --jsonl OUT`."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click
import msgspec

from imageworks import client, jsonio
from imageworks import protocol as P
from imageworks.cli.common import emit_json, ensure_daemon, handle_errors, json_option, write_jsonl_text
from imageworks.errors import DaemonError
from imageworks.scan.records import display_path

if TYPE_CHECKING:
    from imageworks.jobs.records import TagRecord


def connect() -> client.Client:
    ensure_daemon()
    return client.Client("cli")


@click.group("jobs", invoke_without_command=True)
@json_option
@click.option("--limit", default=20, show_default=True, help="How many recent jobs to list.")
@click.pass_context
@handle_errors
def jobs_group(ctx: click.Context, as_json: bool, limit: int) -> None:
    """The job journal: list jobs (default), attach to one, resume, cancel or export it."""
    if ctx.invoked_subcommand is not None:
        return
    with connect() as c:
        jobs = c.jobs(limit)
    if as_json:
        emit_json([msgspec.to_builtins(j) for j in jobs])
        return
    if not jobs:
        click.echo("no jobs yet")
        return
    click.echo(f"{'job':28} {'kind':6} {'state':12} {'done':>7} {'failed':>7} {'total':>7}  created")
    for j in jobs:
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(j.created))
        click.echo(f"{j.job_id:28} {j.kind:6} {j.state:12} {j.done:7d} {j.failed:7d} {j.total:7d}  {created}")


def follow_with_progress(
    c: client.Client, job_id: str, *, as_json: bool, label: str = "", name_failures: bool = True
) -> P.JobInfo:
    """Stream a job's results with a rich progress bar (or JSON lines); Ctrl-C asks cancel or detach. A caller
    that reports every item itself afterwards passes ``name_failures=False``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    snap = c.attach(job_id).job
    final = snap
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[rate]}"),
        TextColumn("{task.fields[current]}", style="dim"),
        disable=as_json or not sys.stderr.isatty(),
        console=None,
        transient=False,
    )
    started = time.monotonic()
    counted = 0
    try:
        with progress:
            task = progress.add_task(label or job_id, total=snap.total, rate="", current="")
            for event in c.follow(job_id):
                if isinstance(event, P.ResultRecord):
                    counted += 1
                    rate = counted / max(1e-6, time.monotonic() - started)
                    current = display_path(Path(str(event.item.get("path", ""))).name) or str(event.index)
                    progress.update(task, advance=1, rate=f"{rate:.2f}/s", current=current[-40:])
                    if as_json:
                        click.echo(jsonio.dumps(msgspec.to_builtins(event)))
                    elif event.status != "ok" and name_failures:
                        progress.console.print(f"[red]failed[/] {current}: {display_path(str(event.record.error))}")
                else:
                    final = event
                    progress.update(task, total=event.total, completed=event.done + event.failed)
    except KeyboardInterrupt:
        return _interrupted(c, job_id)
    return final


def _interrupted(c: client.Client, job_id: str) -> P.JobInfo:
    """Ctrl-C: the job keeps running in the daemon unless the person asks to cancel it."""
    if sys.stdin.isatty():
        choice = click.prompt(
            "\nCancel the job, or detach and leave it running?",
            type=click.Choice(["cancel", "detach"]),
            default="detach",
        )
    else:
        choice = "detach"
    if choice == "cancel":
        info = c.cancel(job_id)
        click.echo(f"job {job_id} cancelled ({info.done} done)", err=True)
        return info
    click.echo(f"detached; job {job_id} keeps running. Re-attach: imageworks jobs attach {job_id}", err=True)
    raise SystemExit(0)


def summary_line(info: P.JobInfo) -> str:
    took = (info.finished or time.time()) - (info.started or info.created)
    line = f"job {info.job_id} {info.state}: {info.done} ok, {info.failed} failed of {info.total} in {took:.1f} s"
    if info.error:
        line += f" ({info.error})"
    return line


@jobs_group.command("attach")
@click.argument("job_id")
@json_option
@handle_errors
def attach(job_id: str, as_json: bool) -> None:
    """Follow a job (running or finished) and show every result once."""
    with connect() as c:
        final = follow_with_progress(c, job_id, as_json=as_json)
    if not as_json:
        click.echo(summary_line(final))


@jobs_group.command("resume")
@click.argument("job_id")
@click.option("--detach", is_flag=True, help="Queue it and return at once.")
@json_option
@handle_errors
def resume(job_id: str, detach: bool, as_json: bool) -> None:
    """Continue an interrupted, failed or cancelled job; items already done are not run again."""
    with connect() as c:
        submitted = c.resume(job_id)
        if detach:
            if as_json:
                emit_json(msgspec.to_builtins(submitted.job))
            else:
                click.echo(f"job {job_id} queued to resume ({submitted.job.done} of {submitted.job.total} done)")
            return
        final = follow_with_progress(c, job_id, as_json=as_json)
    if not as_json:
        click.echo(summary_line(final))


@jobs_group.command("cancel")
@click.argument("job_id")
@json_option
@handle_errors
def cancel(job_id: str, as_json: bool) -> None:
    """Cancel a queued or running job (results so far stay in the journal)."""
    with connect() as c:
        info = c.cancel(job_id)
    if as_json:
        emit_json(msgspec.to_builtins(info))
    else:
        click.echo(summary_line(info))


def export_rows(job: P.JobInfo, results: list[P.ResultRecord]) -> list[dict[str, Any]]:
    """One row per item, in item order. Tagging jobs use the original ImageWorks' JSONL field names."""
    rows = sorted(results, key=lambda r: r.index)
    if job.kind == "tag":
        from imageworks.tagging.export import export_row

        # a tag job's records are TagRecords: the journal decodes them by the job's kind
        return [export_row(cast("TagRecord", r.record), image=r.item.get("path")) for r in rows]
    return [{"index": r.index, "item": r.item, "status": r.status, **msgspec.to_builtins(r.record)} for r in rows]


@jobs_group.command("export")
@click.argument("job_id")
@click.option(
    "--jsonl",
    "jsonl",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Write one JSON object per line here ('-' for stdout).",
)
@click.option("--force", is_flag=True, help="Overwrite OUT if it exists.")
@json_option
@handle_errors
def export(job_id: str, jsonl: Path, force: bool, as_json: bool) -> None:
    """Export a job's results as JSON lines (each item once, in order). With --json, what was written is reported
    as one JSON object on stdout (with `--jsonl -` stdout is the JSON lines themselves)."""
    with connect() as c:
        job = c.attach(job_id).job
        rows = export_rows(job, c.all_results(job_id))
    text = "".join(jsonio.dumps(row) + "\n" for row in rows)
    if not write_jsonl_text(jsonl, text, force=force):
        return
    if as_json:
        emit_json({"job_id": job_id, "path": str(jsonl), "results": len(rows)})
    else:
        click.echo(f"wrote {len(rows)} results to {jsonl}", err=True)


__all__ = ["DaemonError", "follow_with_progress", "jobs_group", "summary_line"]
