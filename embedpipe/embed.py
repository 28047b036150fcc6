"""``embedpipe embed``: a vector for each text of a table or file, from a model's word vectors.

``embedpipe embed CONF [--method mean|tfidf|sif]`` reads the texts of
``embed.input`` (as ``embed.format`` says: text files with ``.gz``/``.bz2``,
Parquet, Delta, JSON lines, or a DataFrame from Python; empty: the run's own
corpus, as ``input.*`` reads it), cleans and tokenizes them with the run's
``clean`` options (the ingest stage's own functions, so a text's words are
spelled as the vocabulary's), and writes the ``doc_vectors`` table under
``output.path``: one row per text, ``doc_id`` (the text's position in the
input as Spark reads it: a line's number in a single text file), the
``embed.key_columns``, ``vector`` (array<float>) and ``tokens_used`` (the
tokens that have a word vector). A text without such a token gets a null
vector; it is counted, never dropped.

The word vectors are model ``embed.model`` of the ``vectors`` table under
``embed.vectors`` (empty: ``output.path``). Up to ``embed.broadcast_mb`` they
are shipped to every executor once (a broadcast) and each task pools its
texts' vectors in place, with no shuffle. Larger vocabularies meet the texts
in a join: each text's distinct words are joined to their vectors, and the
rows of a text, brought together by a shuffle on ``doc_id``, are summed.

Methods (``embed.method``; the arithmetic is :mod:`embedpipe.kernels.sentences`):

- ``mean``: the mean of the known tokens' vectors.
- ``tfidf``: tokens weighted by their word's smoothed IDF over the texts
  themselves, ``ln((1 + N) / (1 + df)) + 1``; the document frequencies are
  counted on the executors and summed by Spark, one pass before the vectors.
- ``sif`` (Arora, Liang and Ma, ICLR 2017): tokens weighted by
  ``a / (a + p(w))`` (``embed.sif_a``), ``p(w)`` the word's share of the
  ``vocab`` table's counts (the vectors' own counts when the run folder has
  no vocab table), summed over the text's known tokens ``|s|``; then each
  text loses its projection on the first principal component of all texts'
  vectors. Each partition sums its texts' ``v vᵀ`` (a d x d matrix), Spark
  adds those up in a tree, and the driver takes the top eigenvector of the
  sum: no text vector ever reaches the driver. The texts are read and pooled
  twice (for the component, then for the write), instead of cached.

The stage ends with one log line: texts, texts without a known word, tokens
and known tokens (Spark accumulators: a retried task may count twice).
"""

from __future__ import annotations

import glob
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.utils import AnalysisException

from embedpipe import distributed, paths, tables
from embedpipe.batches import string_buffers
from embedpipe.cleaning import clean_tokens, given_tokens
from embedpipe.config import CleanConfig, PipelineConfig
from embedpipe.errors import ConfigError, InputError, TableError
from embedpipe.kernels.lookup import build_word_table, encode_texts
from embedpipe.kernels.sentences import (
    average,
    first_component,
    idf_weights,
    pool,
    remove_component,
    second_moment,
    sif_weights,
)
from embedpipe.stage import StageResult, new_run_id

__all__ = ["METHODS", "TextSource", "check", "format_report", "run"]

log = logging.getLogger(__name__)

METHODS = ("mean", "tfidf", "sif")
COUNTER_NAMES = ("texts", "texts_without_known_words", "tokens", "tokens_used")
# Columns the stage adds; a key column may not take these names.
OWN_COLUMNS = ("doc_id", "vector", "tokens_used")
TOKEN_SEPARATOR = " "  # tokens never hold whitespace, so joined texts split back exactly
# Intermediate rows: the pooled (weighted) sum of a text's vectors, before the division.
POOLED = [
    T.StructField("sums", T.ArrayType(T.DoubleType()), True),
    T.StructField("weight_sum", T.DoubleType(), False),
    T.StructField("tokens_used", T.IntegerType(), False),
    T.StructField("tokens", T.IntegerType(), False),
]
# monotonically_increasing_id(): the partition in the upper 31 bits, the row within it in the lower 33.
_ROW_BITS = 33


