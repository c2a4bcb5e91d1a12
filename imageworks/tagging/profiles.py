"""Prompt profiles: named, versioned data. An unknown profile is an error, never a fallback.

A profile is a list of steps; each step is one request per image. ``{max_keywords}``, ``{caption}`` and
``{keywords}`` in a template are filled from the job's params and the earlier steps' parsed output.
"""

from __future__ import annotations

from typing import Literal

import msgspec

StepName = Literal["caption", "keywords", "description", "all"]


class PromptStep(msgspec.Struct, frozen=True, kw_only=True):
    name: StepName
    template: str
    system: str = "You are a photo cataloguing assistant. Answer only with what is asked."
    max_new_tokens: int = 96


class Profile(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    version: int
    steps: tuple[PromptStep, ...]
    description: str = ""


CAPTION = PromptStep(
    name="caption",
    template="Write a caption for this photo: at most two sentences, under 200 characters.",
    max_new_tokens=64,
)
KEYWORDS = PromptStep(
    name="keywords",
    template=(
        "List up to {max_keywords} keywords for this photo, most important first, lowercase. "
        'Answer as JSON: {{"keywords": ["..."]}}'
    ),
    max_new_tokens=96,
)
DESCRIPTION = PromptStep(
    name="description",
    template=(
        "Caption: {caption}\nKeywords: {keywords}\n"
        "Describe this photo in three or four sentences, using the caption and keywords where they fit."
    ),
    max_new_tokens=160,
)
SINGLE = PromptStep(
    name="all",
    template=(
        "Describe this photo for a catalogue. Answer as JSON with the keys "
        '"caption" (at most two sentences), "keywords" (up to {max_keywords}, lowercase) '
        'and "description" (three or four sentences).'
    ),
    max_new_tokens=256,
)

BUILTIN: dict[str, Profile] = {
    "three-step": Profile(
        name="three-step",
        version=1,
        steps=(CAPTION, KEYWORDS, DESCRIPTION),
        description="The original's caption → keywords → description, the last conditioned on the first two.",
    ),
    "single-pass": Profile(
        name="single-pass",
        version=1,
        steps=(SINGLE,),
        description="One request per image returning caption, keywords and description as JSON.",
    ),
}


def render(step: PromptStep, *, max_keywords: int, caption: str = "", keywords: list[str] | None = None) -> str:
    """The prompt text of one step for one image."""
    return step.template.format(
        max_keywords=max_keywords, caption=caption, keywords=", ".join(keywords or [])
    )
