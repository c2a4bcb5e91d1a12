"""The ``tag`` job kind, driven directly: tasks get hand-made GenResults (model answers are inputs here),
round by round, the way the daemon's runner drives them."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from imageworks import config
from imageworks.inference import GenRequest, GenResult
from imageworks.jobs import kinds
from imageworks.jobs.base import BadJobParams
from imageworks.jobs.records import TagRecord
from imageworks.tagging import job
from imageworks.tagging.keywords import DEFAULT_BANNED_WORDS
from imageworks.tagging.profiles import BUILTIN, profile_digest, profile_to_dict, profiles_dir, render

MODEL = {"name": "Qwen/Qwen2.5-VL-7B-Instruct-AWQ", "revision": "abc123", "device": "cuda"}
ITEM: dict[str, Any] = {"path": "/photos/bus.jpg", "size": 123_456, "mtime_ns": 1_700_000_000_000_000_000}
CAPTION = "A red bus on a rainy London street."
KEYWORDS = '```json\n{"keywords": ["Red Bus", "street", "rain", "photo", "streets", "umbrellas and people"]}\n```'
DESCRIPTION = "A red double-decker bus drives down a wet street. People with umbrellas wait. The light is grey."


def tag_kind() -> job.TagKind:
    """The daemon's ``tag`` kind, as its table holds it."""
    kind = kinds.get("tag")
    assert isinstance(kind, job.TagKind)
    return kind


def validated(**params: Any) -> dict[str, Any]:
    return tag_kind().validate([ITEM], params)


def make(params: dict[str, Any] | None = None, item: dict[str, Any] | None = None) -> job.TagTask:
    # params go through JSON, as they do through the journal
    stored = json.loads(json.dumps(validated(**(params or {}))))
    kind = tag_kind()
    return kind.make_task(item or ITEM, kind.prepare(stored, MODEL))


def record_of(task: job.TagTask) -> dict[str, Any]:
    """The task's record as it travels (JSON-able builtins), for comparing with plain dicts."""
    return msgspec.to_builtins(task.record())


def step(task: job.TagTask, text: str = "", *, error: str | None = None, tokens: int = 10) -> GenRequest:
    """One round: take the task's request, answer it, feed the answer back."""
    requests = task.next_requests()
    assert len(requests) == 1
    task.feed([GenResult(text=text, tokens=tokens, seconds=0.5, error=error)])
    return requests[0]


# ---- validate -----------------------------------------------------------------------------------------------


def test_kind_is_registered() -> None:
    assert "tag" in kinds.KINDS
    assert isinstance(kinds.get("tag"), job.TagKind)


def test_validate_fills_defaults_and_the_profile() -> None:
    params = validated()
    assert params == {
        "profile": "three-step",
        "profile_spec": profile_to_dict(BUILTIN["three-step"]),
        "max_keywords": 25,
        "temperature": 0.2,
        "top_p": 0.9,
        "seed": None,
        "banned_words": list(DEFAULT_BANNED_WORDS),
        "generic_words": list(job.kw.DEFAULT_GENERIC_WORDS),
        "keyword_order": "model",
        "write": "none",
        "dry_run": False,
    }
    assert json.loads(json.dumps(params)) == params  # JSON-able, for the journal
    assert tag_kind().validate([ITEM], params) == params  # validating twice changes nothing


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"max_keywrds": 5}, "unknown field `max_keywrds`"),
        ({"batch_size": 4}, "unknown field `batch_size`"),
        ({"max_keywords": 0}, "max_keywords"),
        ({"max_keywords": "many"}, "max_keywords"),
        ({"temperature": -0.1}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"keyword_order": "alphabet"}, "keyword_order"),
        ({"banned_words": "photo"}, "banned_words"),
        ({"profile": "three_step"}, "unknown prompt profile 'three_step' (known: single-pass, three-step"),
    ],
)
def test_validate_rejects_bad_params(params: dict[str, Any], problem: str) -> None:
    with pytest.raises(BadJobParams) as info:
        validated(**params)
    assert problem in str(info.value) and str(info.value).startswith("tag job: ")