@dataclass(frozen=True)
class TextSource:
    """Where the texts come from: ``path`` read as ``format``, the text in ``column``, ``keys`` carried along."""

    path: str
    format: str
    column: str
    keys: tuple[str, ...]


def check(cfg: PipelineConfig, source: DataFrame | None = None) -> TextSource:
    """The texts to embed, checked before Spark starts.

    Raises
    ------
    ConfigError
        No input, an input that does not exist, key columns that cannot be,
        a DataFrame without ``embed.format: dataframe`` (or the reverse), or a
        local run folder without a vectors table.
    """
    e = cfg.embed
    if e.input or e.format == "dataframe":
        src = TextSource(e.input, e.format, e.text_column, tuple(e.key_columns))
        what = "embed.input"
    else:  # the run's own corpus
        src = TextSource(cfg.input.path, cfg.input.format, cfg.input.column, tuple(e.key_columns))
        what = "input.path (embed.input is empty)"
    if (src.format == "dataframe") != (source is not None):
        if source is None:
            raise ConfigError(
                "embed.format 'dataframe' embeds the DataFrame given to embedpipe.embed.run(spark, cfg, source=df); "
                "from the command line set embed.input to a file or table of texts and embed.format to its format"
            )
        raise ConfigError(f"a DataFrame was given but embed.format is {src.format!r}; set embed.format to 'dataframe'")
    if src.format != "dataframe":
        if not src.path:
            raise ConfigError(
                "embed.input is empty and so is input.path: set embed.input to the file, folder or table of "
                "texts to embed (e.g. --set embed.input=texts.txt.gz)"
            )
        local = paths.local_path(src.path)
        if local is not None and not (glob.glob(local) if any(c in local for c in "*?[") else os.path.exists(local)):
            raise ConfigError(f"{what} {src.path!r} does not exist; point embed.input at a file, folder or table")
    if src.keys:
        if src.format == "text":
            raise ConfigError(
                "embed.key_columns: a text file's lines have no columns (doc_id is the line's position); "
                "read parquet, delta, jsonl or a DataFrame to carry keys, or leave embed.key_columns empty"
            )
        clash = [k for k in src.keys if k in OWN_COLUMNS or k == src.column]
        if clash or len(set(src.keys)) != len(src.keys):
            raise ConfigError(
                f"embed.key_columns {list(src.keys)}: each key once, and none of {[*OWN_COLUMNS, src.column]} "
                "(the stage's own columns and the text)"
            )
    root = e.vectors or cfg.output.path
    local_root = paths.local_path(root)
    if local_root is not None and not os.path.isdir(os.path.join(local_root, "vectors", "_delta_log")):
        raise ConfigError(
            f"no vectors table under {root}; set embed.vectors (or output.path) to the folder of a run that "
            f"trained {e.model!r}, or train it first (embedpipe run CONF)"
        )
    return src


# ---------------------------------------------------------------------------
# reading the texts


def _read(spark: SparkSession, src: TextSource, source: DataFrame | None) -> DataFrame:
    """DataFrame[keys..., text] of the input, the text as Spark holds it (string or array<string>)."""
    try:
        if src.format == "dataframe":
            assert source is not None
            df, where = source, "the DataFrame"
        elif src.format == "text":
            return spark.read.text(src.path).select(F.col("value").alias("_text"))
        elif src.format == "jsonl":
            fields = ", ".join(f"`{c}` STRING" for c in (src.column, *src.keys))
            df, where = spark.read.schema(fields).json(src.path), src.path
        else:
            df, where = spark.read.format(src.format).load(src.path), src.path
    except AnalysisException as exc:
        if "PATH_NOT_FOUND" in str(exc) or "does not exist" in str(exc):
            raise InputError(f"embed input {src.path!r} does not exist ({src.format}); check embed.input") from exc
        raise
    missing = [c for c in (src.column, *src.keys) if c not in df.columns]
    if missing:
        raise InputError(f"columns {missing} are not in {where}; its columns are {df.columns} (embed.text_column, "
                         "embed.key_columns)")  # fmt: skip
    return df.select(*src.keys, F.col(src.column).alias("_text"))


