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
per call, come on top). Partitions emit pre-aggregated (i, j, x) triples; one
shuffle, hashed by row ``i`` so that its tasks are even, sums them (see
:func:`sum_triples`). Nothing is collected to the driver.

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
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from embedpipe import tables
from embedpipe.batches import coalesce_batches
from embedpipe.config import PipelineConfig
from embedpipe.kernels.cooccur import iter_cooccurrence_triples
from embedpipe.stage import StageResult, new_run_id

log = logging.getLogger(__name__)

TRIPLES_ARROW = pa.schema([("shard", pa.int32()), ("i", pa.int32()), ("j", pa.int32()), ("x", pa.float64())])


def flatten_ids(ids_column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A list<int32> Arrow column as (flat int32 ids, int64 offsets from 0)."""
    offsets = ids_column.offsets.to_numpy().astype(np.int64)
    flat = pc.list_flatten(ids_column).to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
    return flat, offsets - offsets[0]


# The kernel counts at least this much of the corpus (int32 ids) per call.
COUNT_BATCH_BYTES = 64 << 20


def make_counter(vocab_size: int, window: int, harmonic: bool, memory_bytes: int, shards: int):  # type: ignore[no-untyped-def]
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
                shard = (i % shards).astype(np.int32)
                yield pa.RecordBatch.from_arrays(
                    [pa.array(shard), pa.array(i), pa.array(j), pa.array(x)], schema=TRIPLES_ARROW
                )

    return count


def sum_triples(partial: DataFrame, shards: int) -> DataFrame:
    """Sum the partitions' pre-aggregated triples per (i, j) in one shuffle.

    The shuffle hashes the row id ``i``, not the shard: Spark's hash of a
    handful of small shard numbers collides (4 shards into 4 tasks put 3 of
    them in one task and left 2 tasks empty), so one task aggregated most
    of the matrix alone. Hashing ``i`` spreads the entries evenly over
    ``shards`` tasks; each task then writes a file into every shard's folder.
    The stage is faster for it, the more so with few shards
    (bench/results/2026-11-28-cooccur/).
    """
    return partial.repartition(shards, "i").groupBy("shard", "i", "j").agg(F.sum("x").alias("x"))


def run(spark: SparkSession, cfg: PipelineConfig) -> StageResult:
    """Co-occurrence stage: write ``cooccurrence`` with nnz and total weight in its metadata."""
    t0 = time.perf_counter()
    root = cfg.output.path
    # The corpus's ids must index the vocab being counted against.
    vocab_version = tables.vocab_version_of(spark, root, "corpus")
    vocab_size = tables.read(spark, root, "vocab", version=vocab_version).count()
    corpus = tables.read(spark, root, "corpus")
    shards = cfg.cooccur.shards
    memory_bytes = cfg.cooccur.memory_mb * 1024 * 1024
    fn = make_counter(vocab_size, cfg.cooccur.window, cfg.cooccur.weighting == "harmonic", memory_bytes, shards)
    partial = corpus.repartition(cfg.spark.partitions).mapInArrow(fn, "shard int, i int, j int, x double")
    summed = sum_triples(partial, shards)
    run_id = new_run_id()
    staged = summed.persist()
    try:
        agg = staged.agg(F.count(F.lit(1)).alias("nnz"), F.sum("x").alias("total")).first()
        assert agg is not None  # a global aggregate always has one row
        nnz = int(agg["nnz"])
        stats: dict[str, Any] = {
            "nnz": nnz,
            "total_weight": float(agg["total"] or 0.0),
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
        tables.write(staged, root, "cooccurrence", metadata=meta, partition_by=["shard"])
    finally:
        staged.unpersist()
    seconds = time.perf_counter() - t0
    log.info(
        "cooccur: %d non-zero entries, total weight %.1f, window %d, %d shards (%.1f s)",
        stats["nnz"],
        stats["total_weight"],
        cfg.cooccur.window,
        shards,
        seconds,
    )
    return StageResult("cooccur", run_id, seconds, rows=nnz, work=nnz, unit="entries", stats=stats)
