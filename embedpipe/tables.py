"""The tables stages talk through: fixed schemas, atomic writes, metadata.

Every stage reads tables and writes one Delta table version per output in a
single commit (``mode=overwrite`` or ``replaceWhere``), so a failed stage never
leaves a half-written version behind and the previous version stays readable.
Each commit carries the stage's metadata as Delta ``userMetadata`` (JSON):
stage, run id, effective config, input fingerprint and statistics. Readers
check the schema and can fetch that metadata back.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import unquote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

# FORMAT_VERSION lives in embedpipe/__init__.py so that Vectors.from_table checks it without pyspark.
from embedpipe import FORMAT_VERSION, distributed, paths
from embedpipe.errors import StaleTableError, TableError

log = logging.getLogger(__name__)

# The tokens of a piece are joined by this in ``tokens.text`` (no token
# contains whitespace): ingest writes it, encode splits on it.
TOKEN_SEPARATOR = " "

# Ingest's output, two kinds of rows in one table (one atomic commit):
# * a piece row per sentence piece (line_id, piece, text; word and count null);
# * after each ingest task's pieces, a word row per distinct word it saw
#   (word, count; the piece columns null). The vocab stage sums these instead
#   of reading and splitting the text again.
TOKENS = T.StructType(
    [
        T.StructField("line_id", T.LongType(), True),
        T.StructField("piece", T.IntegerType(), True),
        # The piece's tokens joined by single spaces. Tokens never contain
        # whitespace, so splitting on " " gives them back exactly; one string
        # per piece costs Spark a fraction of an array of strings per piece.
        T.StructField("text", T.StringType(), True),
        T.StructField("word", T.StringType(), True),
        T.StructField("count", T.LongType(), True),
    ]
)
VOCAB = T.StructType(
    [
        T.StructField("word", T.StringType(), False),
        T.StructField("id", T.IntegerType(), False),
        T.StructField("count", T.LongType(), False),
        # unigram^0.75 noise distribution for negative sampling (sums to 1).
        T.StructField("noise_prob", T.DoubleType(), False),
    ]
)
CORPUS = T.StructType(
    [
        T.StructField("line_id", T.LongType(), False),
        T.StructField("piece", T.IntegerType(), False),
        T.StructField("ids", T.ArrayType(T.IntegerType()), False),
    ]
)
COOCCURRENCE = T.StructType(
    [
        T.StructField("shard", T.IntegerType(), False),
        T.StructField("i", T.IntegerType(), False),
        T.StructField("j", T.IntegerType(), False),
        T.StructField("x", T.FloatType(), False),
    ]
)
VECTORS = T.StructType(
    [
        T.StructField("model", T.StringType(), False),
        T.StructField("run_id", T.StringType(), False),
        T.StructField("word", T.StringType(), False),
        # Frequency rank (the vocab id): exports and analogy restriction use it.
        T.StructField("id", T.IntegerType(), False),
        T.StructField("vector", T.ArrayType(T.FloatType()), False),
        T.StructField("count", T.LongType(), False),
    ]
)
# Every word's nearest words by cosine (the neighbors stage), partitioned by
# model like vectors; run_id is the vectors' run the neighbours were found in.
NEIGHBORS = T.StructType(
    [
        T.StructField("model", T.StringType(), False),
        T.StructField("run_id", T.StringType(), False),
        T.StructField("word", T.StringType(), False),
        T.StructField("id", T.IntegerType(), False),
        # 1 = the nearest; ties in similarity go to the lower (more frequent) id.
        T.StructField("rank", T.IntegerType(), False),
        T.StructField("neighbor", T.StringType(), False),
        T.StructField("neighbor_id", T.IntegerType(), False),
        T.StructField("similarity", T.FloatType(), False),
    ]
)
EVALUATION = T.StructType(
    [
        T.StructField("run_id", T.StringType(), False),
        T.StructField("model", T.StringType(), False),
        T.StructField("benchmark", T.StringType(), False),
        T.StructField("metric", T.StringType(), False),
        T.StructField("value", T.DoubleType(), True),
        T.StructField("coverage", T.DoubleType(), True),
    ]
)
# One row per WEAT test of a model (appended by `embedpipe bias`, so runs compare over time).
BIAS = T.StructType(
    [
        T.StructField("run_id", T.StringType(), False),
        T.StructField("model", T.StringType(), False),
        T.StructField("model_run_id", T.StringType(), False),
        T.StructField("test", T.StringType(), False),
        # null when a set has fewer than 2 words in the model
        T.StructField("effect_size", T.DoubleType(), True),
        T.StructField("p_value", T.DoubleType(), True),
        T.StructField("n_found", T.IntegerType(), False),  # the test's words the model holds
        T.StructField("n_words", T.IntegerType(), False),  # the test's words
        T.StructField("time", T.TimestampType(), False),
    ]
)
# One row per text of `embedpipe embed` (the text's key columns, if any, sit
# between doc_id and vector). vector is null for a text with no known word.
DOC_VECTORS = T.StructType(
    [
        T.StructField("doc_id", T.LongType(), False),  # the text's position in the input as read
        T.StructField("vector", T.ArrayType(T.FloatType()), True),
        T.StructField("tokens_used", T.IntegerType(), False),  # tokens with a word vector
    ]
)
# Each word's k-means cluster (`embedpipe plot`), partitioned by model like vectors;
# run_id is the vectors' run that was clustered.
CLUSTERS = T.StructType(
    [
        T.StructField("model", T.StringType(), False),
        T.StructField("run_id", T.StringType(), False),
        T.StructField("word", T.StringType(), False),
        T.StructField("id", T.IntegerType(), False),
        # null for a zero vector: cosine k-means has no place for it
        T.StructField("cluster", T.IntegerType(), True),
    ]
)

# A model in blocks: the rows of one side (0 = input/word rows, 1 = output/context
# rows; under averaging, a parameter group) of one block, as raw bytes: ``ids``
# int32 word ids, ascending; ``vals`` the rows' float32 values, row-major. Raw
# bytes cross the JVM as one value per block, not one per float. Training
# checkpoints are tables of this schema.
BLOCKS = T.StructType(
    [
        T.StructField("side", T.IntegerType(), False),
        T.StructField("block", T.IntegerType(), False),
        T.StructField("ids", T.BinaryType(), False),
        T.StructField("vals", T.BinaryType(), False),
    ]
)

# Each trainer's checkpoint table (under output.path, written through Spark
# like every other table, so it works on any filesystem Spark writes).
CHECKPOINTS = {"glove": "_checkpoints/glove", "sgns": "_checkpoints/sgns"}

SCHEMAS: dict[str, T.StructType] = {
    **{name: BLOCKS for name in CHECKPOINTS.values()},
    "tokens": TOKENS,
    "vocab": VOCAB,
    "corpus": CORPUS,
    "cooccurrence": COOCCURRENCE,
    "vectors": VECTORS,
    "evaluation": EVALUATION,
    "neighbors": NEIGHBORS,
    "bias": BIAS,
    "doc_vectors": DOC_VECTORS,
    "clusters": CLUSTERS,
}
# Tables that also hold columns the user named (tables.write's key_columns).
KEYED = frozenset({"doc_vectors"})


# Session settings that hold for one table's writes only.
# * parquet.block.size: Parquet row groups are Spark's smallest read split. A
#   stage that reads the corpus in a single task (one input file, e.g. a
#   one-line corpus) writes one file; with the default 128 MB row groups that
#   file is one split again, and every later stage reads it on one core.
#   Small row groups let the readers split it across the executors' cores.
# * spark.databricks.delta.stats.collect: Delta's per-file column statistics
#   (for data skipping) are most of the tokens write's time once the word
#   rows share the files with the long piece texts
#   (bench/results/2026-11-28-ingest-vocab-word-rows/), and no reader filters
#   tokens by a value: the vocab stage's "word IS NOT NULL" still skips row
#   groups by Parquet's own statistics.
# * Checkpoints hold model blocks in values of up to 8 MB: a 128 MB row group
#   buffered per task, and copied again by the compressor, ran a 5M-word
#   model's local JVM out of heap; trained floats do not compress anyway.
#   Parquet also checks its page and row group sizes only every 100 rows at
#   first, so it buffered 100 values (800 MB per column and task) before it
#   flushed anything, and ran the same JVM out of heap: checkpoints check
#   after every row.
# * The cooccurrence table's files carry no column statistics: its readers
#   take whole shards, and Delta's per-row min/max tracking of 46M rows was
#   9 of the cooccur stage's 39 s on wiki17m (bench/results/2026-12-03-data-stages/).
# * A cooccur summing task writes one shard (its bucket's), but Spark cannot
#   know that and sorts every row of the task by the partition column before
#   a partitioned write. Allowing two open files per task lets the writer
#   skip that sort, which it only falls back to when a task's rows reach a
#   second shard. The sort was about a sixth of the summing tasks' samples.
ROW_GROUP = {"parquet.block.size": str(8 << 20)}
ONE_SHARD_PER_TASK = {"spark.sql.maxConcurrentOutputFileWriters": "2"}
CHECK_EVERY_ROW = {"parquet.page.size.row.check.min": "1"}
WRITE_CONF: Mapping[str, Mapping[str, str]] = {
    "tokens": {**ROW_GROUP, "spark.databricks.delta.stats.collect": "false"},
    "corpus": ROW_GROUP,
    "cooccurrence": {"spark.databricks.delta.stats.collect": "false", **ONE_SHARD_PER_TASK},
    **{
        name: {**ROW_GROUP, **CHECK_EVERY_ROW, "spark.sql.parquet.compression.codec": "uncompressed",
               "spark.databricks.delta.stats.collect": "false"}
        for name in CHECKPOINTS.values()
    },  # fmt: skip
}


def table_path(root: str, name: str) -> str:
    return root.rstrip("/") + "/" + name


def exists(spark: SparkSession, path: str) -> bool:
    """Whether a Delta table exists at path."""
    local = paths.local_path(path)
    if local is not None:
        return os.path.isdir(os.path.join(local, "_delta_log"))
    from delta.tables import DeltaTable

    return bool(DeltaTable.isDeltaTable(spark, path))


def _check_schema(name: str, actual: T.StructType, expected: T.StructType, path: str) -> None:
    want = [(f.name, f.dataType.simpleString()) for f in expected.fields]
    got = [(f.name, f.dataType.simpleString()) for f in actual.fields]
    if want != got:
        raise TableError(
            f"table {name!r} at {path} has schema {got}, expected {want}; "
            f"it was written by another tool or version: re-run the stage that writes {name!r}"
        )


def read(spark: SparkSession, root: str, name: str, *, version: int | None = None) -> DataFrame:
    """Read table ``name`` under ``root``, checking its schema.

    Raises
    ------
    TableError
        The table does not exist (names the stage to run) or its schema differs.
    """
    path = table_path(root, name)
    if not exists(spark, path):
        producer = {
            "tokens": "ingest",
            "vocab": "vocab",
            "corpus": "encode",
            "cooccurrence": "cooccur",
            "vectors": "glove or sgns",
            "evaluation": "evaluate",
            "neighbors": "neighbors",
            "bias": "bias (embedpipe bias CONF --model M)",
            "doc_vectors": "embed (embedpipe embed CONF)",
            "clusters": "plot (embedpipe plot CONF --model M --out DIR)",
            **{table: f"{model} (it writes one after its last epoch)" for model, table in CHECKPOINTS.items()},
        }[name]
        raise TableError(f"table {name!r} not found at {path}; run the {producer} stage first")
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    df = reader.load(path)
    schema = df.schema
    if name in KEYED:  # the user's key columns are not the schema's to check
        schema = T.StructType([f for f in schema.fields if f.name in SCHEMAS[name].fieldNames()])
    _check_schema(name, schema, SCHEMAS[name], path)
    return df


_COMMIT_EXTRA: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "embedpipe_commit_extra", default=None
)


@contextlib.contextmanager
def commit_metadata(**items: Any) -> Iterator[None]:
    """Add ``items`` to the metadata of every commit :func:`write` makes inside.

    The pipeline stamps each stage's outputs with the stage's fingerprint this
    way, so the stages themselves need not know about idempotent re-runs.
    """
    token = _COMMIT_EXTRA.set({**(_COMMIT_EXTRA.get() or {}), **items})
    try:
        yield
    finally:
        _COMMIT_EXTRA.reset(token)


def write(
    df: DataFrame,
    root: str,
    name: str,
    *,
    metadata: Mapping[str, Any],
    partition_by: list[str] | None = None,
    replace_where: str | None = None,
    mode: str = "overwrite",
    key_columns: Sequence[str] = (),
) -> None:
    """Write ``df`` as one atomic Delta commit with ``metadata`` attached.

    ``replace_where`` replaces only the matching rows (e.g. one model's vectors),
    ``mode='append'`` adds rows (evaluation history). ``key_columns`` are
    columns of ``df`` outside the schema that the user chose (``doc_vectors``
    carries each text's keys): written as they are, after the schema's first column.
    """
    expected = SCHEMAS[name]
    current = {f.name: f.dataType.simpleString() for f in df.schema.fields}
    missing = [f.name for f in expected.fields if f.name not in current] + [k for k in key_columns if k not in current]
    if missing:
        raise TableError(f"cannot write table {name!r}: columns {missing} are missing from {sorted(current)}")
    # Cast only what differs: Spark refuses casts that only change nullability.
    cols = [
        df[f.name] if current[f.name] == f.dataType.simpleString() else df[f.name].cast(f.dataType).alias(f.name)
        for f in expected.fields
    ]
    df = df.select(cols[0], *[df[k] for k in key_columns], *cols[1:])
    writer = (
        df.write.format("delta")
        .mode(mode)
        .option(
            "userMetadata",
            json.dumps({"format_version": FORMAT_VERSION, **metadata, **(_COMMIT_EXTRA.get() or {})}, default=str),
        )
    )
    if mode == "overwrite" and replace_where is None:
        writer = writer.option("overwriteSchema", "true")
    if replace_where is not None:
        writer = writer.option("replaceWhere", replace_where)
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    if name not in WRITE_CONF:
        writer.save(table_path(root, name))
        return
    # Delta does not pass writer options to Parquet, and statistics are a
    # session setting; the session's SQL conf reaches the Hadoop conf of the
    # write, so set them for this write only.
    conf = df.sparkSession.conf
    before = {key: conf.get(key, None) for key in WRITE_CONF[name]}
    for key, value in WRITE_CONF[name].items():
        conf.set(key, value)
    try:
        writer.save(table_path(root, name))
    finally:
        for key, previous in before.items():
            if previous is None:
                conf.unset(key)
            else:
                conf.set(key, previous)


def drop_superseded_files(spark: SparkSession, root: str, name: str) -> int:
    """Delete the data files of a checkpoint table that its newest commit does
    not hold; how many were deleted.

    Every checkpoint commit overwrites the whole table, so its ``add``
    actions are the table. Without this each epoch's blocks would stay on
    disk until a VACUUM: 4 GB an epoch for a 5M-word model. Earlier versions
    become unreadable, which no reader needs; the newest is not touched, so
    a run killed at any moment still resumes from it. Files left by a run
    killed before its clean-up go too. Hadoop's FileSystem does the listing
    and deleting, so it works on any scheme Spark writes, with no Spark job.
    """
    if name not in CHECKPOINTS.values():
        raise ValueError(f"{name!r} is not a checkpoint table: its earlier versions may be read")
    table_uri = table_path(root, name)
    table, fs = distributed.hadoop_path(spark, table_uri)
    log_dir, _ = distributed.hadoop_path(spark, table_uri + "/_delta_log")
    if not fs.exists(log_dir):
        return 0
    commits = [st.getPath().getName() for st in fs.listStatus(log_dir)]
    versions = [int(n[: -len(".json")]) for n in commits if n.endswith(".json") and n[: -len(".json")].isdigit()]
    if not versions:
        return 0
    text = distributed.read_hadoop_text(spark, f"{table_uri}/_delta_log/{max(versions):020d}.json")
    actions = [json.loads(line) for line in text.splitlines() if line.strip()]
    held = {unquote(a["add"]["path"]) for a in actions if "add" in a}
    info: dict[str, Any] = next((a["commitInfo"] for a in actions if "commitInfo" in a), {})
    whole = info.get("operation") == "WRITE" and info.get("operationParameters", {}).get("mode") == "Overwrite"
    if not whole or not held or any("/" in path for path in held):
        return 0  # not one flat overwrite of the whole table: keep everything
    deleted = 0
    for st in fs.listStatus(table):
        file_name = st.getPath().getName()
        if st.isFile() and file_name.endswith(".parquet") and file_name not in held:
            deleted += int(bool(fs.delete(st.getPath(), False)))
    return deleted


def _parse_metadata(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError:
        return {}
    return meta if isinstance(meta, dict) else {}


def _iter_local_history(local_table: str) -> Iterator[dict[str, Any]]:
    """Commits of a table on the local filesystem, newest first, read from
    ``_delta_log/<version>.json`` directly. Each Delta history query is a
    Spark job (about half a second); the pipeline asks for versions and
    metadata several times per stage, so local runs read the log files."""
    log_dir = os.path.join(local_table, "_delta_log")
    versions = sorted(
        (int(f[: -len(".json")]) for f in os.listdir(log_dir) if f.endswith(".json") and f[: -len(".json")].isdigit()),
        reverse=True,
    )
    for version in versions:
        info: dict[str, Any] = {}
        try:
            with open(os.path.join(log_dir, f"{version:020d}.json"), encoding="utf-8") as fh:
                for line in fh:
                    action = json.loads(line)
                    if "commitInfo" in action:
                        info = action["commitInfo"]
                        break
        except FileNotFoundError:  # removed by log clean-up while we listed
            continue
        yield {
            "version": version,
            "operation": info.get("operation"),
            "metadata": _parse_metadata(info.get("userMetadata")),
        }


def _iter_history(spark: SparkSession, root: str, name: str) -> Iterator[dict[str, Any]]:
    path = table_path(root, name)
    if not exists(spark, path):
        return
    local = paths.local_path(path)
    if local is not None:
        yield from _iter_local_history(local)
        return
    from delta.tables import DeltaTable

    rows = DeltaTable.forPath(spark, path).history().select("version", "operation", "userMetadata").collect()
    for r in rows:
        meta = _parse_metadata(r["userMetadata"])
        yield {"version": int(r["version"]), "operation": r["operation"], "metadata": meta}


def history(spark: SparkSession, root: str, name: str) -> list[dict[str, Any]]:
    """Commits of a table, newest first, each with its parsed metadata."""
    return list(_iter_history(spark, root, name))


def latest_metadata(spark: SparkSession, root: str, name: str, **match: Any) -> dict[str, Any] | None:
    """Metadata of the newest commit whose metadata matches all ``match`` items."""
    for h in _iter_history(spark, root, name):
        meta = h["metadata"]
        if all(meta.get(k) == v for k, v in match.items()) and meta:
            return {**meta, "table_version": h["version"]}
    return None


def head_metadata(spark: SparkSession, root: str, name: str) -> dict[str, Any] | None:
    """Metadata of the table's newest commit ({} if it has none), None if no table."""
    h = next(_iter_history(spark, root, name), None)
    return dict(h["metadata"]) if h else None


def current_version(spark: SparkSession, root: str, name: str) -> int | None:
    h = next(_iter_history(spark, root, name), None)
    return h["version"] if h else None


# What to run again when a table of ids is stale.
_STALE_ADVICE = {
    "corpus": "run the encode stage again (embedpipe encode CONF)",
    "cooccurrence": "run the encode and cooccur stages again (embedpipe run CONF --set 'stages=[encode,cooccur]')",
}


def vocab_version_of(spark: SparkSession, root: str, name: str) -> int:
    """The ``vocab`` version whose ids table ``name`` holds.

    ``corpus`` and ``cooccurrence`` record it in their commit metadata
    (``vocab_version``). Ids only mean words against that version: after the
    vocab stage runs again, id 7 may be another word. Readers call this and
    read the vocab at the version it returns.

    Raises
    ------
    StaleTableError
        The vocab table has a newer version (or ``name`` does not say which
        it holds); the message names the stages to run again.
    """
    meta = head_metadata(spark, root, name)
    current = current_version(spark, root, "vocab")
    if meta is None or current is None:
        read(spark, root, name if meta is None else "vocab")  # raises, naming the stage to run first
    held = (meta or {}).get("vocab_version")
    if held is None or held != current:
        what = f"vocab version {held}" if held is not None else "an unrecorded vocab version"
        raise StaleTableError(
            f"table {name!r} under {root} holds the ids of {what}, but the vocab table is now at version "
            f"{current}, whose ids may name other words; {_STALE_ADVICE[name]}"
        )
    return int(held)


def by_id(vocab: pa.Table) -> pa.Table:
    """Vocab rows (collected as Arrow) in id order. Sorted on the driver: the
    table is the kept words only, and Spark's ``orderBy`` would cost a
    sampling job and a sort job."""
    return vocab.take(pc.sort_indices(vocab.column("id")))


def read_vocab_counts(spark: SparkSession, root: str, *, version: int | None = None) -> np.ndarray:
    """The vocab table's counts by id (at ``version``, else the newest): what
    a trainer that never names a word needs, without the words themselves
    (5M words as Python strings are about 350 MB on the driver)."""
    t = by_id(read(spark, root, "vocab", version=version).select("id", "count").toArrow())
    ids = t.column("id").to_numpy()
    if len(ids) and not np.array_equal(ids, np.arange(len(ids))):
        raise TableError(f"vocab ids under {root} are not 0..{len(ids) - 1}; re-run the vocab stage")
    return t.column("count").to_numpy().astype(np.int64)


def read_vocab_arrays(
    spark: SparkSession, root: str, *, version: int | None = None
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(words, counts, noise_prob) of the vocab table (at ``version``,
    else the newest), ordered by id."""
    t = by_id(read(spark, root, "vocab", version=version).toArrow())
    ids = t.column("id").to_numpy()
    if len(ids) and not np.array_equal(ids, np.arange(len(ids))):
        raise TableError(f"vocab ids under {root} are not 0..{len(ids) - 1}; re-run the vocab stage")
    return (
        t.column("word").to_pylist(),
        t.column("count").to_numpy().astype(np.int64),
        t.column("noise_prob").to_numpy().astype(np.float64),
    )