def _is_token_array(df: DataFrame) -> bool:
    return df.schema["_text"].dataType.simpleString() == "array<string>"


def read_texts(spark: SparkSession, src: TextSource, source: DataFrame | None = None) -> tuple[DataFrame, int]:
    """(DataFrame[doc_id long, keys..., _text], the number of texts).

    ``doc_id`` counts the texts 0..N-1 in the order Spark reads them: a count
    per partition (one job), then each partition's offset plus the row's
    place in it. Texts are made valid UTF-8 (bad bytes become U+FFFD), as
    ingest does, so the Arrow cleaning passes see valid strings.
    """
    df = _read(spark, src, source)
    text = F.col("_text")
    valid = F.transform(text, F.make_valid_utf8) if _is_token_array(df) else F.make_valid_utf8(text.cast("string"))
    df = df.select(*src.keys, valid.alias("_text")).withColumn("_mid", F.monotonically_increasing_id())
    part = F.shiftright(F.col("_mid"), _ROW_BITS)
    sizes = sorted((int(r["p"]), int(r["count"])) for r in df.groupBy(part.alias("p")).count().collect())
    offsets, total = [], 0
    for p, n in sizes:
        offsets += [F.lit(p).cast("long"), F.lit(total).cast("long")]
        total += n
    start = F.element_at(F.create_map(*offsets), part) if offsets else F.lit(0)
    doc_id = (start + F.col("_mid").bitwiseAND(F.lit((1 << _ROW_BITS) - 1))).cast("long")
    return df.select(doc_id.alias("doc_id"), *src.keys, "_text"), total


def tokenize_batch(texts: pa.Array, opts: CleanConfig, given: bool) -> pa.Array:
    """The texts' tokens as one string each, joined by single spaces (the ingest stage's cleaning)."""
    tokens = given_tokens(texts) if given else clean_tokens(texts, opts)
    joined = pc.binary_join(tokens, TOKEN_SEPARATOR)
    return pc.fill_null(joined.cast(pa.string()) if not pa.types.is_string(joined.type) else joined, "")


def _token_counts(joined: pa.Array) -> np.ndarray:
    spaces = pc.count_substring(joined, TOKEN_SEPARATOR).to_numpy(zero_copy_only=False)
    lengths = pc.binary_length(joined).to_numpy(zero_copy_only=False)
    return np.where(lengths > 0, spaces + 1, 0).astype(np.int64)


# ---------------------------------------------------------------------------
# the word vectors and their weights


@dataclass
class Vocabulary:
    """The model's words, vectors and counts on the driver (the broadcast path)."""

    words: pa.Array
    matrix: np.ndarray
    counts: np.ndarray


def _vectors_frame(spark: SparkSession, root: str, model: str) -> DataFrame:
    return tables.read(spark, root, "vectors").filter(F.col("model") == model).select("word", "vector", "count")


def _model_size(spark: SparkSession, root: str, model: str) -> tuple[int, int]:
    """(words, dim) of ``model``, from its commit's metadata when it has them, else by a job."""
    meta = tables.latest_metadata(spark, root, "vectors", model=model) or {}
    if meta.get("vocab_size") and meta.get("dim"):
        return int(meta["vocab_size"]), int(meta["dim"])
    df = _vectors_frame(spark, root, model)
    row = df.select(F.count("*").alias("n"), F.max(F.size("vector")).alias("dim")).first()
    assert row is not None  # an aggregate without grouping has one row
    return int(row["n"] or 0), int(row["dim"] or 0)


