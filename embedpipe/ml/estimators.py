"""Spark ML Estimators ``SkipGram`` and ``GloVe`` over :func:`embedpipe.train`, and their Models.

``fit`` runs embedpipe's stages on the input column's tokens (tables under
``workDir``) and returns a Model holding the vectors on the driver, as
MLlib's ``Word2VecModel`` does. ``transform`` adds a document vector per row
on the executors: the vectors travel inside the UDF, which PySpark
broadcasts once it is larger than Spark's broadcast threshold (1 MB), and
no row comes to the driver. Models save and load with ``MLWritable`` /
``MLReadable``: DefaultParams metadata plus the vectors as Parquet, both
written through Spark, so any Hadoop path works.
"""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark import keyword_only
from pyspark.ml import Estimator, Model
from pyspark.ml.functions import array_to_vector
from pyspark.ml.linalg import Vector
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasInputCol, HasMaxIter, HasOutputCol, HasSeed, HasStepSize
from pyspark.ml.util import (
    DefaultParamsReadable,
    DefaultParamsReader,
    DefaultParamsWritable,
    DefaultParamsWriter,
    MLReadable,
    MLReader,
    MLWritable,
    MLWriter,
)
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from embedpipe import FORMAT_VERSION, __version__, paths
from embedpipe.api import train
from embedpipe.config import CooccurConfig, GloveConfig, InputConfig, SgnsConfig, SparkConfig, VocabConfig
from embedpipe.ml.docvectors import document_vectors, sif_weights
from embedpipe.vectors.keyed import Vectors, vectors_from_rows

__all__ = ["GloVe", "GloVeModel", "SkipGram", "SkipGramModel"]

M = TypeVar("M", bound="EmbeddingModel")


class EmbeddingParams(HasInputCol, HasOutputCol, HasMaxIter, HasSeed, HasStepSize):
    """The Params both Estimators and their Models share; MLlib's names where MLlib has them."""

    vectorSize: Param[int] = Param(Params._dummy(), "vectorSize", "the dimension of the word vectors",
                                   typeConverter=TypeConverters.toInt)  # fmt: skip
    windowSize: Param[int] = Param(Params._dummy(), "windowSize", "the window: largest distance of a context word",
                                   typeConverter=TypeConverters.toInt)  # fmt: skip
    minCount: Param[int] = Param(Params._dummy(), "minCount", "words seen fewer times are dropped",
                                 typeConverter=TypeConverters.toInt)  # fmt: skip
    numPartitions: Param[int] = Param(Params._dummy(), "numPartitions", "replicas (Spark tasks) that train",
                                      typeConverter=TypeConverters.toInt)  # fmt: skip
    maxSentenceLength: Param[int] = Param(Params._dummy(), "maxSentenceLength",
                                          "longest piece of a row, in tokens; longer rows are cut",
                                          typeConverter=TypeConverters.toInt)  # fmt: skip
    workDir: Param[str] = Param(Params._dummy(), "workDir",
                                "folder or URI of the training tables "
                                "(empty: <spark.sql.warehouse.dir>/embedpipe/<uid>)",
                                typeConverter=TypeConverters.toString)  # fmt: skip
    docVector: Param[str] = Param(Params._dummy(), "docVector",
                                  "transform's document vector: 'mean' (MLlib's) or 'sif' (a/(a+p(w)) weights)",
                                  typeConverter=TypeConverters.toString)  # fmt: skip
    settings: Param[dict[str, Any]] = Param(Params._dummy(), "settings",
                                            "more embedpipe config keys, e.g. {'sgns.negative': 10}",
                                            typeConverter=TypeConverters.identity)  # fmt: skip

    # The trainer's config section and the config key each Param sets.
    MODEL: ClassVar[str] = ""
    KEYS: ClassVar[dict[str, str]] = {}

    def getVectorSize(self) -> int:
        return self.getOrDefault(self.vectorSize)

    def getWindowSize(self) -> int:
        return self.getOrDefault(self.windowSize)

    def getMinCount(self) -> int:
        return self.getOrDefault(self.minCount)

    def getNumPartitions(self) -> int:
        return self.getOrDefault(self.numPartitions)

    def getMaxSentenceLength(self) -> int:
        return self.getOrDefault(self.maxSentenceLength)

    def getWorkDir(self) -> str:
        return self.getOrDefault(self.workDir)

    def getDocVector(self) -> str:
        return self.getOrDefault(self.docVector)

    def getSettings(self) -> dict[str, Any]:
        return dict(self.getOrDefault("settings"))

    def setInputCol(self, value: str) -> Any:
        return self._set(inputCol=value)

    def setOutputCol(self, value: str) -> Any:
        return self._set(outputCol=value)

    def setDocVector(self, value: str) -> Any:
        return self._set(docVector=value)


