"""Ingest: read raw text, clean and tokenize it, cut long lines into pieces.

Reads ``input.path`` (``input.format``: text files, folders and globs with
``.gz``/``.bz2``; a Parquet or Delta table's ``input.column``; JSON lines with
a ``input.column`` field), or with ``input.format: dataframe`` the column of a
DataFrame that :func:`embedpipe.train` hands over, and writes the ``tokens`` table: one row per
sentence piece of at most ``input.max_sentence_length`` tokens, the piece's
tokens joined by single spaces, and after each task's pieces one row per
distinct word the task saw, with its count (:class:`TaskWords`), so that the
vocab stage counts without reading the text again.

The stage is one Spark job from the input to the Delta commit. Strings cost
Spark per value, so a piece is one string rather than an array of 10,000
strings, and nothing is shuffled or cached on the way (both did cost more
than the cleaning itself on wiki70m).

Cleaning runs inside ``mapInArrow`` with pyarrow's vectorized string kernels
(embedpipe.cleaning; the text8 preset is one numba pass over the bytes),
never a Python loop per row or word. Windows of both
trainers never cross a piece boundary, so a 100 MB one-line corpus loses only
the pairs that straddle its 10,000-token cuts (as in gensim).

A column of ``array<string>`` (Parquet, Delta or a DataFrame) holds tokens
already: they are kept as they are, without the cleaning rules
(:func:`~embedpipe.cleaning.given_tokens`), so a model trained on a
Spark ML ``Tokenizer``'s output knows exactly the words it will be asked for.

Bad input never stops the run silently: invalid UTF-8 bytes become U+FFFD and
are counted, binary files are skipped with a warning and counted, and an input
with no tokens at all fails with advice.

Run it alone with ``embedpipe ingest conf/demo.yaml``.
"""

from __future__ import annotations

import glob
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.utils import AnalysisException

from embedpipe import distributed, paths, tables
from embedpipe.cleaning import clean_tokens, given_tokens, split_pieces
from embedpipe.config import CleanConfig, InputConfig, PipelineConfig
from embedpipe.distributed import counters, default_parallelism
from embedpipe.errors import InputError
from embedpipe.ingest import textfiles
from embedpipe.kernels.text8 import has_tokens as text8_has_tokens
from embedpipe.stage import StageResult, new_run_id

log = logging.getLogger(__name__)

COUNTER_NAMES = ("lines_read", "lines_empty", "invalid_utf8_lines", "tokens", "pieces")
TOKENS_ARROW = pa.schema(
    [
        ("line_id", pa.int64()),
        ("piece", pa.int32()),
        ("text", pa.string()),
        ("word", pa.string()),
        ("count", pa.int64()),
    ]
)
WORD_COUNTS = pa.schema([("word", pa.string()), ("count", pa.int64())])
# A task folds its batches' word counts together once this many rows are held,
# so its memory stays near its distinct words rather than its batches.
COMPACT_ROWS = 4_000_000
SNIFF_BYTES = 8192


# ---------------------------------------------------------------------------
# finding and reading the input


def list_local_files(path: str) -> list[str]:
    """Files named by a local path, folder (recursively) or glob, sorted."""
    path = paths.local_path(path) or path
    if any(ch in path for ch in "*?["):
        matches = sorted(glob.glob(path, recursive=True))
    elif os.path.isdir(path):
        matches = sorted(
            os.path.join(root, f) for root, _, files in os.walk(path) for f in files if not f.startswith((".", "_"))
        )
    elif os.path.exists(path):
        matches = [path]
    else:
        raise InputError(f"input.path {path!r} does not exist; point input.path at a file, folder or glob")
    files = [m for m in matches if os.path.isfile(m)]
    if not files:
        raise InputError(f"input.path {path!r} matches no files; check the path or glob")
    return files


def read_head(path: str) -> bytes | None:
    """The first SNIFF_BYTES of a file after decompression, or None if it
    cannot be read (a corrupt or mislabelled compressed file)."""
    try:
        with textfiles.open_stream(path) as fh:
            return fh.read(SNIFF_BYTES)
    except (OSError, EOFError, ValueError):
        return None


