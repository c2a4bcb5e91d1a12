"""The ``tag`` job kind: caption, keywords and description per image, one prompt step per round.

The daemon's runner drives a ``TagTask`` per image: it calls ``next_requests()`` on many tasks, batches the
requests of all of them together, and ``feed``s each task its own results; a three-step image takes three
rounds (caption, then keywords, then the description conditioned on the parsed caption and top keywords),
so the images of a job share every batch. When a task is ``done`` its ``record()`` is journaled at once.

Items: ``{"path": str, "size": int, "mtime_ns": int}`` (from the scan cache). The record's fingerprint (size and
mtime, so a later write can tell a changed file) is taken just before the model first reads the image.
Params: see ``TagParams``. ``validate`` resolves the prompt profile and stores it in the params
(``profile_spec``), so a job resumed later runs with the very profile it was submitted with, even if the user's
file changed since.

``prepare`` turns the journaled params and the loaded model into a ``TagPlan`` once per job run; every task
shares it. The record is a ``TagRecord`` (``imageworks.jobs.records``), the seam for review: it is addressable by
(job, item index) in the journal, and every value a reviewer may edit is a plain field.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

import msgspec

from imageworks.inference import GenRequest, GenResult
from imageworks.jobs.base import BadJobParams, WriteIntents
from imageworks.jobs.records import (
    RECORD_SCHEMA_VERSION,
    Fingerprint,
    KeywordScore,
    ModelRef,
    ProfileRef,
    TagRecord,
)
from imageworks.tagging import keywords as kw
from imageworks.tagging import parse
from imageworks.tagging.profiles import (
    BUILTIN,
    Profile,
    ProfileError,
    PromptStep,
    get_profile,
    profile_digest,
    profile_from_dict,
    profile_to_dict,
    render,
)

DESCRIPTION_KEYWORDS = 10
"""How many of the cleaned keywords (the first, i.e. the top ones) the description prompt is given."""
STEP_RESULTS: dict[str, tuple[str, ...]] = {
    "caption": ("caption",),
    "keywords": ("keywords",),
    "description": ("description",),
    "all": ("caption", "keywords", "description"),
}
"""The parts of the record each kind of step produces."""


class TagItem(msgspec.Struct, frozen=True):
    """One image of a tag job. Other keys an item may carry (from the scan cache) are ignored."""

    path: Annotated[str, msgspec.Meta(min_length=1)]
    size: Annotated[int, msgspec.Meta(ge=0)]
    mtime_ns: int


class TagParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A tag job's params; defaults match ``imageworks.config.TaggerConfig``."""

    profile: str = "three-step"
    profile_spec: dict[str, Any] | None = None
    """The resolved profile, filled in by ``validate``; a client may also send a profile inline here."""
    max_keywords: Annotated[int, msgspec.Meta(ge=1, le=200)] = 25
    temperature: Annotated[float, msgspec.Meta(ge=0.0, le=2.0)] = 0.2
    top_p: Annotated[float, msgspec.Meta(gt=0.0, le=1.0)] = 0.9
    seed: int | None = None
    """Sampling seed per request (with temperature > 0); None = the backend's own randomness."""
    banned_words: list[str] = msgspec.field(default_factory=lambda: list(kw.DEFAULT_BANNED_WORDS))
    generic_words: list[str] = msgspec.field(default_factory=lambda: list(kw.DEFAULT_GENERIC_WORDS))
    keyword_order: Literal["model", "score"] = "model"
    write: Literal["none", "skip", "merge", "overwrite"] = "none"
    """Write each image's results into its metadata as soon as it is done (none = review first, write later)."""
    dry_run: bool = False
    """With ``write``: plan the metadata changes and record them, but change no file."""


def params_from_config(tagger: Any, **overrides: Any) -> dict[str, Any]:
    """A tag job's params from the config's ``[tagger]`` section (a ``TaggerConfig``), then ``overrides``
    (CLI flags, TUI edits; None values are ignored). Send the result to ``validate``."""
    params: dict[str, Any] = {
        "profile": tagger.profile,
        "max_keywords": tagger.max_keywords,
        "temperature": tagger.temperature,
        "top_p": tagger.top_p,
        "banned_words": list(tagger.banned_words),
        "generic_words": list(tagger.generic_words),
        "keyword_order": tagger.keyword_order,
    }
    params.update({k: v for k, v in overrides.items() if v is not None})
    return params


