"""Block-rotated (DSGD) skip-gram: pair generation, blocking, negatives, cell SGD.

Pure numpy/numba building blocks for simulating, in one process, the
stratified schedule of Gemulla et al. (2011) applied to skip-gram with
negative sampling.  No Spark, no configuration, no I/O.

Schedule
--------
The vocabulary is split into ``P`` blocks (one assignment for both weight
matrices).  An epoch is ``P`` sub-epochs; in sub-epoch ``s`` task ``p`` owns
the rows of *input* block ``p`` of ``w_in`` and of *output* block
``q = (p + s) mod P`` of ``w_out`` and trains exactly the updates of cell
``(p, q)``: the positive pairs whose input word is in ``p`` and whose output
word is in ``q``, plus the negatives it draws from block ``q``.  The ``P``
tasks of a sub-epoch touch disjoint rows, so running them one after another
computes exactly what a cluster running them at the same time would.

Skip-gram direction
-------------------
The convention of :mod:`embedpipe.kernels.sgns` is kept: for a centre word
``c`` and a context word ``o`` within its window, the *input* row is
``w_in[o]`` (the context word) and the *output* row is ``w_out[c]`` (the
centre word).  A "pair" below is ``(input id, output id) = (o, c)``.

Negatives
---------
word2vec draws ``k`` negatives per positive pair from unigram^0.75 over the
whole vocabulary; a task can only touch output block ``q``.  Two ways to
draw them are provided:

* **restricted** (:func:`train_cell_restricted`): per positive pair of cell
  ``(p, q)``, ``k`` negatives from unigram^0.75 *restricted to block q*,
  trained as one word2vec example (shared input-row gradient).  It is biased:
  a word's negatives come only from the blocks its positives fall in, so the
  noise a row sees follows its co-occurrences instead of the unigram^0.75
  distribution.
* **routed** (:func:`train_cell_routed`): for each input row ``c`` with
  ``n_c`` positive pairs in the epoch (over its whole row of cells, which
  task ``p`` holds), cell ``(p, q)`` draws
  ``m_{c,q} ~ Binomial(k·n_c, Π(q))`` negative events ``(c, w)`` with ``w``
  from unigram^0.75 restricted to ``q`` (``Π(q)`` = noise mass of ``q``).
  Each ``(c, w)`` then occurs ``k·n_c·π(w)`` times in expectation, as in
  word2vec (which additionally skips a draw equal to the pair's positive).
  The negative events are shuffled and merged uniformly at random into the
  cell's positive stream (corpus order kept for the positives), so a row's
  positives and negatives alternate; each event is its own one-term SGD
  update.

Randomness
----------
Everything is deterministic for a given seed.  Pair generation and the
restricted kernel use word2vec.c's LCG from :mod:`embedpipe.kernels.sgns`;
the routed kernel additionally seeds numba's internal generator (for the
binomial draws) from the cell's seed at the start of each call.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numba
import numpy as np

from embedpipe.kernels.sgns import (
    _INV_2_24,
    _INV_2_53,
    _U64_11,
    _U64_33,
    _U64_40,
    _lcg_next,
    _pair_update,
    _splitmix64,
)

__all__ = [
    "assign_blocks",
    "block_samplers",
    "bucket_pairs",
    "derive_seed",
    "generate_pairs",
    "simulate_epoch",
    "sgd_pairs",
    "train_cell_attached",
    "train_cell_restricted",
    "train_cell_routed",
]

_MASK64 = (1 << 64) - 1


def derive_seed(seed: int, *tags: int) -> int:
    """A 64-bit seed for a sub-stream ``(seed, tag1, tag2, ...)``.

    Chains :func:`embedpipe.kernels.sgns._splitmix64` so that neighbouring
    tags (epochs, cells) give unrelated streams.
    """
    z = _splitmix64(int(seed))
    for t in tags:
        z = _splitmix64((z ^ (int(t) * 0x9E3779B97F4A7C15)) & _MASK64)
    return z


# --------------------------------------------------------------------------
# Block assignment
# --------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _greedy_blocks(order: np.ndarray, mass: np.ndarray, n_blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """Deal words in ``order`` to the block with the least mass so far (first minimum)."""
    block = np.empty(mass.shape[0], dtype=np.int32)
    load = np.zeros(n_blocks, dtype=np.float64)
    for w in order:
        best = 0
        for b in range(1, n_blocks):
            if load[b] < load[best]:
                best = b
        block[w] = best
        load[best] += mass[w]
    return block, load


def assign_blocks(mass: np.ndarray, n_blocks: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Balanced random assignment of words to ``n_blocks`` blocks.

    Greedy "largest first" (LPT) scheduling: words sorted by decreasing mass,
    ties in a seeded random order, each given to the block whose mass is the
    smallest so far; the block labels are then permuted at random.  Unlike
    hashing, this keeps every block's mass close to the mean even when a few
    words hold a large share of it.  Calling it with a new seed every epoch
    re-draws which words share a block.

    Parameters
    ----------
    mass : numpy.ndarray
        ``(V,)`` non-negative training mass per word, e.g. the expected number
        of kept tokens ``count * keep_prob`` (positive pairs per word are
        proportional to it).
    n_blocks : int
        ``P >= 1``.
    seed : int
        Same seed, same assignment.

    Returns
    -------
    block : numpy.ndarray
        int32 ``(V,)`` block of each word, in ``[0, P)``.
    block_mass : numpy.ndarray
        float64 ``(P,)`` total mass per block (``max / mean`` is the
        imbalance).
    """
    mass = np.asarray(mass, dtype=np.float64)
    if mass.ndim != 1 or np.any(mass < 0):
        raise ValueError("mass must be a 1-D non-negative array")
    if int(n_blocks) < 1:
        raise ValueError("n_blocks must be >= 1")
    rng = np.random.default_rng(derive_seed(seed, 0xB10C))
    perm = rng.permutation(mass.shape[0])
    order = perm[np.argsort(-mass[perm], kind="stable")]
    block, load = _greedy_blocks(order.astype(np.int64), mass, int(n_blocks))
    relabel = rng.permutation(int(n_blocks)).astype(np.int32)
    block = relabel[block]
    block_mass = np.zeros(int(n_blocks), dtype=np.float64)
    block_mass[relabel] = load
    return block, block_mass


