"""`imageworks similar DIR [--against LIB]`: near-duplicate and similar photos, grouped; `imageworks similar undo-move`
puts back the photos the last move of rejects took away (``cli/similar_undo.py``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
import msgspec

from imageworks import config
from imageworks import protocol as P
from imageworks.cli.common import emit_json, ensure_daemon, handle_errors, json_option
from imageworks.cli.similar_undo import undo_move_cmd
from imageworks.errors import ImageWorksError
from imageworks.jobs.records import SimilarOutcome
from imageworks.scan.records import display_path

if TYPE_CHECKING:
    from imageworks import client as client_module


class SimilarGroup(click.Group):
    """`similar DIR …` is `similar find DIR …`: the subcommands came later, and scripts name the folder first."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ctx.help_option_names):
            args = ["find", *args]
        return super().parse_args(ctx, args)


@click.group("similar", cls=SimilarGroup)
def similar_group() -> None:
    """Near-duplicate and similar photos: `similar DIR` groups them (the same as `similar find DIR`), `similar
    undo-move` puts back the rejects the last move took away."""


@similar_group.command("find")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option(
    "--against",
    type=click.Path(path_type=Path),
    default=None,
    help="A library folder: group DIRECTORY's images only with library images they resemble.",
)
@click.option(
    "--method",
    type=click.Choice(["hash", "embedding", "both"]),
    default=None,
    help="Perceptual hashes, image embeddings (the daemon's embed slot, model similarity.embedding_model) or the "
    "better score of both [default: both when an embedding model is configured, else hash].",
)
@click.option(
    "--threshold",
    type=click.FloatRange(0.5, 1.0),  # below 0.5 a hash pair is no likelier than two random images
    default=None,
    help="Lowest score (0.5..1) that links two images [default: similarity.similar, 0.82].",
)
@click.option(
    "--reference",
    type=click.Choice(["largest", "sharpest", "earliest"]),  # quality.REFERENCE_RULES (numpy stays out of --help)
    default="largest",
    show_default=True,
    help="Which photo of a group the others are scored against: the largest (then the sharpest), the sharpest (then "
    "the largest) or the earliest file (its modification time, then the largest).",
)
@click.option("--refresh", is_flag=True, help="Re-walk the folders even if the cached listing is fresh.")
@json_option
@handle_errors
def similar_cmd(
    directory: Path,
    against: Path | None,
    method: str | None,
    threshold: float | None,
    reference: str,
    refresh: bool,
    as_json: bool,
) -> None:
    """Group the photos under DIRECTORY that look alike: duplicates (re-encoded, resized, slightly cropped copies)
    and similar shots. The daemon does the work (started if need be): it hashes what its cache lacks, embeds with the
    embed slot's model (loaded into that slot if it is empty) and searches; a new --threshold re-groups at once from
    the stored neighbours. A second client asking for the same folder meanwhile joins the same job."""
    from imageworks import client
    from imageworks.scan.roots import check_root
    from imageworks.similarity.jobs import needs_model, similar_params
    from imageworks.similarity.search import SimilarityError

    cfg = config.load()
    model = cfg.similarity.embedding_model
    method = method or ("both" if model else "hash")
    if method != "hash" and not model:
        raise SimilarityError(needs_model(method))
    root = check_root(directory)
    library = check_root(against) if against is not None else ""
    threshold = cfg.similarity.similar if threshold is None else threshold
    params = similar_params(
        root,
        against=library,
        method=method,
        floor=min(threshold, cfg.similarity.similar),
        settings=cfg.similarity,
        ttl=cfg.scan.ttl_seconds,
        follow_symlinks=cfg.scan.follow_symlinks,
        refresh=refresh,
    )
    ensure_daemon()
    with client.Client("cli-similar") as c:
        job = c.submit("similar", [], params).job
        final = _follow(c, job, quiet=as_json)
        if final.state != "done" or not isinstance(final.outcome, SimilarOutcome):
            raise ImageWorksError(final.error or f"the similar job {final.job_id} ended {final.state}")
        reply = c.similar_groups(final.job_id, threshold, reference)
    outcome = final.outcome
    hashed = final.done + final.failed + outcome.hashed
    left_out = _left_out(cfg, root) + (_left_out(cfg, library) if library else [])
    if as_json:
        emit_json(
            {
                "root": str(directory),
                "against": str(against) if against is not None else None,
                "method": reply.method,
                "threshold": reply.threshold,
                "images": reply.images,
                "groups": msgspec.to_builtins(reply.groups),
                "skipped": [{"path": p, "problem": why} for p, why in left_out] + msgspec.to_builtins(reply.skipped),
                "hashed": hashed,
                "embedded": outcome.embedded,
                "searched": outcome.searched,
                "bands": reply.bands,
                "reference": reply.reference,
                "reference_rule": reply.reference_rule,
            }
        )
        return
    for path, problem in left_out:  # as `imageworks scan` says it: a folder nothing was compared from
        click.echo(f"left out {display_path(path)}: {problem}", err=True)
    for skipped in reply.skipped:
        click.echo(f"skipped {display_path(skipped.path)}: {skipped.problem}", err=True)
    if outcome.raw_left_out:
        click.echo(f"{outcome.raw_left_out} RAW files left out (no decoder for their pixels)", err=True)
    for g in reply.groups:  # the label is the weakest member's score to the reference
        click.echo(f"{g.verdict} {g.weakest:.3f} ({len(g.paths)} images)")
        width, height = g.dimensions[0] if g.dimensions else (0, 0)
        click.echo(f"  ref    {display_path(g.reference)}" + (f"  {width}×{height}" if width else ""))
        for pair in g.pairs:
            click.echo(f"  {pair.score:.3f}  {display_path(pair.b)}")
    how = "from stored neighbours" if not outcome.searched else f"{hashed} hashed"
    if outcome.searched and reply.method != "hash":
        how += f", {outcome.embedded} embedded"
    where = f"{reply.method}, threshold {reply.threshold:.2f}, {how}"
    if reply.groups:
        where += f"; each group's reference: the {reply.reference_rule}"
    click.echo(f"{len(reply.groups)} groups among {reply.images} images ({where})")


