"""Vocabulary and encoded corpus.

Reads the ``tokens`` table and writes two tables:

``vocab`` (word, id, count, keep_prob, noise_prob)
    Exact counts. Words with ``count >= vocab.min_count`` are kept, at most
    ``vocab.max_size`` of them (0 = all); ids follow descending count with
    ties broken by word, so the result is deterministic. ``keep_prob`` is
    word2vec's subsampling keep-probability for ``sgns.sample``:
    ``min(1, (sqrt(f / (s·N)) + 1) · (s·N) / f)`` with f the word's count and
    N the number of in-vocabulary tokens. ``noise_prob`` is the unigram^0.75
    distribution used for negative sampling.
``corpus`` (line_id, piece, ids)
    Every piece as int32 ids, out-of-vocabulary tokens removed *before* any
    windowing (as word2vec and GloVe's ``cooccur`` do). Empty pieces vanish.

Counting does not read the text: every ingest task already counted its own
words (the table's word rows), and one Spark job sums those by word, keeps the
words that reach ``min_count`` and counts the totals. Only the kept words come
to the driver, as one Arrow table; it is ranked there and shipped (id-ordered)
to the executors, where each task builds one hash table of the kept words'
bytes and looks every token up straight from the pieces' text bytes (numba,
embedpipe.kernels.lookup; no string per token). No driver-side dict of every
distinct word is ever built, so corpora with tens of millions of distinct
tokens work.

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
from embedpipe.batches import coalesce_batches, string_buffers
from embedpipe.config import PipelineConfig
from embedpipe.distributed import counters, share
from embedpipe.ingest import TOKEN_SEPARATOR
from embedpipe.kernels.lookup import build_word_table, encode_texts
from embedpipe.kernels.subsampling import keep_probabilities
from embedpipe.stage import StageResult, new_run_id

log = logging.getLogger(__name__)

# Pieces are tokens joined by this one byte.
SEPARATOR_BYTE = ord(TOKEN_SEPARATOR)

CORPUS_ARROW = pa.schema([("line_id", pa.int64()), ("piece", pa.int32()), ("ids", pa.list_(pa.int32()))])


class EmptyVocabularyError(ValueError):
    """No word reaches min_count."""


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


def rank_vocab(kept: pa.Table, max_size: int, sample: float) -> pa.Table:
    """Rank the words that reached min_count and annotate them (Arrow, in memory).

    ``kept`` has ``word`` and ``count``. Ids follow descending count, ties
    broken by word, so the result does not depend on partitioning; at most
    ``max_size`` words are kept (0 = all). The keep-probabilities use the
    in-vocabulary token total, as word2vec's do.
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
            pa.array(keep_probabilities(counts, sample)),
            pa.array(weights / z if z > 0 else weights),
        ],
        names=[f.name for f in tables.VOCAB.fields],
    )


def select_vocab(tokens: DataFrame, min_count: int, max_size: int, sample: float, acc: dict[str, Any]) -> pa.Table:
    """The vocabulary as an Arrow table (see :func:`rank_vocab`).

    One Spark job: the word rows summed by word, the words that reach
    ``min_count`` collected as one Arrow table, the totals counted on the way
    (``acc``). Only the kept words come to the driver: they are what the
    encoder ships to every executor anyway, and they are small next to the
    corpus. Every distinct word stays distributed.
    """
    kept = word_counts(tokens).mapInArrow(make_word_filter(min_count, acc), KEPT_DDL).toArrow()
    return rank_vocab(kept, max_size, sample)


# The encoder looks tokens up in batches of at least this much text, so
# that the per-call costs (numba dispatch, Arrow wrapping) stay small.
ENCODE_BATCH_BYTES = 16 << 20


