"""GloVe AdaGrad epoch (Pennington et al., 2014), following Stanford ``glove.c``.

For every visited co-occurrence entry ``(i, j, X_ij)`` the model minimises::

    J_ij = 0.5 * f(X_ij) * (w_i . w~_j + b_i + b~_j - log X_ij) ** 2
    f(x) = min(1, (x / x_max) ** power)

The 0.5 factor is glove.c's: it accumulates ``0.5 * fdiff * diff`` as the cost
and uses ``fdiff = f * diff`` as the gradient scale, so the per-entry gradient
is ``dJ/dw_i = f * diff * w~_j`` (likewise for ``w~_j`` and the biases, whose
gradient is ``f * diff``).

AdaGrad exactly as glove.c implements it (``gradsq`` initialised to 1.0):

* ``g = clip(learning_rate * grad, -grad_clip, grad_clip)`` per component
  (glove.c clips the *learning-rate-scaled* gradient, default clip 100);
* ``param -= g / sqrt(gradsq)`` using the accumulator *before* this update;
* ``gradsq += g * g`` (the squared scaled gradient).

So the first step of a fresh parameter is ``-learning_rate * grad`` and later
steps shrink with the accumulated squared steps.  Deliberate deviations from
glove.c, both about robustness only:

* the bias step is clipped like the vector components (glove.c does not clip
  biases; with finite float64 ``log X`` the clip cannot trigger for default
  settings, but it keeps every step bounded);
* an entry is skipped *atomically* if ``diff``/``fdiff`` or any step is NaN or
  infinite: glove.c skips the vector step but still updates ``gradsq`` and the
  biases (through ``check_nan``); here nothing is touched and the entry adds
  nothing to the cost or to the touch counters.

Nothing here imports pyspark, reads files or knows about config objects.  The
epoch kernel releases the GIL, so a caller may run several threads over
disjoint slices of ``order`` on the same parameter arrays (Hogwild, as glove.c
does with pthreads); touch counters are then approximate.
"""

from __future__ import annotations

from functools import partial

import numba
import numpy as np

from embedpipe.kernels.threads import run_parallel

__all__ = ["combine_output", "glove_epoch", "init_params", "shuffled_order", "untrained_cost_sum"]

# fastmath without "nnan"/"ninf": those flags would let LLVM delete the
# NaN/inf checks that implement glove.c's "skip non-finite updates".
_FASTMATH = {"nsz", "arcp", "contract", "reassoc", "afn"}

# Prefetch distances (in visited entries) for the entry record and for the
# parameter rows; see _epoch_kernel.
_PF_ENTRY = 8
_PF_ROWS = 3


def init_params(vocab_size: int, dim: int, seed: int) -> dict[str, np.ndarray]:
    """Initial GloVe parameters, as glove.c's ``initialize_parameters``.

    Parameters
    ----------
    vocab_size : int
        Number of words ``V``.
    dim : int
        Vector size.
    seed : int
        Seed of the ``numpy.random.default_rng`` stream; the same seed always
        gives the same parameters.

    Returns
    -------
    dict of str to numpy.ndarray
        ``W``, ``Wc``: ``(V, dim)`` float32 uniform in ``[-0.5/dim, 0.5/dim)``;
        ``b``, ``bc``: ``(V,)`` float32, same distribution (glove.c stores the
        bias as the last vector component and initialises it alike);
        ``gW``, ``gWc``: ``(V, dim)`` float32 ones; ``gb``, ``gbc``: ``(V,)``
        float32 ones (glove.c starts ``gradsq`` at 1.0, which also avoids a
        division by zero on the first step).
    """
    if vocab_size < 1 or dim < 1:
        raise ValueError(f"vocab_size and dim must be >= 1, got {vocab_size}, {dim}")
    rng = np.random.default_rng(seed)

    def uniform(shape: tuple[int, ...]) -> np.ndarray:
        # (u - 0.5) / dim with u in [0, 1), as glove.c's (rand()/RAND_MAX - 0.5)/vector_size.
        return ((rng.random(shape, dtype=np.float64) - 0.5) / dim).astype(np.float32)

    return {
        "W": uniform((vocab_size, dim)),
        "Wc": uniform((vocab_size, dim)),
        "b": uniform((vocab_size,)),
        "bc": uniform((vocab_size,)),
        "gW": np.ones((vocab_size, dim), dtype=np.float32),
        "gWc": np.ones((vocab_size, dim), dtype=np.float32),
        "gb": np.ones(vocab_size, dtype=np.float32),
        "gbc": np.ones(vocab_size, dtype=np.float32),
    }


