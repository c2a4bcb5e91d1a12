"""`imageworks similar DIR [--against LIB]`: near-duplicate and similar photos, grouped."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
import msgspec

from imageworks import config
from imageworks.cli.common import emit_json, ensure_daemon, handle_errors, json_option
from imageworks.scan.records import display_path

if TYPE_CHECKING:
    from imageworks.similarity import DaemonEmbeddings


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
@click.option("--refresh", is_flag=True, help="Re-walk the folders even if the cached listing is fresh.")
@json_option
@handle_errors
def similar_cmd(
    directory: Path, against: Path | None, method: str | None, threshold: float | None, refresh: bool, as_json: bool
) -> None:
    """Group the photos under DIRECTORY that look alike: duplicates (re-encoded, resized, slightly cropped copies)
    and similar shots. Hashes and embeddings are cached; a new --threshold re-groups at once from stored
    neighbours. Embeddings load the configured model into the daemon's embed slot if that slot is empty."""
    from imageworks.similarity import SimilarityCache, find_similar

    cfg = config.load()
    model = cfg.similarity.embedding_model
    method = method or ("both" if model else "hash")
    paths, raw_count = _listing(directory, cfg, refresh)
    library = _listing(against, cfg, refresh)[0] if against is not None else None
    scope = f"{directory.resolve()}" + (f" -> {against.resolve()}" if against is not None else "")
    embeddings = _embeddings(model) if method != "hash" and model else None
    try:
        with SimilarityCache() as cache:
            result = find_similar(
                paths,
                against=library,
                method=method,  # type: ignore[arg-type]
                threshold=threshold,
                settings=cfg.similarity,
                cache=cache,
                embeddings=embeddings,
                scope=scope,
                progress=None if as_json else _progress,
            )
    finally:
        if embeddings is not None:
            embeddings.close()
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
    if result.searched and result.method != "hash":
        how += f", {result.embedded} embedded"
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


def _embeddings(model: str) -> DaemonEmbeddings:
    """The daemon's embed slot as the embedding source; the daemon is started (and the model loaded, saying so)
    only if some file has no cached vector."""
    from imageworks import client
    from imageworks.similarity import DaemonEmbeddings

    def connect() -> client.Client:
        ensure_daemon()
        return client.Client("cli-similar")

    def on_load(name: str) -> None:
        click.echo(f"loading the embedding model {name} (daemon's embed slot)", err=True)

    return DaemonEmbeddings(model, connect, on_load)


DONE_WORDS = {"hashing": "hashed", "embedding": "embedded"}


def _progress(done: int, total: int, what: str = "hashing") -> None:
    if sys.stderr.isatty():
        click.echo(f"\r{what} {done}/{total}", err=True, nl=done == total)
    elif done == total:
        click.echo(f"{DONE_WORDS[what]} {total} images", err=True)
