"""The parameter-averaging loop shared by both trainers.

One round is: broadcast the model, let every partition train a private copy
on its slice of the data with a compiled kernel, send back only the rows it
touched with their touch counts, and merge each row on the driver over the
partitions that touched it. After the merge the loop checks that the touched
rows are finite, prints one progress line, and at the end of each epoch hands
the model to a checkpoint callback.

Merge rules (``merge``):

``average``
    Each touched row becomes the mean of the replicas that touched it: Spark
    MLlib Word2Vec's rule. Summing instead of averaging diverges (SPARK-24666).
``touch_weighted``
    Each replica's *change* to a row is weighted by how many updates it made
    to that row: rows a replica trained often count more than rows it touched
    once. For a row touched by one replica both rules agree.

Only the model lives on the driver; the data stays on the executors.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from embedpipe.distributed import partition_id, share

log = logging.getLogger(__name__)

MergeRule = Literal["average", "touch_weighted"]

# What a partition sends back: touched rows (group, row, touches, values) and
# one stats row per partition (group "__stats__", stats as JSON).
REPLICA_SCHEMA = T.StructType(
    [
        T.StructField("group", T.StringType(), False),
        T.StructField("row", T.IntegerType(), False),
        T.StructField("touches", T.LongType(), False),
        T.StructField("values", T.ArrayType(T.FloatType()), True),
        T.StructField("stats", T.StringType(), True),
    ]
)
STATS_GROUP = "__stats__"
ROUND_COLUMN = "_round"


class DivergenceError(RuntimeError):
    """Training produced non-finite parameters."""


@dataclass(frozen=True)
class ParamGroup:
    """Parameters whose rows share one touch count (e.g. W, its bias and AdaGrad state)."""

    name: str
    params: tuple[str, ...]


@dataclass(frozen=True)
class RoundInfo:
    """What a partition knows about the round it trains (all plain data)."""

    epoch: int
    round: int
    rounds_per_epoch: int
    epochs: int
    num_partitions: int
    seed: int
    extra: Mapping[str, float] = field(default_factory=dict)

    def task_seed(self, partition: int) -> int:
        """Deterministic seed from (seed, partition, epoch, round)."""
        ss = np.random.SeedSequence([self.seed & 0xFFFFFFFF, partition, self.epoch, self.round])
        return int(ss.generate_state(1, dtype=np.uint64)[0] & 0x7FFFFFFFFFFFFFFF)


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


def _row_width(state: Mapping[str, np.ndarray], group: ParamGroup) -> int:
    return sum(int(np.prod(state[p].shape[1:], dtype=np.int64)) if state[p].ndim > 1 else 1 for p in group.params)


def _pack_rows(state: Mapping[str, np.ndarray], group: ParamGroup, rows: np.ndarray) -> np.ndarray:
    cols = [state[p][rows].reshape(len(rows), -1).astype(np.float32, copy=False) for p in group.params]
    return np.hstack(cols) if len(cols) > 1 else cols[0]


def _unpack_rows(state: dict[str, np.ndarray], group: ParamGroup, rows: np.ndarray, values: np.ndarray) -> None:
    at = 0
    for p in group.params:
        width = int(np.prod(state[p].shape[1:], dtype=np.int64)) if state[p].ndim > 1 else 1
        block = values[:, at : at + width]
        state[p][rows] = block.reshape((len(rows), *state[p].shape[1:])).astype(state[p].dtype, copy=False)
        at += width


def _replica_batches(
    group: ParamGroup, rows: np.ndarray, touches: np.ndarray, values: np.ndarray, chunk: int = 16384
) -> Iterator[pa.RecordBatch]:
    width = values.shape[1]
    for start in range(0, len(rows), chunk):
        r = rows[start : start + chunk]
        flat = np.ascontiguousarray(values[start : start + chunk]).reshape(-1)
        offsets = np.arange(0, len(r) * width + 1, width, dtype=np.int32)
        yield pa.RecordBatch.from_arrays(
            [
                pa.array(np.full(len(r), group.name, dtype=object), pa.string()),
                pa.array(r.astype(np.int32)),
                pa.array(touches[start : start + chunk].astype(np.int64)),
                pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat, pa.float32())),
                pa.nulls(len(r), pa.string()),
            ],
            schema=pa.schema(
                [
                    ("group", pa.string()),
                    ("row", pa.int32()),
                    ("touches", pa.int64()),
                    ("values", pa.list_(pa.float32())),
                    ("stats", pa.string()),
                ]
            ),
        )


def _stats_batch(stats: Mapping[str, float]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(
        {
            "group": [STATS_GROUP],
            "row": [-1],
            "touches": [0],
            "values": pa.nulls(1, pa.list_(pa.float32())),
            "stats": [json.dumps({k: float(v) for k, v in stats.items()})],
        },
        schema=pa.schema(
            [
                ("group", pa.string()),
                ("row", pa.int32()),
                ("touches", pa.int64()),
                ("values", pa.list_(pa.float32())),
                ("stats", pa.string()),
            ]
        ),
    )


def merge_replicas(
    state: dict[str, np.ndarray],
    groups: Sequence[ParamGroup],
    replicas: pa.Table,
    rule: MergeRule,
) -> dict[str, np.ndarray]:
    """Merge the touched rows sent back by the partitions into ``state`` in place.

    Returns, per group, how many partitions touched each row (0 = untouched).
    """
    replicas = replicas.combine_chunks()
    group_col = replicas.column("group").to_numpy(zero_copy_only=False)
    touched_by: dict[str, np.ndarray] = {}
    for g in groups:
        mask = group_col == g.name
        n_rows = state[g.params[0]].shape[0]
        if not mask.any():
            touched_by[g.name] = np.zeros(n_rows, dtype=np.int64)
            continue
        sub = replicas.filter(pa.array(mask))
        rows = sub.column("row").to_numpy()
        touches = sub.column("touches").to_numpy().astype(np.float64)
        width = _row_width(state, g)
        values = sub.column("values").combine_chunks().flatten().to_numpy().reshape(len(rows), width)
        n_by = np.bincount(rows, minlength=n_rows)
        hit = np.flatnonzero(n_by)
        old = _pack_rows(state, g, hit).astype(np.float64)
        pos = np.full(n_rows, -1, dtype=np.int64)
        pos[hit] = np.arange(len(hit))
        k = pos[rows]
        acc = np.zeros((len(hit), width), dtype=np.float64)
        if rule == "average":
            np.add.at(acc, k, values.astype(np.float64))
            new = acc / n_by[hit][:, None]
        elif rule == "touch_weighted":
            w = np.bincount(k, weights=touches, minlength=len(hit))
            np.add.at(acc, k, (values.astype(np.float64) - old[k]) * touches[:, None])
            new = old + acc / np.maximum(w, 1.0)[:, None]
        else:  # pragma: no cover - validated by config
            raise ValueError(f"unknown merge rule {rule!r}; use 'average' or 'touch_weighted'")
        _unpack_rows(state, g, hit, new)
        touched_by[g.name] = n_by
    return touched_by


def round_stats(replicas: pa.Table) -> dict[str, float]:
    """Sum the per-partition stats rows."""
    col = replicas.column("stats").to_pylist()
    total: dict[str, float] = {}
    for s in col:
        if s:
            for k, v in json.loads(s).items():
                total[k] = total.get(k, 0.0) + v
    return total


def check_finite(state: Mapping[str, np.ndarray], epoch: int, model: str, advice: str, checkpoint_note: str) -> None:
    bad = [name for name, arr in state.items() if not np.isfinite(arr).all()]
    if bad:
        raise DivergenceError(
            f"{model} training diverged in epoch {epoch + 1}: parameters {bad} became NaN or infinite. "
            f"{advice} {checkpoint_note}".strip()
        )


def _fmt_duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{(s % 3600) // 60:02d}:{s % 60:02d}"


def format_rate(x: float) -> str:
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e3:
        return f"{x / 1e3:.1f}k"
    return f"{x:.0f}"


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
    round_extra: Callable[[int, int], Mapping[str, float]] | None = None,
    describe: Callable[[RoundResult], str] | None = None,
    on_epoch_end: Callable[[int, dict[str, np.ndarray], list[RoundResult]], None] | None = None,
    divergence_advice: str = "",
    checkpoint_note: Callable[[], str] | None = None,
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

    Raises
    ------
    DivergenceError
        A merged parameter is NaN or infinite. The state of the last finished
        epoch stays in its checkpoint.
    """
    history: list[RoundResult] = []
    total_rounds = (epochs - start_epoch) * rounds_per_epoch
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
            try:
                task = _make_task(shared, groups, train_partition, info)
                part = data if rounds_per_epoch == 1 else data.filter(F.col(ROUND_COLUMN) == rnd)
                replicas = part.mapInArrow(task, REPLICA_SCHEMA).toArrow()
            finally:
                shared.release()
            merge_replicas(state, groups, replicas, merge)
            result = RoundResult(epoch, rnd, round_stats(replicas), time.perf_counter() - t0, num_partitions)
            history.append(result)
            done_rounds += 1
            check_finite(state, epoch, model, divergence_advice, checkpoint_note() if checkpoint_note else "")
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
                _fmt_duration(elapsed),
                _fmt_duration(eta),
            )
        if on_epoch_end is not None:
            on_epoch_end(epoch, state, history)
    return history


def _make_task(
    shared: object, groups: tuple[ParamGroup, ...], train_partition: TrainPartition, info: RoundInfo
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    def task(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        pid = partition_id()
        # The broadcast value may be shared by tasks in one Python worker: copy.
        params = {k: np.array(v, copy=True) for k, v in shared.value.items()}  # type: ignore[attr-defined]
        stats, touches = train_partition(params, batches, info, pid)
        for g in groups:
            t = touches[g.name]
            rows = np.flatnonzero(t)
            if len(rows):
                yield from _replica_batches(g, rows, t[rows], _pack_rows(params, g, rows))
        yield _stats_batch(stats)

    return task
