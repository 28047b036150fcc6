"""Co-occurrence entries packed as bytes for the trainers' repeated reads.

GloVe reads every co-occurrence entry again each epoch. As one row each,
Spark turned every entry into an Arrow row on its way to the Python task,
every time: on the demo sample 1.4 s of a round's 2.0 s per task, on wiki17m
about 7 s of a 17 s round. Packed once, a run of a partition's consecutive
entries becomes one row of raw bytes (``i`` and ``j`` int32, ``x``
float64), a few megabytes each, in the entries' order; a read then moves a
few rows. The packed frame is persisted by its caller, like the schedule it
replaces, and costs 16 bytes an entry.

* Averaging: :func:`pack_rounds` packs a
  :func:`~embedpipe.training.schedule.stratified_schedule`, one row per
  round per run, so a round still selects its entries by ``_round``.
* Rotation: :func:`pack_entries` packs the table as read, and the cells of
  each epoch are cut from it.

Read them back with :func:`packed_runs` or :func:`unpack`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from embedpipe.batches import coalesce_batches
from embedpipe.training.averaging import ROUND_COLUMN

__all__ = [
    "PACKED_DDL",
    "PackRounds",
    "pack_entries",
    "pack_rounds",
    "packed_entries",
    "packed_runs",
    "unpack",
]

# A packed row: one round's entries from a run of consecutive entries of one
# partition, as raw bytes, in their order.
PACKED_DDL = f"{ROUND_COLUMN} int, i binary, j binary, x binary"
PACKED_ARROW = pa.schema([(ROUND_COLUMN, pa.int32()), ("i", pa.binary()), ("j", pa.binary()), ("x", pa.binary())])
PACKED_DTYPES = {"i": np.int32, "j": np.int32, "x": np.float64}
# Entries gathered (as Arrow batches) before one partition's run is cut by round.
PACK_BATCH_BYTES = 4 << 20


@dataclass(frozen=True)
class PackRounds:
    """mapInArrow over entries (``i``, ``j``, ``x``, ``_round``): each run of
    about ``batch_bytes`` of a partition's entries becomes one row per round
    it holds, the entries keeping their order."""

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
                + [pa.array([cols[k][sel].tobytes() for sel in parts], pa.binary()) for k in PACKED_DTYPES],
                schema=PACKED_ARROW,
            )


def pack_rounds(schedule: DataFrame) -> DataFrame:
    """A :func:`~embedpipe.training.schedule.stratified_schedule` packed by
    :class:`PackRounds`, in the same partitions: rows of :data:`PACKED_DDL`."""
    return schedule.mapInArrow(PackRounds(), PACKED_DDL)


def pack_entries(entries: DataFrame) -> DataFrame:
    """Co-occurrence entries packed in their partitions and order, every
    row in round 0: rows of :data:`PACKED_DDL`."""
    return pack_rounds(entries.select("i", "j", "x", F.lit(0).cast("int").alias(ROUND_COLUMN)))


def packed_entries(packed: DataFrame) -> int:
    """How many entries packed rows hold (one Spark job)."""
    row = packed.agg(F.sum(F.length("x")).alias("bytes")).first()
    held = 0 if row is None or row["bytes"] is None else int(row["bytes"])
    return held // np.dtype(PACKED_DTYPES["x"]).itemsize


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
