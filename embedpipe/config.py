"""Typed, frozen configuration: one dataclass per stage, loaded from YAML.

A config file is a YAML mapping of sections (``input``, ``output``, ``spark``,
``clean``, ``vocab``, ``cooccur``, ``glove``, ``sgns``, ``eval``) plus the
top-level ``stages`` list. Loading does three things before any Spark work:

1. rejects unknown sections and keys, naming the key and the valid ones;
2. applies ``--set section.key=value`` overrides, each value parsed as YAML;
3. validates types and ranges, with messages that say what to change.

Relative paths resolve against the folder of the config file, so a config
works from any working directory. ``embedpipe://NAME`` names a file shipped in
the package's ``data/`` folder (the demo sample).

Example
-------
>>> cfg = load_config("conf/demo.yaml", ["sgns.epochs=3", "stages=[ingest,vocab]"])
>>> cfg.sgns.epochs
3
"""

from __future__ import annotations

import dataclasses
import json
import os
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml

from embedpipe.errors import ConfigError

STAGES: tuple[str, ...] = ("ingest", "vocab", "encode", "cooccur", "glove", "sgns", "evaluate", "export")
PACKAGE_DATA_SCHEME = "embedpipe://"


@dataclass(frozen=True, kw_only=True)
class InputConfig:
    """Where the raw corpus is and how to read it."""

    path: str = ""
    format: Literal["text", "parquet", "delta", "jsonl"] = "text"
    # Column (parquet/delta) or JSON field (jsonl) holding the text.
    column: str = "text"
    # Long lines are cut into pieces of at most this many tokens (gensim's
    # MAX_WORDS_IN_BATCH); training windows never cross a piece boundary.
    max_sentence_length: int = 10_000
    # Spark partitions to read into; 0 = let Spark decide from the files.
    min_partitions: int = 0


@dataclass(frozen=True, kw_only=True)
class OutputConfig:
    """Root folder of the run's Delta tables."""

    path: str = "runs/default"
    # Log each run to MLflow: auto (when mlflow is installed and a tracking
    # server is configured), on, or off. See embedpipe.tracking.
    mlflow: Literal["auto", "on", "off"] = "auto"


@dataclass(frozen=True, kw_only=True)
class SparkConfig:
    """Session settings. They apply only when embedpipe builds a local session;
    on a cluster or Databricks the existing session is used as it is."""

    master: str = "local[*]"
    # Partitions for training and co-occurrence counting (replicas that are averaged).
    partitions: int = 2
    app_name: str = "embedpipe"
    driver_memory: str = "4g"
    # Extra Spark conf for local sessions, e.g. {"spark.sql.shuffle.partitions": "8"}.
    conf: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class CleanConfig:
    """Cleaning and tokenization options (see embedpipe.ingest.cleaning)."""

    preset: Literal["none", "text8"] = "none"
    normalize: bool = True
    lowercase: bool = True
    punctuation: Literal["drop", "sentence"] = "drop"
    numbers: Literal["keep", "drop", "token", "spell"] = "keep"
    urls: Literal["drop", "tag"] = "drop"
    emails: Literal["drop", "tag"] = "drop"
    mentions: Literal["drop", "tag"] = "drop"
    hashtags: Literal["drop", "tag"] = "drop"
    symbols: Literal["drop", "keep"] = "drop"
    stopwords: bool = False
    min_token_length: int = 1


@dataclass(frozen=True, kw_only=True)
class VocabConfig:
    min_count: int = 5
    # 0 = no limit; otherwise keep the max_size most frequent words (ties by word).
    max_size: int = 0


@dataclass(frozen=True, kw_only=True)
class CooccurConfig:
    shards: int = 8
    weighting: Literal["harmonic", "uniform"] = "harmonic"
    # Budget per task for the counting buffers; the kernel flushes instead of growing.
    memory_mb: int = 512


@dataclass(frozen=True, kw_only=True)
class GloveConfig:
    dim: int = 100
    window: int = 10
    x_max: float = 100.0
    power: float = 0.75
    epochs: int = 25
    learning_rate: float = 0.05
    grad_clip: float = 100.0
    seed: int = 1
    output: Literal["sum", "word", "concat"] = "sum"
    sync_per_epoch: int = 1
    # Upper bound for the driver-side model (parameters + AdaGrad state).
    max_model_mb: int = 8192


