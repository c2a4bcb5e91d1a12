"""`imageworks mono DIR`: is each entry eligible for a monochrome category? A ``mono`` job in the daemon's CPU pool
checks the photos (cached by fingerprint); ``--narrate`` asks the model to name what the colour is on (a ``narrate``
job through the batching queue); ``--write merge`` writes the verdicts (a ``mono-write`` job). Nothing is written
unless asked."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import cast

import click
import msgspec

from imageworks import client, config, jsonio
from imageworks.cli.common import emit_json, ensure_daemon, handle_errors, json_option
from imageworks.cli.jobs import follow_with_progress, summary_line
from imageworks.jobs.records import MonoRecord, MonoWriteRecord, NarrateRecord
from imageworks.mono import outcomes as O

VERDICT_LABELS = {"neutral_mono": "neutral", "toned_mono": "toned", "query": "query", "not_mono": "not mono"}


@click.command("mono")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option(
    "--rules",
    type=click.Choice(["fiap", "psa"]),
    default="fiap",
    show_default=True,
    help="Whose definition: FIAP (a neutral border round a toned print is a query) or PSA (it fails).",
)
@click.option("--narrate", is_flag=True, help="Ask the model what the colour is on, for photos that fail or query.")
@click.option(
    "--write",
    "write_mode",
    type=click.Choice(["none", "merge"]),
    default="none",
    show_default=True,
    help="Write the verdicts into the files as mono:* keywords (merge: the person's keywords are kept).",
)
@click.option(
    "--narration-field",
    type=click.Choice(["none", "description"]),
    default="none",
    show_default=True,
    help="With --narrate and --write merge: also write the narration into this field (merge: if it is empty or"
    " still holds what ImageWorks wrote there last).",
)
@click.option("--refresh", is_flag=True, help="Re-walk the directory even if the cached listing is fresh.")
@json_option
@handle_errors
def mono_cmd(
    directory: Path, rules: str, narrate: bool, write_mode: str, narration_field: str, refresh: bool, as_json: bool
) -> None:
    """Check the photos under DIRECTORY against the competition rules for monochrome.

    Verdicts: neutral_mono, toned_mono (one tone over the whole picture), query (a judge should look), not_mono
    (spot colour, partial toning, split toning, several colours, a border of another tone). Overlays (a chroma
    heatmap and the off-curve residual map) go to the cache dir, never beside the photos.

    Exit status: 0 every photo checked (and narrated, and written, when asked), whatever the verdicts; 1 error or a
    job failed; 3 some photos could not be read, narrated or written, or only partly (the narration kept out of a
    field changed in another program: each named); 4 cancelled or interrupted."""
    from imageworks.cli.library import listing
    from imageworks.scan.records import display_path

    if narration_field != "none" and not (narrate and write_mode == "merge"):
        raise click.UsageError("--narration-field needs --narrate and --write merge")
    cfg = config.load()
    scanned, entries = listing(str(directory), cfg, refresh=refresh)  # the daemon walks when the listing is stale
    note = f"{scanned.files} images under {display_path(str(directory))}"
    if not entries:
        message = note + ": nothing to check"
        if as_json:
            emit_json({"job": None, "images": [], "message": message})
        else:
            click.echo(message)
        return
    ensure_daemon()
    with client.Client("cli-mono") as c:
        job = c.submit("mono", [{"path": e.path} for e in entries], {"rules": rules}).job
        if not as_json:
            click.echo(f"{note}; job {job.job_id}: {len(entries)} to check ({rules.upper()} rules)", err=True)
        final = follow_with_progress(c, job.job_id, as_json=False, label="checking")
        records = [cast(MonoRecord, r.record) for r in c.all_results(job.job_id)]
        states = [final.state]
        narrations: dict[str, NarrateRecord] = {}
        writes: dict[str, MonoWriteRecord] = {}
        jobs = {"mono": msgspec.to_builtins(final)}
        if narrate and final.state == "done" and (items := O.narrate_items(records)):
            narrated = c.submit("narrate", items).job
            done = follow_with_progress(c, narrated.job_id, as_json=False, label="narrating")
            narrations = {r.record.path: cast(NarrateRecord, r.record) for r in c.all_results(narrated.job_id)}
            states.append(done.state)
            jobs["narrate"] = msgspec.to_builtins(done)
        ready = all(state == "done" for state in states)
        if write_mode == "merge" and ready and (items := O.write_items(records, narrations, narration_field)):
            writing = c.submit("mono-write", items, {"field": narration_field}).job
            done = follow_with_progress(c, writing.job_id, as_json=False, label="writing")
            writes = {r.record.path: cast(MonoWriteRecord, r.record) for r in c.all_results(writing.job_id)}
            states.append(done.state)
            jobs["write"] = msgspec.to_builtins(done)
    outcomes = O.tally(records, narrations.values(), writes.values())
    records.sort(key=lambda r: r.path)
    if as_json:
        images = [O.entry(r, narrations.get(r.path), writes.get(r.path)) for r in records]
        click.echo(jsonio.dumps({"jobs": jobs, "images": images, "outcomes": outcomes.as_dict()}))
    else:
        for record in records:
            _print_record(record, narrations.get(record.path), display_path)
        for line in O.summary_lines(outcomes, narrate=narrate, write=write_mode == "merge", job_id=final.job_id):
            click.echo(line)
        click.echo(summary_line(final))
        if final.state in ("cancelled", "interrupted"):
            click.echo(f"continue it with: imageworks jobs resume {final.job_id}", err=True)
    sys.exit(O.exit_status(states, outcomes))


def _print_record(record: MonoRecord, narration: NarrateRecord | None, display_path: Callable[[str], str]) -> None:
    if record.status != "ok":
        return  # named with its reason in the summary
    label = VERDICT_LABELS.get(record.verdict, record.verdict)
    click.echo(f"{label:9} {display_path(record.path)}  {record.summary}")
    if narration is not None:
        for region in narration.regions:
            click.echo(f"          {region.sentence}")
