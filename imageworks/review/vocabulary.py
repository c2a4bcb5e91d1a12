"""The photographer's vocabulary: the keywords their library already uses plus the ones they approved, with counts.

It ranks autocomplete by use in this library (TagGUI), maps the model's proposals onto the library's own words
before review (case, singular/plural, and the person's earlier renames: rename ``puppy`` → ``dog`` on two images
and later proposals of ``puppy`` arrive as ``dog``, marked ``mapped``), marks words the library lacks as ``new``,
and turns a draft's keywords into the metadata writer's input, where a word the library keeps in a hierarchy
(``Animals|Dog`` in lr:hierarchicalSubject) goes back as its path. Pure: built from counts the caller reads (the
scan cache for the library, ``DraftStore`` for approvals and renames).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import msgspec

from imageworks.review.drafts import HIERARCHY_SEPARATOR, DraftKeyword, Values, keyword_key, leaf

RENAME_MEMORY = 2
"""How many times a person must rename a word to the same keyword before later proposals arrive renamed."""


class Suggestion(msgspec.Struct, frozen=True, kw_only=True):
    keyword: str
    """The library's spelling."""
    count: int
    path: str
    """The hierarchy it lives in (``Animals|Dog``), or the keyword itself."""


@dataclass
class _Word:
    keyword: str
    count: int = 0
    paths: dict[str, int] = field(default_factory=dict)


class Vocabulary:
    """Build with ``Vocabulary.build``; every lookup compares by ``keyword_key``."""

    def __init__(self, words: dict[str, _Word], renames: dict[str, str]) -> None:
        self._words = words
        self._renames = renames
        self._ranked = sorted(words.values(), key=lambda w: (-w.count, w.keyword.casefold()))

    @classmethod
    def build(
        cls,
        library: Mapping[str, int] = {},
        hierarchical: Mapping[str, int] = {},
        approved: Mapping[str, int] = {},
        renames: Mapping[tuple[str, str], int] = {},
    ) -> Vocabulary:
        """``library``: flat keyword → number of images (dc:subject, IPTC); ``hierarchical``: lr:hierarchicalSubject
        path → number of images; ``approved``: keyword → approved drafts holding it; ``renames``: (old, new) →
        times the person renamed old to new."""
        words: dict[str, _Word] = {}

        def word(keyword: str) -> _Word:
            return words.setdefault(keyword_key(keyword), _Word(keyword))

        for keyword, count in library.items():
            if keyword_key(keyword):
                word(keyword).count += count
        for path, count in hierarchical.items():
            levels = [level.strip() for level in path.split(HIERARCHY_SEPARATOR) if level.strip()]
            if not levels:
                continue
            path = HIERARCHY_SEPARATOR.join(levels)
            for level in levels:
                entry = word(level)
                entry.count = max(entry.count, count)  # the same images usually carry it in dc:subject too
            entry.paths[path] = entry.paths.get(path, 0) + count
        for keyword, count in approved.items():
            if keyword_key(keyword):
                word(leaf(keyword)).count += count
        best: dict[str, tuple[int, str]] = {}
        for (old, new), count in renames.items():
            key = keyword_key(old)
            if count >= RENAME_MEMORY and key and key != keyword_key(new) and count > best.get(key, (0, ""))[0]:
                best[key] = (count, new)
        return cls(words, {key: new for key, (_, new) in best.items()})

    def __contains__(self, keyword: str) -> bool:
        return keyword_key(leaf(keyword)) in self._words

    def count(self, keyword: str) -> int:
        found = self._words.get(keyword_key(leaf(keyword)))
        return found.count if found else 0

    def path_of(self, keyword: str) -> str:
        """The keyword as the writer gets it: its most-used hierarchy path, or itself (a path stays a path)."""
        if HIERARCHY_SEPARATOR in keyword:
            return keyword
        found = self._words.get(keyword_key(keyword))
        if found is None or not found.paths:
            return keyword
        return max(found.paths.items(), key=lambda item: (item[1], item[0]))[0]

    def complete(self, prefix: str, limit: int = 10) -> list[Suggestion]:
        """Keywords starting with ``prefix`` (or with a word of theirs starting with it), most used first."""
        wanted = " ".join(prefix.split()).casefold()
        out: list[Suggestion] = []
        for entry in self._ranked:
            folded = entry.keyword.casefold()
            if folded.startswith(wanted) or any(w.startswith(wanted) for w in folded.split()[1:]):
                out.append(Suggestion(keyword=entry.keyword, count=entry.count, path=self.path_of(entry.keyword)))
                if len(out) >= limit:
                    break
        return out

    def map_keyword(self, proposed: DraftKeyword) -> DraftKeyword:
        """A model's keyword onto the library's words: renamed, re-spelled (``mapped``), or marked ``new``."""
        if proposed.source == "person":
            return proposed
        original = proposed.mapped_from or proposed.keyword
        target = self._renames.get(keyword_key(proposed.keyword), proposed.keyword)
        found = self._words.get(keyword_key(leaf(target)))
        spelling = target if found is None or HIERARCHY_SEPARATOR in target else found.keyword
        if spelling == proposed.keyword:
            return msgspec.structs.replace(proposed, new=found is None)
        return msgspec.structs.replace(
            proposed, keyword=spelling, source="mapped", mapped_from=original, new=found is None
        )

    def map_values(self, values: Values) -> Values:
        """Every keyword of ``values`` mapped; two that map onto one word become one (the first, best score)."""
        kept: dict[str, DraftKeyword] = {}
        for keyword in values.keywords:
            mapped = self.map_keyword(keyword)
            key = keyword_key(mapped.keyword)
            if key not in kept:
                kept[key] = mapped
            elif mapped.score is not None and (kept[key].score or 0.0) < mapped.score:
                kept[key] = msgspec.structs.replace(kept[key], score=mapped.score)
        return msgspec.structs.replace(values, keywords=tuple(kept.values()))


def writer_keywords(keywords: Iterable[str], vocabulary: Vocabulary | None = None) -> list[str]:
    """``Proposed.keywords`` for the metadata writer: each keyword as its hierarchy path where the library keeps
    one (``Dog`` → ``Animals|Dog``: the writer puts the path in lr:hierarchicalSubject and its levels in
    dc:subject and IPTC), duplicates dropped."""
    out: dict[str, str] = {}
    for keyword in keywords:
        path = vocabulary.path_of(keyword) if vocabulary is not None else keyword
        out.setdefault(keyword_key(path), path)
    return list(out.values())


def keep_rate(proposed: Iterable[str], kept: Iterable[str]) -> float:
    """The share of proposed keywords a person kept (compared by ``keyword_key``): the review bench's measure."""
    wanted = {keyword_key(k) for k in proposed}
    if not wanted:
        return 0.0
    return len(wanted & {keyword_key(k) for k in kept}) / len(wanted)
