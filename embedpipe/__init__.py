"""embedpipe: distributed word-embedding training on Apache Spark.

Stages (each reads and writes Delta tables under ``output.path``):
ingest -> vocab -> encode -> cooccur -> glove / sgns -> evaluate / export
(sgns trains from the encoded corpus, not from the co-occurrences).

From Python, :func:`embedpipe.train` runs the stages on a DataFrame or a
path, and :class:`embedpipe.Vectors` holds trained vectors (from a
``vectors`` table or a word2vec, GloVe or fastText file) and answers queries::

    import embedpipe
    result = embedpipe.train(spark, df, {"output.path": "runs/nb"}, column="text")
    result.vectors["sgns"].most_similar("king")

    from embedpipe import Vectors
    v = Vectors.from_table("out/vectors", model="sgns")

Spark ML Estimators (``SkipGram``, ``GloVe``) are in :mod:`embedpipe.ml`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
# Version of the tables' layout, recorded in every commit's metadata and checked by readers.
FORMAT_VERSION = 1

__all__ = ["FORMAT_VERSION", "TrainResult", "Vectors", "__version__", "train"]

if TYPE_CHECKING:
    from embedpipe.api import TrainResult, train
    from embedpipe.vectors.keyed import Vectors


def __getattr__(name: str) -> Any:
    # Imported on first use: `import embedpipe` runs in every Spark task and must stay cheap.
    if name == "Vectors":
        from embedpipe.vectors.keyed import Vectors

        return Vectors
    if name == "train":
        from embedpipe.api import train

        return train
    if name == "TrainResult":
        from embedpipe.api import TrainResult

        return TrainResult
    raise AttributeError(f"module 'embedpipe' has no attribute {name!r}")
