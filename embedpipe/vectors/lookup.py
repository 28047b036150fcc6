"""The CLI's queries, ``embedpipe neighbors`` and ``embedpipe analogy``, without a JVM where possible.

Where delta-rs reads ``output.path`` (a local path, ``file:``, ``s3://``,
``s3a://``, ``abfss://``, ``gs://`` ...) the model is read into a
:class:`~embedpipe.vectors.keyed.Vectors` and answered in this process: a
fresh process answers in about a second instead of a JVM start. Elsewhere
(``hdfs://``, ``viewfs://``, ``dbfs:/``), or when delta-rs cannot read the
table (cloud credentials that only Spark's Hadoop settings hold, a table
feature delta-rs lacks), the query runs on Spark (:mod:`.search`), which
keeps the model on the executors. The answers are the same either way:
cosine over unit rows, exact word first then lower-cased, ties to the more
frequent word, and the same "did you mean" error for an unknown word.

This module imports neither pyspark nor Spark's session unless it falls back to Spark.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from embedpipe import paths
from embedpipe.config import PipelineConfig
from embedpipe.errors import TableError
from embedpipe.vectors.keyed import Vectors

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["DELTA_RS_SCHEMES", "delta_rs_reads", "nearest", "read_for_queries", "solve_analogy"]

log = logging.getLogger(__name__)

#: URI schemes delta-rs (the ``deltalake`` package) reads; a plain path reads too.
DELTA_RS_SCHEMES = frozenset({"file", "s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "azure"})


def delta_rs_reads(root: str) -> bool:
    """Whether delta-rs can read tables under ``root`` (else only Spark can)."""
    scheme = paths.scheme(root)
    return scheme is None or scheme in DELTA_RS_SCHEMES


def read_for_queries(root: str, model: str) -> Vectors | None:
    """``model``'s vectors under ``root`` read by delta-rs, or None where only Spark can read them.

    A missing table or model is a :class:`~embedpipe.errors.TableError`, as
    through Spark; any other failure of delta-rs (storage credentials, an
    unsupported table feature) is logged and answered None, so the caller
    falls back to Spark.
    """
    if not delta_rs_reads(root):
        return None
    where = paths.local_path(root) or root
    try:
        return Vectors.from_table(where, model)  # <root>/vectors, named in its errors as Spark's reader does
    except TableError:
        raise
    except Exception as exc:  # noqa: BLE001 - delta-rs raises OSError, DeltaError, DeltaProtocolError ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        log.warning("delta-rs cannot read %s (%s); answering through Spark", paths.join(root, "vectors"), first)
        return None


def _spark(cfg: PipelineConfig) -> SparkSession:
    from embedpipe.session import get_session

    return get_session(cfg.spark)


def nearest(cfg: PipelineConfig, model: str, word: str, k: int) -> list[tuple[str, float]]:
    """The ``k`` words of ``model`` nearest to ``word`` by cosine, the word itself excluded."""
    vec = read_for_queries(cfg.output.path, model)
    if vec is None:
        from embedpipe.vectors.search import neighbors_in_table

        return neighbors_in_table(_spark(cfg), cfg.output.path, model, word, k)
    return vec.most_similar(word, topn=k)


def solve_analogy(cfg: PipelineConfig, model: str, a: str, b: str, c: str, k: int) -> list[tuple[str, float]]:
    """``a : b :: c : ?`` by 3CosAdd over the whole vocabulary; a, b and c are never answers."""
    vec = read_for_queries(cfg.output.path, model)
    if vec is None:
        from embedpipe.vectors.search import analogy_in_table

        return analogy_in_table(_spark(cfg), cfg.output.path, model, a, b, c, k)
    for w in (a, b, c):  # the first unknown word is the one reported, as through Spark
        vec.row(w)
    return vec.most_similar(positive=[b, c], negative=[a], topn=k)