@pytest.mark.parametrize(
    "item",
    [
        {"path": "/a.jpg", "size": 1},
        {"path": "", "size": 1, "mtime_ns": 1},
        {"path": "/a.jpg", "size": -1, "mtime_ns": 1},
        {"path": "/a.jpg", "size": True, "mtime_ns": 1},
        {"path": 3, "size": 1, "mtime_ns": 1},
        "/a.jpg",
    ],
)
def test_validate_rejects_bad_items(item: Any) -> None:
    with pytest.raises(BadJobParams, match=r"bad item: .*\$\[1\]"):
        tag_kind().validate([ITEM, item], {})


def test_extra_item_keys_from_the_scan_cache_are_fine() -> None:
    tag_kind().validate([{**ITEM, "kind": "jpeg"}], {})


def test_user_profile_is_resolved_and_stored() -> None:
    profiles_dir().mkdir(parents=True)
    (profiles_dir() / "short.toml").write_text(
        "version = 3\n[[steps]]\nname = 'caption'\ntemplate = 'Short caption.'\n", encoding="utf-8"
    )
    params = validated(profile="short")
    (profiles_dir() / "short.toml").unlink()  # a resumed job still runs with the profile it was submitted with
    task = tag_kind().make_task(ITEM, tag_kind().prepare(params, MODEL))
    assert task.next_requests()[0].prompt == "Short caption."
    task.feed([GenResult(text="A bus.")])
    record = record_of(task)
    assert record["status"] == "ok" and record["complete"] is True
    assert record["profile"]["name"] == "short" and record["profile"]["version"] == 3


def test_inline_profile_spec() -> None:
    spec = {"name": "inline", "version": 1, "steps": [{"name": "keywords", "template": "{max_keywords} words"}]}
    params = validated(profile="inline", profile_spec=spec)
    assert make(params).next_requests()[0].prompt == "25 words"
    with pytest.raises(BadJobParams, match="named 'inline' but profile is 'other'"):
        validated(profile="other", profile_spec=spec)
    with pytest.raises(BadJobParams, match="differs from the built-in"):
        validated(profile="three-step", profile_spec={**profile_to_dict(BUILTIN["three-step"]), "version": 9})
    with pytest.raises(BadJobParams, match="unknown placeholder"):
        validated(
            profile="bad", profile_spec={**spec, "name": "bad", "steps": [{"name": "caption", "template": "{x}"}]}
        )


# ---- three-step ---------------------------------------------------------------------------------------------


def test_three_step_item_end_to_end() -> None:
    task = make()
    assert not task.done
    first = step(task, f'"{CAPTION}"')
    assert first == GenRequest(
        prompt=render(BUILTIN["three-step"].steps[0], max_keywords=25),
        image=ITEM["path"],
        system=BUILTIN["three-step"].steps[0].system,
        max_new_tokens=64,
        temperature=0.2,
        top_p=0.9,
        seed=None,
    )
    second = step(task, KEYWORDS)
    assert "List up to 25 keywords" in second.prompt and second.image == ITEM["path"]
    third = step(task, DESCRIPTION)
    # the description is conditioned on the *parsed* caption and the *cleaned* keywords
    assert third.prompt.startswith(f"Caption: {CAPTION}\nKeywords: red bus, street, rain, umbrellas, people\n")
    assert task.done and task.next_requests() == []

    record = record_of(task)
    assert record == {
        "kind": "tag",
        "status": "ok",
        "error": None,
        "path": "/photos/bus.jpg",
        "fingerprint": {"size": 123_456, "mtime_ns": 1_700_000_000_000_000_000},
        "caption": CAPTION,
        "keywords": [
            {"keyword": "red bus", "score": None},
            {"keyword": "street", "score": None},
            {"keyword": "rain", "score": None},
            {"keyword": "umbrellas", "score": None},
            {"keyword": "people", "score": None},
        ],
        "description": DESCRIPTION,
        "complete": True,
        "model": {"name": MODEL["name"], "revision": "abc123"},
        "profile": {"name": "three-step", "version": 1, "digest": profile_digest(BUILTIN["three-step"])},
        "timings": {"caption": 0.5, "keywords": 0.5, "description": 0.5, "total": 1.5},
        "tokens": {"caption": 10, "keywords": 10, "description": 10, "total": 30},
        "notes": [],
        "schema_version": job.RECORD_SCHEMA_VERSION,
        "write": None,
    }
    assert json.loads(json.dumps(record)) == record