@dataclass(frozen=True, kw_only=True)
class SgnsConfig:
    architecture: Literal["skipgram", "cbow"] = "skipgram"
    dim: int = 100
    window: int = 5
    negative: int = 5
    sample: float = 1e-4
    epochs: int = 5
    alpha: float = 0.025
    min_alpha: float = 0.0001
    seed: int = 1
    # Averaging rounds per epoch; 0 = auto, max(4 × P, P²) for P =
    # spark.partitions: the clipped_sum merge needs more merges as replicas
    # grow (README, skip-gram).
    sync_rounds: int = 0
    # How replicas' rows are merged each round (see embedpipe.train.averaging).
    merge: Literal["average", "touch_weighted", "clipped_sum"] = "clipped_sum"
    output: Literal["in", "in+out"] = "in"
    max_model_mb: int = 8192


@dataclass(frozen=True, kw_only=True)
class EvalConfig:
    restrict_vocab: int = 30_000
    # Extra user sets: {"name": path}; pair sets (.tsv/.txt with 3 columns) or
    # analogy sets (": section" lines, 4 words per question) by `kind`.
    extra_pair_sets: Mapping[str, str] = field(default_factory=dict)
    extra_analogy_sets: Mapping[str, str] = field(default_factory=dict)
    models: Sequence[str] = ("glove", "sgns")
    # Run the analogy search as a Spark job when min(restrict_vocab, vocab size) exceeds this.
    spark_above: int = 200_000


@dataclass(frozen=True, kw_only=True)
class ExportConfig:
    model: str = "sgns"
    format: Literal["word2vec", "word2vec-binary", "glove"] = "word2vec"
    # Relative to output.path when not absolute; empty = <output.path>/export/<model>.<ext>
    out: str = ""


# The stages of a full run, in order (export runs on demand).
DEFAULT_STAGES = ("ingest", "vocab", "encode", "cooccur", "glove", "sgns", "evaluate")


