"""Configuration: one frozen msgspec Struct per section, loaded from TOML, then ``IMAGEWORKS_*`` env, then flags.

Precedence (last wins): defaults < ``$XDG_CONFIG_HOME/imageworks/config.toml`` < ``IMAGEWORKS_<SECTION>_<KEY>``
environment variables < explicit overrides (CLI flags, TUI edits). Every key here is read somewhere; a key
nobody reads is a bug (the original ImageWorks had three). A key or variable that names nothing here (a typo) is
warned about on stderr, one line each, once per process, with the nearest known name.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from imageworks import paths
from imageworks.config_edit import edit_lines, parses_to, write_atomically
from imageworks.errors import ConfigError
from imageworks.tagging.keywords import DEFAULT_BANNED_WORDS, DEFAULT_GENERIC_WORDS

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
    client_expiry_s: float = 30.0
    """A client process (TUI, CLI) that sent nothing for this long leaves ``daemon status``'s live clients."""
    runtime_check_s: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    """How often the daemon looks at its socket, lock and connection files: removed (a logout, a cleaner), they are
    made again; taken by a daemon started meanwhile, this one stops (daemon/runtime_guard.py)."""
    ssh_command: str = "ssh"
    """How `imageworks --ssh HOST` runs ssh (split like a shell line), e.g. ``ssh -i ~/.ssh/gpu -J bastion``."""
    cpu_workers: Annotated[int, msgspec.Meta(ge=0, le=1024)] = 0
    """Processes of the daemon's pool for CPU jobs (hashing, scans, moves); 0 = the CPUs the daemon may use."""


DEFAULT_MAX_IMAGE_PIXELS = 200_000_000
"""Room for 150 Mpx medium-format files; far below a decompression bomb (a 1.5 MB PNG can claim 529 Mpx)."""


class ModelConfig(msgspec.Struct, frozen=True, kw_only=True):
    name: str = ""
    """Local checkpoint dir or HF-cache id. Empty = the bundled demo model (tiny, trained on synthetic shapes)."""
    backend: str = "transformers"
    """Which backend serves the model (daemon/backends/registry.py): transformers, or echo (no model, for tests
    and plumbing). A model named ``echo`` or ``echo:OPTIONS`` always selects echo."""
    batch_size: int = 8
    """The most requests in one model batch (fixed while the daemon runs); a job may ask for fewer, not more."""
    max_pixels: int = 1024 * 28 * 28
    """Images are resized to at most this many pixels before the vision tower sees them."""
    max_image_pixels: Annotated[int, msgspec.Meta(ge=1)] = DEFAULT_MAX_IMAGE_PIXELS
    """Images with more pixels than this are refused (a clear error for that image), before decoding."""
    input_cache_mb: Annotated[int, msgspec.Meta(ge=0)] = 1024
    """Decoded images (and their processor outputs) a model worker keeps for a job's later rounds and for coming
    batches, at most this many MB; 0 keeps none (every round decodes its photo again)."""
    dtype: str = "auto"
    """auto = bf16 on CUDA, float32 on CPU; or float32 / bfloat16 / float16."""
    device: str = "auto"
    """auto = CUDA when present, else CPU."""


class ClusterConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Scale-out of the VLM slot (`imageworks daemon start --ray ADDRESS|local --workers N`)."""

    ray: str = ""
    """Empty: the workers are local processes (Ray is never imported). ``local``: start a Ray on this machine;
    ``HOST:PORT``: join that Ray cluster (``ray start --head`` printed it). The workers then are Ray actors."""
    workers: Annotated[int, msgspec.Meta(ge=1, le=1024)] = 1
    """Model workers of the VLM slot, each holding the whole model (one per GPU on GPU boxes)."""
    shared_filesystem: bool = True
    """True: every Ray node sees the photos at the daemon's paths, so requests carry paths. False: the daemon reads
    each image and sends its bytes through Ray's object store."""
    max_restarts: Annotated[int, msgspec.Meta(ge=-1)] = 0
    """Ray's actor restart policy: how often a dead actor is restarted (reloading the model); -1 = always."""
    cpus_per_worker: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    """CPUs an actor reserves on a node without GPUs (with GPUs, each actor reserves one GPU instead)."""


