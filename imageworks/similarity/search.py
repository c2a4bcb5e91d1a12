"""``find_similar``: fingerprint, hash (cached), search neighbours (stored), group at a threshold.

Costs are paid once: a file is hashed again only when its size or mtime changed, and a search over the same files
with the same settings is stored, so a new threshold at or above the stored floor re-groups from stored pairs alone.
Embeddings plug in through ``EmbeddingSource``: supplying an (n, d) array of L2-normalised vectors per call is all
the embedding method needs.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from typing import Literal, Protocol

import msgspec
import numpy as np

from imageworks.config import SimilarityConfig
from imageworks.errors import ImageWorksError
from imageworks.similarity.cache import Fingerprint, SimilarityCache, StoredSearch
from imageworks.similarity.groups import Bands, Group, group
from imageworks.similarity.hamming import as_words, hash_neighbours
from imageworks.similarity.hashing import hash_bits, hash_bytes, hash_files
from imageworks.similarity.neighbours import Neighbours
from imageworks.similarity.vectors import vector_neighbours

Method = Literal["hash", "embedding", "both"]
METHODS: tuple[Method, ...] = ("hash", "embedding", "both")

Progress = Callable[[int, int], None]
"""``progress(done, total)`` while files are hashed."""


class SimilarityError(ImageWorksError):
    """A similarity search cannot run as asked (e.g. no embedding model)."""


class EmbeddingSource(Protocol):
    """Image embeddings from a model (the daemon's embed slot)."""

    name: str
    """Model id and revision: part of the stored search's key, so another model never reuses its pairs."""

    def embed(self, paths: Sequence[str]) -> np.ndarray:
        """L2-normalised vectors, one row per path in order: an (n, d) array (float16 is fine)."""
        ...


class Skipped(msgspec.Struct, frozen=True):
    path: str
    problem: str


class SimilarityResult(msgspec.Struct, frozen=True, kw_only=True):
    method: Method
    """The method actually used."""
    threshold: float
    images: int
    """Images compared (skipped ones not counted)."""
    groups: list[Group]
    skipped: list[Skipped]
    hashed: int
    """Files hashed by this call (0 when every hash came from the cache)."""
    searched: bool
    """False when the groups came from a stored search (no hashing, no embedding, no search)."""


def fingerprints(paths: Sequence[str]) -> tuple[list[Fingerprint], dict[str, str]]:
    """(size, mtime_ns) of each file now (not the scan listing's, which may be older); vanished files skipped."""
    found: list[Fingerprint] = []
    problems: dict[str, str] = {}
    for path in paths:
        try:
            st = os.stat(path)
        except OSError as exc:
            problems[path] = f"cannot read file: {exc.strerror or exc}"
            continue
        found.append(Fingerprint(path, st.st_size, st.st_mtime_ns))
    return found, problems


def find_similar(
    paths: Sequence[str],
    *,
    against: Sequence[str] | None = None,
    method: Method = "hash",
    threshold: float | None = None,
    settings: SimilarityConfig | None = None,
    cache: SimilarityCache,
    embeddings: EmbeddingSource | None = None,
    scope: str = "",
    progress: Progress | None = None,
) -> SimilarityResult:
    """Group ``paths`` by similarity, or (``against`` given) group each of them with the library images it
    resembles, linking only new->library pairs. ``scope`` names the search for the cache (e.g. the folders)."""
    settings = settings or SimilarityConfig()
    threshold = settings.similar if threshold is None else threshold
    if method not in METHODS:
        raise SimilarityError(f"unknown method {method!r} (one of {', '.join(METHODS)})")
    if method != "hash" and embeddings is None:
        raise SimilarityError(
            "the embedding model is not available yet (it comes with the daemon's embed slot); use --method hash"
        )
    new, new_problems = fingerprints(paths)
    library, lib_problems = fingerprints(against) if against is not None else ([], {})
    floor = min(threshold, settings.similar)
    key = "|".join(
        [
            method,
            settings.algorithm,
            str(settings.hash_size),
            str(settings.top_k),
            embeddings.name if embeddings and method != "hash" else "",
            scope,
            "against" if against is not None else "",
        ]
    )
    digest = hashlib.sha256(msgspec.msgpack.encode([new, library])).hexdigest()
    stored = cache.load_search(key, digest)
    hashed_before = cache.hashes_computed
    if stored is None or stored.min_score > threshold + 1e-9:
        stored = _search(new, library, against is not None, method, floor, settings, cache, embeddings, progress)
        stored = msgspec.structs.replace(stored, skipped={**new_problems, **lib_problems, **stored.skipped})
        cache.store_search(key, digest, stored)
        searched = True
    else:
        searched = False
    bands = Bands(duplicate=settings.duplicate, similar=settings.similar)
    return SimilarityResult(
        method=method,
        threshold=threshold,
        images=len(stored.paths),
        groups=group(stored.paths, stored.neighbours, threshold, bands),
        skipped=[Skipped(p, why) for p, why in sorted(stored.skipped.items())],
        hashed=cache.hashes_computed - hashed_before,
        searched=searched,
    )


def _search(
    new: list[Fingerprint],
    library: list[Fingerprint],
    cross_only: bool,
    method: Method,
    floor: float,
    settings: SimilarityConfig,
    cache: SimilarityCache,
    embeddings: EmbeddingSource | None,
    progress: Progress | None,
) -> StoredSearch:
    skipped: dict[str, str] = {}
    if method == "embedding":
        queries, base = [f.path for f in new], [f.path for f in library]
    else:
        digests = hashes_for(cache, [*new, *library], settings, progress)
        skipped = {path: problem for path, (digest, problem) in digests.items() if digest is None and problem}
        queries = [f.path for f in new if digests[f.path][0] is not None]
        base = [f.path for f in library if digests[f.path][0] is not None]
    found = Neighbours.empty()
    if method in ("hash", "both"):
        nbytes = hash_bytes(settings.hash_size)
        q_words = as_words([digests[p][0] for p in queries], nbytes)  # type: ignore[misc]
        b_words = as_words([digests[p][0] for p in base], nbytes) if cross_only else None  # type: ignore[misc]
        found = hash_neighbours(q_words, b_words, hash_bits(settings.hash_size), floor, settings.top_k)
    if method in ("embedding", "both"):
        assert embeddings is not None
        q_vectors = embeddings.embed(queries)
        b_vectors = embeddings.embed(base) if cross_only else None
        by_vector = vector_neighbours(q_vectors, b_vectors, floor, settings.top_k)
        found = by_vector if method == "embedding" else found.best_of(by_vector, settings.top_k)
    return StoredSearch(min_score=floor, paths=[*queries, *base], skipped=skipped, neighbours=found)


def hashes_for(
    cache: SimilarityCache, files: Sequence[Fingerprint], settings: SimilarityConfig, progress: Progress | None = None
) -> dict[str, tuple[bytes | None, str | None]]:
    """path -> (digest, problem) for every file: read from the cache, hashing (over all cores) only new or changed
    files."""
    known = cache.cached_hashes(files, settings.algorithm, settings.hash_size)
    todo = [f for f in files if f.path not in known]
    if todo:
        results = hash_files([f.path for f in todo], settings.algorithm, settings.hash_size, progress=progress)
        cache.store_hashes(todo, results, settings.algorithm, settings.hash_size)
        known.update((f.path, (r.digest, r.problem)) for f, r in zip(todo, results, strict=True))
    return known
