"""Co-occurrence entries packed as bytes for the trainers' repeated reads.

GloVe reads every co-occurrence entry again each epoch. As one row each,
Spark turned every entry into an Arrow row on its way to the Python task,
every time: on the demo sample 1.4 s of a round's 2.0 s per task, on wiki17m
about 7 s of a 17 s round. Packed once, a run of a partition's consecutive
entries becomes one row of raw bytes (``i`` and ``j`` int32, ``x``
float64), a few megabytes each, in the entries' order; a read then moves a
few rows. The packed frame is persisted by its caller, like the schedule it
replaces, and costs 16 bytes an entry.

Each packed row also carries its entries' cost under the untrained model
(the health check's reference), so that the one job counting the packed
entries gives it too, instead of another pass over the table.

* Averaging: :func:`pack_rounds` packs a
  :func:`~embedpipe.training.schedule.stratified_schedule`, one row per
  round per run, so a round still selects its entries by ``_round``.
* Rotation: :func:`pack_entries` packs the table as read, and the cells of
  each epoch are cut from it.

Read them back with :func:`packed_runs` or :func:`unpack` (Arrow batches),
or :func:`packed_row` (one row as a tuple).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from embedpipe.batches import coalesce_batches
from embedpipe.kernels.glove import untrained_cost_sum
from embedpipe.training.averaging import ROUND_COLUMN

__all__ = [
    "PACKED_DDL",
    "PackRounds",
    "pack_entries",
    "pack_rounds",
    "PackedTotals",
    "packed_row",
    "packed_runs",
    "packed_totals",
    "unpack",
]

# A packed row: one round's entries from a run of consecutive entries of one
# partition, as raw bytes, in their order, and their summed untrained cost.
PACKED_DDL = f"{ROUND_COLUMN} int, i binary, j binary, x binary, untrained_cost double"
PACKED_ARROW = pa.schema(
    [(ROUND_COLUMN, pa.int32()), ("i", pa.binary()), ("j", pa.binary()), ("x", pa.binary()),
     ("untrained_cost", pa.float64())]
)  # fmt: skip
PACKED_DTYPES = {"i": np.int32, "j": np.int32, "x": np.float64}
# Entries gathered (as Arrow batches) before one partition's run is cut by round.
PACK_BATCH_BYTES = 4 << 20


@dataclass(frozen=True)
class PackRounds:
    """mapInArrow over entries (``i``, ``j``, ``x``, ``_round``): each run of
    about ``batch_bytes`` of a partition's entries becomes one row per round
    it holds, the entries keeping their order. ``x_max`` and ``power`` weigh
    the rows' untrained cost (:func:`~embedpipe.kernels.glove.untrained_cost_sum`)."""

    x_max: float
    power: float
    batch_bytes: int = PACK_BATCH_BYTES

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in coalesce_batches(batches, self.batch_bytes):
            rnd = batch.column(ROUND_COLUMN).to_numpy(zero_copy_only=False)
            cols = {k: batch.column(k).to_numpy(zero_copy_only=False).astype(t) for k, t in PACKED_DTYPES.items()}
            order = np.argsort(rnd, kind="stable")
            bounds = np.flatnonzero(np.diff(rnd[order])) + 1
            parts = [sel for sel in np.split(order, bounds) if len(sel)]
            yield pa.RecordBatch.from_arrays(
                [pa.array([int(rnd[sel[0]]) for sel in parts], pa.int32())]
                + [pa.array([cols[k][sel].tobytes() for sel in parts], pa.binary()) for k in PACKED_DTYPES]
                + [pa.array([untrained_cost_sum(cols["x"][sel], self.x_max, self.power) for sel in parts])],
                schema=PACKED_ARROW,
            )


def pack_rounds(schedule: DataFrame, x_max: float, power: float) -> DataFrame:
    """A :func:`~embedpipe.training.schedule.stratified_schedule` packed by
    :class:`PackRounds`, in the same partitions: rows of :data:`PACKED_DDL`."""
    return schedule.mapInArrow(PackRounds(x_max, power), PACKED_DDL)


def pack_entries(entries: DataFrame, x_max: float, power: float) -> DataFrame:
    """Co-occurrence entries packed in their partitions and order, every
    row in round 0: rows of :data:`PACKED_DDL`."""
    return pack_rounds(entries.select("i", "j", "x", F.lit(0).cast("int").alias(ROUND_COLUMN)), x_max, power)


@dataclass(frozen=True)
class PackedTotals:
    """What packed rows hold: ``entries``, and their mean cost under the
    untrained model (None when there are no entries)."""

    entries: int
    untrained_cost: float | None


def packed_totals(packed: DataFrame) -> PackedTotals:
    """The entries packed rows hold and their mean untrained cost (one Spark job)."""
    row = packed.agg(F.sum(F.length("x")).alias("bytes"), F.sum("untrained_cost").alias("cost")).first()
    held = 0 if row is None or row["bytes"] is None else int(row["bytes"])
    entries = held // np.dtype(PACKED_DTYPES["x"]).itemsize
    return PackedTotals(entries, float(row["cost"]) / entries if entries and row is not None else None)


def packed_row(row: tuple[Any, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One packed row's entries, ``(i, j, x)``: the row as a tuple (or Row) in :data:`PACKED_DDL`'s order."""
    _, i, j, x = row[:4]
    return tuple(  # type: ignore[return-value]
        np.frombuffer(raw or b"", dtype) for raw, dtype in zip((i, j, x), PACKED_DTYPES.values(), strict=True)
    )


def packed_runs(batches: Iterator[pa.RecordBatch]) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Each packed row's entries, ``(i, j, x)`` as int32, int32 and float64, in order."""
    for batch in batches:
        columns = {k: batch.column(k).to_pylist() for k in PACKED_DTYPES}
        for r in range(batch.num_rows):
            i, j, x = (np.frombuffer(columns[k][r] or b"", dtype) for k, dtype in PACKED_DTYPES.items())
            yield i, j, x


def unpack(batches: Iterator[pa.RecordBatch]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The entries of packed rows concatenated in order: ``(i, j, x)``."""
    runs = list(packed_runs(batches))
    return tuple(  # type: ignore[return-value]
        np.concatenate([run[k] for run in runs]) if runs else np.zeros(0, dtype)
        for k, dtype in enumerate(PACKED_DTYPES.values())
    )
