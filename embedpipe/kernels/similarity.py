"""Similarity kernels: row normalisation, Spearman correlation, analogy search.

Pure functions over numpy arrays (numpy + numba only): no pyspark, no I/O, no
config objects.  The evaluation protocol they implement is the one used by
word2vec's ``compute-accuracy`` and gensim's ``KeyedVectors`` evaluation:

* cosine similarity is computed on unit-normalised float32 rows;
* Spearman's rho uses average ranks for ties (``scipy.stats.spearmanr``);
* 3CosAdd answers ``a : b :: c : ?`` with
  ``argmax_d cos(d, b - a + c)`` over unit vectors, excluding ``a, b, c``;
* 3CosMul (Levy & Goldberg 2014) answers with
  ``argmax_d cos'(d, b) * cos'(d, c) / (cos'(d, a) + eps)``, where
  ``cos' = (cos + 1) / 2``, again excluding ``a, b, c``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import numba
import numpy as np

__all__ = [
    "COSMUL_EPS",
    "analogy_argmax",
    "cosine_pairs",
    "normalize_rows",
    "spearman",
    "top_k",
    "top_k_scores",
]

#: Default epsilon of 3CosMul (Levy & Goldberg 2014).  Note that gensim's
#: ``most_similar_cosmul`` hard-codes ``1e-6`` instead.
COSMUL_EPS: float = 1e-3

_MODE_ROW = 0  # score = S[pb[i], j]  (a pre-computed query row per question)
_MODE_ADD = 1  # score = S[pb[i], j] - S[pa[i], j] + S[pc[i], j]
_MODE_MUL = 2  # score = cos'(b) * cos'(c) / (cos'(a) + eps)


def normalize_rows(m: np.ndarray) -> np.ndarray:
    """Scale every row of ``m`` to unit L2 norm.

    Parameters
    ----------
    m : numpy.ndarray
        2-D array of shape ``(n, dim)`` (any real dtype).

    Returns
    -------
    numpy.ndarray
        New C-contiguous float32 array of the same shape.  Norms are computed in
        float64; rows whose norm is zero stay zero (their cosine with anything
        is then 0).

    Raises
    ------
    ValueError
        If ``m`` is not 2-D.
    """
    m = np.asarray(m)
    if m.ndim != 2:
        raise ValueError(f"normalize_rows expects a 2-D (rows x dim) array, got shape {m.shape}")
    # float64 arithmetic in numpy's buffered loops, with no float64 copy of
    # ``m``: converting it first cost a fresh process most of a second of page
    # faults for 68k x 100 vectors, and it holds the same values.
    norms = np.sqrt(np.einsum("ij,ij->i", m, m, dtype=np.float64))
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    out = np.empty(m.shape, dtype=np.float32)
    np.multiply(m, scale[:, None], out=out, casting="same_kind")
    return out


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x`` with ties given their average rank (scipy 'average')."""
    n = x.shape[0]
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    # Start offsets of every run of equal values, plus the end sentinel.
    bounds = np.flatnonzero(np.concatenate(([True], xs[1:] != xs[:-1], [True])))
    # A run occupying sorted positions [s, e) has 1-based ranks s+1 .. e: mean (s + 1 + e) / 2.
    avg = (bounds[:-1] + bounds[1:] + 1) / 2.0
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = np.repeat(avg, np.diff(bounds))
    return ranks


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation with average ranks for ties.

    Equivalent to ``scipy.stats.spearmanr(x, y).statistic`` for finite inputs.

    Parameters
    ----------
    x, y : numpy.ndarray
        1-D arrays of equal length.

    Returns
    -------
    float
        Pearson correlation of the average ranks; ``nan`` if there are fewer
        than 2 pairs, either side has zero variance (all values tied), or any
        value is not finite.

    Raises
    ------
    ValueError
        If ``x`` and ``y`` are not 1-D arrays of the same length.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise ValueError(
            f"spearman expects two 1-D arrays of equal length, got shapes {x.shape} and {y.shape}"
        )
    if x.shape[0] < 2 or not (np.isfinite(x).all() and np.isfinite(y).all()):
        return float("nan")
    rx = _average_ranks(x)
    ry = _average_ranks(y)
    rx -= rx.mean()
    ry -= ry.mean()
    denom = np.sqrt(np.dot(rx, rx) * np.dot(ry, ry))
    if denom == 0.0:
        return float("nan")
    return float(np.clip(np.dot(rx, ry) / denom, -1.0, 1.0))


