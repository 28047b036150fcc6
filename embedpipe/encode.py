"""Encode: the corpus as vocabulary ids.

Reads the ``tokens`` table's pieces and the ``vocab`` table and writes

``corpus`` (line_id, piece, ids)
    Every piece as int32 ids, out-of-vocabulary tokens removed *before* any
    windowing (as word2vec and GloVe's ``cooccur`` do). Empty pieces vanish.

The kept words come to the driver once, in id order, as one Arrow array and
are shipped to the executors (pickled Arrow buffers, no Python strings).
Each task builds one hash table of their bytes and looks every token up
straight from the pieces' text bytes (numba, embedpipe.kernels.lookup; no
string per token).

The ids index one version of ``vocab``, so the commit records that version
(``vocab_version``). The readers of the ids (cooccur, sgns, and glove through
``cooccurrence``) check it with :func:`embedpipe.tables.vocab_version_of` and
refuse a corpus whose vocabulary has since been rebuilt, rather than train on
ids that now name other words.

Run it alone with ``embedpipe encode conf/demo.yaml``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from embedpipe import tables
from embedpipe.batches import coalesce_batches, string_buffers
from embedpipe.config import PipelineConfig
from embedpipe.distributed import counters, share
from embedpipe.kernels.lookup import build_word_table, encode_texts
from embedpipe.stage import StageResult, new_run_id

log = logging.getLogger(__name__)

# Pieces are tokens joined by this one byte.
SEPARATOR_BYTE = ord(tables.TOKEN_SEPARATOR)

CORPUS_ARROW = pa.schema([("line_id", pa.int64()), ("piece", pa.int32()), ("ids", pa.list_(pa.int32()))])

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
            acc["tokens_kept"].add(int(lengths.sum()))
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
    """Encode stage: write ``corpus`` from ``tokens`` and the newest ``vocab``."""
    t0 = time.perf_counter()
    root = cfg.output.path
    tokens = tables.read(spark, root, "tokens")
    # Pinned: a vocab rebuilt while this runs must not mix into these ids.
    vocab_version = tables.current_version(spark, root, "vocab")
    vocab = tables.read(spark, root, "vocab", version=vocab_version)  # names the stage to run if missing
    assert vocab_version is not None
    words = tables.by_id(vocab.select("id", "word").toArrow()).column("word").combine_chunks()
    run_id = new_run_id()
    acc = counters(spark, "pieces", "pieces_empty", "tokens_kept")
    shared_words = share(spark, words)
    try:
        # Straight from the encoder to the commit, no cache: the counts arrive
        # with the write job, so they go to the stage result and run summary.
        pieces = tokens.where(F.col("text").isNotNull()).select("line_id", "piece", "text")
        corpus = pieces.mapInArrow(make_encoder(shared_words, acc), tables.CORPUS)
        meta = {"stage": "encode", "run_id": run_id, "config": cfg.to_dict(), "vocab_version": vocab_version}
        tables.write(corpus, root, "corpus", metadata=meta)
    finally:
        shared_words.release()
    stats: dict[str, Any] = {"vocab_version": vocab_version, **{k: c.value for k, c in acc.items()}}
    seconds = time.perf_counter() - t0
    log.info(
        "encode: %d pieces (%d emptied by OOV removal), %d tokens as ids of vocab version %d (%.1f s)",
        stats["pieces"],
        stats["pieces_empty"],
        stats["tokens_kept"],
        vocab_version,
        seconds,
    )
    return StageResult(
        "encode", run_id, seconds, rows=stats["pieces"], work=stats["tokens_kept"], unit="words", stats=stats
    )
