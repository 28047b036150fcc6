"""Evaluation: score every model in ``vectors`` and append to ``evaluation``.

Benchmarks (shipped in the package, see embedpipe/data/eval/NOTICE):

* WordSim-353 and SimLex-999: Spearman correlation of cosine similarity with
  the human scores over the pairs whose two words are in the vocabulary;
  coverage = pairs used / pairs total.
* Google analogies: 3CosAdd over the ``eval.restrict_vocab`` most frequent
  words (word2vec's ``compute-accuracy`` convention) with a, b and c excluded,
  plus 3CosMul; accuracy is split into semantic and syntactic sections;
  coverage = questions answered / total.

Users add sets of the same formats with ``eval.extra_pair_sets`` and
``eval.extra_analogy_sets`` ({name: path}). The analogy search runs in blocks
of questions, so memory is O(block × restrict_vocab) whatever the vocabulary.

Large search spaces (``eval.spark_above``, default 200000): when
``min(eval.restrict_vocab, vocabulary size)`` exceeds it, the analogy search
runs as a Spark job instead of on the driver (:class:`SparkAnalogySearch`).
The unit-normalised restricted matrix is broadcast once per model, the
questions are cut into blocks small enough that one task needs about
``SPARK_TASK_MB`` of scratch, each block is answered by the same kernel
(``analogy_argmax``, 3CosAdd and 3CosMul) in ``mapInArrow``, and only the
predicted row ids come back. They are scored by the same code as the local
path (``score_vectors(analogy_fn=...)``), so with equal blocks the scores are
identical.

Every run appends one row per (run, model, benchmark, metric) to the
``evaluation`` Delta table (history is kept) and prints a table.

Pictures (``plot_dir``, the CLI's ``--plot DIR``; needs ``pip install
embedpipe[plot]``): ``DIR/projection.png``, a 2-D PCA per model of a few word
groups (countries and capitals, family, numbers, verb tenses; see
:mod:`embedpipe.evaluate.plots`), and ``DIR/benchmarks.png``, bars comparing the models
on every benchmark. Their paths are logged and returned in
``StageResult.stats["plots"]``.

Run it alone with ``embedpipe evaluate conf/demo.yaml [--json] [--model sgns] [--plot DIR]``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark.sql import SparkSession

from embedpipe import tables
from embedpipe.config import PipelineConfig
from embedpipe.distributed import Shared, default_parallelism, share
from embedpipe.evaluate.evalsets import builtin_sets, load_analogy_set, load_pair_set
from embedpipe.evaluate.scoring import local_analogy_predictions, score_vectors
from embedpipe.stage import StageResult, new_run_id
from embedpipe.vectors import Vectors, available_models, read_vectors

log = logging.getLogger(__name__)

# (benchmark key in score_vectors' result, metric, coverage key) rows of the evaluation table.
SIMILARITY_METRICS = ("spearman",)
ANALOGY_METRICS = ("accuracy", "accuracy_3cosmul", "semantic", "syntactic")

#: Questions per analogy block on the driver (``score_vectors``' default).
LOCAL_BLOCK = 1024
#: Scratch memory one Spark task may use for the cosines of one block
#: (about ``3 * block * restrict_vocab`` float32 values).
SPARK_TASK_MB = 512

_PREDICTIONS_SCHEMA = "block long, pred_add array<long>, pred_mul array<long>"


def spark_block(restrict: int, task_mb: int = SPARK_TASK_MB) -> int:
    """Questions per Spark block so that a task's scratch stays near ``task_mb``."""
    return max(1, min(LOCAL_BLOCK, (task_mb << 20) // (12 * max(1, restrict))))


class SparkAnalogySearch:
    """An ``analogy_fn`` for :func:`embedpipe.evaluate.scoring.score_vectors` that runs on Spark.

    Called as ``search(unit, a, b, c, block) -> (pred_3cosadd, pred_3cosmul)``.
    ``unit`` is broadcast on the first call and reused while the same array
    is passed (``score_vectors`` passes one matrix for all analogy sets); the
    questions are cut into blocks of ``block`` (block ``k`` = questions
    ``k*block .. (k+1)*block-1``, the blocks of the local search), a DataFrame
    of block ids is mapped through ``analogy_argmax`` on the executors, and the
    predictions are collected. Use it as a context manager (or call
    :meth:`release`) to free the broadcast.
    """

    def __init__(self, spark: SparkSession, *, partitions: int | None = None) -> None:
        self.spark = spark
        self.partitions = partitions
        self.jobs = 0
        self.blocks = 0
        self._unit: np.ndarray | None = None
        self._shared: Shared[np.ndarray] | None = None

    def __enter__(self) -> SparkAnalogySearch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        if self._shared is not None:
            self._shared.release()
        self._shared = None
        self._unit = None

    def __call__(
        self, unit: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray, block: int
    ) -> tuple[np.ndarray, np.ndarray]:
        if block < 1:
            raise ValueError(f"block must be a positive number of questions, got {block}")
        a, b, c = (np.ascontiguousarray(x, dtype=np.int64) for x in (a, b, c))
        n = a.shape[0]
        pred_add = np.full(n, -1, dtype=np.int64)
        pred_mul = np.full(n, -1, dtype=np.int64)
        if n == 0:
            return pred_add, pred_mul
        if self._unit is not unit or self._shared is None:
            self.release()
            self._shared = share(self.spark, np.ascontiguousarray(unit, dtype=np.float32))
            self._unit = unit
        n_blocks = -(-n // block)
        parts = min(n_blocks, self.partitions or 2 * default_parallelism(self.spark))
        t0 = time.perf_counter()
        task = _analogy_task(self._shared, a, b, c, block)
        ids = self.spark.range(0, n_blocks, numPartitions=parts).withColumnRenamed("id", "block")
        got = ids.mapInArrow(task, _PREDICTIONS_SCHEMA).toArrow()
        done = 0
        for k, add, mul in zip(
            got.column("block").to_pylist(),
            got.column("pred_add").to_pylist(),
            got.column("pred_mul").to_pylist(),
            strict=True,
        ):
            start = k * block
            pred_add[start : start + len(add)] = add
            pred_mul[start : start + len(mul)] = mul
            done += 1
        if done != n_blocks:
            raise RuntimeError(f"the Spark analogy search returned {done} of {n_blocks} blocks")
        self.jobs += 1
        self.blocks += n_blocks
        log.info(
            "analogy search on Spark: %d questions in %d blocks of %d over %d candidates, %d tasks, %.1f s",
            n,
            n_blocks,
            block,
            unit.shape[0],
            parts,
            time.perf_counter() - t0,
        )
        return pred_add, pred_mul


def _analogy_task(
    shared: Shared[np.ndarray], a: np.ndarray, b: np.ndarray, c: np.ndarray, block: int
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """mapInArrow function: block ids -> (block, 3CosAdd predictions, 3CosMul predictions)."""

    def task(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        unit = shared.value
        for batch in batches:
            for k in batch.column(0).to_pylist():
                sl = slice(k * block, (k + 1) * block)
                add, mul = local_analogy_predictions(unit, a[sl], b[sl], c[sl], block)
                yield pa.RecordBatch.from_arrays(
                    [
                        pa.array([k], pa.int64()),
                        pa.array([add], pa.list_(pa.int64())),
                        pa.array([mul], pa.list_(pa.int64())),
                    ],
                    names=["block", "pred_add", "pred_mul"],
                )

    return task


def load_sets(cfg: PipelineConfig) -> tuple[list[Any], list[Any]]:
    pairs, analogies = builtin_sets()
    for name, path in cfg.eval.extra_pair_sets.items():
        pairs.append(load_pair_set(path, name))
    for name, path in cfg.eval.extra_analogy_sets.items():
        analogies.append(load_analogy_set(path, name))
    return pairs, analogies


def score_model(
    spark: SparkSession,
    cfg: PipelineConfig,
    words: Sequence[str],
    matrix: np.ndarray,
    pair_sets: Sequence[Any],
    analogy_sets: Sequence[Any],
) -> dict[str, dict[str, Any]]:
    """Score one model; the analogy search runs on Spark above ``eval.spark_above`` candidates."""
    restrict = min(cfg.eval.restrict_vocab, len(words))
    on_spark = bool(analogy_sets) and restrict > cfg.eval.spark_above
    if on_spark:
        log.info("analogy search space %d > eval.spark_above=%d: searching on Spark", restrict, cfg.eval.spark_above)
    # One scoring call either way: only where the analogy predictions are computed differs.
    with SparkAnalogySearch(spark) if on_spark else contextlib.nullcontext() as search:
        return score_vectors(
            words,
            matrix,
            restrict_vocab=cfg.eval.restrict_vocab,
            pair_sets=pair_sets,
            analogy_sets=analogy_sets,
            block=spark_block(restrict) if on_spark else LOCAL_BLOCK,
            analogy_fn=search,
        )


def evaluation_words(pair_sets: Sequence[Any], analogy_sets: Sequence[Any]) -> set[str]:
    """Every (lower-cased) word the sets ask about."""
    words: set[str] = set()
    for p in pair_sets:
        words.update(p.word1, p.word2)
    for a in analogy_sets:
        for question in a.questions:
            words.update(question)
    return words


def score_models(
    spark: SparkSession,
    cfg: PipelineConfig,
    models: list[str] | None = None,
    *,
    keep: Callable[[Vectors], None] | None = None,
    extra_words: Collection[str] = (),
) -> tuple[dict[str, dict[str, dict[str, Any]]], dict[str, str]]:
    """Score models from the vectors table: ({model: scores}, {model: run_id}).

    The driver reads only the ``eval.restrict_vocab`` most frequent rows and
    the rows of the sets' words (and ``extra_words``), so the scores are those
    of the whole table at a fraction of its memory.

    ``keep`` is called with every model's vectors before they are dropped
    (e.g. to keep the few rows a plot needs).
    """
    root = cfg.output.path
    present = available_models(spark, root)
    wanted = models or [m for m in cfg.eval.models if m in present]
    missing = [m for m in wanted if m not in present]
    if missing or not wanted:
        raise tables.TableError(
            f"no vectors for {missing or list(cfg.eval.models)} under {root}; "
            f"models present: {present or 'none'}. Run the glove or sgns stage (or embedpipe import) first"
        )
    pair_sets, analogy_sets = load_sets(cfg)
    needed = evaluation_words(pair_sets, analogy_sets) | set(extra_words)
    results: dict[str, dict[str, dict[str, Any]]] = {}
    run_ids: dict[str, str] = {}
    for m in wanted:
        # Only the rows scoring can use: the analogy search space and the sets' words.
        vec = read_vectors(spark, root, m, top=cfg.eval.restrict_vocab, words=needed)
        results[m] = score_model(spark, cfg, vec.words, vec.matrix, pair_sets, analogy_sets)
        run_ids[m] = vec.run_id
        if keep is not None:
            keep(vec)
        del vec
    return results, run_ids


def evaluation_rows(results: dict[str, dict[str, dict[str, Any]]], run_ids: dict[str, str]) -> list[tuple[Any, ...]]:
    rows = []
    for model, benches in results.items():
        for bench, r in benches.items():
            metrics = SIMILARITY_METRICS if "spearman" in r else ANALOGY_METRICS
            for metric in metrics:
                v = r.get(metric)
                rows.append((run_ids[model], model, bench, metric, _num(v), _num(r.get("coverage"))))
    return rows


def _num(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return None if math.isnan(f) else f


def format_table(results: dict[str, dict[str, dict[str, Any]]]) -> str:
    """The human-readable evaluation table."""
    w = max([7, *map(len, results)])  # imported models may have longer names than glove and sgns
    header = f"{'model':<{w}} {'benchmark':<16} {'metric':<17} {'value':>7}  {'coverage':>17}"
    lines = [header, "-" * len(header)]
    for model, benches in results.items():
        for bench, r in benches.items():
            if "spearman" in r:
                cov = _coverage(r, "pairs", "pairs_total")
                lines.append(f"{model:<{w}} {bench:<16} {'spearman':<17} {_fmt(r['spearman'])}  {cov:>17}")
            else:
                cov = _coverage(r, "answered", "total")
                for metric in ANALOGY_METRICS:
                    label = "accuracy (3CosAdd)" if metric == "accuracy" else metric
                    lines.append(f"{model:<{w}} {bench:<16} {label:<17} {_fmt(r[metric])}  {cov:>17}")
    return "\n".join(lines)


def _coverage(r: dict[str, Any], used: str, total: str) -> str:
    if r.get("coverage") is None:
        return "n/a"
    if used in r:
        return f"{r[used]}/{r[total]} ({r['coverage']:.0%})"
    return f"{r['coverage']:.0%}"


def results_from_table(spark: SparkSession, cfg: PipelineConfig) -> dict[str, dict[str, dict[str, Any]]]:
    """The latest stored scores of the current vectors (when evaluate was skipped)."""
    from pyspark.sql import functions as F

    current = {m: read_vectors(spark, cfg.output.path, m).run_id for m in available_models(spark, cfg.output.path)}
    rows = tables.read(spark, cfg.output.path, "evaluation").filter(F.col("run_id").isin(list(current.values())))
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows.collect():
        if current.get(r["model"]) != r["run_id"]:
            continue
        bench = out.setdefault(r["model"], {}).setdefault(r["benchmark"], {})
        bench[r["metric"]] = float("nan") if r["value"] is None else r["value"]
        bench["coverage"] = r["coverage"]
    for benches in out.values():
        for b in benches.values():
            if "spearman" not in b:
                for m in ANALOGY_METRICS:
                    b.setdefault(m, float("nan"))
    return out


def _fmt(v: Any) -> str:
    return "    n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{float(v):7.3f}"


def json_summary(results: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """The ``--json`` shape: {model: {benchmark: {metric: value, coverage: ...}}}."""
    out: dict[str, Any] = {}
    for model, benches in results.items():
        out[model] = {}
        for bench, r in benches.items():
            out[model][bench] = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
    return out


def run(
    spark: SparkSession,
    cfg: PipelineConfig,
    *,
    models: list[str] | None = None,
    plot_dir: str | os.PathLike[str] | None = None,
) -> StageResult:
    """Evaluate stage: score, append to ``evaluation``, print the table.

    With ``plot_dir``, also write ``projection.png`` and ``benchmarks.png``
    there (see :mod:`embedpipe.evaluate.plots`); their paths are in ``stats["plots"]``.
    """
    t0 = time.perf_counter()
    picked: dict[str, Any] = {}
    keep = None
    extra: list[str] = []
    if plot_dir is not None:
        from embedpipe.evaluate import plots

        plots.require_matplotlib()  # fail before the scoring, not after
        extra = [w for ws in plots.DEFAULT_GROUPS.values() for w in ws]

        def keep(vec: Vectors) -> None:
            picked[vec.model] = plots.pick_words(vec.words, vec.matrix, plots.DEFAULT_GROUPS)

    results, run_ids = score_models(spark, cfg, models, keep=keep, extra_words=extra)
    rows = evaluation_rows(results, run_ids)
    df = spark.createDataFrame(rows, schema=tables.EVALUATION)
    eval_id = new_run_id()
    meta = {
        "stage": "evaluate",
        "run_id": eval_id,
        "config": cfg.to_dict(),
        "vectors_runs": run_ids,
    }
    tables.write(df, cfg.output.path, "evaluation", metadata=meta, mode="append")
    stats: dict[str, Any] = {"results": json_summary(results)}
    if plot_dir is not None:
        stats["plots"] = write_plots(results, picked, plot_dir)
    seconds = time.perf_counter() - t0
    # What was scored: every pair and question of every set, for every model.
    items = sum(int(m.get("pairs_total", m.get("total", 0))) for sets in results.values() for m in sets.values())
    return StageResult("evaluate", eval_id, seconds, rows=len(rows), work=items, unit="questions", stats=stats)


def write_plots(
    results: dict[str, dict[str, dict[str, Any]]],
    picked: dict[str, Any],
    plot_dir: str | os.PathLike[str],
) -> list[str]:
    """Write ``projection.png`` and ``benchmarks.png`` under ``plot_dir``; their paths."""
    from embedpipe.evaluate import plots

    os.makedirs(plot_dir, exist_ok=True)
    paths = [
        plots.plot_projection(picked, plots.DEFAULT_GROUPS, os.path.join(plot_dir, "projection.png")),
        plots.plot_benchmarks(results, os.path.join(plot_dir, "benchmarks.png")),
    ]
    for p in paths:
        log.info("wrote %s", p)
    return paths
