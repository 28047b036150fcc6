"""The Airflow DAGs, loaded by Airflow itself: one task per stage, in dependency order.

Airflow is loaded in a child process (its import reconfigures logging and
settings process-wide) with a private AIRFLOW_HOME, through ``DagBag``, the
same loader the scheduler uses, from a copy of the file in a dags folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from embedpipe.config import DEFAULT_STAGES
from embedpipe.deploy import AIRFLOW_DAG
from embedpipe.pipeline import stage_upstream

REPO = Path(__file__).resolve().parents[2]

LOAD = r"""
import json, sys
from airflow.models import DagBag

bag = DagBag(sys.argv[1])
out = {"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": {}}
for dag_id, dag in bag.dags.items():
    out["dags"][dag_id] = {
        t.task_id: {
            "upstream": sorted(t.upstream_task_ids),
            "operator": type(t).__name__,
            "application": getattr(t, "application", None) or getattr(t, "_application", None),
            "args": getattr(t, "application_args", None) or getattr(t, "_application_args", None),
            "conf": getattr(t, "conf", None) or getattr(t, "_conf", None),
            "archives": getattr(t, "archives", None) or getattr(t, "_archives", None),
            "json": getattr(t, "json", None),
        }
        for t in dag.tasks
    }
print(json.dumps(out, default=str))
"""


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> dict:
    home = tmp_path_factory.mktemp("airflow_home")
    dags = home / "dags"
    dags.mkdir()
    shutil.copy(AIRFLOW_DAG, dags / "embedpipe_dag.py")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "EMBEDPIPE_JOBS": str(REPO / "jobs"),
        "EMBEDPIPE_CONF": "/etc/embedpipe/wiki.yaml",
        "EMBEDPIPE_OUTPUT": "hdfs:///embedpipe/runs/nightly",
        "EMBEDPIPE_ARCHIVE": "hdfs:///envs/embedpipe.tar.gz",
    }
    done = subprocess.run(
        [sys.executable, "-c", LOAD, str(dags)],
        capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_dag_file_imports_without_errors(loaded: dict) -> None:
    assert loaded["errors"] == {}
    assert set(loaded["dags"]) == {"embedpipe_spark_submit", "embedpipe_databricks"}


@pytest.mark.parametrize("dag_id", ["embedpipe_spark_submit", "embedpipe_databricks"])
def test_one_task_per_stage_in_dependency_order(loaded: dict, dag_id: str) -> None:
    tasks = loaded["dags"][dag_id]
    assert set(tasks) == set(DEFAULT_STAGES)
    assert {k: set(t["upstream"]) for k, t in tasks.items()} == stage_upstream()


def test_spark_submit_tasks_run_the_stage_jobs_with_the_packed_environment(loaded: dict) -> None:
    tasks = loaded["dags"]["embedpipe_spark_submit"]
    for stage, t in tasks.items():
        assert t["operator"] == "SparkSubmitOperator"
        assert t["application"] == str(REPO / "jobs" / f"{stage}.py")
        assert Path(t["application"]).is_file(), "every task's job file exists"
        assert t["args"][0] == "/etc/embedpipe/wiki.yaml"
        assert ("--resume" in t["args"]) == (stage in ("glove", "sgns")), "trainers resume from checkpoints"
        assert t["args"][-2:] == ["--set", "output.path=hdfs:///embedpipe/runs/nightly"]
        assert t["archives"] == "hdfs:///envs/embedpipe.tar.gz#environment"
        assert t["conf"] == {"spark.pyspark.python": "./environment/bin/python"}


def test_databricks_tasks_run_the_wheel_entry_point_per_stage(loaded: dict) -> None:
    tasks = loaded["dags"]["embedpipe_databricks"]
    for stage, t in tasks.items():
        assert t["operator"] == "DatabricksSubmitRunOperator"
        wheel_task = t["json"]["python_wheel_task"]
        assert wheel_task["entry_point"] == "embedpipe"
        assert wheel_task["parameters"][:2] == [stage, "/etc/embedpipe/wiki.yaml"]
        assert "delta-spark" not in json.dumps(t["json"]["libraries"]), "the runtime brings Delta"
