"""Prompt profiles: built-ins stay stable, user profiles load from the config dir with clear errors, and an
unknown name is an error listing the known ones, never a fallback."""

from __future__ import annotations

from pathlib import Path

import pytest

from imageworks.errors import ImageWorksError
from imageworks.tagging.profiles import (
    BUILTIN,
    Profile,
    ProfileError,
    PromptStep,
    check_profile,
    get_profile,
    list_profiles,
    load_user_profiles,
    profile_digest,
    profile_from_dict,
    profile_to_dict,
    profiles_dir,
    render,
)

GOOD = """\
version = 2
description = "Short captions"

[[steps]]
name = "caption"
template = "One sentence caption."
max_new_tokens = 40

[[steps]]
name = "keywords"
template = "Up to {max_keywords} keywords for: {caption}"
"""
STEP = "[[steps]]\nname = '{}'\ntemplate = 'x'\n"


def write(name: str, text: str) -> Path:
    directory = profiles_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_builtin_prompt_texts_are_stable() -> None:
    # a tiny test model is trained on exactly these texts: changing one is a deliberate, announced act
    three = BUILTIN["three-step"]
    assert [s.name for s in three.steps] == ["caption", "keywords", "description"]
    assert render(three.steps[0], max_keywords=25) == (
        "Write a caption for this photo: at most two sentences, under 200 characters."
    )
    assert render(three.steps[1], max_keywords=25) == (
        'List up to 25 keywords for this photo, most important first, lowercase. Answer as JSON: {"keywords": ["..."]}'
    )
    assert render(three.steps[2], max_keywords=25, caption="A bus.", keywords=["bus", "red"]) == (
        "Caption: A bus.\nKeywords: bus, red\n"
        "Describe this photo in three or four sentences, using the caption and keywords where they fit."
    )
    single = BUILTIN["single-pass"]
    assert [s.name for s in single.steps] == ["all"]
    assert render(single.steps[0], max_keywords=7) == (
        'Describe this photo for a catalogue. Answer as JSON with the keys "caption" (at most two sentences), '
        '"keywords" (up to 7, lowercase) and "description" (three or four sentences).'
    )
    for profile in BUILTIN.values():
        assert check_profile(profile) is profile and profile.version == 1


def test_builtin_profiles_by_name() -> None:
    assert get_profile("three-step") is BUILTIN["three-step"]
    assert get_profile("single-pass") is BUILTIN["single-pass"]


def test_unknown_profile_is_an_error_listing_the_known_ones() -> None:
    write("mine", GOOD)
    with pytest.raises(ProfileError) as info:
        get_profile("three_step")
    assert isinstance(info.value, ImageWorksError)
    message = str(info.value)
    assert "'three_step'" in message and "single-pass, three-step, mine" in message and str(profiles_dir()) in message


@pytest.mark.parametrize("name", ["", "../etc/passwd", "Mine", "a/b", "x" * 100])
def test_odd_names_are_unknown_not_paths(name: str) -> None:
    write("mine", GOOD)
    with pytest.raises(ProfileError, match="unknown prompt profile"):
        get_profile(name)


def test_user_profile_loads_from_the_config_dir() -> None:
    write("mine", GOOD)
    profile = get_profile("mine")
    assert profile.name == "mine" and profile.version == 2 and profile.description == "Short captions"
    assert [s.name for s in profile.steps] == ["caption", "keywords"]
    assert profile.steps[0].max_new_tokens == 40 and profile.steps[1].max_new_tokens == 96
    assert render(profile.steps[1], max_keywords=5, caption="A bus.") == "Up to 5 keywords for: A bus."
    assert [p.name for p in list_profiles()] == ["single-pass", "three-step", "mine"]