class ScanConfig(msgspec.Struct, frozen=True, kw_only=True):
    ttl_seconds: float = 600.0
    """A cached library listing younger than this is used as is; an older one is refreshed (re-walked, changes only)."""
    follow_symlinks: bool = False
    """Follow symlinked files and directories while scanning (each directory is walked once: no loops)."""
    watch_libraries: bool = True
    """The daemon watches each library it scans and keeps its listing current: refreshes need no walk."""
    max_watches: Annotated[int, msgspec.Meta(ge=0)] = 0
    """Watch only libraries of at most this many folders (0: what fs.inotify.max_user_watches allows)."""


class TaggerConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Defaults of a tag job's params (``imageworks.tagging.job.params_from_config``); flags override them."""

    profile: str = "three-step"
    """Prompt profile: built-in (three-step, single-pass) or ``<config dir>/profiles/<name>.toml``."""
    max_keywords: Annotated[int, msgspec.Meta(ge=1, le=200)] = 25
    temperature: Annotated[float, msgspec.Meta(ge=0.0, le=2.0)] = 0.2
    top_p: Annotated[float, msgspec.Meta(gt=0.0, le=1.0)] = 0.9
    banned_words: tuple[str, ...] = DEFAULT_BANNED_WORDS
    """A keyword holding one of these as a whole word is dropped."""
    generic_words: tuple[str, ...] = DEFAULT_GENERIC_WORDS
    """A keyword that is only one of these is dropped ("light"; "evening light" stays)."""
    keyword_order: Literal["model", "score"] = "model"
    """Keep the model's order, or sort by the model's score when it gives one."""


class MetadataConfig(msgspec.Struct, frozen=True, kw_only=True):
    """How photo metadata is written (``imageworks.metadata``)."""

    mode: Literal["skip", "merge", "overwrite"] = "merge"
    """skip: leave files that already have keywords or a caption; merge: add keywords, fill empty text;
    overwrite: replace our fields. The default of `imageworks metadata write --mode`: merge, so that an explicit
    edit is written (a value the mode keeps out makes the command exit 1, never silently 0)."""
    mtime: Literal["keep", "update"] = "keep"
    """keep: a written file keeps its modification time; update: it gets the time of the write."""
    sidecar_for_all: bool = False
    """Write an .xmp sidecar for every photo instead of into JPEG/TIFF/PNG/WebP (RAW files always get one)."""
    backups: bool = True
    """Copy each file to the state dir before its first change (`imageworks metadata restore`)."""


class SimilarityConfig(msgspec.Struct, frozen=True, kw_only=True):
    """`imageworks similar` (``imageworks.similarity``): hashes, neighbours kept, verdict bands."""

    algorithm: Literal["phash", "dhash"] = "phash"
    """Perceptual hash: phash (DCT, robust to re-encoding and resizing) or dhash (gradients, a little faster)."""
    hash_size: Annotated[int, msgspec.Meta(ge=4, le=32)] = 8
    """Hash side: 8 = 64 bits; 16 = 256 bits (finer, more distinct)."""
    top_k: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10
    """Neighbours kept per image (re-grouping at a new threshold reads only these)."""
    duplicate: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.92
    """A pair scoring at least this (0..1) is called a duplicate."""
    similar: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.82
    """A pair scoring at least this is called similar; also the default threshold of `imageworks similar`."""
    embedding_model: str = ""
    """A CLIP or SigLIP checkpoint (local dir or HF-cache id) for the daemon's embed slot. Set, `imageworks
    similar` uses hashes and embeddings (the better score of both) by default; empty, hashes only."""


