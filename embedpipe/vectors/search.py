"""Queries on the ``vectors`` table, answered on the executors.

The driver reads the query words' rows, sends one unit query vector to the
tasks, and gets back each task's ``k`` best rows: it never holds the model,
whatever the vocabulary's size. The answers are those of
:func:`embedpipe.vectors.queries.neighbors` and ``analogy`` on the whole
matrix (cosine over unit rows, ties to the lower row id).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from embedpipe import tables
from embedpipe.kernels.similarity import normalize_rows, top_k
from embedpipe.vectors.queries import SUGGEST_TOP, unknown_word_error
from embedpipe.vectors.table import Vectors, read_vectors

__all__ = ["analogy_in_table", "neighbors_in_table"]

_HITS_DDL = "id int, word string, sim double"


@dataclass(frozen=True)
class _TopRows:
    """mapInArrow over vectors rows: the ``k`` rows of each task most similar to ``query``."""

    query: np.ndarray  # (dim,) float64
    exclude: tuple[int, ...]
    k: int

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        ids: list[np.ndarray] = []
        words: list[str] = []
        sims: list[np.ndarray] = []
        for batch in batches:
            if not batch.num_rows:
                continue
            vec = batch.column("vector")
            dim = len(self.query)
            matrix = vec.flatten().to_numpy(zero_copy_only=False).reshape(batch.num_rows, dim)
            idx, sim = top_k(normalize_rows(matrix), self.query, self.k, exclude=self._local(batch))
            ids.append(batch.column("id").to_numpy()[idx])
            words.extend(batch.column("word").take(pa.array(idx)).to_pylist())
            sims.append(sim)
        if ids:
            yield pa.RecordBatch.from_arrays(
                [pa.array(np.concatenate(ids), pa.int32()), pa.array(words, pa.string()),
                 pa.array(np.concatenate(sims), pa.float64())],
                names=["id", "word", "sim"],
            )  # fmt: skip

    def _local(self, batch: pa.RecordBatch) -> list[int]:
        ids = batch.column("id").to_numpy()
        return [int(i) for i in np.flatnonzero(np.isin(ids, self.exclude))]


def _query_rows(spark: SparkSession, root: str, model: str, words: Sequence[str]) -> tuple[Vectors, list[int]]:
    """The query words' rows: the exact word, else the first (most frequent) lower-cased match,
    as :meth:`Vectors.row` finds them on the whole table."""
    # Row 0 too, so that the subset is never empty when no query word is known.
    found = read_vectors(spark, root, model, top=1, words=words)
    rows = []
    for w in words:
        if w not in found:
            size = found.metadata.get("vocab_size", "?")
            top = (
                tables.read(spark, root, "vectors")
                .filter((F.col("model") == model) & (F.col("id") < SUGGEST_TOP))
                .orderBy("id")
                .select("word")
                .toArrow()
                .column("word")
                .to_pylist()
            )
            raise unknown_word_error(w, top, f"the vocabulary ({size} words)")
        rows.append(found.row(w))
    return found, rows


def _search(
    spark: SparkSession, root: str, model: str, query: np.ndarray, exclude: list[int], k: int
) -> list[tuple[str, float]]:
    df = tables.read(spark, root, "vectors").filter(F.col("model") == model).select("id", "word", "vector")
    hits = df.mapInArrow(_TopRows(query, tuple(exclude), k), _HITS_DDL).toArrow()
    order = sorted(
        zip(
            hits.column("sim").to_pylist(), hits.column("id").to_pylist(), hits.column("word").to_pylist(), strict=True
        ),
        key=lambda h: (-h[0], h[1]),
    )
    return [(word, float(sim)) for sim, _, word in order[:k]]


def neighbors_in_table(spark: SparkSession, root: str, model: str, word: str, k: int = 10) -> list[tuple[str, float]]:
    """The ``k`` words of ``model`` nearest to ``word`` by cosine; the word itself excluded."""
    found, (i,) = _query_rows(spark, root, model, [word])
    query = found.matrix[i].astype(np.float64)
    return _search(spark, root, model, query, [int(found.ids[i])], k)  # type: ignore[index]


def analogy_in_table(
    spark: SparkSession, root: str, model: str, a: str, b: str, c: str, k: int = 1
) -> list[tuple[str, float]]:
    """``a : b :: c : ?`` by 3CosAdd over the whole vocabulary; a, b and c are never answers."""
    found, rows = _query_rows(spark, root, model, [a, b, c])
    q = normalize_rows(found.matrix[rows])
    query = q[1].astype(np.float64) - q[0] + q[2]
    return _search(spark, root, model, query, [int(found.ids[i]) for i in rows], k)  # type: ignore[index]
