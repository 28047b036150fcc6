"""Run stages in order, skip the ones that are up to date, write a run summary.

``embedpipe run conf/demo.yaml`` runs ``stages`` (ingest → vocab → encode →
cooccur → glove → sgns → evaluate by default). Each stage reads the tables the previous
ones wrote, so any stage can also be re-run alone.

Idempotent re-runs: every commit a stage makes carries the stage's
*fingerprint* (a hash of the config keys it reads, the versions of its input
tables or the size and modification time of local input files, and the
schemas of its outputs) in its Delta commit metadata. A stage whose output
tables' newest commits all carry the current fingerprint is skipped, and
says so; ``--force`` recomputes it. Because every output is one atomic Delta
commit, a stage killed half-way leaves at least one output without the new
fingerprint and simply runs again (training stages continue from their
checkpoint with ``--resume``). There is no separate ledger to write, so
bookkeeping costs no Spark job.

The summary (each stage's wall time, rows, words/s, statistics such as the
accumulator counts, the model memory estimates and per-epoch losses, and the
output table versions) is printed and written as JSON to
``<output.path>/_runs/<run_id>.json``, and logged to MLflow when
``output.mlflow`` asks for it (:mod:`embedpipe.tracking`).
"""

from __future__ import annotations

import json
import logging
import os
import resource
import time
from collections.abc import Callable, Sequence
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from embedpipe import cooccur, distributed, encode, evaluate, ingest, paths, tables, tracking, vocab
from embedpipe.config import DEFAULT_STAGES, PipelineConfig
from embedpipe.errors import InputError
from embedpipe.ingest.stage import list_local_files
from embedpipe.stage import StageResult, fingerprint, new_run_id
from embedpipe.training import glove, sgns
from embedpipe.vectors import export, neighbors

log = logging.getLogger(__name__)

# stage -> (config keys it reads, tables it reads, tables it writes)
STAGE_IO: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "ingest": (("input", "clean"), (), ("tokens",)),
    "vocab": (("vocab",), ("tokens",), ("vocab",)),
    "encode": ((), ("tokens", "vocab"), ("corpus",)),
    "cooccur": (("cooccur", "spark.partitions"), ("vocab", "corpus"), ("cooccurrence",)),
    "glove": (("glove", "spark.partitions"), ("vocab", "cooccurrence"), ("vectors",)),
    "sgns": (("sgns", "spark.partitions"), ("vocab", "corpus"), ("vectors",)),
    "evaluate": (("eval",), ("vectors",), ("evaluation",)),
    "export": (("export",), ("vectors",), ()),
    "neighbors": (("neighbors",), ("vectors",), ("neighbors",)),
}


def stage_upstream(stages: Sequence[str] = DEFAULT_STAGES) -> dict[str, set[str]]:
    """Each stage's direct upstream stages, from the tables in STAGE_IO.

    A stage depends on the stages that write a table it reads, less those
    already reached through another of them (glove reads vocab too, but
    through cooccur). Deploy targets (databricks.yml, the Airflow DAGs) must
    have exactly these edges; their tests check it.
    """
    writers: dict[str, set[str]] = {}
    for st in stages:
        for t in STAGE_IO[st][2]:
            writers.setdefault(t, set()).add(st)
    direct = {st: {w for t in STAGE_IO[st][1] for w in writers.get(t, set()) if w != st} for st in stages}

    def reach(st: str) -> set[str]:
        out: set[str] = set()
        for up in direct[st]:
            out |= {up} | reach(up)
        return out

    return {st: {u for u in ups if not any(u in reach(v) for v in ups if v != u)} for st, ups in direct.items()}


def stage_runner(
    name: str, *, resume: bool = False, source: DataFrame | None = None
) -> Callable[[SparkSession, PipelineConfig], StageResult]:
    """The library function that runs one stage (``source``: ingest's DataFrame input)."""
    runners: dict[str, Callable[[SparkSession, PipelineConfig], StageResult]] = {
        "ingest": lambda s, c: ingest.run(s, c, source=source),
        "vocab": vocab.run,
        "encode": encode.run,
        "cooccur": cooccur.run,
        "glove": lambda s, c: glove.run(s, c, resume=resume),
        "sgns": lambda s, c: sgns.run(s, c, resume=resume),
        "evaluate": evaluate.run,
        "export": export.run,
        "neighbors": neighbors.run,
    }
    return runners[name]


def _config_value(cfg: PipelineConfig, key: str) -> Any:
    d: Any = cfg.to_dict()
    for part in key.split("."):
        d = d[part]
    return d


def _input_files_signature(cfg: PipelineConfig) -> list[Any]:
    """Size and mtime of local input files: a changed corpus re-runs ingest."""
    path = cfg.input.path
    local = paths.local_path(path)
    if local is None:
        return [path]
    try:
        files = list_local_files(path) if cfg.input.format in ("text", "jsonl") else []
    except InputError:
        return [path, "missing"]
    if not files:  # a table folder: its Delta log / parquet files
        files = sorted(os.path.join(r, f) for r, _, fs in os.walk(local) for f in fs)
    return [(f, os.path.getsize(f), int(os.path.getmtime(f))) for f in files]