def _vocab_counts(spark: SparkSession, root: str) -> DataFrame | None:
    """(word, count) of the run's vocab table, None where the run has none (imported vectors)."""
    if not tables.exists(spark, tables.table_path(root, "vocab")):
        return None
    return tables.read(spark, root, "vocab").select("word", F.col("count").alias("vocab_count"))


def _word_counts(spark: SparkSession, root: str, vectors: DataFrame) -> DataFrame:
    """vectors with the count SIF reads: the vocab table's where the run has one, else the vectors' own."""
    vocab = _vocab_counts(spark, root)
    if vocab is None:
        return vectors
    return vectors.join(vocab, "word", "left").select(
        "word", "vector", F.coalesce("vocab_count", F.lit(0)).cast("long").alias("count")
    )


def _load_vocabulary(spark: SparkSession, root: str, model: str, *, sif: bool) -> Vocabulary:
    vectors = _vectors_frame(spark, root, model)
    t = (_word_counts(spark, root, vectors) if sif else vectors).toArrow()
    if t.num_rows == 0:
        raise TableError(f"no vectors for model {model!r} under {root}; set embed.model to a model the table holds")
    vec = t.column("vector").combine_chunks()
    dim = len(vec[0].values)
    matrix = vec.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(t.num_rows, dim)
    return Vocabulary(t.column("word").combine_chunks(), matrix, t.column("count").to_numpy().astype(np.int64))


def _sif_weights(counts: np.ndarray, a: float, model: str) -> np.ndarray:
    try:
        return sif_weights(counts, a)
    except ValueError as exc:
        raise InputError(
            f"embed.method sif: the words of {model!r} have no counts (no vocab table beside the vectors, and "
            "imported vectors carry none); use --method mean or tfidf, or set embed.vectors to the run that "
            "counted them"
        ) from exc


# ---------------------------------------------------------------------------
# the broadcast path: every task holds the vectors and pools its texts in place


