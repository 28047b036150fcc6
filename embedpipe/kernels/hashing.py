"""64-bit hashes of UTF-8 strings (numba), the ids ingest gives tokens.

Ingest runs before any vocabulary exists, so it cannot give a token its
vocabulary id; a hash of the token's bytes is an id that every task computes
alike without talking to the others. Ingest writes the hashes, and the vocab
stage maps those of the kept words to vocabulary ids without reading any
text again.

The hash is FNV-1a over the bytes with MurmurHash3's 64-bit finalizer
(``fmix64``) on top, so that strings differing in their last byte still
differ in every output bit. Two distinct words sharing a hash is possible
(about ``n² / 2⁶⁵`` for ``n`` distinct words: one in 10⁸ for wiki70m's 0.66M
words); the vocab stage checks for it and fails instead of merging them.
"""

from __future__ import annotations

import numba
import numpy as np

FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)
FMIX_C1 = np.uint64(0xFF51AFD7ED558CCD)
FMIX_C2 = np.uint64(0xC4CEB9FE1A85EC53)
SHIFT = np.uint64(33)


@numba.njit(cache=True, nogil=True)
def _hash_strings(offsets: np.ndarray, data: np.ndarray, seed: np.uint64, out: np.ndarray) -> None:
    for i in range(len(out)):
        h = FNV_OFFSET ^ seed
        for k in range(offsets[i], offsets[i + 1]):
            h = (h ^ np.uint64(data[k])) * FNV_PRIME
        h ^= h >> SHIFT
        h *= FMIX_C1
        h ^= h >> SHIFT
        h *= FMIX_C2
        h ^= h >> SHIFT
        out[i] = h


def hash_strings(offsets: np.ndarray, data: np.ndarray, seed: int = 0) -> np.ndarray:
    """The 64-bit hash of each string of an Arrow-style string buffer.

    Parameters
    ----------
    offsets : numpy.ndarray of int32 or int64, length n + 1
        String ``i`` is ``data[offsets[i]:offsets[i + 1]]``.
    data : numpy.ndarray of uint8
        The strings' bytes.
    seed : int
        Another seed gives unrelated hashes (the way out of a collision).

    Returns
    -------
    numpy.ndarray of int64, length n
        The hashes, as signed 64-bit integers (Spark's ``long``).
    """
    out = np.empty(max(len(offsets) - 1, 0), dtype=np.uint64)
    if len(out):
        _hash_strings(offsets, data, np.uint64(seed & 0xFFFFFFFFFFFFFFFF), out)
    return out.view(np.int64)
