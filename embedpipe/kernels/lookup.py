"""Token text to vocabulary ids: an open-addressing hash table over the
kept words' UTF-8 bytes, probed straight from the piece texts' bytes.

The encode stage encodes every piece (tokens joined by single spaces) into
the ids of its in-vocabulary tokens. Splitting into strings first and
looking them up with Arrow's ``index_in`` builds a string per token; hashing
the bytes in place builds none, which is what makes it faster
(bench/results/2026-11-28-text8-and-lookup-kernels/).

Pure numpy/numba: a word list is its bytes and offsets (an Arrow string
array's buffers), and ids are positions in that list.
"""

from __future__ import annotations

import numba
import numpy as np

EMPTY = -1


@numba.njit(inline="always")
def _fnv1a(data, start, end):  # type: ignore[no-untyped-def]
    h = np.uint64(14695981039346656037)
    for p in range(start, end):
        h ^= np.uint64(data[p])
        h *= np.uint64(1099511628211)
    return h


@numba.njit(cache=True, nogil=True)
def build_word_table(word_bytes, word_offsets):  # type: ignore[no-untyped-def]
    """Hash table of the words: slot -> word position, ``EMPTY`` when free.

    At least twice as many slots as words (a power of two), so linear
    probing stays short. The words must be distinct.
    """
    n = len(word_offsets) - 1
    size = 2
    while size < 2 * n:
        size *= 2
    table = np.full(size, EMPTY, np.int32)
    mask = np.uint64(size - 1)
    for w in range(n):
        slot = _fnv1a(word_bytes, word_offsets[w], word_offsets[w + 1]) & mask
        while table[slot] != EMPTY:
            slot = (slot + np.uint64(1)) & mask
        table[slot] = w
    return table


@numba.njit(nogil=True)
def _find(data, start, end, word_bytes, word_offsets, table):  # type: ignore[no-untyped-def]
    mask = np.uint64(len(table) - 1)
    slot = _fnv1a(data, start, end) & mask
    length = end - start
    while True:
        w = table[slot]
        if w == EMPTY:
            return EMPTY
        w_start = word_offsets[w]
        if word_offsets[w + 1] - w_start == length:
            q = 0
            while q < length and word_bytes[w_start + q] == data[start + q]:
                q += 1
            if q == length:
                return w
        slot = (slot + np.uint64(1)) & mask


@numba.njit(cache=True, nogil=True)
def encode_texts(data, offsets, separator, word_bytes, word_offsets, table):  # type: ignore[no-untyped-def]
    """Ids of the in-vocabulary tokens of every text, in order.

    Text r is ``data[offsets[r]:offsets[r + 1]]``, its tokens separated by
    the byte ``separator``. A token that is not a word (including the empty
    token between two separators) is left out.

    Returns ``(ids, text_offsets)``: text r's ids are
    ``ids[text_offsets[r]:text_offsets[r + 1]]`` (int32 ids, int64 offsets).
    """
    n_texts = len(offsets) - 1
    # A text of b bytes has at most (b + 1) / 2 non-empty tokens.
    ids = np.empty((len(data) + n_texts) // 2 + 1, np.int32)
    text_offsets = np.empty(n_texts + 1, np.int64)
    text_offsets[0] = 0
    k = 0
    for r in range(n_texts):
        start = offsets[r]
        end = offsets[r + 1]
        while start <= end:
            stop = start
            while stop < end and data[stop] != separator:
                stop += 1
            if stop > start:
                w = _find(data, start, stop, word_bytes, word_offsets, table)
                if w != EMPTY:
                    ids[k] = w
                    k += 1
            start = stop + 1
        text_offsets[r + 1] = k
    return ids[:k], text_offsets
