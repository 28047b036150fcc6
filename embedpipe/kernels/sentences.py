"""Sentence and document vectors from word vectors: weighting, pooling, and SIF's component removal.

Pure functions of numpy arrays (numpy + numba only); the embed stage runs
them on the executors, batch by batch, and on the driver for the d x d
second moment.

A text's vector is a weighted average of its known tokens' word vectors:

* ``mean``: every token weighs 1, the sum is divided by the known tokens;
* ``tfidf``: each token weighs its word's IDF (:func:`idf_weights`); as a
  token counts once per occurrence, a word weighs tf x idf in all; the sum
  is divided by the weights' sum;
* ``sif`` (Arora, Liang and Ma, ICLR 2017, "A simple but tough-to-beat
  baseline for sentence embeddings", Algorithm 1): each token weighs
  a / (a + p(w)) (:func:`sif_weights`), the sum is divided by the known
  tokens ``|s|``, and afterwards every text loses its projection on the
  first principal component ``u`` of all texts' vectors
  (:func:`remove_component`). As in the paper's code (TruncatedSVD), ``u``
  is the first singular vector of the uncentred matrix, i.e. the top
  eigenvector of ``sum_s v_s v_sᵀ`` (:func:`second_moment`,
  :func:`first_component`): a sum over texts, so partitions add theirs up
  and no text vector has to meet another.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = [
    "average",
    "first_component",
    "idf_weights",
    "pool",
    "remove_component",
    "second_moment",
    "sif_weights",
]


def sif_weights(counts: np.ndarray, a: float) -> np.ndarray:
    """Each word's SIF weight ``a / (a + p(w))``, ``p(w) = count / sum(counts)`` (float64).

    Raises
    ------
    ValueError
        ``a`` is not positive, or the counts sum to zero (vectors read from a
        file carry none).
    """
    if not a > 0:
        raise ValueError(f"the SIF constant a must be > 0, got {a}")
    c = np.asarray(counts, dtype=np.float64)
    total = float(c.sum())
    if total <= 0:
        raise ValueError("SIF weights need word counts, and these sum to 0; use the mean or tfidf method")
    return a / (a + c / total)


def idf_weights(doc_freq: np.ndarray, n_docs: int) -> np.ndarray:
    """Smoothed inverse document frequency ``ln((1 + N) / (1 + df)) + 1`` of each word (float64).

    scikit-learn's ``TfidfVectorizer(smooth_idf=True)`` formula: a word in
    every text still weighs 1, never 0, so a text made only of such words
    keeps a vector.
    """
    df = np.asarray(doc_freq, dtype=np.float64)
    if n_docs < 0 or (df.size and (df.min() < 0 or df.max() > n_docs)):
        raise ValueError(f"document frequencies must lie in 0..n_docs={n_docs}")
    return np.log((1.0 + n_docs) / (1.0 + df)) + 1.0


@numba.njit(cache=True, nogil=True)
def _pool(doc, rows, times, matrix, weights, sums, weight_sums, used):  # type: ignore[no-untyped-def]
    dim = matrix.shape[1]
    for t in range(doc.shape[0]):
        d, r = doc[t], rows[t]
        w = times[t] * weights[r]
        for k in range(dim):
            sums[d, k] += w * matrix[r, k]
        weight_sums[d] += w
        used[d] += times[t]


def pool(
    doc: np.ndarray, rows: np.ndarray, times: np.ndarray, matrix: np.ndarray, weights: np.ndarray, n_docs: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted sums of word vectors per text.

    Entry ``t`` says: text ``doc[t]`` holds word row ``rows[t]`` ``times[t]``
    times (1 for a token; a term count when the entries are distinct words).

    Parameters
    ----------
    doc, rows, times : numpy.ndarray
        int64 arrays of one length; ``doc`` in ``0..n_docs-1``.
    matrix : numpy.ndarray
        ``(words, dim)`` word vectors (float32 or float64).
    weights : numpy.ndarray
        float64 weight of each word row.
    n_docs : int

    Returns
    -------
    sums : numpy.ndarray
        ``(n_docs, dim)`` float64, ``sum_t times[t] * weights[rows[t]] * matrix[rows[t]]`` per text.
    weight_sums : numpy.ndarray
        ``(n_docs,)`` float64, ``sum_t times[t] * weights[rows[t]]``.
    used : numpy.ndarray
        ``(n_docs,)`` int64, the known tokens ``sum_t times[t]``.
    """
    doc = np.ascontiguousarray(doc, dtype=np.int64)
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    times = np.ascontiguousarray(times, dtype=np.int64)
    if not (len(doc) == len(rows) == len(times)):
        raise ValueError(f"doc, rows and times differ in length: {len(doc)}, {len(rows)}, {len(times)}")
    if len(doc) and (doc.min() < 0 or doc.max() >= n_docs):
        raise ValueError(f"doc holds texts outside 0..{n_docs - 1}")
    if len(rows) and (rows.min() < 0 or rows.max() >= len(matrix)):
        raise ValueError(f"rows holds words outside 0..{len(matrix) - 1}")
    sums = np.zeros((n_docs, matrix.shape[1]), dtype=np.float64)
    weight_sums = np.zeros(n_docs, dtype=np.float64)
    used = np.zeros(n_docs, dtype=np.int64)
    _pool(doc, rows, times, np.ascontiguousarray(matrix), np.asarray(weights, np.float64), sums, weight_sums, used)
    return sums, weight_sums, used


def average(sums: np.ndarray, divisors: np.ndarray) -> np.ndarray:
    """``sums[i] / divisors[i]``; a row whose divisor is not positive (no known word) is NaN."""
    sums = np.asarray(sums, dtype=np.float64)
    div = np.asarray(divisors, dtype=np.float64)
    out = np.full_like(sums, np.nan)
    has = div > 0
    out[has] = sums[has] / div[has, None]
    return out


def second_moment(vectors: np.ndarray) -> np.ndarray:
    """``sum_i v_i v_iᵀ`` over the rows without NaN: a ``(dim, dim)`` float64 that partitions add up."""
    x = np.asarray(vectors, dtype=np.float64)
    x = x[~np.isnan(x).any(axis=1)]
    return x.T @ x


def first_component(moment: np.ndarray) -> np.ndarray:
    """The unit eigenvector of the largest eigenvalue of a symmetric ``moment``: the texts'
    first (uncentred) principal component. Its sign is arbitrary; :func:`remove_component` does not see it."""
    m = np.asarray(moment, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"expected a square (dim, dim) matrix, got shape {m.shape}")
    _, vecs = np.linalg.eigh((m + m.T) / 2)
    return vecs[:, -1]


def remove_component(vectors: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Each row minus its projection on the unit vector ``u``: ``v - (v·u) u`` (float64; NaN rows stay NaN)."""
    x = np.asarray(vectors, dtype=np.float64)
    u = np.asarray(u, dtype=np.float64)
    return x - np.outer(x @ u, u)
