"""``find_similar``: fingerprint, hash and embed (both cached), search neighbours (stored), group at a threshold.

Costs are paid once: a file is hashed or embedded again only when its size or mtime changed, and a search over the
same files with the same settings is stored, so a new threshold at or above the stored floor re-groups from stored
pairs alone. Embeddings come from an ``EmbeddingSource`` (the daemon's embed slot: ``SlotEmbeddings``), asked only
for the files its model has no cached vector of.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
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
from imageworks.similarity.quality import Quality, measure
from imageworks.similarity.vectors import vector_neighbours

Method = Literal["hash", "embedding", "both"]
METHODS: tuple[Method, ...] = ("hash", "embedding", "both")
EMBED_BATCH = 32
"""Images per embedding request: one reply each (a few hundred kB), and a progress step."""

Outcome = tuple[np.ndarray | None, str | None]
"""One file's embedding: (vector, None), or (None, a one-line reason the file was skipped)."""


class Progress(Protocol):
    """``progress(done, total, what)`` while files are hashed (``what`` = "hashing") or embedded ("embedding")."""

    def __call__(self, done: int, total: int, what: str = "hashing") -> None: ...


class SimilarityError(ImageWorksError):
    """A similarity search cannot run as asked (e.g. no embedding model)."""


class EmbeddingSource(Protocol):
    """Image embeddings from a model (the daemon's embed slot)."""

    model: str
    revision: str
    """Model id and revision: the vectors' cache key, and part of the stored search's (another model, or another
    revision of it, never reuses them)."""

    def embed(self, paths: Sequence[str]) -> list[Outcome]:
        """One outcome per path, in order: an L2-normalised vector (any float dtype), or the reason the image
        could not be embedded."""
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
    embedded: int = 0
    """Files embedded by this call (0 when every vector came from the cache)."""
    searched: bool
    """False when the groups came from a stored search (no hashing, no embedding, no search)."""


def fingerprints(paths: Sequence[str]) -> tuple[list[Fingerprint], dict[str, str]]:
    """(size, mtime_ns) of each file now (not the scan listing's, which may be older); vanished and unreadable files
    skipped. An unreadable file is left out here rather than failing to hash: a hash failure is cached by size and
    mtime, which a ``chmod`` leaves as they were, so the file would stay skipped until touched; left out, it changes
    the set searched the moment it can be read again."""
    found: list[Fingerprint] = []
    problems: dict[str, str] = {}
    for path in paths:
        try:
            st = os.stat(path)
        except OSError as exc:
            problems[path] = f"cannot read file: {exc.strerror or exc}"
            continue
        if not os.access(path, os.R_OK):
            problems[path] = "cannot read file: permission denied"
            continue
        found.append(Fingerprint(path, st.st_size, st.st_mtime_ns))
    return found, problems


def files_digest(*groups: Sequence[Fingerprint]) -> str:
    """What a stored search was of: every file's name (as bytes: a non-UTF-8 name is surrogate-escaped in a str,
    which msgpack refuses), size and mtime."""
    rows = [[(os.fsencode(f.path), f.size, f.mtime_ns) for f in files] for files in groups]
    return hashlib.sha256(msgspec.msgpack.encode(rows)).hexdigest()


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
    hash_workers: int | None = None,
) -> SimilarityResult:
    """Group ``paths`` by similarity, or (``against`` given) group each of them with the library images it
    resembles, linking only new->library pairs. ``scope`` names the search for the cache (e.g. the folders).
    ``hash_workers``: processes hashing the files not cached yet (None: every core; the daemon, whose pool hashed
    them already, hashes the few changed since in its own thread: 1)."""
    settings = settings or SimilarityConfig()
    threshold = settings.similar if threshold is None else threshold
    if method not in METHODS:
        raise SimilarityError(f"unknown method {method!r} (one of {', '.join(METHODS)})")
    if method != "hash" and embeddings is None:
        raise SimilarityError(
            f"--method {method} needs an embedding model: set [similarity] embedding_model in the config "
            "(or IMAGEWORKS_SIMILARITY_EMBEDDING_MODEL), or use --method hash"
        )
    new, new_problems = fingerprints(paths)
    library, lib_problems = fingerprints(against) if against is not None else ([], {})
    floor = min(threshold, settings.similar)
    key = search_key(method, settings, embeddings, scope, against=against is not None)
    digest = files_digest(new, library)
    stored = cache.load_search(key, digest)
    hashed_before, embedded_before = cache.hashes_computed, cache.embeddings_computed
    if stored is None or stored.min_score > threshold + 1e-9:
        stored = _search(
            new, library, against is not None, method, floor, settings, cache, embeddings, progress, hash_workers
        )
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
        groups=group(stored.paths, stored.neighbours, threshold, bands, stored.quality),
        skipped=[Skipped(p, why) for p, why in sorted(stored.skipped.items())],
        hashed=cache.hashes_computed - hashed_before,
        embedded=cache.embeddings_computed - embedded_before,
        searched=searched,
    )


