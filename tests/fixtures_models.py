"""Session-wide tiny model checkpoints for tests. Import the fixtures you use into a test module:

    from tests.fixtures_models import models_cache, tiny_model_dir, trained_model_dir  # noqa: F401

conftest.py gives every test its own XDG cache dir, which would rebuild the untrained model in every test. These
fixtures build it once per recipe into pytest's own cache (``.pytest_cache/d/imageworks-models``, kept between runs
and keyed by the recipe hash). A daemon started by a test finds the same build when given
``IMAGEWORKS_MODELS_CACHE=<models_cache>`` in its environment (the model name ``tiny``). The trained model (``demo``)
ships built as package data (daemon/demo_model/shipped.py): every daemon finds it, and nothing trains.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def models_cache(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = getattr(request.config, "cache", None)  # absent under `-p no:cacheprovider`
    return Path(cache.mkdir("imageworks-models")) if cache else tmp_path_factory.mktemp("imageworks-models")


@pytest.fixture(scope="session")
def tiny_model_dir(models_cache: Path) -> Path:
    """The untrained tiny Qwen2.5-VL (random weights, garbage output); builds in well under a second."""
    from imageworks.daemon.demo_model.build import demo_model_path

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IMAGEWORKS_MODELS_CACHE", str(models_cache))
        return demo_model_path(trained=False)


@pytest.fixture(scope="session")
def trained_model_dir() -> Path:
    """The trained tiny model (the demo model), as it ships built: nothing trains."""
    from imageworks.daemon.demo_model.build import shipped_demo_model
    from imageworks.daemon.demo_model.shipped import REBUILD_COMMAND

    shipped = shipped_demo_model()
    assert shipped is not None, f"the shipped demo model is missing or stale: run `{REBUILD_COMMAND}`"
    return shipped
