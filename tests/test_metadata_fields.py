"""The pure part of the writer: truncation at limits, keyword clean-up and union, and what each mode changes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from imageworks.metadata import fields as F
from imageworks.metadata import merge as M
from imageworks.metadata.plan import FieldChange, Plan, Proposed, Provenance
from imageworks.metadata.provenance import PROV_MODEL, PROV_PROFILE_VERSION

ALL = frozenset({"xmp", "iptc", "exif"})


def changes(current: dict, proposed: Proposed, mode: str = "merge", **kw) -> dict[str, object]:
    result = M.plan_changes(current, proposed, mode, writable=kw.pop("writable", ALL), **kw)  # type: ignore[arg-type]
    return {c.field: c.new for c in result.changes}


# --- truncation ----------------------------------------------------------------------------------------------


@given(st.text(max_size=80), st.integers(min_value=0, max_value=120), st.sampled_from(["utf-8", "utf-16-le"]))
@settings(max_examples=300, deadline=None)
def test_truncate_is_a_prefix_within_the_limit_and_valid(text: str, limit: int, encoding: str) -> None:
    cut = F.truncate(text, limit, encoding)
    assert text.startswith(cut)
    encoded = cut.encode(encoding)
    assert len(encoded) <= limit
    assert encoded.decode(encoding) == cut  # whole characters only: never half a UTF-8 sequence or surrogate pair
    if len(text.encode(encoding)) <= limit:
        assert cut == text
    if cut and len(cut) < len(text):
        assert not F._joins_previous(text[len(cut)])  # an accent or emoji modifier stays with its character
        assert not cut.endswith("\u200d")


def test_truncate_examples() -> None:
    assert F.truncate("日本語", 7) == "日本"  # 3 bytes each: the third would need 9
    assert F.truncate("cafe\u0301!", 5) == "caf"  # "e" + combining acute go together
    assert F.truncate("ab👨‍👩‍👧", 10) == "ab"  # no half a ZWJ family
    assert F.truncate("a😀b", 5, "utf-16-le") == "a"  # the emoji is a surrogate pair (4 bytes) in UTF-16
    assert F.truncate("ü" * 40, 64) == "ü" * 32


# --- keywords ------------------------------------------------------------------------------------------------


def test_normalise_and_flatten_keywords() -> None:
    raw = ["  Beach ", "beach", "places | sea", "", " | ", "two  words", "Places|Sea"]
    assert F.normalise_keywords(raw) == ["Beach", "places|sea", "two words"]
    assert F.flat_keywords(["places|sea", "sea", "animals|birds|gull"]) == ["places", "sea", "animals", "birds", "gull"]


@given(
    st.lists(st.text(alphabet="abcAB ", min_size=1, max_size=4), max_size=6),
    st.lists(st.text(alphabet="abcAB ", min_size=1, max_size=4), max_size=6),
)
def test_union_keeps_existing_in_order_and_adds_only_missing(existing: list[str], new: list[str]) -> None:
    merged = F.union(existing, new)
    assert merged[: len(existing)] == existing
    folded = {" ".join(k.split()).casefold() for k in existing}
    for added in merged[len(existing) :]:
        assert " ".join(added.split()).casefold() not in folded
        folded.add(" ".join(added.split()).casefold())


# --- modes ---------------------------------------------------------------------------------------------------


def test_skip_leaves_a_file_with_keywords_or_text_alone() -> None:
    proposed = Proposed(caption="c", keywords=["k"])
    for current in ({F.IPTC_KEYWORDS: ["mine"]}, {F.XMP_DESCRIPTION: "mine"}, {F.IPTC_OBJECT_NAME: "mine"}):
        result = M.plan_changes(current, proposed, "skip", writable=ALL)
        assert result.changes == [] and result.reason.startswith("skip: already has")


def test_camera_default_description_does_not_count_as_a_persons() -> None:
    current = {F.EXIF_DESCRIPTION: "OLYMPUS DIGITAL CAMERA         "}
    got = changes(current, Proposed(description="A heron."), "skip")
    assert got[F.EXIF_DESCRIPTION] == "A heron." and got[F.XMP_DESCRIPTION] == "A heron."


def test_merge_fills_only_empty_text_and_never_clears() -> None:
    current = {F.XMP_TITLE: "My title"}
    got = changes(current, Proposed(caption="model caption", description="model description"))
    assert F.XMP_TITLE not in got and F.XP_TITLE not in got  # the person has a caption: ours goes nowhere
    assert got[F.IPTC_CAPTION] == "model description"
    assert changes({F.XMP_SUBJECT: ["a"]}, Proposed(caption="", keywords=[])) == {}


def test_merge_seeds_the_hierarchy_with_the_persons_flat_keywords() -> None:
    # digiKam reads lr:hierarchicalSubject before dc:subject: a hierarchy of only ours would hide theirs
    got = changes({F.XMP_SUBJECT: ["Anna", "Rome"]}, Proposed(keywords=["places|colosseum"]))
    assert got[F.XMP_HIERARCHICAL] == ["Anna", "Rome", "places|colosseum"]
    assert got[F.XMP_SUBJECT] == ["Anna", "Rome", "places", "colosseum"]
    assert got[F.IPTC_KEYWORDS] == got[F.XMP_SUBJECT] and got[F.IPTC_CHARSET] == "UTF8"


def test_merge_gathers_keywords_from_every_field_for_every_field() -> None:
    current = {F.XMP_SUBJECT: ["a"], F.IPTC_KEYWORDS: ["b"], F.XP_KEYWORDS: ["c", "A"]}
    got = changes(current, Proposed(keywords=["d"]))
    assert got[F.XMP_SUBJECT] == got[F.IPTC_KEYWORDS] == got[F.XP_KEYWORDS] == ["a", "b", "c", "d"]


@given(
    st.lists(st.sampled_from(["a", "B", "c d", "x|y", "日本"]), max_size=4),
    st.lists(st.sampled_from(["a", "b", "e", "x|y", "z|a", "😀"]), max_size=4),
    st.sampled_from(["merge", "overwrite", "skip"]),
)
def test_a_second_identical_write_changes_nothing(existing: list[str], new: list[str], mode: str) -> None:
    current: dict = {F.XMP_SUBJECT: F.flat_keywords(existing)} if existing else {}
    proposed = Proposed(caption="cap", keywords=new)
    first = M.plan_changes(current, proposed, mode, writable=ALL)  # type: ignore[arg-type]
    after = {**current, **{c.field: c.new for c in first.changes}}
    after = {k: v for k, v in after.items() if v is not None}
    second = M.plan_changes(after, proposed, mode, writable=ALL)  # type: ignore[arg-type]
    assert second.changes == []
    if mode == "merge":  # merge never loses one of the person's keywords, and keeps their order
        assert after.get(F.XMP_SUBJECT, [])[: len(current.get(F.XMP_SUBJECT, []))] == current.get(F.XMP_SUBJECT, [])


def test_overwrite_none_leaves_a_field_empty_clears_it() -> None:
    current = {F.XMP_TITLE: "t", F.XMP_DESCRIPTION: "d", F.XMP_SUBJECT: ["k"], F.IPTC_CAPTION: "d"}
    got = changes(current, Proposed(caption=None, description="", keywords=["n"]), "overwrite")
    assert F.XMP_TITLE not in got
    assert got[F.XMP_DESCRIPTION] is None and got[F.IPTC_CAPTION] is None
    assert got[F.XMP_SUBJECT] == ["n"]


def test_formats_without_a_group_report_it_instead_of_writing() -> None:
    result = M.plan_changes({}, Proposed(keywords=["k"]), "merge", writable=frozenset({"xmp", "exif"}))
    assert not any(c.field.startswith("IPTC:") for c in result.changes)
    assert result.skipped == ["IPTC Keywords and Caption-Abstract (this format cannot hold IPTC)"]
    legacy = M.plan_changes({}, Proposed(keywords=["k"]), "merge", writable=ALL, iptc_legacy=True)
    assert not any(c.field.startswith("IPTC:") for c in legacy.changes)
    assert any("not UTF-8" in s for s in legacy.skipped)


def test_provenance_only_with_a_change_and_charset_only_with_iptc() -> None:
    prov = Provenance(model="m", profile="p", profile_version="2", date="2025-01-01T00:00:00+00:00", tool="IW")
    none = M.plan_changes({F.XMP_SUBJECT: ["k"]}, Proposed(keywords=["k"], provenance=prov), "merge", writable=ALL)
    assert none.changes == []
    some = changes({}, Proposed(caption="c", provenance=prov))
    assert some[PROV_MODEL] == "m" and some[PROV_PROFILE_VERSION] == "2"
    assert F.IPTC_CHARSET not in some  # a caption touches no IPTC field


def test_truncation_is_reported_only_for_fields_written() -> None:
    long = "ü" * 3000
    written = M.plan_changes({}, Proposed(description=long), "merge", writable=ALL)
    assert any(n.startswith("IPTC:Caption-Abstract: cut from 6000 to 2000 bytes") for n in written.truncated)
    kept = M.plan_changes({F.XMP_DESCRIPTION: "mine"}, Proposed(description=long), "merge", writable=ALL)
    assert kept.truncated == [] and kept.changes == []


def test_xp_keywords_drop_whole_keywords_at_the_limit_and_type_prefix_is_refused() -> None:
    many = [f"keyword number {i:03d}" for i in range(150)]
    result = M.plan_changes({}, Proposed(keywords=[*many, "type=Bag"]), "overwrite", writable=ALL)
    xp = next(c.new for c in result.changes if c.field == F.XP_KEYWORDS)
    assert isinstance(xp, list) and xp == many[: len(xp)] and len(";".join(xp).encode("utf-16-le")) <= 4000
    assert any("left out" in n and "XPKeywords" in n for n in result.truncated)
    assert any("type=Bag" in n for n in result.truncated)
    assert all("type=Bag" not in (c.new or []) for c in result.changes if isinstance(c.new, list))


def test_describe_reads_like_a_diff() -> None:
    plan = Plan(
        path="/p/a.jpg",
        target="/p/a.jpg",
        format="jpeg",
        sidecar=False,
        mode="merge",
        changes=[
            FieldChange(F.XMP_SUBJECT, ["Anna"], ["Anna", "beach"]),
            FieldChange(F.XMP_TITLE, None, "A beach"),
            FieldChange(F.XMP_DESCRIPTION, "old", None),
        ],
        truncated=["IPTC:Keywords: 'x' cut"],
    )
    assert plan.describe() == [
        "/p/a.jpg (JPEG, in file, mode merge)",
        "  XMP-dc:Subject: + beach  (kept 1: Anna)",
        "  XMP-dc:Title: (empty) → 'A beach'",
        "  XMP-dc:Description: 'old' → (removed)",
        "  truncated: IPTC:Keywords: 'x' cut",
    ]
