"""An inverted file over unit rows: each row filed under its nearest centroid, each query scored against a few lists.

Pure array functions (numpy + numba; no BLAS inside the compiled code, so
no SciPy). The pieces of :class:`embedpipe.vectors.ivf.InvertedFileIndex`:

* :func:`spherical_kmeans` clusters the rows: the centroids are the
  unit-length means of their members, each row belongs to the centroid with
  the highest cosine;
* :func:`nearest_lists` ranks the centroids for each query (a query's
  "probes");
* :func:`scan_lists` scores each query against the rows of its probed lists
  only, into the running top-k lists of :mod:`embedpipe.kernels.topk`, so its
  answers are ordered as brute force orders them (higher cosine first, ties
  to the lower row).

The scan goes list by list, not query by query: every query probing a list
is scored while that list's rows (about 35 KB at dim 100) sit in the cache,
the way brute force scores a tile of queries against a tile of rows. A
list's queries are scored four at a time against four rows at a time:
sixteen running sums over the dimensions, kept in vector registers
(``fastmath``: the sums' order is free, as it is in BLAS). On one core that
made 28.1 billion multiply-adds a second at dim 100, against 21.2 for one
query by four rows and 3.2 for summing scaled columns of transposed rows
(bench/results/2026-12-06-ann-ivf-index/products.log).
"""

from __future__ import annotations

import functools

import numba
import numpy as np

from embedpipe.kernels.threads import run_parallel
from embedpipe.kernels.topk import _offer, empty_lists, offer_block

__all__ = ["nearest_lists", "scan_lists", "spherical_kmeans"]

# Rows of queries whose centroid scores are made at once (16 MB for every 1,024 lists).
_BLOCK_ROWS = 4096
# Up to this many probes a query's lists are ranked by insertion into a running list, beyond it by a sort.
_LISTS_BY_INSERTION = 64


