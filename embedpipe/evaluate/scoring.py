"""Score word vectors on similarity and analogy sets.

Protocol (matches word2vec ``compute-accuracy`` and gensim ``KeyedVectors``):

* Words are matched lower-cased; if several vocabulary entries lower-case to
  the same string, the first (most frequent) one is used.
* **Similarity**: Spearman's rho (average ranks for ties) between the cosine of
  the two word vectors and the human score, over pairs whose two words are in
  the (full) vocabulary.  ``coverage = pairs / pairs_total``.
* **Analogies**: only the ``restrict_vocab`` most frequent words are used, both
  as inputs and as candidate answers; a question with any of its four words
  outside them is not answered.  3CosAdd: ``argmax_d cos(d, b - a + c)`` over
  unit vectors; 3CosMul: ``argmax_d cos'(d,b) cos'(d,c) / (cos'(d,a) + 0.001)``
  with ``cos' = (cos + 1) / 2``; ``a``, ``b``, ``c`` are never answers.
  ``accuracy = correct / answered`` (``semantic`` / ``syntactic`` restricted to
  those sections), ``coverage = answered / total``.

Metrics that have nothing to average over (no covered pair, no answered
question) are ``nan``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from embedpipe.evaluate.evalsets import AnalogySet, PairSet, builtin_sets
from embedpipe.kernels.similarity import (
    COSMUL_EPS,
    analogy_argmax,
    cosine_pairs,
    normalize_rows,
    spearman,
)
from embedpipe.vectors.queries import check_matrix, lower_index, resolve_restrict

__all__ = [
    "AnalogyFn",
    "local_analogy_predictions",
    "score_vectors",
]

#: ``(unit, a, b, c, block) -> (pred_3cosadd, pred_3cosmul)``: the analogy search
#: used by :func:`score_vectors` (``unit`` is the unit-normalised restricted
#: matrix, ``a``, ``b``, ``c`` int64 row indices into it; predictions are int64
#: rows of ``unit``, -1 for none).
AnalogyFn = Callable[
    [np.ndarray, np.ndarray, np.ndarray, np.ndarray, int], tuple[np.ndarray, np.ndarray]
]

def _score_pairs(index: dict[str, int], vectors: np.ndarray, ps: PairSet) -> dict[str, float | int]:
    ia = np.fromiter((index.get(w, -1) for w in ps.word1), dtype=np.int64, count=len(ps))
    ib = np.fromiter((index.get(w, -1) for w in ps.word2), dtype=np.int64, count=len(ps))
    ok = (ia >= 0) & (ib >= 0)
    n_ok = int(ok.sum())
    total = len(ps)
    rho = float("nan")
    if n_ok:
        rows, inv = np.unique(np.concatenate((ia[ok], ib[ok])), return_inverse=True)
        unit = normalize_rows(vectors[rows])
        cos = cosine_pairs(unit, inv[:n_ok], inv[n_ok:])
        rho = spearman(cos, ps.score[ok])
    return {
        "spearman": rho,
        "coverage": n_ok / total if total else float("nan"),
        "pairs": n_ok,
        "pairs_total": total,
    }


def local_analogy_predictions(
    unit: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray, block: int
) -> tuple[np.ndarray, np.ndarray]:
    """The default :data:`AnalogyFn`: 3CosAdd and 3CosMul answers on this process."""
    pred_add = analogy_argmax(unit, a, b, c, "add", block)
    pred_mul = analogy_argmax(unit, a, b, c, "mul", block, eps=COSMUL_EPS)
    return pred_add, pred_mul


def _score_analogies(
    unit: np.ndarray,
    canon: np.ndarray,
    index: dict[str, int],
    aset: AnalogySet,
    block: int,
    analogy_fn: AnalogyFn = local_analogy_predictions,
) -> dict[str, float | int]:
    total = len(aset)
    idx = np.full((total, 4), -1, dtype=np.int64)
    for q, quad in enumerate(aset.questions):
        for k in range(4):
            idx[q, k] = index.get(quad[k], -1)
    ok = (idx >= 0).all(axis=1)
    answered = int(ok.sum())
    nan = float("nan")
    result: dict[str, float | int] = {
        "accuracy": nan,
        "accuracy_3cosmul": nan,
        "semantic": nan,
        "syntactic": nan,
        "coverage": answered / total if total else nan,
        "answered": answered,
        "total": total,
    }
    if not answered:
        return result
    qa, qb, qc, qd = (idx[ok, k] for k in range(4))
    pred_add, pred_mul = analogy_fn(unit, qa, qb, qc, block)
    hit_add = (pred_add >= 0) & (canon[np.maximum(pred_add, 0)] == qd)
    hit_mul = (pred_mul >= 0) & (canon[np.maximum(pred_mul, 0)] == qd)
    sem = aset.semantic[ok]
    result["accuracy"] = float(hit_add.mean())
    result["accuracy_3cosmul"] = float(hit_mul.mean())
    if sem.any():
        result["semantic"] = float(hit_add[sem].mean())
    if (~sem).any():
        result["syntactic"] = float(hit_add[~sem].mean())
    return result


def score_vectors(
    words: Sequence[str],
    vectors: np.ndarray,
    *,
    restrict_vocab: int | None = 30000,
    pair_sets: Sequence[PairSet] | None = None,
    analogy_sets: Sequence[AnalogySet] | None = None,
    block: int = 1024,
    analogy_fn: AnalogyFn | None = None,
) -> dict[str, dict[str, float | int]]:
    """Evaluate one embedding model on similarity and analogy sets.

    Parameters
    ----------
    words : sequence of str
        Vocabulary in descending frequency order; row ``k`` of ``vectors`` is
        ``words[k]``.
    vectors : numpy.ndarray
        ``(len(words), dim)`` word vectors (any real dtype; used as float32).
    restrict_vocab : int or None, default 30000
        Analogy questions are answered using only the ``restrict_vocab`` most
        frequent words (``None``: all).  Similarity uses the full vocabulary.
    pair_sets, analogy_sets : sequence, optional
        Sets to evaluate.  ``None`` (default) means the shipped sets of that
        kind (:func:`embedpipe.evaluate.evalsets.builtin_sets`); pass ``[]`` to skip a
        kind.  To add your own sets to the built-in ones pass e.g.
        ``builtin_sets()[0] + [mine]``.
    block : int, default 1024
        Analogy questions searched per step (memory ~ ``3 * block * restrict_vocab``
        float32).
    analogy_fn : callable, optional
        Computes the analogy predictions, see :data:`AnalogyFn`; called once
        per analogy set with the same ``unit`` matrix.  Default
        :func:`local_analogy_predictions` (in-process search);
        :class:`embedpipe.evaluate.SparkAnalogySearch` runs it as a Spark job.
        Scoring of the predictions is the same either way.

    Returns
    -------
    dict
        ``{set_name: metrics}``.  Pair sets: ``{"spearman", "coverage", "pairs",
        "pairs_total"}``.  Analogy sets: ``{"accuracy", "accuracy_3cosmul",
        "semantic", "syntactic", "coverage", "answered", "total"}``.  Floats are
        Python floats (``nan`` when undefined), counts Python ints.

    Raises
    ------
    ValueError
        On shape mismatches, a non-positive ``restrict_vocab`` or duplicate set
        names.
    """
    vectors = check_matrix(words, vectors)
    if pair_sets is None or analogy_sets is None:
        builtin_pairs, builtin_analogies = builtin_sets()
        pair_sets = builtin_pairs if pair_sets is None else pair_sets
        analogy_sets = builtin_analogies if analogy_sets is None else analogy_sets
    pair_sets = list(pair_sets)
    analogy_sets = list(analogy_sets)
    names = [s.name for s in pair_sets] + [s.name for s in analogy_sets]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"evaluation set names must be unique; rename the duplicates {dupes}")
    rv = resolve_restrict(restrict_vocab, len(words))

    out: dict[str, dict[str, float | int]] = {}
    if pair_sets:
        full_index = lower_index(words)
        for ps in pair_sets:
            out[ps.name] = _score_pairs(full_index, vectors, ps)
    if analogy_sets:
        r_index = lower_index(words, rv)
        # Canonical row of each candidate: a case variant of the expected word counts as correct.
        canon = np.fromiter(
            (r_index[words[j].lower()] for j in range(rv)), dtype=np.int64, count=rv
        )
        unit = normalize_rows(vectors[:rv])
        for aset in analogy_sets:
            out[aset.name] = _score_analogies(
                unit, canon, r_index, aset, block, analogy_fn or local_analogy_predictions
            )
    return out