class TuiConfig(msgspec.Struct, frozen=True, kw_only=True):
    """The TUI's own settings (`imageworks tui`); its Configure mode saves them on change."""

    keymap: dict[str, str] = {}
    """Binding id -> keys, e.g. ``{"execute.run" = "ctrl+x"}`` (ids are listed on the TUI's help screen, ``?``)."""
    library_root: str = ""
    """The folder of photos the Configure mode scans and a run tags."""
    min_size: str = ""
    """Skip files smaller than this (``500k``, ``1MB``, ``2MiB``); empty = no minimum."""
    extensions: str = ""
    """Comma-separated extensions or kinds (``jpg, png, raw``); empty = every image kind."""
    skip_tagged: bool = False
    """Leave out files that already carry keywords, a title or a description."""
    write_metadata: Literal["none", "skip", "merge", "overwrite"] = "none"
    """Write tags into the photos during a run with this mode; none = review first, write later."""
    image_preview: Literal["auto", "halfcell", "off"] = "auto"
    """auto = kitty/sixel graphics where the terminal answers for them, else half-cell blocks."""


class OpenAIConfig(msgspec.Struct, frozen=True, kw_only=True):
    """The optional OpenAI-compatible HTTP endpoint inside the daemon (off by default)."""

    listen: str = ""
    """``HOST:PORT`` to serve it on (``127.0.0.1:8765``; a non-loopback host logs a warning); empty = off."""
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 32 * 1024 * 1024
    """A request body above this is refused with 413 (images come inline, as base64 data: URIs)."""
    max_queue_delay_ms: Annotated[float, msgspec.Meta(ge=0, le=10_000)] = 10.0
    """How long a part-filled batch holding an endpoint request waits for more to join before it runs (Triton's
    dynamic batcher has the same knob): a full batch runs at once, a job-only batch never waits; 0 = never wait."""


class Config(msgspec.Struct, frozen=True, kw_only=True):
    daemon: DaemonConfig = DaemonConfig()
    model: ModelConfig = ModelConfig()
    cluster: ClusterConfig = ClusterConfig()
    scan: ScanConfig = ScanConfig()
    tagger: TaggerConfig = TaggerConfig()
    metadata: MetadataConfig = MetadataConfig()
    tui: TuiConfig = TuiConfig()
    similarity: SimilarityConfig = SimilarityConfig()
    openai: OpenAIConfig = OpenAIConfig()


def _section_types() -> dict[str, type[msgspec.Struct]]:
    return {f.name: f.type for f in msgspec.structs.fields(Config)}


ENV_PREFIX = "IMAGEWORKS_"
OTHER_VARIABLES = frozenset({"IMAGEWORKS_MODELS_CACHE", "IMAGEWORKS_TEST_PAUSE"})
"""``IMAGEWORKS_*`` variables that are not config keys (the built models' cache: ``checkpoints.py`` and the demo
model's build; a pause the write tests use: ``metadata/atomic.py``), so no typo warning names them."""

_warned: set[str] = set()


def _warn_once(line: str) -> None:
    """One line on stderr, the first time this process meets it (the config is loaded many times)."""
    if line not in _warned:
        _warned.add(line)
        print(f"warning: {line}", file=sys.stderr, flush=True)


def _nearest(name: str, known: Iterable[str], prefix: str = "") -> str:
    """``; did you mean X?`` for the closest known name, or nothing when none is close. A ``prefix`` all names share
    is left out of the comparison (every variable starting IMAGEWORKS_ would look alike)."""
    match = difflib.get_close_matches(name.removeprefix(prefix), [k.removeprefix(prefix) for k in known], 1, 0.6)
    return f"; did you mean {prefix}{match[0]}?" if match else ""


def _field_names(section_type: type[msgspec.Struct]) -> list[str]:
    return [f.name for f in msgspec.structs.fields(section_type)]


def _check_file_keys(raw: dict[str, Any], path: Path) -> None:
    """Warn about the sections and keys of the config file that name nothing (msgspec would silently drop them)."""
    types = _section_types()
    for section, values in raw.items():
        if section not in types:
            _warn_once(f"{path}: [{section}]: unknown section{_nearest(section, types)}")
        elif isinstance(values, dict):
            names = _field_names(types[section])
            for key in values:
                if key not in names:
                    _warn_once(f"{path}: {section}.{key}: unknown key{_nearest(key, names)}")


