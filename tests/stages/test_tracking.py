"""Optional MLflow logging: params, per-epoch losses and scores, read back from a real file store."""

from __future__ import annotations

import importlib.util

import pytest

from embedpipe import tracking
from embedpipe.config import build_config
from embedpipe.errors import ConfigError

SUMMARY = {
    "run_id": "20261124-010203-abcd",
    "output": "/tmp/runs/x",
    "seconds": 12.5,
    "config": build_config({"input": {"path": "x.txt"}}).to_dict(),
    "stages": [
        {"stage": "ingest", "seconds": 3.0, "rows": 10, "work": 1000, "unit": "words", "rate": 333.3, "skipped": False,
         "stats": {"lines_read": 10, "tokens": 1000}},
        {"stage": "vocab", "seconds": 0.0, "rows": 0, "work": 0, "unit": "words", "rate": None, "skipped": True,
         "stats": {}},
        {"stage": "sgns", "seconds": 5.0, "rows": 50, "work": 5000, "unit": "words", "rate": 1000.0, "skipped": False,
         "stats": {"losses": [2.5, 2.2, 2.1], "model_mb_estimate": 1.5}},
        {"stage": "evaluate", "seconds": 1.0, "rows": 4, "work": 1000, "unit": "questions", "rate": 1000.0,
         "skipped": False, "stats": {"results": {"sgns": {"wordsim353": {"spearman": 0.41, "coverage": "12/353"}}}}},
    ],
}  # fmt: skip


def test_metrics_of_a_summary_skip_skipped_stages_and_keep_epoch_series():
    single, series = tracking.run_metrics(SUMMARY)
    assert single["ingest.seconds"] == 3.0 and single["ingest.words_per_second"] == 333.3
    assert single["evaluate.questions_per_second"] == 1000.0, "each stage's rate is in its own unit"
    assert not any(k.startswith("vocab.") for k in single), "a skipped stage did no work"
    assert series == {"sgns.loss": [2.5, 2.2, 2.1]}
    assert single["eval.sgns.wordsim353.spearman"] == 0.41
    assert "eval.sgns.wordsim353.coverage" not in single, "only numbers are metrics"


def test_off_never_logs_and_auto_needs_a_tracking_server(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("DATABRICKS_RUNTIME_VERSION", raising=False)
    assert tracking.log_run(SUMMARY, "off") is None
    assert tracking.log_run(SUMMARY, "auto") is None


def test_on_without_mlflow_fails_before_spark(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    with pytest.raises(ConfigError, match=r"output\.mlflow is 'on' but mlflow is not installed; pip install"):
        build_config({"input": {"path": "x.txt"}, "output": {"mlflow": "on"}})


def test_run_is_logged_with_params_metrics_and_summary(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient  # the `mlflow` extra, part of `dev`

    uri = (tmp_path / "mlruns").as_uri()
    # A file store stands in for the tracking server (MLflow 3 asks to opt in to it).
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    run_id = tracking.log_run(SUMMARY, "auto")
    assert run_id

    client = MlflowClient(uri)
    run = client.get_run(run_id)
    assert run.data.params["sgns.dim"] == "100"
    assert run.data.params["output.mlflow"] == "auto"
    assert run.data.tags["embedpipe.run_id"] == SUMMARY["run_id"]
    assert run.data.metrics["eval.sgns.wordsim353.spearman"] == pytest.approx(0.41)
    history = client.get_metric_history(run_id, "sgns.loss")
    assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == [(1, 2.5), (2, 2.2), (3, 2.1)]
    assert "embedpipe_run_summary.json" in [f.path for f in client.list_artifacts(run_id)]
