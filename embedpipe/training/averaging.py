"""The parameter-averaging loop shared by both trainers.

One round is: broadcast the model, let every partition train a private copy
on its slice of the data with a compiled kernel, send back only the rows it
touched with their touch counts, and merge each row on the driver over the
partitions that touched it. After the merge the loop checks that the touched
rows are finite, prints one progress line, and at the end of each epoch hands
the model to a checkpoint callback.

The merge rules are in :mod:`embedpipe.training.merge`.

Only the model lives on the driver; the data stays on the executors.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from pyspark.resource import ResourceProfile
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from embedpipe.distributed import partition_id, share
from embedpipe.training.loop import Health, ParamGroup, RoundInfo, format_duration, format_rate
from embedpipe.training.merge import MergeRule, clipped_sum_floor, merge_replicas, pack_rows

log = logging.getLogger(__name__)


# What a partition sends back: its touched rows in chunks, one Arrow row per
# chunk (group, row ids as int32 bytes, touch counts as int64 bytes, the
# rows' values as row-major float32 bytes), and one stats row (group
# "__stats__", stats as JSON). Raw bytes cross the JVM as one value per chunk;
# an array<float> per vocabulary row cost Spark a conversion per float.
REPLICA_SCHEMA = T.StructType(
    [
        T.StructField("group", T.StringType(), False),
        T.StructField("rows", T.BinaryType(), True),
        T.StructField("touches", T.BinaryType(), True),
        T.StructField("values", T.BinaryType(), True),
        T.StructField("stats", T.StringType(), True),
    ]
)
_REPLICA_ARROW = pa.schema(
    [
        ("group", pa.string()),
        ("rows", pa.binary()),
        ("touches", pa.binary()),
        ("values", pa.binary()),
        ("stats", pa.string()),
    ]
)
STATS_GROUP = "__stats__"
ROUND_COLUMN = "_round"


# train_partition(params, batches, info, partition) -> (stats, touches per group)
TrainPartition = Callable[
    [dict[str, np.ndarray], Iterator[pa.RecordBatch], RoundInfo, int],
    tuple[dict[str, float], dict[str, np.ndarray]],
]


@dataclass
class RoundResult:
    epoch: int
    round: int
    stats: dict[str, float]          # summed over partitions
    seconds: float
    partitions: int


def _replica_batches(
    group: ParamGroup, rows: np.ndarray, touches: np.ndarray, values: np.ndarray, chunk: int = 16384
) -> Iterator[pa.RecordBatch]:
    for start in range(0, len(rows), chunk):
        end = start + chunk
        yield pa.RecordBatch.from_arrays(
            [
                pa.array([group.name], pa.string()),
                pa.array([rows[start:end].astype(np.int32).tobytes()], pa.binary()),
                pa.array([touches[start:end].astype(np.int64).tobytes()], pa.binary()),
                pa.array([np.ascontiguousarray(values[start:end], dtype=np.float32).tobytes()], pa.binary()),
                pa.nulls(1, pa.string()),
            ],
            schema=_REPLICA_ARROW,
        )


def _stats_batch(stats: Mapping[str, float]) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [
            pa.array([STATS_GROUP], pa.string()),
            pa.nulls(1, pa.binary()),
            pa.nulls(1, pa.binary()),
            pa.nulls(1, pa.binary()),
            pa.array([json.dumps({k: float(v) for k, v in stats.items()})], pa.string()),
        ],
        schema=_REPLICA_ARROW,
    )


def round_stats(replicas: pa.Table) -> dict[str, float]:
    """Sum the per-partition stats rows."""
    col = replicas.column("stats").to_pylist()
    total: dict[str, float] = {}
    for s in col:
        if s:
            for k, v in json.loads(s).items():
                total[k] = total.get(k, 0.0) + v
    return total


def train_with_averaging(
    spark: SparkSession,
    data: DataFrame,
    state: dict[str, np.ndarray],
    groups: Sequence[ParamGroup],
    train_partition: TrainPartition,
    *,
    model: str,
    epochs: int,
    rounds_per_epoch: int,
    seed: int,
    num_partitions: int,
    merge: MergeRule = "average",
    start_epoch: int = 0,
    profile: ResourceProfile | None = None,
    round_extra: Callable[[int, int], Mapping[str, float]] | None = None,
    describe: Callable[[RoundResult], str] | None = None,
    on_epoch_end: Callable[[int, dict[str, np.ndarray], list[RoundResult]], None] | None = None,
    health: Health | None = None,
    loss_stat: str = "loss",
    count_stat: str = "pairs",
    work_units: str = "words",
) -> list[RoundResult]:
    """Run ``epochs`` × ``rounds_per_epoch`` averaging rounds over ``data``.

    Parameters
    ----------
    data
        Cached DataFrame, partitioned into ``num_partitions`` replicas, with an
        int column ``_round`` that assigns each row to one round of the epoch.
    state
        The model: name -> array whose first axis is the vocabulary row.
        Updated in place and returned rows are merged with ``merge``.
    train_partition
        Runs on the executors: trains the given private copy of the state on
        the partition's batches and returns (stats, touches per group). Stats
        are summed across partitions; ``work_units`` names the stat that
        measures throughput (e.g. ``words`` or ``entries``).
    on_epoch_end
        Called after every epoch with the merged state (for checkpoints).
    profile
        Reserves each training task's cores (:func:`embedpipe.distributed.training_cores`).

    Raises
    ------
    DivergenceError
        From ``health``: a merged parameter is NaN or infinite, or the loss
        ran away. The last checkpoint ``on_epoch_end`` made stays as it was.
    """
    history: list[RoundResult] = []
    total_rounds = (epochs - start_epoch) * rounds_per_epoch
    floor = clipped_sum_floor(num_partitions)
    done_rounds = 0
    t_start = time.perf_counter()
    groups = tuple(groups)
    for epoch in range(start_epoch, epochs):
        for rnd in range(rounds_per_epoch):
            t0 = time.perf_counter()
            info = RoundInfo(
                epoch=epoch,
                round=rnd,
                rounds_per_epoch=rounds_per_epoch,
                epochs=epochs,
                num_partitions=num_partitions,
                seed=seed,
                extra=dict(round_extra(epoch, rnd)) if round_extra else {},
            )
            shared = share(spark, state)
            t_shared = time.perf_counter()
            try:
                task = _make_task(shared, groups, train_partition, info)
                part = data if rounds_per_epoch == 1 else data.filter(F.col(ROUND_COLUMN) == rnd)
                replicas = part.mapInArrow(task, REPLICA_SCHEMA, profile=profile).toArrow()
            finally:
                shared.release()
            t_trained = time.perf_counter()
            merge_replicas(state, groups, replicas, merge, floor=floor)
            stats = round_stats(replicas)
            # Model bytes through the driver: the model out (once per round,
            # whatever the executors' count) and the replicas' rows back.
            stats["moved_bytes"] = float(sum(a.nbytes for a in state.values()) + replicas.nbytes)
            log.debug(
                "%s round timing: broadcast %.2f s, train+collect %.2f s (%.0f MB back), merge %.2f s; "
                "per task: load %.2f s, train %.2f s, pack+send %.2f s",
                model,
                t_shared - t0,
                t_trained - t_shared,
                replicas.nbytes / 2**20,
                time.perf_counter() - t_trained,
                stats.get("task_load_s", 0.0) / num_partitions,
                stats.get("task_train_s", 0.0) / num_partitions,
                stats.get("task_pack_s", 0.0) / num_partitions,
            )
            result = RoundResult(epoch, rnd, stats, time.perf_counter() - t0, num_partitions)
            history.append(result)
            done_rounds += 1
            if health is not None:
                health.check(model, epoch, {**stats, "nonfinite": _nonfinite(state)}, loss_stat, count_stat)
            elapsed = time.perf_counter() - t_start
            eta = elapsed / done_rounds * (total_rounds - done_rounds)
            rate = result.stats.get(work_units, 0.0) / max(result.seconds, 1e-9)
            extra = describe(result) if describe else ""
            log.info(
                "%s epoch %d/%d round %d/%d | %5.1f%% | %s %s/s | %s | elapsed %s | ETA %s",
                model,
                epoch + 1,
                epochs,
                rnd + 1,
                rounds_per_epoch,
                100.0 * (epoch * rounds_per_epoch + rnd + 1) / (epochs * rounds_per_epoch),
                format_rate(rate),
                work_units,
                extra,
                format_duration(elapsed),
                format_duration(eta),
            )
        if health is not None:
            rounds = [h.stats for h in history if h.epoch == epoch]
            health.epoch_done([r.get(loss_stat, 0.0) / max(r.get(count_stat, 0.0), 1.0) for r in rounds])
        if on_epoch_end is not None:
            on_epoch_end(epoch, state, history)
    return history


def _nonfinite(state: Mapping[str, np.ndarray]) -> float:
    return float(sum(int((~np.isfinite(a)).sum()) for a in state.values()))


def _make_task(
    shared: object, groups: tuple[ParamGroup, ...], train_partition: TrainPartition, info: RoundInfo
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    def task(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        pid = partition_id()
        t0 = time.perf_counter()
        # The broadcast value may be shared by tasks in one Python worker: copy.
        params = {k: np.array(v, copy=True) for k, v in shared.value.items()}  # type: ignore[attr-defined]
        t1 = time.perf_counter()
        stats, touches = train_partition(params, batches, info, pid)
        t2 = time.perf_counter()
        for g in groups:
            t = touches[g.name]
            rows = np.flatnonzero(t)
            if len(rows):
                yield from _replica_batches(g, rows, t[rows], pack_rows(params, g, rows))
        stats = {**stats, "task_load_s": t1 - t0, "task_train_s": t2 - t1, "task_pack_s": time.perf_counter() - t2}
        yield _stats_batch(stats)

    return task
