"""The approximate (HNSW) path of vector_neighbours against the blocked exact search it stands in for."""

from __future__ import annotations

import numpy as np

from imageworks.similarity.neighbours import Neighbours
from imageworks.similarity.vectors import normalise, vector_neighbours


def planted(n: int, dim: int, seed: int) -> np.ndarray:
    """Random unit vectors, a tenth of them near-copies of others (cosine about 0.96), as float16 like embeddings."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    copies = rng.choice(n, size=n // 10, replace=False)
    vectors[copies] = vectors[rng.choice(n, size=n // 10)] + rng.normal(scale=0.2, size=(n // 10, dim))
    return normalise(vectors).astype(np.float16)


def scored(found: Neighbours) -> dict[tuple[int, int], float]:
    return dict(zip(zip(found.a.tolist(), found.b.tolist(), strict=True), found.score.tolist(), strict=True))


def test_ann_finds_every_planted_pair_with_the_exact_scores() -> None:
    vectors = planted(5000, 768, seed=1)
    exact = scored(vector_neighbours(vectors, None, 0.82, 10))
    approx = scored(vector_neighbours(vectors, None, 0.82, 10, ann_above=0))
    assert len(exact) >= 450 and approx.keys() == exact.keys()  # recall 1.0 on the planted pairs, nothing extra
    assert max(abs(approx[p] - exact[p]) for p in exact) < 1e-3


def test_ann_recall_on_random_neighbours() -> None:
    # floor -1: every image's top 10, mostly plain random vectors (the hard case for a graph index); measured 0.98
    vectors = planted(5000, 768, seed=2)
    exact = scored(vector_neighbours(vectors, None, -1.0, 10))
    approx = scored(vector_neighbours(vectors, None, -1.0, 10, ann_above=0))
    assert len(approx.keys() & exact.keys()) / len(exact) >= 0.95


def test_ann_against_a_base_keeps_cross_pairs_with_base_indices_after_the_queries() -> None:
    vectors = planted(3000, 256, seed=3)
    queries, base = vectors[:500], vectors[500:]
    exact = scored(vector_neighbours(queries, base, 0.82, 10))
    found = vector_neighbours(queries, base, 0.82, 10, ann_above=0)
    assert len(found) and (found.a < 500).all() and (found.b >= 500).all()
    approx = scored(found)
    assert exact and approx.keys() == exact.keys()
    assert max(abs(approx[p] - exact[p]) for p in exact) < 1e-3


def test_ann_on_fewer_rows_than_top_k() -> None:
    vectors = normalise(np.eye(4, 8) + 0.01)
    found = vector_neighbours(vectors, None, -1.0, 10, ann_above=0)
    assert sorted(scored(found)) == [(i, j) for i in range(4) for j in range(i + 1, 4)]
