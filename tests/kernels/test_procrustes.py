"""Tests of embedpipe.kernels.procrustes (pure numpy, no Spark)."""

from __future__ import annotations

import numpy as np
import pytest

from embedpipe.kernels.procrustes import knn_mean, nearest, precision_at, procrustes, split_anchors


def _rotation(dim: int, seed: int) -> np.ndarray:
    """A random orthogonal matrix (QR of a Gaussian, signs fixed so it is Haar-distributed)."""
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(dim, dim)))
    return q * np.sign(np.diag(r))


def test_a_known_rotation_is_recovered():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(500, 50))
    rot = _rotation(50, 4)
    w = procrustes(x, x @ rot)
    assert np.abs(w - rot).max() < 1e-5
    assert np.abs(w.T @ w - np.eye(50)).max() < 1e-10
    # float32 vectors, as the vectors table holds them, and anchors that are a subset of the rows
    x32 = x.astype(np.float32)
    w32 = procrustes(x32[:200], (x32 @ rot.astype(np.float32))[:200])
    assert np.abs(w32 - rot).max() < 1e-5


def test_the_map_is_the_least_squares_orthogonal_one():
    """No other orthogonal map fits the anchors better (noisy anchors, so the optimum is not exact)."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 20))
    y = x @ _rotation(20, 6) + 0.3 * rng.normal(size=(300, 20))
    w = procrustes(x, y)
    best = np.linalg.norm(x @ w - y)
    for seed in range(20):
        perturbed = w @ _rotation(20, 100 + seed) if seed % 2 else _rotation(20, 100 + seed)
        assert np.linalg.norm(x @ perturbed - y) > best
    small = w @ np.linalg.qr(np.eye(20) + 1e-3 * rng.normal(size=(20, 20)))[0]
    assert np.linalg.norm(x @ small - y) >= best - 1e-9


def test_different_sizes_give_a_semi_orthogonal_map():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(100, 10))
    emb = _rotation(16, 9)[:10]  # 10 orthonormal rows of a 16-d rotation
    w = procrustes(x, x @ emb)
    assert w.shape == (10, 16)
    assert np.abs(w @ w.T - np.eye(10)).max() < 1e-10
    assert np.abs(w - emb).max() < 1e-8


def test_refuses_mismatched_anchor_arrays():
    with pytest.raises(ValueError, match=r"\(n, d1\) and \(n, d2\).*\(3, 2\) and \(4, 2\)"):
        procrustes(np.zeros((3, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="at least one anchor pair"):
        procrustes(np.zeros((0, 2)), np.zeros((0, 2)))


@pytest.mark.parametrize("method", ["cosine", "csls"])
def test_precision_is_one_on_a_rotated_copy(method):
    rng = np.random.default_rng(11)
    src = rng.normal(size=(400, 32)).astype(np.float32)
    tgt = (src @ _rotation(32, 12)).astype(np.float32)
    fit, held = split_anchors(400, 100, seed=1)
    w = procrustes(src[fit], tgt[fit])
    mapped = src @ w
    answers = nearest(mapped, tgt, held, topn=5, method=method, k=10)
    assert precision_at(answers, np.arange(len(held)), held, 1) == 1.0
    assert precision_at(answers, np.arange(len(held)), held, 5) == 1.0


def test_precision_falls_with_noise_and_an_unrelated_space_scores_near_chance():
    rng = np.random.default_rng(13)
    src = rng.normal(size=(300, 16))
    tgt = src @ _rotation(16, 14) + 0.6 * rng.normal(size=(300, 16))
    fit, held = split_anchors(300, 100, seed=2)
    noisy = nearest(src @ procrustes(src[fit], tgt[fit]), tgt, held, topn=5)
    p1 = precision_at(noisy, np.arange(100), held, 1)
    assert 0.2 < p1 < 1.0
    other = rng.normal(size=(300, 16))
    chance = nearest(src @ procrustes(src[fit], other[fit]), other, held, topn=5)
    assert precision_at(chance, np.arange(100), held, 5) < 0.15


def test_csls_against_a_brute_force_reference():
    rng = np.random.default_rng(17)
    src = rng.normal(size=(60, 8))
    tgt = rng.normal(size=(50, 8))
    queries = np.array([0, 5, 17, 59])
    k = 4
    su = src / np.linalg.norm(src, axis=1, keepdims=True)
    tu = tgt / np.linalg.norm(tgt, axis=1, keepdims=True)
    cos = su @ tu.T
    r_t = np.sort(cos, axis=1)[:, -k:].mean(axis=1)  # each source's k nearest targets
    r_s = np.sort(cos.T, axis=1)[:, -k:].mean(axis=1)  # each target's k nearest sources
    csls = 2 * cos - r_t[:, None] - r_s[None, :]
    want = np.argsort(-csls[queries], axis=1, kind="stable")[:, :3]
    assert np.array_equal(nearest(src, tgt, queries, topn=3, method="csls", k=k), want)
    assert np.allclose(knn_mean(src, tgt, k), r_t, atol=1e-6)
    want_cos = np.argsort(-cos[queries], axis=1, kind="stable")[:, :3]
    assert np.array_equal(nearest(src, tgt, queries, topn=3, method="cosine"), want_cos)


def test_csls_demotes_a_hub():
    """A target near every source wins cosine retrieval for a query it does not translate; CSLS prefers the true one."""
    rng = np.random.default_rng(19)
    common = 2.0 * rng.normal(size=16)  # every vector leans one way, as trained vectors do
    src = rng.normal(size=(200, 16)) + common
    tgt = src + 1.2 * rng.normal(size=(200, 16))
    tgt[0] = common  # a hub: near every source, the translation of none but source 0
    queries = np.arange(1, 200)
    cos = nearest(src, tgt, queries, topn=1, method="cosine")
    csls = nearest(src, tgt, queries, topn=1, method="csls", k=10)
    assert (cos[:, 0] == 0).sum() > (csls[:, 0] == 0).sum()
    assert precision_at(csls, np.arange(199), queries, 1) >= precision_at(cos, np.arange(199), queries, 1)


def test_precision_counts_a_query_with_several_gold_targets_once():
    answers = np.array([[3, 1], [2, 0], [1, 2]])
    # query 0 has gold 1 or 3; query 1 has gold 0; query 2 has gold 0
    qp, gold = np.array([0, 0, 1, 2]), np.array([1, 3, 0, 0])
    assert precision_at(answers, qp, gold, 1) == pytest.approx(1 / 3)
    assert precision_at(answers, qp, gold, 2) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="precision@3 needs 3 answers"):
        precision_at(answers, qp, gold, 3)


def test_split_is_seeded_and_disjoint():
    fit, held = split_anchors(50, 10, seed=7)
    assert len(held) == 10 and len(fit) == 40
    assert sorted(np.concatenate([fit, held]).tolist()) == list(range(50))
    again = split_anchors(50, 10, seed=7)
    assert np.array_equal(again[1], held)
    assert not np.array_equal(split_anchors(50, 10, seed=8)[1], held)
    with pytest.raises(ValueError, match="cannot hold out 50 of 50"):
        split_anchors(50, 50, seed=1)