def test_description_gets_only_the_top_keywords() -> None:
    task = make()
    step(task, CAPTION)
    step(task, ", ".join(f"thing{i}" for i in range(30)))
    prompt = task.next_requests()[0].prompt
    last, first_left_out = job.DESCRIPTION_KEYWORDS - 1, job.DESCRIPTION_KEYWORDS
    assert f"thing{last}\n" in prompt and f"thing{first_left_out}" not in prompt


def test_request_is_repeated_until_fed() -> None:
    task = make()
    assert task.next_requests() == task.next_requests()
    step(task, CAPTION)
    assert "keywords" in task.next_requests()[0].prompt


def test_params_reach_requests_and_cleanup() -> None:
    task = make({"max_keywords": 3, "temperature": 0.7, "top_p": 0.5, "seed": 42, "banned_words": ["rain"]})
    request = step(task, CAPTION)
    assert (request.temperature, request.top_p, request.seed) == (0.7, 0.5, 42)
    assert "List up to 3 keywords" in step(task, "rain, street, photo, sky, tree").prompt
    step(task, DESCRIPTION)
    # "photo" is no longer banned: the list replaced the defaults
    assert [k["keyword"] for k in record_of(task)["keywords"]] == ["street", "photo", "sky"]


def test_keyword_order_by_score() -> None:
    task = make({"keyword_order": "score"}, None)
    step(task, CAPTION)
    step(task, '[{"keyword": "sky", "score": 0.2}, {"keyword": "bus", "score": 0.9}]')
    step(task, DESCRIPTION)
    assert record_of(task)["keywords"] == [{"keyword": "bus", "score": 0.9}, {"keyword": "sky", "score": 0.2}]


def test_long_caption_is_trimmed_with_a_note() -> None:
    task = make()
    step(task, "A red bus. It rains. People wait. " + "More words " * 30)
    assert task.caption == "A red bus. It rains."
    assert task.notes == ["caption: kept the first 2 of 4 sentences"]


def test_answer_at_the_token_limit_is_noted() -> None:
    task = make()
    step(task, CAPTION, tokens=64)
    assert task.notes == ["caption: the answer reached max_new_tokens (64) and may be cut off"]


# ---- failures -----------------------------------------------------------------------------------------------


def test_unreadable_image_ends_the_item() -> None:
    task = make()
    step(task, error="cannot identify image file '/photos/bus.jpg'")
    assert task.done and task.next_requests() == []
    record = record_of(task)
    assert record["status"] == "error"
    assert record["error"] == "caption step failed: cannot identify image file '/photos/bus.jpg'"
    assert record["notes"] == ["caption step failed: cannot identify image file '/photos/bus.jpg'"]
    assert record["complete"] is False and record["caption"] == "" and record["keywords"] == []
    assert record["path"] == ITEM["path"] and record["timings"]["total"] == 0.5


def test_a_failure_mid_way_keeps_what_was_done() -> None:
    task = make()
    step(task, CAPTION)
    step(task, error="CUDA out of memory")
    record = record_of(task)
    assert task.done and record["status"] == "error" and record["error"] == "keywords step failed: CUDA out of memory"
    assert record["caption"] == CAPTION and "description" not in record["timings"]


def test_garbage_answers_give_notes_not_crashes() -> None:
    task = make()
    step(task, "")
    step(task, "I'm sorry, but I can't help with identifying things in this image, as I am only a language model.")
    step(task, DESCRIPTION)
    record = record_of(task)
    assert record["status"] == "ok" and record["complete"] is False  # the description is usable
    assert record["caption"] == "" and record["keywords"] == [] and record["description"] == DESCRIPTION
    assert [n.split(":")[0] for n in record["notes"]] == ["caption", "keywords"]


