"""Running top-k lists: every query row keeps its ``k`` best candidates as blocks of scores arrive.

Pure array functions (numpy + numba). A list is two ``(n, k)`` arrays, ids
(int32, ``-1`` for an empty slot) and scores (float32, ``-inf`` for an empty
slot), each row best first: higher score first, ties to the lower id, as
:func:`embedpipe.kernels.similarity.top_k` orders them. Offering the same
candidates in any order and in any grouping gives the same lists, which is
what lets the neighbours job score blocks on different tasks and merge them
afterwards. NaN scores are never kept.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["block_pair_lists", "empty_lists", "exact_neighbors", "merge_lists", "offer_block"]

# Searches score tiles of this many query rows by this many candidates (16 MB),
# and scans each tile right after making it. On wiki17m's vectors (10,000 queries,
# 67,873 words, 2 cores) 4,096 x 1,024 took 1.05 s where chunks of 247 queries by every
# word took 2.35 s: a tile's scores are still in the cache when they are scanned.
_TILE_ROWS = 4096
_TILE_CANDIDATES = 1024


def empty_lists(n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` empty top-``k`` lists: ids -1, scores -inf."""
    return np.full((n, k), -1, dtype=np.int32), np.full((n, k), -np.inf, dtype=np.float32)


@numba.njit(cache=True, nogil=True, inline="always")
def _offer(ids: np.ndarray, sims: np.ndarray, r: int, cid: int, s: float) -> None:  # pragma: no cover - compiled
    k = ids.shape[1]
    last = k - 1
    # Better than the k-th: a higher score, or the same score and a lower id (an empty slot loses to any score).
    if not (s > sims[r, last] or (s == sims[r, last] and ids[r, last] >= 0 and cid < ids[r, last])):
        return
    pos = last
    while pos > 0:
        ps = sims[r, pos - 1]
        if s > ps or (s == ps and ids[r, pos - 1] >= 0 and cid < ids[r, pos - 1]):
            sims[r, pos] = ps
            ids[r, pos] = ids[r, pos - 1]
            pos -= 1
        else:
            break
    sims[r, pos] = s
    ids[r, pos] = cid


@numba.njit(cache=True, nogil=True)
def _offer_block(
    ids: np.ndarray, sims: np.ndarray, scores: np.ndarray, cand: np.ndarray, query: np.ndarray
) -> None:  # pragma: no cover - compiled
    last = ids.shape[1] - 1
    for r in range(scores.shape[0]):
        q = query[r]
        floor = sims[r, last]  # the k-th score: most candidates fall below it and cost one comparison
        for j in range(scores.shape[1]):
            s = scores[r, j]
            if s < floor:
                continue
            c = cand[j]
            if c != q:
                _offer(ids, sims, r, c, s)
                floor = sims[r, last]


@numba.njit(cache=True, nogil=True)
def _merge_lists(
    ids: np.ndarray, sims: np.ndarray, other_ids: np.ndarray, other_sims: np.ndarray
) -> None:  # pragma: no cover - compiled
    for r in range(other_ids.shape[0]):
        for j in range(other_ids.shape[1]):
            c = other_ids[r, j]
            if c >= 0:
                _offer(ids, sims, r, c, other_sims[r, j])


def offer_block(
    ids: np.ndarray, sims: np.ndarray, scores: np.ndarray, candidates: np.ndarray, queries: np.ndarray
) -> None:
    """Offer every candidate of a block of scores to the query rows' lists, in place.

    Parameters
    ----------
    ids, sims : numpy.ndarray
        ``(n, k)`` lists (int32 and float32, C-contiguous), updated in place.
    scores : numpy.ndarray
        ``(n, m)`` float32: ``scores[r, j]`` is candidate ``candidates[j]``'s score for query row ``r``.
    candidates : numpy.ndarray
        ``(m,)`` candidate ids.
    queries : numpy.ndarray
        ``(n,)`` the query rows' own ids: a query is never its own candidate.

    Raises
    ------
    ValueError
        If the shapes do not agree.
    """
    scores = np.ascontiguousarray(scores, dtype=np.float32)
    cand = np.ascontiguousarray(candidates, dtype=np.int32)
    query = np.ascontiguousarray(queries, dtype=np.int32)
    if scores.ndim != 2 or scores.shape != (ids.shape[0], cand.shape[0]) or query.shape != (ids.shape[0],):
        raise ValueError(
            f"scores {scores.shape} must be (queries, candidates) = ({ids.shape[0]}, {cand.shape[0]}) "
            f"and queries {query.shape} must be ({ids.shape[0]},)"
        )
    _check_lists(ids, sims)
    _offer_block(ids, sims, scores, cand, query)


def merge_lists(ids: np.ndarray, sims: np.ndarray, other_ids: np.ndarray, other_sims: np.ndarray) -> None:
    """Merge the lists ``other_*`` (of the same query rows, any ``k``) into ``ids``/``sims``, in place."""
    _check_lists(ids, sims)
    oi = np.ascontiguousarray(other_ids, dtype=np.int32)
    os_ = np.ascontiguousarray(other_sims, dtype=np.float32)
    if oi.shape != os_.shape or oi.ndim != 2 or oi.shape[0] != ids.shape[0]:
        raise ValueError(f"lists to merge {oi.shape} / {os_.shape} must be ({ids.shape[0]}, k') arrays")
    _merge_lists(ids, sims, oi, os_)