def _labels(unit: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's nearest centroid (ties to the lower one) and its cosine with it."""
    labels = np.empty(unit.shape[0], dtype=np.int64)
    best = np.empty(unit.shape[0], dtype=np.float32)
    for start in range(0, unit.shape[0], _BLOCK_ROWS):
        scores = unit[start : start + _BLOCK_ROWS] @ centroids.T
        labels[start : start + len(scores)] = np.argmax(scores, axis=1)
        best[start : start + len(scores)] = scores[np.arange(len(scores)), labels[start : start + len(scores)]]
    return labels, best


def spherical_kmeans(
    unit: np.ndarray, k: int, *, iterations: int = 10, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Spherical k-means of unit rows: ``(k, dim)`` float32 unit centroids and each row's label.

    Starts from ``k`` distinct rows drawn with ``seed``. A cluster left
    empty by an iteration restarts at the rows furthest from their own
    centroids. The labels returned are the final centroids' (each row's
    nearest, ties to the lower), so a list can still end empty when rows
    repeat, e.g. fewer distinct rows than lists.
    """
    unit = np.ascontiguousarray(unit, dtype=np.float32)
    n = unit.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k must be in [1, {n}] for {n} rows, got {k}")
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    rng = np.random.default_rng(seed)
    centroids = unit[np.sort(rng.choice(n, size=k, replace=False))].copy()
    labels, best = _labels(unit, centroids)
    for _ in range(iterations):
        sizes = np.bincount(labels, minlength=k)
        empty = np.flatnonzero(sizes == 0)
        if len(empty):
            # The rows furthest from their centroid start the empty clusters.
            far = np.argsort(best, kind="stable")[: len(empty)]
            labels[far] = empty
            sizes = np.bincount(labels, minlength=k)
        order = np.argsort(labels, kind="stable")
        starts = np.r_[0, np.cumsum(sizes)[:-1]]
        sums = np.add.reduceat(unit[order], starts, axis=0)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        centroids = np.where(norms > 0, sums / np.maximum(norms, 1e-30), centroids).astype(np.float32)
        labels, best = _labels(unit, centroids)
    return np.ascontiguousarray(centroids), labels


def nearest_lists(queries: np.ndarray, centroids: np.ndarray, probes: int) -> np.ndarray:
    """``(n, probes)`` int32: for each query, the centroids with the highest cosine, best first, ties to the lower."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    centroids = np.ascontiguousarray(centroids, dtype=np.float32)
    probes = min(probes, centroids.shape[0])
    if probes < 1:
        raise ValueError(f"probes must be >= 1, got {probes}")
    ids, sims = empty_lists(queries.shape[0], probes)
    every = np.arange(centroids.shape[0], dtype=np.int32)
    none = np.full(min(_BLOCK_ROWS, queries.shape[0]), -1, dtype=np.int32)  # no centroid is a query's own
    for start in range(0, queries.shape[0], _BLOCK_ROWS):
        stop = min(start + _BLOCK_ROWS, queries.shape[0])
        scores = queries[start:stop] @ centroids.T
        if probes <= _LISTS_BY_INSERTION:
            offer_block(ids[start:stop], sims[start:stop], scores, every, none[: stop - start])
        else:  # long lists: a partition and a sort of the kept beat inserting into them
            ids[start:stop] = _best_by_sort(scores, probes)
    return ids


def _best_by_sort(scores: np.ndarray, p: int) -> np.ndarray:
    """Each row's ``p`` highest columns, best first, ties to the lower column."""
    n, m = scores.shape
    if p >= m:
        cols = np.tile(np.arange(m), (n, 1))
    else:
        kth = -np.partition(-scores, p - 1, axis=1)[:, p - 1 : p]  # each row's p-th highest score
        keep = scores >= kth
        for r in np.flatnonzero(keep.sum(axis=1) != p):  # ties at the cut (rare): the lower columns stay
            tied = np.flatnonzero(scores[r] == kth[r, 0])
            keep[r, tied[p - int((scores[r] > kth[r, 0]).sum()) :]] = False
        cols = np.nonzero(keep)[1].reshape(n, p)  # in column order within each row
    order = np.argsort(-np.take_along_axis(scores, cols, axis=1), axis=1, kind="stable")
    return np.take_along_axis(cols, order, axis=1).astype(np.int32)


@numba.njit(cache=True, nogil=True)
def _invert(probes: np.ndarray, part: np.ndarray, nlist: int) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """The (list, query) pairs of the queries ``part``, counting-sorted by list: bounds per list and query rows."""
    bounds = np.zeros(nlist + 1, np.int64)
    for i in range(part.shape[0]):
        for j in range(probes.shape[1]):
            bounds[probes[part[i], j] + 1] += 1
    for c in range(nlist):
        bounds[c + 1] += bounds[c]
    fill = bounds[:-1].copy()
    rows = np.empty(part.shape[0] * probes.shape[1], np.int64)
    for i in range(part.shape[0]):
        for j in range(probes.shape[1]):
            c = probes[part[i], j]
            rows[fill[c]] = part[i]
            fill[c] += 1
    return bounds, rows


@numba.njit(cache=True, nogil=True, fastmath=True)
def _products(
    stored: np.ndarray, lo: int, m: int, q0: np.ndarray, q1: np.ndarray, q2: np.ndarray, q3: np.ndarray,
    scores: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """``scores[i, :m]`` = ``stored[lo:lo + m] @ qi`` for four queries, in blocks of four rows.

    Sixteen running sums: each row value and query value loaded serves four
    products, which is what lets a core approach BLAS's speed.
    """
    dim = q0.shape[0]
    j = 0
    while j + 4 <= m:
        r0, r1, r2, r3 = stored[lo + j], stored[lo + j + 1], stored[lo + j + 2], stored[lo + j + 3]
        a00 = a01 = a02 = a03 = a10 = a11 = a12 = a13 = np.float32(0.0)
        a20 = a21 = a22 = a23 = a30 = a31 = a32 = a33 = np.float32(0.0)
        for d in range(dim):
            x0, x1, x2, x3 = r0[d], r1[d], r2[d], r3[d]
            y = q0[d]
            a00 += y * x0
            a01 += y * x1
            a02 += y * x2
            a03 += y * x3
            y = q1[d]
            a10 += y * x0
            a11 += y * x1
            a12 += y * x2
            a13 += y * x3
            y = q2[d]
            a20 += y * x0
            a21 += y * x1
            a22 += y * x2
            a23 += y * x3
            y = q3[d]
            a30 += y * x0
            a31 += y * x1
            a32 += y * x2
            a33 += y * x3
        scores[0, j], scores[0, j + 1], scores[0, j + 2], scores[0, j + 3] = a00, a01, a02, a03
        scores[1, j], scores[1, j + 1], scores[1, j + 2], scores[1, j + 3] = a10, a11, a12, a13
        scores[2, j], scores[2, j + 1], scores[2, j + 2], scores[2, j + 3] = a20, a21, a22, a23
        scores[3, j], scores[3, j + 1], scores[3, j + 2], scores[3, j + 3] = a30, a31, a32, a33
        j += 4
    while j < m:
        row = stored[lo + j]
        b0 = b1 = b2 = b3 = np.float32(0.0)
        for d in range(dim):
            x = row[d]
            b0 += q0[d] * x
            b1 += q1[d] * x
            b2 += q2[d] * x
            b3 += q3[d] * x
        scores[0, j], scores[1, j], scores[2, j], scores[3, j] = b0, b1, b2, b3
        j += 1


@numba.njit(cache=True, nogil=True)
def _scan(
    stored: np.ndarray,
    stored_ids: np.ndarray,
    offsets: np.ndarray,
    queries: np.ndarray,
    own: np.ndarray,
    bounds: np.ndarray,
    query_rows: np.ndarray,
    ids: np.ndarray,
    sims: np.ndarray,
) -> None:  # pragma: no cover - compiled
    last = ids.shape[1] - 1
    widest = 0
    for c in range(offsets.shape[0] - 1):
        widest = max(widest, offsets[c + 1] - offsets[c])
    scores = np.empty((4, widest), np.float32)
    for c in range(offsets.shape[0] - 1):
        lo, hi = offsets[c], offsets[c + 1]
        m = hi - lo
        if m == 0:
            continue
        a, b = bounds[c], bounds[c + 1]
        # The list's queries four at a time; a short last group repeats its last query.
        for t in range(a, b, 4):
            rs = (query_rows[t], query_rows[min(t + 1, b - 1)], query_rows[min(t + 2, b - 1)],
                  query_rows[min(t + 3, b - 1)])  # fmt: skip
            _products(stored, lo, m, queries[rs[0]], queries[rs[1]], queries[rs[2]], queries[rs[3]], scores)
            for i in range(min(4, b - t)):
                r = rs[i]
                floor = sims[r, last]  # most rows fall below the k-th score and cost one comparison
                for j in range(m):
                    s = scores[i, j]
                    if s < floor:
                        continue
                    cand = stored_ids[lo + j]
                    if cand != own[r]:
                        _offer(ids, sims, r, cand, s)
                        floor = sims[r, last]


def scan_lists(
    stored: np.ndarray,
    stored_ids: np.ndarray,
    offsets: np.ndarray,
    queries: np.ndarray,
    own: np.ndarray,
    probes: np.ndarray,
    k: int,
    *,
    threads: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """The top-``k`` lists of ``queries`` over the rows of their probed lists.

    Parameters
    ----------
    stored : numpy.ndarray
        ``(V, dim)`` float32: the unit rows, list after list.
    stored_ids : numpy.ndarray
        ``(V,)`` int32: the row each stored row is.
    offsets : numpy.ndarray
        ``(nlist + 1,)`` int64: list ``c`` holds stored rows ``offsets[c]:offsets[c + 1]``.
    queries : numpy.ndarray
        ``(n, dim)`` float32 unit query vectors.
    own : numpy.ndarray
        ``(n,)`` int32: a row each query never gets (its own row; -1 for none).
    probes : numpy.ndarray
        ``(n, p)`` int32: the lists each query is scored against (each list at most once a query).
    k : int
    threads : int, default 1
        The queries are split into this many parts, one thread each.

    Returns
    -------
    ids, sims : numpy.ndarray
        ``(n, k)`` int32 rows (-1 where fewer were found) and float32 cosines (-inf there),
        best first, ties to the lower row.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    n = queries.shape[0]
    if probes.shape[0] != n or own.shape != (n,) or queries.shape[1] != stored.shape[1]:
        raise ValueError(
            f"queries {queries.shape}, own {own.shape} and probes {probes.shape} must agree with the stored rows "
            f"({stored.shape[1]} dims)"
        )
    stored = np.ascontiguousarray(stored, dtype=np.float32)
    stored_ids = np.ascontiguousarray(stored_ids, dtype=np.int32)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    own = np.ascontiguousarray(own, dtype=np.int32)
    probes = np.ascontiguousarray(probes, dtype=np.int32)
    ids, sims = empty_lists(n, k)
    nlist = offsets.shape[0] - 1

    def part(rows: np.ndarray) -> None:
        bounds, query_rows = _invert(probes, rows, nlist)
        _scan(stored, stored_ids, offsets, queries, own, bounds, query_rows, ids, sims)

    # Each part writes only its own queries' lists.
    parts = [rows for rows in np.array_split(np.arange(n), max(1, threads)) if len(rows)]
    run_parallel([functools.partial(part, rows) for rows in parts], max(1, threads))
    return ids, sims
