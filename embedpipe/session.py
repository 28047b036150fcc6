"""Get the SparkSession embedpipe runs in.

* An active session (a notebook, a test fixture, ``spark-submit`` after the
  job built one) is returned as it is.
* On Databricks, or when the process was launched by ``spark-submit`` with a
  master, the cluster's session is used: embedpipe never forces a master there
  and never overrides the cluster's Delta setup.
* Otherwise embedpipe builds a local session (``spark.master`` from the
  config, ``local[*]`` by default) with the Delta extension and catalog, the
  jar resolved by delta-spark's ``configure_spark_with_delta_pip`` (cached
  under ``~/.ivy2.5.2`` by ``make setup``). The resolved jar list is kept in
  ``~/.cache/embedpipe/`` and handed to later sessions as ``spark.jars``, so
  they skip Ivy's resolution of Delta's artifacts at every start.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from pyspark.sql import SparkSession

from embedpipe import distributed, paths
from embedpipe.config import SparkConfig
from embedpipe.errors import DeltaNotConfiguredError

log = logging.getLogger(__name__)

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
# The Maven coordinates delta-spark 4.4.0 resolves for Spark 4.2 / Scala 2.13.
DELTA_PACKAGE = "io.delta:delta-spark_4.2_2.13:4.4.0"

# Delta's defaults are sized for clusters; on a laptop or CI machine these two
# settings halve the first write-and-read (shared/ENVIRONMENT.md, section 1).
LOCAL_DEFAULTS: Mapping[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # Arrow batches of 100 MB lines must fit (one corpus line per batch row).
    "spark.sql.execution.arrow.maxRecordsPerBatch": "2048",
    "spark.driver.maxResultSize": "4g",
    "spark.sql.sources.partitionOverwriteMode": "static",
    # On one machine a shuffle goes through the page cache, never a network,
    # so compressing it only spends the cores: cooccur's 1 GB of partial
    # counts took lz4 about 2.5 s of a 26 s stage on 2 cores
    # (bench/results/2026-12-05-data-stages/). Clusters keep Spark's default.
    "spark.shuffle.compress": "false",
    # Each stage's summary counts its Spark jobs from the status store, which
    # forgets jobs beyond this many (a long GloVe run makes thousands).
    "spark.ui.retainedJobs": "20000",
}


def on_databricks() -> bool:
    return "DATABRICKS_RUNTIME_VERSION" in os.environ


def launched_by_spark_submit() -> bool:
    """True when spark-submit (or pyspark shell) started this Python process:
    it hands the JVM gateway to Python through these variables."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def get_session(spark_cfg: SparkConfig | None = None) -> SparkSession:
    """Return the active session, the cluster's, or a new local Delta session.

    Parameters
    ----------
    spark_cfg
        Settings for a local session; ignored when a session exists or on a
        cluster.
    """
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    spark_cfg = spark_cfg or SparkConfig()
    if on_databricks():
        return SparkSession.builder.getOrCreate()
    if launched_by_spark_submit():
        # spark-submit chose the master and the jars; only the app name is ours.
        spark = SparkSession.builder.appName(spark_cfg.app_name).getOrCreate()
        check_delta_configured(spark)
        return spark
    return build_local_session(spark_cfg)


def check_delta_configured(spark: SparkSession) -> None:
    """Fail before any stage runs when a spark-submit session lacks Delta.

    Under spark-submit the JVM is already running with the jars it was given,
    so embedpipe cannot add Delta itself; say exactly what to pass.
    """
    extensions = spark.conf.get("spark.sql.extensions", "") or ""
    if DELTA_EXTENSION in extensions:
        return
    raise DeltaNotConfiguredError(
        "this spark-submit session has no Delta Lake, which embedpipe's tables need; add "
        f"--packages {DELTA_PACKAGE} --conf spark.sql.extensions={DELTA_EXTENSION} "
        f"--conf spark.sql.catalog.spark_catalog={DELTA_CATALOG} "
        "(or put them in spark-defaults.conf / --properties-file)"
    )


def _jars_manifest() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "embedpipe" / (DELTA_PACKAGE.replace(":", "_") + ".jars")


def cached_delta_jars() -> str | None:
    """The jar list an earlier session resolved for DELTA_PACKAGE, if every jar is still there."""
    try:
        jars = [j for j in _jars_manifest().read_text(encoding="utf-8").strip().split(",") if j]
    except OSError:
        return None
    local = [paths.local_path(j) for j in jars]
    return ",".join(jars) if local and all(j is not None and os.path.isfile(j) for j in local) else None


def _remember_delta_jars(spark: SparkSession) -> None:
    jars = distributed.configured_jars(spark)
    if "delta-spark" not in jars:
        return
    try:
        path = _jars_manifest()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(jars, encoding="utf-8")
        tmp.replace(path)
    except OSError as e:  # a read-only home only costs the next start its resolution
        log.debug("could not cache the Delta jar list: %s", e)


def local_settings(spark_cfg: SparkConfig) -> dict[str, str]:
    """The settings a local session is built with: :data:`LOCAL_DEFAULTS`,
    then the config's ``spark.conf``, which wins."""
    return {**LOCAL_DEFAULTS, **dict(spark_cfg.conf)}


def build_local_session(spark_cfg: SparkConfig) -> SparkSession:
    """Build a local (or local-cluster) session with Delta configured."""
    from delta import configure_spark_with_delta_pip

    # Executors' Python workers must run this interpreter (with numba/numpy),
    # not the first python3 on PATH. Only for sessions we build ourselves.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = (
        SparkSession.builder.master(spark_cfg.master)
        .appName(spark_cfg.app_name)
        .config("spark.sql.extensions", DELTA_EXTENSION)
        .config("spark.sql.catalog.spark_catalog", DELTA_CATALOG)
        .config("spark.driver.memory", spark_cfg.driver_memory)
        .config("spark.pyspark.python", sys.executable)
    )
    for key, value in local_settings(spark_cfg).items():
        builder = builder.config(key, value)
    user_jars = {"spark.jars", "spark.jars.packages"} & set(spark_cfg.conf)
    jars = None if user_jars else cached_delta_jars()
    if jars is not None:
        spark = builder.config("spark.jars", jars).getOrCreate()
    else:
        spark = configure_spark_with_delta_pip(builder).getOrCreate()
        if not user_jars:
            _remember_delta_jars(spark)
    distributed.quiet_logs(spark)
    log.info("started local Spark session %s (Spark %s)", spark_cfg.master, spark.version)
    return spark