def cosine_pairs(unit: np.ndarray, idx_a: np.ndarray, idx_b: np.ndarray) -> np.ndarray:
    """Cosine similarity of row pairs of an already unit-normalised matrix.

    Parameters
    ----------
    unit : numpy.ndarray
        ``(n, dim)`` matrix whose rows have unit norm (see :func:`normalize_rows`).
    idx_a, idx_b : numpy.ndarray
        Integer row indices of equal length.

    Returns
    -------
    numpy.ndarray
        float64 array, ``out[i] = unit[idx_a[i]] . unit[idx_b[i]]`` (accumulated
        in float64).
    """
    idx_a = np.asarray(idx_a, dtype=np.intp)
    idx_b = np.asarray(idx_b, dtype=np.intp)
    if idx_a.shape != idx_b.shape or idx_a.ndim != 1:
        raise ValueError(
            f"cosine_pairs expects 1-D index arrays of equal length, "
            f"got shapes {idx_a.shape} and {idx_b.shape}"
        )
    va = np.asarray(unit[idx_a], dtype=np.float64)
    vb = np.asarray(unit[idx_b], dtype=np.float64)
    return np.einsum("ij,ij->i", va, vb)


@numba.njit(cache=True, nogil=True)
def _masked_argmax(  # pragma: no cover - compiled
    sims: np.ndarray,
    pa: np.ndarray,
    pb: np.ndarray,
    pc: np.ndarray,
    ea: np.ndarray,
    eb: np.ndarray,
    ec: np.ndarray,
    mode: int,
    eps: float,
) -> np.ndarray:
    """Per question ``i``: argmax over columns ``j`` of the combined score.

    ``sims`` rows hold cosines against every candidate; ``pa/pb/pc`` select the
    rows of ``a``, ``b``, ``c`` for question ``i`` (only ``pb`` for _MODE_ROW);
    ``ea/eb/ec`` are the candidate columns to exclude.  Ties go to the lowest
    column; -1 when no candidate is left (or all scores are NaN).
    """
    nq = pb.shape[0]
    nv = sims.shape[1]
    out = np.empty(nq, dtype=np.int64)
    for i in range(nq):
        best = -1
        best_score = -np.inf
        ra = pa[i]
        rb = pb[i]
        rc = pc[i]
        xa = ea[i]
        xb = eb[i]
        xc = ec[i]
        for j in range(nv):
            if j == xa or j == xb or j == xc:
                continue
            if mode == 0:
                s = sims[rb, j]
            elif mode == 1:
                s = sims[rb, j] - sims[ra, j] + sims[rc, j]
            else:
                s = (
                    (sims[rb, j] + 1.0)
                    * 0.5
                    * ((sims[rc, j] + 1.0) * 0.5)
                    / ((sims[ra, j] + 1.0) * 0.5 + eps)
                )
            if s > best_score:
                best_score = s
                best = j
        out[i] = best
    return out


def analogy_argmax(
    unit: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    c: np.ndarray,
    method: Literal["add", "mul"],
    block: int = 1024,
    *,
    eps: float = COSMUL_EPS,
) -> np.ndarray:
    """Answer analogy questions ``a : b :: c : ?`` by exhaustive search.

    Parameters
    ----------
    unit : numpy.ndarray
        ``(V, dim)`` unit-normalised candidate matrix, i.e. the ``restrict_vocab``
        most frequent words (see :func:`normalize_rows`).
    a, b, c : numpy.ndarray
        Integer row indices into ``unit`` (one entry per question).
    method : {"add", "mul"}
        ``"add"``: 3CosAdd, ``argmax_d cos(d, b - a + c)``.
        ``"mul"``: 3CosMul, ``argmax_d cos'(d,b) cos'(d,c) / (cos'(d,a) + eps)``
        with ``cos' = (cos + 1) / 2``.
    block : int, default 1024
        Questions processed per step; peak extra memory is about
        ``3 * block * V`` float32 values.
    eps : float, default 1e-3
        3CosMul epsilon (Levy & Goldberg).  gensim's ``most_similar_cosmul``
        uses ``1e-6``.

    Returns
    -------
    numpy.ndarray
        int64 predicted row index per question; ``a``, ``b`` and ``c`` are never
        returned.  Ties go to the lowest index (most frequent word).  ``-1`` if
        no candidate is left (``V <= 3``).

    Notes
    -----
    Cosines against all candidates are computed once per *distinct* word in a
    block (questions in a set reuse few words) and combined per question by a
    compiled loop.  For 3CosAdd on blocks of mostly distinct words the query
    ``b - a + c`` is instead multiplied with ``unit`` directly.  Both are exact
    evaluations of the same score; only float rounding differs.
    """
    if method not in ("add", "mul"):
        raise ValueError(f"method must be 'add' (3CosAdd) or 'mul' (3CosMul), got {method!r}")
    if block < 1:
        raise ValueError(f"block must be a positive number of questions, got {block}")
    unit = np.ascontiguousarray(unit, dtype=np.float32)
    if unit.ndim != 2:
        raise ValueError(f"unit must be a 2-D (vocab x dim) matrix, got shape {unit.shape}")
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    c = np.asarray(c, dtype=np.int64)
    if not (a.ndim == b.ndim == c.ndim == 1 and a.shape == b.shape == c.shape):
        raise ValueError(
            f"a, b, c must be 1-D index arrays of equal length, "
            f"got shapes {a.shape}, {b.shape}, {c.shape}"
        )
    nv, dim = unit.shape
    for name, idx in (("a", a), ("b", b), ("c", c)):
        if idx.size and (idx.min() < 0 or idx.max() >= nv):
            raise ValueError(
                f"analogy index array {name!r} has entries outside [0, {nv}); "
                "map words to rows of the restricted matrix first"
            )
    out = np.empty(a.shape[0], dtype=np.int64)
    for start in range(0, a.shape[0], block):
        sl = slice(start, start + block)
        qa, qb, qc = a[sl], b[sl], c[sl]
        nq = qa.shape[0]
        uniq, inv = np.unique(np.concatenate((qa, qb, qc)), return_inverse=True)
        inv = inv.astype(np.int64)
        pa, pb, pc = inv[:nq], inv[nq : 2 * nq], inv[2 * nq :]
        direct = method == "add" and uniq.shape[0] * dim + 3 * nq >= nq * dim
        if direct:
            q = unit[qb].astype(np.float32) - unit[qa] + unit[qc]
            q = normalize_rows(q)
            sims = q @ unit.T
            rows = np.arange(nq, dtype=np.int64)
            out[sl] = _masked_argmax(sims, rows, rows, rows, qa, qb, qc, _MODE_ROW, eps)
        else:
            sims = unit[uniq] @ unit.T
            mode = _MODE_ADD if method == "add" else _MODE_MUL
            out[sl] = _masked_argmax(sims, pa, pb, pc, qa, qb, qc, mode, eps)
    return out


