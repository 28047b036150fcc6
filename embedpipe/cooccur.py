"""Sharded co-occurrence matrix (GloVe's ``cooccur``, distributed).

Reads ``corpus`` and ``vocab`` and writes ``cooccurrence`` (shard, i, j, x),
partitioned by ``shard = i mod cooccur.shards``, one row per (i, j).

Semantics follow GloVe's ``cooccur.c`` with ``symmetric=1``: a window of
``cooccur.window`` tokens on each side, a pair at distance d adds 1/d
(``cooccur.weighting: harmonic``) or 1 (``uniform``) to both X_ij and X_ji,
OOV tokens are already gone, and windows never cross a piece boundary.

Each partition runs a compiled kernel (embedpipe.kernels.cooccur) that keeps
a dense block for pairs of frequent words and a sorted pair buffer that is
reduced and flushed when full, so its counting buffers never exceed
``cooccur.memory_mb`` (the ids being counted, about ``COUNT_BATCH_BYTES``
per call, come on top). A task sends its pre-aggregated counts to the task
that sums them as two primitive arrays per bucket (int64 keys ``i * V + j``,
float64 values; bucket ``i mod B``), so the shuffle moves bytes, not rows of
objects, and summing a bucket is one radix sort (:func:`sum_partials`).
The summed counts stay on the executors' disks: the statistics and the
table are both read from them, so the matrix is counted once and written
once. Nothing is collected to the driver but the per-bucket statistics.

Run it alone with ``embedpipe cooccur conf/demo.yaml``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from embedpipe import tables
from embedpipe.batches import coalesce_batches
from embedpipe.config import PipelineConfig
from embedpipe.kernels.cooccur import iter_cooccurrence_triples, pack_by_bucket, sum_partial_counts
from embedpipe.stage import StageResult, new_run_id

log = logging.getLogger(__name__)

TRIPLES_ARROW = pa.schema([("shard", pa.int32()), ("i", pa.int32()), ("j", pa.int32()), ("x", pa.float64())])
TRIPLES = "shard int, i int, j int, x double"
# A task's partial counts for one bucket: int64 keys i * V + j and float64
# values, as raw bytes.
PARTIAL = T.StructType(
    [T.StructField("bucket", T.IntegerType()), T.StructField("keys", T.BinaryType()),
     T.StructField("vals", T.BinaryType())]
)  # fmt: skip
# A bucket's summed counts (int32 i, int32 j, float64 x), as raw bytes.
SUMMED = T.StructType(
    [T.StructField("bucket", T.IntegerType()), T.StructField("i", T.BinaryType()),
     T.StructField("j", T.BinaryType()), T.StructField("x", T.BinaryType())]
)  # fmt: skip


def flatten_ids(ids_column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A list<int32> Arrow column as (flat int32 ids, int64 offsets from 0)."""
    offsets = ids_column.offsets.to_numpy().astype(np.int64)
    flat = pc.list_flatten(ids_column).to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
    return flat, offsets - offsets[0]


# The kernel counts at least this much of the corpus (int32 ids) per call.
COUNT_BATCH_BYTES = 64 << 20
# Entries per shuffled row (16 B each): PySpark's shuffle packs several rows
# of a task into one JVM array, so rows stay a few MB
# (docs/design.md, "Large models through the JVM").
ROW_ENTRIES = 1 << 19
# Bytes a summing task holds per partial entry: the gathered keys and values
# (16), the sort's scratch (16) and the summed triples (16), with room for
# the rows they arrived in (16).
SUM_BYTES_PER_ENTRY = 64