class SkipGramParams(EmbeddingParams):
    MODEL = "sgns"
    KEYS = {"vectorSize": "sgns.dim", "windowSize": "sgns.window", "maxIter": "sgns.epochs", "seed": "sgns.seed",
            "stepSize": "sgns.alpha", "minCount": "vocab.min_count", "numPartitions": "spark.partitions",
            "maxSentenceLength": "input.max_sentence_length"}  # fmt: skip

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        # Defaults are embedpipe's config defaults (gensim's), not MLlib's maxIter=1.
        sgns = SgnsConfig()
        self._setDefault(vectorSize=sgns.dim, windowSize=sgns.window, maxIter=sgns.epochs, seed=sgns.seed,
                         stepSize=sgns.alpha, **_shared_defaults())  # fmt: skip


class GloVeParams(EmbeddingParams):
    MODEL = "glove"
    KEYS = {"vectorSize": "glove.dim", "windowSize": "cooccur.window", "maxIter": "glove.epochs",
            "seed": "glove.seed", "stepSize": "glove.learning_rate", "minCount": "vocab.min_count",
            "numPartitions": "spark.partitions", "maxSentenceLength": "input.max_sentence_length"}  # fmt: skip

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        glove = GloveConfig()
        self._setDefault(vectorSize=glove.dim, windowSize=CooccurConfig().window, maxIter=glove.epochs,
                         seed=glove.seed, stepSize=glove.learning_rate, **_shared_defaults())  # fmt: skip


def _shared_defaults() -> dict[str, Any]:
    return {"minCount": VocabConfig().min_count, "numPartitions": SparkConfig().partitions,
            "maxSentenceLength": InputConfig().max_sentence_length, "workDir": "", "docVector": "mean",
            "settings": {}}  # fmt: skip


# ---------------------------------------------------------------------------
# Estimators


class EmbeddingEstimator(Estimator[M], DefaultParamsReadable[Any], DefaultParamsWritable, Generic[M]):
    """Trains with :func:`embedpipe.train` and wraps the vectors in a Model."""

    STAGES: ClassVar[tuple[str, ...]] = ()
    MODEL_CLASS: ClassVar[type[EmbeddingModel]]
    _input_kwargs: dict[str, Any]  # set by pyspark's @keyword_only

    def config(self, spark: SparkSession) -> dict[str, Any]:
        """The embedpipe config keys this Estimator's Params give (checked by ``embedpipe.train``)."""
        params: EmbeddingParams = self  # type: ignore[assignment]
        extra = params.getSettings()
        clash = sorted(set(extra) & set(params.KEYS.values()))
        if clash:
            names = [p for p, key in params.KEYS.items() if key in clash]
            raise ValueError(f"settings {clash} are Params of {type(self).__name__}: set {names} instead")
        out = {**extra, **{key: self.getOrDefault(name) for name, key in params.KEYS.items()}}
        out["output.path"] = params.getWorkDir() or default_work_dir(spark, self.uid)
        out["stages"] = list(self.STAGES)
        return out

    def _fit(self, dataset: DataFrame) -> M:
        params: EmbeddingParams = self  # type: ignore[assignment]
        column = params.getInputCol()
        if column not in dataset.columns:
            raise ValueError(f"inputCol {column!r} is not a column of the DataFrame: {dataset.columns}")
        kind = dataset.schema[column].dataType.simpleString()
        if kind != "array<string>":
            raise ValueError(
                f"inputCol {column!r} must be array<string> (tokens, e.g. a Tokenizer's output), got {kind}"
            )
        spark = dataset.sparkSession
        result = train(spark, dataset.select(column), self.config(spark), column=column)
        model = self.MODEL_CLASS(result.vectors[params.MODEL])
        model._resetUid(self.uid)  # a model shares its estimator's uid, as in MLlib
        return self._copyValues(model)  # type: ignore[return-value]