def make_encoder(words: Any, acc: dict[str, Any]):  # type: ignore[no-untyped-def]
    """mapInArrow function: piece texts -> id lists with OOV tokens removed.

    ``words`` is the shared (broadcast) Arrow string array of the kept words
    in id order. Each task builds one hash table of their bytes and looks
    every token up straight from the text's bytes (embedpipe.kernels.lookup).
    """

    def encode(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        word_bytes, word_offsets = string_buffers(words.value)
        table = build_word_table(word_bytes, word_offsets)
        for batch in coalesce_batches(batches, ENCODE_BATCH_BYTES):
            data, offsets = string_buffers(batch.column("text"))
            ids, id_offsets = encode_texts(data, offsets, SEPARATOR_BYTE, word_bytes, word_offsets, table)
            lengths = np.diff(id_offsets)
            keep_rows = np.flatnonzero(lengths > 0)
            acc["pieces_empty"].add(len(lengths) - len(keep_rows))
            acc["pieces"].add(len(keep_rows))
            if len(keep_rows) == 0:
                continue
            lists = pa.ListArray.from_arrays(pa.array(id_offsets.astype(np.int32)), pa.array(ids))
            rows = pa.array(keep_rows)
            yield pa.RecordBatch.from_arrays(
                [batch.column("line_id").take(rows), batch.column("piece").take(rows), lists.take(rows)],
                schema=CORPUS_ARROW,
            )

    return encode


def run(spark: SparkSession, cfg: PipelineConfig) -> StageResult:
    """Vocab stage: write ``vocab`` and ``corpus``.

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
    ranked = select_vocab(tokens, cfg.vocab.min_count, cfg.vocab.max_size, cfg.sgns.sample, totals)
    if ranked.num_rows == 0:
        raise EmptyVocabularyError(
            f"the vocabulary is empty: no word occurs vocab.min_count={cfg.vocab.min_count} times "
            f"in {cfg.input.path!r}; lower vocab.min_count or give a larger corpus"
        )
    # The kept words in id order, as one Arrow array: what the encoder ships
    # to every executor (pickled Arrow buffers, no Python strings).
    words = ranked.column("word").combine_chunks()
    tokens_in, tokens_kept = totals["tokens_in"].value, int(pc.sum(ranked.column("count")).as_py())
    stats: dict[str, Any] = {
        "vocab_size": len(words),
        "distinct_words": totals["distinct_words"].value,
        "tokens_in": tokens_in,
        "tokens_kept": tokens_kept,
        "tokens_oov": tokens_in - tokens_kept,
    }
    meta = {"stage": "vocab", "run_id": run_id, "config": cfg.to_dict(), "vocab_size": len(words), "stats": stats}
    tables.write(spark.createDataFrame(ranked, schema=tables.VOCAB), root, "vocab", metadata=meta)
    counted = time.perf_counter()

    acc = counters(spark, "pieces", "pieces_empty")
    shared_words = share(spark, words)
    try:
        # Straight from the encoder to the commit, no cache: the piece counts
        # arrive with the write job, so they go to the run summary only.
        pieces = tokens.where(F.col("text").isNotNull()).select("line_id", "piece", "text")
        corpus = pieces.mapInArrow(make_encoder(shared_words, acc), tables.CORPUS)
        tables.write(corpus, root, "corpus", metadata=meta)
        stats.update({k: c.value for k, c in acc.items()})
        n_pieces = stats["pieces"]
    finally:
        shared_words.release()
    seconds = time.perf_counter() - t0
    # The two halves apart: counting (up to the vocab commit) is what gensim's
    # build_vocab does; encoding the corpus has no counterpart there.
    stats["seconds_count"] = round(counted - t0, 3)
    stats["seconds_encode"] = round(seconds - (counted - t0), 3)
    log.info(
        "vocab: %d words (min_count %d), %d tokens kept, %d OOV tokens removed, %d pieces "
        "(%.1f s: %.1f s counting, %.1f s encoding)",
        len(words),
        cfg.vocab.min_count,
        stats["tokens_kept"],
        stats["tokens_oov"],
        n_pieces,
        seconds,
        stats["seconds_count"],
        stats["seconds_encode"],
    )
    return StageResult("vocab", run_id, seconds, rows=len(words), words=stats["tokens_in"], stats=stats)