def _rows_of(words: pa.Array) -> Callable[[pa.Array], tuple[np.ndarray, np.ndarray]]:
    """A task's lookup: joined token texts -> (text index, word row) of every known token."""
    word_bytes, word_offsets = string_buffers(words)
    table = build_word_table(word_bytes, word_offsets)
    sep = ord(TOKEN_SEPARATOR)

    def lookup(joined: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        data, offsets = string_buffers(joined)
        ids, text_offsets = encode_texts(data, offsets, sep, word_bytes, word_offsets, table)
        doc = np.repeat(np.arange(len(joined), dtype=np.int64), np.diff(text_offsets))
        return doc, ids.astype(np.int64)

    return lookup


def _doc_freq_pass(texts: DataFrame, shared: distributed.Shared, opts: CleanConfig, given: bool) -> np.ndarray:
    """How many texts hold each word row: counted per task, summed by Spark, collected (one value per word)."""
    schema = T.StructType([T.StructField("row", T.LongType()), T.StructField("df", T.LongType())])

    def count(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        words, matrix = shared.value
        lookup = _rows_of(words)
        freq = np.zeros(len(matrix), dtype=np.int64)
        for batch in batches:
            doc, rows = lookup(tokenize_batch(batch.column("_text"), opts, given))
            pairs = np.unique(doc * len(matrix) + rows)  # each word once per text
            freq += np.bincount(pairs % len(matrix), minlength=len(matrix))
        seen = np.flatnonzero(freq)
        yield pa.RecordBatch.from_arrays([pa.array(seen), pa.array(freq[seen])], names=["row", "df"])

    sums = texts.select("_text").mapInArrow(count, schema).groupBy("row").agg(F.sum("df").alias("df")).toArrow()
    n_words = len(shared.value[1])
    freq = np.zeros(n_words, dtype=np.int64)
    freq[sums.column("row").to_numpy()] = sums.column("df").to_numpy()
    return freq


def _pooled_schema(texts: DataFrame, keys: tuple[str, ...]) -> T.StructType:
    return T.StructType([texts.schema["doc_id"], *[texts.schema[k] for k in keys], *POOLED])


def _pooled_batch(batch: pa.RecordBatch, keys: tuple[str, ...], sums: np.ndarray, weight_sum: np.ndarray,
                  used: np.ndarray, tokens: np.ndarray) -> pa.RecordBatch:  # fmt: skip
    n, dim = sums.shape
    offsets = pa.array(np.arange(0, n * dim + 1, dim, dtype=np.int32))
    lists = pa.ListArray.from_arrays(offsets, pa.array(sums.reshape(-1), pa.float64()), mask=pa.array(used == 0))
    cols = [batch.column("doc_id"), *[batch.column(k) for k in keys]]
    extra = [lists, pa.array(weight_sum), pa.array(used.astype(np.int32)), pa.array(tokens.astype(np.int32))]
    return pa.RecordBatch.from_arrays(cols + extra, names=["doc_id", *keys, "sums", "weight_sum", "tokens_used",
                                                           "tokens"])  # fmt: skip


def _pool_broadcast(texts: DataFrame, keys: tuple[str, ...], shared: distributed.Shared,
                    weights: distributed.Shared, opts: CleanConfig, given: bool) -> DataFrame:  # fmt: skip
    def pool_texts(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        words, matrix = shared.value
        w = weights.value
        lookup = _rows_of(words)
        for batch in batches:
            joined = tokenize_batch(batch.column("_text"), opts, given)
            doc, rows = lookup(joined)
            sums, wsum, used = pool(doc, rows, np.ones(len(doc), np.int64), matrix, w, batch.num_rows)
            yield _pooled_batch(batch, keys, sums, wsum, used, _token_counts(joined))

    return texts.mapInArrow(pool_texts, _pooled_schema(texts, keys))


# ---------------------------------------------------------------------------
# the join path: the vectors stay a table; each text's words are joined to theirs


def _term_frame(texts: DataFrame, keys: tuple[str, ...], opts: CleanConfig, given: bool) -> DataFrame:
    """DataFrame[doc_id, keys..., words array<string>, tokens int]: each text's tokens."""

    def split(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            joined = tokenize_batch(batch.column("_text"), opts, given)
            tokens = pc.split_pattern(joined, TOKEN_SEPARATOR)
            tokens = pc.if_else(pc.equal(joined, ""), pa.scalar([], tokens.type), tokens)
            yield pa.RecordBatch.from_arrays(
                [batch.column("doc_id"), *[batch.column(k) for k in keys], tokens,
                 pa.array(_token_counts(joined).astype(np.int32))],
                names=["doc_id", *keys, "words", "tokens"],
            )  # fmt: skip

    schema = T.StructType([texts.schema["doc_id"], *[texts.schema[k] for k in keys],
                           T.StructField("words", T.ArrayType(T.StringType())),
                           T.StructField("tokens", T.IntegerType(), False)])  # fmt: skip
    return texts.mapInArrow(split, schema)


def _sum_runs(dim: int) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """mapInArrow over (doc_id, times, vector, weight) rows sorted by doc_id: one row of sums per text.

    A text's rows may straddle two batches; its partial sums wait for the next batch.
    """

    def sums_of(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        carry: tuple[int, np.ndarray, float, int] | None = None
        for batch in batches:
            if batch.num_rows == 0:
                continue
            docs = batch.column("doc_id").to_numpy()
            ids, inverse = np.unique(docs, return_inverse=True)
            matrix = batch.column("vector").flatten().to_numpy(zero_copy_only=False).reshape(-1, dim)
            weights = batch.column("weight").to_numpy(zero_copy_only=False).astype(np.float64)
            rows = np.arange(batch.num_rows, dtype=np.int64)
            times = batch.column("times").to_numpy().astype(np.int64)
            sums, wsum, used = pool(inverse, rows, times, matrix, weights, len(ids))
            if carry is not None:
                if carry[0] == ids[0]:
                    sums[0] += carry[1]
                    wsum[0] += carry[2]
                    used[0] += carry[3]
                else:
                    yield _sums_batch(np.array([carry[0]]), carry[1][None], np.array([carry[2]]), np.array([carry[3]]))
            carry = (int(ids[-1]), sums[-1].copy(), float(wsum[-1]), int(used[-1]))
            if len(ids) > 1:
                yield _sums_batch(ids[:-1], sums[:-1], wsum[:-1], used[:-1])
        if carry is not None:
            yield _sums_batch(np.array([carry[0]]), carry[1][None], np.array([carry[2]]), np.array([carry[3]]))

    return sums_of


def _sums_batch(ids: np.ndarray, sums: np.ndarray, wsum: np.ndarray, used: np.ndarray) -> pa.RecordBatch:
    n, dim = sums.shape
    offsets = pa.array(np.arange(0, n * dim + 1, dim, dtype=np.int32))
    return pa.RecordBatch.from_arrays(
        [pa.array(ids, pa.int64()), pa.ListArray.from_arrays(offsets, pa.array(sums.reshape(-1), pa.float64())),
         pa.array(wsum, pa.float64()), pa.array(used.astype(np.int32))],
        names=["doc_id", "sums", "weight_sum", "tokens_used"],
    )  # fmt: skip


def _pool_join(spark: SparkSession, texts: DataFrame, keys: tuple[str, ...], n_texts: int, cfg: PipelineConfig,
               root: str, dim: int, opts: CleanConfig, given: bool) -> DataFrame:  # fmt: skip
    e = cfg.embed
    terms = _term_frame(texts, keys, opts, given)
    by_word = terms.select("doc_id", F.explode("words").alias("word")).groupBy("doc_id", "word")
    counted = by_word.agg(F.count("*").cast("long").alias("times"))
    vectors = _vectors_frame(spark, root, e.model)
    # The weights are the kernels' formulas (embedpipe.kernels.sentences), written as column expressions.
    if e.method == "mean":
        weighted = vectors.select("word", "vector", F.lit(1.0).alias("weight"))
    elif e.method == "sif":
        with_counts = _word_counts(spark, root, vectors)
        summed = with_counts.agg(F.sum("count")).first()
        total = (summed[0] if summed is not None else 0) or 0
        if total <= 0:
            _sif_weights(np.zeros(1), e.sif_a, e.model)  # raises, with the advice
        p = F.col("count").cast("double") / F.lit(float(total))
        weighted = with_counts.select("word", "vector", (F.lit(e.sif_a) / (F.lit(e.sif_a) + p)).alias("weight"))
    else:
        df = counted.groupBy("word").agg(F.count("*").alias("df"))
        idf = F.log((F.lit(1.0 + n_texts)) / (F.lit(1.0) + F.col("df").cast("double"))) + F.lit(1.0)
        weighted = vectors.join(df, "word").select("word", "vector", idf.alias("weight"))
    joined = counted.join(weighted, "word").select("doc_id", "times", "vector", "weight")
    parts = max(1, distributed.default_parallelism(spark))
    sums = (
        joined.repartition(parts, "doc_id")
        .sortWithinPartitions("doc_id")
        .mapInArrow(_sum_runs(dim), "doc_id long, sums array<double>, weight_sum double, tokens_used int")
    )
    pooled = terms.select("doc_id", *keys, "tokens").join(sums, "doc_id", "left").select(
        "doc_id", *keys, "sums", F.coalesce("weight_sum", F.lit(0.0)).alias("weight_sum"),
        F.coalesce("tokens_used", F.lit(0)).alias("tokens_used"), "tokens",
    )  # fmt: skip
    return pooled


# ---------------------------------------------------------------------------
# from sums to vectors


def _averages(batch: pa.RecordBatch, method: str, dim: int) -> np.ndarray:
    """The batch's text vectors before SIF's removal (NaN rows: no known word)."""
    used = batch.column("tokens_used").to_numpy(zero_copy_only=False).astype(np.int64)
    sums_col = batch.column("sums")
    sums = np.zeros((batch.num_rows, dim), dtype=np.float64)
    valid = ~np.asarray(sums_col.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    if valid.any():
        sums[valid] = sums_col.filter(pa.array(valid)).flatten().to_numpy(zero_copy_only=False).reshape(-1, dim)
    # SIF divides by the text's length |s| (Arora et al.'s Algorithm 1); mean and tfidf by the weights' sum.
    divisor = used if method == "sif" else batch.column("weight_sum").to_numpy(zero_copy_only=False)
    return average(sums, np.where(valid, divisor, 0))


def _moment(pooled: DataFrame, method: str, dim: int) -> np.ndarray:
    """``sum v vᵀ`` over every text's vector: one d x d per partition, added up in a tree by Spark."""

    def moments(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        total = np.zeros((dim, dim), dtype=np.float64)
        for batch in batches:
            total += second_moment(_averages(batch, method, dim))
        yield pa.RecordBatch.from_arrays([pa.array([total.tobytes()], pa.binary())], names=["moment"])

    per_task = pooled.select("sums", "weight_sum", "tokens_used").mapInArrow(moments, "moment binary")
    return np.asarray(distributed.tree_sum(per_task, "moment", (dim, dim)))


def _finish(pooled: DataFrame, keys: tuple[str, ...], method: str, dim: int, u: np.ndarray | None,
            acc: dict[str, distributed.Counter]) -> DataFrame:  # fmt: skip
    schema = T.StructType([pooled.schema["doc_id"], *[pooled.schema[k] for k in keys],
                           *[f for f in tables.DOC_VECTORS.fields if f.name != "doc_id"]])  # fmt: skip

    def finish(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            vectors = _averages(batch, method, dim)
            if u is not None:
                vectors = remove_component(vectors, u)
            empty = np.isnan(vectors).any(axis=1) if dim else np.ones(batch.num_rows, bool)
            n = batch.num_rows
            acc["texts"].add(n)
            acc["texts_without_known_words"].add(int(empty.sum()))
            acc["tokens"].add(int(pc.sum(batch.column("tokens")).as_py() or 0))
            acc["tokens_used"].add(int(pc.sum(batch.column("tokens_used")).as_py() or 0))
            flat = np.nan_to_num(vectors, nan=0.0).astype(np.float32).reshape(-1)
            lists = pa.ListArray.from_arrays(
                pa.array(np.arange(0, n * dim + 1, dim, dtype=np.int32)), pa.array(flat, pa.float32()),
                mask=pa.array(empty),
            )  # fmt: skip
            cols = [batch.column("doc_id"), *[batch.column(k) for k in keys], lists, batch.column("tokens_used")]
            yield pa.RecordBatch.from_arrays(cols, names=["doc_id", *keys, "vector", "tokens_used"])

    return pooled.mapInArrow(finish, schema)


# ---------------------------------------------------------------------------
# the stage


def run(
    spark: SparkSession, cfg: PipelineConfig, *, source: DataFrame | None = None, method: str | None = None
) -> StageResult:
    """Embed the texts and write the ``doc_vectors`` table under ``output.path``.

    Parameters
    ----------
    source : DataFrame, optional
        The texts when ``embed.format`` is ``dataframe`` (and only then).
    method : {"mean", "tfidf", "sif"}, optional
        Instead of ``embed.method``.

    Raises
    ------
    ConfigError
        See :func:`check`; an unknown method.
    InputError
        Columns the input lacks; SIF without word counts.
    TableError
        No such model in the vectors table.
    """
    t0 = time.perf_counter()
    method = method or cfg.embed.method
    if method not in METHODS:
        raise ConfigError(f"embed method must be one of {list(METHODS)}, got {method!r}")
    src = check(cfg, source)
    e, opts = cfg.embed, cfg.clean
    root = e.vectors or cfg.output.path
    n_words, dim = _model_size(spark, root, e.model)
    if n_words == 0:
        raise TableError(f"no vectors for model {e.model!r} under {root}; set embed.model to a model the table holds")
    model_mb = n_words * dim * 4 / 2**20
    broadcast = model_mb <= e.broadcast_mb
    texts, n_texts = read_texts(spark, src, source)
    given = _is_token_array(texts)
    log.info(
        "embed: %d texts, method %s, model %s (%d words, dim %d, %.0f MB) %s",
        n_texts, method, e.model, n_words, dim, model_mb,
        "shipped to every executor" if broadcast else f"joined (over embed.broadcast_mb={e.broadcast_mb})",
    )  # fmt: skip
    acc = distributed.counters(spark, *COUNTER_NAMES)
    released: list[distributed.Shared[Any]] = []
    try:
        if broadcast:
            vocab = _load_vocabulary(spark, root, e.model, sif=method == "sif")
            shared = distributed.share(spark, (vocab.words, vocab.matrix))
            released.append(shared)
            if method == "mean":
                weights = np.ones(len(vocab.matrix))
            elif method == "sif":
                weights = _sif_weights(vocab.counts, e.sif_a, e.model)
            else:
                weights = idf_weights(_doc_freq_pass(texts, shared, opts, given), n_texts)
            shared_weights = distributed.share(spark, weights)
            released.append(shared_weights)
            pooled = _pool_broadcast(texts, src.keys, shared, shared_weights, opts, given)
        else:
            pooled = _pool_join(spark, texts, src.keys, n_texts, cfg, root, dim, opts, given)
        u = first_component(_moment(pooled, method, dim)) if method == "sif" else None
        out = _finish(pooled, src.keys, method, dim, u, acc)
        run_id = new_run_id()
        meta = {
            "stage": "embed", "run_id": run_id, "method": method, "model": e.model, "vectors": root,
            "input": {"path": src.path, "format": src.format, "column": src.column}, "broadcast": broadcast,
            "config": {k: cfg.to_dict()[k] for k in ("embed", "clean")},
        }  # fmt: skip
        tables.write(out, cfg.output.path, "doc_vectors", metadata=meta, key_columns=src.keys)
    finally:
        for s in released:
            s.release()
    stats: dict[str, Any] = {k: c.value for k, c in acc.items()}
    stats.update(method=method, model=e.model, dim=dim, broadcast=broadcast,
                 table=paths.join(cfg.output.path, "doc_vectors"))  # fmt: skip
    seconds = time.perf_counter() - t0
    log.info(
        "embed: %d texts (%d without a known word: null vectors), %d of %d tokens known, method %s (%.1f s)",
        stats["texts"], stats["texts_without_known_words"], stats["tokens_used"], stats["tokens"], method, seconds,
    )  # fmt: skip
    return StageResult("embed", run_id, seconds, rows=stats["texts"], work=stats["texts"], unit="texts", stats=stats)


def format_report(stats: dict[str, Any]) -> str:
    """The readable report of :func:`run`'s stats."""
    share = stats["tokens_used"] / stats["tokens"] if stats["tokens"] else 0.0
    how = "shipped to the executors" if stats["broadcast"] else "joined to the texts"
    return "\n".join([
        f"embedded {stats['texts']} texts with {stats['method']} over {stats['model']} (dim {stats['dim']}, {how})",
        f"known tokens: {stats['tokens_used']} of {stats['tokens']} ({share:.1%})",
        f"texts without a known word (null vector): {stats['texts_without_known_words']}",
        f"wrote {stats['table']}",
    ])  # fmt: skip