def _check_lists(ids: np.ndarray, sims: np.ndarray) -> None:
    if (
        ids.dtype != np.int32
        or sims.dtype != np.float32
        or ids.shape != sims.shape
        or ids.ndim != 2
        or not (ids.flags.c_contiguous and sims.flags.c_contiguous)
    ):
        raise ValueError("top-k lists must be C-contiguous (n, k) int32 ids and float32 scores (see empty_lists)")


def exact_neighbors(unit: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` rows of ``unit`` with the highest cosine to each of ``rows``, the row itself excluded.

    Parameters
    ----------
    unit : numpy.ndarray
        ``(V, dim)`` float32 unit-length rows.
    rows : numpy.ndarray
        Query row numbers.
    k : int
        Neighbours per row; fewer than ``V - 1`` is the usual case, and empty
        slots (id -1, score -inf) fill the rest when ``k >= V``.

    Returns
    -------
    ids, sims : numpy.ndarray
        ``(len(rows), k)`` int32 rows and float32 cosines, best first, ties to the lower row.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    unit = np.ascontiguousarray(unit, dtype=np.float32)
    rows = np.asarray(rows, dtype=np.int64).reshape(-1)
    n, v = rows.shape[0], unit.shape[0]
    ids, sims = empty_lists(n, k)
    if n == 0:
        return ids, sims
    cand = np.arange(v, dtype=np.int32)
    queries = rows.astype(np.int32)
    # A tile of queries at a time against every word: the queries' rows are gathered
    # one tile at a time, so asking for every word never copies the whole matrix.
    for start in range(0, n, _TILE_ROWS):
        stop = min(start + _TILE_ROWS, n)
        (ids[start:stop], sims[start:stop]), _ = block_pair_lists(
            queries[start:stop], unit[rows[start:stop]], cand, unit, k, both=False
        )
    return ids, sims


def block_pair_lists(
    q_ids: np.ndarray, q_unit: np.ndarray, c_ids: np.ndarray, c_unit: np.ndarray, k: int, *, both: bool
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray] | None]:
    """Top-``k`` lists of two blocks of unit rows scored against each other.

    Parameters
    ----------
    q_ids, q_unit : numpy.ndarray
        The query block: ``(n,)`` ids and ``(n, dim)`` float32 unit rows.
    c_ids, c_unit : numpy.ndarray
        The candidate block, ``(m,)`` and ``(m, dim)``. It may be the query
        block itself: a row is never its own candidate.
    k : int
    both : bool
        Also the candidate rows' lists over the query rows (cosine is
        symmetric: one product of the two blocks serves both directions).

    Returns
    -------
    (ids, sims), (ids, sims) or None
        The query rows' ``(n, k)`` lists over the candidates; with ``both``,
        the candidate rows' ``(m, k)`` lists over the queries.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    q_ids = np.ascontiguousarray(q_ids, dtype=np.int32)
    c_ids = np.ascontiguousarray(c_ids, dtype=np.int32)
    q_unit = np.ascontiguousarray(q_unit, dtype=np.float32)
    c_unit = np.ascontiguousarray(c_unit, dtype=np.float32)
    n, m = q_ids.shape[0], c_ids.shape[0]
    q_lists = empty_lists(n, k)
    c_lists = empty_lists(m, k) if both else None
    # Tiles as in exact_neighbors. The candidates' lists take their own product of each
    # tile (candidates times queries) rather than the tile transposed: on two 20,971-row
    # blocks of wiki17m, 1.6 s against 3.3-3.7 s for the chunks with transposed copies before.
    q_buf = np.empty((min(_TILE_ROWS, n), min(_TILE_CANDIDATES, m)), dtype=np.float32)
    c_buf = np.empty((min(_TILE_CANDIDATES, m), min(_TILE_ROWS, n)), dtype=np.float32) if both else None
    c_unit_t = c_unit.T
    for start in range(0, n, _TILE_ROWS):
        stop = min(start + _TILE_ROWS, n)
        q = q_unit[start:stop]
        for first in range(0, m, _TILE_CANDIDATES):
            last = min(first + _TILE_CANDIDATES, m)
            scores = q_buf[: stop - start, : last - first]
            np.matmul(q, c_unit_t[:, first:last], out=scores)
            _offer_block(q_lists[0][start:stop], q_lists[1][start:stop], scores, c_ids[first:last], q_ids[start:stop])
            if c_lists is not None and c_buf is not None:
                back = c_buf[: last - first, : stop - start]
                np.matmul(c_unit[first:last], q.T, out=back)
                _offer_block(c_lists[0][first:last], c_lists[1][first:last], back, q_ids[start:stop], c_ids[first:last])
    return q_lists, c_lists
