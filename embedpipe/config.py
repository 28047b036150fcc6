"""Typed, frozen configuration: one dataclass per stage, loaded from YAML.

A config file is a YAML mapping of sections (``input``, ``output``, ``spark``,
``clean``, ``vocab``, ``cooccur``, ``glove``, ``sgns``, ``eval``, ``export``,
``neighbors``, and the commands' ``align``, ``bias``, ``embed``, ``plot``)
plus the top-level ``stages`` list. Loading does three things before any
Spark work:

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
import re
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args, get_origin

import yaml

from embedpipe.errors import ConfigError

STAGES: tuple[str, ...] = (
    "ingest", "vocab", "encode", "cooccur", "glove", "sgns", "evaluate", "export", "neighbors"
)
PACKAGE_DATA_SCHEME = "embedpipe://"
# How a table or file of texts is read: the corpus (input.format) and the texts embed reads (embed.format).
InputFormat = Literal["text", "parquet", "delta", "jsonl", "dataframe"]


@dataclass(frozen=True)
class Range:
    """Bounds of a numeric key; None = unbounded on that side."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def holds(self, x: float) -> bool:
        return (
            (self.ge is None or x >= self.ge)
            and (self.gt is None or x > self.gt)
            and (self.le is None or x <= self.le)
            and (self.lt is None or x < self.lt)
        )

    def __str__(self) -> str:
        lo, hi = (self.ge, "[") if self.ge is not None else (self.gt, "(")
        up, close = (self.le, "]") if self.le is not None else (self.lt, ")")
        if lo is not None and up is not None:
            if hi == "[" and close == "]":
                return f"in {lo:g}..{up:g}"
            return f"in {hi}{lo:g}, {up:g}{close}"
        if lo is not None:
            return f"{'>=' if hi == '[' else '>'} {lo:g}"
        if up is not None:
            return f"{'<=' if close == ']' else '<'} {up:g}"
        return ""


def setting(
    default: Any = dataclasses.MISSING,
    doc: str = "",
    *,
    default_factory: Any = dataclasses.MISSING,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    range_text: str = "",
) -> Any:
    """Declare a config key: its default, one-line doc and range, in one place.

    The type comes from the field's annotation (``Literal[...]`` lists the
    choices). Validation (:meth:`Section.__post_init__`) and the key table of
    docs/configuration.md (:func:`reference_table`) both read this declaration.
    """
    meta = {"doc": doc, "range": Range(ge=ge, gt=gt, le=le, lt=lt), "range_text": range_text}
    if default_factory is not dataclasses.MISSING:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


