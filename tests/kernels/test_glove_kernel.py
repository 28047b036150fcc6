"""Tests for embedpipe.kernels.glove (AdaGrad epoch with glove.c semantics)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from embedpipe.kernels.glove import combine_output, glove_epoch, init_params, shuffled_order, untrained_cost_sum

NAMES = ("W", "Wc", "b", "bc", "gW", "gWc", "gb", "gbc")


def _counts(sentences: list[list[int]], window: int) -> dict[tuple[int, int], float]:
    """Brute-force symmetric harmonic co-occurrence counts (cooccur.c semantics)."""
    counts: dict[tuple[int, int], float] = defaultdict(float)
    for sent in sentences:
        for q in range(len(sent)):
            for p in range(max(0, q - window), q):
                counts[(sent[p], sent[q])] += 1.0 / (q - p)
                counts[(sent[q], sent[p])] += 1.0 / (q - p)
    return dict(counts)


def _entries(counts: dict[tuple[int, int], float]) -> tuple[np.ndarray, ...]:
    keys = sorted(counts)
    rows = np.array([k[0] for k in keys], dtype=np.int32)
    cols = np.array([k[1] for k in keys], dtype=np.int32)
    vals = np.array([counts[k] for k in keys], dtype=np.float64)
    return rows, cols, vals


def _structured_corpus(seed: int = 0) -> list[list[int]]:
    """Three topics of ten words; each sentence draws from one topic."""
    rng = np.random.default_rng(seed)
    sentences = []
    for _ in range(300):
        topic = int(rng.integers(0, 3))
        sentences.append((10 * topic + rng.integers(0, 10, size=12)).tolist())
    return sentences


def _run(
    params: dict[str, np.ndarray],
    rows: np.ndarray,
    cols: np.ndarray,
    vals: np.ndarray,
    order: np.ndarray,
    *,
    x_max: float = 10.0,
    power: float = 0.75,
    lr: float = 0.05,
    clip: float = 100.0,
    touch: tuple[np.ndarray, np.ndarray] | None = None,
) -> float:
    v = params["W"].shape[0]
    tw, tc = touch if touch is not None else (np.zeros(v, np.int64), np.zeros(v, np.int64))
    return glove_epoch(
        *(params[k] for k in NAMES), rows, cols, vals, order, x_max, power, lr, clip, tw, tc
    )


def test_init_params_shapes_ranges_and_determinism() -> None:
    p = init_params(50, 8, seed=3)
    for k in ("W", "Wc", "gW", "gWc"):
        assert p[k].shape == (50, 8) and p[k].dtype == np.float32
    for k in ("b", "bc", "gb", "gbc"):
        assert p[k].shape == (50,) and p[k].dtype == np.float32
    for k in ("W", "Wc", "b", "bc"):
        assert np.all(np.abs(p[k]) <= 0.5 / 8)
        assert np.abs(p[k]).max() > 0.4 / 8  # really spans the range
    for k in ("gW", "gWc", "gb", "gbc"):
        assert np.all(p[k] == 1.0)
    q = init_params(50, 8, seed=3)
    assert all(np.array_equal(p[k], q[k]) for k in p)
    r = init_params(50, 8, seed=4)
    assert not np.array_equal(p["W"], r["W"])
    assert not np.array_equal(p["W"], p["Wc"])


def test_shuffled_order_is_deterministic_permutation() -> None:
    o = shuffled_order(1000, 5)
    assert o.dtype == np.int64
    assert np.array_equal(np.sort(o), np.arange(1000))
    assert np.array_equal(o, shuffled_order(1000, 5))
    assert not np.array_equal(o, shuffled_order(1000, 6))
    assert shuffled_order(0, 1).shape == (0,)


def test_combine_output_modes() -> None:
    W = np.arange(6, dtype=np.float32).reshape(3, 2)
    Wc = np.ones((3, 2), dtype=np.float32)
    assert np.array_equal(combine_output(W, Wc, "sum"), W + 1)
    word = combine_output(W, Wc, "word")
    assert np.array_equal(word, W) and not np.shares_memory(word, W)
    cat = combine_output(W, Wc, "concat")
    assert cat.shape == (3, 4) and np.array_equal(cat[:, 2:], Wc)
    with pytest.raises(ValueError):
        combine_output(W, Wc, "mean")


def test_the_untrained_cost_is_what_an_epoch_reports_over_a_zero_model() -> None:
    # Entries on disjoint rows, so that no entry meets another's update: the
    # epoch's cost is then the untrained model's, below and above x_max alike.
    vals = np.array([0.5, 1.0, 3.0, 10.0, 250.0])
    n = len(vals)
    params = {k: np.zeros((2 * n, 4) if k in ("W", "Wc", "gW", "gWc") else 2 * n, np.float32) for k in NAMES}
    for k in ("gW", "gWc", "gb", "gbc"):
        params[k][:] = 1.0
    rows, cols = np.arange(n, dtype=np.int32), np.arange(n, 2 * n, dtype=np.int32)
    expected = sum(0.5 * min(1.0, (x / 10.0) ** 0.75) * np.log(x) ** 2 for x in vals)
    assert untrained_cost_sum(vals, 10.0, 0.75) == pytest.approx(expected, rel=1e-12)
    assert _run(params, rows, cols, vals, np.arange(n, dtype=np.int64)) == pytest.approx(expected, rel=1e-6)


def test_cost_decreases_on_structured_corpus() -> None:
    rows, cols, vals = _entries(_counts(_structured_corpus(), window=3))
    params = init_params(30, 10, seed=0)
    costs = []
    for epoch in range(10):
        costs.append(_run(params, rows, cols, vals, shuffled_order(len(vals), epoch)))
    assert all(np.isfinite(costs))
    assert costs[9] < 0.5 * costs[0], costs
    # Same-topic words end up closer than cross-topic words.
    emb = combine_output(params["W"], params["Wc"], "sum").astype(np.float64)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    sim = emb @ emb.T
    topic = np.arange(30) // 10
    same = topic[:, None] == topic[None, :]
    np.fill_diagonal(same, False)
    assert sim[same].mean() > sim[topic[:, None] != topic[None, :]].mean() + 0.2


def _entry_cost(w: np.ndarray, wc: np.ndarray, bi: float, bj: float, x: float,
                x_max: float, power: float) -> float:  # fmt: skip
    f = min(1.0, (x / x_max) ** power)
    diff = w @ wc + bi + bj - np.log(x)
    return 0.5 * f * diff * diff


@pytest.mark.parametrize("same_word", [False, True])
def test_single_entry_update_matches_numerical_gradient(same_word: bool) -> None:
    rng = np.random.default_rng(11)
    v, dim, i = 6, 5, 2
    j = i if same_word else 4
    # x < x_max: f = 0.405 matters.  A large rate makes the float32 gradsq
    # increments well above float32 resolution (and stays far below the clip).
    x, x_max, power, lr = 3.0, 10.0, 0.75, 0.5
    params = init_params(v, dim, seed=1)
    params["W"][:] = rng.uniform(-0.8, 0.8, (v, dim))
    params["Wc"][:] = rng.uniform(-0.8, 0.8, (v, dim))
    params["b"][:] = rng.uniform(-0.5, 0.5, v)
    params["bc"][:] = rng.uniform(-0.5, 0.5, v)
    # Non-trivial accumulators so the 1/sqrt(gradsq) scaling is exercised.
    for k in ("gW", "gWc", "gb", "gbc"):
        params[k][:] = rng.uniform(1.0, 4.0, params[k].shape)
    before = {k: a.astype(np.float64) for k, a in params.items()}

    w, wc, bi, bj = before["W"][i], before["Wc"][j], before["b"][i], before["bc"][j]

    # Reference gradient of J = 0.5 f diff^2 by central differences: independent
    # of any closed form, so a wrong sign or a missing f would not match.
    def num_grad(fun, p: np.ndarray) -> np.ndarray:
        g = np.zeros_like(p)
        for k in range(p.size):
            e = np.zeros_like(p)
            e[k] = 1e-6
            g[k] = (fun(p + e) - fun(p - e)) / 2e-6
        return g

    g_w = num_grad(lambda p: _entry_cost(p, wc, bi, bj, x, x_max, power), w)
    g_wc = num_grad(lambda p: _entry_cost(w, p, bi, bj, x, x_max, power), wc)
    g_b = num_grad(lambda p: _entry_cost(w, wc, p[0], bj, x, x_max, power), np.array([bi]))[0]
    g_bc = num_grad(lambda p: _entry_cost(w, wc, bi, p[0], x, x_max, power), np.array([bj]))[0]

    tw, tc = np.zeros(v, np.int64), np.zeros(v, np.int64)
    cost = _run(
        params,
        np.array([i], np.int32),
        np.array([j], np.int32),
        np.array([x], np.float64),
        np.array([0], np.int64),
        x_max=x_max,
        power=power,
        lr=lr,
        touch=(tw, tc),
    )
    assert cost == pytest.approx(_entry_cost(w, wc, bi, bj, x, x_max, power), rel=1e-5)

    def check(name: str, row: int | None, grad: np.ndarray | float, sq_name: str) -> None:
        old = before[name][row] if row is not None else before[name]
        new = params[name][row] if row is not None else params[name]
        gsq = before[sq_name][row] if row is not None else before[sq_name]
        new_sq = params[sq_name][row] if row is not None else params[sq_name]
        step = lr * np.asarray(grad)
        # AdaGrad as in glove.c: x -= lr*g / sqrt(gradsq_old); gradsq += (lr*g)^2.
        np.testing.assert_allclose(new - old, -step / np.sqrt(gsq), rtol=2e-4, atol=1e-7)
        np.testing.assert_allclose(new_sq - gsq, step * step, rtol=2e-4, atol=2e-6)

    check("W", i, g_w, "gW")
    check("Wc", j, g_wc, "gWc")
    check("b", None, np.eye(v)[i] * g_b, "gb")
    check("bc", None, np.eye(v)[j] * g_bc, "gbc")
    # Only the touched rows moved.
    untouched = [r for r in range(v) if r != i]
    np.testing.assert_array_equal(params["W"][untouched], before["W"][untouched])
    assert tw[i] == 1 and tc[j] == 1 and tw.sum() == 1 and tc.sum() == 1


def test_clipping_bounds_huge_counts() -> None:
    v, dim = 4, 16
    params = init_params(v, dim, seed=2)
    params["W"][:] = 0.5
    params["Wc"][:] = -0.5
    before = {k: a.copy() for k, a in params.items()}
    clip, lr = 1.0, 0.05
    # X = 1e300: f = 1, diff ~ -690, so |lr * grad| ~ 17 per component >> clip.
    cost = _run(
        params,
        np.array([0], np.int32),
        np.array([1], np.int32),
        np.array([1e300], np.float64),
        np.array([0], np.int64),
        x_max=100.0,
        lr=lr,
        clip=clip,
    )
    assert np.isfinite(cost) and cost > 1e5
    dw = params["W"][0] - before["W"][0]
    dwc = params["Wc"][1] - before["Wc"][1]
    # gradsq was 1.0, so a clipped step is exactly +-clip; its sign follows
    # -sign(grad): diff < 0 and Wc < 0 -> grad_W > 0 -> W decreases.
    np.testing.assert_allclose(dw, -clip, rtol=1e-6)
    np.testing.assert_allclose(dwc, clip, rtol=1e-6)
    np.testing.assert_allclose(params["b"][0] - before["b"][0], clip, rtol=1e-6)
    np.testing.assert_allclose(params["gW"][0], 1.0 + clip**2, rtol=1e-6)
    # A second pass over the same entry takes a smaller, still bounded step.
    w1 = params["W"][0].copy()
    _run(
        params,
        np.array([0], np.int32),
        np.array([1], np.int32),
        np.array([1e300], np.float64),
        np.array([0], np.int64),
        lr=lr,
        clip=clip,
    )
    assert np.all(np.abs(params["W"][0] - w1) <= clip / np.sqrt(2.0) + 1e-6)


def test_non_finite_inputs_are_skipped() -> None:
    v, dim = 8, 6
    params = init_params(v, dim, seed=4)
    params["W"][5, 2] = np.nan  # a corrupted row: its entries must be skipped
    rows = np.array([0, 1, 2, 3, 4, 5, 6], np.int32)
    cols = np.array([1, 2, 3, 4, 0, 0, 7], np.int32)
    vals = np.array([np.nan, np.inf, 0.0, -1.0, 2.0, 3.0, 1.5], np.float32)
    before = {k: a.copy() for k, a in params.items()}
    tw, tc = np.zeros(v, np.int64), np.zeros(v, np.int64)
    cost = _run(params, rows, cols, vals, np.arange(7, dtype=np.int64), touch=(tw, tc))
    assert np.isfinite(cost) and cost > 0
    # Only entries 4 (4, 0, 2.0) and 6 (6, 7, 1.5) were applied.
    assert tw.tolist() == [0, 0, 0, 0, 1, 0, 1, 0]
    assert tc.tolist() == [1, 0, 0, 0, 0, 0, 0, 1]
    for k in NAMES:
        assert np.isfinite(np.delete(params[k], 5, axis=0) if k == "W" else params[k]).all(), k
    for r in (0, 1, 2, 3, 5):
        np.testing.assert_array_equal(params["gW"][r], before["gW"][r])
        np.testing.assert_array_equal(params["b"][r], before["b"][r])
    np.testing.assert_array_equal(params["W"][5], before["W"][5])
    assert not np.array_equal(params["W"][4], before["W"][4])


def test_determinism_same_seed() -> None:
    rows, cols, vals = _entries(_counts(_structured_corpus(1), window=2))

    def train() -> tuple[dict[str, np.ndarray], list[float]]:
        params = init_params(30, 7, seed=9)
        costs = [
            _run(params, rows, cols, vals, shuffled_order(len(vals), 100 + e)) for e in range(3)
        ]
        return params, costs

    p1, c1 = train()
    p2, c2 = train()
    assert c1 == c2
    for k in NAMES:
        np.testing.assert_array_equal(p1[k], p2[k])


def test_touch_counts_equal_entries_per_row() -> None:
    rng = np.random.default_rng(5)
    v, n = 40, 2_000
    rows = rng.integers(0, v, n).astype(np.int32)
    cols = rng.integers(0, v, n).astype(np.int32)
    vals = rng.uniform(0.1, 50.0, n)
    params = init_params(v, 4, seed=0)
    tw, tc = np.zeros(v, np.int64), np.zeros(v, np.int64)
    _run(params, rows, cols, vals, shuffled_order(n, 0), touch=(tw, tc))
    np.testing.assert_array_equal(tw, np.bincount(rows, minlength=v))
    np.testing.assert_array_equal(tc, np.bincount(cols, minlength=v))
    # A partial order visits (and counts) only its entries, on top of the old counts.
    sub = np.arange(0, n, 3, dtype=np.int64)
    _run(params, rows, cols, vals, sub, touch=(tw, tc))
    np.testing.assert_array_equal(
        tw, np.bincount(rows, minlength=v) + np.bincount(rows[sub], minlength=v)
    )


def test_invalid_arguments() -> None:
    params = init_params(5, 3, seed=0)
    rows = np.array([0, 1], np.int32)
    cols = np.array([1, 2], np.int32)
    vals = np.array([1.0, 2.0])
    with pytest.raises(ValueError):
        _run(params, rows, cols, vals, np.array([0, 2], np.int64))  # order out of range
    with pytest.raises(ValueError):
        _run(params, rows, np.array([1, 5], np.int32), vals, np.arange(2, dtype=np.int64))
    with pytest.raises(ValueError):
        _run(params, rows.astype(np.int64), cols, vals, np.arange(2, dtype=np.int64))
    bad = dict(params, W=params["W"].astype(np.float64))
    with pytest.raises(ValueError):
        _run(bad, rows, cols, vals, np.arange(2, dtype=np.int64))


def test_word_and_context_sides_may_hold_different_rows() -> None:
    # A block-rotated task holds one block of word rows and another of context
    # rows, of other sizes; training them must equal training the whole model.
    rng = np.random.default_rng(11)
    full = init_params(10, 4, seed=2)
    word_rows, ctx_rows = np.arange(0, 6), np.arange(3, 10)
    rows = rng.choice(word_rows, 40).astype(np.int32)
    cols = rng.choice(ctx_rows, 40).astype(np.int32)
    vals = rng.uniform(0.5, 20.0, 40)
    order = shuffled_order(40, 3)
    side = {k: np.ascontiguousarray(full[k][word_rows]) for k in ("W", "b", "gW", "gb")}
    side |= {k: np.ascontiguousarray(full[k][ctx_rows]) for k in ("Wc", "bc", "gWc", "gbc")}
    whole = glove_epoch(
        full["W"], full["Wc"], full["b"], full["bc"], full["gW"], full["gWc"], full["gb"], full["gbc"],
        rows, cols, vals, order, 10.0, 0.75, 0.05, 100.0, np.zeros(10, np.int64), np.zeros(10, np.int64),
    )  # fmt: skip
    blocks = glove_epoch(
        side["W"], side["Wc"], side["b"], side["bc"], side["gW"], side["gWc"], side["gb"], side["gbc"],
        rows - 0, cols - 3, vals, order, 10.0, 0.75, 0.05, 100.0, np.zeros(6, np.int64), np.zeros(7, np.int64),
    )  # fmt: skip
    assert blocks == pytest.approx(whole, rel=1e-12)
    for k, rows_of in (("W", word_rows), ("gb", word_rows), ("Wc", ctx_rows), ("bc", ctx_rows)):
        np.testing.assert_array_equal(side[k], full[k][rows_of])
