"""Rows of a model held in blocks: initialisation by word id, and local indices.

A block holds some words' rows of a matrix, in ascending word id. Its rows
must start the same whichever block a word falls in and however many blocks
there are, so the initial values of a row depend only on (seed, stream, word
id): each row draws its own stream of numbers.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["init_uniform_rows", "local_index"]

_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@numba.njit(cache=True, nogil=True)
def _mix(z: np.uint64) -> np.uint64:
    # splitmix64's finaliser: every input bit reaches every output bit.
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@numba.njit(cache=True, nogil=True)
def _fill(ids: np.ndarray, dim: int, scale_dim: int, key: np.uint64, out: np.ndarray) -> None:
    scale = 1.0 / scale_dim
    for r in range(ids.shape[0]):
        state = _mix(key ^ (np.uint64(ids[r]) * _GOLDEN))
        for j in range(dim):
            state += _GOLDEN
            u = float(_mix(state) >> np.uint64(11)) * (1.0 / 9007199254740992.0)
            out[r, j] = np.float32((u - 0.5) * scale)


def init_uniform_rows(ids: np.ndarray, dim: int, seed: int, stream: int, *, scale_dim: int = 0) -> np.ndarray:
    """Rows uniform in ``[-0.5/scale_dim, 0.5/scale_dim)`` (word2vec's and
    glove.c's initialisation with ``scale_dim = dim``, the default), one per
    word id, each from its own ``(seed, stream, id)``.

    Parameters
    ----------
    ids : numpy.ndarray
        Word ids (any integer dtype).
    dim : int
        Row width.
    seed, stream : int
        The run's seed, and which matrix (e.g. 0 for input vectors, 1 for
        biases) so that two matrices of one word do not start equal.
    scale_dim : int, optional
        The dimension that scales the range (GloVe's biases use the vectors' dim).

    Returns
    -------
    numpy.ndarray
        float32 ``(len(ids), dim)``.
    """
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}")
    out = np.empty((len(ids), dim), dtype=np.float32)
    mask = 0xFFFFFFFFFFFFFFFF
    key = np.uint64(_mix(np.uint64((int(seed) & mask) ^ ((int(stream) * 0xD1B54A32D192ED03) & mask))))
    _fill(np.ascontiguousarray(ids, dtype=np.int64), int(dim), int(scale_dim or dim), key, out)
    return out


def local_index(block_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Positions of ``ids`` in the ascending ``block_ids`` of a block.

    Raises
    ------
    ValueError
        An id is not in the block: the data and the block disagree, which
        would train the wrong rows.
    """
    pos = np.searchsorted(block_ids, ids)
    pos = np.minimum(pos, max(len(block_ids) - 1, 0))
    if len(ids) and (len(block_ids) == 0 or not np.array_equal(block_ids[pos], ids)):
        raise ValueError("ids outside the block: the cell's data and its model block disagree")
    return pos.astype(np.int32)
