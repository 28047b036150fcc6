"""Spark ML Estimators for embedpipe's two models, to use in a ``pyspark.ml.Pipeline``::

    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import StopWordsRemover, Tokenizer
    from embedpipe.ml import SkipGram

    pipeline = Pipeline(stages=[
        Tokenizer(inputCol="text", outputCol="words"),
        StopWordsRemover(inputCol="words", outputCol="tokens"),
        SkipGram(inputCol="tokens", outputCol="features", vectorSize=50, workDir="runs/ml"),
        LogisticRegression(),
    ])

:class:`SkipGram` and :class:`GloVe` train with :func:`embedpipe.train`;
their Models (:class:`SkipGramModel`, :class:`GloVeModel`) give
``getVectors()``, ``findSynonyms(word, n)`` and ``transform`` (a document
vector per row), and save and load as Spark ML models do.
"""

from __future__ import annotations

from embedpipe.ml.estimators import GloVe, GloVeModel, SkipGram, SkipGramModel

__all__ = ["GloVe", "GloVeModel", "SkipGram", "SkipGramModel"]
