"""A writer's own keyword namespace (``Proposed.own_keyword_prefix``, the mono desk's ``mono:``): merge replaces
the writer's earlier keyword of that namespace, keeps every other keyword, and changes nothing when it repeats."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from imageworks.metadata import fields as F
from imageworks.metadata.merge import plan_changes
from imageworks.metadata.plan import Proposed

ALL = frozenset({"xmp", "iptc", "exif"})


def subjects_after(existing: list[str], proposed: Proposed) -> list[str] | None:
    current = {F.XMP_SUBJECT: existing} if existing else {}
    changes = plan_changes(current, proposed, "merge", writable=ALL).changes
    return next((c.new for c in changes if c.field == F.XMP_SUBJECT), existing)  # type: ignore[return-value]


def test_the_old_verdict_is_replaced_and_the_persons_keywords_kept() -> None:
    new = Proposed(keywords=["mono:not-mono"], own_keyword_prefix="mono:")
    assert subjects_after(["family", "Mono:Query", "beach"], new) == ["family", "beach", "mono:not-mono"]


def test_the_same_verdict_changes_nothing() -> None:
    same = Proposed(keywords=["mono:toned"], own_keyword_prefix="mono:")
    current = {F.XMP_SUBJECT: ["family", "mono:toned"]}
    assert plan_changes(current, same, "merge", writable=ALL).changes == []


def test_without_a_prefix_merge_only_adds() -> None:
    plain = Proposed(keywords=["mono:not-mono"])
    assert subjects_after(["mono:query"], plain) == ["mono:query", "mono:not-mono"]


@given(st.lists(st.sampled_from(["a", "b", "mono:query", "mono:toned", "monotone", "x y"]), max_size=6, unique=True))
def test_only_the_namespace_is_touched(existing: list[str]) -> None:
    after = subjects_after(existing, Proposed(keywords=["mono:neutral"], own_keyword_prefix="mono:")) or []
    assert [k for k in after if not k.startswith("mono:")] == [k for k in existing if not k.startswith("mono:")]
    assert [k for k in after if k.startswith("mono:")] == ["mono:neutral"]