def test_nothing_usable_is_an_error_not_an_empty_success() -> None:
    task = make()
    step(task, "   ")
    step(task, '{"keywords": [')
    step(task, "```\n```")
    record = record_of(task)
    assert record["status"] == "error" and "no caption, keywords or description" in record["error"]
    assert len(record["notes"]) == 3


def test_keywords_all_removed_by_cleanup_are_noted() -> None:
    task = make()
    step(task, CAPTION)
    step(task, "photo, image, light")
    assert task.keywords == [] and "all 3 keyword(s) the model gave were removed by cleanup" in task.notes[0]


def test_feed_misuse_is_a_clear_error() -> None:
    task = make()
    with pytest.raises(ValueError, match="expected 1 result"):
        task.feed([])
    task.feed([GenResult(error="bad image")])
    with pytest.raises(ValueError, match="after it was done"):
        task.feed([GenResult(text="x")])


def test_unfinished_record_is_an_error() -> None:
    task = make()
    step(task, CAPTION)
    assert record_of(task)["status"] == "error" and record_of(task)["error"] == "the item was not finished"


# ---- single-pass --------------------------------------------------------------------------------------------


def test_single_pass_is_one_request() -> None:
    task = make({"profile": "single-pass", "max_keywords": 4})
    answer = json.dumps({"caption": CAPTION, "keywords": ["bus", "Bus", "rain", "photo"], "description": DESCRIPTION})
    request = step(task, f"```json\n{answer}\n```")
    assert "(up to 4, lowercase)" in request.prompt and request.max_new_tokens == 256
    assert task.done
    record = record_of(task)
    assert record["status"] == "ok" and record["complete"] is True and record["notes"] == []
    assert (record["caption"], record["description"]) == (CAPTION, DESCRIPTION)
    assert [k["keyword"] for k in record["keywords"]] == ["bus", "rain"]
    assert record["profile"]["name"] == "single-pass" and set(record["timings"]) == {"all", "total"}


def test_single_pass_garbage_is_an_error_with_notes() -> None:
    task = make({"profile": "single-pass"})
    step(task, "What a lovely photograph!")
    record = record_of(task)
    assert record["status"] == "error" and record["notes"][0].startswith("all: the answer is neither JSON")


def test_single_pass_partial_answer() -> None:
    task = make({"profile": "single-pass"})
    step(task, json.dumps({"caption": "A bus. It rains. People wait.", "keywords": "bus, rain"}))
    record = record_of(task)
    assert record["status"] == "ok" and record["complete"] is False and record["caption"] == "A bus. It rains."
    assert record["notes"] == [
        'description: missing from the single-pass answer: \'{"caption": "A bus. It rains. People wait.", '
        '"keywords": "bus, rain"}\'',
        "caption: kept the first 2 of 3 sentences",
    ]


# ---- many items in shared batches, as the runner drives them ------------------------------------------------


def fake_model(request: GenRequest) -> GenResult:
    """Answers that depend on the request alone: which image, which step, and what the prompt was given."""
    name = (request.image or "").rsplit("/", 1)[-1].removesuffix(".jpg")
    if name == "broken":
        return GenResult(error=f"cannot open {request.image}")
    if request.prompt.startswith("Write a caption"):
        return GenResult(text=f"Caption of {name}.", tokens=5, seconds=0.1)
    if request.prompt.startswith("List up to"):
        return GenResult(text=f'{{"keywords": ["{name}", "common"]}}', tokens=7, seconds=0.2)
    return GenResult(text=f"Description from: {request.prompt.splitlines()[0]}", tokens=9, seconds=0.3)