def resolve_profile(params: dict[str, Any]) -> Profile:
    """The profile a validated job runs with: its stored ``profile_spec``, else looked up by name."""
    spec = params.get("profile_spec")
    if spec is not None:
        return profile_from_dict(spec, source=f"job profile {params.get('profile')!r}")
    return get_profile(params["profile"])


class TagPlan(msgspec.Struct, frozen=True, kw_only=True):
    """What every image of one job run shares (``TagKind.prepare``)."""

    params: TagParams
    profile: Profile
    profile_ref: ProfileRef
    model: ModelRef
    wanted: frozenset[str]
    """The record parts the profile's steps produce (``complete`` means all of them came back)."""


class TagKind:
    name = "tag"
    record_type = TagRecord
    uses_model = True

    def validate(self, items: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        """Check items and params; return params with defaults and the resolved profile filled in.
        Raises BadJobParams for a bad item, an unknown or invalid param, or an unknown profile."""
        try:
            msgspec.convert(items, list[TagItem])
        except msgspec.ValidationError as exc:
            raise BadJobParams(f"tag job: bad item: {exc} (expected {{path, size, mtime_ns}})") from None
        try:
            checked = msgspec.convert(params, TagParams)
        except msgspec.ValidationError as exc:
            raise BadJobParams(f"tag job: bad params: {exc}") from None
        try:
            profile = resolve_profile(msgspec.to_builtins(checked))
        except ProfileError as exc:
            raise BadJobParams(f"tag job: {exc}") from None
        if profile.name != checked.profile:
            raise BadJobParams(f"tag job: profile_spec is named {profile.name!r} but profile is {checked.profile!r}")
        if profile.name in BUILTIN and profile != BUILTIN[profile.name]:
            raise BadJobParams(
                f"tag job: profile_spec differs from the built-in profile {profile.name!r}; give it another name"
            )
        out = msgspec.to_builtins(checked)
        out["profile_spec"] = profile_to_dict(profile)
        return out

    def prepare(self, params: dict[str, Any], model: dict[str, Any]) -> TagPlan:
        """Once per job: the validated params converted, the profile rebuilt, the model's provenance taken."""
        profile = resolve_profile(params)
        return TagPlan(
            params=msgspec.convert(params, TagParams),
            profile=profile,
            profile_ref=ProfileRef(name=profile.name, version=profile.version, digest=profile_digest(profile)),
            model=ModelRef(name=str(model.get("name", "")), revision=str(model.get("revision", ""))),
            wanted=frozenset(part for step in profile.steps for part in STEP_RESULTS[step.name]),
        )

    def make_task(self, item: dict[str, Any], plan: TagPlan) -> TagTask:
        return TagTask(msgspec.convert(item, TagItem), plan)

    def finalizes(self, plan: TagPlan) -> bool:
        """Only a job that writes metadata has per-item I/O (write_record returns at once for write "none")."""
        return plan.params.write != "none"

    def finalize(self, record: TagRecord, plan: TagPlan, job_id: str, intents: WriteIntents) -> TagRecord:
        """In the daemon, before the record is journaled: write metadata if the job asks for it."""
        from imageworks.tagging.write import write_record

        return write_record(record, plan.params.write, dry_run=plan.params.dry_run, job_id=job_id, intents=intents)


class TagTask:
    """One image through the profile's steps, one request per round; see the module docstring."""

    def __init__(self, item: TagItem, plan: TagPlan) -> None:
        self.item = item
        self.plan = plan
        self.params = plan.params
        self.profile = plan.profile
        self.step_index = 0
        self.caption = ""
        self.keywords: list[kw.Keyword] = []
        self.description = ""
        self.notes: list[str] = []
        self.timings: dict[str, float] = {}
        self.tokens: dict[str, int] = {}
        self.failure: str | None = None
        self.fingerprint = Fingerprint(size=item.size, mtime_ns=item.mtime_ns)
        """The file as the model first reads it (the scan's fingerprint until then)."""

    # ---- the ItemTask interface ----

    @property
    def done(self) -> bool:
        return self.failure is not None or self.step_index >= len(self.profile.steps)

    def next_requests(self) -> list[GenRequest]:
        """The current step's request (the same one until it is fed), or [] when done."""
        if self.done:
            return []
        step = self.profile.steps[self.step_index]
        if self.step_index == 0:
            self.take_fingerprint()
        return [
            GenRequest(
                prompt=self.prompt(step),
                image=self.item.path,
                system=step.system,
                max_new_tokens=step.max_new_tokens,
                temperature=self.params.temperature,
                top_p=self.params.top_p,
                seed=self.params.seed,
            )
        ]

    def feed(self, results: list[GenResult]) -> None:
        if self.done:
            raise ValueError("tag task: fed after it was done")
        if len(results) != 1:
            raise ValueError(f"tag task: expected 1 result for one request, got {len(results)}")
        result = results[0]
        step = self.profile.steps[self.step_index]
        self.timings[step.name] = result.seconds
        self.tokens[step.name] = result.tokens
        if not result.ok:
            self.failure = f"{step.name} step failed: {result.error}"
            self.notes.append(self.failure)
            return
        if result.tokens >= step.max_new_tokens:
            self.notes.append(
                f"{step.name}: the answer reached max_new_tokens ({step.max_new_tokens}) and may be cut off"
            )
        self.read_answer(step.name, result.text)
        self.step_index += 1

    def record(self) -> TagRecord:
        """The item's result record. Status ``error`` when a step failed or nothing usable came back;
        ``complete`` when every step produced its part."""
        produced = {
            "caption": bool(self.caption),
            "keywords": bool(self.keywords),
            "description": bool(self.description),
        }
        error = self.failure
        if error is None and not self.done:
            error = "the item was not finished"
        if error is None and not any(produced.values()):
            error = "no caption, keywords or description could be read from the model's answers (see notes)"
        return TagRecord(
            status="error" if error else "ok",
            error=error,
            path=self.item.path,
            fingerprint=self.fingerprint,
            caption=self.caption,
            keywords=[KeywordScore(keyword=k.keyword, score=k.score) for k in self.keywords],
            description=self.description,
            complete=error is None and all(produced[part] for part in self.plan.wanted),
            model=self.plan.model,
            profile=self.plan.profile_ref,
            timings={**self.timings, "total": round(sum(self.timings.values()), 6)},
            tokens={**self.tokens, "total": sum(self.tokens.values())},
            notes=list(self.notes),
            schema_version=RECORD_SCHEMA_VERSION,
        )

    def take_fingerprint(self) -> None:
        """The file as it is now, just before the worker first reads it: the scan's fingerprint may be minutes
        old, and a file edited since the scan is still tagged (and written) as it is now. An edit after this is
        caught when writing. A file gone keeps the scan's, and its read fails in the worker."""
        from imageworks.scan.records import mtime_ns_of

        try:
            st = os.stat(self.item.path)
        except OSError:
            return
        self.fingerprint = Fingerprint(size=st.st_size, mtime_ns=mtime_ns_of(st))

    # ---- the steps ----

    def prompt(self, step: PromptStep) -> str:
        """The step's prompt; the description is given the parsed caption and the top cleaned keywords."""
        return render(
            step,
            max_keywords=self.params.max_keywords,
            caption=self.caption,
            keywords=[k.keyword for k in self.keywords[:DESCRIPTION_KEYWORDS]],
        )

    def read_answer(self, step: str, text: str) -> None:
        if step == "caption":
            self.take_caption(parse.parse_caption(text))
        elif step == "keywords":
            result = parse.parse_keywords(text)
            self.notes.extend(result.notes)
            self.take_keywords(result.keywords)
        elif step == "description":
            self.take_description(parse.parse_description(text))
        else:  # "all"
            answer = parse.parse_all(text)
            self.notes.extend(answer.notes)
            self.take_caption(parse.TextResult(answer.caption))
            self.take_keywords(answer.keywords)
            self.take_description(parse.TextResult(answer.description))

    def take_caption(self, result: parse.TextResult) -> None:
        self.notes.extend(result.notes)
        if result.ok:
            tidy = parse.tidy_caption(result.text)
            self.notes.extend(tidy.notes)
            self.caption = tidy.text

    def take_keywords(self, raw: tuple[kw.Keyword, ...]) -> None:
        cleaned = kw.clean_keywords(
            raw,
            max_keywords=self.params.max_keywords,
            banned=self.params.banned_words,
            generic=self.params.generic_words,
            order=self.params.keyword_order,
        )
        if raw and not cleaned:
            self.notes.append(
                f"keywords: all {len(raw)} keyword(s) the model gave were removed by cleanup "
                "(banned or generic words, more than 3 words, duplicates)"
            )
        self.keywords = cleaned

    def take_description(self, result: parse.TextResult) -> None:
        self.notes.extend(result.notes)
        if result.ok:
            self.description = parse.tidy_description(result.text)
