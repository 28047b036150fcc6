"""Export vectors to the formats the ecosystem reads, and query them.

``embedpipe export CONF --model M --format word2vec|word2vec-binary|glove --out PATH``
writes one model's vectors in frequency order:

* ``word2vec``: text with a ``V dim`` header; ``gensim.models.KeyedVectors.
  load_word2vec_format(PATH)`` loads it with identical float32 values.
* ``word2vec-binary``: the same with ``binary=True``.
* ``glove``: GloVe's text format (no header), as ``glove.c`` writes it.

``embedpipe neighbors`` and ``embedpipe analogy`` answer queries from the
``vectors`` table.
"""

from __future__ import annotations

import logging
import os
import time

from pyspark.sql import SparkSession

from embedpipe import paths
from embedpipe.config import PipelineConfig
from embedpipe.stage import StageResult
from embedpipe.vectors import read_vectors
from embedpipe.vectors.formats import write_glove_text, write_word2vec_binary, write_word2vec_text
from embedpipe.vectors.queries import analogy, neighbors

log = logging.getLogger(__name__)

WRITERS = {
    "word2vec": (write_word2vec_text, "txt"),
    "word2vec-binary": (write_word2vec_binary, "bin"),
    "glove": (write_glove_text, "glove.txt"),
}


def default_out(cfg: PipelineConfig, model: str, fmt: str) -> str:
    return paths.join(cfg.output.path, "export", f"{model}.{WRITERS[fmt][1]}")


def run(
    spark: SparkSession,
    cfg: PipelineConfig,
    *,
    model: str | None = None,
    fmt: str | None = None,
    out: str | None = None,
) -> StageResult:
    """Export stage: write one model's vectors to a file."""
    t0 = time.perf_counter()
    model = model or cfg.export.model
    fmt = fmt or cfg.export.format
    if fmt not in WRITERS:
        raise ValueError(f"export format must be one of {sorted(WRITERS)}, got {fmt!r}")
    path = out or cfg.export.out or default_out(cfg, model, fmt)
    vec = read_vectors(spark, cfg.output.path, model)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    WRITERS[fmt][0](tmp, vec.words, vec.matrix)
    os.replace(tmp, path)  # a reader never sees a half-written file
    seconds = time.perf_counter() - t0
    log.info("export: %d %s vectors (dim %d) written to %s as %s", len(vec.words), model, vec.dim, path, fmt)
    return StageResult("export", vec.run_id, seconds, rows=len(vec.words), stats={"path": path, "format": fmt})


def nearest(spark: SparkSession, cfg: PipelineConfig, model: str, word: str, k: int) -> list[tuple[str, float]]:
    vec = read_vectors(spark, cfg.output.path, model)
    return neighbors(vec.words, vec.matrix, word, k)


def solve_analogy(
    spark: SparkSession, cfg: PipelineConfig, model: str, a: str, b: str, c: str, k: int
) -> list[tuple[str, float]]:
    vec = read_vectors(spark, cfg.output.path, model)
    return analogy(vec.words, vec.matrix, a, b, c, k=k, restrict_vocab=None)
