"""Optional MLflow logging of a pipeline run (``output.mlflow``).

Databricks users look for their runs in MLflow, so when ``mlflow`` is
installed the run summary is logged there too:

* params: the effective config, flattened (``sgns.dim``, ``glove.x_max``, ...);
* metrics: each stage's seconds, rows and words/s; the per-epoch training
  loss of each trainer (``sgns.loss``, ``glove.cost``, one step per epoch);
  every evaluation score (``eval.sgns.wordsim353.spearman``, ...);
* the whole summary as the artifact ``embedpipe_run_summary.json``.

``output.mlflow``: ``auto`` (default) logs when mlflow is importable and a
tracking server is configured (``MLFLOW_TRACKING_URI`` is set, or on a
Databricks runtime); ``on`` always logs (and the config check fails before
Spark starts when mlflow is missing); ``off`` never does. Logging is a side
channel: the Delta tables and ``_runs/*.json`` stay the record of the run.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
from typing import Any

log = logging.getLogger(__name__)

# MLflow refuses longer param values.
_MAX_PARAM_CHARS = 6000


def wanted(mode: str) -> bool:
    """Should this run be logged to MLflow? (``on`` without mlflow is refused by config validation.)"""
    if mode != "auto":
        return mode == "on"
    if importlib.util.find_spec("mlflow") is None:
        return False
    return bool(os.environ.get("MLFLOW_TRACKING_URI") or os.environ.get("DATABRICKS_RUNTIME_VERSION"))


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _metric_name(*parts: str) -> str:
    # MLflow keys allow alphanumerics, _ - . / and spaces.
    return re.sub(r"[^\w\-./ ]", "_", ".".join(parts))


def run_metrics(summary: dict[str, Any]) -> tuple[dict[str, float], dict[str, list[float]]]:
    """(single-valued metrics, per-epoch series) of a run summary."""
    single: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    for st in summary.get("stages", []):
        name = st["stage"]
        if st.get("skipped"):
            continue
        single[_metric_name(name, "seconds")] = float(st["seconds"])
        single[_metric_name(name, "rows")] = float(st["rows"])
        if st.get("rate") is not None:
            single[_metric_name(name, f"{st['unit']}_per_second")] = float(st["rate"])
        stats = st.get("stats", {})
        for key, label in (("losses", "loss"), ("costs", "cost")):
            if stats.get(key):
                series[_metric_name(name, label)] = [float(x) for x in stats[key]]
        if "model_mb_estimate" in stats:
            single[_metric_name(name, "model_mb_estimate")] = float(stats["model_mb_estimate"])
        for model, benchmarks in (stats.get("results") or {}).items():
            for bench, scores in benchmarks.items():
                for metric, value in scores.items():
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        single[_metric_name("eval", model, bench, metric)] = float(value)
    return single, series


def log_run(summary: dict[str, Any], mode: str) -> str | None:
    """Log ``summary`` to MLflow if ``mode`` asks for it; return the MLflow run id."""
    if not wanted(mode):
        return None
    import mlflow

    params = {k: str(v)[:_MAX_PARAM_CHARS] for k, v in flatten(summary.get("config", {})).items()}
    single, series = run_metrics(summary)
    nested = mlflow.active_run() is not None  # e.g. inside a user's own run or notebook
    with mlflow.start_run(run_name=f"embedpipe-{summary['run_id']}", nested=nested) as run:
        mlflow.set_tag("embedpipe.run_id", summary["run_id"])
        mlflow.set_tag("embedpipe.output", summary.get("output", ""))
        mlflow.log_params(params)
        mlflow.log_metrics(single)
        for key, values in series.items():
            for step, value in enumerate(values, start=1):
                mlflow.log_metric(key, value, step=step)
        mlflow.log_dict(summary, "embedpipe_run_summary.json")
        log.info("run logged to MLflow: run id %s", run.info.run_id)
        return str(run.info.run_id)