def sum_buckets(shards: int, partitions: int, tokens: int, window: int, memory_bytes: int) -> int:
    """How many buckets the partial counts are summed in: a multiple of
    ``shards`` (a summing task then writes one shard), at least
    ``partitions``, and enough that a bucket fits ``memory_bytes`` even if
    every one of the corpus's 2 × window × tokens increments left its task
    as an entry of its own (an upper bound: tasks sum what they count)."""
    need = -(-2 * window * tokens * SUM_BYTES_PER_ENTRY // max(memory_bytes, 1))
    at_least = max(partitions, need, 1)
    return shards * -(-at_least // shards)


def make_counter(vocab_size: int, window: int, harmonic: bool, memory_bytes: int, buckets: int):  # type: ignore[no-untyped-def]
    """The map side: a task's pieces counted into partial counts, as
    :data:`PARTIAL` rows per bucket ``i mod buckets``."""

    def count(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        # One kernel call per Spark batch (2,048 pieces) would emit each
        # batch's pairs separately, so a many-line corpus would send the same
        # (i, j) through the shuffle once per batch; counting at least
        # COUNT_BATCH_BYTES of ids per call sends far fewer partial triples
        # (bench/results/2026-11-28-cooccur/).
        for batch in coalesce_batches(batches, COUNT_BATCH_BYTES):
            flat, offsets = flatten_ids(batch.column("ids"))
            for i, j, x in iter_cooccurrence_triples(flat, offsets, vocab_size, window, harmonic, memory_bytes):
                if len(i) == 0:
                    continue
                keys, vals, bounds = pack_by_bucket(i, j, x, vocab_size, buckets)
                del i, j, x  # the packed copy replaces the kernel's batch in the budget
                # One row per Arrow batch: only one row's bytes exist at a time.
                for b in range(buckets):
                    for a in range(int(bounds[b]), int(bounds[b + 1]), ROW_ENTRIES):
                        z = min(a + ROW_ENTRIES, int(bounds[b + 1]))
                        yield pa.RecordBatch.from_arrays(
                            [pa.array([b], pa.int32()), pa.array([keys[a:z].tobytes()], pa.binary()),
                             pa.array([vals[a:z].tobytes()], pa.binary())],
                            names=["bucket", "keys", "vals"],
                        )  # fmt: skip

    return count


def _bucket_of(bucket: int) -> int:
    """Partition function of the summing shuffle: bucket b is summed by task b
    (Spark's hash of a few small numbers collides; this spreads them evenly)."""
    return bucket


def _bucket_record(row: Any) -> tuple[int, tuple[bytes, bytes]]:
    return int(row[0]), (bytes(row[1]), bytes(row[2]))


def make_summer(vocab_size: int):  # type: ignore[no-untyped-def]
    """The reduce side: one bucket's partial counts (every task's) summed per
    (i, j), as :data:`SUMMED` records of at most ROW_ENTRIES triples."""

    def sum_bucket(records: Iterator[tuple[int, tuple[bytes, bytes]]]) -> Iterator[tuple[int, bytes, bytes, bytes]]:
        bucket = -1
        keys: list[np.ndarray] = []
        vals: list[np.ndarray] = []
        for b, (k, v) in records:
            bucket = b
            keys.append(np.frombuffer(k, np.int64))
            vals.append(np.frombuffer(v, np.float64))
        if not keys:
            return
        all_keys, all_vals = np.concatenate(keys), np.concatenate(vals)
        del keys, vals
        i, j, x = sum_partial_counts(all_keys, all_vals, vocab_size)
        del all_keys, all_vals
        for a in range(0, len(i), ROW_ENTRIES):
            b = a + ROW_ENTRIES
            yield bucket, i[a:b].tobytes(), j[a:b].tobytes(), x[a:b].tobytes()

    return sum_bucket


def make_exploder(shards: int):  # type: ignore[no-untyped-def]
    """:data:`SUMMED` rows as the table's (shard, i, j, x) rows, without a copy per value."""

    def explode(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for i_b, j_b, x_b in zip(
                batch.column("i").to_pylist(), batch.column("j").to_pylist(), batch.column("x").to_pylist(),
                strict=True,
            ):  # fmt: skip
                i = np.frombuffer(i_b, np.int32)
                shard = (i % shards).astype(np.int32)
                yield pa.RecordBatch.from_arrays(
                    [pa.array(shard), pa.array(i), pa.array(np.frombuffer(j_b, np.int32)),
                     pa.array(np.frombuffer(x_b, np.float64))],
                    schema=TRIPLES_ARROW,
                )  # fmt: skip

    return explode


def sum_partials(partial: DataFrame, buckets: int, vocab_size: int) -> Any:
    """The :data:`PARTIAL` rows summed per (i, j): an RDD of :data:`SUMMED`
    records, bucket ``b`` summed by task ``b`` alone, in one shuffle."""
    return partial.rdd.map(_bucket_record).partitionBy(buckets, _bucket_of).mapPartitions(make_summer(vocab_size))


def _summary(record: tuple[int, bytes, bytes, bytes]) -> tuple[int, float]:
    return len(record[1]) // 4, float(np.frombuffer(record[3], np.float64).sum())


def count_matrix(
    spark: SparkSession, corpus: DataFrame, vocab_size: int, tokens: int, cfg: PipelineConfig
) -> tuple[DataFrame, int, float, Any]:
    """The co-occurrence matrix of ``corpus``: its rows, nnz and total weight,
    and the persisted summed counts the rows are read from (unpersist them
    once the rows are written).

    Each task counts its pieces within ``cooccur.memory_mb`` and sends each
    bucket's partial counts as two primitive arrays to the bucket's task
    (one shuffle of bytes, not of rows); that task sums them with one radix
    sort. The summed counts stay on the executors' disks, so the matrix is
    computed once for its statistics and its table.
    """
    c = cfg.cooccur
    memory_bytes = c.memory_mb * 1024 * 1024
    buckets = sum_buckets(c.shards, cfg.spark.partitions, tokens, c.window, memory_bytes)
    count = make_counter(vocab_size, c.window, c.weighting == "harmonic", memory_bytes, buckets)
    partial = corpus.repartition(cfg.spark.partitions).mapInArrow(count, PARTIAL)
    summed = sum_partials(partial, buckets, vocab_size).persist(StorageLevel.DISK_ONLY)
    per_record = summed.map(_summary).collect()
    nnz = sum(n for n, _ in per_record)
    total = math.fsum(t for _, t in per_record)
    rows = spark.createDataFrame(summed, SUMMED).mapInArrow(make_exploder(c.shards), TRIPLES)
    return rows, nnz, total, summed


def run(spark: SparkSession, cfg: PipelineConfig) -> StageResult:
    """Co-occurrence stage: write ``cooccurrence`` with nnz and total weight in its metadata."""
    t0 = time.perf_counter()
    root = cfg.output.path
    # The corpus's ids must index the vocab being counted against.
    vocab_version = tables.vocab_version_of(spark, root, "corpus")
    counts = tables.read_vocab_counts(spark, root, version=vocab_version)
    vocab_size, tokens = len(counts), int(counts.sum())  # the corpus holds exactly the vocab's tokens
    corpus = tables.read(spark, root, "corpus")
    run_id = new_run_id()
    rows, nnz, total, summed = count_matrix(spark, corpus, vocab_size, tokens, cfg)
    try:
        stats: dict[str, Any] = {
            "nnz": nnz,
            "total_weight": total,
            "memory_mb_per_task": cfg.cooccur.memory_mb,
            "vocab_size": vocab_size,
            "window": cfg.cooccur.window,
            "weighting": cfg.cooccur.weighting,
        }
        stats["seconds"] = round(time.perf_counter() - t0, 2)
        meta = {
            "stage": "cooccur",
            "run_id": run_id,
            "config": cfg.to_dict(),
            "stats": stats,
            "vocab_version": vocab_version,
        }
        tables.write(rows, root, "cooccurrence", metadata=meta, partition_by=["shard"])
    finally:
        summed.unpersist()
    seconds = time.perf_counter() - t0
    log.info(
        "cooccur: %d non-zero entries, total weight %.1f, window %d, %d shards (%.1f s)",
        stats["nnz"],
        stats["total_weight"],
        cfg.cooccur.window,
        cfg.cooccur.shards,
        seconds,
    )
    return StageResult("cooccur", run_id, seconds, rows=nnz, work=nnz, unit="entries", stats=stats)
