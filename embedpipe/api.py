"""``embedpipe.train``: train word vectors from Python, on a DataFrame or a path.

In a notebook, with the session at hand::

    import embedpipe

    result = embedpipe.train(spark, df, {"output.path": "runs/nb"}, column="body", sgns={"dim": 50})
    result.evaluation["sgns"]["wordsim353"]["spearman"]
    result.vectors["sgns"].most_similar("france")

It runs the stages of ``embedpipe run`` through the same library call
(:func:`embedpipe.pipeline.run_pipeline`), so a stage that is up to date is
skipped as on the command line. The settings are the config file's keys,
checked the same way before Spark starts. A DataFrame is read by the ingest
stage like a table (``input.format: dataframe``): its rows go from the
executors to the ``tokens`` table, never through the driver.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from embedpipe import tables
from embedpipe.config import PipelineConfig, apply_values, build_config, read_config_file, resolve_path
from embedpipe.errors import InputError
from embedpipe.pipeline import STAGE_IO, run_pipeline
from embedpipe.vectors.keyed import Vectors

__all__ = ["Scores", "TrainResult", "train"]

#: ``{model: {benchmark: {metric: value}}}``, as ``embedpipe evaluate --json`` prints it.
Scores = Mapping[str, Mapping[str, Mapping[str, Any]]]
ConfigSource = str | os.PathLike[str] | Mapping[str, Any] | None


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` made.

    Attributes
    ----------
    run_id : str
        The run's id; its summary is ``<output_path>/_runs/<run_id>.json`` on a local path.
    output_path : str
        ``output.path``: the folder or URI holding the tables.
    tables : Mapping[str, str]
        Location of each table the configured stages write (``tokens``,
        ``vocab``, ``corpus``, ``cooccurrence``, ``vectors``, ``evaluation``).
    evaluation : Mapping[str, Mapping[str, Mapping[str, Any]]]
        The scores of each trained model, ``{model: {benchmark: {metric: value}}}``;
        empty when ``evaluate`` is not among the stages.
    vectors : Mapping[str, Vectors]
        The vectors of each model the stages trained (``glove``, ``sgns``).
    config : PipelineConfig
        The effective config.
    summary : Mapping[str, Any]
        The run summary: each stage's time, rows, counters, and whether it was skipped.
    """

    run_id: str
    output_path: str
    tables: Mapping[str, str]
    evaluation: Scores
    vectors: Mapping[str, Vectors]
    config: PipelineConfig = field(repr=False)
    summary: Mapping[str, Any] = field(repr=False)


def train(
    spark: SparkSession,
    data: DataFrame | str | os.PathLike[str] | None,
    config: ConfigSource = None,
    *,
    column: str | None = None,
    **sections: Any,
) -> TrainResult:
    """Run embedpipe's stages on a DataFrame or a corpus path and return the vectors.

    Parameters
    ----------
    spark : SparkSession
        The session to run in (a notebook's, a job's); its settings are used as they are.
    data : DataFrame, str, os.PathLike or None
        A DataFrame with a text column, or with an ``array<string>`` column of
        tokens (kept as they are: no cleaning); or a file, folder, glob or
        table path read as ``input.format`` says; or None for ``input.path``
        of the config (or when ``stages`` leaves out ingest).
    config : str, os.PathLike or Mapping, optional
        A YAML config file, or a mapping of its keys: sections
        (``{"sgns": {"epochs": 3}}``) or ``--set``'s dotted keys (``{"sgns.epochs": 3}``).
    column : str, optional
        ``input.column``: the DataFrame's (or table's) column to read; default ``text``.
    **sections
        One keyword per config section (``sgns={"dim": 50}``), or ``stages=[...]``;
        they override ``config``.

    Returns
    -------
    TrainResult
        Table locations, evaluation scores and a :class:`~embedpipe.Vectors` per trained model.

    Raises
    ------
    ConfigError
        An unknown section or key, a wrong type or a value out of range, before any Spark job.
    InputError
        ``column`` is not a text or ``array<string>`` column of the DataFrame, or the input is unreadable.
    TypeError
        ``data`` is neither a DataFrame nor a path.
    """
    if isinstance(config, Mapping) or config is None:
        raw: dict[str, Any] = {}
        base_dir = None
        apply_values(raw, config or {})
    elif isinstance(config, str | os.PathLike):
        raw, base_dir = read_config_file(config)
    else:
        raise TypeError(f"config must be a YAML file path or a mapping of config keys, got {type(config).__name__}")
    apply_values(raw, sections)
    source = None
    if isinstance(data, DataFrame):
        apply_values(raw, {"input.format": "dataframe", "input.path": ""})
        source = data
    elif isinstance(data, str | os.PathLike):
        # The path is the caller's, so it resolves against the working folder, not the config file's.
        apply_values(raw, {"input.path": resolve_path(os.fspath(data), os.getcwd())})
    elif data is not None:
        raise TypeError(
            f"data must be a DataFrame or the path of a corpus, got {type(data).__name__}; "
            "make one with spark.createDataFrame(...) or spark.read"
        )
    if column is not None:
        apply_values(raw, {"input.column": column})
    cfg = build_config(raw, base_dir=base_dir)
    if source is not None and "ingest" in cfg.stages:
        _check_column(source, cfg.input.column)
    summary = run_pipeline(spark, cfg, source=source)
    written = [t for stage in cfg.stages for t in STAGE_IO[stage][2]]
    models = [m for m in ("glove", "sgns") if m in cfg.stages]
    return TrainResult(
        run_id=summary["run_id"],
        output_path=cfg.output.path,
        tables=MappingProxyType({t: tables.table_path(cfg.output.path, t) for t in dict.fromkeys(written)}),
        evaluation=_frozen(_scores(spark, cfg, summary)),
        vectors=MappingProxyType({m: _read_vectors(spark, cfg, m) for m in models}),
        config=cfg,
        summary=MappingProxyType(summary),
    )


def _check_column(df: DataFrame, column: str) -> None:
    """The column must be text or tokens: checked on the schema, before any job."""
    if column not in df.columns:
        raise InputError(
            f"column {column!r} is not in the DataFrame, whose columns are {df.columns}; "
            "pass column= the one holding the text or the tokens"
        )
    kind = df.schema[column].dataType.simpleString()
    if kind not in ("string", "array<string>"):
        raise InputError(
            f"column {column!r} is {kind}; embedpipe reads text (string) or tokens (array<string>)"
        )


def _scores(spark: SparkSession, cfg: PipelineConfig, summary: Mapping[str, Any]) -> dict[str, Any]:
    stage = next((s for s in summary["stages"] if s["stage"] == "evaluate"), None)
    if stage is None:
        return {}
    if not stage["skipped"]:
        return dict(stage["stats"]["results"])
    # Imported here: the evaluate stage loads its benchmark sets on import.
    from embedpipe.evaluate.stage import results_from_table

    return results_from_table(spark, cfg)


def _read_vectors(spark: SparkSession, cfg: PipelineConfig, model: str) -> Vectors:
    # Through Spark, so that any output.path works (hdfs://, viewfs:// ... which delta-rs does not read).
    from embedpipe.vectors.table import read_vectors

    return read_vectors(spark, cfg.output.path, model)


def _frozen(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    return value