def search_key(
    method: str, settings: SimilarityConfig, embeddings: EmbeddingSource | None, scope: str, *, against: bool
) -> str:
    """The stored search's key: another method, hash, top-k, model, folder (or library) is another search."""
    model = f"{embeddings.model}@{embeddings.revision}" if embeddings and method != "hash" else ""
    parts = [method, settings.algorithm, str(settings.hash_size), str(settings.top_k), model, scope]
    return "|".join([*parts, "against" if against else ""])


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
    hash_workers: int | None = None,
) -> StoredSearch:
    files = [*new, *library]
    skipped: dict[str, str] = {}
    if method in ("hash", "both"):
        digests = hashes_for(cache, files, settings, progress, workers=hash_workers)
        skipped.update((path, problem or "") for path, (digest, problem) in digests.items() if digest is None)
    if method in ("embedding", "both"):
        assert embeddings is not None
        vectors = vectors_for(cache, [f for f in files if f.path not in skipped], embeddings, progress)
        skipped.update((path, problem or "") for path, (vector, problem) in vectors.items() if vector is None)
    queries = [f.path for f in new if f.path not in skipped]
    base = [f.path for f in library if f.path not in skipped]
    found = Neighbours.empty()
    if method in ("hash", "both"):
        nbytes = hash_bytes(settings.hash_size)
        q_words = as_words([digests[p][0] for p in queries], nbytes)  # type: ignore[misc]
        b_words = as_words([digests[p][0] for p in base], nbytes) if cross_only else None  # type: ignore[misc]
        found = hash_neighbours(q_words, b_words, hash_bits(settings.hash_size), floor, settings.top_k)
    if method in ("embedding", "both"):
        q_vectors = _matrix([vectors[p][0] for p in queries])
        b_vectors = _matrix([vectors[p][0] for p in base]) if cross_only else None
        by_vector = vector_neighbours(q_vectors, b_vectors, floor, settings.top_k)
        found = by_vector if method == "embedding" else found.best_of(by_vector, settings.top_k)
    paths = [*queries, *base]
    linked = {paths[i] for i in np.unique(np.concatenate([found.a, found.b]))} if len(found) else set()
    quality = quality_for(cache, [f for f in files if f.path in linked], progress)
    return StoredSearch(min_score=floor, paths=paths, skipped=skipped, neighbours=found, quality=quality)


def quality_for(
    cache: SimilarityCache, files: Sequence[Fingerprint], progress: Progress | None = None
) -> dict[str, Quality]:
    """path -> quality (what makes a photo its group's reference) for the linked files: read from the cache,
    measured only for new or changed ones; a file that cannot be read now is left out (it ranks last)."""
    known = cache.cached_quality(files)
    todo = [f for f in files if f.path not in known]
    measured: list[tuple[Fingerprint, Quality]] = []
    for done, f in enumerate(todo, 1):
        if (q := measure(f.path)) is not None:
            measured.append((f, q))
        if progress and (done % 64 == 0 or done == len(todo)):
            progress(done, len(todo), "ranking")
    if measured:
        cache.store_quality(measured)
    return {**known, **{f.path: q for f, q in measured}}


def _matrix(rows: list[np.ndarray | None]) -> np.ndarray:
    return np.stack(rows) if rows else np.empty((0, 1), np.float16)  # type: ignore[arg-type]


def vectors_for(
    cache: SimilarityCache, files: Sequence[Fingerprint], source: EmbeddingSource, progress: Progress | None = None
) -> dict[str, Outcome]:
    """path -> (vector, problem) for every file: read from the cache, asking ``source`` (in batches of
    ``EMBED_BATCH``) only for new or changed files."""
    known = cache.cached_embeddings(files, source.model, source.revision)
    todo = [f for f in files if f.path not in known]
    for start in range(0, len(todo), EMBED_BATCH):
        batch = todo[start : start + EMBED_BATCH]
        outcomes = source.embed([f.path for f in batch])
        if len(outcomes) != len(batch):
            raise SimilarityError(f"the embedding model answered {len(outcomes)} vectors for {len(batch)} images")
        cache.store_embeddings(batch, outcomes, source.model, source.revision)
        known.update(cache.cached_embeddings(batch, source.model, source.revision))  # as float16, like a re-run
        if progress:
            progress(start + len(batch), len(todo), "embedding")
    return known


def hashes_for(
    cache: SimilarityCache,
    files: Sequence[Fingerprint],
    settings: SimilarityConfig,
    progress: Progress | None = None,
    *,
    workers: int | None = None,
) -> dict[str, tuple[bytes | None, str | None]]:
    """path -> (digest, problem) for every file: read from the cache, hashing (over ``workers`` processes; None:
    every core) only new or changed files."""
    known = cache.cached_hashes(files, settings.algorithm, settings.hash_size)
    todo = [f for f in files if f.path not in known]
    if todo:
        paths = [f.path for f in todo]
        results = hash_files(paths, settings.algorithm, settings.hash_size, workers=workers, progress=progress)
        cache.store_hashes(todo, results, settings.algorithm, settings.hash_size)
        known.update((f.path, (r.digest, r.problem)) for f, r in zip(todo, results, strict=True))
    return known