# --------------------------------------------------------------------------
# Pair generation and bucketing
# --------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _subsample_windows(
    ids: np.ndarray,
    offsets: np.ndarray,
    keep_prob: np.ndarray,
    window: int,
    dynamic: bool,
    state: np.uint64,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Kept tokens, their window radius and kept-piece offsets; total pair count."""
    n = ids.shape[0]
    n_pieces = offsets.shape[0] - 1
    kept = np.empty(n, dtype=np.int32)
    radius = np.empty(n, dtype=np.int32)
    kept_off = np.zeros(n_pieces + 1, dtype=np.int64)
    win_u = np.uint64(window)
    n_kept = 0
    n_pairs = 0
    for s in range(n_pieces):
        start = n_kept
        for t in range(offsets[s], offsets[s + 1]):
            w = ids[t]
            p = keep_prob[w]
            if p < 1.0:
                state = _lcg_next(state)
                r = float(state >> _U64_40) * _INV_2_24
                if p < r:
                    continue
            kept[n_kept] = w
            n_kept += 1
        # word2vec.c's reduced window: b in [0, window), radius window - b.
        for i in range(start, n_kept):
            rad = window
            if dynamic:
                state = _lcg_next(state)
                rad = window - int((state >> _U64_33) % win_u)
            radius[i] = rad
            lo: int = i - rad
            hi: int = i + rad + 1
            if lo < start:
                lo = start
            if hi > n_kept:
                hi = n_kept
            n_pairs += hi - lo - 1
        kept_off[s + 1] = n_kept
    return kept[:n_kept], radius[:n_kept], kept_off, n_pairs


@numba.njit(cache=True, nogil=True)
def _fill_pairs(
    kept: np.ndarray, radius: np.ndarray, kept_off: np.ndarray, n_pairs: int
) -> tuple[np.ndarray, np.ndarray]:
    inp = np.empty(n_pairs, dtype=np.int32)
    out = np.empty(n_pairs, dtype=np.int32)
    k = 0
    for s in range(kept_off.shape[0] - 1):
        start = kept_off[s]
        end = kept_off[s + 1]
        for i in range(start, end):
            rad = radius[i]
            lo = i - rad
            hi = i + rad + 1
            if lo < start:
                lo = start
            if hi > end:
                hi = end
            c = kept[i]
            for m in range(lo, hi):
                if m == i:
                    continue
                inp[k] = kept[m]
                out[k] = c
                k += 1
    return inp, out


def generate_pairs(
    ids: np.ndarray,
    offsets: np.ndarray,
    keep_prob: np.ndarray,
    window: int,
    seed: int,
    dynamic: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """One epoch's positive skip-gram pairs, in corpus order.

    word2vec's sampling: each token is dropped when ``keep_prob[w] < r``,
    ``r ~ U[0, 1)`` (no draw when ``keep_prob >= 1``), windows are taken over
    the kept tokens of a piece (never across pieces), and each kept centre
    ``i`` uses the radius ``window - b`` with ``b`` uniform in ``[0, window)``
    (``dynamic=False``: always ``window``).  Pairs are emitted centre by
    centre, contexts left to right, as the sequential kernel trains them.

    Parameters
    ----------
    ids : numpy.ndarray
        int32 token ids.
    offsets : numpy.ndarray
        int64 piece boundaries (``offsets[0] == 0``, ``offsets[-1] == len(ids)``).
    keep_prob : numpy.ndarray
        float32 ``(V,)`` keep probabilities (all >= 1 turns subsampling off).
    window : int
        Maximum window radius (>= 1).
    seed : int
        Seed of the epoch's LCG stream (re-draw per epoch).
    dynamic : bool, default True
        word2vec's reduced window; False for a fixed radius (tests).

    Returns
    -------
    inp, out : numpy.ndarray
        int32 arrays of equal length: input (context) and output (centre) ids.
    """
    if int(window) < 1:
        raise ValueError("window must be >= 1")
    offsets = np.asarray(offsets, dtype=np.int64)
    if offsets[0] != 0 or offsets[-1] != ids.shape[0]:
        raise ValueError("offsets must start at 0 and end at len(ids)")
    kept, radius, kept_off, n_pairs = _subsample_windows(
        np.ascontiguousarray(ids, dtype=np.int32),
        offsets,
        np.ascontiguousarray(keep_prob, dtype=np.float32),
        int(window),
        bool(dynamic),
        np.uint64(derive_seed(seed, 0x9A12)),
    )
    return _fill_pairs(kept, radius, kept_off, n_pairs)


def rounds_of_pairs(n_pairs: int, rounds: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deal ``n_pairs`` pairs to ``rounds`` rounds uniformly at random.

    Returns ``order`` (pair indices grouped by round, ascending within each)
    and ``cuts``: round ``r``'s pairs are ``order[cuts[r]:cuts[r + 1]]``.
    """
    if rounds <= 1:
        return np.arange(n_pairs, dtype=np.int64), np.array([0, n_pairs], dtype=np.int64)
    # 16-bit keys take numpy's stable radix sort, linear in the pairs.
    dtype = np.uint16 if rounds <= np.iinfo(np.uint16).max else np.uint32
    of = np.random.default_rng(seed).integers(0, rounds, n_pairs, dtype=dtype)
    order = np.argsort(of, kind="stable")
    cuts = np.searchsorted(of[order], np.arange(rounds + 1), side="left").astype(np.int64)
    return order, cuts


