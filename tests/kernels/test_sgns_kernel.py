"""Tests for the skip-gram / CBOW negative-sampling kernel (pure numpy, no Spark)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from embedpipe.kernels.sgns import (
    _build_guide,
    _pair_update,
    _sample_cdf,
    build_noise_cdf,
    init_weights,
    sgns_train_chunk,
)

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def _log_sigmoid(x: np.ndarray | float) -> np.ndarray | float:
    return -np.logaddexp(0.0, -np.asarray(x, dtype=np.float64))


def _ns_loss(h: np.ndarray, pos: np.ndarray, negs: list[np.ndarray]) -> float:
    """The documented loss -log σ(u_o·h) - Σ_k log σ(-u_k·h), in float64."""
    loss = -_log_sigmoid(pos @ h)
    for u in negs:
        loss -= _log_sigmoid(-(u @ h))
    return float(loss)


def _num_grad(fun, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of a scalar function of a float64 vector."""
    g = np.zeros_like(x)
    for j in range(x.shape[0]):
        xp = x.copy()
        xm = x.copy()
        xp[j] += eps
        xm[j] -= eps
        g[j] = (fun(xp) - fun(xm)) / (2 * eps)
    return g


def _ns_step_reference(
    h: np.ndarray, pos: np.ndarray, neg: np.ndarray, alpha: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """One SGD step on the documented loss with numerical gradients (float64).

    Returns (delta_h, new_pos, new_neg, loss_before).
    """
    h = h.astype(np.float64)
    pos = pos.astype(np.float64)
    neg = neg.astype(np.float64)
    g_h = _num_grad(lambda v: _ns_loss(v, pos, [neg]), h)
    g_pos = _num_grad(lambda u: _ns_loss(h, u, [neg]), pos)
    g_neg = _num_grad(lambda u: _ns_loss(h, pos, [u]), neg)
    return -alpha * g_h, pos - alpha * g_pos, neg - alpha * g_neg, _ns_loss(h, pos, [neg])


def _empty_touch(v: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(v, np.int64), np.zeros(v, np.int64)


def _topic_corpus(
    n_sent: int = 200, sent_len: int = 20, per_topic: int = 20, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, int]:
    """Two disjoint topics; every sentence uses words of one topic only."""
    rng = np.random.default_rng(seed)
    topic = rng.integers(0, 2, size=n_sent)
    ids = (rng.integers(0, per_topic, size=(n_sent, sent_len)) + topic[:, None] * per_topic).astype(
        np.int32
    )
    offsets = np.arange(0, n_sent * sent_len + 1, sent_len, dtype=np.int64)
    return ids.ravel(), offsets, 2 * per_topic


def _train_topics(cbow: bool, epochs: int, alpha: float) -> tuple[list[float], np.ndarray, int]:
    ids, offsets, v = _topic_corpus()
    counts = np.bincount(ids, minlength=v).astype(np.int64)
    cdf = build_noise_cdf(counts)
    keep = np.ones(v, np.float32)
    w_in, w_out = init_weights(v, 16, seed=3)
    t_in, t_out = _empty_touch(v)
    per_pair = []
    for ep in range(epochs):
        # global linear decay across epochs, as the orchestration would do
        a0 = alpha * (1 - ep / epochs)
        a1 = alpha * (1 - (ep + 1) / epochs) + 1e-4
        loss, words, pairs = sgns_train_chunk(
            w_in, w_out, ids, offsets, keep, cdf, 3, 5, a0, a1, 100 + ep, cbow, t_in, t_out
        )
        assert words == len(ids)
        assert pairs > 0 and np.isfinite(loss)
        per_pair.append(loss / pairs)
    return per_pair, w_in, v // 2


def _topic_separation(w: np.ndarray, per_topic: int) -> tuple[float, float]:
    x = w.astype(np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    sim = x @ x.T
    topic = np.arange(w.shape[0]) // per_topic
    same = topic[:, None] == topic[None, :]
    off_diag = ~np.eye(w.shape[0], dtype=bool)
    return float(sim[same & off_diag].mean()), float(sim[~same].mean())


# ---------------------------------------------------------------------------
# 1. gradient checks
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [0.5, 6.0])
def test_pair_update_is_minus_alpha_times_numerical_gradient(scale: float) -> None:
    rng = np.random.default_rng(7)
    v, dim, alpha = 5, 4, 0.1
    h = (rng.standard_normal(dim) * scale).astype(np.float32)
    w_out = (rng.standard_normal((v, dim)) * scale).astype(np.float32)
    w0 = w_out.copy()
    targets = np.array([2, 0, 4], dtype=np.int32)  # positive 2, negatives 0 and 4
    work = np.zeros(dim, np.float32)
    touch_out = np.zeros(v, np.int64)

    loss = _pair_update(h, w_out, targets, 3, alpha, work, touch_out)

    hd = h.astype(np.float64)
    u = w0.astype(np.float64)

    def loss_h(x: np.ndarray) -> float:
        return _ns_loss(x, u[2], [u[0], u[4]])

    assert np.isfinite(loss)
    np.testing.assert_allclose(loss, loss_h(hd), rtol=1e-5)
    # h itself is untouched; -alpha * dL/dh is accumulated into work.
    np.testing.assert_allclose(work, -alpha * _num_grad(loss_h, hd), rtol=1e-4, atol=1e-6)

    def loss_rows(x: np.ndarray, row: int) -> float:
        """Loss as a function of output row ``row`` (others at their old values)."""
        rows = {k: (x if k == row else u[k]) for k in (2, 0, 4)}
        return _ns_loss(hd, rows[2], [rows[0], rows[4]])

    for row in (2, 0, 4):  # positive, then the two negatives
        grad = _num_grad(lambda x, r=row: loss_rows(x, r), u[row].copy())
        np.testing.assert_allclose(w_out[row], u[row] - alpha * grad, rtol=1e-4, atol=1e-6)
    # rows that are not targets stay bit-identical
    np.testing.assert_array_equal(w_out[[1, 3]], w0[[1, 3]])
    np.testing.assert_array_equal(touch_out, [1, 0, 1, 0, 1])


@pytest.mark.parametrize("scale", [20.0, 200.0])
def test_loss_of_saturated_logits_is_exact_and_finite(scale: float) -> None:
    """The kernel multiplies the targets' probabilities and takes one log per
    example; logits far past exp's range (σ = 0 in float64) must still give
    the exact loss, not inf."""
    h = np.full(4, scale, dtype=np.float32)
    w_out = np.array([[1, 1, 1, 1], [-1, -1, -1, -1], [1, -1, 1, 1]], dtype=np.float32)
    w0 = w_out.astype(np.float64)
    # positive 1 (logit -4·scale, hopeless), negatives 0 and 2 (logits +4·scale, +2·scale)
    targets = np.array([1, 0, 2], dtype=np.int32)
    loss = _pair_update(h, w_out, targets, 3, 0.0, np.zeros(4, np.float32), np.zeros(3, np.int64))
    expected = _ns_loss(h.astype(np.float64), w0[1], [w0[0], w0[2]])
    assert np.isfinite(loss)
    np.testing.assert_allclose(loss, expected, rtol=1e-6)
    np.testing.assert_allclose(loss, 10 * scale, rtol=1e-6)  # 4s + 4s + 2s, up to log1p(e^-2s)


def _two_pass_setup(v: int = 5, dim: int = 4) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(11)
    w_in = (rng.standard_normal((v, dim)) * 0.5).astype(np.float32)
    w_out = (rng.standard_normal((v, dim)) * 0.5).astype(np.float32)
    # all noise mass on word 4 -> the single negative is always 4
    cdf = build_noise_cdf(np.array([0, 0, 0, 0, 1], dtype=np.int64))
    keep = np.ones(v, np.float32)
    return w_in, w_out, cdf, keep


def test_skipgram_kernel_matches_reference_sgd() -> None:
    """Full kernel on a 2-word sentence equals two reference SGD steps.

    Pins the update direction (input row = context, positive row = centre),
    the learning-rate schedule and the loss definition.
    """
    w_in, w_out, cdf, keep = _two_pass_setup()
    ref_in = w_in.astype(np.float64)
    ref_out = w_out.astype(np.float64)
    ids = np.array([1, 3], dtype=np.int32)
    offsets = np.array([0, 2], dtype=np.int64)
    t_in, t_out = _empty_touch(5)

    loss, words, pairs = sgns_train_chunk(
        w_in, w_out, ids, offsets, keep, cdf, 1, 1, 0.3, 0.2, 0, False, t_in, t_out
    )

    ref_loss = 0.0
    # centre 1 (alpha 0.3) with context 3, then centre 3 (alpha 0.2) with context 1
    for centre, ctx, alpha in ((1, 3, 0.3), (3, 1, 0.2)):
        dh, new_pos, new_neg, lo = _ns_step_reference(
            ref_in[ctx], ref_out[centre], ref_out[4], alpha
        )
        ref_in[ctx] += dh
        ref_out[centre] = new_pos
        ref_out[4] = new_neg
        ref_loss += lo

    assert (words, pairs) == (2, 2)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
    np.testing.assert_allclose(w_in, ref_in, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(w_out, ref_out, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(t_in, [0, 1, 0, 1, 0])
    np.testing.assert_array_equal(t_out, [0, 1, 0, 1, 2])


def test_cbow_kernel_matches_reference_sgd() -> None:
    """CBOW: h = mean of context rows; -alpha*dL/dh added *undivided* to each (gensim)."""
    w_in, w_out, cdf, keep = _two_pass_setup()
    ref_in = w_in.astype(np.float64)
    ref_out = w_out.astype(np.float64)
    ids = np.array([1, 2, 3], dtype=np.int32)
    offsets = np.array([0, 3], dtype=np.int64)
    t_in, t_out = _empty_touch(5)

    loss, words, pairs = sgns_train_chunk(
        w_in, w_out, ids, offsets, keep, cdf, 1, 1, 0.3, 0.2, 0, True, t_in, t_out
    )

    ref_loss = 0.0
    for centre, ctx, alpha in ((1, [2], 0.3), (2, [1, 3], 0.25), (3, [2], 0.2)):
        h = ref_in[ctx].mean(axis=0)
        dh, new_pos, new_neg, lo = _ns_step_reference(h, ref_out[centre], ref_out[4], alpha)
        for c in ctx:
            ref_in[c] += dh
        ref_out[centre] = new_pos
        ref_out[4] = new_neg
        ref_loss += lo

    assert (words, pairs) == (3, 3)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
    np.testing.assert_allclose(w_in, ref_in, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(w_out, ref_out, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(t_in, [0, 1, 2, 1, 0])
    np.testing.assert_array_equal(t_out, [0, 1, 1, 1, 3])


# ---------------------------------------------------------------------------
# 2. determinism
# ---------------------------------------------------------------------------


def _random_chunk(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    rng = np.random.default_rng(seed)
    v = 300
    p = 1.0 / np.arange(1, v + 1)
    ids = rng.choice(v, size=5000, p=p / p.sum()).astype(np.int32)
    offsets = np.array([0, 7, 7, 1000, 2500, 5000], dtype=np.int64)  # incl. empty sentence
    counts = np.maximum(np.bincount(ids, minlength=v), 1).astype(np.int64)
    thr = 1e-3 * counts.sum()
    keep = np.minimum((np.sqrt(counts / thr) + 1) * thr / counts, 1.0).astype(np.float32)
    return ids, offsets, keep, build_noise_cdf(counts), v


@pytest.mark.parametrize("cbow", [False, True])
def test_same_seed_identical_different_seed_differs(cbow: bool) -> None:
    ids, offsets, keep, cdf, v = _random_chunk()
    results = []
    for seed in (42, 42, 43):
        w_in, w_out = init_weights(v, 24, seed=1)
        t_in, t_out = _empty_touch(v)
        out = sgns_train_chunk(
            w_in, w_out, ids, offsets, keep, cdf, 5, 5, 0.025, 0.01, seed, cbow, t_in, t_out
        )
        results.append((out, w_in, w_out, t_in, t_out))
    (o1, a1, b1, ti1, to1), (o2, a2, b2, ti2, to2), (o3, a3, b3, _, _) = results
    assert o1 == o2
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(b1, b2)
    np.testing.assert_array_equal(ti1, ti2)
    np.testing.assert_array_equal(to1, to2)
    assert o1[0] != o3[0]
    assert not np.array_equal(a1, a3)
    assert not np.array_equal(b1, b3)


def test_init_weights_range_and_determinism() -> None:
    a, b = init_weights(50, 8, seed=5)
    a2, _ = init_weights(50, 8, seed=5)
    a3, _ = init_weights(50, 8, seed=6)
    assert a.dtype == np.float32 and b.dtype == np.float32
    assert a.shape == b.shape == (50, 8)
    assert a.min() >= -0.5 / 8 and a.max() < 0.5 / 8
    assert not np.any(b)
    np.testing.assert_array_equal(a, a2)
    assert not np.array_equal(a, a3)


# ---------------------------------------------------------------------------
# 3 + 5. learning on a structured corpus (skip-gram and CBOW)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("cbow, alpha", [(False, 0.01), (True, 0.025)])
def test_loss_decreases_and_topics_separate(cbow: bool, alpha: float) -> None:
    per_pair, w_in, per_topic = _train_topics(cbow=cbow, epochs=8, alpha=alpha)
    assert per_pair[-1] < 0.8 * per_pair[0], per_pair
    same, across = _topic_separation(w_in, per_topic)
    assert same > across + 0.3, (same, across)


# ---------------------------------------------------------------------------
# 4. subsampling, touch counts, words_processed
# ---------------------------------------------------------------------------


def test_dropped_words_are_never_touched() -> None:
    ids, offsets, v = _topic_corpus(n_sent=50)
    counts = np.bincount(ids, minlength=v).astype(np.int64)
    noise_counts = counts.copy()
    noise_counts[5] = 0  # word 5: never kept and no noise mass -> never touched at all
    cdf = build_noise_cdf(noise_counts)
    keep = np.ones(v, np.float32)
    keep[5] = 0.0
    keep[25] = 0.0  # word 25: never kept, but can still be drawn as a negative
    for cbow in (False, True):
        w_in, w_out = init_weights(v, 8, seed=0)
        w_in0, w_out0 = w_in.copy(), w_out.copy()
        t_in, t_out = _empty_touch(v)
        loss, words, pairs = sgns_train_chunk(
            w_in, w_out, ids, offsets, keep, cdf, 4, 3, 0.05, 0.05, 9, cbow, t_in, t_out
        )
        assert words == len(ids)
        assert t_in[5] == 0 and t_out[5] == 0
        np.testing.assert_array_equal(w_in[5], w_in0[5])
        np.testing.assert_array_equal(w_out[5], w_out0[5])
        assert t_in[25] == 0
        np.testing.assert_array_equal(w_in[25], w_in0[25])
        assert t_out[25] > 0  # drawn as a negative
        trained = np.setdiff1d(np.arange(v), [5, 25])
        assert np.all(t_in[trained] > 0) and np.all(t_out[trained] > 0)
        # every example touches its positive row plus at most `negative` others
        assert pairs <= t_out.sum() <= 4 * pairs
        if not cbow:
            assert t_in.sum() == pairs  # one w_in update per (centre, context) pair


def test_subsampling_rate_follows_keep_prob() -> None:
    v = 4
    ids = np.tile(np.arange(v, dtype=np.int32), 5000)
    offsets = np.arange(0, len(ids) + 1, 100, dtype=np.int64)
    keep = np.array([1.0, 0.5, 0.25, 0.0], np.float32)
    cdf = build_noise_cdf(np.array([1, 1, 1, 1], np.int64))
    w_in, w_out = init_weights(v, 4, seed=0)
    t_in, t_out = _empty_touch(v)
    _, words, pairs = sgns_train_chunk(
        w_in, w_out, ids, offsets, keep, cdf, 1, 1, 0.0, 0.0, 1, True, t_in, t_out
    )
    # CBOW with window 1: each kept centre is one example, positive row = centre
    # (t_out also counts negatives, so derive kept counts from positives only)
    assert words == len(ids)
    frac_kept = pairs / len(ids)
    assert abs(frac_kept - keep.mean()) < 0.02


@pytest.mark.parametrize("window", [1, 2, 5])
def test_reduced_window_pair_count(window: int) -> None:
    """Effective window uniform in 1..window: E[pairs per centre] = window + 1."""
    n = 20_000
    ids = np.random.default_rng(0).integers(0, 50, size=n).astype(np.int32)
    offsets = np.array([0, n], np.int64)
    keep = np.ones(50, np.float32)
    cdf = build_noise_cdf(np.ones(50, np.int64))
    w_in, w_out = init_weights(50, 4, seed=0)
    t_in, t_out = _empty_touch(50)
    _, _, pairs = sgns_train_chunk(
        w_in, w_out, ids, offsets, keep, cdf, window, 1, 0.0, 0.0, 0, False, t_in, t_out
    )
    if window == 1:
        assert pairs == 2 * (n - 1)
    assert abs(pairs / n - (window + 1)) < 0.05
    _, _, examples = sgns_train_chunk(
        w_in, w_out, ids, offsets, keep, cdf, window, 1, 0.0, 0.0, 0, True, t_in, t_out
    )
    assert examples == n  # CBOW: one example per centre word


# ---------------------------------------------------------------------------
# 6. zero learning rate
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("cbow", [False, True])
def test_zero_learning_rate_changes_nothing(cbow: bool) -> None:
    ids, offsets, keep, cdf, v = _random_chunk(1)
    w_in, w_out = init_weights(v, 16, seed=2)
    w_out[:] = np.random.default_rng(0).standard_normal(w_out.shape).astype(np.float32)
    w_in0, w_out0 = w_in.copy(), w_out.copy()
    t_in, t_out = _empty_touch(v)
    loss, _, pairs = sgns_train_chunk(
        w_in, w_out, ids, offsets, keep, cdf, 5, 5, 0.0, 0.0, 3, cbow, t_in, t_out
    )
    assert pairs > 0 and loss > 0 and np.isfinite(loss)
    np.testing.assert_array_equal(w_in, w_in0)
    np.testing.assert_array_equal(w_out, w_out0)


# ---------------------------------------------------------------------------
# 7. noise distribution
# ---------------------------------------------------------------------------


def test_build_noise_cdf_shape_and_values() -> None:
    counts = np.array([1, 10, 100, 1000, 0, 5], dtype=np.int64)
    cdf = build_noise_cdf(counts)
    assert cdf.dtype == np.float64 and cdf[-1] == 1.0
    assert np.all(np.diff(cdf) >= 0)
    p = np.diff(np.concatenate([[0.0], cdf]))
    expected = counts**0.75 / (counts**0.75).sum()
    np.testing.assert_allclose(p, expected, atol=1e-12)
    with pytest.raises(ValueError):
        build_noise_cdf(np.zeros(3, np.int64))
    with pytest.raises(ValueError):
        build_noise_cdf(np.array([1, -1], np.int64))


def test_guided_sampler_equals_plain_bisection() -> None:
    counts = np.array([0, 3, 0, 0, 7, 1, 0, 1000, 2, 0], dtype=np.int64)
    cdf = build_noise_cdf(counts)
    rng = np.random.default_rng(0)
    us = np.concatenate(
        [rng.random(2000), cdf, np.nextafter(cdf, 0), [0.0, np.nextafter(1.0, 0.0)]]
    )
    us = us[us < 1.0]  # the kernel only ever asks for u in [0, 1)
    for n_buckets in (1, 3, len(cdf)):
        guide = _build_guide(cdf, n_buckets)
        got = np.array([_sample_cdf(cdf, guide, float(u)) for u in us])
        np.testing.assert_array_equal(got, np.searchsorted(cdf, us, side="right"))


def test_negatives_follow_count_power() -> None:
    """Negatives drawn inside the kernel have frequencies ∝ count**0.75."""
    noise_counts = np.array([0, 1, 10, 100, 1000, 0, 50], dtype=np.int64)
    v = len(noise_counts)
    # corpus of word 0 only: the positive row is always 0 and word 0 has no
    # noise mass, so t_out[k>0] counts exactly how often k was drawn
    ids = np.zeros(4000, np.int32)
    offsets = np.array([0, 4000], np.int64)
    keep = np.ones(v, np.float32)
    cdf = build_noise_cdf(noise_counts)
    w_in, w_out = init_weights(v, 4, seed=0)
    t_in, t_out = _empty_touch(v)
    _, _, pairs = sgns_train_chunk(
        w_in, w_out, ids, offsets, keep, cdf, 3, 5, 0.0, 0.0, 0, False, t_in, t_out
    )
    assert t_out[0] == pairs
    draws = t_out[1:].astype(np.float64)
    n = draws.sum()
    assert n == 5 * pairs
    p = noise_counts[1:] ** 0.75 / (noise_counts[1:] ** 0.75).sum()
    assert draws[4] == 0  # zero count never drawn
    # 5 binomial standard deviations (plus a little slack for p ~ 0)
    tol = 5 * np.sqrt(n * p * (1 - p)) + 3
    assert np.all(np.abs(draws - n * p) <= tol), (draws, n * p)


def test_negative_equal_to_positive_is_skipped() -> None:
    """A draw equal to the positive word is skipped, not redrawn (word2vec.c/gensim)."""
    noise_counts = np.array([1000, 1000], dtype=np.int64)  # p(0) = p(1) = 1/2
    ids = np.zeros(2000, np.int32)  # positive row is always 0
    offsets = np.array([0, 2000], np.int64)
    keep = np.ones(2, np.float32)
    w_in, w_out = init_weights(2, 4, seed=0)
    t_in, t_out = _empty_touch(2)
    _, _, pairs = sgns_train_chunk(
        w_in,
        w_out,
        ids,
        offsets,
        keep,
        build_noise_cdf(noise_counts),
        2,
        4,
        0.0,
        0.0,
        0,
        False,
        t_in,
        t_out,
    )
    assert t_out[0] == pairs  # only the positive updates; drawn 0s were dropped
    n = 4 * pairs
    assert abs(t_out[1] - n / 2) < 5 * np.sqrt(n / 4)


# ---------------------------------------------------------------------------
# input validation
# ---------------------------------------------------------------------------


def test_invalid_inputs_are_rejected() -> None:
    ids, offsets, keep, cdf, v = _random_chunk()
    w_in, w_out = init_weights(v, 8, seed=0)
    t_in, t_out = _empty_touch(v)
    good: dict[str, Any] = dict(
        w_in=w_in,
        w_out=w_out,
        ids=ids,
        offsets=offsets,
        keep_prob=keep,
        noise_cdf=cdf,
        window=5,
        negative=5,
        alpha_start=0.025,
        alpha_end=0.025,
        seed=0,
        cbow=False,
        touch_in=t_in,
        touch_out=t_out,
    )
    bad_ids = ids.copy()
    bad_ids[3] = v  # out of range: would write outside the weights
    cases: list[tuple[type[Exception], dict[str, Any]]] = [
        (ValueError, {"ids": bad_ids}),
        (TypeError, {"w_in": w_in.astype(np.float64)}),
        (TypeError, {"ids": ids.astype(np.int64)}),
        (ValueError, {"offsets": offsets[:-1]}),
        (ValueError, {"keep_prob": keep[:-1]}),
        (ValueError, {"window": 0}),
        (ValueError, {"negative": 0}),
    ]
    for exc, override in cases:
        with pytest.raises(exc):
            sgns_train_chunk(**{**good, **override})
    sgns_train_chunk(**good)  # and the unmodified arguments are accepted
