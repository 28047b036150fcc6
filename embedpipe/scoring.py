"""Score word vectors on similarity and analogy sets; neighbour / analogy queries.

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

import difflib
from collections.abc import Callable, Sequence

import numpy as np

from embedpipe.evalsets import AnalogySet, PairSet, builtin_sets
from embedpipe.kernels.similarity import (
    COSMUL_EPS,
    analogy_argmax,
    cosine_pairs,
    normalize_rows,
    spearman,
    top_k,
)

__all__ = [
    "AnalogyFn",
    "UnknownWordError",
    "analogy",
    "local_analogy_predictions",
    "neighbors",
    "score_vectors",
]

#: ``(unit, a, b, c, block) -> (pred_3cosadd, pred_3cosmul)``: the analogy search
#: used by :func:`score_vectors` (``unit`` is the unit-normalised restricted
#: matrix, ``a``, ``b``, ``c`` int64 row indices into it; predictions are int64
#: rows of ``unit``, -1 for none).
AnalogyFn = Callable[
    [np.ndarray, np.ndarray, np.ndarray, np.ndarray, int], tuple[np.ndarray, np.ndarray]
]

_SUGGEST_TOP = 30000


class UnknownWordError(ValueError):
    """A query word is not in the vocabulary (or not in the restricted vocabulary)."""

    def __init__(self, word: str, message: str) -> None:
        super().__init__(message)
        self.word = word


def _check_inputs(words: Sequence[str], vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors)
    if vectors.ndim != 2:
        raise ValueError(f"vectors must be a 2-D (vocab x dim) array, got shape {vectors.shape}")
    if len(words) != vectors.shape[0]:
        raise ValueError(
            f"words has {len(words)} entries but vectors has {vectors.shape[0]} rows; "
            "row k of vectors must be the vector of words[k]"
        )
    return vectors


def _lower_index(words: Sequence[str], limit: int | None = None) -> dict[str, int]:
    """Map lower-cased word -> first (most frequent) row among ``words[:limit]``."""
    n = len(words) if limit is None else min(limit, len(words))
    index: dict[str, int] = {}
    for i in range(n):
        index.setdefault(words[i].lower(), i)
    return index


def _resolve_restrict(restrict_vocab: int | None, n: int) -> int:
    if restrict_vocab is None:
        return n
    if restrict_vocab < 1:
        raise ValueError(
            f"restrict_vocab must be a positive number of most-frequent words, got {restrict_vocab}"
        )
    return min(int(restrict_vocab), n)


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
        kind (:func:`embedpipe.evalsets.builtin_sets`); pass ``[]`` to skip a
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
    vectors = _check_inputs(words, vectors)
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
    rv = _resolve_restrict(restrict_vocab, len(words))

    out: dict[str, dict[str, float | int]] = {}
    if pair_sets:
        full_index = _lower_index(words)
        for ps in pair_sets:
            out[ps.name] = _score_pairs(full_index, vectors, ps)
    if analogy_sets:
        r_index = _lower_index(words, rv)
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


def _unknown(word: str, words: Sequence[str], where: str) -> UnknownWordError:
    pool = list(dict.fromkeys(w.lower() for w in words[:_SUGGEST_TOP]))
    match = difflib.get_close_matches(word.lower(), pool, n=1)
    hint = (
        f"did you mean {match[0]!r}?"
        if match
        else "if it is a real corpus word, lower vocab.min_count and rebuild the vocabulary"
    )
    return UnknownWordError(word, f"word {word!r} is not in {where}; {hint}")


def _lookup(word: str, words: Sequence[str], index: dict[str, int], where: str) -> int:
    i = index.get(word.lower())
    if i is None:
        raise _unknown(word, words, where)
    return i


def neighbors(
    words: Sequence[str],
    vectors: np.ndarray,
    word: str,
    k: int = 10,
    *,
    restrict_vocab: int | None = None,
) -> list[tuple[str, float]]:
    """The ``k`` words with the highest cosine similarity to ``word``.

    Parameters
    ----------
    words, vectors
        Vocabulary (descending frequency) and its vectors.
    word : str
        Query word (matched lower-cased).
    k : int, default 10
        Number of neighbours.
    restrict_vocab : int, optional
        Only search the ``restrict_vocab`` most frequent words (default: all).

    Returns
    -------
    list of (str, float)
        ``(neighbour, cosine)``, best first; the query word is excluded.

    Raises
    ------
    UnknownWordError
        If ``word`` is not in the vocabulary.
    """
    vectors = _check_inputs(words, vectors)
    rv = _resolve_restrict(restrict_vocab, len(words))
    i = _lookup(word, words, _lower_index(words), f"the vocabulary ({len(words)} words)")
    unit = normalize_rows(vectors[:rv])
    idx, sims = top_k(unit, vectors[i], k, exclude=[i])
    return [(words[j], float(s)) for j, s in zip(idx.tolist(), sims.tolist(), strict=True)]


def analogy(
    words: Sequence[str],
    vectors: np.ndarray,
    a: str,
    b: str,
    c: str,
    k: int = 1,
    restrict_vocab: int | None = None,
) -> list[tuple[str, float]]:
    """Answer ``a : b :: c : ?`` by 3CosAdd.

    Parameters
    ----------
    words, vectors
        Vocabulary (descending frequency) and its vectors.
    a, b, c : str
        Query words (matched lower-cased), e.g. ``"man", "king", "woman"``.
    k : int, default 1
        Number of answers.
    restrict_vocab : int, optional
        Only the ``restrict_vocab`` most frequent words are candidate answers
        (default: all).  The query words themselves may come from the full
        vocabulary.

    Returns
    -------
    list of (str, float)
        ``(answer, cos(answer, b - a + c))`` with unit-normalised vectors, best
        first; ``a``, ``b`` and ``c`` are never returned.

    Raises
    ------
    UnknownWordError
        If one of ``a``, ``b``, ``c`` is not in the vocabulary.
    """
    vectors = _check_inputs(words, vectors)
    rv = _resolve_restrict(restrict_vocab, len(words))
    index = _lower_index(words)
    where = f"the vocabulary ({len(words)} words)"
    ia, ib, ic = (_lookup(w, words, index, where) for w in (a, b, c))
    q = normalize_rows(vectors[[ia, ib, ic]])
    query = q[1].astype(np.float64) - q[0] + q[2]
    unit = normalize_rows(vectors[:rv])
    idx, sims = top_k(unit, query, k, exclude=[ia, ib, ic])
    return [(words[j], float(s)) for j, s in zip(idx.tolist(), sims.tolist(), strict=True)]
