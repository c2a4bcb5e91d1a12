"""Groups without chains: each group is a reference (the best photo by pixels, then sharpness) and the photos within
the threshold of it; its label is its weakest score; re-grouping from the links at the floor equals a fresh grouping.
Pure logic on hand-made links (and hypothesis), then the real photos of scikit-image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFilter

from imageworks.similarity import Bands, Links, Neighbours, Quality, SimilarityCache, find_similar
from imageworks.similarity.groups import group, groups_from_links, links_of, reference_order
from imageworks.similarity.quality import measure, rank_key
from imageworks.tui.services.similar import next_threshold, on_grid

data = pytest.importorskip("skimage.data")


def neighbours(edges: list[tuple[int, int, float]]) -> Neighbours:
    a, b, s = zip(*edges, strict=True) if edges else ((), (), ())
    return Neighbours.from_pairs(np.array(a, np.int64), np.array(b, np.int64), np.array(s, np.float32), 100)


def quality(*pixels: int) -> dict[str, Quality]:
    """Photos ``p0``, ``p1``… of these pixel counts (the larger, the better reference)."""
    return {f"p{i}": Quality(n, 1, 1.0, 1000) for i, n in enumerate(pixels)}


def test_a_chain_is_cut_at_the_reference_and_the_label_is_the_weakest_score() -> None:
    paths = ["p0", "p1", "p2", "p3"]
    chain = neighbours([(0, 1, 0.95), (1, 2, 0.85), (2, 3, 0.85)])  # p0 - p1 - p2 - p3, no p0 - p2 link
    # p0 is the best photo: it takes p1 only; p2 then is the best left and takes p3 (never p1, already taken)
    groups = group(paths, chain, 0.82, Bands(), quality(400, 300, 200, 100))
    assert [g.paths for g in groups] == [["p0", "p1"], ["p2", "p3"]]
    assert [g.reference for g in groups] == ["p0", "p2"]
    assert [(g.weakest, g.verdict) for g in groups] == [(0.95, "duplicate"), (0.85, "similar")]
    # p1 the best: every photo it links to joins, each scored against it; the label is the weakest member's score
    (middle,) = group(paths, chain, 0.82, Bands(), quality(300, 400, 200, 100))[:1]
    assert middle.paths == ["p1", "p0", "p2"] and middle.reference == "p1"
    assert [(p.a, p.b, p.score, p.verdict) for p in middle.pairs] == [
        ("p1", "p0", 0.95, "duplicate"),
        ("p1", "p2", 0.85, "similar"),
    ]
    assert (middle.best, middle.weakest, middle.verdict) == (0.95, 0.85, "similar")  # not "duplicate": p2 is not


def test_the_reference_is_the_largest_then_the_sharpest_then_the_bigger_file() -> None:
    big, sharp, soft = Quality(400, 300, 5.0, 10), Quality(200, 150, 90.0, 10), Quality(200, 150, 10.0, 99)
    assert sorted(
        ["soft", "sharp", "big"], key=lambda p: rank_key(p, {"big": big, "sharp": sharp, "soft": soft}[p])
    ) == [
        "big",
        "sharp",
        "soft",
    ]
    assert rank_key("unread", None) > rank_key("zz", soft)  # a photo that could not be measured is never preferred


@st.composite
def linked_photos(draw: st.DrawFn) -> tuple[list[str], Neighbours, dict[str, Quality]]:
    n = draw(st.integers(2, 12))
    pairs = draw(
        st.lists(
            st.tuples(st.integers(0, n - 1), st.integers(0, n - 1), st.integers(32, 64)).filter(lambda t: t[0] != t[1]),
            max_size=30,
        )
    )
    pixels = draw(st.lists(st.integers(1, 5), min_size=n, max_size=n))
    paths = [f"p{i}" for i in range(n)]
    edges = [(a, b, bits / 64) for a, b, bits in pairs]  # hash scores: whole bits of 64
    return (
        paths,
        neighbours(edges),
        {p: Quality(px, 1, float(i), 1) for i, (p, px) in enumerate(zip(paths, pixels, strict=True))},
    )


def test_the_person_may_choose_the_sharpest_or_the_earliest_as_the_reference() -> None:
    # p0 the largest but soft and the newest; p1 the sharpest; p2 the earliest file; all three within 0.9 of each other
    q = {
        "p0": Quality(400, 300, 5.0, 10, mtime_ns=3_000),
        "p1": Quality(200, 150, 90.0, 10, mtime_ns=2_000),
        "p2": Quality(200, 150, 10.0, 99, mtime_ns=1_000),
    }
    found = neighbours([(0, 1, 0.95), (0, 2, 0.9), (1, 2, 0.9)])
    links = links_of(["p0", "p1", "p2"], found, 0.82, q)
    by_rule = {rule: groups_from_links(links, 0.82, Bands(), rule=rule) for rule in ("largest", "sharpest", "earliest")}
    assert {rule: [g.reference for g in gs] for rule, gs in by_rule.items()} == {
        "largest": ["p0"],
        "sharpest": ["p1"],
        "earliest": ["p2"],
    }
    sharpest = by_rule["sharpest"][0]  # every member scored against the chosen reference
    assert sharpest.paths == ["p1", "p0", "p2"] and [(p.a, p.b, p.score) for p in sharpest.pairs] == [
        ("p1", "p0", 0.95),
        ("p1", "p2", 0.9),
    ]
    assert by_rule["largest"] == group(["p0", "p1", "p2"], found, 0.82, Bands(), q)
    assert group(["p0", "p1", "p2"], found, 0.82, Bands(), q, rule="earliest") == by_rule["earliest"]
    # links from a daemon without the qualities: the ranked order stands, whatever the rule
    bare = Links(ranked=links.ranked, dimensions=links.dimensions, a=links.a, b=links.b, score=links.score)
    assert reference_order(bare, "earliest") == {0: 0, 1: 1, 2: 2}


@settings(max_examples=200, deadline=None)
@given(linked_photos(), st.integers(32, 64))
def test_every_member_is_within_the_threshold_of_its_reference_and_groups_never_share_a_photo(
    photos: tuple[list[str], Neighbours, dict[str, Quality]], bits: int
) -> None:
    paths, found, qualities = photos
    threshold = bits / 64
    score = {frozenset((paths[a], paths[b])): float(s) for a, b, s in zip(found.a, found.b, found.score, strict=True)}
    groups = group(paths, found, threshold, Bands(), qualities)
    seen: set[str] = set()
    for g in groups:
        assert g.paths[0] == g.reference and not seen & set(g.paths)
        seen |= set(g.paths)
        to_reference = [score[frozenset((g.reference, m))] for m in g.paths[1:]]  # a direct link, never a chain
        assert min(to_reference) >= threshold - 1e-6 and g.weakest == round(min(to_reference), 4)
        assert (g.verdict == "duplicate") == all(s >= 0.92 for s in to_reference)
        # the reference is the best photo of its group
        assert g.reference == min(g.paths, key=lambda p: rank_key(p, qualities[p]))
    # a photo left alone has no link at the threshold to any other photo left alone
    alone = [p for p in paths if p not in seen]
    assert not any(score.get(frozenset((x, y)), 0) >= threshold for x in alone for y in alone if x != y)


@settings(max_examples=200, deadline=None)
@given(linked_photos(), st.integers(32, 64), st.integers(0, 16))
def test_regrouping_from_the_links_at_the_floor_equals_a_fresh_grouping(
    photos: tuple[list[str], Neighbours, dict[str, Quality]], floor_bits: int, more_bits: int
) -> None:
    paths, found, qualities = photos
    floor, threshold = floor_bits / 64, min(64, floor_bits + more_bits) / 64
    at_floor = links_of(paths, found, floor, qualities)
    assert groups_from_links(at_floor, threshold, Bands()) == group(paths, found, threshold, Bands(), qualities)


def test_photos_moved_away_are_left_out_of_the_groups() -> None:
    links = links_of(["p0", "p1", "p2"], neighbours([(0, 1, 0.9), (0, 2, 0.9)]), 0.82, quality(3, 2, 1))
    assert [g.paths for g in groups_from_links(links, 0.82, Bands())] == [["p0", "p1", "p2"]]
    assert [g.paths for g in groups_from_links(links, 0.82, Bands(), without=frozenset({"p1"}))] == [["p0", "p2"]]
    assert groups_from_links(links, 0.82, Bands(), without=frozenset({"p0"})) == []  # no reference, no link left
    assert groups_from_links(Links(), 0.5, Bands()) == []


def test_threshold_steps_are_whole_hash_bits_and_every_step_is_a_new_threshold() -> None:
    step = 1 / 64
    assert on_grid(0.82, step) == 53 / 64  # the threshold hash scores can meet: 0.82 and 0.828 group alike
    assert next_threshold(0.82, 1, step) == 53 / 64 and next_threshold(0.82, -1, step) == 52 / 64
    assert next_threshold(53 / 64, 1, step) == 54 / 64 and next_threshold(53 / 64, -2, step) == 51 / 64
    assert next_threshold(0.82, 1, 0.01) == 0.83 and next_threshold(0.83, -1, 0.01) == 0.82
    # every press of a hash step changes the largest distance two linked photos may have (a 0.01 step does not)
    distances = [int((1 - t) * 64 + 1e-9) for t in (next_threshold(53 / 64, k, step) for k in range(5))]
    assert distances == [11, 10, 9, 8, 7]
    hundredths = [int((1 - t) * 64 + 1e-9) for t in (0.83, 0.84, 0.85, 0.86, 0.87)]
    assert len(set(hundredths)) < 5


# ---- real photos ----------------------------------------------------------------------------------------------


PHOTOS = (
    "astronaut", "brick", "camera", "chelsea", "clock", "coffee", "coins", "colorwheel", "grass", "gravel", "horse",
    "hubble_deep_field", "immunohistochemistry", "moon", "page", "text", "rocket", "cell",
)  # fmt: skip


def photo(name: str) -> Image.Image:
    return Image.fromarray(getattr(data, name)()).convert("RGB")


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eighteen unrelated photos, and for the cat: a half-size copy, a quality-15 re-encode and a blurred frame."""
    folder = tmp_path_factory.mktemp("library")
    for name in PHOTOS:
        photo(name).save(folder / f"{name}.jpg", quality=92)
    cat = photo("chelsea")
    cat.resize((cat.width // 2, cat.height // 2)).save(folder / "chelsea_half.jpg", quality=92)
    cat.save(folder / "chelsea_q15.jpg", quality=15)
    cat.filter(ImageFilter.GaussianBlur(2)).save(folder / "chelsea_blurred.jpg", quality=92)
    return folder


def test_at_a_low_threshold_unrelated_photos_do_not_chain_into_one_group(library: Path, xdg: dict) -> None:
    paths = sorted(str(p) for p in library.iterdir())
    with SimilarityCache() as cache:
        loose = find_similar(paths, cache=cache, threshold=0.6)
        strict = find_similar(paths, cache=cache, threshold=0.82)  # from the stored search: nothing hashed again
        digests = {p: d for p, (d, _) in cache.cached_hashes(_fingerprints(paths), "phash", 8).items()}

    def score(a: str, b: str) -> float:  # recomputed here from the hashes: independent of the grouping
        digest_a, digest_b = digests[a], digests[b]
        assert digest_a is not None and digest_b is not None
        bits = np.unpackbits(np.frombuffer(digest_a, np.uint8) ^ np.frombuffer(digest_b, np.uint8)).sum()
        return 1 - bits / 64

    assert loose.groups
    for g in loose.groups:
        assert all(score(g.reference, m) >= 0.6 for m in g.paths[1:]), g
        assert g.weakest == round(min(score(g.reference, m) for m in g.paths[1:]), 4)
    # a chain through 21 photos made one group of most of them; around a reference none holds more than a few
    assert max(len(g.paths) for g in loose.groups) < len(paths) // 2
    cat = next(g for g in strict.groups if "chelsea" in g.reference)
    # the original is the reference: larger than the half-size copy, sharper than the re-encode and the blurred frame
    assert Path(cat.reference).name == "chelsea.jpg"
    assert {Path(p).name for p in cat.paths} >= {"chelsea.jpg", "chelsea_half.jpg", "chelsea_q15.jpg"}
    sharp, blurred = measure(str(library / "chelsea.jpg")), measure(str(library / "chelsea_blurred.jpg"))
    assert sharp is not None and blurred is not None and sharp.sharpness > 10 * blurred.sharpness
    assert (sharp.width, sharp.height) == (451, 300) and cat.dimensions[0] == (451, 300)


def _fingerprints(paths: list[str]) -> list:
    from imageworks.similarity.search import fingerprints

    return fingerprints(paths)[0]