def stage_fingerprint(spark: SparkSession, cfg: PipelineConfig, name: str) -> str:
    keys, inputs, outputs = STAGE_IO[name]
    parts: list[Any] = [name, [(k, _config_value(cfg, k)) for k in keys]]
    # A new table layout (e.g. after an upgrade) must not count as up to date.
    parts.append([(t, tables.SCHEMAS[t].simpleString()) for t in outputs])
    parts.append([(t, tables.current_version(spark, cfg.output.path, t)) for t in inputs])
    if name == "ingest" and cfg.input.format == "dataframe":
        # Nothing tells whether a DataFrame's rows changed since the last run
        # (its plan may read files that changed), so it is ingested every time.
        parts.append(["dataframe", new_run_id()])
    elif name == "ingest":
        parts.append(_input_files_signature(cfg))
    return fingerprint(*parts)


def _output_versions(spark: SparkSession, cfg: PipelineConfig, name: str) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for t in STAGE_IO[name][2]:
        if t == "vectors":
            # One table holds both models: a stage's output is its own model's
            # latest commit, which the other trainer's writes do not change.
            meta = tables.latest_metadata(spark, cfg.output.path, t, model=name)
            out[t] = meta["table_version"] if meta else None
        else:
            out[t] = tables.current_version(spark, cfg.output.path, t)
    return out


def is_up_to_date(spark: SparkSession, cfg: PipelineConfig, name: str, fp: str) -> bool:
    """Every table ``name`` writes still holds the commit of a run with this fingerprint.

    Each output commit carries its stage's fingerprint (``stage_fingerprint``
    in the Delta commit metadata). A newer commit by anything else, or a run
    that died between two of a stage's outputs, leaves a table whose latest
    commit does not match, so the stage runs again. For ``vectors``, which
    both trainers write, a stage's output is its own model's latest commit.
    """
    outputs = STAGE_IO[name][2]
    if not outputs:
        return False
    for t in outputs:
        if t == "vectors":
            meta = tables.latest_metadata(spark, cfg.output.path, t, model=name)
        else:
            meta = tables.head_metadata(spark, cfg.output.path, t)
        if not meta or meta.get("stage_fingerprint") != fp:
            return False
    return True


def run_stage(
    spark: SparkSession,
    cfg: PipelineConfig,
    name: str,
    *,
    resume: bool = False,
    force: bool = False,
    source: DataFrame | None = None,
) -> StageResult:
    """Run one stage unless it is up to date (``force`` recomputes it).

    ``source`` is the input of ``input.format: dataframe`` (:func:`embedpipe.train`).
    """
    fp = stage_fingerprint(spark, cfg, name)
    if not force and is_up_to_date(spark, cfg, name, fp):
        log.info("stage %s: up to date (fingerprint %s), skipped; use --force to recompute", name, fp)
        return StageResult(name, "", 0.0, skipped=True, stats={"fingerprint": fp})
    log.info("stage %s: starting", name)
    # A job group per stage lets the summary say how many Spark jobs the stage
    # ran (the engine's cost per epoch is counted in jobs).
    with distributed.job_group(spark, f"embedpipe-{name}-{new_run_id()}", f"embedpipe stage {name}") as jobs_run:
        with tables.commit_metadata(stage_fingerprint=fp):
            result = stage_runner(name, resume=resume, source=source)(spark, cfg)
        result.stats.setdefault("spark_jobs", jobs_run())
    result.stats.setdefault("output_versions", _output_versions(spark, cfg, name))
    # The driver's Python process only (the JVM is a child, not counted): the
    # figure that must not grow with the model under rotation.
    result.stats.setdefault("driver_peak_rss_mb", round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1))
    log.info("stage %s: done in %.1f s", name, result.seconds)
    return result


def run_pipeline(
    spark: SparkSession,
    cfg: PipelineConfig,
    *,
    resume: bool = False,
    force: bool = False,
    source: DataFrame | None = None,
) -> dict[str, Any]:
    """Run ``cfg.stages`` in order; return the run summary.

    ``source`` is the DataFrame that ingest reads when ``input.format`` is
    ``dataframe`` (:func:`embedpipe.train` passes it).
    """
    run_id = new_run_id()
    t0 = time.perf_counter()
    results = [run_stage(spark, cfg, name, resume=resume, force=force, source=source) for name in cfg.stages]
    summary = {
        "run_id": run_id,
        "output": cfg.output.path,
        "seconds": round(time.perf_counter() - t0, 2),
        "stages": [r.to_dict() for r in results],
        "config": cfg.to_dict(),
    }
    write_summary(cfg.output.path, run_id, summary)
    mlflow_run = tracking.log_run(summary, cfg.output.mlflow)
    if mlflow_run:
        summary["mlflow_run_id"] = mlflow_run
    return summary


def write_summary(output_path: str, run_id: str, summary: dict[str, Any]) -> str | None:
    root = paths.local_path(output_path)
    if root is None:
        log.info("run summary: %s", json.dumps(summary, default=str))
        return None
    folder = os.path.join(root, "_runs")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{run_id}.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(summary, fh, indent=2, default=str)
    log.info("run summary written to %s", path)
    return path
