"""The review filter language: parser (plain asserts + hypothesis), and SQL and Python predicate agreeing."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imageworks.review import edits as E
from imageworks.review.query import And, Node, Not, Or, QueryError, Term, matches, parse, to_sql, unparse
from imageworks.review.store import DraftStore
from tests.test_review_support import generated


def test_the_issues_example() -> None:
    node = parse('kw:beach status:pending -kw:people caption:"sunset" new:yes')
    assert node == And(
        (
            Term("kw", "beach"),
            Term("status", "pending"),
            Not(Term("kw", "people")),
            Term("caption", "sunset"),
            Term("new", "yes"),
        )
    )


def test_or_binds_looser_than_and_and_operators_are_upper_case() -> None:
    assert parse("a b OR c") == Or((And((Term(None, "a"), Term(None, "b"))), Term(None, "c")))
    assert parse("a | (b AND NOT c)") == Or((Term(None, "a"), And((Term(None, "b"), Not(Term(None, "c"))))))
    assert parse("cats or dogs") == And((Term(None, "cats"), Term(None, "or"), Term(None, "dogs")))
    assert parse('"black and white" desc:"two people"') == And(
        (Term(None, "black and white"), Term("description", "two people"))
    )
    assert parse("   ") is None and to_sql(None) == ("1", [])


@pytest.mark.parametrize(
    ("text", "column", "words"),
    [
        ("kw:", 1, "kw needs a value"),
        ("kw:beach colour:red", 10, "unknown field 'colour'"),
        ('caption:"sunset', 9, "quote is not closed"),
        ("(kw:a OR kw:b", 1, "'(' is not closed"),
        ("kw:a)", 5, "unmatched ')'"),
        ("status:done", 1, "unknown status 'done'"),
        ("OR kw:a", 1, "'OR' needs a term"),
        ("kw:a AND", 9, "ends where a term was expected"),
        ("new:maybe", 1, "takes yes or no"),
    ],
)
def test_a_bad_query_gets_one_line_naming_the_column(text: str, column: int, words: str) -> None:
    with pytest.raises(QueryError) as info:
        parse(text)
    message = str(info.value)
    assert message.startswith(f"bad query at column {column}: ") and words in message and "\n" not in message
    assert info.value.position == column - 1


VALUE = st.text(alphabet=st.characters(exclude_characters='"\x00', exclude_categories=["Cs"]), min_size=1).filter(
    lambda v: v.strip() != ""
)
TERMS = st.one_of(
    st.builds(Term, st.none(), VALUE),
    st.builds(Term, st.sampled_from(["caption", "description", "path"]), VALUE),
    st.builds(Term, st.just("kw"), st.text(alphabet="abc Dogs|", min_size=1).filter(lambda v: v.strip("| ") != "")),
    st.builds(Term, st.just("status"), st.sampled_from(["pending", "approved", "rejected", "committed", "stale"])),
    st.builds(Term, st.sampled_from(["new", "edited", "proposal"]), st.sampled_from(["yes", "no"])),
)
TREES = st.recursive(
    TERMS,
    lambda inner: st.one_of(
        st.builds(Not, inner),
        st.builds(lambda xs: And(tuple(xs)), st.lists(inner, min_size=2, max_size=3)),
        st.builds(lambda xs: Or(tuple(xs)), st.lists(inner, min_size=2, max_size=3)),
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(TREES)
def test_unparse_then_parse_gives_the_same_tree(node: Node) -> None:
    assert parse(unparse(node)) == node


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet='kw:status pending"()-|ORANDNOTab ', max_size=30))
def test_any_text_parses_or_fails_with_a_query_error_inside_the_text(text: str) -> None:
    try:
        node = parse(text)
    except QueryError as exc:
        assert 0 <= exc.position <= len(text)
    else:
        to_sql(node)  # every tree the parser makes compiles


@pytest.fixture(scope="module")
def library() -> Iterator[DraftStore]:
    """A store holding drafts with a spread of statuses, keywords, captions and flags."""
    with tempfile.TemporaryDirectory() as tmp, DraftStore(Path(tmp) / "drafts.sqlite3") as store:
        words = ["beach", "Dogs", "Animals|Dog", "people", "sunset sky", "Café"]
        for i in range(24):
            path = f"/lib/{'sub/' if i % 3 == 0 else ''}img{i:02d}.jpg"
            keywords = [w for j, w in enumerate(words) if (i >> (j % 5)) & 1 or j == i % 6]
            store.upsert_generated(generated(path, keywords, caption=f"caption {i} Sunset" * (i % 2)))
            draft = store.get(path)
            assert draft is not None
            if i % 4 == 1:
                store.apply(E.Approve(path=path), draft.version)
            elif i % 4 == 2:
                store.apply(E.RejectKeyword(path=path, keyword=keywords[0]), draft.version)
            elif i % 7 == 3:
                store.upsert_generated(generated(path, ["harbour"], job_id="job2"))
        yield store


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(TREES, st.just(Term("kw", "dog")), st.just(Term("kw", "animals")), st.just(Term(None, "CAFÉ"))))
def test_sql_and_the_python_predicate_agree(library: DraftStore, node: Node) -> None:
    text = unparse(node)
    everything = library.list_drafts(limit=1000).drafts
    by_sql = [d.path for d in library.list_drafts(filter=text, limit=1000).drafts]
    assert by_sql == [d.path for d in everything if matches(node, d)]


def test_keyword_terms_match_case_plural_and_hierarchy_levels(library: DraftStore) -> None:
    dogs = {d.path for d in library.list_drafts(filter="kw:dog", limit=1000).drafts}
    assert dogs and all(
        any(k in ("Dogs", "Animals|Dog") for k in d.edited.kept_keywords)
        for d in library.list_drafts(filter="kw:DOG", limit=1000).drafts
    )
    assert {d.path for d in library.list_drafts(filter="kw:animals", limit=1000).drafts} <= dogs
