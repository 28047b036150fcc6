"""Orthogonal Procrustes between two vector sets, and bilingual-lexicon style retrieval.

Pure functions over numpy arrays (no pyspark, no I/O, no config):

* :func:`procrustes` is the orthogonal map ``W`` minimising ``||X W - Y||_F``
  over anchor pairs: with ``U S Vᵀ = svd(Xᵀ Y)``, ``W = U Vᵀ`` (Schönemann
  1966; the closed form Xing et al. 2015 and Conneau et al. 2018 use for
  word translation). When the two spaces have different sizes, ``W`` is
  semi-orthogonal (orthonormal rows or columns), which still keeps cosines
  of the smaller space.
* :func:`nearest` retrieves target rows for mapped source rows, by cosine or
  by CSLS (Conneau et al. 2018, "Word Translation Without Parallel Data"):
  ``2 cos(x, y) - r_T(x) - r_S(y)``, where ``r_T(x)`` is the mean cosine of
  ``x`` with its ``k`` nearest targets and ``r_S(y)`` that of ``y`` with its
  ``k`` nearest mapped sources. CSLS lowers the scores of "hub" targets that
  are near everything.
* :func:`precision_at` is precision@k of that retrieval against gold pairs,
  counting a query right when any of its gold targets is among its top ``k``
  (a dictionary may give a word several translations).
* :func:`split_anchors` is a seeded split of anchor pairs into fit and held-out.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = ["knn_mean", "nearest", "precision_at", "procrustes", "split_anchors"]

Retrieval = Literal["cosine", "csls"]

# Rows of a score block at a time: a (block, candidates) float32 matrix.
_BLOCK = 2048


def procrustes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The orthogonal ``W`` (``x.shape[1]`` × ``y.shape[1]``) minimising ``||x W - y||_F``.

    Parameters
    ----------
    x, y : numpy.ndarray
        ``(n, d1)`` and ``(n, d2)``: row ``i`` of ``x`` is the source vector of
        anchor ``i``, row ``i`` of ``y`` its target vector.

    Returns
    -------
    numpy.ndarray
        float64 ``(d1, d2)``; ``Wᵀ W = I`` when ``d1 >= d2``, ``W Wᵀ = I`` otherwise.

    Raises
    ------
    ValueError
        ``x`` and ``y`` are not 2-D with the same number of rows, or hold no rows.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"procrustes needs (n, d1) and (n, d2) arrays of anchor pairs, got {x.shape} and {y.shape}")
    if x.shape[0] == 0:
        raise ValueError("procrustes needs at least one anchor pair, got none")
    u, _, vt = np.linalg.svd(x.T @ y, full_matrices=False)
    return u @ vt


def _unit(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float32)
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return np.divide(m, norms, out=np.zeros_like(m), where=norms > 0)


def knn_mean(queries: np.ndarray, candidates: np.ndarray, k: int) -> np.ndarray:
    """Mean cosine of each query row with its ``k`` nearest candidate rows (CSLS's ``r``).

    Both are unit rows; ``k`` is capped at the number of candidates.
    """
    q = _unit(queries)
    c = _unit(candidates)
    k = max(1, min(int(k), c.shape[0]))
    out = np.empty(q.shape[0], dtype=np.float64)
    for start in range(0, q.shape[0], _BLOCK):
        s = q[start : start + _BLOCK] @ c.T
        top = np.partition(s, s.shape[1] - k, axis=1)[:, s.shape[1] - k :]
        out[start : start + s.shape[0]] = top.mean(axis=1, dtype=np.float64)
    return out


def nearest(
    mapped: np.ndarray,
    target: np.ndarray,
    queries: np.ndarray,
    *,
    topn: int = 5,
    method: Retrieval = "cosine",
    k: int = 10,
) -> np.ndarray:
    """The ``topn`` target rows nearest to each query row of ``mapped``, best first.

    Parameters
    ----------
    mapped : numpy.ndarray
        ``(ns, d)`` source vectors already mapped into the target space; all
        of them are CSLS's source neighbourhood.
    target : numpy.ndarray
        ``(nt, d)`` candidate target vectors.
    queries : numpy.ndarray
        Row indices into ``mapped``.
    topn : int
        Answers per query (capped at ``nt``).
    method : {"cosine", "csls"}
    k : int
        CSLS's neighbourhood size (10 in Conneau et al.).

    Returns
    -------
    numpy.ndarray
        int64 ``(len(queries), topn)`` target row indices; ties go to the lower row.
    """
    if method not in ("cosine", "csls"):
        raise ValueError(f"method must be 'cosine' or 'csls', got {method!r}")
    src = _unit(mapped)
    tgt = _unit(target)
    q = np.asarray(queries, dtype=np.int64)
    topn = max(1, min(int(topn), tgt.shape[0]))
    penalty = np.zeros(tgt.shape[0], dtype=np.float32)
    r_src = np.zeros(q.shape[0], dtype=np.float32)
    if method == "csls":
        penalty = knn_mean(tgt, src, k).astype(np.float32)  # r_S(y) for every target y
        r_src = knn_mean(src[q], tgt, k).astype(np.float32)  # r_T(x) for every query x
    out = np.empty((q.shape[0], topn), dtype=np.int64)
    for start in range(0, q.shape[0], _BLOCK):
        s = src[q[start : start + _BLOCK]] @ tgt.T
        if method == "csls":
            s = 2 * s - r_src[start : start + s.shape[0], None] - penalty[None, :]
        out[start : start + s.shape[0]] = _top(s, topn)
    return out


def _top(s: np.ndarray, n: int) -> np.ndarray:
    """Column indices of each row's ``n`` highest scores, best first, the lower index first among ties."""
    if n < s.shape[1]:
        part = np.argpartition(-s, n - 1, axis=1)[:, :n]
    else:
        part = np.broadcast_to(np.arange(s.shape[1]), s.shape)
    vals = np.take_along_axis(s, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)
    return np.take_along_axis(part, order, axis=1).astype(np.int64)


def precision_at(answers: np.ndarray, query_of_pair: np.ndarray, gold: np.ndarray, k: int) -> float:
    """Share of queries with a gold target among their first ``k`` answers.

    Parameters
    ----------
    answers : numpy.ndarray
        ``(nq, >= k)`` answers of :func:`nearest`, one row per query.
    query_of_pair, gold : numpy.ndarray
        Gold pairs: pair ``i`` says that query ``query_of_pair[i]`` (a row of
        ``answers``) translates to target row ``gold[i]``. Every query needs
        at least one pair.
    k : int
    """
    answers = np.asarray(answers)
    qp = np.asarray(query_of_pair, dtype=np.int64)
    g = np.asarray(gold, dtype=np.int64)
    if answers.shape[0] == 0:
        raise ValueError("precision_at needs at least one query")
    if answers.shape[1] < k:
        raise ValueError(f"precision@{k} needs {k} answers per query, got {answers.shape[1]}")
    hit_pair = (answers[qp, :k] == g[:, None]).any(axis=1)
    hit = np.zeros(answers.shape[0], dtype=bool)
    np.logical_or.at(hit, qp, hit_pair)
    return float(hit.mean())


def split_anchors(n: int, held_out: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded split of ``n`` anchors into (fit, held-out) index arrays, each ascending.

    ``held_out`` anchors are drawn uniformly without replacement; the rest fit.
    """
    if not 0 <= held_out < n:
        raise ValueError(f"cannot hold out {held_out} of {n} anchors; at least one must be left to fit")
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[held_out:]), np.sort(perm[:held_out])