def rounds_of_pieces(first: int, lengths: np.ndarray, rounds: int, total: int) -> np.ndarray:
    """Cut a run of consecutive pieces into rounds by their place in the corpus.

    The pieces start at global token ``first`` and follow one another; round
    ``r`` holds the pieces whose middle token lies in the ``r``-th of
    ``rounds`` equal parts of the ``total`` tokens. Rounds are then
    consecutive parts of the corpus, as one pass of word2vec meets them.

    Returns ``cuts`` (``rounds + 1`` piece indices): round ``r``'s pieces are
    ``cuts[r]:cuts[r + 1]``.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    starts = int(first) + np.concatenate(([0], np.cumsum(lengths)[:-1])) if len(lengths) else lengths
    round_of = np.minimum((starts + lengths // 2) * int(rounds) // max(int(total), 1), int(rounds) - 1)
    return np.searchsorted(round_of, np.arange(int(rounds) + 1), side="left").astype(np.int64)


@numba.njit(cache=True, nogil=True)
def _bucket_impl(
    inp: np.ndarray, out: np.ndarray, block: np.ndarray, n_blocks: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = inp.shape[0]
    n_cells = n_blocks * n_blocks
    start = np.zeros(n_cells + 1, dtype=np.int64)
    for i in range(n):
        start[block[inp[i]] * n_blocks + block[out[i]] + 1] += 1
    for c in range(n_cells):
        start[c + 1] += start[c]
    pos = start[:-1].copy()
    s_inp = np.empty(n, dtype=np.int32)
    s_out = np.empty(n, dtype=np.int32)
    for i in range(n):
        cell = block[inp[i]] * n_blocks + block[out[i]]
        j = pos[cell]
        s_inp[j] = inp[i]
        s_out[j] = out[i]
        pos[cell] = j + 1
    return start, s_inp, s_out


def bucket_pairs(
    inp: np.ndarray, out: np.ndarray, block: np.ndarray, n_blocks: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stable counting sort of pairs by cell ``(block[inp], block[out])``.

    Returns
    -------
    cell_start : numpy.ndarray
        int64 ``(P*P + 1,)``; cell ``(p, q)`` holds pairs
        ``cell_start[p*P + q] : cell_start[p*P + q + 1]``.
    inp, out : numpy.ndarray
        The pairs, grouped by cell, corpus order kept within a cell.
    """
    return _bucket_impl(inp, out, np.ascontiguousarray(block, dtype=np.int32), int(n_blocks))


# --------------------------------------------------------------------------
# Per-block noise samplers (Walker/Vose alias tables)
# --------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _alias_segment(weights: np.ndarray, prob: np.ndarray, alias: np.ndarray) -> None:
    """Vose's alias table for one block (``prob``/``alias`` index within the block)."""
    n = weights.shape[0]
    total = 0.0
    for i in range(n):
        total += weights[i]
    scaled = np.empty(n, dtype=np.float64)
    small = np.empty(n, dtype=np.int64)
    large = np.empty(n, dtype=np.int64)
    ns = 0
    nl = 0
    for i in range(n):
        scaled[i] = weights[i] * n / total
        alias[i] = i
        if scaled[i] < 1.0:
            small[ns] = i
            ns += 1
        else:
            large[nl] = i
            nl += 1
    while ns > 0 and nl > 0:
        ns -= 1
        s = small[ns]
        lg = large[nl - 1]
        prob[s] = scaled[s]
        alias[s] = lg
        scaled[lg] = (scaled[lg] + scaled[s]) - 1.0
        if scaled[lg] < 1.0:
            nl -= 1
            small[ns] = lg
            ns += 1
    for i in range(nl):
        prob[large[i]] = 1.0
    for i in range(ns):
        prob[small[i]] = 1.0


