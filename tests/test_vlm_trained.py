"""The trained tiny model (the demo model) answers the tagger's prompts about images it never saw, through the
backend's real generate path: real model output ("red", "circle"), not canned strings.

It ships built (daemon/demo_model/shipped.py): these tests check the weights a fresh install gets.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import msgspec
import pytest

from imageworks.config import ModelConfig
from imageworks.inference import GenRequest
from imageworks.tagging import profiles
from tests.fixtures_models import models_cache, trained_model_dir  # noqa: F401

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(trained_model_dir: Path):  # noqa: F811
    from imageworks.daemon.backends.vlm import VLMBackend

    backend = VLMBackend(ModelConfig(name=str(trained_model_dir), batch_size=8))
    backend.load()
    yield backend
    backend.close()


def step_request(step: profiles.PromptStep, image: Path, **fill) -> GenRequest:
    return GenRequest(
        prompt=profiles.render(step, max_keywords=25, **fill),
        system=step.system,
        image=str(image),
        max_new_tokens=step.max_new_tokens,
    )


@pytest.fixture
def red_square(tmp_path: Path) -> Path:
    from imageworks.daemon.demo_model.train import draw

    path = tmp_path / "red_square.jpg"
    draw("red", "square", "white", (320, 240), random.Random(99)).save(path, quality=92)
    return path


def test_red_square_three_step(demo, red_square: Path) -> None:
    caption, keywords = demo.generate(
        [step_request(profiles.CAPTION, red_square), step_request(profiles.KEYWORDS, red_square)]
    )
    assert caption.ok and keywords.ok
    assert "red" in caption.text.lower()
    assert len(caption.text) < 200 and caption.text.endswith(".")
    words = json.loads(keywords.text)["keywords"]
    assert "red" in words and all(w == w.lower() for w in words)
    description = demo.generate([step_request(profiles.DESCRIPTION, red_square, caption=caption.text, keywords=words)])[
        0
    ]
    assert "red" in description.text and 3 <= description.text.count(".") <= 4


def test_red_square_single_pass(demo, red_square: Path) -> None:
    result = demo.generate([step_request(profiles.SINGLE, red_square)])[0]
    answer = json.loads(result.text)
    assert set(answer) == {"caption", "keywords", "description"}
    assert "red" in answer["caption"] and "red" in answer["keywords"]
    assert result.tokens < profiles.SINGLE.max_new_tokens  # stopped at EOS, not at the token limit


def test_ignore_eos_runs_past_the_answer(demo, red_square: Path) -> None:
    """The trained model emits EOS after its caption; ignore_eos (the benchmark's fixed length) goes on."""
    request = step_request(profiles.CAPTION, red_square)
    stopped = demo.generate([request])[0]
    fixed = demo.generate(
        [GenRequest(**{**msgspec.structs.asdict(request), "ignore_eos": True, "max_new_tokens": 60})]
    )[0]
    assert stopped.tokens < 30 and fixed.ok and fixed.tokens == 60
    assert fixed.text.startswith(stopped.text)


def test_names_colour_and_background_of_unseen_images(demo, tmp_path: Path) -> None:
    from imageworks.daemon.demo_model.train import draw, sample_attributes

    rng = random.Random(2024)  # not the training seed: unseen jitter, sizes and aspect ratios
    cases = []
    for i in range(12):
        colour, shape, background = sample_attributes(rng)
        path = tmp_path / f"{i}.png"
        draw(colour, shape, background, (rng.randint(80, 400), rng.randint(80, 400)), rng).save(path)
        cases.append((colour, background, path))
    results = demo.generate([step_request(profiles.CAPTION, p) for _, _, p in cases])
    right = sum(
        f"a {c} " in r.text.lower() and f"{b} background" in r.text for (c, b, _), r in zip(cases, results, strict=True)
    )
    assert right >= 10, [r.text for r in results]


def test_demo_name_resolves_to_the_shipped_build_without_training(
    trained_model_dir: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from imageworks.daemon.backends.vlm import resolve_model_path
    from imageworks.daemon.demo_model.shipped import SHIPPED_DIR

    monkeypatch.setenv("IMAGEWORKS_MODELS_CACHE", str(tmp_path))  # an empty models cache: a fresh install
    assert trained_model_dir == SHIPPED_DIR
    assert resolve_model_path("demo") == SHIPPED_DIR
    assert resolve_model_path("") == SHIPPED_DIR
    assert list(tmp_path.iterdir()) == []  # nothing was built or trained
