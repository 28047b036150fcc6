"""Vocabulary.

Reads the ``tokens`` table's word rows and writes

``vocab`` (word, id, count, noise_prob)
    Exact counts. Words with ``count >= vocab.min_count`` are kept, at most
    ``vocab.max_size`` of them (0 = all); ids follow descending count with
    ties broken by word, so the result is deterministic. ``noise_prob`` is the
    unigram^0.75 distribution used for negative sampling. Skip-gram's
    subsampling probabilities depend on ``sgns.sample``, so skip-gram computes
    them from the counts where it trains; a trainer's settings never rebuild
    the vocabulary.

Counting does not read the text: every ingest task already counted its own
words (the table's word rows), and one Spark job sums those by word, keeps the
words that reach ``min_count`` and counts the totals. Only the kept words come
to the driver, as one Arrow table, and are ranked there. No driver-side dict
of every distinct word is ever built, so corpora with tens of millions of
distinct tokens work. This is the counterpart of gensim's ``build_vocab``;
turning the pieces into ids is the next stage's work (embedpipe.encode).

Run it alone with ``embedpipe vocab conf/demo.yaml``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from embedpipe import tables
from embedpipe.config import PipelineConfig
from embedpipe.distributed import counters
from embedpipe.errors import EmptyVocabularyError
from embedpipe.stage import StageResult, new_run_id

log = logging.getLogger(__name__)


def word_counts(tokens: DataFrame) -> DataFrame:
    """Exact word counts from the ``tokens`` table's word rows:
    DataFrame[word string, count long].

    Each ingest task already counted its own words, so this sums a few rows
    per task and word; the text is not read.
    """
    return tokens.where(F.col("word").isNotNull()).groupBy("word").agg(F.sum("count").alias("count"))


KEPT_ARROW = pa.schema([("word", pa.string()), ("count", pa.int64())])
KEPT_DDL = "word string, count long"


def make_word_filter(min_count: int, acc: dict[str, Any]):  # type: ignore[no-untyped-def]
    """mapInArrow function over :func:`word_counts`: the words with
    ``count >= min_count``. Every word goes into the ``tokens_in`` and
    ``distinct_words`` counters on the way, so one job gives the totals too.
    """

    def keep(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            counts = batch.column("count")
            acc["tokens_in"].add(int(pc.sum(counts).as_py() or 0))
            acc["distinct_words"].add(batch.num_rows)
            kept = batch.filter(pc.greater_equal(counts, min_count))
            if kept.num_rows:
                yield pa.RecordBatch.from_arrays([kept.column("word"), kept.column("count")], schema=KEPT_ARROW)

    return keep


def rank_vocab(kept: pa.Table, max_size: int) -> pa.Table:
    """Rank the words that reached min_count and annotate them (Arrow, in memory).

    ``kept`` has ``word`` and ``count``. Ids follow descending count, ties
    broken by word, so the result does not depend on partitioning; at most
    ``max_size`` words are kept (0 = all).
    """
    order = pc.sort_indices(kept, sort_keys=[("count", "descending"), ("word", "ascending")])
    if max_size > 0:
        order = order[:max_size]
    words = kept.column("word").take(order)
    counts = kept.column("count").take(order).to_numpy().astype(np.int64)
    weights = counts.astype(np.float64) ** 0.75
    z = weights.sum()
    return pa.table(
        [
            words,
            pa.array(np.arange(len(counts), dtype=np.int32)),
            pa.array(counts),
            pa.array(weights / z if z > 0 else weights),
        ],
        names=[f.name for f in tables.VOCAB.fields],
    )


def select_vocab(tokens: DataFrame, min_count: int, max_size: int, acc: dict[str, Any]) -> pa.Table:
    """The vocabulary as an Arrow table (see :func:`rank_vocab`).

    One Spark job: the word rows summed by word, the words that reach
    ``min_count`` collected as one Arrow table, the totals counted on the way
    (``acc``). Only the kept words come to the driver: they are what the
    encoder ships to every executor anyway, and they are small next to the
    corpus. Every distinct word stays distributed.
    """
    kept = word_counts(tokens).mapInArrow(make_word_filter(min_count, acc), KEPT_DDL).toArrow()
    return rank_vocab(kept, max_size)


def run(spark: SparkSession, cfg: PipelineConfig) -> StageResult:
    """Vocab stage: write ``vocab``.

    Raises
    ------
    EmptyVocabularyError
        No word occurs ``vocab.min_count`` times.
    """
    t0 = time.perf_counter()
    root = cfg.output.path
    tokens = tables.read(spark, root, "tokens")
    run_id = new_run_id()
    totals = counters(spark, "tokens_in", "distinct_words")
    ranked = select_vocab(tokens, cfg.vocab.min_count, cfg.vocab.max_size, totals)
    if ranked.num_rows == 0:
        raise EmptyVocabularyError(
            f"the vocabulary is empty: no word occurs vocab.min_count={cfg.vocab.min_count} times "
            f"in {cfg.input.path!r}; lower vocab.min_count or give a larger corpus"
        )
    tokens_in, tokens_kept = totals["tokens_in"].value, int(pc.sum(ranked.column("count")).as_py())
    stats: dict[str, Any] = {
        "vocab_size": ranked.num_rows,
        "distinct_words": totals["distinct_words"].value,
        "tokens_in": tokens_in,
        "tokens_kept": tokens_kept,
        "tokens_oov": tokens_in - tokens_kept,
    }
    meta = {"stage": "vocab", "run_id": run_id, "config": cfg.to_dict(), "vocab_size": ranked.num_rows, "stats": stats}
    tables.write(spark.createDataFrame(ranked, schema=tables.VOCAB), root, "vocab", metadata=meta)
    seconds = time.perf_counter() - t0
    log.info(
        "vocab: %d words (min_count %d) of %d distinct, %d tokens kept, %d OOV tokens (%.1f s)",
        ranked.num_rows,
        cfg.vocab.min_count,
        stats["distinct_words"],
        tokens_kept,
        stats["tokens_oov"],
        seconds,
    )
    return StageResult("vocab", run_id, seconds, rows=ranked.num_rows, work=tokens_in, unit="words", stats=stats)
