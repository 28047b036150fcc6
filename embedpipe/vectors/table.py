"""The ``vectors`` table: write a trained model, read one back.

One Delta table holds every model (``glove``, ``sgns``), partitioned by model;
training one model replaces only its own rows (``replaceWhere``) in one
atomic commit, and Delta's history keeps the earlier runs. Each commit's
metadata describes the vectors: format version, model, run id, dim, vocab
size, effective config, corpus fingerprint and code version. Readers check it.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from embedpipe import __version__, tables

log = logging.getLogger(__name__)

MODELS = ("glove", "sgns")
# Commits retried when another trainer created the vectors table at the same moment.
_CREATE_RETRIES = 3


@dataclass
class Vectors:
    """A model's vectors in frequency order (row k is words[k]).

    A subset (``read_vectors(..., top=, words=)``) keeps that order: its rows
    are the table rows ``ids``, ascending, so the first ``top`` rows are the
    ``top`` most frequent words and word lookups pick the same row as on
    the whole table.
    """

    model: str
    run_id: str
    words: list[str]
    counts: np.ndarray
    matrix: np.ndarray  # float32 (rows, dim)
    metadata: dict[str, Any]
    ids: np.ndarray | None = None  # the rows' ids in the table; None: all of them, 0..V-1

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])


def write_vectors(
    spark: SparkSession,
    root: str,
    *,
    model: str,
    run_id: str,
    words: list[str],
    counts: np.ndarray,
    matrix: np.ndarray,
    metadata: dict[str, Any],
) -> None:
    """Replace ``model``'s rows of the vectors table in one commit."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    n, dim = matrix.shape
    if n != len(words) or n != len(counts):
        raise ValueError(f"{n} vectors for {len(words)} words and {len(counts)} counts")
    flat = np.ascontiguousarray(matrix, dtype=np.float32).reshape(-1)
    offsets = np.arange(0, n * dim + 1, dim, dtype=np.int32)
    table = pa.table(
        {
            "model": pa.array([model] * n, pa.string()),
            "run_id": pa.array([run_id] * n, pa.string()),
            "word": pa.array(words, pa.string()),
            "id": pa.array(np.arange(n, dtype=np.int32)),
            "vector": pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat, pa.float32())),
            "count": pa.array(np.asarray(counts, dtype=np.int64)),
        }
    )
    write_vector_rows(
        spark, root, spark.createDataFrame(table), model=model, run_id=run_id, dim=dim, vocab_size=n, metadata=metadata
    )


def write_vector_rows(
    spark: SparkSession,
    root: str,
    df: Any,
    *,
    model: str,
    run_id: str,
    dim: int,
    vocab_size: int,
    metadata: dict[str, Any],
) -> None:
    """Replace ``model``'s rows of the vectors table with ``df`` (the table's
    columns) in one commit; ``df`` may be made on the executors."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    meta = {
        "stage": model,
        "model": model,
        "run_id": run_id,
        "dim": int(dim),
        "vocab_size": int(vocab_size),
        "code_version": __version__,
        **metadata,
    }
    # Always replaceWhere, even for a new table: glove and sgns may run side by
    # side (Airflow, Databricks), and a plain overwrite that lands right after
    # the other trainer created the table would drop that model's rows.
    # Commits to disjoint model partitions do not conflict; only two writers
    # creating the table at once do, and the loser retries against the table
    # the winner created.
    for attempt in range(_CREATE_RETRIES + 1):
        try:
            tables.write(df, root, "vectors", metadata=meta, replace_where=f"model = '{model}'", partition_by=["model"])
            return
        except Exception as exc:  # noqa: BLE001 - py4j wraps Delta's exceptions
            if attempt == _CREATE_RETRIES or not _is_concurrent_create(exc):
                raise
            log.info("vectors: another writer created the table at the same time; retrying the %s commit", model)


def _is_concurrent_create(exc: BaseException) -> bool:
    text = f"{type(exc).__name__}: {exc}"
    return any(
        key in text
        for key in ("ProtocolChangedException", "MetadataChangedException", "ConcurrentWriteException",
                    "FileAlreadyExistsException", "DELTA_PROTOCOL_CHANGED", "DELTA_METADATA_CHANGED")
    )  # fmt: skip


def available_models(spark: SparkSession, root: str) -> list[str]:
    df = tables.read(spark, root, "vectors")
    return sorted(r["model"] for r in df.select("model").distinct().collect())


def read_vectors(
    spark: SparkSession, root: str, model: str, *, top: int | None = None, words: Collection[str] | None = None
) -> Vectors:
    """Load one model's vectors to the driver, in frequency order, checking metadata.

    With ``top`` or ``words``, load only the ``top`` most frequent rows and
    the rows whose lower-cased word is in ``words`` (the evaluation's needs):
    the driver then holds that subset, whatever the vocabulary's size.
    """
    df = tables.read(spark, root, "vectors").filter(F.col("model") == model)
    subset = top is not None or words is not None
    if subset:
        wanted = F.col("id") < F.lit(int(top or 0))
        if words:
            wanted = wanted | F.lower(F.col("word")).isin(sorted({w.lower() for w in words}))
        df = df.filter(wanted)
    t = df.orderBy("id").toArrow()
    if t.num_rows == 0:
        present = available_models(spark, root)
        raise tables.TableError(
            f"no vectors for model {model!r} under {root}; models present: {present or 'none'} "
            f"(run the {model} stage first)"
        )
    run_ids = set(t.column("run_id").to_pylist())
    if len(run_ids) != 1:
        raise tables.TableError(f"vectors of {model!r} mix runs {sorted(run_ids)}; re-run the {model} stage")
    run_id = run_ids.pop()
    meta = tables.latest_metadata(spark, root, "vectors", model=model, run_id=run_id) or {}
    vec = t.column("vector").combine_chunks()
    dim = len(vec[0].values) if t.num_rows else 0
    matrix = vec.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(t.num_rows, dim)
    ids = t.column("id").to_numpy()
    if subset:
        if len(ids) > 1 and not np.all(ids[1:] > ids[:-1]):
            raise tables.TableError(f"vectors of {model!r} repeat ids; re-run the {model} stage")
    elif not np.array_equal(ids, np.arange(t.num_rows)):
        raise tables.TableError(f"vectors of {model!r} have ids that are not 0..{t.num_rows - 1}")
    if meta:
        if meta.get("format_version") != tables.FORMAT_VERSION:
            raise tables.TableError(
                f"vectors of {model!r} have format version {meta.get('format_version')}, "
                f"this embedpipe reads {tables.FORMAT_VERSION}; re-run the {model} stage"
            )
        size_differs = (ids[-1] >= meta.get("vocab_size", 0)) if subset else meta.get("vocab_size") != t.num_rows
        if meta.get("dim") != dim or size_differs:
            raise tables.TableError(
                f"vectors of {model!r} do not match their metadata (dim {dim} vs {meta.get('dim')}, "
                f"{t.num_rows} words vs {meta.get('vocab_size')}); re-run the {model} stage"
            )
    return Vectors(
        model=model,
        run_id=run_id,
        words=t.column("word").to_pylist(),
        counts=t.column("count").to_numpy(),
        matrix=matrix,
        metadata=meta,
        ids=ids.astype(np.int64) if subset else None,
    )