def looks_binary(path: str, head: bytes | None = None) -> bool:
    """Sniff the first bytes (after decompression): NUL bytes mean binary.

    Text in any 8-bit or UTF-8 encoding never contains NUL; images, archives
    and executables almost always do within their first few KB. An unreadable
    compressed file is not text either.
    """
    head = read_head(path) if head is None else head
    return head is None or b"\x00" in head


def head_has_tokens(head: bytes, opts: CleanConfig, whole_file: bool) -> bool:
    """Whether the complete tokens in a file's first bytes survive cleaning.

    Cleaning never looks across whitespace, so the text up to the head's last
    whitespace yields exactly the tokens the full run yields there: if any
    survive, the input is certainly not empty and ingest needs no probe job.
    """
    if not whole_file:
        cut = max(head.rfind(b) for b in (b" ", b"\t", b"\n", b"\r"))
        head = head[: max(cut, 0)]
    if opts.preset == "text8":
        return text8_has_tokens(head)
    lines = head.decode("utf-8", errors="replace").splitlines()
    if not lines:
        return False
    tokens = clean_tokens(pa.array(lines, pa.string()), opts)
    return bool(pc.sum(pc.list_value_length(tokens)).as_py() or 0)


def local_text_files(inp: InputConfig) -> tuple[list[str], dict[str, Any]]:
    """The text files named by a local ``input.path``, binary ones left out
    (with a warning), and what ingest reports about them."""
    files = list_local_files(inp.path)
    heads = {f: read_head(f) for f in files}
    binary = [f for f in files if looks_binary(f, heads[f])]
    for f in binary:
        log.warning("skipping binary file %s (NUL bytes in its first %d bytes)", f, SNIFF_BYTES)
    paths = [f for f in files if f not in set(binary)]
    if not paths:
        raise InputError(
            f"input.path {inp.path!r}: all {len(files)} file(s) are binary, not text; "
            "point input.path at text files (plain, .gz or .bz2)"
        )
    # The heads are kept for the cheap non-empty check in run(); a few suffice.
    info = {"binary_files_skipped": len(binary), "files": len(files), "heads": [heads[f] for f in paths[:16]]}
    return paths, info


TOKEN_ARRAY = T.ArrayType(T.StringType())


def is_token_array(df: DataFrame, column: str) -> bool:
    """Whether ``column`` of ``df`` holds tokens (``array<string>``) rather than text."""
    return df.schema[column].dataType.simpleString() == TOKEN_ARRAY.simpleString()