def top_k(
    unit: np.ndarray,
    query_vec: np.ndarray,
    k: int,
    exclude: Iterable[int] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest rows of ``unit`` to ``query_vec`` by cosine similarity.

    Parameters
    ----------
    unit : numpy.ndarray
        ``(V, dim)`` unit-normalised matrix.
    query_vec : numpy.ndarray
        ``(dim,)`` query; normalised here (a zero query gives all-zero cosines).
    k : int
        Number of neighbours wanted; fewer are returned if fewer candidates exist.
    exclude : iterable of int, optional
        Row indices never returned (e.g. the query words themselves).

    Returns
    -------
    idx : numpy.ndarray
        int64 row indices, best first (ties broken by lower index).
    sims : numpy.ndarray
        float64 cosine similarities matching ``idx``.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    unit = np.asarray(unit, dtype=np.float32)
    q = np.asarray(query_vec, dtype=np.float64).reshape(-1)
    if unit.ndim != 2 or q.shape[0] != unit.shape[1]:
        raise ValueError(
            f"query of dimension {q.shape[0]} does not match matrix of shape {unit.shape}"
        )
    norm = np.sqrt(q @ q)
    q = (q / norm if norm > 0 else q).astype(np.float32)
    sims = (unit @ q).astype(np.float64)
    return top_k_scores(sims, k, exclude)


def top_k_scores(scores: np.ndarray, k: int, exclude: Iterable[int] = ()) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` highest entries of ``scores``, best first, ties to the lower index.

    Parameters
    ----------
    scores : numpy.ndarray
        ``(V,)`` score per row, e.g. cosines or 3CosMul scores.
    k : int
        Number wanted; fewer are returned if fewer candidates exist.
    exclude : iterable of int, optional
        Row indices never returned.

    Returns
    -------
    idx : numpy.ndarray
        int64 row indices, best first.
    sims : numpy.ndarray
        float64 scores matching ``idx``.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    sims = np.asarray(scores, dtype=np.float64).reshape(-1)
    keep = np.ones(sims.shape[0], dtype=bool)
    ex = np.fromiter((int(e) for e in exclude), dtype=np.int64)
    ex = ex[(ex >= 0) & (ex < sims.shape[0])]
    keep[ex] = False
    cand = np.flatnonzero(keep)
    k = min(k, cand.shape[0])
    if k == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    cs = sims[cand]
    if k < cand.shape[0]:
        part = np.argpartition(-cs, k - 1)[:k]
        # Include every candidate tied with the k-th best so tie-breaking is by index.
        kth = cs[part].min()
        part = np.flatnonzero(cs >= kth)
    else:
        part = np.arange(cand.shape[0])
    order = np.lexsort((cand[part], -cs[part]))[:k]
    sel = part[order]
    return cand[sel].astype(np.int64), cs[sel]
