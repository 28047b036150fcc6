"""Tests of embedpipe.kernels.weat against brute-force references (pure numpy, no Spark)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from embedpipe.kernels.weat import associations, definitional_direction, effect_size, neutralize, p_value


def _cos(u: np.ndarray, v: np.ndarray) -> float:
    return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))


def _brute_effect(x, y, a, b) -> float:
    """Caliskan et al.'s formula written out word by word."""

    def s(w):
        return sum(_cos(w, ai) for ai in a) / len(a) - sum(_cos(w, bi) for bi in b) / len(b)

    sx, sy = [s(w) for w in x], [s(w) for w in y]
    both = sx + sy
    mean = sum(both) / len(both)
    std = math.sqrt(sum((v - mean) ** 2 for v in both) / (len(both) - 1))
    return (sum(sx) / len(sx) - sum(sy) / len(sy)) / std


def _sets(seed: int, nx=8, ny=8, na=7, nb=9, dim=20):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(n, dim)) for n in (nx, ny, na, nb)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_effect_size_equals_brute_force(seed):
    x, y, a, b = _sets(seed, nx=8 + seed, ny=8)
    assert effect_size(x, y, a, b) == pytest.approx(_brute_effect(x, y, a, b), abs=1e-6)
    # float32 input, as the vectors table holds
    x32, y32, a32, b32 = (m.astype(np.float32) for m in (x, y, a, b))
    assert effect_size(x32, y32, a32, b32) == pytest.approx(_brute_effect(x32, y32, a32, b32), abs=1e-6)


def test_planted_bias_gives_a_large_positive_effect_and_a_small_p():
    rng = np.random.default_rng(4)
    dim = 30
    axis = rng.normal(size=dim)
    a = rng.normal(size=(10, dim)) + 2 * axis  # pleasant lies along +axis
    b = rng.normal(size=(10, dim)) - 2 * axis
    x = rng.normal(size=(10, dim)) + 1.5 * axis  # flowers lean pleasant
    y = rng.normal(size=(10, dim)) - 1.5 * axis
    d = effect_size(x, y, a, b)
    assert d > 1.5
    p, exact = p_value(associations(x, a, b), associations(y, a, b))
    assert exact and p < 1e-3
    assert effect_size(y, x, a, b) == pytest.approx(-d)  # swapping the targets flips the sign
    assert effect_size(x, y, b, a) == pytest.approx(-d)


def test_exact_p_value_equals_enumerating_every_partition():
    rng = np.random.default_rng(6)
    sx, sy = rng.normal(0.2, 1, size=6), rng.normal(0, 1, size=5)
    s = np.concatenate([sx, sy])
    observed = sx.sum() - sy.sum()
    stats = [s[list(c)].sum() - (s.sum() - s[list(c)].sum()) for c in itertools.combinations(range(11), 6)]
    want = sum(v >= observed - 1e-12 for v in stats) / len(stats)
    p, exact = p_value(sx, sy)
    assert exact and p == pytest.approx(want, abs=1e-12)
    assert len(stats) == math.comb(11, 6)


def test_sampled_p_value_is_reproducible_for_a_seed_and_near_the_exact_one():
    rng = np.random.default_rng(8)
    sx, sy = rng.normal(0.3, 1, size=8), rng.normal(0, 1, size=8)
    exact, is_exact = p_value(sx, sy)
    assert is_exact
    first = p_value(sx, sy, exact_max=1, samples=20_000, seed=5)
    assert first == p_value(sx, sy, exact_max=1, samples=20_000, seed=5)
    assert first[1] is False
    assert first[0] != p_value(sx, sy, exact_max=1, samples=20_000, seed=6)[0]
    assert abs(first[0] - exact) < 0.02
    # the sampled estimate is never 0, even for a bias no sampled partition reaches
    assert p_value(np.full(25, 5.0), np.zeros(25), samples=1000)[0] == pytest.approx(1 / 1001)


def test_empty_sets_are_refused():
    x, y, a, b = _sets(9)
    with pytest.raises(ValueError, match="both target sets need words, got 0 and 8"):
        effect_size(x[:0], y, a, b)
    with pytest.raises(ValueError, match="both attribute sets need words, got 7 and 0"):
        effect_size(x, y, a, b[:0])


def test_definitional_direction_recovers_a_planted_axis():
    rng = np.random.default_rng(10)
    dim = 40
    g = rng.normal(size=dim)
    g /= np.linalg.norm(g)
    base = rng.normal(size=(10, dim))
    she = base + 0.8 * g + 0.05 * rng.normal(size=(10, dim))
    he = base - 0.8 * g + 0.05 * rng.normal(size=(10, dim))
    direction, share = definitional_direction(she, he)
    assert abs(np.linalg.norm(direction) - 1) < 1e-12
    assert direction @ g > 0.98  # oriented towards the first word of each pair
    assert share > 0.8
    flipped, _ = definitional_direction(he, she)
    assert np.allclose(flipped, -direction)


def test_neutralize_removes_the_component_and_keeps_unit_length():
    rng = np.random.default_rng(12)
    rows = rng.normal(size=(20, 16))
    g = rng.normal(size=16)
    out = neutralize(rows, g)
    assert out.dtype == np.float32
    assert np.abs(out @ (g / np.linalg.norm(g))).max() < 1e-6
    assert np.allclose(np.linalg.norm(out, axis=1), 1, atol=1e-6)
    # what is left is the row's own direction off the axis
    u = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    gu = g / np.linalg.norm(g)
    rest = u - np.outer(u @ gu, gu)
    assert np.allclose(out, rest / np.linalg.norm(rest, axis=1, keepdims=True), atol=1e-6)