def test_interleaved_items_share_batches_and_keep_their_own_results() -> None:
    kind = tag_kind()
    names = ["alpha", "bravo", "broken", "charlie", "delta"]
    items = [{"path": f"/p/{n}.jpg", "size": i, "mtime_ns": i} for i, n in enumerate(names)]
    params = kind.validate(items, {})
    plan = kind.prepare(params, MODEL)
    active = [(i, kind.make_task(item, plan)) for i, item in enumerate(items)]
    records: dict[int, dict[str, Any]] = {}
    batch_sizes = []
    while active:
        owners: list[tuple[int, job.TagTask, int]] = []
        requests: list[GenRequest] = []
        for index, task in active:
            reqs = task.next_requests()
            owners.append((index, task, len(reqs)))
            requests.extend(reqs)
        results: list[GenResult] = []
        for start in range(0, len(requests), 2):  # chunked by a batch size of 2, across items
            batch = requests[start : start + 2]
            batch_sizes.append(len(batch))
            results.extend(fake_model(r) for r in batch)
        offset = 0
        for _index, task, count in owners:
            task.feed(results[offset : offset + count])
            offset += count
        for index, task in active:
            if task.done:
                records[index] = record_of(task)
        active = [(i, t) for i, t in active if not t.done]
    assert sorted(records) == list(range(5)) and 2 in batch_sizes
    for i, name in enumerate(names):
        record = records[i]
        if name == "broken":
            assert record["status"] == "error" and record["error"] == "caption step failed: cannot open /p/broken.jpg"
            continue
        assert record["status"] == "ok" and record["complete"]
        assert record["caption"] == f"Caption of {name}."
        assert [k["keyword"] for k in record["keywords"]] == [name, "common"]
        assert record["description"] == f"Description from: Caption: Caption of {name}."
        assert record["fingerprint"] == {"size": i, "mtime_ns": i}
        assert record["timings"]["total"] == pytest.approx(0.6) and record["tokens"]["total"] == 21


# ---- config -> params ---------------------------------------------------------------------------------------


def test_params_from_config_defaults_match_the_kind() -> None:
    tagger = config.load().tagger
    assert validated(**job.params_from_config(tagger)) == validated()


def test_every_tagger_config_key_reaches_the_job() -> None:
    config.paths.config_file().parent.mkdir(parents=True, exist_ok=True)
    config.paths.config_file().write_text(
        "[tagger]\nprofile = 'single-pass'\nmax_keywords = 7\ntemperature = 0.5\ntop_p = 0.8\n"
        "banned_words = ['bus']\ngeneric_words = ['rain']\nkeyword_order = 'score'\n",
        encoding="utf-8",
    )
    tagger = config.load().tagger
    assert job.params_from_config(tagger)["temperature"] == 0.5
    params = job.params_from_config(tagger, temperature=0.0, seed=None)  # a flag overrides; None is "not given"
    task = make(params)
    request = task.next_requests()[0]
    assert "(up to 7, lowercase)" in request.prompt
    assert (request.temperature, request.top_p) == (0.0, 0.8)
    answer: dict[str, Any] = {
        "caption": "A bus.",
        "description": "A bus.",
        "keywords": [["bus", 1], ["rain", 0.9], ["sky", 0.1]],
    }
    answer["keywords"].append(["sea", 0.5])
    task.feed([GenResult(text=json.dumps(answer))])
    assert record_of(task)["keywords"] == [{"keyword": "sea", "score": 0.5}, {"keyword": "sky", "score": 0.1}]


def test_tagger_config_limits() -> None:
    with pytest.raises(config.ConfigError, match="max_keywords"):
        config.load({"tagger": {"max_keywords": 0}})
    with pytest.raises(config.ConfigError, match="top_p"):
        config.load({"tagger": {"top_p": 1.5}})
    with pytest.raises(config.ConfigError, match="keyword_order"):
        config.load({"tagger": {"keyword_order": "random"}})
    saved = config.replace(config.Config(), "tagger", max_keywords=12)
    path = config.save(saved)
    assert config.load(path=path).tagger.max_keywords == 12
    assert "banned_words" not in path.read_text()  # only changed keys are written


def test_record_is_msgpack_and_json_able() -> None:
    task = make()
    for text in (CAPTION, KEYWORDS, DESCRIPTION):
        step(task, text)
    record = task.record()
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(record), type=TagRecord) == record
    assert msgspec.json.decode(msgspec.json.encode(record), type=TagRecord) == record


def test_tagging_core_imports_neither_torch_nor_textual() -> None:
    import subprocess
    import sys

    code = (
        "import sys, imageworks.tagging.job, imageworks.tagging.export, imageworks.config\n"
        "print(sorted({m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'textual')"
        " or m.startswith(('imageworks.daemon', 'imageworks.tui'))}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
