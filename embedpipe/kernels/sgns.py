"""Skip-gram / CBOW with negative sampling (word2vec SGNS) training kernel.

This module holds the single-core hot loop of the word2vec trainer.  It uses
numpy and numba only (plus llvmlite, numba's code generator, for a single
prefetch intrinsic); no Spark, no I/O.  The caller hands it flat int32 token
ids plus sentence offsets and gets the two weight matrices updated in place.

Semantics follow word2vec.c (Mikolov et al.) and gensim's
``word2vec_inner.pyx`` (``sg=1`` / ``sg=0, cbow_mean=1``, ``hs=0``,
``negative > 0``), with the deviations listed below.

Model and loss
--------------
For one training example with input vector ``h`` (a row of ``w_in`` for
skip-gram, the mean of the context rows for CBOW), positive output row
``u_o`` and negative output rows ``u_1..u_K`` (rows of ``w_out``), the loss is::

    L = -log σ(u_o·h) - Σ_k log σ(-u_k·h)

and one SGD step with learning rate ``alpha`` is applied::

    g_d  = alpha * (label_d - σ(u_d·h))         # label = 1 for u_o, 0 for u_k
    u_d += g_d * h                               # = -alpha * dL/du_d
    h   += Σ_d g_d * u_d   (u_d before its own update)   # = -alpha * dL/dh

The ``h`` gradient is accumulated in a work buffer and applied after all
negatives, exactly like ``neu1e`` in word2vec.c, so every dot product of one
example sees the same ``h``.

Deviations from word2vec.c / gensim (deliberate):

* The sigmoid and the loss are computed exactly (``exp``/``log1p`` in float64
  on the scalar dot product) instead of with the 1000-entry ``EXP_TABLE``.
  word2vec.c saturates σ outside ``[-6, 6]`` and gensim *skips* the update
  entirely there; we simply keep the exact gradient, which is always finite
  because σ is evaluated as ``1 / (1 + exp(-|x|))`` (no overflow).  This
  makes the update exactly ``-alpha * grad(L)`` everywhere (tested by central
  differences).  The loss of an example is ``-log`` of the product of its
  targets' probabilities: one ``log`` per example; a probability below 1e-30
  is taken on its own as ``max(±x, 0) + log1p(exp(-|x|))``, so the product
  never underflows.
* Random numbers come from word2vec.c's 64-bit LCG
  (``next = next * 25214903917 + 11`` mod 2**64, no 48-bit mask as in gensim),
  seeded by a splitmix64 scramble of ``seed``; draws use the *high* bits
  because the low bits of a power-of-two LCG have short periods.

Skip-gram direction
-------------------
For a centre word ``c`` and a context word ``o``, the input vector is
``w_in[o]`` and the positive output row is ``w_out[c]`` ("predict the centre
from each context row").  This is what word2vec.c's skip-gram loop and
gensim's ``train_batch_sg`` (``word_index=centre``, ``word2_index=context``)
do; since windows are symmetric, both directions see the same pairs in
expectation.

CBOW
----
``h`` is the *mean* of the context rows (``cbow_mean=1``).  The accumulated
error ``neu1e`` is then added, **undivided**, to every context row.  That is
what word2vec.c does and what gensim 4.x does for ``cbow_mean=1`` (gensim only
divides the error by the context size when ``cbow_mean=0``, i.e. for the
*sum*); it means each context row moves by ``count`` times the exact gradient
of ``L`` w.r.t. that row (``-alpha * dL/dh`` rather than
``-alpha * dL/dh / count``).  We follow gensim so learning rates transfer.

Randomness and performance
--------------------------
Everything is deterministic for a given ``seed``: no numba/numpy global RNG is
used inside the kernel.  Per sentence the LCG is consumed in this order: one
draw per token with ``keep_prob < 1`` (subsampling), one per kept token
(reduced window), then the negatives of each centre word in order.

The loop is memory-latency bound (two ``V x dim`` float32 matrices, random
rows), so the negatives of centre ``i + 1`` are drawn and their ``w_out`` rows
prefetched (``llvm.prefetch``) while centre ``i`` trains; negative sampling
uses gensim's bisection on the cdf, bracketed by a per-call guide table so it
costs O(1) expected loads instead of ~log2(V).  Neither changes the maths:
negatives never depend on the weights.  The only non-numpy/numba import is
llvmlite (numba's code generator, always installed with it), used to emit the
prefetch intrinsic.
"""

