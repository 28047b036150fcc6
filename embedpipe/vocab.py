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

Counting never reads the text: every ingest task already counted its own
words (the table's word rows), and one Spark job sums those by word, keeps
the words that reach ``min_count`` and counts the totals. Only the words
that reach ``min_count`` come to the driver, as one Arrow table; it is ranked
there, and the kept words' 64-bit hashes are shipped (id-ordered, 8 bytes a
word) to the executors, which map each piece's token hashes to ids with
pyarrow's vectorized ``index_in``. No driver-side dict of every distinct word
is ever built, so corpora with tens of millions of distinct tokens work.

Two distinct words with one hash would be encoded as one: the stage checks
that no kept word shares its hash with any other word and fails otherwise,
naming the fix (another ``input.hash_seed``). Out-of-vocabulary words that
share a hash are harmless (both are dropped) and are counted apart.

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
from embedpipe.batches import coalesce_batches, unpack_int64_lists
from embedpipe.config import PipelineConfig
from embedpipe.distributed import counters, share
from embedpipe.kernels.subsampling import keep_probabilities
from embedpipe.stage import StageResult, new_run_id

log = logging.getLogger(__name__)

CORPUS_ARROW = pa.schema([("line_id", pa.int64()), ("piece", pa.int32()), ("ids", pa.list_(pa.int32()))])


class EmptyVocabularyError(ValueError):
    """No word reaches min_count."""


def word_counts(tokens: DataFrame) -> DataFrame:
    """Exact word counts from the ``tokens`` table's word rows:
    DataFrame[word string, hash long, count long].

    Each ingest task already counted its own words, so this sums a few rows
    per task and word; the text is never read again. The one shuffle hashes
    ``hash`` alone (the aggregation by word and hash reuses it), so all the
    words that share a hash meet in one task, where a collision shows.
    """
    return (
        tokens.where(F.col("word").isNotNull())
        .repartition("hash")
        .groupBy("hash", "word")
        .agg(F.sum("count").alias("count"))
        .select("word", "hash", "count")
    )


KEPT_ARROW = pa.schema([("word", pa.string()), ("hash", pa.int64()), ("count", pa.int64())])
KEPT_DDL = "word string, hash long, count long"