def read_raw(
    spark: SparkSession, inp: InputConfig, source: DataFrame | None = None
) -> tuple[DataFrame, dict[str, Any]]:
    """Return (DataFrame[line_id long, value string or array<string>, bad_utf8 boolean], input info).

    ``source`` is the DataFrame of ``input.format: dataframe``. ``value`` is
    an array of tokens when ``input.column`` is one (see :func:`is_token_array`).
    """
    info: dict[str, Any] = {"binary_files_skipped": 0, "files": None}
    fmt = inp.format
    if (fmt == "dataframe") != (source is not None):
        raise InputError(
            "input.format 'dataframe' reads the DataFrame given to embedpipe.train(spark, df, ...); "
            "from a config file, set input.format to text, parquet, delta or jsonl and input.path to the corpus"
            if source is None
            else f"a DataFrame was given but input.format is {fmt!r}; set input.format to 'dataframe'"
        )
    try:
        if fmt == "dataframe":
            assert source is not None
            df = source
            if inp.column not in df.columns:
                raise InputError(
                    f"input.column {inp.column!r} is not a column of the DataFrame; its columns are {df.columns}"
                )
            text = F.col(inp.column).cast("string")
        elif fmt == "text":
            sources: list[str] | str = inp.path
            if paths.is_local(inp.path):
                sources, info = local_text_files(inp)
            df = spark.read.text(sources)  # type: ignore[arg-type]
            text = F.col("value")
        elif fmt in ("parquet", "delta"):
            local = paths.local_path(inp.path)
            if local is not None and not os.path.exists(local):
                raise InputError(f"input.path {inp.path!r} does not exist; point it at a {fmt} table")
            df = spark.read.format(fmt).load(inp.path)
            if inp.column not in df.columns:
                raise InputError(
                    f"input.column {inp.column!r} is not a column of {inp.path}; its columns are {df.columns}"
                )
            text = F.col(inp.column).cast("string")
        elif fmt == "jsonl":
            if paths.is_local(inp.path):
                list_local_files(inp.path)
            df = spark.read.schema(f"`{inp.column}` STRING").json(inp.path)
            text = F.col(inp.column)
        else:  # pragma: no cover - config validates it
            raise InputError(f"input.format {fmt!r} is not supported")
    except AnalysisException as e:
        if "PATH_NOT_FOUND" in str(e) or "does not exist" in str(e):
            raise InputError(f"input.path {inp.path!r} does not exist ({fmt}); check the path") from e
        raise
    if inp.min_partitions > 0:
        df = df.repartition(inp.min_partitions)
    if fmt in ("parquet", "delta", "dataframe") and is_token_array(df, inp.column):
        tokens = F.col(inp.column)
        raw = df.select(
            F.monotonically_increasing_id().alias("line_id"),
            F.transform(tokens, F.make_valid_utf8).alias("value"),
            F.coalesce(F.exists(tokens, lambda t: ~F.is_valid_utf8(t)), F.lit(False)).alias("bad_utf8"),
        )
        return raw, {**info, "token_array": True}
    # Spark keeps undecodable bytes as they are; make them U+FFFD here so the
    # Arrow kernels see valid UTF-8, and remember which lines had them.
    raw = df.select(
        F.monotonically_increasing_id().alias("line_id"),
        F.make_valid_utf8(text).alias("value"),
        (~F.coalesce(F.is_valid_utf8(text), F.lit(True))).alias("bad_utf8"),
    )
    return raw, info


# ---------------------------------------------------------------------------
# the executor-side tokenizer


def tokens_batch(n: int, columns: dict[str, pa.Array]) -> pa.RecordBatch:
    """``n`` rows of the ``tokens`` table: the given columns, the others null
    (a piece row has no word, a word row no piece)."""
    return pa.RecordBatch.from_arrays(
        [columns.get(f.name, pa.nulls(n, f.type)) for f in TOKENS_ARROW], schema=TOKENS_ARROW
    )


def _sum_by_word(parts: list[pa.Table]) -> pa.Table:
    t = pa.concat_tables(parts).group_by("word").aggregate([("count", "sum")])
    return pa.table([t.column("word"), t.column("count_sum")], schema=WORD_COUNTS)


class TaskWords:
    """How often one ingest task saw each word.

    Each batch adds its own counts (pyarrow ``value_counts``); the task
    folds them together whenever ``COMPACT_ROWS`` rows are held, so its
    memory follows its distinct words, not its batches. After its last piece
    the task writes the sum as word rows, and the vocab stage sums those
    instead of reading and splitting the text again.
    """

    def __init__(self) -> None:
        self._parts: list[pa.Table] = []
        self._held = 0

    def add(self, tokens: pa.Array) -> None:
        if len(tokens) == 0:
            return
        vc = pc.value_counts(tokens)
        self._parts.append(pa.table([vc.field("values").cast(pa.string()), vc.field("counts")], schema=WORD_COUNTS))
        self._held += len(vc)
        if self._held > COMPACT_ROWS and len(self._parts) > 1:
            self._parts = [_sum_by_word(self._parts)]
            self._held = self._parts[0].num_rows

    def table(self) -> pa.Table:
        """One row per distinct word (word, count)."""
        return _sum_by_word(self._parts) if self._parts else WORD_COUNTS.empty_table()

    def batches(self) -> Iterator[pa.RecordBatch]:
        """The task's word rows of the ``tokens`` table (piece columns null)."""
        for b in self.table().combine_chunks().to_batches():
            yield tokens_batch(b.num_rows, {"word": b.column("word"), "count": b.column("count")})


