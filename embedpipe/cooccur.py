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
The summing tasks emit the table's rows as Arrow batches and the nnz and
total weight are observed while the rows are written, so the matrix is
counted once and written once, and nothing of it reaches the driver.

Run it alone with ``embedpipe cooccur conf/demo.yaml``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from embedpipe import tables
from embedpipe.batches import coalesce_batches
from embedpipe.config import PipelineConfig
from embedpipe.distributed import route_keys
from embedpipe.kernels.cooccur import iter_cooccurrence_triples, pack_by_bucket, sum_partial_counts
from embedpipe.stage import StageResult, new_run_id

log = logging.getLogger(__name__)

TRIPLES_ARROW = pa.schema([("shard", pa.int32()), ("i", pa.int32()), ("j", pa.int32()), ("x", pa.float64())])
# A task's partial counts for one bucket: int64 keys i * V + j and float64
# values, as raw bytes, and the route that sends them to the bucket's task.
PARTIAL = T.StructType(
    [T.StructField("bucket", T.IntegerType()), T.StructField("route", T.LongType()),
     T.StructField("keys", T.BinaryType()), T.StructField("vals", T.BinaryType())]
)  # fmt: skip
# The table's rows, as the summing tasks emit them.
TRIPLES = "shard int, i int, j int, x double"


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


def make_counter(vocab_size: int, window: int, harmonic: bool, memory_bytes: int, routes: list[int]):  # type: ignore[no-untyped-def]
    """The map side: a task's pieces counted into partial counts, as
    :data:`PARTIAL` rows per bucket ``i mod len(routes)``."""
    buckets = len(routes)

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
                            [pa.array([b], pa.int32()), pa.array([routes[b]], pa.int64()),
                             pa.array([keys[a:z].tobytes()], pa.binary()),
                             pa.array([vals[a:z].tobytes()], pa.binary())],
                            names=["bucket", "route", "keys", "vals"],
                        )  # fmt: skip

    return count


def _values(column: pa.Array, dtype: type) -> list[np.ndarray]:
    """A binary column's values as numpy views of its buffers (no copy per row)."""
    _, offset_buffer, data = column.buffers()
    if data is None or len(column) == 0:
        return []
    width = np.int64 if pa.types.is_large_binary(column.type) else np.int32
    offsets = np.frombuffer(offset_buffer, width)[column.offset : column.offset + len(column) + 1]
    raw = np.frombuffer(data, np.uint8)
    return [raw[offsets[r] : offsets[r + 1]].view(dtype) for r in range(len(column))]


