"""Near-duplicates and similar photos: perceptual hashes (cached), neighbour search without N×N, instant re-grouping.

    from imageworks.similarity import SimilarityCache, find_similar

    with SimilarityCache() as cache:                    # $XDG_CACHE_HOME/imageworks/similarity.sqlite3
        result = find_similar(paths, cache=cache)        # hashes new/changed files only; stores the neighbours
        again = find_similar(paths, cache=cache, threshold=0.9)   # re-groups from stored pairs: no hashing

Embeddings (``method="embedding"`` or ``"both"``) come from an ``EmbeddingSource``: ``DaemonEmbeddings(model,
connect)`` asks the daemon's embed slot; vectors are cached per (model, revision, file) like hashes.
"""

from imageworks.similarity.cache import Fingerprint, SimilarityCache
from imageworks.similarity.daemon_embeddings import DaemonEmbeddings
from imageworks.similarity.groups import Bands, Group, Pair, group, regroup
from imageworks.similarity.hashing import ALGORITHMS, hash_files, hash_image
from imageworks.similarity.neighbours import Neighbours
from imageworks.similarity.search import (
    METHODS,
    EmbeddingSource,
    SimilarityError,
    SimilarityResult,
    Skipped,
    find_similar,
    vectors_for,
)

__all__ = [
    "ALGORITHMS",
    "METHODS",
    "Bands",
    "DaemonEmbeddings",
    "EmbeddingSource",
    "Fingerprint",
    "Group",
    "Neighbours",
    "Pair",
    "SimilarityCache",
    "SimilarityError",
    "SimilarityResult",
    "Skipped",
    "find_similar",
    "group",
    "hash_files",
    "hash_image",
    "regroup",
    "vectors_for",
]
