"""Prompt profiles: named, versioned data. An unknown profile is an error, never a fallback.

A profile is a list of steps; each step is one request per image. ``{max_keywords}``, ``{caption}`` and
``{keywords}`` in a template are filled from the job's params and the earlier steps' parsed output.

Users add profiles as TOML files in ``<config dir>/profiles/<name>.toml``::

    version = 1
    description = "Short captions for a stock library"

    [[steps]]
    name = "caption"
    template = "Write a caption for this photo in one sentence."
    max_new_tokens = 48

    [[steps]]
    name = "keywords"
    template = "List up to {max_keywords} keywords for this photo, comma separated."

A file is checked in full when it is loaded (unknown keys, step order, placeholders); a bad file is an error
that names the file and the problem. User profiles cannot shadow the built-in names.
"""

from __future__ import annotations

import hashlib
import re
import string
import sys
from pathlib import Path
from typing import Any, Literal

import msgspec

from imageworks import paths
from imageworks.errors import ImageWorksError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

StepName = Literal["caption", "keywords", "description", "all"]


class ProfileError(ImageWorksError):
    """A prompt profile is unknown or its file is invalid."""


class PromptStep(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: StepName
    template: str
    system: str = "You are a photo cataloguing assistant. Answer only with what is asked."
    max_new_tokens: int = 96


class Profile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
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
    return step.template.format(max_keywords=max_keywords, caption=caption, keywords=", ".join(keywords or []))


# ---- user profiles ------------------------------------------------------------------------------------------

PROFILE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
"""Profile names: lowercase, digits, ``.``, ``_``, ``-``; they are also file names, so nothing else."""
MAX_NEW_TOKENS_LIMIT = 4096
_PLACEHOLDERS_FROM_STEPS = ("caption", "keywords")


def profiles_dir() -> Path:
    """Where user profiles live: ``<config dir>/profiles/*.toml``."""
    return paths.config_dir() / "profiles"


def _template_fields(template: str) -> list[tuple[str, str | None]]:
    """(field name, conversion) of every ``{...}`` in a template; raises ValueError on unbalanced braces."""
    return [(field, conversion) for _, field, _, conversion in string.Formatter().parse(template) if field is not None]


def check_profile(profile: Profile) -> Profile:
    """Check the rules msgspec's types cannot express; return the profile or raise ProfileError.

    Rules: a name fit for a file name; version >= 1; at least one step; no step twice; ``all`` only alone;
    a template uses only ``{max_keywords}`` and the output of *earlier* steps (``{caption}``, ``{keywords}``);
    ``max_new_tokens`` between 1 and 4096.
    """
    if not PROFILE_NAME.fullmatch(profile.name):
        raise ProfileError(f"profile name {profile.name!r}: use lowercase letters, digits, '.', '_' or '-'")
    if profile.version < 1:
        raise ProfileError(f"profile {profile.name!r}: version must be 1 or more, not {profile.version}")
    if not profile.steps:
        raise ProfileError(f"profile {profile.name!r}: needs at least one step")
    names = [step.name for step in profile.steps]
    if len(set(names)) != len(names):
        raise ProfileError(f"profile {profile.name!r}: a step appears twice ({', '.join(names)})")
    if "all" in names and len(names) > 1:
        raise ProfileError(f"profile {profile.name!r}: the 'all' step answers everything and must be the only step")
    done: list[str] = []
    for step in profile.steps:
        where = f"profile {profile.name!r}, step {step.name!r}"
        if not step.template.strip():
            raise ProfileError(f"{where}: the template is empty")
        if not 1 <= step.max_new_tokens <= MAX_NEW_TOKENS_LIMIT:
            raise ProfileError(f"{where}: max_new_tokens must be 1..{MAX_NEW_TOKENS_LIMIT}, not {step.max_new_tokens}")
        allowed = {"max_keywords", *(n for n in done if n in _PLACEHOLDERS_FROM_STEPS)}
        try:
            fields = _template_fields(step.template)
        except ValueError as exc:
            raise ProfileError(
                f"{where}: bad braces in the template ({exc}); write a literal brace as {{{{ or }}}}"
            ) from None
        for field, conversion in fields:
            if field not in allowed:
                known = ", ".join("{" + a + "}" for a in sorted(allowed))
                raise ProfileError(
                    f"{where}: unknown placeholder {{{field}}} (this step may use {known}; "
                    "write a literal brace as {{ or }})"
                )
            if conversion is not None:
                raise ProfileError(f"{where}: placeholder {{{field}!{conversion}}}: conversions are not allowed")
        try:
            render(step, max_keywords=25, caption="a caption", keywords=["a", "b"])
        except (ValueError, KeyError, IndexError) as exc:
            raise ProfileError(f"{where}: the template cannot be filled in: {exc}") from None
        done.append(step.name)
    return profile


def profile_from_dict(data: dict[str, Any], *, source: str = "") -> Profile:
    """Build and check a profile from plain data (a TOML file, a job's params); ProfileError names ``source``."""
    prefix = f"{source}: " if source else ""
    try:
        profile = msgspec.convert(data, Profile)
    except msgspec.ValidationError as exc:
        raise ProfileError(f"{prefix}invalid profile: {exc}") from None
    try:
        return check_profile(profile)
    except ProfileError as exc:
        raise ProfileError(f"{prefix}{exc}") from None


def profile_to_dict(profile: Profile) -> dict[str, Any]:
    """Plain JSON data (lists, not tuples: what a journal gives back); ``profile_from_dict`` reads it back."""
    return msgspec.json.decode(msgspec.json.encode(profile))


def profile_digest(profile: Profile) -> str:
    """A short hash of everything in the profile, so records show when a profile changed without a new version."""
    return hashlib.sha256(msgspec.json.encode(profile)).hexdigest()[:12]


def load_profile_file(path: Path) -> Profile:
    """Read one user profile file. Its ``name`` defaults to the file's stem and, if given, must equal it."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise ProfileError(f"{path}: cannot read profile: {exc}") from None
    data.setdefault("name", path.stem)
    if data["name"] != path.stem:
        raise ProfileError(f"{path}: name {data['name']!r} differs from the file name; rename one to match")
    if path.stem in BUILTIN:
        raise ProfileError(f"{path}: {path.stem!r} is a built-in profile; give yours another name")
    return profile_from_dict(data, source=str(path))


def load_user_profiles(directory: Path | None = None) -> tuple[dict[str, Profile], list[str]]:
    """Every valid user profile by name, and one message per invalid file (so a UI can list both)."""
    directory = profiles_dir() if directory is None else directory
    found: dict[str, Profile] = {}
    problems: list[str] = []
    if not directory.is_dir():
        return found, problems
    for path in sorted(directory.glob("*.toml")):
        try:
            found[path.stem] = load_profile_file(path)
        except ProfileError as exc:
            problems.append(str(exc))
    return found, problems


def list_profiles(directory: Path | None = None) -> list[Profile]:
    """Built-in then user profiles, each group sorted by name. Raises ProfileError naming every bad file."""
    user, problems = load_user_profiles(directory)
    if problems:
        raise ProfileError("invalid prompt profile file(s): " + " | ".join(problems))
    return [BUILTIN[name] for name in sorted(BUILTIN)] + [user[name] for name in sorted(user)]


def get_profile(name: str, directory: Path | None = None) -> Profile:
    """The profile called ``name``: built-in, else ``<directory>/<name>.toml``. Unknown names raise
    ProfileError listing the known ones; a bad file raises ProfileError. Never a fallback."""
    if name in BUILTIN:
        return BUILTIN[name]
    directory = profiles_dir() if directory is None else directory
    if PROFILE_NAME.fullmatch(name):
        path = directory / f"{name}.toml"
        if path.is_file():
            return load_profile_file(path)
    user, _ = load_user_profiles(directory)
    known = ", ".join([*sorted(BUILTIN), *sorted(user)])
    raise ProfileError(f"unknown prompt profile {name!r} (known: {known}; user profiles live in {directory})")
