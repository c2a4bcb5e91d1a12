"""Config precedence: defaults < config.toml < IMAGEWORKS_* env < explicit overrides; clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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


def load_in_a_fresh_process(times: int, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``config.load()`` ``times`` times in a new interpreter: "once per process" needs a process of its own."""
    code = f"from imageworks import config\nfor _ in range({times}): cfg = config.load()\nprint(cfg.model.batch_size)"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=cwd, check=True)


def test_unknown_keys_are_warned_once_each_with_the_nearest_known_name(tmp_path: Path) -> None:
    path = paths.config_dir(create=True) / "config.toml"
    path.write_text('[model]\nbatchsize = 4\nname = "m"\n[modle]\nname = "x"\n[tui]\nkeymap = {"execute.run" = "x"}\n')
    env = {
        **os.environ,
        "IMAGEWORKS_MODEL_BATCHSIZE": "3",
        "IMAGEWORKS_SCAN_TTL": "5",
        "IMAGEWORKS_NOTHING_LIKE_IT": "1",
        "IMAGEWORKS_MODEL_BATCH_SIZE": "2",  # a known one: used, never warned about
        "IMAGEWORKS_MODELS_CACHE": str(tmp_path),  # not a config key, and known as such
    }
    proc = load_in_a_fresh_process(3, env, tmp_path)
    assert proc.stdout.strip() == "2"  # the typos changed nothing
    assert sorted(proc.stderr.splitlines()) == sorted(
        [
            f"warning: {path}: model.batchsize: unknown key; did you mean batch_size?",
            f"warning: {path}: [modle]: unknown section; did you mean model?",
            "warning: IMAGEWORKS_MODEL_BATCHSIZE: unknown key; did you mean IMAGEWORKS_MODEL_BATCH_SIZE?",
            "warning: IMAGEWORKS_SCAN_TTL: unknown key; did you mean IMAGEWORKS_SCAN_TTL_SECONDS?",
            "warning: IMAGEWORKS_NOTHING_LIKE_IT: unknown key",
        ]
    )


def test_a_clean_config_warns_about_nothing(tmp_path: Path) -> None:
    (paths.config_dir(create=True) / "config.toml").write_text("[model]\nbatch_size = 4\n[scan]\nttl_seconds = 9\n")
    env = {**os.environ, "IMAGEWORKS_MODEL_NAME": "echo", "IMAGEWORKS_TEST_PAUSE": "0"}
    proc = load_in_a_fresh_process(1, env, tmp_path)
    assert proc.stdout.strip() == "4" and proc.stderr == ""


def test_the_cli_warns_on_stderr_and_keeps_json_clean(tmp_path: Path) -> None:
    (paths.config_dir(create=True) / "config.toml").write_text("[scan]\nttl_second = 5\n")
    (tmp_path / "lib").mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "imageworks", "scan", str(tmp_path / "lib"), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(proc.stdout)["files"] == 0
    assert proc.stderr.count("scan.ttl_second: unknown key; did you mean ttl_seconds?") == 1