def _tokenize_rows(
    text: pa.Array,
    line_ids: np.ndarray,
    bad_utf8: int,
    new_lines: int,
    opts: CleanConfig,
    max_len: int,
    acc: dict[str, Any],
    task_words: TaskWords,
    given: bool = False,
) -> pa.RecordBatch | None:
    """Clean rows of raw text (``given``: take rows of tokens as they are) and
    cut them into pieces: one batch of piece rows."""
    tokens = given_tokens(text) if given else clean_tokens(text, opts)
    pieces, line_index, piece_no = split_pieces(tokens, max_len)
    lengths = pc.list_value_length(tokens).fill_null(0).to_numpy(zero_copy_only=False)
    acc["lines_read"].add(new_lines)
    acc["lines_empty"].add(int((lengths == 0).sum()))
    acc["invalid_utf8_lines"].add(bad_utf8)
    acc["tokens"].add(int(lengths.sum()))
    acc["pieces"].add(len(pieces))
    if len(pieces) == 0:
        return None
    task_words.add(pc.list_flatten(pieces))
    ids = line_ids[np.asarray(line_index, dtype=np.int64)]
    joined = pc.binary_join(pieces, tables.TOKEN_SEPARATOR)
    if not pa.types.is_string(joined.type):
        joined = joined.cast(pa.string())
    return tokens_batch(
        len(pieces), {"line_id": pa.array(ids, pa.int64()), "piece": pa.array(piece_no, pa.int32()), "text": joined}
    )