class SkipGram(EmbeddingEstimator["SkipGramModel"], SkipGramParams):
    """Skip-gram with negative sampling (word2vec) as a Spark ML Estimator, like MLlib's ``Word2Vec``.

    Parameters
    ----------
    inputCol : str
        ``array<string>`` column of tokens (kept as they are: no cleaning).
    outputCol : str
        ``transform``'s document vector column.
    vectorSize, windowSize, minCount, maxIter, numPartitions, seed, stepSize, maxSentenceLength
        ``sgns.dim``, ``sgns.window``, ``vocab.min_count``, ``sgns.epochs``,
        ``spark.partitions``, ``sgns.seed``, ``sgns.alpha``, ``input.max_sentence_length``.
    workDir : str
        Where the training tables go; default ``<spark.sql.warehouse.dir>/embedpipe/<uid>``.
    docVector : {"mean", "sif"}
        ``transform``'s weighting (see :mod:`embedpipe.ml.docvectors`).
    settings : dict
        Any other config key, e.g. ``{"sgns.negative": 10, "sgns.sample": 1e-3}``.
    """

    STAGES = ("ingest", "vocab", "encode", "sgns")

    @keyword_only
    def __init__(
        self,
        *,
        inputCol: str | None = None,
        outputCol: str | None = None,
        vectorSize: int | None = None,
        windowSize: int | None = None,
        minCount: int | None = None,
        maxIter: int | None = None,
        numPartitions: int | None = None,
        seed: int | None = None,
        stepSize: float | None = None,
        maxSentenceLength: int | None = None,
        workDir: str | None = None,
        docVector: str | None = None,
        settings: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self._set(**{k: v for k, v in self._input_kwargs.items() if v is not None})


class GloVe(EmbeddingEstimator["GloVeModel"], GloVeParams):
    """GloVe as a Spark ML Estimator: co-occurrence counts, then AdaGrad (``glove.c``'s algorithm).

    Parameters
    ----------
    inputCol, outputCol, minCount, numPartitions, maxSentenceLength, workDir, docVector, settings
        As :class:`SkipGram`.
    vectorSize, windowSize, maxIter, seed, stepSize
        ``glove.dim``, ``cooccur.window``, ``glove.epochs``, ``glove.seed``, ``glove.learning_rate``.
    """

    STAGES = ("ingest", "vocab", "encode", "cooccur", "glove")

    @keyword_only
    def __init__(
        self,
        *,
        inputCol: str | None = None,
        outputCol: str | None = None,
        vectorSize: int | None = None,
        windowSize: int | None = None,
        minCount: int | None = None,
        maxIter: int | None = None,
        numPartitions: int | None = None,
        seed: int | None = None,
        stepSize: float | None = None,
        maxSentenceLength: int | None = None,
        workDir: str | None = None,
        docVector: str | None = None,
        settings: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self._set(**{k: v for k, v in self._input_kwargs.items() if v is not None})


def default_work_dir(spark: SparkSession, uid: str) -> str:
    """``<spark.sql.warehouse.dir>/embedpipe/<uid>``: Spark's own place for tables, shared by the
    executors on a cluster (a driver's temp folder would not be)."""
    warehouse = spark.conf.get("spark.sql.warehouse.dir") or "spark-warehouse"
    # A local warehouse is a file: URI; the config takes local folders as paths.
    return paths.join(paths.local_path(warehouse) or warehouse, "embedpipe", uid)


# ---------------------------------------------------------------------------
# Models


class EmbeddingModel(Model, EmbeddingParams, MLReadable[Any], MLWritable):
    """Trained vectors as a Spark ML Model; ``transform`` adds a document vector column."""

    def __init__(self, vectors: Vectors | None = None) -> None:
        super().__init__()
        self._vectors = vectors

    @classmethod
    def fromVectors(cls: type[M], vectors: Vectors, **params: Any) -> M:
        """A Model of given vectors (e.g. ``Vectors.load(...)`` of a pretrained file), Params set from ``params``."""
        model = cls(vectors)
        model._set(vectorSize=vectors.dim, **params)
        return model

    def toVectors(self) -> Vectors:
        """The vectors as an :class:`embedpipe.Vectors` (queries, evaluation, export files)."""
        if self._vectors is None:
            raise RuntimeError(f"{type(self).__name__} holds no vectors: fit an Estimator, or load a saved model")
        return self._vectors

    def getVectors(self) -> DataFrame:
        """A DataFrame of ``word`` and ``vector`` (a DenseVector), most frequent word first."""
        vec = self.toVectors()
        table = pa.table({"word": pa.array(vec.words, pa.string()), "vector": _list_array(vec.matrix, pa.float64())})
        df = SparkSession.active().createDataFrame(table)
        return df.select("word", array_to_vector(F.col("vector")).alias("vector"))

    def findSynonymsArray(self, word: str | Vector | np.ndarray, num: int) -> list[tuple[str, float]]:
        """The ``num`` words of highest cosine similarity to a word (itself left out, as in MLlib) or a vector."""
        vec = self.toVectors()
        query = word if isinstance(word, str) else np.asarray(word.toArray() if isinstance(word, Vector) else word)
        return vec.most_similar(query, topn=num)

    def findSynonyms(self, word: str | Vector | np.ndarray, num: int) -> DataFrame:
        """:meth:`findSynonymsArray` as a DataFrame of ``word`` and ``similarity``, as MLlib's."""
        rows = self.findSynonymsArray(word, num)
        return SparkSession.active().createDataFrame(rows, "word string, similarity double")

    def _transform(self, dataset: DataFrame) -> DataFrame:
        vec = self.toVectors()
        column = self.getInputCol()
        kind = dataset.schema[column].dataType.simpleString() if column in dataset.columns else None
        if kind != "array<string>":
            raise ValueError(f"inputCol {column!r} must be an array<string> column of tokens, got {kind}")
        mode = self.getDocVector()
        if mode not in ("mean", "sif"):
            raise ValueError(f"docVector must be 'mean' or 'sif', got {mode!r}")
        weights = sif_weights(vec.counts) if mode == "sif" else None
        words, matrix = pa.array(vec.words, pa.string()), vec.matrix

        @F.pandas_udf(T.ArrayType(T.DoubleType()))  # type: ignore[call-overload]
        def doc_vectors(tokens: pd.Series) -> pd.Series:
            docs = pa.array(tokens, type=pa.list_(pa.string()), from_pandas=True)
            return pd.Series(list(document_vectors(docs, words, matrix, weights)))

        return dataset.withColumn(self.getOutputCol(), array_to_vector(doc_vectors(F.col(column))))

    def write(self) -> MLWriter:
        return ModelWriter(self)

    @classmethod
    def read(cls) -> MLReader[Any]:
        return ModelReader(cls)

    def __repr__(self) -> str:
        size = "no vectors" if self._vectors is None else f"{len(self._vectors)} words"
        return f"{type(self).__name__}(uid={self.uid}, {size}, vectorSize={self.getOrDefault(self.vectorSize)})"


class SkipGramModel(EmbeddingModel, SkipGramParams):
    """What :class:`SkipGram` fits: skip-gram vectors, document vectors by ``transform``."""


class GloVeModel(EmbeddingModel, GloVeParams):
    """What :class:`GloVe` fits: GloVe vectors, document vectors by ``transform``."""


SkipGram.MODEL_CLASS = SkipGramModel
GloVe.MODEL_CLASS = GloVeModel


def _list_array(matrix: np.ndarray, kind: pa.DataType) -> pa.ListArray:
    n, dim = matrix.shape
    flat = np.ascontiguousarray(matrix, dtype=kind.to_pandas_dtype()).reshape(-1)
    return pa.ListArray.from_arrays(pa.array(np.arange(0, n * dim + 1, dim, dtype=np.int32)), pa.array(flat, kind))


class ModelWriter(MLWriter):
    """DefaultParams metadata under ``path/metadata``, the vectors as Parquet under ``path/data``."""

    def __init__(self, instance: EmbeddingModel) -> None:
        super().__init__()
        self.instance = instance

    def saveImpl(self, path: str) -> None:
        vec = self.instance.toVectors()
        n = len(vec)
        extra = {"embedpipe": {"format_version": FORMAT_VERSION, "code_version": __version__, "model": vec.model,
                               "run_id": vec.run_id, "dim": vec.dim, "vocab_size": n}}  # fmt: skip
        DefaultParamsWriter.saveMetadata(self.instance, path, self.sparkSession, extraMetadata=extra)
        table = pa.table({
            "run_id": pa.array([vec.run_id] * n, pa.string()),
            "word": pa.array(vec.words, pa.string()),
            "id": pa.array(np.arange(n, dtype=np.int32)),
            "vector": _list_array(vec.matrix, pa.float32()),
            "count": pa.array(np.asarray(vec.counts, dtype=np.int64)),
        })  # fmt: skip
        self.sparkSession.createDataFrame(table).write.parquet(paths.join(path, "data"))


class ModelReader(MLReader[Any]):
    def __init__(self, cls: type[EmbeddingModel]) -> None:
        super().__init__()
        self.cls = cls

    def load(self, path: str) -> EmbeddingModel:
        metadata = DefaultParamsReader.loadMetadata(path, self.sparkSession)
        expected = f"{self.cls.__module__}.{self.cls.__name__}"
        if metadata["class"] != expected:
            raise ValueError(f"{path} holds a {metadata['class']}, not a {expected}; load it with that class")
        info = metadata.get("embedpipe", {})
        table = self.sparkSession.read.parquet(paths.join(path, "data")).toArrow()
        table = table.take(pa.compute.sort_indices(table.column("id")))
        vectors = vectors_from_rows(table, info.get("model", ""), info)
        model = self.cls(vectors)
        model._resetUid(metadata["uid"])
        DefaultParamsReader.getAndSetParams(model, metadata)
        return model