def shuffled_order(n: int, seed: int) -> np.ndarray:
    """Deterministic permutation of ``range(n)`` as ``int64``.

    glove.c shuffles the co-occurrence file once (``shuffle.c``) and streams
    it every epoch; here the caller can draw a fresh seeded order per epoch.

    Parameters
    ----------
    n : int
        Number of entries.
    seed : int
        Seed of the ``numpy.random.default_rng`` stream.

    Returns
    -------
    numpy.ndarray
        ``int64`` permutation of ``0..n-1``.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return np.random.default_rng(seed).permutation(n).astype(np.int64, copy=False)


def untrained_cost_sum(x: np.ndarray, x_max: float, power: float) -> float:
    """The summed cost of entries with co-occurrence values ``x`` under the
    untrained model (every vector and bias zero): ``sum 0.5 f(x) (log x)**2``.
    Divided by the entries, it is the start a healthy run falls from."""
    x = np.asarray(x, dtype=np.float64)
    f = np.minimum(1.0, (x / x_max) ** power)
    return float(np.sum(0.5 * f * np.log(x) ** 2))


def combine_output(W: np.ndarray, Wc: np.ndarray, mode: str) -> np.ndarray:
    """Final word vectors from the word and context matrices.

    Parameters
    ----------
    W, Wc : numpy.ndarray
        ``(V, dim)`` word and context vectors.
    mode : {"sum", "word", "concat"}
        ``"sum"``: ``W + Wc`` (glove.c ``-model 2``, the paper's recommendation);
        ``"word"``: ``W`` only (``-model 1``); ``"concat"``: ``[W | Wc]``.

    Returns
    -------
    numpy.ndarray
        A new array (never a view of ``W``).
    """
    if W.shape != Wc.shape:
        raise ValueError(f"W and Wc shapes differ: {W.shape} vs {Wc.shape}")
    if mode == "sum":
        return W + Wc
    if mode == "word":
        return W.copy()
    if mode == "concat":
        return np.hstack([W, Wc])
    raise ValueError(f"mode must be 'sum', 'word' or 'concat', got {mode!r}")


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH, error_model="numpy")
def _epoch_kernel(
    W: np.ndarray,
    Wc: np.ndarray,
    b: np.ndarray,
    bc: np.ndarray,
    gW: np.ndarray,
    gWc: np.ndarray,
    gb: np.ndarray,
    gbc: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    vals: np.ndarray,
    order: np.ndarray,
    x_max: float,
    power: float,
    learning_rate: float,
    grad_clip: float,
    touch_w: np.ndarray,
    touch_c: np.ndarray,
) -> tuple[float, float]:
    """One pass over ``order``; see :func:`glove_epoch` (inputs already validated).

    Returns ``(cost, sink)``; ``sink`` only keeps the prefetch loads alive.
    """
    dim = W.shape[1]
    clip = np.float32(grad_clip)
    lr = np.float32(learning_rate)
    # Per-entry step buffers: glove.c computes all steps first so it can drop
    # the whole vector update if any of them is NaN/inf.
    step_w = np.empty(dim, dtype=np.float32)
    step_c = np.empty(dim, dtype=np.float32)
    sq_w = np.empty(dim, dtype=np.float32)
    sq_c = np.empty(dim, dtype=np.float32)
    cost = 0.0
    n_ord = order.shape[0]
    # Software prefetch.  Entries are visited in random order, so every entry
    # costs two dependent cache misses (order -> rows/cols/vals -> four
    # parameter rows of 4*dim bytes each) that the hardware prefetcher cannot
    # predict.  Touching the entry record _PF_ENTRY steps ahead and every cache
    # line of the rows _PF_ROWS steps ahead lets those misses overlap with the
    # arithmetic of the current entry (~1.8x faster at dim 100, V=70k).  The
    # loaded values are summed into ``sink`` and returned so that LLVM cannot
    # drop the loads as dead code.
    sink = np.float32(0.0)
    for t in range(n_ord):
        if t + _PF_ENTRY < n_ord:
            ea = order[t + _PF_ENTRY]
            sink += np.float32(rows[ea] + cols[ea]) + np.float32(vals[ea])
        if t + _PF_ROWS < n_ord:
            ep = order[t + _PF_ROWS]
            ip = rows[ep]
            jp = cols[ep]
            for k in range(0, dim, 16):  # 16 float32 = one 64-byte line
                sink += W[ip, k] + Wc[jp, k] + gW[ip, k] + gWc[jp, k]
            # rows are not line-aligned: also touch the last element
            sink += W[ip, dim - 1] + Wc[jp, dim - 1] + gW[ip, dim - 1] + gWc[jp, dim - 1]

        e = order[t]
        i = rows[e]
        j = cols[e]
        x = np.float64(vals[e])

        dot = np.float32(0.0)
        for k in range(dim):
            dot += W[i, k] * Wc[j, k]
        # log in float64: X can be tiny (harmonic weights) or huge.
        diff = np.float64(dot) + np.float64(b[i]) + np.float64(bc[j]) - np.log(x)
        # f(x) = min(1, (x/x_max)^power); glove.c: val > x_max ? diff : pow(...) * diff.
        fx = 1.0 if x >= x_max else (x / x_max) ** power
        fdiff = fx * diff
        if not (np.isfinite(diff) and np.isfinite(fdiff)):
            continue  # NaN/inf X (or X <= 0 -> log = -inf/NaN) or corrupted params

        # glove.c folds eta into fdiff before clipping ("fdiff *= eta").
        g = lr * np.float32(fdiff)
        sum_w = np.float32(0.0)
        sum_c = np.float32(0.0)
        for k in range(dim):
            # dJ/dW[i,k] = fdiff * Wc[j,k]; dJ/dWc[j,k] = fdiff * W[i,k].
            tw = min(max(g * Wc[j, k], -clip), clip)
            tc = min(max(g * W[i, k], -clip), clip)
            uw = tw / np.sqrt(gW[i, k])
            uc = tc / np.sqrt(gWc[j, k])
            step_w[k] = uw
            step_c[k] = uc
            sq_w[k] = tw * tw
            sq_c[k] = tc * tc
            sum_w += uw
            sum_c += uc
        gbias = min(max(g, -clip), clip)
        ub = gbias / np.sqrt(gb[i])
        uc_b = gbias / np.sqrt(gbc[j])
        if not (
            np.isfinite(sum_w) and np.isfinite(sum_c) and np.isfinite(ub) and np.isfinite(uc_b)
        ):
            continue

        cost += 0.5 * fdiff * diff
        for k in range(dim):
            W[i, k] -= step_w[k]
            Wc[j, k] -= step_c[k]
            gW[i, k] += sq_w[k]
            gWc[j, k] += sq_c[k]
        b[i] -= ub
        bc[j] -= uc_b
        gb[i] += gbias * gbias
        gbc[j] += gbias * gbias
        touch_w[i] += 1
        touch_c[j] += 1
    return cost, float(sink)


def glove_epoch(
    W: np.ndarray,
    Wc: np.ndarray,
    b: np.ndarray,
    bc: np.ndarray,
    gW: np.ndarray,
    gWc: np.ndarray,
    gb: np.ndarray,
    gbc: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    vals: np.ndarray,
    order: np.ndarray,
    x_max: float,
    power: float,
    learning_rate: float,
    grad_clip: float,
    touch_w: np.ndarray,
    touch_c: np.ndarray,
) -> float:
    """Run one AdaGrad pass over the entries listed in ``order``, in place.

    Parameters
    ----------
    W, Wc : numpy.ndarray
        ``(V, dim)`` and ``(Vc, dim)`` C-contiguous float32 word / context vectors (updated); the
        two sides may hold different rows (two blocks of a block-rotated run).
    b, bc : numpy.ndarray
        ``(V,)`` float32 word / context biases (updated).
    gW, gWc, gb, gbc : numpy.ndarray
        AdaGrad accumulators matching ``W, Wc, b, bc`` (updated).
    rows, cols : numpy.ndarray
        int32 word / context ids of the co-occurrence entries, in ``[0, V)``.
    vals : numpy.ndarray
        float32 or float64 co-occurrence values ``X_ij``.  Non-positive or
        non-finite values make the entry skipped.
    order : numpy.ndarray
        int64 indices into ``vals``: the visiting order (normally a seeded
        permutation from :func:`shuffled_order`; a subset is allowed).
    x_max, power : float
        Weighting function ``f(x) = min(1, (x/x_max)**power)`` (paper: 100, 0.75).
    learning_rate : float
        AdaGrad base rate (glove.c ``eta``, default 0.05).
    grad_clip : float
        Bound on each learning-rate-scaled gradient component (glove.c 100).
    touch_w, touch_c : numpy.ndarray
        int64 ``(V,)`` counters: ``touch_w[i] += 1`` / ``touch_c[j] += 1`` for
        every applied update of row ``i`` of ``W`` / row ``j`` of ``Wc``.

    Returns
    -------
    float
        Sum over applied entries of ``0.5 * f(X_ij) * diff**2`` (glove.c's
        cost; divide by the entry count for glove.c's printed average), with
        ``diff`` evaluated *before* the entry's update.
    """
    # The word and context sides may hold different rows (two blocks of a
    # block-rotated run); within a side every array has the side's rows.
    V, dim = W.shape
    Vc = Wc.shape[0] if Wc.ndim == 2 else -1
    for name, arr, shape in (
        ("W", W, (V, dim)),
        ("Wc", Wc, (Vc, dim)),
        ("gW", gW, (V, dim)),
        ("gWc", gWc, (Vc, dim)),
        ("b", b, (V,)),
        ("bc", bc, (Vc,)),
        ("gb", gb, (V,)),
        ("gbc", gbc, (Vc,)),
    ):
        if arr.dtype != np.float32 or arr.shape != shape or not arr.flags.c_contiguous:
            raise ValueError(f"{name} must be a C-contiguous float32 array of shape {shape}")
        if not arr.flags.writeable:
            raise ValueError(f"{name} must be writeable")
    for name, arr, rows_of in (("touch_w", touch_w, V), ("touch_c", touch_c, Vc)):
        if arr.dtype != np.int64 or arr.shape != (rows_of,):
            raise ValueError(f"{name} must be an int64 array of shape {(rows_of,)}")
    n = vals.shape[0]
    if rows.shape != (n,) or cols.shape != (n,):
        raise ValueError("rows, cols and vals must be 1-D and of equal length")
    if rows.dtype != np.int32 or cols.dtype != np.int32:
        raise ValueError("rows and cols must be int32")
    if vals.dtype not in (np.float32, np.float64):
        raise ValueError("vals must be float32 or float64")
    if order.ndim != 1 or order.dtype != np.int64:
        raise ValueError("order must be a 1-D int64 array")
    if x_max <= 0 or learning_rate <= 0 or grad_clip <= 0:
        raise ValueError("x_max, learning_rate and grad_clip must be > 0")
    # numba does not bounds-check: validate indices once, vectorised.
    if order.size:
        if order.min() < 0 or order.max() >= n:
            raise ValueError(f"order entries must lie in [0, {n})")
    if n:
        if rows.min() < 0 or rows.max() >= V:
            raise ValueError(f"rows must lie in [0, {V})")
        if cols.min() < 0 or cols.max() >= Vc:
            raise ValueError(f"cols must lie in [0, {Vc})")
    cost, _ = _epoch_kernel(
        W, Wc, b, bc, gW, gWc, gb, gbc,
        rows, cols, vals, order,
        float(x_max), float(power), float(learning_rate), float(grad_clip),
        touch_w, touch_c,
    )  # fmt: skip
    return float(cost)


def glove_epoch_hogwild(
    W: np.ndarray,
    Wc: np.ndarray,
    b: np.ndarray,
    bc: np.ndarray,
    gW: np.ndarray,
    gWc: np.ndarray,
    gb: np.ndarray,
    gbc: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    vals: np.ndarray,
    order: np.ndarray,
    x_max: float,
    power: float,
    learning_rate: float,
    grad_clip: float,
    touch_w: np.ndarray,
    touch_c: np.ndarray,
    threads: int,
) -> float:
    """:func:`glove_epoch` on ``threads`` threads sharing the parameters (Hogwild).

    ``order`` is cut into ``threads`` consecutive runs, one per thread, as
    glove.c's threads each take a slice of the shuffled entries. One thread is
    exactly :func:`glove_epoch`; more are not bit-reproducible. Touch counts
    are counted per thread and added into ``touch_w`` / ``touch_c``. Returns
    the summed cost.
    """
    if threads == 1:
        return glove_epoch(
            W, Wc, b, bc, gW, gWc, gb, gbc, rows, cols, vals, order,
            x_max, power, learning_rate, grad_clip, touch_w, touch_c,
        )  # fmt: skip
    cuts = np.linspace(0, len(order), threads + 1).round().astype(np.int64)
    counters = [(np.zeros_like(touch_w), np.zeros_like(touch_c)) for _ in range(threads)]

    def job(k: int) -> float:
        return glove_epoch(
            W, Wc, b, bc, gW, gWc, gb, gbc, rows, cols, vals, order[cuts[k] : cuts[k + 1]],
            x_max, power, learning_rate, grad_clip, counters[k][0], counters[k][1],
        )  # fmt: skip

    costs = run_parallel([partial(job, k) for k in range(threads)], threads)
    for t_w, t_c in counters:
        touch_w += t_w
        touch_c += t_c
    return float(sum(costs))
