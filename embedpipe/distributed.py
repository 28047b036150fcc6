"""The only module that touches SparkContext or RDDs: broadcasts, accumulators, task ids.

Databricks serverless and shared clusters run Spark Connect, which has no
SparkContext, no broadcast variables and no accumulators. Keeping every such
use here means a Connect path (e.g. shipping the model through a table or the
task closure) replaces one module, not the stages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pyspark import TaskContext
from pyspark.sql import DataFrame, SparkSession

V = TypeVar("V")


@dataclass
class Shared(Generic[V]):
    """A read-only value shipped once to every executor (a Spark broadcast)."""

    _bc: Any

    @property
    def value(self) -> V:
        return self._bc.value  # type: ignore[no-any-return]

    def release(self) -> None:
        """Free the executors' copies; call after the round that used it."""
        self._bc.unpersist(blocking=False)
        self._bc.destroy()


def share(spark: SparkSession, value: V) -> Shared[V]:
    """Broadcast ``value`` (pickled) to the executors."""
    return Shared(spark.sparkContext.broadcast(value))


class Counter:
    """A named long counter summed over tasks (a Spark accumulator).

    Read ``value`` on the driver after the action that ran the tasks. A task
    that Spark retries can count twice: treat the numbers as diagnostics.
    """

    def __init__(self, spark: SparkSession, name: str) -> None:
        self.name = name
        self._acc = spark.sparkContext.accumulator(0)

    def add(self, n: int) -> None:
        self._acc.add(int(n))

    @property
    def value(self) -> int:
        return int(self._acc.value)

    def reset(self) -> None:
        """Back to 0 on the driver, e.g. after a probe job that ran the same tasks."""
        self._acc.value = 0


def counters(spark: SparkSession, *names: str) -> dict[str, Counter]:
    return {n: Counter(spark, n) for n in names}


class Total:
    """A named float summed over tasks (a Spark accumulator): per-task
    training statistics (loss, pairs) reach the driver without a job of their own."""

    def __init__(self, spark: SparkSession, name: str) -> None:
        self.name = name
        self._acc = spark.sparkContext.accumulator(0.0)

    def add(self, x: float) -> None:
        self._acc.add(float(x))

    @property
    def value(self) -> float:
        return float(self._acc.value)

    def reset(self) -> None:
        self._acc.value = 0.0


def totals(spark: SparkSession, *names: str) -> dict[str, Total]:
    return {n: Total(spark, n) for n in names}


def partition_id() -> int:
    """Index of the partition the current task processes (0 on the driver)."""
    ctx = TaskContext.get()
    return ctx.partitionId() if ctx is not None else 0


def default_parallelism(spark: SparkSession) -> int:
    return int(spark.sparkContext.defaultParallelism)


def master(spark: SparkSession) -> str:
    """The session's master URL (``local[2]``, ``yarn``, ``local-cluster[...]`` ...)."""
    return str(spark.sparkContext.master or "")


def one_partition_each(spark: SparkSession, rows: list[tuple[Any, ...]], schema: str) -> DataFrame:
    """A DataFrame of ``rows`` with each row in a partition of its own, so each becomes one task."""
    return spark.createDataFrame(spark.sparkContext.parallelize(rows, max(len(rows), 1)), schema)


def configured_jars(spark: SparkSession) -> str:
    """The session's ``spark.jars`` as the JVM sees them (resolved packages included)."""
    return str(spark.sparkContext.getConf().get("spark.jars") or "")


def quiet_logs(spark: SparkSession) -> None:
    """Keep Spark's own log lines to errors in a session embedpipe built."""
    spark.sparkContext.setLogLevel("ERROR")
