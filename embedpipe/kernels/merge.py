"""Grouping replicas' returned rows for the averaging merge (numba).

Each round every partition returns the rows it touched; the driver groups
them by vocabulary row and needs, per merged row, the sum of the replicas'
changes (``average``, ``clipped_sum``), their touch-weighted sum
(``touch_weighted``) and each replica's change (``clipped_sum``'s per-replica
norms). Numpy fancy indexing makes several passes and float64 copies of
every returned row, which dominated a round's merge; this is one pass.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def group_changes(
    order: np.ndarray,
    starts: np.ndarray,
    values: np.ndarray,
    touches: np.ndarray,
    old: np.ndarray,
    need_deltas: bool = True,
    need_weighted: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Changes of the returned rows, grouped by merged row.

    Parameters
    ----------
    order
        Indices into ``values`` sorting the returned rows by vocabulary row.
    starts
        Merged row ``h`` owns sorted positions ``starts[h]`` to ``starts[h+1]``.
    values
        (n, width) float32 rows as the replicas returned them.
    touches
        (n,) each returned row's touch count.
    old
        (len(starts), width) float32 values of the merged rows before the round.
    need_deltas, need_weighted
        Whether to build ``deltas`` and ``weighted``; a rule that does not
        read them gets (0, width) arrays. Each is as large as the returned
        rows, and writing fresh memory that size costs more than the sums.

    Returns
    -------
    deltas
        (n, width) float32: each returned row minus its old value, in sorted order.
    summed
        (len(starts), width) float64: the sum of the changes per merged row.
    weighted
        (len(starts), width) float64: the touch-weighted sum of the changes.
    """
    n, width = values.shape
    n_hit = starts.shape[0]
    deltas = np.empty((n if need_deltas else 0, width), np.float32)
    summed = np.zeros((n_hit, width))
    weighted = np.zeros((n_hit if need_weighted else 0, width))
    for h in range(n_hit):
        end = starts[h + 1] if h + 1 < n_hit else n
        for k in range(starts[h], end):
            j = order[k]
            w = touches[j]
            for c in range(width):
                d = np.float64(values[j, c]) - np.float64(old[h, c])
                summed[h, c] += d
                if need_deltas:
                    deltas[k, c] = d
                if need_weighted:
                    weighted[h, c] += w * d
    return deltas, summed, weighted