similar_group.add_command(undo_move_cmd)


def _left_out(cfg: config.Config, root: str) -> list[tuple[str, str]]:
    """What the daemon's walk of ``root`` could not read, as (path, problem) (an unreadable folder: nothing under it
    was listed), from the scan cache (read-only)."""
    import math

    from imageworks.scan import ScanCache

    with ScanCache(config=cfg.scan, read_only=True) as cache:
        scanned = cache.fresh(root, ttl=math.inf)
    if scanned is None:
        return []
    problems: list[tuple[str, str]] = []
    for error in scanned.errors:  # "locked/: permission denied (directory skipped)", relative to the root
        where, sep, problem = error.partition(": ")
        problems.append((os.path.join(root, where), problem) if sep else (root, error))
    if scanned.error_count > len(problems):
        problems.append((root, f"{scanned.error_count - len(problems):,} more problems (`imageworks scan` lists them)"))
    return problems


DONE_WORDS = {"hashing": "hashed", "embedding": "embedded"}


def _follow(c: client_module.Client, job: P.JobInfo, *, quiet: bool) -> P.JobInfo:
    """Follow the job to its end, saying on stderr how the hashing (its items) and the embedding go."""
    final = job
    hashed = 0
    for event in c.follow(job.job_id, progress=True):
        if isinstance(event, P.ResultRecord):
            hashed += 1
            if not quiet:
                _progress(hashed, final.total, "hashing")
        elif isinstance(event, P.JobProgressEvent):
            if not quiet and event.message == "embedding" and event.total:
                _progress(event.done, event.total, "embedding")
            elif not quiet and event.message.startswith("loading the embedding model"):
                click.echo(event.message, err=True)
        else:
            final = event
    return final


def _progress(done: int, total: int, what: str) -> None:
    if sys.stderr.isatty():
        click.echo(f"\r{what} {done}/{total}", err=True, nl=done == total)
    elif done == total:
        click.echo(f"{DONE_WORDS[what]} {total} images", err=True)
