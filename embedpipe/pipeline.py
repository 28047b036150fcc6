"""Run the configured stages in order and write a run summary.

``embedpipe run conf/demo.yaml`` runs ``stages`` (ingest → vocab → cooccur →
glove → sgns → evaluate by default). Each stage reads the tables the previous
ones wrote, so any stage can also be re-run alone. The summary (each stage's
wall time, rows, words/s and statistics) is printed and written as JSON to
``<output.path>/_runs/<run_id>.json``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from pyspark.sql import SparkSession

from embedpipe import cooccur, evaluate, export, glove, ingest, sgns, vocab
from embedpipe.config import PipelineConfig
from embedpipe.stage import StageResult, new_run_id

log = logging.getLogger(__name__)


def stage_runner(name: str, *, resume: bool = False) -> Callable[[SparkSession, PipelineConfig], StageResult]:
    """The library function that runs one stage."""
    runners: dict[str, Callable[[SparkSession, PipelineConfig], StageResult]] = {
        "ingest": ingest.run,
        "vocab": vocab.run,
        "cooccur": cooccur.run,
        "glove": lambda s, c: glove.run(s, c, resume=resume),
        "sgns": lambda s, c: sgns.run(s, c, resume=resume),
        "evaluate": evaluate.run,
        "export": export.run,
    }
    return runners[name]


def run_pipeline(spark: SparkSession, cfg: PipelineConfig, *, resume: bool = False) -> dict[str, Any]:
    """Run ``cfg.stages`` in order; return the run summary."""
    run_id = new_run_id()
    t0 = time.perf_counter()
    results: list[StageResult] = []
    for name in cfg.stages:
        log.info("stage %s: starting", name)
        result = stage_runner(name, resume=resume)(spark, cfg)
        log.info("stage %s: done in %.1f s", name, result.seconds)
        results.append(result)
    summary = {
        "run_id": run_id,
        "output": cfg.output.path,
        "seconds": round(time.perf_counter() - t0, 2),
        "stages": [r.to_dict() for r in results],
        "config": cfg.to_dict(),
    }
    write_summary(cfg.output.path, run_id, summary)
    return summary


def write_summary(output_path: str, run_id: str, summary: dict[str, Any]) -> str | None:
    root = output_path[len("file:"):] if output_path.startswith("file:") else output_path
    if "://" in root:
        log.info("run summary: %s", json.dumps(summary, default=str))
        return None
    folder = os.path.join(root, "_runs")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{run_id}.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(summary, fh, indent=2, default=str)
    log.info("run summary written to %s", path)
    return path
