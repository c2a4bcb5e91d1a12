"""Review is core: importing every module of it pulls neither the UI, the daemon nor torch."""

from __future__ import annotations

from tests.test_layers import LAYERS, loaded_modules

REVIEW_MODULES = [
    "codec",
    "commit",
    "drafts",
    "edits",
    "fingerprint",
    "history",
    "job",
    "query",
    "rows",
    "store",
    "vocabulary",
]


def test_review_imports_no_ui_no_daemon_no_torch() -> None:
    mods = loaded_modules("; ".join(f"import imageworks.review.{name}" for name in REVIEW_MODULES))
    assert not mods & {"textual", "torch", "transformers", *LAYERS}
