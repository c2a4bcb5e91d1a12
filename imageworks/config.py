"""Configuration: one frozen msgspec Struct per section, loaded from TOML, then ``IMAGEWORKS_*`` env, then flags.

Precedence (last wins): defaults < ``$XDG_CONFIG_HOME/imageworks/config.toml`` < ``IMAGEWORKS_<SECTION>_<KEY>``
environment variables < explicit overrides (CLI flags, TUI edits). Every key here is read somewhere; a key
nobody reads is a bug (the original ImageWorks had three).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import msgspec

from imageworks import paths
from imageworks.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class DaemonConfig(msgspec.Struct, frozen=True, kw_only=True):
    max_queue: int = 64
    """Jobs waiting beyond this are refused at once with ``overloaded``."""
    max_message_bytes: int = 16 * 1024 * 1024
    """ZeroMQ MAXMSGSIZE on the request socket: a peer sending more is disconnected."""
    request_timeout_s: float = 10.0
    """How long a client waits for one reply before retrying (Lazy Pirate) and then giving up."""
    tcp_endpoint: str = ""
    """Optional ``tcp://host:port`` listener; only started with CURVE keys. Empty = off (use SSH forwarding)."""


class ModelConfig(msgspec.Struct, frozen=True, kw_only=True):
    name: str = ""
    """Local checkpoint dir or HF-cache id. Empty = the bundled demo model (tiny, trained on synthetic shapes)."""
    batch_size: int = 8
    """Requests per generate() call in the model worker."""
    max_pixels: int = 1024 * 28 * 28
    """Images are resized to at most this many pixels before the vision tower sees them."""
    dtype: str = "auto"
    """auto = bf16 on CUDA, float32 on CPU; or float32 / bfloat16 / float16."""
    device: str = "auto"
    """auto = CUDA when present, else CPU."""


class Config(msgspec.Struct, frozen=True, kw_only=True):
    daemon: DaemonConfig = DaemonConfig()
    model: ModelConfig = ModelConfig()



def _section_types() -> dict[str, type[msgspec.Struct]]:
    return {f.name: f.type for f in msgspec.structs.fields(Config)}  # type: ignore[misc]


def _env_overrides(environ: dict[str, str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    types = _section_types()
    for key, value in environ.items():
        if not key.startswith("IMAGEWORKS_"):
            continue
        rest = key[len("IMAGEWORKS_") :].lower()
        for section, section_type in types.items():
            prefix = section + "_"
            if rest.startswith(prefix):
                field = rest[len(prefix) :]
                names = {f.name for f in msgspec.structs.fields(section_type)}
                if field in names:
                    out.setdefault(section, {})[field] = value
    return out


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load(
    overrides: dict[str, dict[str, Any]] | None = None,
    *,
    path: Path | None = None,
    environ: dict[str, str] | None = None,
) -> Config:
    """Load the effective config. Raises ConfigError with the file and key on bad values."""
    path = path or paths.config_file()
    raw: dict[str, Any] = {}
    if path.exists():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
            raise ConfigError(f"{path}: cannot read config: {exc}") from exc
    env = _env_overrides(dict(os.environ if environ is None else environ))
    merged = _merge(_merge(raw, env), overrides or {})
    try:
        return msgspec.convert(merged, Config, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"config: {exc} (file {path}, or an IMAGEWORKS_* variable)") from exc


def to_dict(config: Config) -> dict[str, Any]:
    return msgspec.to_builtins(config)


def save(config: Config, path: Path | None = None) -> Path:
    """Write the config file atomically (temp file + rename); only values that differ from defaults."""
    import tomli_w

    path = path or paths.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    defaults = to_dict(Config())
    current = to_dict(config)
    diff = {
        section: {k: v for k, v in values.items() if defaults.get(section, {}).get(k) != v}
        for section, values in current.items()
    }
    diff = {k: v for k, v in diff.items() if v}
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(tomli_w.dumps(diff), encoding="utf-8")
    os.replace(tmp, path)
    return path


def replace(config: Config, section: str, **values: Any) -> Config:
    """Return a copy of ``config`` with some keys of one section changed (validated)."""
    data = to_dict(config)
    data.setdefault(section, {}).update(values)
    try:
        return msgspec.convert(data, Config, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{section}: {exc}") from exc
