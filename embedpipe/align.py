"""``embedpipe align``: map one model's space onto another's with orthogonal Procrustes.

``embedpipe align CONF --source MODEL[@RUN] --target MODEL[@RUN] [--name NAME]``
aligns two models of the ``vectors`` table: two runs or seeds of one model,
skip-gram against GloVe, or models of two corpora imported side by side.

1. Anchors: the ``align.anchors`` most frequent words (in the source's
   order) that both models hold, or the word pairs of ``align.dictionary``
   (two columns: source word, target word). ``align.held_out`` of them
   (source words, drawn with ``align.seed``) are kept aside.
2. The map: on unit-length rows of the remaining anchors, the orthogonal
   ``W`` minimising ``||X W - Y||`` (:func:`embedpipe.kernels.procrustes.procrustes`).
   An orthogonal map keeps every cosine of the source space, so nothing of
   the source's own geometry is lost.
3. The score: each held-out source word, mapped, retrieves its nearest
   words among the target's ``align.search`` most frequent words, by cosine
   and by CSLS (Conneau et al. 2018) with ``align.csls_k`` neighbours;
   precision@1 and @5 are the shares whose anchor partner is among the first
   1 and 5 answers.
4. The output: the whole source model times ``W`` is written to ``vectors``
   as model ``NAME`` (default ``<source>-aligned``), as ``embedpipe import``
   writes, so ``neighbors``, ``evaluate`` and ``export`` take it. The words
   that moved most are listed: among the ``align.moved_among`` most frequent
   shared words, those whose aligned vector has the lowest cosine with their
   target vector (Hamilton et al. 2016 measure semantic change this way).

Both models are read on the driver (through delta-rs where it reads
``output.path``, so only the write starts Spark). The work is a few matrix
products of the anchors and candidates, seconds for 30,000 words.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from embedpipe import paths
from embedpipe.config import AlignConfig, PipelineConfig, model_name_problem
from embedpipe.errors import ConfigError, InputError
from embedpipe.kernels.procrustes import nearest, precision_at, procrustes, split_anchors
from embedpipe.kernels.similarity import normalize_rows
from embedpipe.stage import StageResult, new_run_id
from embedpipe.vectors.keyed import Vectors
from embedpipe.vectors.models import ModelRef, load_model, parse_ref

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["Alignment", "align_vectors", "default_name", "format_report", "read_dictionary", "run"]

log = logging.getLogger(__name__)

# Neighbours shown for each word that moved, in each space.
_NEIGHBOURS = 3


@dataclass
class Alignment:
    """What :func:`align_vectors` found: the map, its scores, and the moved words."""

    w: np.ndarray  # (source dim, target dim), float64
    fit: int  # anchor pairs the map was fitted on
    held_out: int  # held-out source words scored
    candidates: int  # target words retrieval searched
    precision: dict[str, dict[str, float]]  # {"cosine"|"csls": {"p@1": .., "p@5": ..}}
    moved: list[dict[str, Any]]  # [{"word", "cosine", "source_neighbours", "target_neighbours"}], most moved first
    anchors_from: str  # "shared words" or the dictionary's path
    dropped_pairs: int = 0  # dictionary pairs with a word one of the models lacks


def default_name(source: ModelRef) -> str:
    return f"{source.model}-aligned"


def read_dictionary(path: str) -> list[tuple[str, str]]:
    """Word pairs of a local two-column file (whitespace-separated; ``#`` starts a comment).

    Raises
    ------
    InputError
        No such local file, or a line without exactly two words.
    """
    local = paths.local_path(path)
    if local is None or not os.path.isfile(local):
        raise InputError(f"no dictionary file {path}; align.dictionary names a local file of 'source target' lines")
    pairs: list[tuple[str, str]] = []
    with open(local, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            cols = text.split()
            if len(cols) != 2:
                raise InputError(
                    f"{path}, line {n}: expected two words (source target), got {len(cols)}: {line.strip()!r}"
                )
            pairs.append((cols[0], cols[1]))
    if not pairs:
        raise InputError(f"{path} holds no word pairs; write one 'source target' pair per line")
    return pairs


def _shared_anchors(source: Vectors, target: Vectors, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows (source, target) of the first ``limit`` source words that the target holds exactly."""
    index: dict[str, int] = {}
    for row, w in enumerate(target.words):
        index.setdefault(w, row)
    src, tgt = [], []
    for row, w in enumerate(source.words):
        j = index.get(w)
        if j is not None:
            src.append(row)
            tgt.append(j)
            if len(src) == limit:
                break
    return np.asarray(src, dtype=np.int64), np.asarray(tgt, dtype=np.int64)


def _dictionary_anchors(
    source: Vectors, target: Vectors, pairs: list[tuple[str, str]]
) -> tuple[np.ndarray, np.ndarray, int]:
    src, tgt, seen = [], [], set()
    for a, b in pairs:
        if a in source and b in target:
            key = (source.row(a), target.row(b))
            if key not in seen:
                seen.add(key)
                src.append(key[0])
                tgt.append(key[1])
    return np.asarray(src, dtype=np.int64), np.asarray(tgt, dtype=np.int64), len(pairs) - len(src)


def align_vectors(
    source: Vectors, target: Vectors, cfg: AlignConfig, *, pairs: list[tuple[str, str]] | None = None
) -> Alignment:
    """Fit the orthogonal map of ``source`` onto ``target`` and score it (numpy, on the driver).

    Parameters
    ----------
    source, target : Vectors
    cfg : AlignConfig
    pairs : list of (str, str), optional
        Dictionary anchors (source word, target word); default: shared frequent words.

    Raises
    ------
    InputError
        Too few anchors to hold ``cfg.held_out`` out and still fit.
    """
    if pairs is None:
        src_rows, tgt_rows = _shared_anchors(source, target, cfg.anchors)
        dropped, anchors_from = 0, "shared words"
    else:
        src_rows, tgt_rows, dropped = _dictionary_anchors(source, target, pairs)
        anchors_from = cfg.dictionary or "dictionary"
    words = np.unique(src_rows)  # held-out units are source words (a dictionary word may have several partners)
    if len(words) <= cfg.held_out:
        what = "shared words" if pairs is None else "dictionary source words found in both models"
        raise InputError(
            f"{len(words)} {what} cannot hold out align.held_out={cfg.held_out} and still fit a map; "
            f"lower align.held_out (e.g. --set align.held_out={max(1, len(words) // 5)})"
        )
    fit_w, held_w = split_anchors(len(words), cfg.held_out, cfg.seed)
    held_words = words[held_w]
    is_held = np.isin(src_rows, held_words)
    su, tu = source.unit(), target.unit()
    w = procrustes(su[src_rows[~is_held]], tu[tgt_rows[~is_held]])

    # Retrieval: candidates are the target's most frequent words plus every held-out partner;
    # CSLS's source neighbourhood, the source's most frequent words plus the held-out words.
    cand = np.union1d(np.arange(min(cfg.search, len(target))), tgt_rows[is_held])
    src_space = np.union1d(np.arange(min(cfg.search, len(source))), held_words)
    mapped = su[src_space] @ w.astype(np.float32)
    queries = np.searchsorted(src_space, held_words)
    query_of_pair = np.searchsorted(held_words, src_rows[is_held])
    gold = np.searchsorted(cand, tgt_rows[is_held])
    precision: dict[str, dict[str, float]] = {}
    for method in ("cosine", "csls"):
        answers = nearest(mapped, tu[cand], queries, topn=5, method=method, k=cfg.csls_k)  # type: ignore[arg-type]
        precision[method] = {f"p@{k}": precision_at(answers, query_of_pair, gold, k) for k in (1, 5)}

    moved = _moved(source, target, w, cfg)
    return Alignment(
        w=w, fit=int((~is_held).sum()), held_out=len(held_words), candidates=len(cand), precision=precision,
        moved=moved, anchors_from=anchors_from, dropped_pairs=dropped,
    )  # fmt: skip


def _moved(source: Vectors, target: Vectors, w: np.ndarray, cfg: AlignConfig) -> list[dict[str, Any]]:
    """The ``cfg.moved`` frequent shared words whose aligned vector is furthest from their target vector."""
    if cfg.moved == 0:
        return []
    src_rows, tgt_rows = _shared_anchors(source, target, cfg.moved_among)
    aligned = normalize_rows(source.unit()[src_rows] @ w.astype(np.float32))
    cos = np.einsum("ij,ij->i", aligned.astype(np.float64), target.unit()[tgt_rows].astype(np.float64))
    order = np.argsort(cos, kind="stable")[: cfg.moved]
    s_space = source.unit()[: min(cfg.search, len(source))]
    t_space = target.unit()[: min(cfg.search, len(target))]
    out = []
    for i in order.tolist():
        out.append(
            {
                "word": source.words[src_rows[i]],
                "cosine": float(cos[i]),
                "source_neighbours": _neighbours(source, s_space, int(src_rows[i])),
                "target_neighbours": _neighbours(target, t_space, int(tgt_rows[i])),
            }
        )
    return out


def _neighbours(vec: Vectors, space: np.ndarray, row: int) -> list[str]:
    scores = space @ vec.unit()[row]
    if row < len(scores):
        scores[row] = -np.inf
    top = np.argsort(-scores, kind="stable")[:_NEIGHBOURS]
    return [vec.words[j] for j in top.tolist()]


def prepare(
    cfg: PipelineConfig,
    source: str,
    target: str,
    name: str | None,
    spark: Callable[[], SparkSession],
) -> tuple[ModelRef, ModelRef, str, Vectors, Vectors, Alignment]:
    """Check the names, read both models and align them: everything before the write.

    Raises
    ------
    ConfigError
        A bad model reference or output name.
    TableError
        A model or run the vectors table lacks.
    InputError
        A bad dictionary, or too few anchors.
    """
    src_ref, tgt_ref = parse_ref(source), parse_ref(target)
    out_name = name or default_name(src_ref)
    problem = model_name_problem(out_name, imported=True)
    if problem is not None:
        raise ConfigError(f"--name: {problem}")
    if out_name in (src_ref.model, tgt_ref.model):
        raise ConfigError(
            f"--name {out_name!r} would replace the model it is aligned from or to; "
            f"pick another (e.g. {out_name}-aligned)"
        )
    pairs = read_dictionary(cfg.align.dictionary) if cfg.align.dictionary else None
    src = load_model(cfg.output.path, src_ref, spark)
    tgt = load_model(cfg.output.path, tgt_ref, spark)
    log.info(
        "align: %s (%d words, dim %d) onto %s (%d words, dim %d)",
        src_ref, len(src), src.dim, tgt_ref, len(tgt), tgt.dim,
    )  # fmt: skip
    return src_ref, tgt_ref, out_name, src, tgt, align_vectors(src, tgt, cfg.align, pairs=pairs)


def run(
    spark: SparkSession,
    cfg: PipelineConfig,
    *,
    source: str,
    target: str,
    name: str | None = None,
    prepared: tuple[ModelRef, ModelRef, str, Vectors, Vectors, Alignment] | None = None,
) -> StageResult:
    """Align ``source`` onto ``target``, write the aligned model, and return the scores.

    ``prepared`` is :func:`prepare`'s result when the caller already has it
    (the CLI aligns before it starts Spark).
    """
    from embedpipe.vectors.table import write_vectors

    t0 = time.perf_counter()
    src_ref, tgt_ref, out_name, src, tgt, al = prepared or prepare(cfg, source, target, name, lambda: spark)
    run_id = new_run_id()
    matrix = (src.matrix.astype(np.float64) @ al.w).astype(np.float32)
    write_vectors(
        spark, cfg.output.path, model=out_name, run_id=run_id, words=src.words, counts=src.counts, matrix=matrix,
        metadata={
            "stage": "align", "imported": True, "source": str(src_ref), "source_run_id": src.run_id,
            "target": str(tgt_ref), "target_run_id": tgt.run_id, "precision": al.precision,
            "config": {"align": cfg.to_dict()["align"]},
        },
    )  # fmt: skip
    stats = {
        "source": str(src_ref), "source_run_id": src.run_id, "target": str(tgt_ref), "target_run_id": tgt.run_id,
        "model": out_name, "dim": [src.dim, tgt.dim], "anchors": al.anchors_from, "fit": al.fit,
        "held_out": al.held_out, "candidates": al.candidates, "dropped_pairs": al.dropped_pairs,
        "precision": al.precision, "moved": al.moved, "table": paths.join(cfg.output.path, "vectors"),
    }  # fmt: skip
    log.info("align: wrote model %s (%d words) to %s", out_name, len(src), stats["table"])
    return StageResult("align", run_id, time.perf_counter() - t0, rows=len(src), stats=stats)


def format_report(stats: dict[str, Any]) -> str:
    """The readable report of :func:`run`'s stats."""
    lines = [
        f"aligned {stats['source']} onto {stats['target']} (dim {stats['dim'][0]} -> {stats['dim'][1]}): "
        f"{stats['fit']} anchor pairs from {stats['anchors']}, {stats['held_out']} words held out, "
        f"{stats['candidates']} candidates",
        "",
        "retrieval  p@1    p@5",
    ]
    for method, p in stats["precision"].items():
        lines.append(f"{method:<9}  {p['p@1']:.3f}  {p['p@5']:.3f}")
    lines += ["", f"wrote model {stats['model']} to {stats['table']}"]
    if stats["moved"]:
        lines += ["", "moved most (cosine after alignment; neighbours in source | target):"]
        width = max(len(m["word"]) for m in stats["moved"])
        for m in stats["moved"]:
            lines.append(
                f"  {m['word']:<{width}}  {m['cosine']:+.3f}  "
                f"{', '.join(m['source_neighbours'])} | {', '.join(m['target_neighbours'])}"
            )
    return "\n".join(lines)