def test_no_profiles_dir_is_fine() -> None:
    assert not profiles_dir().exists()
    assert [p.name for p in list_profiles()] == ["single-pass", "three-step"]
    assert load_user_profiles() == ({}, [])


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("version = 1\n[[steps]]\nname = 'caption'\ntemplate = 'x'\ncolour = 'red'\n", "unknown field `colour`"),
        ("version = 1\nsteps = []\n", "at least one step"),
        ("version = 0\n[[steps]]\nname = 'caption'\ntemplate = 'x'\n", "version must be 1 or more"),
        ("[[steps]]\nname = 'caption'\ntemplate = 'x'\n", "missing required field `version`"),
        ("version = 1\n[[steps]]\nname = 'critique'\ntemplate = 'x'\n", "$.steps[0].name"),
        ("version = 1\n[[steps]]\nname = 'caption'\ntemplate = 'Say {caption}'\n", "unknown placeholder {caption}"),
        (
            "version = 1\n[[steps]]\nname = 'caption'\ntemplate = 'Say {colour}'\n",
            "unknown placeholder {colour} (this step may use {max_keywords}; write a literal brace as {{ or }})",
        ),
        ("version = 1\n[[steps]]\nname = 'caption'\ntemplate = 'x {max_keywords!r}'\n", "conversions"),
        ("version = 1\n[[steps]]\nname = 'caption'\ntemplate = 'x {} y'\n", "unknown placeholder {}"),
        ("version = 1\n[[steps]]\nname = 'caption'\ntemplate = 'JSON: {\"a\": 1}'\n", "unknown placeholder"),
        ("version = 1\n[[steps]]\nname = 'caption'\ntemplate = 'x {'\n", "bad braces"),
        ("version = 1\n[[steps]]\nname = 'caption'\ntemplate = 'x {caption.__class__}'\n", "unknown placeholder"),
        ("version = 1\n[[steps]]\nname = 'caption'\ntemplate = '  '\n", "template is empty"),
        ("version = 1\n[[steps]]\nname = 'caption'\ntemplate = 'x'\nmax_new_tokens = 0\n", "max_new_tokens"),
        ("version = 1\n" + STEP.format("caption") + STEP.format("caption"), "twice"),
        ("version = 1\n" + STEP.format("all") + STEP.format("caption"), "only step"),
        ("version = 1\nname = 'other'\n[[steps]]\nname = 'caption'\ntemplate = 'x'\n", "differs from the file name"),
        ("version = \n", "cannot read profile"),
    ],
)  # fmt: skip
def test_invalid_user_profiles_are_clear_errors(text: str, problem: str) -> None:
    path = write("broken", text)
    with pytest.raises(ProfileError) as info:
        get_profile("broken")
    assert problem in str(info.value) and str(path) in str(info.value)
    with pytest.raises(ProfileError, match=r"broken\.toml"):
        list_profiles()
    found, problems = load_user_profiles()
    assert found == {} and len(problems) == 1 and problem in problems[0]


def test_a_bad_file_does_not_hide_good_ones_or_builtins() -> None:
    write("mine", GOOD)
    write("broken", "version = 'x'\n")
    found, problems = load_user_profiles()
    assert list(found) == ["mine"] and len(problems) == 1
    assert get_profile("mine").name == "mine"
    assert get_profile("three-step") is BUILTIN["three-step"]


def test_user_profiles_cannot_shadow_builtins() -> None:
    write("three-step", GOOD)
    assert get_profile("three-step") is BUILTIN["three-step"]
    with pytest.raises(ProfileError, match="built-in"):
        list_profiles()


def test_later_steps_may_use_earlier_outputs() -> None:
    write(
        "chain",
        "version = 1\n[[steps]]\nname = 'keywords'\ntemplate = 'k {max_keywords}'\n"
        "[[steps]]\nname = 'caption'\ntemplate = 'c from {keywords}'\n"
        "[[steps]]\nname = 'description'\ntemplate = '{caption} / {keywords} {{literal}}'\n",
    )
    profile = get_profile("chain")
    assert render(profile.steps[2], max_keywords=3, caption="C", keywords=["a"]) == "C / a {literal}"


def test_dict_round_trip_and_digest() -> None:
    for profile in BUILTIN.values():
        assert profile_from_dict(profile_to_dict(profile)) == profile
        assert profile_digest(profile) == profile_digest(profile_from_dict(profile_to_dict(profile)))
    three = BUILTIN["three-step"]
    changed = Profile(
        name=three.name,
        version=three.version,
        steps=(PromptStep(name="caption", template="Other words."), *three.steps[1:]),
    )
    assert profile_digest(changed) != profile_digest(three)
    assert len(profile_digest(three)) == 12
    with pytest.raises(ProfileError, match="job: "):
        profile_from_dict({"name": "x", "version": 1, "steps": "nope"}, source="job")
