"""Config precedence: defaults < config.toml < IMAGEWORKS_* env < explicit overrides; clear errors."""

from __future__ import annotations

import pytest

from imageworks import config, paths
from imageworks.errors import ConfigError


def test_precedence_file_env_overrides(monkeypatch):
    path = paths.config_dir(create=True) / "config.toml"
    path.write_text('[model]\nname = "from-file"\nbatch_size = 3\n[tagger]\nmax_keywords = 10\n')
    cfg = config.load()
    assert (cfg.model.name, cfg.model.batch_size, cfg.tagger.max_keywords) == ("from-file", 3, 10)
    monkeypatch.setenv("IMAGEWORKS_MODEL_BATCH_SIZE", "5")
    monkeypatch.setenv("IMAGEWORKS_TAGGER_BANNED_WORDS", "foo, bar")
    cfg = config.load()
    assert cfg.model.batch_size == 5 and cfg.model.name == "from-file"
    assert cfg.tagger.banned_words == ("foo", "bar")
    cfg = config.load({"model": {"batch_size": 9}})
    assert cfg.model.batch_size == 9


def test_bad_values_are_one_line_errors(monkeypatch):
    monkeypatch.setenv("IMAGEWORKS_MODEL_BATCH_SIZE", "many")
    with pytest.raises(ConfigError, match="batch_size"):
        config.load()
    monkeypatch.delenv("IMAGEWORKS_MODEL_BATCH_SIZE")
    path = paths.config_dir(create=True) / "config.toml"
    path.write_text("[model\nname=")
    with pytest.raises(ConfigError, match="cannot read config"):
        config.load()


def test_save_writes_only_changes_and_round_trips():
    cfg = config.replace(config.Config(), "tagger", max_keywords=12)
    path = config.save(cfg)
    assert "max_keywords = 12" in path.read_text()
    assert "batch_size" not in path.read_text()
    assert config.load().tagger.max_keywords == 12
    with pytest.raises(ConfigError):
        config.replace(cfg, "tagger", max_keywords=0)
