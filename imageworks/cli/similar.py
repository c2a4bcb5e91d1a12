"""`imageworks similar DIR [--against LIB]`: near-duplicate and similar photos, grouped."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import msgspec

from imageworks import config
from imageworks.cli.common import emit_json, handle_errors, json_option
from imageworks.scan.records import display_path


@click.command("similar")
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
    default="hash",
    show_default=True,
    help="Perceptual hashes, image embeddings (the daemon's embedding model) or the better score of both.",
)
@click.option(
    "--threshold",
    type=click.FloatRange(0.5, 1.0),  # below 0.5 a hash pair is no likelier than two random images
    default=None,
    help="Lowest score (0.5..1) that links two images [default: similarity.similar, 0.82].",
)
@click.option("--refresh", is_flag=True, help="Re-walk the folders even if the cached listing is fresh.")
@json_option
@handle_errors
def similar_cmd(
    directory: Path, against: Path | None, method: str, threshold: float | None, refresh: bool, as_json: bool
) -> None:
    """Group the photos under DIRECTORY that look alike: duplicates (re-encoded, resized, slightly cropped copies)
    and similar shots. Hashes are cached; a new --threshold re-groups at once from stored neighbours."""
    from imageworks.similarity import SimilarityCache, find_similar

    cfg = config.load()
    paths, raw_count = _listing(directory, cfg, refresh)
    library = _listing(against, cfg, refresh)[0] if against is not None else None
    scope = f"{directory.resolve()}" + (f" -> {against.resolve()}" if against is not None else "")
    with SimilarityCache() as cache:
        result = find_similar(
            paths,
            against=library,
            method=method,  # type: ignore[arg-type]
            threshold=threshold,
            settings=cfg.similarity,
            cache=cache,
            scope=scope,
            progress=None if as_json else _progress,
        )
    if as_json:
        data = msgspec.to_builtins(result)
        data.update(root=str(directory), against=str(against) if against is not None else None)
        data["bands"] = {"duplicate": cfg.similarity.duplicate, "similar": cfg.similarity.similar}
        emit_json(data)
        return
    for skipped in result.skipped:
        click.echo(f"skipped {display_path(skipped.path)}: {skipped.problem}", err=True)
    if raw_count:
        click.echo(f"{raw_count} RAW files left out (no decoder for their pixels)", err=True)
    for g in result.groups:
        click.echo(f"{g.verdict} {g.best:.2f} ({len(g.paths)} images)")
        for path in g.paths:
            click.echo(f"  {display_path(path)}")
    how = "from stored neighbours" if not result.searched else f"{result.hashed} hashed"
    click.echo(
        f"{len(result.groups)} groups among {result.images} images "
        f"({result.method}, threshold {result.threshold:.2f}, {how})"
    )


def _listing(directory: Path, cfg: config.Config, refresh: bool) -> tuple[list[str], int]:
    """The folder's image paths from the scan cache (as `imageworks tag` lists them) and how many RAW files were
    left out."""
    from imageworks.scan import ScanCache, ScanFilter

    with ScanCache(config=cfg.scan) as cache:
        cache.scan(directory, refresh=refresh)
        entries = cache.query(directory, ScanFilter())
    return [e.path for e in entries if not e.is_raw], sum(e.is_raw for e in entries)


def _progress(done: int, total: int) -> None:
    if sys.stderr.isatty():
        click.echo(f"\rhashing {done}/{total}", err=True, nl=done == total)
    elif done == total:
        click.echo(f"hashed {total} images", err=True)
