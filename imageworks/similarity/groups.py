"""Groups of similar images: connected components over the stored pairs at or above a threshold.

Grouping reads only stored neighbours, so a new threshold re-groups without hashing or embedding anything.
"""

from __future__ import annotations

import msgspec
import numpy as np

from imageworks.similarity.neighbours import Neighbours


class Bands(msgspec.Struct, frozen=True, kw_only=True):
    """Verdict bands on the 0..1 score scale."""

    duplicate: float = 0.92
    similar: float = 0.82

    def verdict(self, score: float) -> str:
        if score >= self.duplicate:
            return "duplicate"
        return "similar" if score >= self.similar else "related"


class Pair(msgspec.Struct, frozen=True, kw_only=True):
    a: str
    b: str
    score: float
    verdict: str


class Group(msgspec.Struct, frozen=True, kw_only=True):
    """Images linked by pairs at or above the threshold; ``pairs`` are those links, best first."""

    paths: list[str]
    best: float
    verdict: str
    pairs: list[Pair]


def components(count: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Union-find over ``count`` items joined by the edges ``(a[i], b[i])``: each item's component label (the
    smallest index in its component)."""
    parent = np.arange(count)
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    # vectorised union by minimum label, then path halving, until no edge crosses two labels
    while len(a):
        ra, rb = parent[a], parent[b]
        crossing = ra != rb
        if not crossing.any():
            break
        a, b, ra, rb = a[crossing], b[crossing], ra[crossing], rb[crossing]
        np.minimum.at(parent, np.maximum(ra, rb), np.minimum(ra, rb))
        while True:
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
    return parent


def group(paths: list[str], neighbours: Neighbours, threshold: float, bands: Bands) -> list[Group]:
    """Groups of two or more images, largest and best first; each lists its pairs at or above ``threshold``."""
    links = neighbours.at_least(threshold)
    if len(links) == 0:
        return []
    labels = components(len(paths), links.a, links.b)
    by_label: dict[int, list[int]] = {}
    for member in np.unique(np.concatenate([links.a, links.b])):
        by_label.setdefault(int(labels[member]), []).append(int(member))
    pairs_of: dict[int, list[Pair]] = {}
    for i in np.argsort(-links.score, kind="stable"):
        a, b, score = int(links.a[i]), int(links.b[i]), round(float(links.score[i]), 4)
        pairs_of.setdefault(int(labels[a]), []).append(
            Pair(a=paths[a], b=paths[b], score=score, verdict=bands.verdict(score))
        )
    groups = [
        Group(
            paths=[paths[m] for m in sorted(members, key=lambda m: paths[m])],
            best=pairs_of[label][0].score,
            verdict=pairs_of[label][0].verdict,
            pairs=pairs_of[label],
        )
        for label, members in by_label.items()
    ]
    groups.sort(key=lambda g: (-len(g.paths), -g.best, g.paths[0]))
    return groups


def regroup(
    groups: list[Group], threshold: float, bands: Bands, *, without: frozenset[str] = frozenset()
) -> list[Group]:
    """The groups at a threshold at or above the one ``groups`` were made at, from their pairs alone (they hold every
    stored link at or above it), leaving out the images in ``without``: no hashing, no embedding, no search."""
    pairs = [p for g in groups for p in g.pairs if p.score >= threshold and p.a not in without and p.b not in without]
    index: dict[str, int] = {}
    for p in pairs:
        index.setdefault(p.a, len(index))
        index.setdefault(p.b, len(index))
    links = Neighbours(
        np.array([index[p.a] for p in pairs], np.int64),
        np.array([index[p.b] for p in pairs], np.int64),
        np.array([p.score for p in pairs], np.float32),
    )
    return group(list(index), links, threshold, bands)
