"""The only module that touches SparkContext or RDDs: broadcasts, accumulators, task ids.

Databricks serverless and shared clusters run Spark Connect, which has no
SparkContext, no broadcast variables and no accumulators. Keeping every such
use here means a Connect path (e.g. shipping the model through a table or the
task closure) replaces one module, not the stages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pyspark import RDD, StorageLevel, TaskContext
from pyspark.resource import ResourceProfile, ResourceProfileBuilder, TaskResourceRequests
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from embedpipe.errors import ConfigError

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


def staged(df: DataFrame) -> DataFrame:
    """``df`` computed once and kept on the executors' disks, so that Python
    functions over its rows read them from there.

    An RDD function over the rows of a DataFrame that a Python function
    (``mapInArrow``) makes runs both Python workers in one task, the outer
    runner pulling its input from the inner one. On Spark 4.2 that chain
    hung once with both workers and the task idle on their sockets
    (bench/results/2026-12-04-glove-seeds, ``redraw-hang-jstack.txt``).
    Staging puts the rows between them: the inner function runs in a job of
    its own. The caller unpersists the result when the rows are read.
    """
    out = df.persist(StorageLevel.DISK_ONLY)
    out.count()
    return out


def cached_tuples(df: DataFrame) -> RDD[tuple[Any, ...]]:
    """The rows of ``df`` as an RDD of plain tuples in their order, computed
    and cached on the executors.

    For data that Python functions read many times (a run's corpus chunks):
    converting Row objects once, here, spares every later pass the
    conversion. ``df`` is staged first (:func:`staged`), so ``df`` may itself
    be made by a Python function; the caller unpersists the result.
    """
    rows = staged(df)
    try:
        return tuples_of_staged(rows)
    finally:
        rows.unpersist()


def tuples_of_staged(rows: DataFrame) -> RDD[tuple[Any, ...]]:
    """The rows of a DataFrame already :func:`staged` as an RDD of plain
    tuples in their order, computed and cached on the executors (for a
    caller that reads the staged rows for something else too). The caller
    unpersists both."""
    out = rows.rdd.map(tuple).persist(StorageLevel.MEMORY_AND_DISK)
    out.count()
    return out


def configured_jars(spark: SparkSession) -> str:
    """The session's ``spark.jars`` as the JVM sees them (resolved packages included)."""
    return str(spark.sparkContext.getConf().get("spark.jars") or "")


@contextmanager
def job_group(spark: SparkSession, group: str, description: str) -> Iterator[Callable[[], int]]:
    """Tag the Spark jobs run inside the block with ``group``; yields a function
    that counts them (a stage's cost is reported in Spark jobs)."""
    sc = spark.sparkContext
    sc.setJobGroup(group, description)
    try:
        yield lambda: len(sc.statusTracker().getJobIdsForGroup(group))
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
        sc.setLocalProperty("spark.job.description", None)  # type: ignore[arg-type]


@contextmanager
def session_conf(spark: SparkSession, key: str, value: str) -> Iterator[None]:
    """Set the SQL conf ``key`` to ``value`` inside the block, and put it back."""
    before = spark.conf.get(key, None)
    spark.conf.set(key, value)
    try:
        yield
    finally:
        if before is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, before)


def quiet_logs(spark: SparkSession) -> None:
    """Keep Spark's own log lines to errors in a session embedpipe built."""
    spark.sparkContext.setLogLevel("ERROR")


