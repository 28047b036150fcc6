"""Export vectors to the formats the ecosystem reads, and query them.

``embedpipe export CONF --model M --format word2vec|word2vec-binary|glove --out PATH``
writes one model's vectors in frequency order:

* ``word2vec``: text with a ``V dim`` header; ``gensim.models.KeyedVectors.
  load_word2vec_format(PATH)`` loads it with identical float32 values.
* ``word2vec-binary``: the same with ``binary=True``.
* ``glove``: GloVe's text format (no header), as ``glove.c`` writes it.

``embedpipe neighbors`` and ``embedpipe analogy`` are answered by :mod:`.lookup`.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Iterator

import numpy as np
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from embedpipe import distributed, paths, tables
from embedpipe.config import PipelineConfig
from embedpipe.kernels.similarity import normalize_rows
from embedpipe.stage import StageResult
from embedpipe.vectors.formats import VectorFileWriter
from embedpipe.vectors.table import read_vectors

log = logging.getLogger(__name__)

# Format -> file extension.
EXTENSIONS = {"word2vec": "txt", "word2vec-binary": "bin", "glove": "glove.txt"}
# Rows handed to the file writer at a time (a few MB at dim 300); Spark sends a partition at a time.
_ROWS_PER_FETCH = 8192


def default_out(cfg: PipelineConfig, model: str, fmt: str) -> str:
    return paths.join(cfg.output.path, "export", f"{model}.{EXTENSIONS[fmt]}")


def run(
    spark: SparkSession,
    cfg: PipelineConfig,
    *,
    model: str | None = None,
    fmt: str | None = None,
    out: str | None = None,
    normalize: bool = False,
) -> StageResult:
    """Export stage: write one model's vectors to a file.

    The rows stream from the executors in frequency order, a partition at a
    time, so the driver never holds the model. A local ``out`` is written
    under a temporary name and renamed; a URI (``s3a://``, ``hdfs://`` ...)
    is written to local scratch first and published through Hadoop.
    ``normalize`` writes unit-length vectors (zero vectors stay zero).
    """
    t0 = time.perf_counter()
    model = model or cfg.export.model
    fmt = fmt or cfg.export.format
    if fmt not in EXTENSIONS:
        raise ValueError(f"export format must be one of {sorted(EXTENSIONS)}, got {fmt!r}")
    path = out or cfg.export.out or default_out(cfg, model, fmt)
    head = read_vectors(spark, cfg.output.path, model, top=1)  # checks the table and its metadata
    rows = int(head.metadata.get("vocab_size") or _count(spark, cfg.output.path, model))
    local = paths.local_path(path)
    folder = os.path.dirname(os.path.abspath(local)) if local is not None else None
    if folder is not None:
        os.makedirs(folder, exist_ok=True)
    with tempfile.NamedTemporaryFile("wb", dir=folder, prefix=".export-", delete=False) as fh:
        try:
            writer = VectorFileWriter(fh, fmt, rows, head.dim)
            for words, matrix in _stream(spark, cfg.output.path, model, head.dim):
                writer.write(words, normalize_rows(matrix) if normalize else matrix)
            writer.close()
        except BaseException:
            os.unlink(fh.name)
            raise
    if local is not None:
        os.replace(fh.name, local)  # a reader never sees a half-written file
    else:
        try:
            distributed.publish_file(spark, fh.name, path)
        finally:
            os.unlink(fh.name)
    seconds = time.perf_counter() - t0
    log.info("export: %d %s vectors (dim %d) written to %s as %s", rows, model, head.dim, path, fmt)
    stats = {"path": path, "format": fmt, "normalized": normalize}
    return StageResult("export", head.run_id, seconds, rows=rows, stats=stats)


def _count(spark: SparkSession, root: str, model: str) -> int:
    return int(tables.read(spark, root, "vectors").filter(F.col("model") == model).count())


def _stream(spark: SparkSession, root: str, model: str, dim: int) -> Iterator[tuple[list[str], np.ndarray]]:
    """(words, vectors) chunks in id order, fetched a partition at a time."""
    df = tables.read(spark, root, "vectors").filter(F.col("model") == model).select("id", "word", "vector")
    words: list[str] = []
    values: list[list[float]] = []
    expected = 0
    for row in df.orderBy("id").toLocalIterator(prefetchPartitions=True):
        if row["id"] != expected:
            raise tables.TableError(f"vectors of {model!r} skip or repeat id {expected}; re-run the {model} stage")
        expected += 1
        words.append(row["word"])
        values.append(row["vector"])
        if len(words) == _ROWS_PER_FETCH:
            yield words, np.asarray(values, dtype=np.float32).reshape(len(words), dim)
            words, values = [], []
    if words:
        yield words, np.asarray(values, dtype=np.float32).reshape(len(words), dim)
