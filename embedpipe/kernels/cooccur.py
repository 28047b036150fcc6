"""Bounded-memory, symmetric GloVe co-occurrence counting.

Semantics follow Stanford GloVe's ``cooccur.c`` with ``-symmetric 1``: inside
one sentence, for every pair of positions ``p < q`` with ``d = q - p <= window``
the weight ``w(d)`` (``1/d`` when ``harmonic`` else ``1``) is added to
``X[a, b]`` *and* to ``X[b, a]`` where ``a = ids[p]`` and ``b = ids[q]``.  When
``a == b`` both additions land on the same diagonal cell, which therefore gets
``2 * w(d)``.  Windows never cross sentence boundaries (cooccur.c resets its
history at each newline when run on one-sentence-per-line input).

Memory layout, also after cooccur.c:

* Pairs of *frequent* words (both ids ``< dense_words``; ids are assigned by
  descending frequency) are accumulated in a dense ``float64`` block, exactly
  like cooccur.c's ``bigram_table`` for its frequent ranks.  Only one
  orientation ``(a, b)`` is accumulated there; the block is symmetrised
  (``S = B + B.T``) once at the end, which halves the hot-loop work.
* All other pairs are appended, in both orientations, to a pair buffer of
  ``int64`` keys ``i * V + j`` plus ``float64`` weights (cooccur.c's ``cr``
  overflow array).  When the buffer is full it is radix-sorted and reduced in
  place; if it is still more than half full the reduced records are yielded
  (where cooccur.c would write a sorted temp file) and the buffer is cleared.
  The caller's shuffle plays the role of cooccur.c's final k-way merge: a pair
  may appear in several batches and must be summed downstream.

Nothing here imports pyspark, touches files or reads config objects.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import NamedTuple

import numba
import numpy as np

__all__ = [
    "BYTES_PER_BUFFER_ENTRY",
    "FIXED_OVERHEAD_BYTES",
    "CooccurPlan",
    "estimate_pairs",
    "iter_cooccurrence_triples",
    "pack_by_bucket",
    "plan_cooccurrence_memory",
    "sum_partial_counts",
]

#: Bytes charged per pair-buffer slot.  Live at once are the buffer itself
#: (int64 key + float64 value, 16 B), the previously yielded batch (int32 i +
#: int32 j + float64 x, 16 B; a ``for`` loop still references it while the next
#: batch is produced) and *either* the radix-sort scratch (16 B, freed right
#: after the sort) *or* the output batch being built (16 B), never both.
BYTES_PER_BUFFER_ENTRY: int = 16 + 16 + 16

#: Reserve for small fixed allocations (radix histograms, the weight table).
FIXED_OVERHEAD_BYTES: int = 1 << 17

# Digit width of the LSD radix sort.  11 bits = 2048 buckets keeps the scatter
# targets (2 arrays x 2048 streams) friendly to L1/L2 and TLB while needing only
# three passes for a 70k vocabulary (keys < 2**33).
_MAX_RADIX_BITS = 11

# Output batch entries: int32 + int32 + float64.
_OUTPUT_BYTES_PER_ENTRY = 16


class CooccurPlan(NamedTuple):
    """How :func:`iter_cooccurrence_triples` splits its memory budget.

    Attributes
    ----------
    dense_words : int
        Side of the dense ``float64`` block (ids ``< dense_words`` go there).
    capacity : int
        Entries in the pair buffer (always even, ``>= 4 * window``).
    dense_batch : int
        Maximum entries per batch when the dense block is emitted at the end
        (the pair buffer has been released by then).
    dense_bytes : int
        ``8 * dense_words**2``.
    buffer_bytes : int
        Worst case for pair buffer + sort scratch + output batches while the
        buffer is live: ``BYTES_PER_BUFFER_ENTRY * capacity``.
    peak_bytes : int
        Upper bound on the bytes this function holds at any moment (including
        the batch being built and the previously yielded one); never exceeds
        the ``memory_bytes`` it was planned for.
    """

    dense_words: int
    capacity: int
    dense_batch: int
    dense_bytes: int
    buffer_bytes: int
    peak_bytes: int


def estimate_pairs(ids_len: int, window: int) -> int:
    """Upper bound on the pair increments produced by ``ids_len`` tokens.

    Each token is the right end of at most ``window`` pairs and every pair is
    counted in both orientations, hence ``2 * window * ids_len``.

    Parameters
    ----------
    ids_len : int
        Number of tokens.
    window : int
        Context window size.

    Returns
    -------
    int
        ``2 * window * ids_len``.
    """
    return 2 * int(window) * int(ids_len)


def plan_cooccurrence_memory(
    n_tokens: int,
    vocab_size: int,
    window: int,
    memory_bytes: int,
    dense_words: int | None = None,
    max_id: int | None = None,
) -> CooccurPlan:
    """Split ``memory_bytes`` between the dense block and the pair buffer.

    Parameters
    ----------
    n_tokens : int
        Number of tokens that will be counted (bounds the useful buffer size).
    vocab_size : int
        Vocabulary size ``V``; keys are ``i * V + j``.
    window : int
        Context window size (``>= 1``).
    memory_bytes : int
        Hard budget for everything the counter allocates.
    dense_words : int or None, optional
        Requested side of the dense block.  ``None`` picks
        ``min(sqrt(memory_bytes / 4 / 8), sqrt(estimate_pairs))``: a quarter of
        the budget, but never more cells than there are pair increments to put
        in them (a per-Arrow-batch call on a small batch should not scan a
        64 MB block).
    max_id : int or None, optional
        Largest id present; the block never needs to extend past it.

    Returns
    -------
    CooccurPlan
        The split; ``peak_bytes <= memory_bytes``.

    Raises
    ------
    ValueError
        If the budget cannot hold the requested dense block plus a minimal
        pair buffer of ``4 * window`` entries.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if vocab_size < 1:
        raise ValueError(f"vocab_size must be >= 1, got {vocab_size}")
    if memory_bytes < 1:
        raise ValueError(f"memory_bytes must be >= 1, got {memory_bytes}")
    n_tokens = max(int(n_tokens), 0)
    increments = estimate_pairs(n_tokens, window)
    # A buffer needs room for one token's 2*window increments after a reduce
    # that left it at most half full, hence 4*window.
    min_cap = 4 * window
    id_bound = vocab_size if max_id is None else min(vocab_size, int(max_id) + 1)
    avail = int(memory_bytes) - FIXED_OVERHEAD_BYTES

    if dense_words is None:
        d = min(id_bound, math.isqrt(max(memory_bytes, 0) // 4 // 8), math.isqrt(increments))
        # Shrink the block if it leaves no room for a minimal buffer.
        d_fit = math.isqrt(max(avail - BYTES_PER_BUFFER_ENTRY * min_cap, 0) // 8)
        d = max(min(d, d_fit), 0)
    else:
        if dense_words < 0:
            raise ValueError(f"dense_words must be >= 0, got {dense_words}")
        d = min(int(dense_words), id_bound)

    dense_bytes = 8 * d * d
    cap = (avail - dense_bytes) // BYTES_PER_BUFFER_ENTRY
    if cap < min_cap:
        need = dense_bytes + BYTES_PER_BUFFER_ENTRY * min_cap + FIXED_OVERHEAD_BYTES
        raise ValueError(
            f"memory_bytes={memory_bytes} too small: dense block of {d} words plus a "
            f"{min_cap}-entry pair buffer need {need} bytes"
        )
    if d >= id_bound:
        # Every pair is dense: the buffer is never written, keep it minimal.
        cap = min_cap
    else:
        # Never larger than the increments that could ever be appended.
        cap = min(cap, increments + min_cap)
        cap -= cap % 2
    buffer_bytes = BYTES_PER_BUFFER_ENTRY * cap
    # During the dense emission the pair buffer is gone; the batch being built
    # and the previous one (<= max(dense_batch, capacity) entries) share the rest.
    dense_batch = max((avail - dense_bytes) // (2 * _OUTPUT_BYTES_PER_ENTRY), 1)
    dense_batch = max(min(dense_batch, d * d), 1)
    dense_phase = dense_bytes + _OUTPUT_BYTES_PER_ENTRY * (dense_batch + max(dense_batch, cap))
    peak = FIXED_OVERHEAD_BYTES + max(dense_bytes + buffer_bytes, dense_phase)
    return CooccurPlan(
        dense_words=d,
        capacity=cap,
        dense_batch=dense_batch,
        dense_bytes=dense_bytes,
        buffer_bytes=buffer_bytes,
        peak_bytes=peak,
    )


# --------------------------------------------------------------------------
# numba kernels
# --------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _check_inputs(ids: np.ndarray, offsets: np.ndarray, vocab_size: int) -> int:
    """Return 0 if valid, 1 for bad offsets, 2 for out-of-range ids (no allocation)."""
    n = ids.shape[0]
    if offsets.shape[0] < 1 or offsets[0] < 0 or offsets[offsets.shape[0] - 1] > n:
        return 1
    for s in range(offsets.shape[0] - 1):
        if offsets[s + 1] < offsets[s]:
            return 1
    for t in range(n):
        if ids[t] < 0 or ids[t] >= vocab_size:
            return 2
    return 0


@numba.njit(cache=True, nogil=True)
def _fill(
    ids: np.ndarray,
    offsets: np.ndarray,
    sent: int,
    tok: int,
    weights: np.ndarray,
    window: int,
    vocab_size: int,
    dense: np.ndarray,
    keys: np.ndarray,
    vals: np.ndarray,
    pos: int,
) -> tuple[int, int, int]:
    """Count pairs from (sentence ``sent``, token ``tok``) until done or buffer full.

    Each token ``q`` is paired with the up-to-``window`` tokens *before* it in
    the same sentence (cooccur.c's history ring, but reading the flat id array
    directly).  Because a token only looks backwards, resuming at any token is
    exact, so one sentence may span any number of buffer flushes.

    Returns the resume point ``(sent, tok, pos)``; ``sent == n_sentences`` when
    all input has been consumed.
    """
    n_sent = offsets.shape[0] - 1
    cap = keys.shape[0]
    d_words = dense.shape[0]
    v = np.int64(vocab_size)
    while sent < n_sent:
        s0 = offsets[sent]
        s1 = offsets[sent + 1]
        if tok < s0:
            tok = s0
        while tok < s1:
            # Conservative: a token adds at most 2*window buffer entries.
            if pos + 2 * window > cap:
                return sent, tok, pos
            b = np.int64(ids[tok])
            lo = tok - window
            if lo < s0:
                lo = s0
            for p in range(lo, tok):
                a = np.int64(ids[p])
                w = weights[tok - p]
                if a < d_words and b < d_words:
                    # One orientation only; symmetrised in _symmetrize.
                    dense[a, b] += w
                else:
                    keys[pos] = a * v + b
                    vals[pos] = w
                    keys[pos + 1] = b * v + a
                    vals[pos + 1] = w
                    pos += 2
            tok += 1
        sent += 1
        tok = 0
    return sent, tok, pos


@numba.njit(cache=True, nogil=True)
def _scatter(
    src_k: np.ndarray,
    src_v: np.ndarray,
    dst_k: np.ndarray,
    dst_v: np.ndarray,
    n: int,
    shift: int,
    mask: int,
    starts: np.ndarray,
) -> None:
    """One stable LSD pass: move records to ``starts[digit]`` (advanced in place)."""
    for t in range(n):
        k = src_k[t]
        dig = (k >> shift) & mask
        at = starts[dig]
        dst_k[at] = k
        dst_v[at] = src_v[t]
        starts[dig] = at + 1


@numba.njit(cache=True, nogil=True)
def _radix_sort_pairs(
    keys: np.ndarray,
    vals: np.ndarray,
    tmp_keys: np.ndarray,
    tmp_vals: np.ndarray,
    n: int,
    key_bits: int,
) -> bool:
    """Stable LSD radix sort of ``keys[:n]`` (non-negative) carrying ``vals``.

    Returns ``True`` when the sorted records ended up in ``tmp_*`` (odd number
    of executed passes).  Stability keeps the summation order of equal keys
    deterministic (input order), so results are bit-reproducible.
    """
    if n <= 1:
        return False
    n_passes = (key_bits + _MAX_RADIX_BITS - 1) // _MAX_RADIX_BITS
    if n_passes < 1:
        n_passes = 1
    bits = (key_bits + n_passes - 1) // n_passes
    radix = 1 << bits
    mask = radix - 1
    # All histograms in one read pass over the keys.
    counts = np.zeros((n_passes, radix), np.int64)
    for t in range(n):
        k = keys[t]
        for p in range(n_passes):
            counts[p, (k >> (p * bits)) & mask] += 1
    in_tmp = False
    starts = np.empty(radix, np.int64)
    for p in range(n_passes):
        shift = p * bits
        first = keys[0] if not in_tmp else tmp_keys[0]
        if counts[p, (first >> shift) & mask] == n:
            continue  # every key has the same digit here: the pass is a no-op
        acc = 0
        for r in range(radix):
            starts[r] = acc
            acc += counts[p, r]
        if in_tmp:
            _scatter(tmp_keys, tmp_vals, keys, vals, n, shift, mask, starts)
        else:
            _scatter(keys, vals, tmp_keys, tmp_vals, n, shift, mask, starts)
        in_tmp = not in_tmp
    return in_tmp


@numba.njit(cache=True, nogil=True)
def _reduce_sorted(keys: np.ndarray, vals: np.ndarray, n: int) -> int:
    """Sum runs of equal keys in place; return the number of unique keys."""
    if n == 0:
        return 0
    w = 0
    for t in range(1, n):
        k = keys[t]
        if k == keys[w]:
            vals[w] += vals[t]
        else:
            w += 1
            keys[w] = k
            vals[w] = vals[t]
    return w + 1


@numba.njit(cache=True, nogil=True)
def _split_keys(
    keys: np.ndarray,
    vals: np.ndarray,
    n: int,
    vocab_size: int,
    out_i: np.ndarray,
    out_j: np.ndarray,
    out_x: np.ndarray,
) -> None:
    """Decode ``key = i * V + j`` into the output triple arrays."""
    v = np.int64(vocab_size)
    for t in range(n):
        k = keys[t]
        out_i[t] = np.int32(k // v)
        out_j[t] = np.int32(k % v)
        out_x[t] = vals[t]


@numba.njit(cache=True, nogil=True)
def _symmetrize(dense: np.ndarray) -> None:
    """In place ``B <- B + B.T`` (diagonal doubled), tiled for cache locality.

    The fill loop only accumulated the ``(earlier, later)`` orientation, so
    this restores cooccur.c's symmetric counts, including ``2 w(d)`` on the
    diagonal for repeated words.
    """
    d = dense.shape[0]
    tile = 64
    for i0 in range(0, d, tile):
        i1 = min(i0 + tile, d)
        for j0 in range(i0, d, tile):
            j1 = min(j0 + tile, d)
            for i in range(i0, i1):
                jstart = j0 if j0 > i else i + 1
                for j in range(jstart, j1):
                    s = dense[i, j] + dense[j, i]
                    dense[i, j] = s
                    dense[j, i] = s
    for i in range(d):
        dense[i, i] *= 2.0


@numba.njit(cache=True, nogil=True)
def _count_dense(dense: np.ndarray, start: int, limit: int) -> tuple[int, int]:
    """Count up to ``limit`` non-zeros of ``dense`` from flat cell ``start``.

    Returns ``(n, stop)``: cells ``[start, stop)`` hold exactly ``n`` non-zeros.
    """
    flat = dense.reshape(-1)
    total = flat.shape[0]
    n = 0
    c = start
    while c < total and n < limit:
        if flat[c] != 0.0:
            n += 1
        c += 1
    return n, c


@numba.njit(cache=True, nogil=True)
def _emit_dense(
    dense: np.ndarray,
    start: int,
    stop: int,
    out_i: np.ndarray,
    out_j: np.ndarray,
    out_x: np.ndarray,
) -> None:
    """Copy the non-zeros of flat cells ``[start, stop)`` of ``dense``, row-major.

    Row-major order makes every batch sorted by ``(i, j)``.
    """
    d = dense.shape[0]
    flat = dense.reshape(-1)
    n = 0
    for c in range(start, stop):
        x = flat[c]
        if x != 0.0:
            out_i[n] = np.int32(c // d)
            out_j[n] = np.int32(c % d)
            out_x[n] = x
            n += 1


# --------------------------------------------------------------------------
# public driver
# --------------------------------------------------------------------------


def _triples_from_buffer(
    keys: np.ndarray, vals: np.ndarray, n: int, vocab_size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    out_i = np.empty(n, dtype=np.int32)
    out_j = np.empty(n, dtype=np.int32)
    out_x = np.empty(n, dtype=np.float64)
    _split_keys(keys, vals, n, vocab_size, out_i, out_j, out_x)
    return out_i, out_j, out_x


def iter_cooccurrence_triples(
    ids: np.ndarray,
    offsets: np.ndarray,
    vocab_size: int,
    window: int,
    harmonic: bool,
    memory_bytes: int,
    dense_words: int | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Count symmetric windowed co-occurrences within a bounded memory budget.

    Parameters
    ----------
    ids : numpy.ndarray
        Flat token ids (``int32``; ``int64`` is accepted without a copy) of
        many sentences, OOV already removed, every id in ``[0, vocab_size)``.
    offsets : numpy.ndarray
        ``int64`` of length ``n_sentences + 1``; sentence ``s`` is
        ``ids[offsets[s]:offsets[s + 1]]``.
    vocab_size : int
        ``V``; pair keys are ``i * V + j`` and must fit in ``int64``.
    window : int
        Maximum distance ``d = q - p`` (``>= 1``).
    harmonic : bool
        ``w(d) = 1/d`` if true (cooccur.c default), else ``w(d) = 1``.
    memory_bytes : int
        Hard budget for every buffer this function allocates: dense block,
        pair buffer, radix-sort scratch, the batch being built and the batch
        yielded just before it (which a ``for`` loop still references).  The
        input arrays, and batches the caller retains beyond that, are not
        counted.  See :func:`plan_cooccurrence_memory`.
    dense_words : int or None, optional
        Ids below this use a dense ``float64`` block (ids are by descending
        frequency, so these are the frequent words).  ``None`` picks it from
        the budget (at most a quarter of it).

    Yields
    ------
    i : numpy.ndarray
        ``int32`` row ids.
    j : numpy.ndarray
        ``int32`` column ids.
    x : numpy.ndarray
        ``float64`` partial counts.

    Notes
    -----
    Summing ``x`` over all yielded triples per ``(i, j)`` gives the exact
    co-occurrence.  Within one batch the ``(i, j)`` pairs are unique and
    sorted; across batches a pair may repeat (the caller's shuffle sums them,
    as cooccur.c's merge of temp files does).  When the pair buffer fills it
    is sorted and reduced in place; if it is then still more than half full it
    is yielded and cleared.  The dense block's non-zeros are yielded last.
    Arguments are validated eagerly; counting happens lazily as batches are
    requested.
    """
    ids = np.asarray(ids)
    offsets = np.asarray(offsets)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError("ids must be a 1-D integer array")
    if ids.dtype not in (np.int32, np.int64):
        ids = ids.astype(np.int32)
    ids = np.ascontiguousarray(ids)
    if offsets.ndim != 1 or not np.issubdtype(offsets.dtype, np.integer):
        raise ValueError("offsets must be a 1-D integer array")
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    window = int(window)
    vocab_size = int(vocab_size)
    if vocab_size < 1 or vocab_size > 3_037_000_499:
        raise ValueError(f"vocab_size must be in [1, 3037000499] (int64 keys), got {vocab_size}")
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    status = _check_inputs(ids, offsets, vocab_size)
    if status == 1:
        raise ValueError("offsets must be non-decreasing, start >= 0 and end <= len(ids)")
    if status == 2:
        raise ValueError(f"ids must lie in [0, {vocab_size})")
    max_id = int(ids.max()) if ids.size else -1
    plan = plan_cooccurrence_memory(ids.shape[0], vocab_size, window, memory_bytes, dense_words, max_id=max_id)
    return _generate(ids, offsets, vocab_size, window, bool(harmonic), plan)


def _generate(
    ids: np.ndarray,
    offsets: np.ndarray,
    vocab_size: int,
    window: int,
    harmonic: bool,
    plan: CooccurPlan,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Generator body of :func:`iter_cooccurrence_triples` (inputs validated)."""
    d = np.arange(window + 1, dtype=np.float64)
    d[0] = 1.0  # index 0 is never used; avoid a division by zero
    weights = 1.0 / d if harmonic else np.ones(window + 1, dtype=np.float64)
    key_bits = max((vocab_size * vocab_size - 1).bit_length(), 1)

    dense = np.zeros((plan.dense_words, plan.dense_words), dtype=np.float64)
    cap = plan.capacity
    keys = np.empty(cap, dtype=np.int64)
    vals = np.empty(cap, dtype=np.float64)
    n_sent = offsets.shape[0] - 1
    sent, tok, pos = 0, 0, 0

    while True:
        sent, tok, pos = _fill(ids, offsets, sent, tok, weights, window, vocab_size, dense, keys, vals, pos)
        done = sent >= n_sent
        if pos == 0:
            if done:
                break
            continue  # unreachable in practice: an empty buffer always has room
        # The scratch has full capacity so that, after an odd number of radix
        # passes, it simply becomes the buffer (no copy back).
        keys, vals, pos = _sort_and_sum(keys, vals, pos, key_bits)
        if done or 2 * pos > cap:
            yield _triples_from_buffer(keys, vals, pos, vocab_size)
            pos = 0
        if done:
            break
    del keys, vals

    if plan.dense_words > 0:
        _symmetrize(dense)
        total = plan.dense_words * plan.dense_words
        start = 0
        while start < total:
            # Count first so each batch is allocated at its exact size (a
            # trimmed copy would briefly hold two batches).
            n, stop = _count_dense(dense, start, plan.dense_batch)
            if n > 0:
                out_i = np.empty(n, dtype=np.int32)
                out_j = np.empty(n, dtype=np.int32)
                out_x = np.empty(n, dtype=np.float64)
                _emit_dense(dense, start, stop, out_i, out_j, out_x)
                yield out_i, out_j, out_x
                del out_i, out_j, out_x
            start = stop


# --------------------------------------------------------------------------
# merging the tasks' partial counts
# --------------------------------------------------------------------------
#
# Each task's triples go to the task that sums them as two primitive arrays
# per bucket (int64 keys i * V + j and float64 values), not as rows of
# objects: the shuffle then moves bytes, and the summing is one radix sort.


@numba.njit(cache=True, nogil=True)
def _scatter_by_bucket(
    i: np.ndarray, j: np.ndarray, x: np.ndarray, vocab_size: int, buckets: int, keys: np.ndarray, vals: np.ndarray,
    offsets: np.ndarray,
) -> None:  # fmt: skip
    """Stable counting sort of the triples by ``i mod buckets`` into keys and values."""
    for t in range(i.shape[0]):
        offsets[i[t] % buckets + 1] += 1
    for b in range(buckets):
        offsets[b + 1] += offsets[b]
    at = offsets[:-1].copy()
    v = np.int64(vocab_size)
    for t in range(i.shape[0]):
        b = i[t] % buckets
        keys[at[b]] = np.int64(i[t]) * v + j[t]
        vals[at[b]] = x[t]
        at[b] += 1


def _sort_and_sum(keys: np.ndarray, vals: np.ndarray, n: int, key_bits: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The first ``n`` keys radix-sorted with their values and equal keys
    summed: ``(keys, vals, unique)``, the sums in ``[:unique]``.

    The arrays returned may be the scratch (as long as the inputs): the
    scratch lives only for the sort, so that what the caller builds next can
    reuse its share of the memory budget.
    """
    tmp_keys = np.empty(len(keys), dtype=np.int64)
    tmp_vals = np.empty(len(vals), dtype=np.float64)
    if _radix_sort_pairs(keys, vals, tmp_keys, tmp_vals, n, key_bits):
        keys, vals = tmp_keys, tmp_vals
    del tmp_keys, tmp_vals
    return keys, vals, _reduce_sorted(keys, vals, n)


def pack_by_bucket(
    i: np.ndarray, j: np.ndarray, x: np.ndarray, vocab_size: int, buckets: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Triples as keys ``i * vocab_size + j`` and values, grouped by bucket ``i mod buckets``.

    Returns ``(keys, vals, offsets)``: bucket ``b`` is ``keys[offsets[b]:offsets[b + 1]]``.
    The order within a bucket is the input's, so sorted triples stay sorted.
    """
    if buckets < 1:
        raise ValueError(f"buckets must be >= 1, got {buckets}")
    n = len(i)
    keys = np.empty(n, dtype=np.int64)
    vals = np.empty(n, dtype=np.float64)
    offsets = np.zeros(buckets + 1, dtype=np.int64)
    _scatter_by_bucket(
        np.ascontiguousarray(i, dtype=np.int32), np.ascontiguousarray(j, dtype=np.int32),
        np.ascontiguousarray(x, dtype=np.float64), int(vocab_size), int(buckets), keys, vals, offsets,
    )  # fmt: skip
    return keys, vals, offsets


def sum_partial_counts(
    keys: np.ndarray, vals: np.ndarray, vocab_size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sum of the values of equal keys, as triples ``(i, j, x)`` sorted by ``(i, j)``.

    ``keys`` and ``vals`` are consumed (sorted in place). Equal keys are summed
    in their input order (a stable radix sort), so the result does not depend
    on how the partial counts were cut into batches, only on their order.
    Memory: the inputs, a scratch copy of them, and the output (16 B per
    unique key).
    """
    keys = np.ascontiguousarray(keys, dtype=np.int64)
    vals = np.ascontiguousarray(vals, dtype=np.float64)
    n = keys.shape[0]
    key_bits = max((int(vocab_size) * int(vocab_size) - 1).bit_length(), 1)
    keys, vals, unique = _sort_and_sum(keys, vals, n, key_bits)
    return _triples_from_buffer(keys, vals, unique, int(vocab_size))
