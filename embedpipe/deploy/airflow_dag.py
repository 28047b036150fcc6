"""Airflow DAGs that run embedpipe's stages, one task per stage.

Copy this file into the Airflow ``dags/`` folder
(``cp $(python -m embedpipe.deploy) $AIRFLOW_HOME/dags/embedpipe_dag.py``).
It imports only Airflow and its providers, so the Airflow workers do not
need embedpipe installed: the Spark cluster runs it.

Two DAGs, with the same task ids and edges::

    ingest >> vocab >> cooccur >> glove >> evaluate
              vocab >> sgns >> evaluate

* ``embedpipe_spark_submit``: a ``SparkSubmitOperator`` per stage
  (apache-airflow-providers-apache-spark) running ``jobs/<stage>.py CONF``.
  With ``EMBEDPIPE_ARCHIVE`` set, the environment archive from ``make pack``
  is shipped with ``--archives`` and the executors' Python is taken from it,
  as in Spark's Python package management guide.
* ``embedpipe_databricks``: a ``DatabricksSubmitRunOperator`` per stage
  (apache-airflow-providers-databricks) running the wheel's ``embedpipe``
  entry point as a ``python_wheel_task`` on a new job cluster. It is defined
  only when that provider is installed.

glove and sgns run side by side: each replaces only its own model's rows of
the ``vectors`` table, and concurrent commits to disjoint partitions do not
conflict in Delta.

Settings, read from the environment when the scheduler parses the file:

=========================  ==================================================
``EMBEDPIPE_JOBS``         folder of ``jobs/<stage>.py`` (default: ``jobs``
                           next to this package in a checkout)
``EMBEDPIPE_CONF``         the YAML config, as the Spark driver sees it
``EMBEDPIPE_OUTPUT``       ``output.path`` override (optional)
``EMBEDPIPE_INPUT``        ``input.path`` override (optional)
``EMBEDPIPE_ARCHIVE``      ``make pack`` archive, e.g. ``hdfs:///envs/embedpipe.tar.gz``
``EMBEDPIPE_SPARK_CONN``   Airflow connection of the cluster (``spark_default``)
``EMBEDPIPE_DATABRICKS_CONN``  (``databricks_default``)
``EMBEDPIPE_WHEEL``        the wheel on DBFS or a UC volume (Databricks DAG)
=========================  ==================================================

Each task passes ``--resume`` to the trainers, so a retried task continues
from its last checkpoint, and a re-run skips stages that are up to date.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow import DAG
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

# Each stage and the stages it reads from (their tables must exist first).
UPSTREAM: dict[str, tuple[str, ...]] = {
    "ingest": (),
    "vocab": ("ingest",),
    "encode": ("vocab",),
    "cooccur": ("encode",),
    "glove": ("cooccur",),
    "sgns": ("encode",),
    "evaluate": ("glove", "sgns"),
}
TRAINERS = ("glove", "sgns")
DEFAULT_ARGS: dict[str, Any] = {"retries": 2, "retry_delay": dt.timedelta(minutes=5)}
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _default_jobs_dir() -> str:
    checkout = Path(__file__).resolve().parents[2] / "jobs"
    return str(checkout) if checkout.is_dir() else "jobs"


def stage_arguments(stage: str, conf: str, env: os._Environ[str] | dict[str, str]) -> list[str]:
    """Command-line arguments of one stage: the config, --resume for trainers, overrides."""
    args = [conf]
    if stage in TRAINERS:
        args.append("--resume")
    for key, var in (("output.path", "EMBEDPIPE_OUTPUT"), ("input.path", "EMBEDPIPE_INPUT")):
        if env.get(var):
            args += ["--set", f"{key}={env[var]}"]
    return args


def _stage_dag(dag_id: str, target: str, make_task: Callable[[str], Any]) -> DAG:
    """A DAG with one task per stage, made by ``make_task(stage)``, wired as UPSTREAM says."""
    with DAG(
        dag_id=dag_id,
        description=f"embedpipe: corpus -> GloVe and skip-gram vectors, evaluated ({target})",
        schedule=None,
        start_date=START,
        catchup=False,
        default_args=DEFAULT_ARGS,
        tags=["embedpipe"],
    ) as dag:
        tasks = {stage: make_task(stage) for stage in UPSTREAM}
        for stage, ups in UPSTREAM.items():
            for up in ups:
                tasks[up] >> tasks[stage]
    return dag


def spark_submit_dag(env: os._Environ[str] | dict[str, str] = os.environ) -> DAG:
    """The stages as ``spark-submit jobs/<stage>.py CONF`` tasks."""
    jobs = env.get("EMBEDPIPE_JOBS") or _default_jobs_dir()
    conf = env.get("EMBEDPIPE_CONF", "conf/embedpipe.yaml")
    archive = env.get("EMBEDPIPE_ARCHIVE")
    spark_conf: dict[str, Any] = {}
    submit: dict[str, Any] = {}
    if archive:
        # The archive is unpacked as ./environment in every container.
        submit["archives"] = f"{archive}#environment"
        spark_conf["spark.pyspark.python"] = "./environment/bin/python"
    return _stage_dag(
        "embedpipe_spark_submit",
        "spark-submit",
        lambda stage: SparkSubmitOperator(
            task_id=stage,
            application=f"{jobs}/{stage}.py",
            application_args=stage_arguments(stage, conf, env),
            conn_id=env.get("EMBEDPIPE_SPARK_CONN", "spark_default"),
            name=f"embedpipe-{stage}",
            conf=spark_conf or None,
            **submit,
        ),
    )


def databricks_dag(env: os._Environ[str] | dict[str, str] = os.environ) -> DAG:
    """The stages as Databricks one-time runs of the wheel's ``embedpipe`` entry point."""
    from airflow.providers.databricks.operators.databricks import DatabricksSubmitRunOperator

    conf = env.get("EMBEDPIPE_CONF", "/Workspace/Shared/embedpipe/conf/databricks.yaml")
    wheel = env.get("EMBEDPIPE_WHEEL", "/Volumes/main/default/embedpipe/dist/embedpipe-0.1.0-py3-none-any.whl")
    cluster = {
        "spark_version": "17.3.x-scala2.13",  # Spark 4 runtime, Delta built in: no delta-spark
        "node_type_id": "i3.xlarge",
        "num_workers": 2,
    }
    return _stage_dag(
        "embedpipe_databricks",
        "Databricks",
        lambda stage: DatabricksSubmitRunOperator(
            task_id=stage,
            databricks_conn_id=env.get("EMBEDPIPE_DATABRICKS_CONN", "databricks_default"),
            # The whole Runs Submit request body: the operator has no
            # python_wheel_task argument of its own.
            json={
                "run_name": f"embedpipe-{stage}",
                "new_cluster": cluster,
                "libraries": [{"whl": wheel}],
                "python_wheel_task": {
                    "package_name": "embedpipe",
                    "entry_point": "embedpipe",
                    "parameters": [stage, *stage_arguments(stage, conf, env)],
                },
            },
        ),
    )


embedpipe_spark_submit = spark_submit_dag()
try:
    embedpipe_databricks = databricks_dag()
except ImportError:  # the Databricks provider is optional
    pass
