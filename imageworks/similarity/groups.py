"""Groups of similar images around a reference photo, from the stored links at or above a threshold.

Linking every pair above the threshold into one component chains unrelated photos (a cat to a horse to the moon,
one small step each). A group here is a reference and the photos within the threshold **of the reference**: the
linked photos are taken best first (``quality.rank_key``: the largest, then the sharpest, unless the person chose
another of ``quality.REFERENCE_RULES``); each one not yet in a group becomes a reference and takes every photo not
yet grouped that it links to at or above the threshold. Its label is the weakest member's score, so "duplicate"
means every member is a duplicate of the reference.

Grouping reads only stored links (``Links``), so a new threshold re-groups without hashing, embedding or searching,
in the daemon and in a client alike.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec
import numpy as np

from imageworks.protocol.library import Group, Links, Pair
from imageworks.similarity.neighbours import Neighbours
from imageworks.similarity.quality import Quality, rank_key, rule_key

__all__ = ["Bands", "Group", "Links", "Pair", "group", "groups_from_links", "links_of"]


class Bands(msgspec.Struct, frozen=True, kw_only=True):
    """Verdict bands on the 0..1 score scale."""

    duplicate: float = 0.92
    similar: float = 0.82

    def verdict(self, score: float) -> str:
        if score >= self.duplicate:
            return "duplicate"
        return "similar" if score >= self.similar else "related"


def links_of(paths: list[str], neighbours: Neighbours, threshold: float, quality: Mapping[str, Quality]) -> Links:
    """The links at or above ``threshold`` between the images they name, those ranked best first."""
    at = neighbours.at_least(threshold)
    linked = np.unique(np.concatenate([at.a, at.b])) if len(at) else np.empty(0, np.int64)
    ranked = sorted((int(i) for i in linked), key=lambda i: rank_key(paths[i], quality.get(paths[i])))
    position = {old: new for new, old in enumerate(ranked)}
    measured = [quality.get(paths[i]) for i in ranked]
    return Links(
        ranked=[paths[i] for i in ranked],
        dimensions=[_dimensions(q) for q in measured],
        sharpness=[q.sharpness if q is not None else -1.0 for q in measured],
        file_bytes=[q.bytes if q is not None else 0 for q in measured],
        modified_ns=[q.mtime_ns if q is not None else 0 for q in measured],
        a=[position[int(i)] for i in at.a],
        b=[position[int(i)] for i in at.b],
        score=[float(s) for s in at.score],  # as stored (float32): a hash score sits exactly on its bit
    )


def _dimensions(quality: Quality | None) -> tuple[int, int]:
    return (quality.width, quality.height) if quality is not None else (0, 0)


def reference_order(links: Links, rule: str = "largest") -> dict[int, int]:
    """Index in ``links.ranked`` -> its place as a reference under ``rule`` (0 the best); unmeasured images last."""
    n = len(links.ranked)
    if rule == "largest" or len(links.sharpness) != n or len(links.modified_ns) != n or len(links.file_bytes) != n:
        return {i: i for i in range(n)}

    def key(i: int) -> tuple[object, ...]:
        (width, height), sharp = links.dimensions[i], links.sharpness[i]
        if sharp < 0:
            return (1, i)
        return (0, *rule_key(rule, width * height, sharp, links.file_bytes[i], links.modified_ns[i]), i)

    return {i: place for place, i in enumerate(sorted(range(n), key=key))}


def groups_from_links(
    links: Links, threshold: float, bands: Bands, *, without: frozenset[str] = frozenset(), rule: str = "largest"
) -> list[Group]:
    """The groups at ``threshold`` (at or above the one ``links`` were taken at), their references chosen by
    ``rule``, leaving out the images in ``without`` (moved away): largest first, then by their weakest score."""
    place = reference_order(links, rule)
    near: dict[int, dict[int, float]] = {}
    floor = float(np.float32(threshold))  # compared as the stored float32 scores are (``Neighbours.at_least``)
    gone = {i for i, path in enumerate(links.ranked) if path in without} if without else set()
    for a, b, score in zip(links.a, links.b, links.score, strict=True):
        if score >= floor and a not in gone and b not in gone:
            near.setdefault(a, {})[b] = score
            near.setdefault(b, {})[a] = score
    taken: set[int] = set()
    groups: list[Group] = []
    for reference in sorted(near, key=place.__getitem__):  # the best photo under the rule first
        if reference in taken:
            continue
        members = sorted(
            ((m, s) for m, s in near[reference].items() if m not in taken), key=lambda t: (-t[1], place[t[0]])
        )
        if not members:
            continue
        taken.add(reference)
        taken.update(m for m, _ in members)
        groups.append(_group(links, reference, members, bands))
    groups.sort(key=lambda g: (-len(g.paths), -g.weakest, g.reference))
    return groups


def _group(links: Links, reference: int, members: list[tuple[int, float]], bands: Bands) -> Group:
    ref = links.ranked[reference]
    weakest = min(s for _, s in members)
    return Group(
        paths=[ref, *(links.ranked[m] for m, _ in members)],
        reference=ref,
        dimensions=[links.dimensions[reference], *(links.dimensions[m] for m, _ in members)],
        best=round(max(s for _, s in members), 4),
        weakest=round(weakest, 4),
        verdict=bands.verdict(weakest),
        pairs=[Pair(a=ref, b=links.ranked[m], score=round(s, 4), verdict=bands.verdict(s)) for m, s in members],
    )


def group(
    paths: list[str],
    neighbours: Neighbours,
    threshold: float,
    bands: Bands,
    quality: Mapping[str, Quality],
    rule: str = "largest",
) -> list[Group]:
    """Groups of two or more images around their reference (see the module's docstring)."""
    return groups_from_links(links_of(paths, neighbours, threshold, quality), threshold, bands, rule=rule)