def hadoop_path(spark: SparkSession, uri: str) -> tuple[Any, Any]:
    """``uri`` as a Hadoop ``Path`` and its ``FileSystem`` (any scheme Spark reads), for driver-side file work."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    conf = spark.sparkContext._jsc.hadoopConfiguration()  # type: ignore[union-attr]
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return path, path.getFileSystem(conf)


def read_hadoop_text(spark: SparkSession, uri: str) -> str:
    """A small text file's content, read through Hadoop's FileSystem."""
    path, fs = hadoop_path(spark, uri)
    stream = fs.open(path)
    try:
        return str(spark.sparkContext._jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8"))  # type: ignore[union-attr]
    finally:
        stream.close()


def publish_file(spark: SparkSession, local_file: str, uri: str) -> None:
    """Copy a finished local file to ``uri`` through Hadoop's FileSystem (any
    scheme Spark can write), under a temporary name renamed into place, so a
    reader never sees half a file."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    target, fs = hadoop_path(spark, uri)
    partial = jvm.org.apache.hadoop.fs.Path(uri + ".partial")
    fs.mkdirs(target.getParent())
    fs.copyFromLocalFile(False, True, jvm.org.apache.hadoop.fs.Path("file://" + local_file), partial)
    if fs.exists(target):
        fs.delete(target, False)
    if not fs.rename(partial, target):
        raise OSError(f"could not rename {uri}.partial to {uri}")


# ---------------------------------------------------------------------------
# State that stays on the executors between stages (the rotation engine's transport)


def _task_of(key: int) -> int:
    """Partition function of a :class:`TaskRing`: record key ``t`` lives in partition ``t``."""
    return key


