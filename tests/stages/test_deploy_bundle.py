"""The Databricks bundle's structure: one wheel task per stage, in dependency order."""

from __future__ import annotations

from pathlib import Path

import yaml

from embedpipe.config import load_config
from embedpipe.pipeline import stage_upstream

REPO = Path(__file__).resolve().parents[2]


def test_the_stage_graph_follows_the_tables_each_stage_reads():
    assert stage_upstream() == {
        "ingest": set(),
        "vocab": {"ingest"},
        "encode": {"vocab"},
        "cooccur": {"encode"},
        "glove": {"cooccur"},
        "sgns": {"encode"},
        "evaluate": {"glove", "sgns"},
    }


def test_bundle_has_one_wheel_task_per_stage_with_dependencies():
    bundle = yaml.safe_load((REPO / "databricks.yml").read_text())
    job = bundle["resources"]["jobs"]["embedpipe"]
    tasks = {t["task_key"]: t for t in job["tasks"]}
    assert set(tasks) == {"ingest", "vocab", "encode", "cooccur", "glove", "sgns", "evaluate"}
    deps = {k: {d["task_key"] for d in t.get("depends_on", [])} for k, t in tasks.items()}
    assert deps == stage_upstream()
    for key, task in tasks.items():
        wheel = task["python_wheel_task"]
        assert wheel["package_name"] == "embedpipe" and wheel["entry_point"] == "embedpipe"
        assert wheel["parameters"][0] == key, "each task runs its own stage"
        assert task["job_cluster_key"] == job["job_clusters"][0]["job_cluster_key"]
        assert task["libraries"] == [{"whl": "./dist/*.whl"}]
    assert {"input_path", "output_path", "conf"} <= set(bundle["variables"])
    assert "--no-deps" in bundle["artifacts"]["embedpipe_wheel"]["build"], (
        "never ship pyspark/delta-spark to Databricks"
    )


def test_the_databricks_config_is_valid():
    cfg = load_config(REPO / "conf" / "databricks.yaml", ["input.path=/Volumes/x/corpus.txt"])
    assert cfg.spark.partitions == 8