def make_summer(vocab_size: int, shards: int):  # type: ignore[no-untyped-def]
    """The reduce side: a task's partial counts (one bucket's, from every
    counting task) summed per (i, j) into the table's (shard, i, j, x) rows."""

    def sum_bucket(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        keys: list[np.ndarray] = []
        vals: list[np.ndarray] = []
        for batch in batches:
            keys += _values(batch.column("keys"), np.int64)
            vals += _values(batch.column("vals"), np.float64)
        if not keys:
            return
        # Keys are global (i * V + j): a task given several buckets still sums
        # exactly, it only holds more.
        all_keys, all_vals = np.concatenate(keys), np.concatenate(vals)
        del keys, vals
        i, j, x = sum_partial_counts(all_keys, all_vals, vocab_size)
        del all_keys, all_vals
        shard = (i % shards).astype(np.int32)
        for a in range(0, len(i), ROW_ENTRIES):
            b = a + ROW_ENTRIES
            yield pa.RecordBatch.from_arrays(
                [pa.array(shard[a:b]), pa.array(i[a:b]), pa.array(j[a:b]), pa.array(x[a:b])], schema=TRIPLES_ARROW
            )

    return sum_bucket


def sum_partials(partial: DataFrame, buckets: int, vocab_size: int, shards: int) -> DataFrame:
    """The :data:`PARTIAL` rows summed per (i, j), as the table's rows:
    bucket ``b`` summed by task ``b`` alone, in one shuffle of bytes."""
    routed = partial.repartition(buckets, "route").select("keys", "vals")
    return routed.mapInArrow(make_summer(vocab_size, shards), TRIPLES)


def count_matrix(
    spark: SparkSession, corpus: DataFrame, vocab_size: int, tokens: int, cfg: PipelineConfig
) -> DataFrame:
    """The co-occurrence matrix of ``corpus`` as the table's rows.

    Each task counts its pieces within ``cooccur.memory_mb`` and sends each
    bucket's partial counts as two primitive arrays to the bucket's task
    (one shuffle of bytes, not of rows); that task sums them with one radix
    sort and emits the rows. Nothing runs until the rows are written, once.
    """
    c = cfg.cooccur
    memory_bytes = c.memory_mb * 1024 * 1024
    buckets = sum_buckets(c.shards, cfg.spark.partitions, tokens, c.window, memory_bytes)
    count = make_counter(vocab_size, c.window, c.weighting == "harmonic", memory_bytes, route_keys(spark, buckets))
    partial = corpus.repartition(cfg.spark.partitions).mapInArrow(count, PARTIAL)
    return sum_partials(partial, buckets, vocab_size, c.shards)


def run(spark: SparkSession, cfg: PipelineConfig) -> StageResult:
    """Co-occurrence stage: write ``cooccurrence``; its nnz and total weight go to the run's stats."""
    t0 = time.perf_counter()
    root = cfg.output.path
    # The corpus's ids must index the vocab being counted against.
    vocab_version = tables.vocab_version_of(spark, root, "corpus")
    counts = tables.read_vocab_counts(spark, root, version=vocab_version)
    vocab_size, tokens = len(counts), int(counts.sum())  # the corpus holds exactly the vocab's tokens
    corpus = tables.read(spark, root, "corpus")
    run_id = new_run_id()
    # The statistics are observed while the rows are written: the matrix is
    # counted once and written once, so they cannot be in the commit's
    # metadata; they go to the run's record (StageResult.stats).
    observed = Observation("cooccur")
    rows = count_matrix(spark, corpus, vocab_size, tokens, cfg).observe(
        observed, F.count(F.lit(1)).alias("nnz"), F.sum("x").alias("total_weight")
    )
    meta = {
        "stage": "cooccur",
        "run_id": run_id,
        "config": cfg.to_dict(),
        "stats": {"memory_mb_per_task": cfg.cooccur.memory_mb, "vocab_size": vocab_size, "tokens": tokens},
        "vocab_version": vocab_version,
    }
    tables.write(rows, root, "cooccurrence", metadata=meta, partition_by=["shard"])
    got = observed.get
    nnz = int(got["nnz"])
    stats: dict[str, Any] = {
        "seconds": round(time.perf_counter() - t0, 2),
        "nnz": nnz,
        "total_weight": float(got["total_weight"] or 0.0),
        "memory_mb_per_task": cfg.cooccur.memory_mb,
        "vocab_size": vocab_size,
        "window": cfg.cooccur.window,
        "weighting": cfg.cooccur.weighting,
    }
    seconds = time.perf_counter() - t0
    log.info(
        "cooccur: %d non-zero entries, total weight %.1f, window %d, %d shards (%.1f s)",
        stats["nnz"],
        stats["total_weight"],
        cfg.cooccur.window,
        cfg.cooccur.shards,
        seconds,
    )
    if nnz == 0:
        # Written all the same, so that the stage's table matches its input;
        # GloVe refuses it before training.
        log.warning(
            "cooccur: no two words share a window of %d, so GloVe has nothing to train on; "
            "use a larger corpus or a wider cooccur.window",
            cfg.cooccur.window,
        )
    return StageResult("cooccur", run_id, seconds, rows=nnz, work=nnz, unit="entries", stats=stats)
