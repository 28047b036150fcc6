"""The neighbors stage: every word's ``k`` nearest words, written to the ``neighbors`` table.

``embedpipe neighbors-table CONF`` (or ``neighbors`` in ``stages``) scores
all pairs of words of ``neighbors.model`` by cosine, exactly, for
vocabularies that fit no driver. Nothing of the model goes through the
driver, which reads one row of the table to learn its dimension:

1. the model's unit rows are packed on the executors into blocks of
   ``neighbors.block_rows`` consecutive ids (about 8 MB each by default),
   kept on the executors' disks;
2. a cartesian product of the blocks with themselves (a shuffle-free
   nested loop, never a broadcast) hands each task pairs of blocks ``(i, j)``
   with ``i <= j``; one matrix product of the two serves both directions,
   and the task keeps, for every row of either block, its ``k`` best
   candidates of the other (:func:`embedpipe.kernels.topk.block_pair_lists`);
3. these partial lists are shuffled by block and merged in id order into
   each word's final list, a block at a time;
4. the words of both ends are joined back, and the table is written in one
   commit that replaces only this model's rows.

A task holds two blocks and their lists; a merge task one block's lists.
The answers are :meth:`embedpipe.Vectors.neighbors` with ``exact=True``:
cosine over float32 unit rows, the word itself excluded, ties to the lower
(more frequent) id.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator

import numpy as np
import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from embedpipe import tables
from embedpipe.config import PipelineConfig
from embedpipe.distributed import default_parallelism, session_conf
from embedpipe.kernels.similarity import normalize_rows
from embedpipe.kernels.topk import block_pair_lists, empty_lists, merge_lists
from embedpipe.stage import StageResult
from embedpipe.vectors.table import read_vectors

__all__ = ["auto_block_rows", "run"]

log = logging.getLogger(__name__)

#: Bytes of one block's float32 rows when ``neighbors.block_rows`` is 0. Large
#: values in a row cost the JVM several copies (bench/results/2026-12-03-driver-memory).
BLOCK_BYTES = 8 << 20
#: Blocks one partition of the cartesian product's right side holds in the
#: task's buffer at most (Spark keeps up to 4096 rows of it in memory).
_BLOCKS_PER_PARTITION = 32

_BLOCKS_DDL = "block int, ids binary, vals binary"
_PARTIAL_DDL = "block int, ids binary, nbr binary, sims binary"
_LISTS_DDL = "id int, rank int, neighbor_id int, similarity float"


def auto_block_rows(dim: int) -> int:
    """Rows per block whose float32 values take about :data:`BLOCK_BYTES`."""
    return max(1, BLOCK_BYTES // (4 * max(1, dim)))


def _pack(dim: int) -> Callable[[pa.Table], pa.Table]:
    """applyInArrow over one block's rows: its ids (ascending) and unit rows as raw bytes."""

    def pack(group: pa.Table) -> pa.Table:
        order = np.argsort(group.column("id").to_numpy(), kind="stable")
        ids = group.column("id").to_numpy()[order].astype(np.int32)
        flat = group.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        unit = normalize_rows(flat.reshape(group.num_rows, dim)[order])
        block = int(group.column("block")[0].as_py())
        return pa.table(
            {
                "block": pa.array([block], pa.int32()),
                "ids": pa.array([ids.tobytes()], pa.binary()),
                "vals": pa.array([unit.tobytes()], pa.binary()),
            }
        )

    return pack