def make_tokenizer(  # type: ignore[no-untyped-def]
    opts: CleanConfig, max_len: int, acc: dict[str, Any], given: bool = False
):
    """Build the mapInArrow function: raw lines (``given``: token arrays) ->
    tokens rows (the pieces, then the task's word counts)."""

    def tokenize(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        task_words = TaskWords()
        for batch in batches:
            n = batch.num_rows
            if n == 0:
                continue
            bad = int(pc.sum(batch.column("bad_utf8")).as_py() or 0)
            line_ids = batch.column("line_id").to_numpy()
            out = _tokenize_rows(batch.column("value"), line_ids, bad, n, opts, max_len, acc, task_words, given)
            if out is not None:
                yield out
        yield from task_words.batches()

    return tokenize


FILE_UNITS = "path string, file_index int, share int, shares int"


def make_file_tokenizer(  # type: ignore[no-untyped-def]
    opts: CleanConfig, max_len: int, acc: dict[str, Any], block_bytes: int
):
    """Build the mapInArrow function: file shares -> tokens rows (the pieces,
    then the task's word counts), reading the files in the Python worker
    (embedpipe.ingest.textfiles)."""

    def tokenize_files(units: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        task_words = TaskWords()
        for unit in units:
            for path, index, share, shares in zip(*(unit.column(c).to_pylist() for c in range(4)), strict=True):
                for rows in textfiles.read_rows(path, index, share, shares, block_bytes):
                    bad = int(rows.bad_utf8.sum())
                    out = _tokenize_rows(rows.text, rows.line_ids, bad, rows.new_lines, opts, max_len, acc, task_words)
                    if out is not None:
                        yield out
        yield from task_words.batches()

    return tokenize_files


def reads_files_in_workers(spark: SparkSession, inp: InputConfig) -> bool:
    """Whether the executors can open the driver's local paths themselves:
    text input on the local filesystem with executors on this machine."""
    return inp.format == "text" and paths.is_local(inp.path) and distributed.master(spark).startswith("local")


def tokenize_lines(
    spark: SparkSession, cfg: PipelineConfig, source: DataFrame | None = None
) -> tuple[DataFrame, dict[str, Any], dict[str, Any]]:
    """The ingest transformation (lazy): config (and ``source``, the DataFrame
    of ``input.format: dataframe``) -> tokens DataFrame, counters, info."""
    acc = counters(spark, *COUNTER_NAMES)
    opts, max_len = cfg.clean, cfg.input.max_sentence_length
    if source is None and reads_files_in_workers(spark, cfg.input):
        paths, info = local_text_files(cfg.input)
        parallelism = max(default_parallelism(spark), cfg.input.min_partitions)
        shares = textfiles.shares_per_file(paths, parallelism)
        units = [(path, index, k, shares[index]) for index, path in enumerate(paths) for k in range(shares[index])]
        # One unit per partition, so that every share is its own task.
        source = distributed.one_partition_each(spark, units, FILE_UNITS)
        fn = make_file_tokenizer(opts, max_len, acc, textfiles.BLOCK_BYTES)
        return source.mapInArrow(fn, tables.TOKENS), acc, info
    # A DataFrame goes through the same lazy plan as a table: its rows reach
    # the tokenizer on the executors, never the driver.
    raw, info = read_raw(spark, cfg.input, source)
    tokens = raw.mapInArrow(make_tokenizer(opts, max_len, acc, info.get("token_array", False)), tables.TOKENS)
    return tokens, acc, info


def has_tokens(tokens: DataFrame, info: dict[str, Any], opts: CleanConfig) -> bool:
    """Whether the input yields at least one token, decided before writing.

    Usually free: the first bytes of a text file already show tokens. Only
    otherwise (tables, JSON lines, files whose start cleans to nothing) a
    job runs until the first piece, which for an empty input means reading
    all of it.
    """
    for head in info.get("heads") or []:
        if head is not None and head_has_tokens(head, opts, whole_file=len(head) < SNIFF_BYTES):
            return True
    return bool(tokens.take(1))


def run(spark: SparkSession, cfg: PipelineConfig, *, source: DataFrame | None = None) -> StageResult:
    """Ingest stage: write the ``tokens`` table.

    Parameters
    ----------
    source : DataFrame, optional
        The input when ``input.format`` is ``dataframe`` (and only then).

    Raises
    ------
    InputError
        The input is missing, matches nothing, is all binary, or has no tokens.
    """
    t0 = time.perf_counter()
    tokens, acc, info = tokenize_lines(spark, cfg, source)
    run_id = new_run_id()
    # An input without tokens must fail before the commit, so that it never
    # replaces a good table with an empty one.
    if not has_tokens(tokens, info, cfg.clean):
        raise InputError(
            f"input {cfg.input.path!r} produced no tokens after cleaning "
            f"({acc['lines_read'].value} lines read, {info['binary_files_skipped']} binary files skipped); "
            "check input.path/input.format, or relax the clean options"
        )
    # Only after the probe: its partial counts are not the stage's.
    for c in acc.values():
        c.reset()
    metadata = {
        "stage": "ingest",
        "run_id": run_id,
        "config": cfg.to_dict(),
        "input": {"path": cfg.input.path, "format": cfg.input.format, "tokens_given": bool(info.get("token_array"))},
    }
    # The counters are known only once the write job (which is also the
    # commit) ran, so the table's metadata holds the input description and
    # the counts go to the stage result and the run summary.
    tables.write(tokens, cfg.output.path, "tokens", metadata=metadata)
    stats = {**{k: c.value for k, c in acc.items()}, "binary_files_skipped": info["binary_files_skipped"]}
    if stats["invalid_utf8_lines"]:
        log.warning("%d line(s) had invalid UTF-8; bad bytes were replaced by U+FFFD", stats["invalid_utf8_lines"])
    seconds = time.perf_counter() - t0
    log.info(
        "ingest: %d lines read, %d empty, %d invalid UTF-8, %d binary files skipped, %d tokens in %d pieces (%.1f s)",
        stats["lines_read"],
        stats["lines_empty"],
        stats["invalid_utf8_lines"],
        stats["binary_files_skipped"],
        stats["tokens"],
        stats["pieces"],
        seconds,
    )
    return StageResult("ingest", run_id, seconds, rows=stats["pieces"], work=stats["tokens"], unit="words", stats=stats)