@numba.njit(cache=True, nogil=True)
def _build_samplers(
    words: np.ndarray, seg: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    prob = np.ones(words.shape[0], dtype=np.float64)
    alias = np.zeros(words.shape[0], dtype=np.int32)
    for b in range(seg.shape[0] - 1):
        lo = seg[b]
        hi = seg[b + 1]
        if hi > lo:
            _alias_segment(weights[words[lo:hi]], prob[lo:hi], alias[lo:hi])
    return prob, alias


def block_samplers(
    noise_weights: np.ndarray, block: np.ndarray, n_blocks: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Words of each block and an O(1) noise sampler restricted to each block.

    Parameters
    ----------
    noise_weights : numpy.ndarray
        ``(V,)`` unnormalised noise weights (``count ** 0.75``).
    block : numpy.ndarray
        int32 ``(V,)`` block of each word.
    n_blocks : int
        ``P``.

    Returns
    -------
    seg : numpy.ndarray
        int64 ``(P + 1,)``; block ``b``'s words are ``words[seg[b]:seg[b+1]]``.
    words : numpy.ndarray
        int32 ``(V,)`` word ids grouped by block (ascending id within a block).
    prob, alias : numpy.ndarray
        Alias table aligned with ``words`` (``alias`` is an index within the
        block).  A draw of block ``b`` picks local slot ``i`` uniformly and
        keeps it with probability ``prob[seg[b] + i]``, else takes
        ``alias[seg[b] + i]``; word ``w`` of block ``b`` comes out with
        probability ``noise_weights[w] / Σ_{v in b} noise_weights[v]``.
    block_noise : numpy.ndarray
        float64 ``(P,)`` noise mass ``Π(b)`` of each block (sums to 1).
    """
    block = np.ascontiguousarray(block, dtype=np.int32)
    weights = np.ascontiguousarray(noise_weights, dtype=np.float64)
    words = np.argsort(block, kind="stable").astype(np.int32)
    seg = np.zeros(int(n_blocks) + 1, dtype=np.int64)
    np.cumsum(np.bincount(block, minlength=int(n_blocks)), out=seg[1:])
    prob, alias = _build_samplers(words, seg, weights)
    block_noise = np.bincount(block, weights=weights, minlength=int(n_blocks)) / weights.sum()
    return seg, words, prob, alias, block_noise


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _draw(state: np.uint64, lo: int, n: int, words: np.ndarray, prob: np.ndarray, alias: np.ndarray):
    """One alias draw from the block whose words are ``words[lo:lo+n]``."""
    state = _lcg_next(state)
    x = float(state >> _U64_11) * _INV_2_53 * n
    i = int(x)
    if i >= n:
        i = n - 1
    if x - i >= prob[lo + i]:
        i = alias[lo + i]
    return words[lo + i], state


# --------------------------------------------------------------------------
# Cell SGD kernels
# --------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _shuffle(buf: np.ndarray, n: int, state: np.uint64) -> np.uint64:
    """Fisher-Yates shuffle of ``buf[:n]`` in place with the LCG; the next state."""
    for i in range(n - 1, 0, -1):
        state = _lcg_next(state)
        r = int(float(state >> _U64_11) * _INV_2_53 * (i + 1))
        if r > i:
            r = i
        tmp = buf[i]
        buf[i] = buf[r]
        buf[r] = tmp
    return state


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _term_update(w_in: np.ndarray, w_out: np.ndarray, c: int, t: int, label: float, alpha: float) -> None:
    """One-term SGD step on ``(w_in[c], w_out[t])`` with word2vec's gradient.

    ``g = alpha * (label - σ(w_in[c]·w_out[t]))``; both rows move using the
    other's value from before the step (exact sigmoid, as the sgns kernel).
    """
    dim = w_in.shape[1]
    f = np.float32(0.0)
    for j in range(dim):
        f += w_in[c, j] * w_out[t, j]
    x = float(f)
    e = math.exp(-abs(x))
    inv = 1.0 / (1.0 + e)
    sig = inv if x >= 0.0 else e * inv
    gs = np.float32(alpha * (label - sig))
    for j in range(dim):
        h = w_in[c, j]
        u = w_out[t, j]
        w_in[c, j] = h + gs * u
        w_out[t, j] = u + gs * h


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def sgd_pairs(
    w_in: np.ndarray,
    w_out: np.ndarray,
    inp: np.ndarray,
    out: np.ndarray,
    label: np.ndarray,
    alpha_start: float,
    alpha_end: float,
) -> None:
    """Plain pair-list SGD: event ``i`` is a one-term update of ``(inp[i], out[i])``.

    The learning rate of event ``i`` of ``n`` is
    ``alpha_start + (alpha_end - alpha_start) * i / n``.  ``label`` is 1.0 for
    a positive pair and 0.0 for a negative one.  This is the update each
    event of :func:`train_cell_routed` applies.
    """
    n = inp.shape[0]
    for i in range(n):
        alpha = alpha_start + (alpha_end - alpha_start) * (i / n)
        _term_update(w_in, w_out, inp[i], out[i], label[i], alpha)


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def train_cell_restricted(
    w_in: np.ndarray,
    w_out: np.ndarray,
    inp: np.ndarray,
    out: np.ndarray,
    q_lo: int,
    q_n: int,
    words: np.ndarray,
    prob: np.ndarray,
    alias: np.ndarray,
    negative: int,
    alpha_start: float,
    alpha_end: float,
    seed: np.uint64,
    tally: np.ndarray,
) -> tuple[float, int]:
    """Train one cell with negatives drawn from its output block only.

    Each positive pair ``(c, o)`` is one word2vec example: ``k = negative``
    draws from the block's noise sampler (``words[q_lo:q_lo+q_n]``, see
    :func:`block_samplers`), a draw equal to ``o`` skipped (not redrawn), and
    the update of :func:`embedpipe.kernels.sgns._pair_update` (input-row
    gradient accumulated over the ``1 + k`` terms and applied after them).
    Learning rate linear over the cell's pairs from ``alpha_start`` to
    ``alpha_end``.

    ``tally`` is an int64 2-D array; if it is ``(V, V)`` each negative
    ``(c, w)`` increments ``tally[c, w]`` (tests), pass shape ``(0, 0)`` to
    skip.

    Returns
    -------
    loss : float
        Sum of the examples' losses (weights before each update).
    n_negatives : int
        Negatives actually trained.
    """
    n = inp.shape[0]
    dim = w_in.shape[1]
    targets = np.empty(negative + 1, dtype=np.int32)
    work = np.zeros(dim, dtype=np.float32)
    touch = np.zeros(w_out.shape[0], dtype=np.int64)
    count = tally.shape[0] > 0
    state = seed
    loss = 0.0
    n_neg = 0
    for i in range(n):
        c = inp[i]
        o = out[i]
        targets[0] = o
        nt = 1
        for _ in range(negative):
            w, state = _draw(state, q_lo, q_n, words, prob, alias)
            if w == o:
                continue
            targets[nt] = w
            nt += 1
            if count:
                tally[c, w] += 1
        n_neg += nt - 1
        alpha = alpha_start + (alpha_end - alpha_start) * (i / n)
        for j in range(dim):
            work[j] = 0.0
        h = w_in[c]
        loss += _pair_update(h, w_out, targets, nt, alpha, work, touch)
        for j in range(dim):
            h[j] += work[j]
    return loss, n_neg


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def train_cell_routed(
    w_in: np.ndarray,
    w_out: np.ndarray,
    inp: np.ndarray,
    out: np.ndarray,
    p_words: np.ndarray,
    n_pos_row: np.ndarray,
    pi_q: float,
    q_lo: int,
    q_n: int,
    words: np.ndarray,
    prob: np.ndarray,
    alias: np.ndarray,
    negative: int,
    alpha_start: float,
    alpha_end: float,
    seed: np.uint64,
    chunk: int,
    tally: np.ndarray,
) -> int:
    """Train one cell with routed negatives (exact word2vec noise in expectation).

    For every input word ``c`` in ``p_words`` (the input block),
    ``m_c ~ Binomial(negative * n_pos_row[c], pi_q)`` negative events
    ``(c, w)`` are drawn, ``w`` from the output block's noise sampler.  The
    cell's positive stream (``inp``/``out``, corpus order) is cut into
    pieces of ``chunk`` pairs; each ``m_c`` is split over the pieces by
    sequential binomials (each negative lands in a piece with probability
    proportional to its length), the piece's negatives are shuffled and then
    merged uniformly at random with its positives.  Every event is a
    one-term update (:func:`sgd_pairs`), label 1 for positives, 0 for
    negatives; the learning rate goes linearly from ``alpha_start`` to
    ``alpha_end`` over all the cell's events.  Only one piece of negatives is
    held in memory at a time.

    ``tally``: as in :func:`train_cell_restricted`.

    Returns
    -------
    int
        Negatives trained.
    """
    np.random.seed(np.int64(seed >> np.uint64(33)))
    state = seed
    n_pos = inp.shape[0]
    n_in = p_words.shape[0]
    count = tally.shape[0] > 0
    m = np.zeros(n_in, dtype=np.int64)
    m_total = 0
    if pi_q > 0.0:
        for j in range(n_in):
            trials = negative * n_pos_row[p_words[j]]
            if trials > 0:
                m[j] = np.random.binomial(trials, pi_q)
                m_total += m[j]
    total = n_pos + m_total
    if total == 0:
        return 0
    n_chunks = 1 if n_pos <= chunk else (n_pos + chunk - 1) // chunk
    mj = np.zeros(n_in, dtype=np.int64)
    buf = np.empty(0, dtype=np.int32)
    remaining = n_pos
    pos = 0
    event = 0
    slope = (alpha_end - alpha_start) / total
    for ch in range(n_chunks):
        length = n_pos - pos if ch == n_chunks - 1 else chunk
        n_neg = 0
        for j in range(n_in):
            if m[j] == 0:
                mj[j] = 0
                continue
            if ch == n_chunks - 1:
                d = m[j]
            else:
                d = np.random.binomial(m[j], length / remaining)
            mj[j] = d
            m[j] -= d
            n_neg += d
        if buf.shape[0] < n_neg:
            buf = np.empty(n_neg + n_neg // 4 + 16, dtype=np.int32)
        k = 0
        for j in range(n_in):
            c = p_words[j]
            for _ in range(mj[j]):
                buf[k] = c
                k += 1
        state = _shuffle(buf, n_neg, state)
        # Uniformly random merge: the next event is a negative with
        # probability (negatives left) / (events left).
        rp = length
        rn = n_neg
        ineg = 0
        while rp + rn > 0:
            alpha = alpha_start + slope * event
            event += 1
            state = _lcg_next(state)
            u = float(state >> _U64_11) * _INV_2_53 * (rp + rn)
            if u < rn:
                c = buf[ineg]
                ineg += 1
                rn -= 1
                w, state = _draw(state, q_lo, q_n, words, prob, alias)
                if count:
                    tally[c, w] += 1
                _term_update(w_in, w_out, c, w, 0.0, alpha)
            else:
                _term_update(w_in, w_out, inp[pos], out[pos], 1.0, alpha)
                pos += 1
                rp -= 1
        remaining -= length
    return m_total


def attached_cap(negative: int) -> int:
    """Most negatives one pair carries in :func:`train_cell_attached`: three
    times word2vec's per-pair count leaves the usual spread of ``owed / pairs``
    attached and sends only the outliers' surplus to lone updates."""
    return 3 * max(int(negative), 1)


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def train_cell_attached(
    w_in: np.ndarray,
    w_out: np.ndarray,
    inp: np.ndarray,
    out: np.ndarray,
    owed: np.ndarray,
    pi_q: float,
    q_lo: int,
    q_n: int,
    words: np.ndarray,
    prob: np.ndarray,
    alias: np.ndarray,
    alpha_start: float,
    alpha_end: float,
    seed: np.uint64,
    tally: np.ndarray,
    max_attached: int,
) -> tuple[float, int]:
    """Train one cell with routed negatives attached to their word's positives.

    The counts are :func:`train_cell_routed`'s: input row ``c`` (of
    ``w_in``; ``inp`` and ``owed`` index it) meets ``m_c ~ Binomial(owed[c],
    pi_q)`` negatives from the output block's noise sampler. Here they are
    dealt over ``c``'s ``k_c`` positive pairs in the cell, in corpus order:
    each pair gets ``m_c // k_c`` of them, and a random ``m_c mod k_c`` of the
    pairs one more. A pair and its negatives are one word2vec example
    (:func:`embedpipe.kernels.sgns._pair_update`: the input row's gradient is
    summed over the terms and applied once), so a cell costs what the
    sequential kernel costs per pair. A word with no positive pair in the
    cell trains its ``m_c`` negatives as one-term updates, spread uniformly
    at random over the cell's stream. Every ``(c, w, label)`` event has the
    same expected count as under routing; only the order differs. A negative
    equal to the pair's positive is kept (routing keeps it too).

    At most ``max_attached`` negatives go with one pair; a word owed more
    than that per pair trains the surplus as lone negatives. An example's
    input gradient is the sum over its terms, applied at once, so a pair
    carrying hundreds of negatives takes a step hundreds of times word2vec's
    and diverges. That happens to a word whose pairs cluster in a few places
    of the corpus: a cell holds 1 of its pairs while it is owed the round's
    expected negatives (e.g. 1,700 for one pair at 2 blocks on wiki17m).

    The learning rate goes linearly from ``alpha_start`` to ``alpha_end`` over
    the cell's examples and lone negatives. ``tally``: as in
    :func:`train_cell_restricted`.

    Returns
    -------
    loss : float
        Sum of the examples' losses (weights before each update); lone
        negatives are not included.
    n_negatives : int
        Negatives trained (``sum m_c``).
    """
    np.random.seed(np.int64(seed >> np.uint64(33)))
    state = seed
    n_pos = inp.shape[0]
    n_in = owed.shape[0]
    dim = w_in.shape[1]
    count = tally.shape[0] > 0
    m = np.zeros(n_in, dtype=np.int64)
    m_total = 0
    if pi_q > 0.0:
        for c in range(n_in):
            if owed[c] > 0:
                m[c] = np.random.binomial(owed[c], pi_q)
                m_total += m[c]
    k = np.zeros(n_in, dtype=np.int64)
    for i in range(n_pos):
        k[inp[i]] += 1
    # Per word: negatives for every pair, extras still to hand out, pairs still to come.
    base = np.zeros(n_in, dtype=np.int64)
    extra = np.zeros(n_in, dtype=np.int64)
    most = 0
    n_lone = 0
    alone = np.zeros(n_in, dtype=np.int64)
    for c in range(n_in):
        if k[c] > 0:
            if m[c] > max_attached * k[c]:
                base[c] = max_attached
                alone[c] = m[c] - max_attached * k[c]
            else:
                base[c] = m[c] // k[c]
                extra[c] = m[c] - base[c] * k[c]
            if base[c] + 1 > most:
                most = base[c] + 1
        else:
            alone[c] = m[c]
        n_lone += alone[c]
    lone = np.empty(n_lone, dtype=np.int32)
    j = 0
    for c in range(n_in):
        for _ in range(alone[c]):
            lone[j] = c
            j += 1
    state = _shuffle(lone, n_lone, state)
    targets = np.empty(most + 1, dtype=np.int32)
    work = np.zeros(dim, dtype=np.float32)
    touch = np.zeros(w_out.shape[0], dtype=np.int64)
    total = n_pos + n_lone
    if total == 0:
        return 0.0, 0
    slope = (alpha_end - alpha_start) / total
    loss = 0.0
    pos = 0
    ilone = 0
    event = 0
    while pos + ilone < total:
        alpha = alpha_start + slope * event
        event += 1
        rp = n_pos - pos
        rn = n_lone - ilone
        state = _lcg_next(state)
        u = float(state >> _U64_11) * _INV_2_53 * (rp + rn)
        if u < rn:
            c = lone[ilone]
            ilone += 1
            w, state = _draw(state, q_lo, q_n, words, prob, alias)
            if count:
                tally[c, w] += 1
            _term_update(w_in, w_out, c, w, 0.0, alpha)
            continue
        c = inp[pos]
        targets[0] = out[pos]
        pos += 1
        nt = 1 + base[c]
        if extra[c] > 0:
            # One more negative with probability extras left / pairs left.
            state = _lcg_next(state)
            if float(state >> _U64_11) * _INV_2_53 * k[c] < extra[c]:
                nt += 1
                extra[c] -= 1
        k[c] -= 1
        for d in range(1, nt):
            w, state = _draw(state, q_lo, q_n, words, prob, alias)
            targets[d] = w
            if count:
                tally[c, w] += 1
        for jj in range(dim):
            work[jj] = 0.0
        h = w_in[c]
        loss += _pair_update(h, w_out, targets, nt, alpha, work, touch)
        for jj in range(dim):
            h[jj] += work[jj]
    return loss, m_total


# --------------------------------------------------------------------------
# One epoch of the schedule
# --------------------------------------------------------------------------


def simulate_epoch(
    w_in: np.ndarray,
    w_out: np.ndarray,
    ids: np.ndarray,
    offsets: np.ndarray,
    keep_prob: np.ndarray,
    counts: np.ndarray,
    *,
    n_blocks: int,
    variant: str,
    window: int,
    negative: int,
    alpha_start: float,
    alpha_end: float,
    seed: int,
    epoch: int,
    chunk: int = 1 << 20,
    rounds: int = 1,
    tally: np.ndarray | None = None,
) -> dict[str, Any]:
    """Run one epoch of the block-rotated schedule, task after task, in place.

    Steps: re-draw the block assignment (seed, epoch); generate the epoch's
    pairs; bucket them by cell; build the per-block noise samplers; then for
    ``s = 0..P-1`` train the ``P`` cells ``(p, (p + s) mod P)``.  The
    learning-rate range ``[alpha_start, alpha_end]`` of the epoch is split
    over the sub-epochs in proportion to their positive pairs, and every task
    of a sub-epoch uses that sub-epoch's full range (the tasks run at the
    same time on a cluster).

    Parameters
    ----------
    w_in, w_out : numpy.ndarray
        ``(V, dim)`` float32 weights, updated in place.
    ids, offsets, keep_prob : numpy.ndarray
        As :func:`generate_pairs`.
    counts : numpy.ndarray
        ``(V,)`` word counts (noise weights ``count ** 0.75``; block mass
        ``count * keep_prob``).
    n_blocks : int
        ``P``.
    variant : {"routed", "restricted", "attached"}
        Negative scheme.
    window, negative : int
        word2vec's maximum window and negatives per pair.
    alpha_start, alpha_end : float
        Learning rate at the start and the end of this epoch.
    seed, epoch : int
        Every random stream of the epoch derives from ``(seed, epoch)``.
    chunk : int
        Routed variant: positives per merge piece (memory bound).
    rounds : int, default 1
        Cut the epoch's pairs (corpus order) into this many consecutive
        parts and run the ``P`` sub-epochs on each part in turn: a row's
        updates against one output block are then spread over the epoch
        instead of bunched in ``1/P`` of it, at the price of ``rounds * P``
        synchronisations per epoch.  Routed negatives use each part's own
        ``n_c``.
    tally : numpy.ndarray, optional
        ``(V, V)`` int64 counter of negative events (tests).

    Returns
    -------
    dict
        Seconds per step (``generate_s``, ``bucket_s``, ``samplers_s``,
        ``train_s``), ``pairs``, ``negatives``, ``block_imbalance`` (max / mean
        block mass), ``cell_imbalance`` (per sub-epoch, the largest task's
        events over the mean task's, weighted by the sub-epoch's events: the
        slow-down a cluster sees from stragglers) and ``blocks``.
    """
    if variant not in ("routed", "restricted", "attached"):
        raise ValueError("variant must be 'routed', 'restricted' or 'attached'")
    P = int(n_blocks)
    counts = np.asarray(counts, dtype=np.int64)
    keep = np.minimum(np.asarray(keep_prob, dtype=np.float64), 1.0)
    mass = counts * keep
    block, block_mass = assign_blocks(mass, P, derive_seed(seed, epoch, 1))

    t0 = time.perf_counter()
    inp, out = generate_pairs(ids, offsets, keep_prob, window, derive_seed(seed, epoch, 2))
    t1 = time.perf_counter()
    seg, words, prob, alias, block_noise = block_samplers(np.power(counts.astype(np.float64), 0.75), block, P)
    samplers_s = time.perf_counter() - t1
    n_all = inp.shape[0]
    R = max(1, int(rounds))
    cuts = np.linspace(0, n_all, R + 1).round().astype(np.int64)
    no_tally = np.zeros((0, 0), dtype=np.int64)
    tl = no_tally if tally is None else tally
    negatives = 0
    bucket_s = 0.0
    train_s = 0.0
    straggle = 0.0
    events = 0.0
    for r in range(R):
        tb = time.perf_counter()
        cell_start, s_inp, s_out = bucket_pairs(inp[cuts[r] : cuts[r + 1]], out[cuts[r] : cuts[r + 1]], block, P)
        ts = time.perf_counter()
        bucket_s += ts - tb
        n_pos_row = np.bincount(s_inp, minlength=counts.shape[0]).astype(np.int64)
        if variant == "attached":  # each block's rows' owed negatives, zero elsewhere
            owed = [np.where(block == p, int(negative) * n_pos_row, 0).astype(np.int64) for p in range(P)]
        samplers_s += time.perf_counter() - ts
        tt = time.perf_counter()
        # This round's share of the epoch's learning-rate range, split over
        # its sub-epochs in proportion to their positive pairs.
        g0 = cuts[r] / max(n_all, 1)
        g1 = cuts[r + 1] / max(n_all, 1)
        cells = np.diff(cell_start).reshape(P, P)
        sub_pairs = np.array([sum(int(cells[p, (p + s) % P]) for p in range(P)) for s in range(P)], dtype=np.float64)
        bounds = g0 + (g1 - g0) * np.concatenate(([0.0], np.cumsum(sub_pairs))) / max(sub_pairs.sum(), 1.0)
        task_events = np.zeros((P, P), dtype=np.float64)
        for s in range(P):
            a0 = alpha_start + (alpha_end - alpha_start) * bounds[s]
            a1 = alpha_start + (alpha_end - alpha_start) * bounds[s + 1]
            for p in range(P):
                q = (p + s) % P
                lo, hi = cell_start[p * P + q], cell_start[p * P + q + 1]
                tags = (epoch, 3, p, q) if r == 0 else (epoch, 3, p, q, r)
                cseed = np.uint64(derive_seed(seed, *tags))
                if variant == "restricted":
                    _, n_neg = train_cell_restricted(
                        w_in, w_out, s_inp[lo:hi], s_out[lo:hi], int(seg[q]), int(seg[q + 1] - seg[q]),
                        words, prob, alias, int(negative), a0, a1, cseed, tl,
                    )  # fmt: skip
                elif variant == "attached":
                    _, n_neg = train_cell_attached(
                        w_in, w_out, s_inp[lo:hi], s_out[lo:hi], owed[p], min(1.0, float(block_noise[q])),
                        int(seg[q]), int(seg[q + 1] - seg[q]), words, prob, alias, a0, a1, cseed, tl,
                        attached_cap(negative),
                    )  # fmt: skip
                else:
                    n_neg = train_cell_routed(
                        w_in, w_out, s_inp[lo:hi], s_out[lo:hi], words[seg[p] : seg[p + 1]], n_pos_row,
                        min(1.0, float(block_noise[q])), int(seg[q]), int(seg[q + 1] - seg[q]), words, prob, alias,
                        int(negative), a0, a1, cseed, int(chunk), tl,
                    )  # fmt: skip
                negatives += int(n_neg)
                task_events[s, p] = (hi - lo) + n_neg
        train_s += time.perf_counter() - tt
        straggle += float((task_events.max(axis=1) * P).sum())
        events += float(task_events.sum())
    return {
        "generate_s": t1 - t0,
        "bucket_s": bucket_s,
        "samplers_s": samplers_s,
        "train_s": train_s,
        "pairs": int(n_all),
        "negatives": negatives,
        "block_imbalance": float(block_mass.max() / block_mass.mean()),
        "cell_imbalance": straggle / max(events, 1.0),
        "blocks": P,
        "rounds": R,
    }
