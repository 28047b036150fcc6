"""The ``vectors`` table: write a trained model, read one back.

One Delta table holds every model (``glove``, ``sgns``, and those ``embedpipe
import`` adds under their own names), partitioned by model;
training one model replaces only its own rows (``replaceWhere``) in one
atomic commit, and Delta's history keeps the earlier runs. Each commit's
metadata describes the vectors: format version, model, run id, dim, vocab
size, effective config, corpus fingerprint and code version. Readers check it.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from embedpipe import __version__, tables
from embedpipe.config import TRAINED_MODELS, model_name_problem
from embedpipe.vectors.keyed import Vectors, vectors_from_rows

log = logging.getLogger(__name__)

MODELS = TRAINED_MODELS  # what the trainers write; `embedpipe import` adds models of other names
# Commits retried when another trainer created the vectors table at the same moment.
_CREATE_RETRIES = 3


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
    _check_model(model)
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
    _check_model(model)
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


def _check_model(model: str) -> None:
    problem = model_name_problem(model)
    if problem is not None:
        raise ValueError(problem)


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
    run_id = t.column("run_id")[0].as_py()
    meta = tables.latest_metadata(spark, root, "vectors", model=model, run_id=run_id) or {}
    return vectors_from_rows(t, model, meta, subset=subset)