def make_word_filter(min_count: int, acc: dict[str, Any]):  # type: ignore[no-untyped-def]
    """mapInArrow function over :func:`word_counts`: the words with
    ``count >= min_count``, then one row (word null) per hash that more than
    one word of the task has. Adds every word to the ``tokens_in`` and
    ``distinct_words`` counters, so one job gives the totals too.
    """

    def keep(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        # 8 bytes per distinct word of the task: enough to find shared hashes.
        seen: list[np.ndarray] = []
        for batch in batches:
            counts = batch.column("count")
            acc["tokens_in"].add(int(pc.sum(counts).as_py() or 0))
            acc["distinct_words"].add(batch.num_rows)
            seen.append(batch.column("hash").to_numpy())
            kept = batch.filter(pc.greater_equal(counts, min_count))
            if kept.num_rows:
                yield pa.RecordBatch.from_arrays(kept.columns, schema=KEPT_ARROW)
        hashes = np.sort(np.concatenate(seen)) if seen else np.empty(0, np.int64)
        shared = np.unique(hashes[1:][hashes[1:] == hashes[:-1]])
        if len(shared):
            n = len(shared)
            yield pa.RecordBatch.from_arrays(
                [pa.nulls(n, pa.string()), pa.array(shared), pa.nulls(n, pa.int64())], schema=KEPT_ARROW
            )

    return keep


def colliding_words(tokens: DataFrame, hashes: list[int]) -> list[list[str]]:
    """The groups of distinct words that have one of ``hashes``, from the word rows."""
    rows = tokens.where(F.col("hash").isin(hashes)).select("hash", "word").distinct().collect()
    groups: dict[int, list[str]] = {}
    for r in rows:
        groups.setdefault(r["hash"], []).append(r["word"])
    return [sorted(words) for words in groups.values()]


def rank_vocab(kept: pa.Table, max_size: int, sample: float) -> pa.Table:
    """Rank the words that reached min_count and annotate them (Arrow, in memory).

    ``kept`` has ``word`` and ``count`` (and may have ``hash``, carried along
    as a last column). Ids follow descending count, ties broken by word, so
    the result does not depend on partitioning; at most ``max_size`` words
    are kept (0 = all). The keep-probabilities use the in-vocabulary token
    total, as word2vec's do.
    """
    order = pc.sort_indices(kept, sort_keys=[("count", "descending"), ("word", "ascending")])
    if max_size > 0:
        order = order[:max_size]
    words = kept.column("word").take(order)
    counts = kept.column("count").take(order).to_numpy().astype(np.int64)
    weights = counts.astype(np.float64) ** 0.75
    z = weights.sum()
    columns = [
        words,
        pa.array(np.arange(len(counts), dtype=np.int32)),
        pa.array(counts),
        pa.array(keep_probabilities(counts, sample)),
        pa.array(weights / z if z > 0 else weights),
    ]
    names = [f.name for f in tables.VOCAB.fields]
    if "hash" in kept.column_names:
        columns.append(kept.column("hash").take(order))
        names.append("hash")
    return pa.table(columns, names=names)


def select_vocab(
    tokens: DataFrame, min_count: int, max_size: int, sample: float, acc: dict[str, Any]
) -> tuple[pa.Table, np.ndarray]:
    """The vocabulary as an Arrow table (see :func:`rank_vocab`, with the
    ``hash`` column), and the hashes that more than one word has.

    One Spark job: the word rows summed by word, the words that reach
    ``min_count`` collected as one Arrow table, the totals counted on the
    way (``acc``). Only the kept words come to the driver: they are what the
    encoder ships to every executor anyway, and they are small next to the
    corpus. Every distinct word stays distributed.
    """
    rows = word_counts(tokens).mapInArrow(make_word_filter(min_count, acc), KEPT_DDL).toArrow()
    shared = pc.is_null(rows.column("word"))
    kept = rows.filter(pc.invert(shared)).select(["word", "count", "hash"])
    return rank_vocab(kept, max_size, sample), rows.filter(shared).column("hash").to_numpy()


# The encoder looks tokens up in batches of at least this many hash bytes.
ENCODE_BATCH_BYTES = 16 << 20


def make_encoder(hashes: Any, acc: dict[str, Any]):  # type: ignore[no-untyped-def]
    """mapInArrow function: piece rows of ``tokens`` -> id lists with OOV tokens removed.

    ``hashes`` is the shared (broadcast) int64 Arrow array of the kept words'
    hashes in id order: a token's id is the position of its hash there.
    """

    def encode(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        value_set = hashes.value
        # index_in hashes the whole value set on every call: one call per
        # 16 MB, not per Spark batch (on wiki70m's text, 12.3 s -> 8.2 s).
        for batch in coalesce_batches(batches, ENCODE_BATCH_BYTES):
            flat, offsets = unpack_int64_lists(batch.column("hashes"))
            # index_in gives each token's position in the id-ordered hashes, or null.
            idx = pc.index_in(flat, value_set=value_set)
            valid = pc.is_valid(idx).to_numpy(zero_copy_only=False)
            # New offsets: kept tokens before each list boundary (cumsum, no loops).
            kept_before = np.concatenate([[0], np.cumsum(valid, dtype=np.int64)])
            new_offsets = kept_before[offsets]
            ids = idx.filter(pa.array(valid)).cast(pa.int32())
            lengths = np.diff(new_offsets)
            keep_rows = np.flatnonzero(lengths > 0)
            acc["pieces_empty"].add(len(lengths) - len(keep_rows))
            acc["pieces"].add(len(keep_rows))
            if len(keep_rows) == 0:
                continue
            lists = pa.ListArray.from_arrays(pa.array(new_offsets.astype(np.int32)), ids)
            rows = pa.array(keep_rows)
            yield pa.RecordBatch.from_arrays(
                [batch.column("line_id").take(rows), batch.column("piece").take(rows), lists.take(rows)],
                schema=CORPUS_ARROW,
            )

    return encode


class HashCollisionError(ValueError):
    """Two distinct words share a token hash, and one of them is kept."""


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
    ranked, shared = select_vocab(tokens, cfg.vocab.min_count, cfg.vocab.max_size, cfg.sgns.sample, totals)
    if ranked.num_rows == 0:
        raise EmptyVocabularyError(
            f"the vocabulary is empty: no word occurs vocab.min_count={cfg.vocab.min_count} times "
            f"in {cfg.input.path!r}; lower vocab.min_count or give a larger corpus"
        )
    # The kept words' hashes in id order, one Arrow array: what the encoder
    # ships to every executor (8 bytes per kept word).
    kept_hashes = ranked.column("hash").combine_chunks()
    collided = np.intersect1d(shared, kept_hashes.to_numpy())
    if len(collided):
        raise HashCollisionError(
            f"distinct words share a 64-bit token hash: {colliding_words(tokens, collided[:5].tolist())} "
            f"(rare: about n²/2⁶⁵ for n distinct words); re-run ingest with another input.hash_seed "
            f"(now {cfg.input.hash_seed}) to separate them"
        )
    ranked = ranked.drop_columns(["hash"])
    words = ranked.column("word")
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
    shared_hashes = share(spark, kept_hashes)
    try:
        # Straight from the encoder to the commit, no cache: the piece counts
        # arrive with the write job, so they go to the run summary only.
        pieces = tokens.where(F.col("hashes").isNotNull()).select("line_id", "piece", "hashes")
        corpus = pieces.mapInArrow(make_encoder(shared_hashes, acc), tables.CORPUS)
        tables.write(corpus, root, "corpus", metadata=meta)
        stats.update({k: c.value for k, c in acc.items()})
        n_pieces = stats["pieces"]
    finally:
        shared_hashes.release()
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