from __future__ import annotations

import math
from functools import partial

import numba
import numpy as np
from llvmlite import ir as _llvm_ir  # numba's own code generator (a numba dependency)
from numba.core import cgutils as _cgutils
from numba.core import types as _nb_types
from numba.extending import intrinsic as _intrinsic

from embedpipe.kernels.threads import run_parallel, split_by_weight

__all__ = [
    "build_noise_cdf",
    "init_weights",
    "sgns_train_chunk",
]

# word2vec.c's LCG constants (java.util.Random's multiplier).  numba freezes
# module-level numpy scalars as typed constants, so these stay uint64 and the
# multiplication wraps modulo 2**64 like C's unsigned long long.
_LCG_MUL = np.uint64(25214903917)
_LCG_ADD = np.uint64(11)
_U64_11 = np.uint64(11)
_U64_33 = np.uint64(33)
_U64_40 = np.uint64(40)
_INV_2_53 = 1.0 / 9007199254740992.0  # 2**-53
_INV_2_24 = 1.0 / 16777216.0  # 2**-24

_MASK64 = (1 << 64) - 1
# Cap on the noise-sampling guide table (int32 entries): 4 MiB at most.
_MAX_GUIDE = 1 << 20


def _splitmix64(seed: int) -> int:
    """Scramble a Python int seed into a 64-bit LCG start state.

    Neighbouring seeds (0, 1, 2, ...) would otherwise give LCG streams whose
    first draws are strongly correlated.
    """
    z = (int(seed) + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


# --------------------------------------------------------------------------
# Public helpers (plain numpy: called once per vocabulary / model)
# --------------------------------------------------------------------------


def build_noise_cdf(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    """Cumulative negative-sampling distribution over word ids.

    Parameters
    ----------
    counts : numpy.ndarray
        1-D non-negative integer counts per word id (int64 expected).
    power : float, default 0.75
        Exponent applied to the counts (word2vec's unigram^0.75 "noise").

    Returns
    -------
    numpy.ndarray
        float64 array ``cdf`` of the same length, non-decreasing, with
        ``cdf[-1] == 1.0`` exactly.  Word ``i`` is drawn with probability
        ``cdf[i] - cdf[i-1]`` (``cdf[-1] := 0``) by taking ``u ~ U[0, 1)`` and
        returning the first ``i`` with ``cdf[i] > u`` (binary search, as
        gensim's ``bisect_left`` on its ``cum_table``).  Words with count 0 are
        never drawn.  Float64 is used instead of gensim's uint32 table scaled
        to 2**31 - 1 so rare words in very large vocabularies keep a non-zero,
        correctly-sized share.

    Raises
    ------
    ValueError
        If ``counts`` is not 1-D, contains negative values or sums to 0.
    """
    counts = np.asarray(counts)
    if counts.ndim != 1 or counts.shape[0] == 0:
        raise ValueError("counts must be a non-empty 1-D array")
    if np.any(counts < 0):
        raise ValueError("counts must be non-negative")
    weights = np.power(counts.astype(np.float64), float(power))
    # Zero counts must stay zero even for power <= 0 (0**0 == 1).
    weights[counts == 0] = 0.0
    cum = np.cumsum(weights)
    total = cum[-1]
    if not total > 0.0:
        raise ValueError("counts must contain at least one positive entry")
    # Division by a positive constant is monotone under IEEE rounding, so the
    # cdf stays non-decreasing; trailing zero-count words share the final 1.0
    # with the last positive word, and u < 1 never reaches them.
    cdf = cum / total
    cdf[-1] = 1.0
    return cdf


def init_weights(vocab_size: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Initial word2vec weights.

    Parameters
    ----------
    vocab_size : int
        Number of word ids ``V``.
    dim : int
        Embedding dimension.
    seed : int
        Seed for :func:`numpy.random.default_rng`; same seed gives identical
        arrays.

    Returns
    -------
    w_in : numpy.ndarray
        ``(V, dim)`` float32, C-contiguous, uniform in ``[-0.5/dim, 0.5/dim)``
        (word2vec.c / gensim initialisation of ``syn0``).
    w_out : numpy.ndarray
        ``(V, dim)`` float32 zeros (``syn1neg``).
    """
    if vocab_size < 0 or dim <= 0:
        raise ValueError("vocab_size must be >= 0 and dim > 0")
    rng = np.random.default_rng(seed)
    w_in = rng.random((vocab_size, dim), dtype=np.float32)
    w_in -= np.float32(0.5)
    w_in /= np.float32(dim)
    w_out = np.zeros((vocab_size, dim), dtype=np.float32)
    return w_in, w_out


# --------------------------------------------------------------------------
# Compiled kernels
# --------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _lcg_next(state: np.uint64) -> np.uint64:
    """One step of word2vec.c's LCG (wraps modulo 2**64)."""
    return state * _LCG_MUL + _LCG_ADD


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _bucket(x: float, n_buckets: int) -> int:
    """Monotone map of ``x`` in ``[0, 1]`` to a guide-table bucket ``0..n_buckets-1``."""
    k = int(x * n_buckets)
    return k if k < n_buckets else n_buckets - 1


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _build_guide(cdf: np.ndarray, n_buckets: int) -> np.ndarray:
    """Guide table for :func:`_sample_cdf` (Chen & Asau's indexed search).

    ``guide[k]`` is the first ``i`` with ``_bucket(cdf[i]) >= k``
    (``guide[n_buckets] = V - 1``).  Because ``_bucket`` is monotone, the
    first ``i`` with ``cdf[i] > u`` always lies in
    ``[guide[_bucket(u)], guide[_bucket(u) + 1]]``, so the bisection below
    returns exactly what a full-range bisection would, but over a range that
    is almost always 0-2 entries long.  Built per call in O(V) from the
    broadcast cdf, so nothing extra has to be shipped to executors.
    """
    n = cdf.shape[0]
    guide = np.empty(n_buckets + 1, dtype=np.int32)
    k = 0
    for i in range(n):
        b = _bucket(cdf[i], n_buckets)
        while k <= b:
            guide[k] = i
            k += 1
    while k <= n_buckets:
        guide[k] = n - 1
        k += 1
    return guide


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _sample_cdf(cdf: np.ndarray, guide: np.ndarray, u: float) -> int:
    """First index ``i`` with ``cdf[i] > u`` (``0 <= u < 1 == cdf[-1]``).

    Bisection as gensim's ``bisect_left`` on its ``cum_table``, restricted to
    the guide-table bracket.  The full-range bisection was a third of the
    skip-gram run time: ~17 dependent, unpredictable loads per negative.
    """
    n_buckets = guide.shape[0] - 1
    k = _bucket(u, n_buckets)
    lo = guide[k]
    hi = guide[k + 1]
    while lo < hi:
        mid = (lo + hi) >> 1
        if cdf[mid] <= u:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _pair_update(
    h: np.ndarray,
    w_out: np.ndarray,
    targets: np.ndarray,
    n_targets: int,
    alpha: float,
    work: np.ndarray,
    touch_out: np.ndarray,
) -> float:
    """One negative-sampling example: update ``w_out`` rows, accumulate ``work``.

    Parameters
    ----------
    h : numpy.ndarray
        ``(dim,)`` float32 input vector (a row of ``w_in`` or the CBOW mean);
        read only.
    w_out : numpy.ndarray
        ``(V, dim)`` float32 output weights, rows ``targets[:n_targets]`` are
        updated in place.
    targets : numpy.ndarray
        int32 row ids; ``targets[0]`` is the positive (label 1), the rest are
        negatives (label 0).  Callers drop negatives equal to the positive.
    n_targets : int
        Number of valid entries in ``targets``.
    alpha : float
        Learning rate.
    work : numpy.ndarray
        ``(dim,)`` float32; ``-alpha * dL/dh`` is *added* to it (caller zeroes
        it and applies it to the input row(s) afterwards, as word2vec.c's
        ``neu1e``).
    touch_out : numpy.ndarray
        int64 ``(V,)``; incremented once per updated ``w_out`` row.

    Returns
    -------
    float
        ``L = -log σ(u_0·h) - Σ_{d>=1} log σ(-u_d·h)`` evaluated with the
        weights before the update.
    """
    dim = h.shape[0]
    loss = 0.0
    # The loss is -log of the product of the targets' probabilities: one log
    # per example instead of a log1p per target (a sixth of the kernel's time
    # at negative 5). A probability too small to multiply safely is taken
    # exactly on its own, so the product never underflows.
    prob = 1.0
    for d in range(n_targets):
        t = targets[d]
        f = np.float32(0.0)
        for j in range(dim):
            f += h[j] * w_out[t, j]
        x = float(f)
        # Overflow-free sigmoid from a single exp of -|x|.
        e = math.exp(-abs(x))
        inv = 1.0 / (1.0 + e)
        sig = inv if x >= 0.0 else e * inv
        if d == 0:
            g = 1.0 - sig
            p = sig  # σ(x)
            z = -x  # -log p = max(z, 0) + log1p(e)
        else:
            g = -sig
            p = inv if x < 0.0 else e * inv  # σ(-x), without cancellation
            z = x
        if p > 1e-30:
            prob *= p
        else:
            loss += max(z, 0.0) + math.log1p(e)
        gs = np.float32(g * alpha)
        # neu1e must use u_d *before* its own update (word2vec.c order).
        for j in range(dim):
            u = w_out[t, j]
            work[j] += gs * u
            w_out[t, j] = u + gs * h[j]
        touch_out[t] += 1
    return loss - math.log(prob)


@_intrinsic
def _prefetch(typingctx, arr, flat_index):  # type: ignore[no-untyped-def]
    """``llvm.prefetch`` of ``&arr.flat[flat_index]`` (read, keep in all levels).

    numba has no prefetch builtin; this emits the LLVM intrinsic directly.
    The pointer-type suffix is taken from llvmlite so the same code works with
    typed (``p0i8``) and opaque (``p0``) LLVM pointers across numba versions.
    """
    if not isinstance(arr, _nb_types.Array) or not isinstance(flat_index, _nb_types.Integer):
        return None
    sig = _nb_types.void(arr, flat_index)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        idx = context.cast(builder, args[1], signature.args[1], _nb_types.intp)
        ptr = builder.bitcast(builder.gep(ary.data, [idx]), _cgutils.voidptr_t)
        i32 = _llvm_ir.IntType(32)
        fnty = _llvm_ir.FunctionType(_llvm_ir.VoidType(), [_cgutils.voidptr_t, i32, i32, i32])
        name = "llvm.prefetch." + _cgutils.voidptr_t.intrinsic_name
        fn = _cgutils.get_or_insert_function(builder.module, fnty, name)
        # rw=0 (read), locality=3 (keep in all cache levels), cache type=1 (data)
        builder.call(fn, [ptr, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _prefetch_row(w: np.ndarray, row: int) -> None:
    """Prefetch every cache line of ``w[row]`` (row-major, float32)."""
    dim = w.shape[1]
    base = row * dim
    # 16 float32 = one 64-byte line; the extra touch of the last element
    # covers a row that straddles one more line than dim / 16.
    for j in range(0, dim, 16):
        _prefetch(w, base + j)  # type: ignore[call-arg]
    _prefetch(w, base + dim - 1)  # type: ignore[call-arg]


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _prepare_centre(
    i: int,
    kept: np.ndarray,
    win_lo: np.ndarray,
    win_hi: np.ndarray,
    negative: int,
    noise_cdf: np.ndarray,
    guide: np.ndarray,
    state: np.uint64,
    cbow: bool,
    negs: np.ndarray,
    n_negs: np.ndarray,
    w_in: np.ndarray,
    w_out: np.ndarray,
) -> np.uint64:
    """Draw all negatives of centre ``i`` and prefetch the rows it will touch.

    Called one centre word ahead of training (software pipelining): with
    V * dim * 4 bytes per matrix far beyond L2, random ``w_out`` rows miss
    cache and the loop was latency-bound.  ``negs[e, :n_negs[e]]`` holds the
    negatives of example ``e`` (context slot for skip-gram, ``e = 0`` for
    CBOW), drawn in that order from the LCG.
    """
    c = kept[i]
    lo = win_lo[i]
    hi = win_hi[i]
    _prefetch_row(w_out, c)
    if hi - 1 > i:
        # The only context row not already used by centre i - 1.
        _prefetch_row(w_in, kept[hi - 1])
    n_examples = 1 if cbow else (hi - lo - 1)
    for e in range(n_examples):
        n = 0
        for _ in range(negative):
            state = _lcg_next(state)
            neg = _sample_cdf(noise_cdf, guide, float(state >> _U64_11) * _INV_2_53)
            if neg == c:
                continue  # word2vec.c / gensim skip it, they do not redraw
            negs[e, n] = neg
            n += 1
            _prefetch_row(w_out, neg)
        n_negs[e] = n
    return state


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy", inline="always")
def _skipgram_centre(
    w_in: np.ndarray,
    w_out: np.ndarray,
    kept: np.ndarray,
    i: int,
    lo: int,
    hi: int,
    my_negs: np.ndarray,
    my_n: np.ndarray,
    targets: np.ndarray,
    alpha: float,
    work: np.ndarray,
    touch_in: np.ndarray,
    touch_out: np.ndarray,
) -> tuple[float, int]:
    """Skip-gram for centre ``kept[i]``: one example per context row in
    ``[lo, hi)``, each predicting the centre (``targets[0]``) against its own
    pre-drawn negatives. Returns (loss, pairs)."""
    dim = w_in.shape[1]
    loss = 0.0
    pairs = 0
    e = 0
    for m in range(lo, hi):
        if m == i:
            continue
        o = kept[m]
        n_t = 1 + my_n[e]
        for k in range(my_n[e]):
            targets[1 + k] = my_negs[e, k]
        e += 1
        for j in range(dim):
            work[j] = 0.0
        h = w_in[o]
        loss += _pair_update(h, w_out, targets, n_t, alpha, work, touch_out)
        for j in range(dim):
            h[j] += work[j]
        touch_in[o] += 1
        pairs += 1
    return loss, pairs


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy", inline="always")
def _cbow_centre(
    w_in: np.ndarray,
    w_out: np.ndarray,
    kept: np.ndarray,
    i: int,
    lo: int,
    hi: int,
    my_negs: np.ndarray,
    my_n: np.ndarray,
    targets: np.ndarray,
    alpha: float,
    neu1: np.ndarray,
    work: np.ndarray,
    touch_in: np.ndarray,
    touch_out: np.ndarray,
) -> tuple[float, int]:
    """CBOW for centre ``kept[i]``: the mean of the context rows in
    ``[lo, hi)`` predicts the centre (``targets[0]``) against the negatives
    of example 0. Returns (loss, pairs)."""
    dim = w_in.shape[1]
    count = hi - lo - 1
    if count == 0:
        # Nothing to predict from (single kept token); gensim would
        # run a no-op update on a zero vector.  Skip it.
        return 0.0, 0
    for j in range(dim):
        neu1[j] = 0.0
    for m in range(lo, hi):
        if m == i:
            continue
        row = kept[m]
        for j in range(dim):
            neu1[j] += w_in[row, j]
    inv_count = np.float32(1.0 / count)
    for j in range(dim):
        neu1[j] *= inv_count
        work[j] = 0.0
    n_t = 1 + my_n[0]
    for k in range(my_n[0]):
        targets[1 + k] = my_negs[0, k]
    loss = _pair_update(neu1, w_out, targets, n_t, alpha, work, touch_out)
    # cbow_mean=1: neu1e added undivided to each context row
    # (word2vec.c, gensim 4.x); see module docstring.
    for m in range(lo, hi):
        if m == i:
            continue
        row = kept[m]
        for j in range(dim):
            w_in[row, j] += work[j]
        touch_in[row] += 1
    return loss, 1


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _train_chunk_impl(
    w_in: np.ndarray,
    w_out: np.ndarray,
    ids: np.ndarray,
    offsets: np.ndarray,
    keep_prob: np.ndarray,
    noise_cdf: np.ndarray,
    window: int,
    negative: int,
    alpha_start: float,
    alpha_end: float,
    state: np.uint64,
    cbow: bool,
    touch_in: np.ndarray,
    touch_out: np.ndarray,
) -> tuple[float, int, int]:
    """Compiled body of :func:`sgns_train_chunk` (arguments already validated)."""
    dim = w_in.shape[1]
    n_tokens = ids.shape[0]
    n_sent = offsets.shape[0] - 1

    # All work buffers are allocated once per call; nothing allocates below.
    max_len = 0
    for s in range(n_sent):
        ln = offsets[s + 1] - offsets[s]
        if ln > max_len:
            max_len = ln
    kept_buf = np.empty(max_len, dtype=np.int32)
    kept_pos = np.empty(max_len, dtype=np.int64)
    win_lo = np.empty(max_len, dtype=np.int64)
    win_hi = np.empty(max_len, dtype=np.int64)
    work = np.zeros(dim, dtype=np.float32)
    neu1 = np.zeros(dim, dtype=np.float32)
    targets = np.empty(negative + 1, dtype=np.int32)
    # Double buffer of pre-drawn negatives: [slot, example, k].
    negs = np.empty((2, 2 * window, negative), dtype=np.int32)
    n_negs = np.empty((2, 2 * window), dtype=np.int64)
    # One bucket per word (capped) keeps the bracket to ~1 entry for the
    # frequent words, which receive most of the draws.
    guide = _build_guide(noise_cdf, min(noise_cdf.shape[0], _MAX_GUIDE))

    # Linear decay over raw token positions: alpha_start at token 0,
    # alpha_end at token n-1 (gensim decays per batch; per word is smoother).
    slope = 0.0
    if n_tokens > 1:
        slope = (alpha_end - alpha_start) / (n_tokens - 1)
    win_u = np.uint64(window)

    loss = 0.0
    pairs = 0
    for s in range(n_sent):
        # 1) Subsample before windowing (gensim's train_batch_*: the window is
        #    over the kept tokens).  No draw when keep_prob >= 1 so unsampled
        #    words cost nothing.
        n_kept = 0
        for t in range(offsets[s], offsets[s + 1]):
            w = ids[t]
            p = keep_prob[w]
            if p < 1.0:
                state = _lcg_next(state)
                r = float(state >> _U64_40) * _INV_2_24
                if p < r:
                    continue
            kept_buf[n_kept] = w
            kept_pos[n_kept] = t
            n_kept += 1
        if n_kept == 0:
            continue
        kept = kept_buf[:n_kept]
        # 2) word2vec.c's reduced window: b in [0, window), span window - b.
        #    Stored as the context span [lo, hi) of kept indices (centre
        #    included), clipped to the sentence.
        for i in range(n_kept):
            state = _lcg_next(state)
            b = np.int64((state >> _U64_33) % win_u)
            lo = i - window + b
            hi = i + window - b + 1
            win_lo[i] = lo if lo > 0 else 0
            win_hi[i] = hi if hi < n_kept else n_kept

        # 3) Train every kept token as a centre word, drawing the negatives
        #    of centre i + 1 (and prefetching its rows) before training i.
        state = _prepare_centre(
            0,
            kept,
            win_lo,
            win_hi,
            negative,
            noise_cdf,
            guide,
            state,
            cbow,
            negs[0],
            n_negs[0],
            w_in,
            w_out,
        )
        for i in range(n_kept):
            slot = i & 1
            if i + 1 < n_kept:
                state = _prepare_centre(
                    i + 1,
                    kept,
                    win_lo,
                    win_hi,
                    negative,
                    noise_cdf,
                    guide,
                    state,
                    cbow,
                    negs[1 - slot],
                    n_negs[1 - slot],
                    w_in,
                    w_out,
                )
            c = kept[i]
            alpha = alpha_start + slope * float(kept_pos[i])
            lo = win_lo[i]
            hi = win_hi[i]
            my_negs = negs[slot]
            my_n = n_negs[slot]
            targets[0] = c

            if cbow:
                dl, dp = _cbow_centre(
                    w_in, w_out, kept, i, lo, hi, my_negs, my_n, targets, alpha, neu1, work, touch_in, touch_out
                )
            else:
                dl, dp = _skipgram_centre(
                    w_in, w_out, kept, i, lo, hi, my_negs, my_n, targets, alpha, work, touch_in, touch_out
                )
            loss += dl
            pairs += dp
    return loss, n_tokens, pairs


def _check_array(name: str, a: np.ndarray, dtype: type, ndim: int) -> None:
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy array")
    if a.dtype != dtype:
        raise TypeError(f"{name} must have dtype {np.dtype(dtype).name}, got {a.dtype}")
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got {a.ndim}-D")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")


def sgns_train_chunk(
    w_in: np.ndarray,
    w_out: np.ndarray,
    ids: np.ndarray,
    offsets: np.ndarray,
    keep_prob: np.ndarray,
    noise_cdf: np.ndarray,
    window: int,
    negative: int,
    alpha_start: float,
    alpha_end: float,
    seed: int,
    cbow: bool,
    touch_in: np.ndarray,
    touch_out: np.ndarray,
) -> tuple[float, int, int]:
    """Train word2vec with negative sampling on one chunk of sentences, in place.

    Validates the inputs (cheap, O(V + n) numpy) and runs the compiled kernel,
    which releases the GIL, so chunks can run in threads: deterministic over
    disjoint weight arrays, Hogwild-style (as gensim's workers) over shared
    ones.  The kernel builds an O(V) sampling guide table per call (~0.2 ms
    for V = 70k, ~2 ms for V = 1M, i.e. the time of a few hundred to a
    thousand tokens), so chunks should be at least ~100k tokens.  See
    the module docstring for the exact update rule, the skip-gram direction
    and the CBOW convention.

    Parameters
    ----------
    w_in : numpy.ndarray
        ``(V, dim)`` float32, C-contiguous input vectors (``syn0``); updated in
        place.
    w_out : numpy.ndarray
        ``(V, dim)`` float32, C-contiguous output vectors (``syn1neg``);
        updated in place.
    ids : numpy.ndarray
        int32 token ids, all in ``[0, V)`` (OOV already removed).
    offsets : numpy.ndarray
        int64, non-decreasing, ``offsets[0] == 0`` and
        ``offsets[-1] == len(ids)``; sentence ``s`` is
        ``ids[offsets[s]:offsets[s+1]]``.  Windows never cross sentences.
    keep_prob : numpy.ndarray
        float32 ``(V,)`` subsampling keep-probability; a token is dropped when
        ``keep_prob[w] < r`` with ``r ~ U[0, 1)`` (values >= 1 are always kept
        and consume no random number; 0 means never kept).
    noise_cdf : numpy.ndarray
        float64 ``(V,)`` from :func:`build_noise_cdf`.
    window : int
        Maximum window (>= 1); each centre uses ``window - b`` with ``b``
        uniform in ``[0, window)``.
    negative : int
        Negatives drawn per example (>= 1).  A draw equal to the positive word
        is skipped, not redrawn (word2vec.c / gensim).
    alpha_start, alpha_end : float
        Learning rate at the first and the last raw token of the chunk; the
        rate for a centre word is linear in its raw position within ``ids``.
    seed : int
        Any Python int; the same inputs and seed give bit-identical outputs.
    cbow : bool
        False: skip-gram.  True: CBOW with the context mean (``cbow_mean=1``).
    touch_in, touch_out : numpy.ndarray
        int64 ``(V,)`` counters, incremented once per update applied to a row
        of ``w_in`` / ``w_out`` (lets the caller ship only touched rows or
        average deltas).  A word that is never kept (``keep_prob == 0``) has
        ``touch_in == 0`` but can still get ``touch_out > 0`` when it is drawn
        as a negative (it has noise mass unless its count is 0).

    Returns
    -------
    loss_sum : float
        Sum over trained examples of
        ``-log σ(u_o·h) - Σ_k log σ(-u_k·h)``, each computed with the weights
        before that example's update (skipped negatives contribute nothing).
    words_processed : int
        ``len(ids)``: raw tokens of the chunk, before subsampling (drives the
        caller's global learning-rate schedule).
    pairs_trained : int
        Number of examples trained: (centre, context) pairs for skip-gram,
        centre words with a non-empty context for CBOW.
    """
    _check_array("w_in", w_in, np.float32, 2)
    _check_array("w_out", w_out, np.float32, 2)
    if w_in.shape != w_out.shape:
        raise ValueError("w_in and w_out must have the same shape")
    vocab = w_in.shape[0]
    _check_array("ids", ids, np.int32, 1)
    _check_array("offsets", offsets, np.int64, 1)
    _check_array("keep_prob", keep_prob, np.float32, 1)
    _check_array("noise_cdf", noise_cdf, np.float64, 1)
    _check_array("touch_in", touch_in, np.int64, 1)
    _check_array("touch_out", touch_out, np.int64, 1)
    for name, a in (
        ("keep_prob", keep_prob),
        ("noise_cdf", noise_cdf),
        ("touch_in", touch_in),
        ("touch_out", touch_out),
    ):
        if a.shape[0] != vocab:
            raise ValueError(f"{name} must have length V={vocab}, got {a.shape[0]}")
    if offsets.shape[0] < 1 or offsets[0] != 0 or offsets[-1] != ids.shape[0]:
        raise ValueError("offsets must start at 0 and end at len(ids)")
    if offsets.shape[0] > 1 and np.any(np.diff(offsets) < 0):
        raise ValueError("offsets must be non-decreasing")
    # The kernel does no bounds checks, so a bad id would corrupt memory.
    if ids.shape[0] and (int(ids.min()) < 0 or int(ids.max()) >= vocab):
        raise ValueError("ids must be in [0, V)")
    if noise_cdf.shape[0] and noise_cdf[-1] != 1.0:
        raise ValueError("noise_cdf must end with 1.0 (use build_noise_cdf)")
    if int(window) < 1:
        raise ValueError("window must be >= 1")
    if int(negative) < 1:
        raise ValueError("negative must be >= 1")

    loss, words, pairs = _train_chunk_impl(
        w_in,
        w_out,
        ids,
        offsets,
        keep_prob,
        noise_cdf,
        int(window),
        int(negative),
        float(alpha_start),
        float(alpha_end),
        np.uint64(_splitmix64(seed)),
        bool(cbow),
        touch_in,
        touch_out,
    )
    return float(loss), int(words), int(pairs)


def sgns_train_hogwild(
    w_in: np.ndarray,
    w_out: np.ndarray,
    ids: np.ndarray,
    offsets: np.ndarray,
    keep_prob: np.ndarray,
    noise_cdf: np.ndarray,
    window: int,
    negative: int,
    alpha_start: float,
    alpha_end: float,
    seed: int,
    cbow: bool,
    touch_in: np.ndarray,
    touch_out: np.ndarray,
    threads: int,
) -> tuple[float, int, int]:
    """:func:`sgns_train_chunk` on ``threads`` threads sharing the weights (Hogwild).

    The sentences are cut into ``threads`` runs of about equal tokens; each
    thread trains one run into the same ``w_in`` / ``w_out`` without locks,
    as word2vec.c's and gensim's worker threads do. The runs progress side by
    side, so each one's learning rate falls over the whole range
    ``alpha_start`` → ``alpha_end``: at any moment the threads share about the
    rate that the chunk's progress calls for. Touch counts are counted per
    thread and added into ``touch_in`` / ``touch_out``.

    One thread is exactly :func:`sgns_train_chunk` with ``seed``; more threads
    are not bit-reproducible (their updates interleave as the OS schedules
    them). Returns the sums of the threads' ``(loss, words, pairs)``.
    """
    if threads == 1:
        return sgns_train_chunk(
            w_in, w_out, ids, offsets, keep_prob, noise_cdf, window, negative,
            alpha_start, alpha_end, seed, cbow, touch_in, touch_out,
        )  # fmt: skip
    cuts = split_by_weight(offsets, threads)
    counters = [(np.zeros_like(touch_in), np.zeros_like(touch_out)) for _ in range(threads)]

    def job(k: int) -> tuple[float, int, int]:
        lo, hi = int(cuts[k]), int(cuts[k + 1])
        part_ids = ids[offsets[lo] : offsets[hi]]
        part_offsets = offsets[lo : hi + 1] - offsets[lo]
        return sgns_train_chunk(
            w_in, w_out, part_ids, np.ascontiguousarray(part_offsets), keep_prob, noise_cdf, window, negative,
            alpha_start, alpha_end, _splitmix64(int(seed) + k), cbow,
            counters[k][0], counters[k][1],
        )  # fmt: skip

    results = run_parallel([partial(job, k) for k in range(threads)], threads)
    for t_in, t_out in counters:
        touch_in += t_in
        touch_out += t_out
    return (
        float(sum(r[0] for r in results)),
        int(sum(r[1] for r in results)),
        int(sum(r[2] for r in results)),
    )