@dataclass(frozen=True, kw_only=True)
class PipelineConfig:
    """The whole run: one frozen section per stage plus the stage list."""

    input: InputConfig = field(default_factory=InputConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    spark: SparkConfig = field(default_factory=SparkConfig)
    clean: CleanConfig = field(default_factory=CleanConfig)
    vocab: VocabConfig = field(default_factory=VocabConfig)
    cooccur: CooccurConfig = field(default_factory=CooccurConfig)
    glove: GloveConfig = field(default_factory=GloveConfig)
    sgns: SgnsConfig = field(default_factory=SgnsConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    stages: Sequence[str] = DEFAULT_STAGES
    # Folder of the config file; relative paths were resolved against it.
    base_dir: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The effective config as plain data (stored with every output)."""
        return _plain(dataclasses.asdict(self))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def section_json(self, *names: str) -> str:
        """Canonical JSON of some sections: the fingerprint input of a stage."""
        d = self.to_dict()
        return json.dumps({n: d[n] for n in names}, sort_keys=True)


SECTIONS: dict[str, type] = {
    f.name: f.default_factory  # type: ignore[misc]
    for f in fields(PipelineConfig)
    if f.name not in ("stages", "base_dir")
}


def _plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


# ---------------------------------------------------------------------------
# loading


def load_config(path: str | os.PathLike[str] | None, overrides: Iterable[str] = ()) -> PipelineConfig:
    """Load a YAML config, apply ``section.key=value`` overrides and validate.

    Parameters
    ----------
    path
        YAML file. ``None`` starts from the defaults (relative paths then
        resolve against the working directory).
    overrides
        Strings ``section.key=value`` or ``stages=[...]``; values are YAML.

    Raises
    ------
    ConfigError
        Unknown section or key, wrong type, or a value out of range.
    """
    raw: dict[str, Any] = {}
    base_dir = Path.cwd()
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(
                f"config file {str(path)!r} does not exist; pass the path of a YAML file such as conf/demo.yaml"
            )
        base_dir = p.resolve().parent
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise ConfigError(f"config file {str(path)!r} is not valid YAML: {e}") from e
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {str(path)!r} must hold a mapping of sections, got {type(loaded).__name__}")
        raw = loaded
    for item in overrides:
        _apply_override(raw, item)
    return build_config(raw, base_dir=base_dir)


def _apply_override(raw: dict[str, Any], item: str) -> None:
    if "=" not in item:
        raise ConfigError(f"--set {item!r} must look like section.key=value (e.g. sgns.epochs=3)")
    key, _, value_text = item.partition("=")
    key = key.strip()
    try:
        value = yaml.safe_load(value_text) if value_text.strip() else ""
    except yaml.YAMLError as e:
        raise ConfigError(f"--set {item!r}: value is not valid YAML: {e}") from e
    parts = key.split(".")
    if len(parts) == 1:
        if key != "stages":
            raise ConfigError(
                f"--set {item!r}: top-level key {key!r} is unknown; use 'stages' or section.key "
                f"with a section in {sorted(SECTIONS)}"
            )
        raw["stages"] = value
        return
    if len(parts) != 2:
        raise ConfigError(f"--set {item!r}: key must be section.key, got {key!r}")
    section, name = parts
    sec = raw.setdefault(section, {})
    if not isinstance(sec, dict):
        raise ConfigError(f"section {section!r} must be a mapping")
    sec[name] = value


def build_config(raw: Mapping[str, Any], *, base_dir: Path | None = None) -> PipelineConfig:
    """Build and validate a PipelineConfig from plain data."""
    base_dir = base_dir or Path.cwd()
    valid_top = sorted([*SECTIONS, "stages"])
    unknown = [k for k in raw if k not in SECTIONS and k != "stages"]
    if unknown:
        raise ConfigError(f"unknown config section {unknown[0]!r}; valid sections are {valid_top}")
    sections: dict[str, Any] = {}
    for name, cls in SECTIONS.items():
        values = raw.get(name) or {}
        if not isinstance(values, Mapping):
            raise ConfigError(f"section {name!r} must be a mapping of keys, got {values!r}")
        sections[name] = _build_section(name, cls, values)
    stages = raw.get("stages", PipelineConfig().stages)
    if isinstance(stages, str):
        stages = [s.strip() for s in stages.split(",") if s.strip()]
    if not isinstance(stages, (list, tuple)) or not all(isinstance(s, str) for s in stages):
        raise ConfigError(f"stages must be a list of stage names from {list(STAGES)}, got {stages!r}")
    bad = [s for s in stages if s not in STAGES]
    if bad:
        raise ConfigError(f"unknown stage {bad[0]!r} in stages; valid stages are {list(STAGES)}")
    cfg = PipelineConfig(**sections, stages=tuple(stages), base_dir=str(base_dir))
    cfg = _resolve_paths(cfg, base_dir)
    validate(cfg)
    return cfg


def _build_section(section: str, cls: type, values: Mapping[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in fields(cls)]
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in valid:
            raise ConfigError(
                f"unknown config key {section}.{key}; valid keys in section {section!r} are {valid}"
            )
        kwargs[key] = _coerce(f"{section}.{key}", hints[key], value)
    return cls(**kwargs)


def _coerce(key: str, tp: Any, value: Any) -> Any:
    origin = get_origin(tp)
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices:
            raise ConfigError(f"{key} must be one of {list(choices)}, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):
            # YAML 1.1 reads "1e-3" (no dot) as a string; accept it as a number.
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return str(value)
    if origin in (Mapping, dict) or tp is Mapping:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key} must be a mapping, got {value!r}")
        return {str(k): str(v) for k, v in value.items()}
    if origin in (Sequence, list, tuple):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        return tuple(str(v) for v in value)
    raise ConfigError(f"{key}: unsupported type {tp!r}")  # pragma: no cover - programming error


def resolve_path(path: str, base_dir: Path | str) -> str:
    """Resolve a config path: package data, URI, absolute, or relative to base_dir."""
    if not path:
        return path
    if path.startswith(PACKAGE_DATA_SCHEME):
        rel = path[len(PACKAGE_DATA_SCHEME):]
        return str(resources.files("embedpipe").joinpath("data", rel))
    if "://" in path or path.startswith("dbfs:") or os.path.isabs(path):
        return path
    return str((Path(base_dir) / path).resolve())


def _resolve_paths(cfg: PipelineConfig, base_dir: Path) -> PipelineConfig:
    inp = dataclasses.replace(cfg.input, path=resolve_path(cfg.input.path, base_dir))
    out = dataclasses.replace(cfg.output, path=resolve_path(cfg.output.path, base_dir))
    ev = dataclasses.replace(
        cfg.eval,
        extra_pair_sets={k: resolve_path(v, base_dir) for k, v in cfg.eval.extra_pair_sets.items()},
        extra_analogy_sets={k: resolve_path(v, base_dir) for k, v in cfg.eval.extra_analogy_sets.items()},
    )
    exp = cfg.export
    if exp.out:
        exp = dataclasses.replace(exp, out=resolve_path(exp.out, base_dir))
    return dataclasses.replace(cfg, input=inp, output=out, eval=ev, export=exp)


# ---------------------------------------------------------------------------
# validation


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ConfigError(message)


def validate(cfg: PipelineConfig) -> None:
    """Range checks that can be made before Spark starts."""
    i, v, c, g, s, e = cfg.input, cfg.vocab, cfg.cooccur, cfg.glove, cfg.sgns, cfg.eval
    _check(i.max_sentence_length >= 2, f"input.max_sentence_length must be >= 2, got {i.max_sentence_length}")
    _check(i.min_partitions >= 0, f"input.min_partitions must be >= 0, got {i.min_partitions}")
    _check(cfg.spark.partitions >= 1, f"spark.partitions must be >= 1, got {cfg.spark.partitions}")
    _check(cfg.clean.min_token_length >= 1, f"clean.min_token_length must be >= 1, got {cfg.clean.min_token_length}")
    _check(v.min_count >= 1, f"vocab.min_count must be >= 1, got {v.min_count}")
    _check(v.max_size >= 0, f"vocab.max_size must be >= 0 (0 = unlimited), got {v.max_size}")
    _check(c.shards >= 1, f"cooccur.shards must be >= 1, got {c.shards}")
    _check(c.memory_mb >= 1, f"cooccur.memory_mb must be >= 1, got {c.memory_mb}")
    for name, m in (("glove", g), ("sgns", s)):
        _check(1 <= m.dim <= 10_000, f"{name}.dim must be in 1..10000, got {m.dim}")
        _check(1 <= m.window <= 1000, f"{name}.window must be in 1..1000, got {m.window}")
        _check(m.epochs >= 1, f"{name}.epochs must be >= 1, got {m.epochs}")
        _check(m.max_model_mb >= 1, f"{name}.max_model_mb must be >= 1, got {m.max_model_mb}")
    _check(g.x_max > 0, f"glove.x_max must be > 0, got {g.x_max}")
    _check(0 < g.power <= 1, f"glove.power must be in (0, 1], got {g.power}")
    _check(g.learning_rate > 0, f"glove.learning_rate must be > 0, got {g.learning_rate}")
    _check(g.grad_clip > 0, f"glove.grad_clip must be > 0, got {g.grad_clip}")
    _check(g.sync_per_epoch >= 1, f"glove.sync_per_epoch must be >= 1, got {g.sync_per_epoch}")
    _check(1 <= s.negative <= 100, f"sgns.negative must be in 1..100, got {s.negative}")
    _check(0 <= s.sample < 1, f"sgns.sample must be in [0, 1) (0 disables subsampling), got {s.sample}")
    _check(s.alpha > 0, f"sgns.alpha must be > 0, got {s.alpha}")
    _check(0 <= s.min_alpha <= s.alpha, f"sgns.min_alpha must be in [0, sgns.alpha={s.alpha}], got {s.min_alpha}")
    _check(s.sync_rounds >= 0, f"sgns.sync_rounds must be >= 1 (or 0 for auto), got {s.sync_rounds}")
    if cfg.output.mlflow == "on":
        import importlib.util

        _check(
            importlib.util.find_spec("mlflow") is not None,
            "output.mlflow is 'on' but mlflow is not installed; "
            "pip install 'embedpipe[mlflow]' or set output.mlflow: auto",
        )
    _check(e.restrict_vocab >= 1, f"eval.restrict_vocab must be >= 1, got {e.restrict_vocab}")
    _check(e.spark_above >= 1, f"eval.spark_above must be >= 1, got {e.spark_above}")
    bad_models = [m for m in e.models if m not in ("glove", "sgns")]
    _check(not bad_models, f"eval.models may only hold glove and sgns, got {bad_models}")
    if any(st in cfg.stages for st in ("ingest",)):
        _check(bool(i.path), "input.path is empty; set it to a file, folder or glob of the corpus")
