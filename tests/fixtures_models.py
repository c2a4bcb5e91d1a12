"""Session-wide tiny model checkpoints for tests. Import the fixtures you use into a test module:

    from tests.fixtures_models import models_cache, tiny_model_dir, trained_model_dir  # noqa: F401

conftest.py gives every test its own XDG cache dir, which would rebuild (and for the trained model, retrain for
about a minute) in every test. These fixtures build once per recipe into pytest's own cache
(``.pytest_cache/d/imageworks-models``, kept between runs and keyed by the recipe hash, so a change of prompts or
architecture retrains). A daemon started by a test finds the same builds when given
``IMAGEWORKS_MODELS_CACHE=<models_cache>`` in its environment (the model names ``demo`` and ``tiny``).
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def models_cache(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = getattr(request.config, "cache", None)  # absent under `-p no:cacheprovider`
    return Path(cache.mkdir("imageworks-models")) if cache else tmp_path_factory.mktemp("imageworks-models")


def _build(cache: Path, trained: bool) -> Path:
    from daemon.demo_model.build import demo_model_path

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IMAGEWORKS_MODELS_CACHE", str(cache))
        return demo_model_path(trained=trained)


@pytest.fixture(scope="session")
def tiny_model_dir(models_cache: Path) -> Path:
    """The untrained tiny Qwen2.5-VL (random weights, garbage output); builds in well under a second."""
    return _build(models_cache, trained=False)


@pytest.fixture(scope="session")
def trained_model_dir(models_cache: Path) -> Path:
    """The trained tiny model (the demo model): about a minute on one core the first time, then cached."""
    return _build(models_cache, trained=True)