def task_slots(spark: SparkSession) -> int:
    """Tasks the cluster runs at once: its cores over ``spark.task.cpus``."""
    cpus = int(spark.sparkContext.getConf().get("spark.task.cpus", "1") or 1)
    return max(1, int(spark.sparkContext.defaultParallelism) // max(cpus, 1))


@dataclass(frozen=True)
class TrainingCores:
    """How a training stage uses the cores: ``cpus`` threads in each task,
    ``slots`` tasks at once, and the resource profile that reserves the cores
    (None where Spark already does, or cannot)."""

    cpus: int
    slots: int
    profile: ResourceProfile | None


def executor_cores(master_url: str, configured: str | None) -> int | None:
    """Cores of one executor: ``local-cluster[executors, cores, memory]``'s
    middle number, else ``spark.executor.cores`` when set (None: unknown)."""
    if master_url.startswith("local-cluster["):
        return int(master_url[len("local-cluster[") :].split(",")[1])
    return int(configured) if configured else None


def training_cores(spark: SparkSession, cpus: int) -> TrainingCores:
    """Reserve ``cpus`` cores for each training task (``spark.task_cpus``).

    Spark reserves them with a task resource profile on the training stage
    alone, so the other stages keep one core per task. Spark supports that on
    standalone, YARN and Kubernetes with dynamic allocation off. In local mode
    (or with dynamic allocation) it does not; there the engine runs only
    ``cores // cpus`` tasks at a time where it chooses the task count
    (rotation), and a user who wants every stage to reserve the cores sets
    Spark's own ``spark.task.cpus``.

    Raises
    ------
    ConfigError
        An executor has fewer cores than one task asks for: the task could
        never start.
    """
    conf = spark.sparkContext.getConf()
    return plan_training_cores(
        master(spark),
        int(conf.get("spark.task.cpus", "1") or 1),
        conf.get("spark.executor.cores"),
        (conf.get("spark.dynamicAllocation.enabled", "false") or "false").lower() == "true",
        max(1, int(spark.sparkContext.defaultParallelism)),
        cpus,
    )


def plan_training_cores(
    master_url: str, reserved: int, configured_executor_cores: str | None, dynamic: bool, cores: int, cpus: int
) -> TrainingCores:
    """:func:`training_cores` from the session's settings (a pure function)."""
    if cpus <= reserved:
        return TrainingCores(cpus, max(1, cores // reserved), None)
    per_executor = executor_cores(master_url, configured_executor_cores)
    if per_executor is not None and per_executor < cpus:
        raise ConfigError(
            f"spark.task_cpus={cpus} asks for more cores than an executor has ({per_executor}); "
            f"set spark.task_cpus to at most {per_executor}, or give executors more cores (spark.executor.cores)"
        )
    slots = max(1, cores // cpus)
    if master_url == "local" or master_url.startswith("local[") or dynamic:
        return TrainingCores(cpus, slots, None)
    return TrainingCores(cpus, slots, ResourceProfileBuilder().require(TaskResourceRequests().cpus(cpus)).build)


class TaskRing:
    """T tasks passing records among themselves from one stage to the next.

    A state is a pair RDD whose record ``(t, value)`` lives in partition
    ``t``. :meth:`step` runs a function once per task over the task's
    records; every record it returns goes to the task its key names (one
    shuffle per step). Steps chain lazily, so many of them run as one Spark
    job; :meth:`settle` runs it and keeps the result on the executors.

    Each Python task costs about 80 ms however little it does (measured
    here on Spark 4.2, bench/results/2026-12-02-rotation-overhead), so a
    step has as few tasks as the cluster has slots, not one per replica.
    """

    def __init__(self, spark: SparkSession, tasks: int, profile: ResourceProfile | None = None) -> None:
        self.spark = spark
        self.tasks = tasks
        self.profile = profile  # reserves each step task's cores (TrainingCores)
        self._settled: Any = None
        self._staged: list[DataFrame] = []

    def place(
        self, rows: DataFrame | RDD[Any], record: Callable[[Any], Any], *, stage: bool = False, many: bool = False
    ) -> Any:
        """Records ``record(row) -> (task, value)`` of the rows (a DataFrame's, or
        an RDD's tuples), each moved to its task.

        ``stage``: the DataFrame is made by a Python function; compute it first
        (:func:`staged`) and keep it until the next :meth:`settle`, by which
        time the records made from it are settled or cached.

        ``many``: ``record(row)`` gives any number of records, an iterable of
        ``(task, value)``. Work a Python function would otherwise do in a
        DataFrame of its own (and have staged, a job) can be done here, in the
        ring's own map over the rows the JVM reads.
        """
        if isinstance(rows, DataFrame):
            if stage:
                rows = staged(rows)
                self._staged.append(rows)
            rows = rows.rdd
        records = rows.flatMap(record) if many else rows.map(record)
        return records.partitionBy(self.tasks, _task_of)

    def add(self, state: Any, extra: Any) -> Any:
        """Both states' records, task by task (no shuffle: both are laid out by task)."""
        return state.union(extra)

    def step(self, state: Any, fn: Callable[[Iterator[tuple[int, Any]]], Iterator[tuple[int, Any]]]) -> Any:
        """The state after ``fn`` ran once per task over its records (lazy)."""
        stepped = state.mapPartitions(fn)
        if self.profile is not None:
            stepped = stepped.withResources(self.profile)
        return stepped.partitionBy(self.tasks, _task_of)

    def settle(self, state: Any) -> Any:
        """Run the chained steps; the state, cut from its lineage, kept on the executors."""
        # On the executors' disks, not in their heaps: Spark unrolls a cached
        # partition 16 values at a time before it checks its memory, and the
        # state's values are blocks of up to ~170 MB (a 5M-word model ran the
        # local JVM out of heap). Recent blocks are read from the page cache.
        state.persist(StorageLevel.DISK_ONLY)
        state.localCheckpoint()
        state.count()
        if self._settled is not None:
            self._settled.unpersist(blocking=False)
        self._settled = state
        self._release_staged()
        return state

    def frame(self, state: Any, row: Callable[[tuple[int, Any]], tuple[Any, ...]], schema: Any) -> DataFrame:
        """The state's records as a DataFrame of ``row(record)`` rows."""
        return self.spark.createDataFrame(state.map(row), schema)

    def release(self) -> None:
        if self._settled is not None:
            self._settled.unpersist(blocking=False)
        self._settled = None
        self._release_staged()

    def _release_staged(self) -> None:
        for rows in self._staged:
            rows.unpersist(blocking=False)
        self._staged.clear()


def route_keys(spark: SparkSession, buckets: int) -> list[int]:
    """For each bucket b, a bigint that Spark's hash partitioning into
    ``buckets`` partitions sends to partition b.

    Spark's hash of a few small numbers collides (4 shards into 4 tasks once
    put 3 of them in one task and left 2 empty). Asking Spark's own ``hash``
    which keys land where gives each bucket a task of its own, with the
    DataFrame shuffle (primitive bytes, no Python objects) doing the routing.
    """
    found: dict[int, int] = {}
    limit = 16 * buckets
    while len(found) < buckets:
        landed = spark.range(limit).select(F.expr(f"pmod(hash(id), {buckets})").alias("p"), "id")
        for row in landed.groupBy("p").agg(F.min("id").alias("id")).collect():
            found.setdefault(int(row["p"]), int(row["id"]))
        limit *= 4
    return [found[b] for b in range(buckets)]


# Sampled keys per range when cutting a DataFrame into ordered ranges: enough
# that the ranges' weights stay within a few percent of each other.
RANGE_SAMPLE_PER_PART = 256


def contiguous_ranges(spark: SparkSession, df: DataFrame, parts: int, keys: list[str], weight: Column) -> DataFrame:
    """``df`` in ``parts`` partitions: partition p holds the p-th range of the
    rows ordered by ``keys``, sorted, the ranges balanced by ``weight``.

    Spark's ``repartitionByRange`` does this from a sample seeded with the
    RDD's id, which differs between sessions, so the same table was cut
    differently in another process (and skip-gram trained other vectors).
    Here the sample is the rows whose keys hash to 0 modulo a stride, and the
    ranges go to their partitions through :func:`route_keys`: the same cut in
    every session.
    """
    rows = df.count()
    stride = max(1, rows // (RANGE_SAMPLE_PER_PART * parts))
    picked = df.where(F.pmod(F.xxhash64(*keys), F.lit(stride)) == 0).select(*keys, weight.alias("_w")).collect()
    sample = sorted((tuple(r[k] for k in keys), float(r["_w"])) for r in picked)
    total = sum(w for _, w in sample)
    bounds: list[tuple[Any, ...]] = []
    seen, at = 0.0, 0
    for k in range(1, parts):  # the first sampled key past k/parts of the weight starts range k
        while at < len(sample) and seen + sample[at][1] <= total * k / parts:
            seen += sample[at][1]
            at += 1
        if at < len(sample):
            bounds.append(sample[at][0])
    part = F.lit(0)
    for bound in bounds:
        part = part + F.when(_at_or_past(keys, bound), 1).otherwise(0)
    routes = F.array(*[F.lit(r).cast("bigint") for r in route_keys(spark, parts)])
    return (
        df.withColumn("_range", F.element_at(routes, part + 1))
        .repartition(parts, "_range")
        .sortWithinPartitions(*keys)
        .drop("_range")
    )


def _at_or_past(keys: list[str], bound: tuple[Any, ...]) -> Column:
    """Rows whose ``keys`` sort at or after ``bound`` (lexicographic)."""
    head, value = F.col(keys[0]), F.lit(bound[0])
    if len(keys) == 1:
        return head >= value
    return (head > value) | ((head == value) & _at_or_past(keys[1:], bound[1:]))


def tree_sum(df: DataFrame, column: str, shape: tuple[int, ...]) -> Any:
    """The sum of the float64 arrays of ``shape`` held as raw bytes in ``column`` of ``df``'s rows,
    added up on the executors in a tree (``treeAggregate``), so the driver receives one array,
    not one per partition."""
    import numpy as np

    def add(a: Any, b: Any) -> Any:
        return a + b

    return (
        df.select(column)
        .rdd.map(lambda row: np.frombuffer(row[0], dtype=np.float64).reshape(shape))
        .treeAggregate(np.zeros(shape, dtype=np.float64), add, add, depth=2)
    )
