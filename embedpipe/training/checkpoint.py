"""Epoch-end checkpoints of a trainer's model, as a table under ``output.path``.

A checkpoint is the model in blocks (``tables.BLOCKS``: side, block, ids,
vals) written as the Delta table ``<output.path>/_checkpoints/<model>``,
through Spark like every other table, so it works on any filesystem Spark
writes: local disk, HDFS, S3, ADLS, DBFS. The blocks and the epoch they
finished (with the fingerprint of config and inputs, and the losses so far)
are one commit, so a run killed at any moment leaves a consistent
checkpoint. ``--resume`` loads it only when the fingerprint matches.

Under rotation the executors write their blocks; under averaging the driver
writes the model it holds, one block per parameter group and chunk.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession

from embedpipe import tables

log = logging.getLogger(__name__)

# Rows per block row when the driver writes an averaging model.
_ROWS_PER_CHUNK = 65536


def save_blocks(blocks: DataFrame, output_path: str, model: str, info: dict[str, Any]) -> DataFrame:
    """Write ``blocks`` as the model's checkpoint in one Delta commit that also
    records ``info`` (epoch, fingerprint, losses); the blocks, read back.

    A run killed during the write leaves the previous commit, blocks and
    epoch together, as the checkpoint: they are one commit, never two files.
    Once it is committed, the earlier epochs' files are deleted: only the
    newest checkpoint is ever resumed from.
    """
    name = tables.CHECKPOINTS[model]
    spark = blocks.sparkSession
    tables.write(blocks, output_path, name, metadata={"stage": model, **info})
    dropped = tables.drop_superseded_files(spark, output_path, name)
    log.debug("%s: checkpoint written, %d superseded files deleted", model, dropped)
    return tables.read(spark, output_path, name)


def load_blocks(
    spark: SparkSession, output_path: str, model: str, fingerprint: str
) -> tuple[DataFrame, dict[str, Any]] | None:
    """The checkpoint's blocks and info if it was made with ``fingerprint``, else None."""
    name = tables.CHECKPOINTS[model]
    if not tables.exists(spark, tables.table_path(output_path, name)):
        return None
    info = tables.head_metadata(spark, output_path, name) or {}
    if info.get("fingerprint") != fingerprint:
        log.warning("%s: the checkpoint under %s was made with another config or input; starting from scratch",
                    model, output_path)  # fmt: skip
        return None
    return tables.read(spark, output_path, name), info


def describe_blocks(spark: SparkSession, output_path: str, model: str, fingerprint: str) -> str:
    """Where this run's last good checkpoint is, for an error message."""
    name = tables.CHECKPOINTS[model]
    info = (
        tables.head_metadata(spark, output_path, name)
        if tables.exists(spark, tables.table_path(output_path, name))
        else None
    )
    if not info or info.get("fingerprint") != fingerprint:
        return "This run wrote no checkpoint yet."
    epoch = int(info.get("epoch", -1))
    return f"The last good checkpoint (after epoch {epoch + 1}) is kept in {tables.table_path(output_path, name)}."


def blocks_of_arrays(spark: SparkSession, state: dict[str, np.ndarray], groups: Sequence[tuple[str, ...]]) -> DataFrame:
    """A driver-held model as block rows: side = group index, one block per chunk of rows."""

    def rows() -> Iterator[tuple[int, int, bytes, bytes]]:
        for side, names in enumerate(groups):
            n = state[names[0]].shape[0]
            for block, start in enumerate(range(0, max(n, 1), _ROWS_PER_CHUNK)):
                end = min(start + _ROWS_PER_CHUNK, n)
                cols = [state[k][start:end].reshape(end - start, -1).astype(np.float32) for k in names]
                yield (side, block, np.arange(start, end, dtype=np.int32).tobytes(),
                       np.ascontiguousarray(np.hstack(cols)).tobytes())  # fmt: skip

    got = list(rows())
    cols = list(zip(*got, strict=True))
    table = pa.table(
        [pa.array(cols[0], pa.int32()), pa.array(cols[1], pa.int32()), pa.array(cols[2], pa.binary()),
         pa.array(cols[3], pa.binary())],
        names=["side", "block", "ids", "vals"],
    )  # fmt: skip
    return spark.createDataFrame(table, schema=tables.BLOCKS)


def arrays_of_blocks(
    blocks: DataFrame, like: dict[str, np.ndarray], groups: Sequence[tuple[str, ...]]
) -> dict[str, np.ndarray]:
    """The inverse of :func:`blocks_of_arrays`, into arrays shaped as ``like``."""
    t = blocks.toArrow()
    out = {k: np.empty_like(v) for k, v in like.items()}
    for side, ids_b, vals_b in zip(
        t.column("side").to_pylist(), t.column("ids").to_pylist(), t.column("vals").to_pylist(), strict=True
    ):
        names = groups[side]
        ids = np.frombuffer(ids_b, np.int32)
        widths = [int(np.prod(like[k].shape[1:], dtype=np.int64)) for k in names]
        vals = np.frombuffer(vals_b, np.float32).reshape(len(ids), sum(widths))
        at = 0
        for k, w in zip(names, widths, strict=True):
            out[k][ids] = vals[:, at : at + w].reshape((len(ids), *like[k].shape[1:]))
            at += w
    return out