def _env_overrides(environ: dict[str, str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    types = _section_types()
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX) or key in OTHER_VARIABLES:
            continue
        rest = key[len(ENV_PREFIX) :].lower()
        for section, section_type in types.items():
            prefix = section + "_"
            if rest.startswith(prefix) and rest[len(prefix) :] in _field_names(section_type):
                field = rest[len(prefix) :]
                out.setdefault(section, {})[field] = _env_value(section_type, field, value)
                break
        else:
            known = [f"{ENV_PREFIX}{s.upper()}_{n.upper()}" for s, t in types.items() for n in _field_names(t)]
            _warn_once(f"{key}: unknown key{_nearest(key, known, ENV_PREFIX)}")
    return out


def _env_value(section_type: type[msgspec.Struct], field: str, value: str) -> Any:
    """Env vars are strings: a list-valued key takes a comma-separated list (``a,b,c``; empty = none); a table-valued
    key (``tui.keymap``) takes ``name=value`` pairs separated by ``;`` (a value may hold commas: ``1,f2``)."""
    ftype = next(f.type for f in msgspec.structs.fields(section_type) if f.name == field)
    origin = getattr(ftype, "__origin__", None)
    if origin in (list, tuple):
        return [part.strip() for part in value.split(",") if part.strip()]
    if origin is dict:
        return env_table(value, f"IMAGEWORKS_{section_type.__name__.removesuffix('Config').upper()}_{field.upper()}")
    return value


def env_table(value: str, variable: str) -> dict[str, str]:
    """``"execute.run=ctrl+x; app.help=f1"`` -> ``{"execute.run": "ctrl+x", "app.help": "f1"}`` (empty = none)."""
    table: dict[str, str] = {}
    for pair in value.split(";"):
        if not pair.strip():
            continue
        name, sep, keys = pair.partition("=")
        if not sep or not name.strip() or not keys.strip():
            raise ConfigError(f"{variable}: {pair.strip()!r} is not name=value (pairs are separated by ';')")
        table[name.strip()] = keys.strip()
    return table


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
        _check_file_keys(raw, path)
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
    defaults = to_dict(Config())
    current = to_dict(config)
    diff = {
        section: {k: v for k, v in values.items() if defaults.get(section, {}).get(k) != v}
        for section, values in current.items()
    }
    write_atomically(path, tomli_w.dumps({k: v for k, v in diff.items() if v}))
    return path


def save_values(section: str, values: dict[str, Any], path: Path | None = None) -> Path:
    """Write only these keys of one section into the config file as it is on disk now, leaving every other line as
    the person wrote it (their keys, comments and order; a key removed by hand stays removed). A changed key's line
    is replaced in place, a new one goes at the end of its section's table. Where the file holds the key in a form a
    line edit cannot safely change (an inline table, a multi-line value), the file is rewritten from its parsed
    keys instead: every key kept, comments lost. Raises ConfigError when the file cannot be read (never overwritten)."""
    import tomli_w

    path = path or paths.config_file()
    text = ""
    if path.exists():
        try:
            text = path.read_text(encoding="utf-8")
            raw = tomllib.loads(text)
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
            raise ConfigError(f"{path}: cannot read config, so nothing was saved: {exc}") from exc
    else:
        raw = {}
    plain = msgspec.to_builtins(values)
    wanted = {**raw, section: {**raw.get(section, {}), **plain}}  # a value replaces the key whole (a table too)
    edited = edit_lines(text, section, plain)
    if edited is None or parses_to(edited) != wanted:
        edited = tomli_w.dumps(wanted)
    write_atomically(path, edited)
    return path


def replace(config: Config, section: str, **values: Any) -> Config:
    """Return a copy of ``config`` with some keys of one section changed (validated)."""
    data = to_dict(config)
    data.setdefault(section, {}).update(values)
    try:
        return msgspec.convert(data, Config, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{section}: {exc}") from exc
