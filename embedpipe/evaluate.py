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

Every run appends one row per (run, model, benchmark, metric) to the
``evaluation`` Delta table (history is kept) and prints a table.

Run it alone with ``embedpipe evaluate conf/demo.yaml [--json] [--model sgns]``.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from pyspark.sql import SparkSession

from embedpipe import tables
from embedpipe.config import PipelineConfig
from embedpipe.evalsets import builtin_sets, load_analogy_set, load_pair_set
from embedpipe.scoring import score_vectors
from embedpipe.stage import StageResult, new_run_id
from embedpipe.vectors import available_models, read_vectors

log = logging.getLogger(__name__)

# (benchmark key in score_vectors' result, metric, coverage key) rows of the evaluation table.
SIMILARITY_METRICS = ("spearman",)
ANALOGY_METRICS = ("accuracy", "accuracy_3cosmul", "semantic", "syntactic")


def load_sets(cfg: PipelineConfig) -> tuple[list[Any], list[Any]]:
    pairs, analogies = builtin_sets()
    for name, path in cfg.eval.extra_pair_sets.items():
        pairs.append(load_pair_set(path, name))
    for name, path in cfg.eval.extra_analogy_sets.items():
        analogies.append(load_analogy_set(path, name))
    return pairs, analogies


def score_models(
    spark: SparkSession, cfg: PipelineConfig, models: list[str] | None = None
) -> tuple[dict[str, dict[str, dict[str, Any]]], dict[str, str]]:
    """Score models from the vectors table: ({model: scores}, {model: run_id})."""
    root = cfg.output.path
    present = available_models(spark, root)
    wanted = models or [m for m in cfg.eval.models if m in present]
    missing = [m for m in wanted if m not in present]
    if missing or not wanted:
        raise tables.TableError(
            f"no vectors for {missing or list(cfg.eval.models)} under {root}; models present: {present or 'none'}. "
            "Run the glove or sgns stage first"
        )
    pair_sets, analogy_sets = load_sets(cfg)
    results: dict[str, dict[str, dict[str, Any]]] = {}
    run_ids: dict[str, str] = {}
    for m in wanted:
        vec = read_vectors(spark, root, m)
        results[m] = score_vectors(
            vec.words,
            vec.matrix,
            restrict_vocab=cfg.eval.restrict_vocab,
            pair_sets=pair_sets,
            analogy_sets=analogy_sets,
        )
        run_ids[m] = vec.run_id
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
    header = f"{'model':<7} {'benchmark':<16} {'metric':<17} {'value':>7}  {'coverage':>17}"
    lines = [header, "-" * len(header)]
    for model, benches in results.items():
        for bench, r in benches.items():
            if "spearman" in r:
                cov = f"{r['pairs']}/{r['pairs_total']} ({r['coverage']:.0%})"
                lines.append(f"{model:<7} {bench:<16} {'spearman':<17} {_fmt(r['spearman'])}  {cov:>17}")
            else:
                cov = f"{r['answered']}/{r['total']} ({r['coverage']:.0%})"
                for metric in ANALOGY_METRICS:
                    label = "accuracy (3CosAdd)" if metric == "accuracy" else metric
                    lines.append(f"{model:<7} {bench:<16} {label:<17} {_fmt(r[metric])}  {cov:>17}")
    return "\n".join(lines)


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


def run(spark: SparkSession, cfg: PipelineConfig, *, models: list[str] | None = None) -> StageResult:
    """Evaluate stage: score, append to ``evaluation``, print the table."""
    t0 = time.perf_counter()
    results, run_ids = score_models(spark, cfg, models)
    rows = evaluation_rows(results, run_ids)
    df = spark.createDataFrame(rows, schema=tables.EVALUATION)
    eval_id = new_run_id()
    meta = {"stage": "evaluate", "run_id": eval_id, "config": cfg.to_dict(), "vectors_runs": run_ids}
    tables.write(df, cfg.output.path, "evaluation", metadata=meta, mode="append")
    seconds = time.perf_counter() - t0
    return StageResult("evaluate", eval_id, seconds, rows=len(rows), stats={"results": json_summary(results)})