class Section:
    """Base of every config section: checks each key against its declaration
    when the section is built, so a bad value fails before Spark starts."""

    NAME: ClassVar[str] = ""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in fields(self):  # type: ignore[arg-type]
            key = f"{self.NAME}.{f.name}"
            value = getattr(self, f.name)
            _check_type(key, hints[f.name], value)
            rng: Range | None = f.metadata.get("range")
            if rng is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
                if not rng.holds(value):
                    raise ConfigError(f"{key} must be {f.metadata.get('range_text') or rng}, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class InputConfig(Section):
    """Where the raw corpus is and how to read it."""

    NAME: ClassVar[str] = "input"
    path: str = setting("", "file, folder, glob or table path of the corpus (required by ingest)")
    # "dataframe" has no path: the DataFrame comes from Python (embedpipe.train), not from the config.
    format: InputFormat = setting(
        "text", "how to read `input.path`; dataframe: the DataFrame given to `embedpipe.train`"
    )
    column: str = setting(
        "text",
        "column (parquet, delta, dataframe) or JSON field (jsonl) holding the text, "
        "or an array<string> column of tokens (taken as they are)",
    )
    # gensim's MAX_WORDS_IN_BATCH; training windows never cross a piece boundary.
    max_sentence_length: int = setting(10_000, "longest piece of a line, in tokens", ge=2)
    min_partitions: int = setting(0, "partitions to read the input into (0 = as read)", ge=0)


@dataclass(frozen=True, kw_only=True)
class OutputConfig(Section):
    """Root folder of the run's Delta tables."""

    NAME: ClassVar[str] = "output"
    path: str = setting("runs/default", "folder or URI of the run's tables")
    mlflow: Literal["auto", "on", "off"] = setting(
        "auto", "log runs to MLflow (auto: when mlflow and a tracking server are there)"
    )
    checkpoint_seconds: float = setting(
        60.0, "least seconds between a trainer's checkpoints (its last epoch always; 0: every epoch)", ge=0
    )


@dataclass(frozen=True, kw_only=True)
class SparkConfig(Section):
    """Session settings. They apply only when embedpipe builds a local session;
    on a cluster or Databricks the existing session is used as it is."""

    NAME: ClassVar[str] = "spark"
    master: str = setting("local[*]", "master of a local session (ignored on a cluster)")
    partitions: int = setting(2, "replicas for training and tasks for co-occurrence counting", ge=1)
    task_cpus: int = setting(
        1, "cores of each training task: its kernels run this many threads (Hogwild, or one block each)", ge=1
    )
    app_name: str = setting("embedpipe", "Spark application name of a local session")
    driver_memory: str = setting("4g", "driver memory of a local session")
    conf: Mapping[str, str] = setting(
        default_factory=dict, doc="extra Spark settings of a local session"
    )


@dataclass(frozen=True, kw_only=True)
class CleanConfig(Section):
    """How ingest turns raw lines into tokens (rules and order: embedpipe.cleaning)."""

    NAME: ClassVar[str] = "clean"
    preset: Literal["none", "text8"] = setting(
        "none", "text8: a-z and spelled digits only (ignores other clean keys)"
    )
    normalize: bool = setting(True, "Unicode NFKC normalisation first")
    lowercase: bool = setting(True, "lower-case (full Unicode)")
    punctuation: Literal["drop", "sentence"] = setting(
        "drop", "sentence keeps . ! ? as tokens"
    )
    numbers: Literal["keep", "drop", "token", "spell"] = setting(
        "keep", "keep, drop, replace by `<num>`, or spell each digit"
    )
    urls: Literal["drop", "tag"] = setting("drop", "drop URLs or replace each by `<url>`")
    emails: Literal["drop", "tag"] = setting("drop", "drop e-mail addresses or replace each by `<email>`")
    mentions: Literal["drop", "tag"] = setting("drop", "drop @mentions or replace each by `<mention>`")
    hashtags: Literal["drop", "tag"] = setting("drop", "drop #hashtags or replace each by `<hashtag>`")
    symbols: Literal["drop", "keep"] = setting("drop", "Unicode symbols and emoji: drop, or keep each as a token")
    stopwords: bool = setting(False, "remove the built-in English stopwords (never negations)")
    min_token_length: int = setting(1, "drop word tokens shorter than this many characters", ge=1)


@dataclass(frozen=True, kw_only=True)
class VocabConfig(Section):
    NAME: ClassVar[str] = "vocab"
    min_count: int = setting(5, "drop words seen fewer times", ge=1)
    max_size: int = setting(0, "keep at most this many words (0 = all)", ge=0)


@dataclass(frozen=True, kw_only=True)
class CooccurConfig(Section):
    NAME: ClassVar[str] = "cooccur"
    window: int = setting(10, "symmetric window of the counts", ge=1, le=1000)
    shards: int = setting(
        8, "shards of the matrix; a multiple of spark.partitions", ge=1
    )
    weighting: Literal["harmonic", "uniform"] = setting("harmonic", "weight of a pair at distance d: 1/d or 1")
    # The kernel flushes its buffers instead of growing past this.
    memory_mb: int = setting(512, "memory bound of each task's counting buffers", ge=1)


@dataclass(frozen=True, kw_only=True)
class GloveConfig(Section):
    NAME: ClassVar[str] = "glove"
    distribution: Literal["auto", "rotation", "averaging"] = setting(
        "auto", "where the model lives: in blocks on the executors, on the driver, or auto (see README)"
    )
    dim: int = setting(100, "vector size", ge=1, le=10_000)
    x_max: float = setting(100.0, "weighting f(x) = min(1, (x / x_max)^power)", gt=0)
    power: float = setting(0.75, "exponent of the weighting", gt=0, le=1)
    epochs: int = setting(25, "AdaGrad passes over the matrix", ge=1)
    learning_rate: float = setting(0.05, "AdaGrad's initial rate", gt=0)
    grad_clip: float = setting(100.0, "per-component gradient clip (glove.c's default)", gt=0)
    seed: int = setting(1, "seed of initialisation and visiting order")
    output: Literal["sum", "word", "concat"] = setting(
        "sum", "vectors written: W + W̃, W, or both side by side"
    )
    sync_per_epoch: int = setting(1, "averaging: rounds per stratum", ge=1)
    block_assignment: Literal["per_run", "per_epoch"] = setting(
        "per_epoch", "rotation: words dealt to blocks again every epoch, or once a run (faster; see docs/design.md)"
    )
    max_model_mb: int = setting(
        8192, "model memory budget: a task's blocks, or the driver's model", ge=1
    )


@dataclass(frozen=True, kw_only=True)
class SgnsConfig(Section):
    NAME: ClassVar[str] = "sgns"
    distribution: Literal["auto", "rotation", "averaging"] = setting(
        "auto", "where the model lives: in blocks on the executors, on the driver, or auto (see README)"
    )
    architecture: Literal["skipgram", "cbow"] = setting("skipgram", "skip-gram, or CBOW (mean of the context)")
    dim: int = setting(100, "vector size", ge=1, le=10_000)
    window: int = setting(5, "largest window (each word draws 1..window)", ge=1, le=1000)
    negative: int = setting(5, "negative samples per positive pair, from unigram^0.75", ge=1, le=100)
    sample: float = setting(
        1e-4,
        "subsampling threshold of frequent words",
        ge=0,
        lt=1,
        range_text="in [0, 1) (0 disables subsampling)",
    )
    epochs: int = setting(5, "passes over the corpus", ge=1)
    alpha: float = setting(0.025, "learning rate at the start, decaying linearly", gt=0)
    min_alpha: float = setting(0.0001, "learning rate at the end (at most sgns.alpha)", ge=0)
    seed: int = setting(1, "seed of initialisation, sampling and data order")
    sync_rounds: int = setting(
        0,
        "rounds per epoch; 0 = auto (averaging: max(4P, P²), 1 for P=1; rotation: 4)",
        ge=0,
        range_text=">= 1 (or 0 for auto)",
    )
    merge: Literal["average", "touch_weighted", "clipped_sum"] = setting(
        "clipped_sum", "how replicas' rows are merged (averaging)"
    )
    output: Literal["in", "in+out"] = setting("in", "vectors written: input vectors, or input + output")
    max_model_mb: int = setting(
        8192, "model memory budget: a task's blocks, or the driver's model", ge=1
    )


@dataclass(frozen=True, kw_only=True)
class EvalConfig(Section):
    NAME: ClassVar[str] = "eval"
    restrict_vocab: int = setting(30_000, "analogy search space: the most frequent words", ge=1)
    # Pair sets: .tsv/.txt with 3 columns; analogy sets: ": section" lines and 4 words per question.
    extra_pair_sets: Mapping[str, str] = setting(default_factory=dict, doc="your own similarity sets, {name: path}")
    extra_analogy_sets: Mapping[str, str] = setting(default_factory=dict, doc="your own analogy sets, {name: path}")
    models: Sequence[str] = setting(
        ("glove", "sgns"), "models evaluate scores when present (glove, sgns, imported names)"
    )
    spark_above: int = setting(200_000, "analogy search as a Spark job above this many words", ge=1)


@dataclass(frozen=True, kw_only=True)
class ExportConfig(Section):
    NAME: ClassVar[str] = "export"
    model: str = setting("sgns", "model embedpipe export writes")
    format: Literal["word2vec", "word2vec-binary", "glove"] = setting("word2vec", "file format")
    out: str = setting("", "file to write (empty: under output.path/export/)")


@dataclass(frozen=True, kw_only=True)
class NeighborsConfig(Section):
    """The neighbors stage: every word's nearest words, scored blockwise on the executors."""

    NAME: ClassVar[str] = "neighbors"
    model: str = setting("sgns", "model whose neighbours the neighbors stage writes")
    k: int = setting(10, "neighbours per word", ge=1, le=1000)
    block_rows: int = setting(
        0, "words per block of the all-pairs search (0 = auto: blocks of about 8 MB)", ge=0
    )


@dataclass(frozen=True, kw_only=True)
class AlignConfig(Section):
    """``embedpipe align``: orthogonal Procrustes from one model onto another."""

    NAME: ClassVar[str] = "align"
    anchors: int = setting(5000, "anchor words: the most frequent words both models share", ge=2)
    held_out: int = setting(1000, "anchors held out (seeded) to score the map; the rest fit it", ge=1)
    dictionary: str = setting("", "a file of source-target word pairs as anchors instead (empty: shared words)")
    seed: int = setting(1, "seed of the fit/held-out split")
    search: int = setting(30000, "retrieval candidates: the target's most frequent words", ge=1)
    csls_k: int = setting(10, "neighbours of CSLS's hubness correction", ge=1, le=1000)
    moved: int = setting(20, "words listed that moved most", ge=0)
    moved_among: int = setting(5000, "moved words are sought among this many frequent shared words", ge=1)


@dataclass(frozen=True, kw_only=True)
class BiasConfig(Section):
    """``embedpipe bias``: WEAT tests, a gender direction, and optional debiasing."""

    NAME: ClassVar[str] = "bias"
    tests: Sequence[str] = setting(
        ("flowers_insects", "instruments_weapons", "career_family", "math_arts", "science_arts"),
        "WEAT tests to run, by name (those of `bias.sets`)",
    )
    sets: str = setting(
        "", "file of `set NAME: words` and `test NAME: X Y A B` lines (empty: the paper's WEAT 1, 2, 6, 7, 8)"
    )
    permutations: int = setting(100_000, "sampled partitions of the p-value when exact is too many", ge=100)
    exact_max: int = setting(1_000_000, "enumerate every partition when there are at most this many", ge=1)
    seed: int = setting(1, "seed of the sampled p-value")
    pairs: str = setting("", "definitional pairs of the gender direction (empty: Bolukbasi et al.'s ten)")
    words: str = setting("", "words to project on the direction (empty: the shipped occupations)")
    top: int = setting(10, "most extreme words listed at each end", ge=1)
    debias: Literal["none", "neutralize"] = setting("none", "neutralize: write a debiased model to vectors")


@dataclass(frozen=True, kw_only=True)
class EmbedConfig(Section):
    """``embedpipe embed``: a vector for each text of a table or file, from a model's word vectors."""

    NAME: ClassVar[str] = "embed"
    method: Literal["mean", "tfidf", "sif"] = setting(
        "mean", "mean of the known words; tfidf: weighted by the texts' own IDF; sif: Arora et al. 2017"
    )
    input: str = setting("", "file, folder, glob or table of the texts (empty: the corpus, as `input.*` reads it)")
    format: InputFormat = setting("text", "how to read `embed.input` (the formats of `input.format`)")
    text_column: str = setting("text", "column (parquet, delta, dataframe) or JSON field (jsonl) of the text")
    key_columns: Sequence[str] = setting((), "columns carried to `doc_vectors` beside `doc_id` (not for text)")
    model: str = setting("sgns", "model of the vectors table whose word vectors are averaged")
    vectors: str = setting("", "run folder holding that model's vectors and vocab (empty: `output.path`)")
    sif_a: float = setting(1e-3, "SIF's a: a word weighs a / (a + p(w)), p(w) from the vocab's counts", gt=0)
    # Above it the vectors meet the texts in a join instead: slower, but no executor holds the whole model.
    broadcast_mb: int = setting(512, "ship the word vectors to every executor up to this size, else join", ge=0)

@dataclass(frozen=True, kw_only=True)
class PlotConfig(Section):
    """``embedpipe plot``: a t-SNE map of a model's frequent words, coloured by k-means clusters of all its words."""

    NAME: ClassVar[str] = "plot"
    model: str = setting("sgns", "model mapped (MODEL or MODEL@RUN; --model)")
    words: int = setting(2000, "the most frequent words placed on the map", ge=10)
    clusters: int = setting(20, "k of the k-means (cosine) over all the model's words", ge=2, le=1000)
    seed: int = setting(1, "seed of k-means and t-SNE")
    perplexity: float = setting(30.0, "t-SNE perplexity: about how many neighbours each word keeps close", gt=0)
    iterations: int = setting(500, "t-SNE iterations after its 250 of early exaggeration", ge=1)
    central: int = setting(8, "most central words listed for each cluster", ge=1, le=1000)
    out: str = setting("", "local folder of the PNG, HTML and cluster lists (--out)")


# Keys that moved to the stage that reads them, so a stage's fingerprint covers only its own section.
MOVED_KEYS: dict[str, str] = {"glove.window": "cooccur.window"}

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
    neighbors: NeighborsConfig = field(default_factory=NeighborsConfig)
    align: AlignConfig = field(default_factory=AlignConfig)
    bias: BiasConfig = field(default_factory=BiasConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    plot: PlotConfig = field(default_factory=PlotConfig)
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
    raw, base_dir = read_config_file(path)
    for item in overrides:
        _apply_override(raw, item)
    return build_config(raw, base_dir=base_dir)


def read_config_file(path: str | os.PathLike[str] | None) -> tuple[dict[str, Any], Path]:
    """The raw sections of a YAML config file and the folder its relative paths
    resolve against (``None``: no sections, the working directory)."""
    if path is None:
        return {}, Path.cwd()
    p = Path(path)
    if not p.is_file():
        raise ConfigError(
            f"config file {str(path)!r} does not exist; pass the path of a YAML file such as conf/demo.yaml"
        )
    try:
        loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {e}") from e
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping of sections, got {type(loaded).__name__}")
    return loaded, p.resolve().parent


def apply_values(raw: dict[str, Any], values: Mapping[str, Any]) -> None:
    """Merge Python values into raw config data, as ``--set`` does with strings.

    A key is a section whose value maps keys to values (``{"sgns": {"epochs": 3}}``),
    ``"section.key"`` (``{"sgns.epochs": 3}``) or ``"stages"``. Values are
    Python values, not YAML text; :func:`build_config` checks them as it
    checks a file's. A section's keys are merged into those already there.
    """
    for key, value in values.items():
        if not isinstance(key, str):
            raise ConfigError(f"config keys must be strings such as 'sgns.epochs', got {key!r}")
        if key == "stages":
            raw["stages"] = value
            continue
        parts = key.split(".")
        if len(parts) > 2:
            raise ConfigError(f"config key {key!r} must be section.key (e.g. sgns.epochs)")
        section = parts[0]
        if section not in SECTIONS:
            raise ConfigError(
                f"unknown config section {section!r} (from {key!r}); valid sections are "
                f"{sorted([*SECTIONS, 'stages'])}: pass section={{key: value}} or 'section.key': value"
            )
        current = raw.setdefault(section, {})
        if not isinstance(current, dict):
            raise ConfigError(f"section {section!r} must be a mapping")
        if len(parts) == 2:
            current[parts[1]] = value
        elif isinstance(value, Mapping):
            current.update(value)
        else:
            raise ConfigError(
                f"section {section!r} must be a mapping of keys, got {value!r} (e.g. sgns={{'epochs': 3}})"
            )


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
        if f"{section}.{key}" in MOVED_KEYS:
            raise ConfigError(f"config key {section}.{key} is now {MOVED_KEYS[f'{section}.{key}']}; rename it")
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
    al = dataclasses.replace(cfg.align, dictionary=resolve_path(cfg.align.dictionary, base_dir))
    bi = dataclasses.replace(
        cfg.bias,
        sets=resolve_path(cfg.bias.sets, base_dir),
        pairs=resolve_path(cfg.bias.pairs, base_dir),
        words=resolve_path(cfg.bias.words, base_dir),
    )
    em = dataclasses.replace(
        cfg.embed, input=resolve_path(cfg.embed.input, base_dir), vectors=resolve_path(cfg.embed.vectors, base_dir)
    )
    pl = dataclasses.replace(cfg.plot, out=resolve_path(cfg.plot.out, base_dir))
    return dataclasses.replace(
        cfg, input=inp, output=out, eval=ev, export=exp, align=al, bias=bi, embed=em, plot=pl
    )


# ---------------------------------------------------------------------------
# validation


#: The models the training stages write; ``embedpipe import`` may not take these names.
TRAINED_MODELS = ("glove", "sgns")
# A model name is a partition value and sits in replaceWhere predicates: no quotes, spaces or slashes.
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def model_name_problem(name: str, *, imported: bool = False) -> str | None:
    """What is wrong with ``name`` as a model of the vectors table (None: nothing).

    ``imported``: a name for ``embedpipe import``, which may not be a trained model's.
    """
    if not isinstance(name, str) or not _MODEL_NAME.fullmatch(name):
        return (
            f"model name {name!r} must be 1 to 64 letters, digits, '_', '.' or '-', starting with a letter "
            "or digit (e.g. gensim-sgns)"
        )
    if imported and name.lower() in TRAINED_MODELS:
        return f"model name {name!r} is reserved for the trained models {list(TRAINED_MODELS)}; pick another"
    return None


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ConfigError(message)


def validate(cfg: PipelineConfig) -> None:
    """Checks that relate several keys, or the config to the machine. Each
    key's own type and range were checked when its section was built."""
    s, e = cfg.sgns, cfg.eval
    _check(s.min_alpha <= s.alpha, f"sgns.min_alpha must be in [0, sgns.alpha={s.alpha}], got {s.min_alpha}")
    if cfg.output.mlflow == "on":
        import importlib.util

        _check(
            importlib.util.find_spec("mlflow") is not None,
            "output.mlflow is 'on' but mlflow is not installed; "
            "pip install 'embedpipe[mlflow]' or set output.mlflow: auto",
        )
    _check(
        not (s.distribution == "rotation" and s.architecture == "cbow"),
        "sgns.distribution: rotation trains skip-gram only (a CBOW window mixes words of every block); "
        "use sgns.distribution: averaging for CBOW",
    )
    bad_models = [problem for m in e.models if (problem := model_name_problem(m))]
    _check(not bad_models, f"eval.models: {'; '.join(bad_models)}")
    export_model = model_name_problem(cfg.export.model)
    _check(export_model is None, f"export.model: {export_model}")
    neighbors_model = model_name_problem(cfg.neighbors.model)
    _check(neighbors_model is None, f"neighbors.model: {neighbors_model}")
    embed_model = model_name_problem(cfg.embed.model)
    _check(embed_model is None, f"embed.model: {embed_model}")
    _check(
        cfg.align.held_out < cfg.align.anchors,
        f"align.held_out ({cfg.align.held_out}) must be below align.anchors ({cfg.align.anchors}), "
        "so some anchors are left to fit the map",
    )
    p = cfg.plot
    plot_model = model_name_problem(p.model.partition("@")[0])
    _check(plot_model is None, f"plot.model: {plot_model}")
    _check(
        p.clusters <= p.words,
        f"plot.words ({p.words}) must be at least plot.clusters ({p.clusters}), so every cluster can show on "
        f"the map; raise plot.words or lower plot.clusters (e.g. --set plot.clusters={max(2, p.words // 10)})",
    )
    # openTSNE would quietly lower it: each word's neighbourhood holds about 3 x perplexity words.
    _check(
        3 * p.perplexity < p.words,
        f"plot.perplexity ({p.perplexity:g}) must be below plot.words / 3 ({p.words / 3:g}); "
        "lower plot.perplexity or raise plot.words",
    )
    if "ingest" in cfg.stages and cfg.input.format != "dataframe":
        _check(bool(cfg.input.path), "input.path is empty; set it to a file, folder or glob of the corpus")


def _check_type(key: str, tp: Any, value: Any) -> None:
    """A section built directly in Python gets the same type checks as one read from YAML."""
    origin = get_origin(tp)
    if origin is Literal:
        ok, want = value in get_args(tp), f"one of {list(get_args(tp))}"
    elif tp is bool:
        ok, want = isinstance(value, bool), "true or false"
    elif tp is int:
        ok, want = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif tp is float:
        ok, want = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
    elif tp is str:
        ok, want = isinstance(value, str), "a string"
    elif origin in (Mapping, dict) or tp is Mapping:
        ok, want = isinstance(value, Mapping), "a mapping"
    else:
        ok, want = isinstance(value, (list, tuple)), "a list"
    if not ok:
        raise ConfigError(f"{key} must be {want}, got {value!r}")


# ---------------------------------------------------------------------------
# the key table of docs/configuration.md, generated from the declarations

README_TABLE_START = "<!-- config-table:start -->"
README_TABLE_END = "<!-- config-table:end -->"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(str, value)) + "]"
    if isinstance(value, Mapping):
        return "{}" if not value else json.dumps(dict(value))
    if value == "":
        return "—"
    return str(value)


def _values(tp: Any, rng: Range, range_text: str) -> str:
    if get_origin(tp) is Literal:
        return ", ".join(f"`{c}`" for c in get_args(tp))
    kind = {bool: "true/false", int: "integer", float: "number", str: "text"}.get(tp)
    if kind is None:
        kind = "mapping" if get_origin(tp) in (Mapping, dict) else "list"
    bounds = range_text or str(rng)
    return f"{kind} {bounds}".strip()


def reference_table() -> str:
    """The configuration reference as a Markdown table: every key with its
    default, allowed values and one-line doc, read from the declarations."""
    lines = [
        "| key | default | values | meaning |",
        "|---|---|---|---|",
        f"| `stages` | `{_show(DEFAULT_STAGES)}` | {', '.join(f'`{s}`' for s in STAGES)} "
        "| the stages `embedpipe run` executes, in order |",
    ]
    for name, cls in SECTIONS.items():
        hints = typing.get_type_hints(cls)
        defaults = cls()
        for f in fields(cls):
            doc = f.metadata.get("doc", "").replace("|", "\\|")
            values = _values(hints[f.name], f.metadata.get("range", Range()), f.metadata.get("range_text", ""))
            lines.append(f"| `{name}.{f.name}` | `{_show(getattr(defaults, f.name))}` | {values} | {doc} |")
    return "\n".join(lines)


def readme_with_table(readme: str) -> str:
    """``readme`` with the text between the config-table markers replaced by :func:`reference_table`."""
    if README_TABLE_START not in readme or README_TABLE_END not in readme:
        raise ValueError(f"the README has no {README_TABLE_START} ... {README_TABLE_END} markers")
    head, rest = readme.split(README_TABLE_START, 1)
    _, tail = rest.split(README_TABLE_END, 1)
    return f"{head}{README_TABLE_START}\n{reference_table()}\n{README_TABLE_END}{tail}"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m embedpipe.config [--update-readme docs/configuration.md]``: print the
    key table, or rewrite it in place between the markers of that page."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m embedpipe.config", description=main.__doc__)
    ap.add_argument("--update-readme", metavar="README", help="rewrite the table between the markers of this file")
    args = ap.parse_args(argv)
    if args.update_readme:
        p = Path(args.update_readme)
        p.write_text(readme_with_table(p.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        print(reference_table())
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
