"""The neighbour searches against brute force: Hamming radius search, blocked cosine top-k,
top-k pruning, the stored form (grouping: test_similarity_groups.py)."""

from __future__ import annotations

import numpy as np
import pytest

from imageworks.similarity import Neighbours
from imageworks.similarity.hamming import hash_neighbours, radius_pairs
from imageworks.similarity.vectors import normalise, vector_neighbours


def planted_hashes(n: int, words: int, seed: int, bits: int | None = None) -> np.ndarray:
    """Random hashes, a third of them near-copies (a few bits flipped) of others, so every radius finds pairs."""
    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, np.iinfo(np.uint64).max, size=(n, words), dtype=np.uint64, endpoint=True)
    for i in range(n // 3):
        copy = hashes[i].copy()
        for bit in rng.choice(64 * words, size=rng.integers(0, 20), replace=False):
            copy[bit // 64] ^= np.uint64(1) << np.uint64(bit % 64)
        hashes[n - 1 - i] = copy
    if bits is not None:  # zero padding after the real bits, as packed hashes of odd sizes have
        as_bits = np.unpackbits(hashes.view(np.uint8), axis=1)
        as_bits[:, bits:] = 0
        hashes = np.packbits(as_bits, axis=1).view(np.uint64)
    return hashes


def brute_distances(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    return np.bitwise_count(left[:, None, :] ^ right[None, :, :]).sum(axis=2)


@pytest.mark.parametrize(
    ("words", "radius", "bits"), [(1, 0, None), (1, 5, None), (1, 11, None), (1, 16, None), (4, 46, None), (3, 25, 144)]
)
def test_radius_search_finds_exactly_the_pairs_brute_force_finds(words: int, radius: int, bits: int | None) -> None:
    hashes = planted_hashes(600, words, seed=radius, bits=bits)
    qi, bi, dist = radius_pairs(hashes, None, radius, bits)
    full = brute_distances(hashes, hashes)
    i, j = np.nonzero(np.triu(full <= radius, k=1))
    assert sorted(zip(qi.tolist(), bi.tolist(), strict=True)) == sorted(zip(i.tolist(), j.tolist(), strict=True))
    assert (dist == full[qi, bi]).all()


def test_radius_search_against_a_base_returns_only_cross_pairs() -> None:
    hashes = planted_hashes(500, 1, seed=3)
    queries, base = hashes[:200], hashes[200:]
    qi, bi, _ = radius_pairs(queries, base, 11)
    i, j = np.nonzero(brute_distances(queries, base) <= 11)
    assert len(i) and sorted(zip(qi.tolist(), bi.tolist(), strict=True)) == sorted(
        zip(i.tolist(), j.tolist(), strict=True)
    )


def test_many_identical_hashes_are_verified_in_bounded_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    import imageworks.similarity.hamming as hamming

    monkeypatch.setattr(hamming, "MAX_CANDIDATES", 1000)
    hashes = np.zeros((300, 1), np.uint64)  # black frames: one bucket holds everything
    qi, _, _ = radius_pairs(hashes, None, 3)
    assert len(qi) == 300 * 299 // 2


def test_zero_padding_does_not_make_every_pair_a_candidate(monkeypatch: pytest.MonkeyPatch) -> None:
    import imageworks.similarity.hamming as hamming

    verified: list[int] = []
    real = hamming.distances

    def counted(left: np.ndarray, right: np.ndarray) -> np.ndarray:
        verified.append(len(left))
        return real(left, right)

    monkeypatch.setattr(hamming, "distances", counted)
    hashes = planted_hashes(2000, 3, seed=1, bits=144)  # hash_size 12: 144 bits in three 64-bit words
    radius_pairs(hashes, None, 25, bits=144)
    assert sum(verified) < 2000 * 1999 // 2 // 20


def test_hash_scores_are_one_minus_distance_over_bits() -> None:
    hashes = np.array([[0], [0b111], [np.iinfo(np.uint64).max]], np.uint64)
    found = hash_neighbours(hashes, None, 64, min_score=0.9, top_k=5)
    assert (found.a.tolist(), found.b.tolist()) == ([0], [1])
    assert found.score.tolist() == pytest.approx([1 - 3 / 64])


@pytest.mark.parametrize("min_score", [-1.0, 0.3, 0.6])  # -1: every cell a hit (the dense path)
@pytest.mark.parametrize("block_rows", [7, 300])
def test_blocked_cosine_search_matches_the_full_matrix(min_score: float, block_rows: int) -> None:
    rng = np.random.default_rng(5)
    vectors = normalise(rng.normal(size=(300, 16))).astype(np.float16)
    found = vector_neighbours(vectors, None, min_score=min_score, top_k=3, block_scores=300 * block_rows)
    full = vectors.astype(np.float32) @ vectors.astype(np.float32).T
    i, j = np.nonzero(np.triu(full >= np.float32(min_score), k=1))
    expected = Neighbours.from_pairs(i, j, full[i, j], 3)
    assert len(expected) and pair_list(found) == pair_list(expected)
    assert np.allclose(found.score, full[found.a, found.b], atol=1e-5)
    np.fill_diagonal(full, -np.inf)
    row_tops = {
        (min(r, int(c)), max(r, int(c)))
        for r in range(300)
        for c in np.argsort(-full[r])[:3]
        if full[r, c] >= min_score
    }
    assert row_tops <= set(pair_list(found))  # every image keeps its own top 3


def pair_list(found: Neighbours) -> list[tuple[int, int]]:
    return sorted(zip(found.a.tolist(), found.b.tolist(), strict=True))


def test_cosine_against_a_base_offsets_base_indices_and_keeps_cross_pairs_only() -> None:
    rng = np.random.default_rng(6)
    queries, base = normalise(rng.normal(size=(20, 8))), normalise(rng.normal(size=(50, 8)))
    found = vector_neighbours(queries, base, min_score=0.5, top_k=2)
    assert len(found) and (found.a < 20).all() and (found.b >= 20).all()
    full = queries @ base.T
    assert np.allclose(found.score, full[found.a, found.b - 20], atol=1e-6)


def test_top_k_keeps_a_pair_that_ranks_for_either_image() -> None:
    # image 0 is close to 1, 2, 3; with k=1 it keeps only 1, but 3's best is 0, so (0, 3) stays too
    kept = Neighbours.from_pairs(np.array([0, 0, 0, 2]), np.array([1, 2, 3, 1]), np.array([0.9, 0.8, 0.7, 0.95]), 1)
    assert sorted(zip(kept.a.tolist(), kept.b.tolist(), strict=True)) == [(0, 1), (0, 3), (1, 2)]


def test_stored_form_round_trips() -> None:
    pairs = Neighbours.from_pairs(np.array([3, 1]), np.array([0, 2]), np.array([0.5, 0.25]), 10)
    again = Neighbours.from_bytes(pairs.to_bytes())
    assert again.a.tolist() == [0, 1] and again.b.tolist() == [3, 2] and again.score.tolist() == [0.5, 0.25]