def _pairs(dim: int, k: int) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """mapInArrow over block pairs ``(i, j)``, ``i <= j``: the partial lists of block i's
    rows over block j, and of j's rows over i when ``i < j``."""

    def task(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for r in range(batch.num_rows):
                q_ids = np.frombuffer(batch.column("q_ids")[r].as_py(), dtype=np.int32)
                c_ids = np.frombuffer(batch.column("c_ids")[r].as_py(), dtype=np.int32)
                q_unit = np.frombuffer(batch.column("q_vals")[r].as_py(), dtype=np.float32).reshape(-1, dim)
                c_unit = np.frombuffer(batch.column("c_vals")[r].as_py(), dtype=np.float32).reshape(-1, dim)
                qb, cb = batch.column("q_block")[r].as_py(), batch.column("c_block")[r].as_py()
                (qi, qs), c_lists = block_pair_lists(q_ids, q_unit, c_ids, c_unit, k, both=qb != cb)
                out = [(qb, q_ids, qi, qs)]
                if c_lists is not None:
                    out.append((cb, c_ids, *c_lists))
                for block, ids, nbr, sims in out:
                    yield pa.RecordBatch.from_arrays(
                        [pa.array([block], pa.int32()), pa.array([ids.tobytes()], pa.binary()),
                         pa.array([nbr.tobytes()], pa.binary()), pa.array([sims.tobytes()], pa.binary())],
                        names=["block", "ids", "nbr", "sims"],
                    )  # fmt: skip

    return task


def _merge(k: int) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """mapInArrow over partial lists sorted by block: each block's final lists as
    ``id, rank, neighbor_id, similarity`` rows."""

    def emit(ids: np.ndarray, nbr: np.ndarray, sims: np.ndarray) -> pa.RecordBatch:
        keep = nbr.reshape(-1) >= 0  # fewer than k other words: empty slots
        return pa.RecordBatch.from_arrays(
            [pa.array(np.repeat(ids, k)[keep]), pa.array(np.tile(np.arange(1, k + 1, dtype=np.int32), len(ids))[keep]),
             pa.array(nbr.reshape(-1)[keep]), pa.array(sims.reshape(-1)[keep])],
            names=["id", "rank", "neighbor_id", "similarity"],
        )  # fmt: skip

    def task(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        current: int | None = None
        ids = np.empty(0, dtype=np.int32)
        lists = empty_lists(0, k)
        for batch in batches:
            for r in range(batch.num_rows):
                block = batch.column("block")[r].as_py()
                if block != current:
                    if current is not None:
                        yield emit(ids, *lists)
                    current = block
                    ids = np.frombuffer(batch.column("ids")[r].as_py(), dtype=np.int32)
                    lists = empty_lists(len(ids), k)
                nbr = np.frombuffer(batch.column("nbr")[r].as_py(), dtype=np.int32).reshape(-1, k)
                sims = np.frombuffer(batch.column("sims")[r].as_py(), dtype=np.float32).reshape(-1, k)
                merge_lists(*lists, nbr, sims)
        if current is not None:
            yield emit(ids, *lists)

    return task


def _plan(
    spark: SparkSession, vectors: DataFrame, *, vocab: int, dim: int, k: int, block_rows: int
) -> tuple[DataFrame, DataFrame]:
    """(the packed blocks, persisted on the executors' disks; the lists, lazily)."""
    n_blocks = -(-vocab // block_rows)
    slots = default_parallelism(spark)
    # Enough partitions that the product has a few tasks per core, and that no
    # task buffers more than _BLOCKS_PER_PARTITION blocks of the right side.
    parts = max(1, min(n_blocks, max(math.ceil(math.sqrt(4 * slots)), math.ceil(n_blocks / _BLOCKS_PER_PARTITION))))
    blocks = (
        vectors.withColumn("block", (F.col("id") / F.lit(block_rows)).cast("int"))
        .repartition(parts, "block")  # the grouping reuses this partitioning: one shuffle
        .groupBy("block")
        .applyInArrow(_pack(dim), _BLOCKS_DDL)
        .persist(StorageLevel.DISK_ONLY)
    )
    blocks.count()
    q = blocks.select(F.col("block").alias("q_block"), F.col("ids").alias("q_ids"), F.col("vals").alias("q_vals"))
    c = blocks.select(F.col("block").alias("c_block"), F.col("ids").alias("c_ids"), F.col("vals").alias("c_vals"))
    # A nested loop over the two sides' partitions: never a broadcast, which would go through the driver.
    pairs = q.hint("shuffle_replicate_nl").join(c, F.col("q_block") <= F.col("c_block"))
    merged = (
        pairs.mapInArrow(_pairs(dim, k), _PARTIAL_DDL)
        .repartition(max(1, min(n_blocks, 2 * slots)), "block")
        .sortWithinPartitions("block")
        .mapInArrow(_merge(k), _LISTS_DDL)
    )
    return blocks, merged


def run(spark: SparkSession, cfg: PipelineConfig) -> StageResult:
    """Neighbors stage: write ``neighbors.model``'s ``neighbors.k`` nearest words of every word."""
    t0 = time.perf_counter()
    nc = cfg.neighbors
    root = cfg.output.path
    head = read_vectors(spark, root, nc.model, top=1)  # checks the table and its metadata; one row
    version = head.metadata.get("table_version")
    vectors = tables.read(spark, root, "vectors", version=version).filter(F.col("model") == nc.model)
    vocab = int(head.metadata.get("vocab_size") or vectors.count())
    block_rows = nc.block_rows or auto_block_rows(head.dim)
    log.info(
        "neighbors: %d words of %s (dim %d), k=%d, blocks of %d rows (%d blocks)",
        vocab, nc.model, head.dim, nc.k, block_rows, -(-vocab // block_rows),
    )  # fmt: skip
    packed, lists = _plan(
        spark, vectors.select("id", "vector"), vocab=vocab, dim=head.dim, k=nc.k, block_rows=block_rows
    )
    try:
        words = vectors.select("id", "word")
        out = (
            lists.join(words, "id")
            .join(words.select(F.col("id").alias("neighbor_id"), F.col("word").alias("neighbor")), "neighbor_id")
            .select(
                F.lit(nc.model).alias("model"), F.lit(head.run_id).alias("run_id"), "word", "id", "rank",
                "neighbor", "neighbor_id", "similarity",
            )
        )  # fmt: skip
        meta = {
            "stage": "neighbors",
            "model": nc.model,
            "run_id": head.run_id,
            "k": nc.k,
            "vocab_size": vocab,
            "vectors_version": version,
            "block_rows": block_rows,
            "config": cfg.to_dict(),
        }
        # One pair of blocks (two values of up to BLOCK_BYTES) per Arrow batch into Python.
        with session_conf(spark, "spark.sql.execution.arrow.maxRecordsPerBatch", "1"):
            tables.write(out, root, "neighbors", metadata=meta, replace_where=f"model = '{nc.model}'",
                         partition_by=["model"])  # fmt: skip
    finally:
        packed.unpersist()
    seconds = time.perf_counter() - t0
    rows = vocab * min(nc.k, vocab - 1)
    log.info("neighbors: %d rows of %s written in %.1f s", rows, nc.model, seconds)
    return StageResult("neighbors", head.run_id, seconds, rows=rows, work=vocab, unit="words",
                       stats={"k": nc.k, "block_rows": block_rows, "vectors_run_id": head.run_id})  # fmt: skip
