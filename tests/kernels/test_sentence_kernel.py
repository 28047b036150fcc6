"""embedpipe.kernels.sentences against brute-force numpy (no Spark): weights, pooling, SIF's component removal."""

from __future__ import annotations

import math

import numpy as np
import pytest

from embedpipe.kernels.sentences import (
    average,
    first_component,
    idf_weights,
    pool,
    remove_component,
    second_moment,
    sif_weights,
)


def _texts(seed: int, n_docs=9, vocab=30, dim=7):
    """Random texts as lists of word rows (one empty), and a random matrix."""
    rng = np.random.default_rng(seed)
    texts = [list(rng.integers(0, vocab, size=rng.integers(1, 12))) for _ in range(n_docs)]
    texts[3] = []
    return texts, rng.normal(size=(vocab, dim)).astype(np.float32)


def _entries(texts):
    doc = np.array([d for d, t in enumerate(texts) for _ in t], dtype=np.int64)
    rows = np.array([r for t in texts for r in t], dtype=np.int64)
    return doc, rows, np.ones(len(rows), dtype=np.int64)


def test_sif_weights_are_a_over_a_plus_the_word_share():
    counts = np.array([50, 30, 20, 0])
    assert sif_weights(counts, 1e-3) == pytest.approx([1e-3 / (1e-3 + p) for p in (0.5, 0.3, 0.2, 0.0)])
    # frequent words weigh less; an unseen word weighs 1
    w = sif_weights(counts, 0.1)
    assert w[0] < w[1] < w[2] < w[3] == 1.0


def test_sif_weights_refuse_vectors_without_counts():
    with pytest.raises(ValueError, match="sum to 0; use the mean or tfidf method"):
        sif_weights(np.zeros(3), 1e-3)
    with pytest.raises(ValueError, match="must be > 0"):
        sif_weights(np.ones(3), 0.0)


def test_idf_is_smoothed_and_never_zero():
    idf = idf_weights(np.array([0, 1, 4, 4]), 4)
    assert idf == pytest.approx([math.log(5 / d) + 1 for d in (1, 2, 5, 5)])
    assert idf[-1] == pytest.approx(1.0)  # a word in every text still counts
    with pytest.raises(ValueError, match="0..n_docs=4"):
        idf_weights(np.array([5]), 4)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pool_with_unit_weights_is_the_mean_of_the_known_tokens(seed):
    texts, matrix = _texts(seed)
    doc, rows, times = _entries(texts)
    sums, wsum, used = pool(doc, rows, times, matrix, np.ones(len(matrix)), len(texts))
    got = average(sums, used)
    for d, t in enumerate(texts):
        assert used[d] == len(t) and wsum[d] == len(t)
        if t:
            np.testing.assert_allclose(got[d], matrix[t].astype(np.float64).mean(axis=0), rtol=1e-12)
        else:
            assert np.isnan(got[d]).all()  # no known word: no vector, not a zero vector


@pytest.mark.parametrize("seed", [4, 5])
def test_pool_with_weights_is_the_brute_force_weighted_sum(seed):
    texts, matrix = _texts(seed)
    weights = np.random.default_rng(seed).uniform(0.1, 2.0, size=len(matrix))
    doc, rows, times = _entries(texts)
    sums, wsum, _ = pool(doc, rows, times, matrix, weights, len(texts))
    for d, t in enumerate(texts):
        want = sum((weights[r] * matrix[r].astype(np.float64) for r in t), np.zeros(matrix.shape[1]))
        np.testing.assert_allclose(sums[d], want, rtol=1e-12, atol=1e-12)
        assert wsum[d] == pytest.approx(sum(weights[r] for r in t))


def test_term_counts_pool_like_repeated_tokens():
    # The join path hands over (text, word, count) entries; they must pool as the tokens do.
    texts, matrix = _texts(6)
    weights = np.linspace(0.5, 1.5, len(matrix))
    doc, rows, times = _entries(texts)
    by_token = pool(doc, rows, times, matrix, weights, len(texts))
    pairs, counts = np.unique(np.stack([doc, rows]), axis=1, return_counts=True)
    by_term = pool(pairs[0], pairs[1], counts, matrix, weights, len(texts))
    for a, b in zip(by_token, by_term, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_pool_rejects_rows_outside_the_matrix():
    with pytest.raises(ValueError, match="rows holds words outside 0..2"):
        pool(np.array([0]), np.array([3]), np.array([1]), np.zeros((3, 2)), np.ones(3), 1)
    with pytest.raises(ValueError, match="doc holds texts outside 0..0"):
        pool(np.array([1]), np.array([0]), np.array([1]), np.zeros((3, 2)), np.ones(3), 1)


def _brute_sif(x: np.ndarray) -> np.ndarray:
    """Arora et al.'s code: TruncatedSVD(1) of the text vectors, then X - X u uᵀ."""
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    u = vt[0]
    return x - np.outer(x @ u, u)


@pytest.mark.parametrize("seed", [7, 8])
def test_component_from_summed_partition_moments_removes_what_svd_removes(seed):
    rng = np.random.default_rng(seed)
    # a strong common direction, as word-vector averages have
    x = rng.normal(size=(40, 6)) + 3.0 * rng.normal(size=6)
    parts = np.array_split(x, 3)  # as partitions would hold them
    moment = sum(second_moment(p) for p in parts)
    np.testing.assert_allclose(moment, x.T @ x, rtol=1e-12)
    u = first_component(moment)
    assert np.linalg.norm(u) == pytest.approx(1.0)
    np.testing.assert_allclose(remove_component(x, u), _brute_sif(x), atol=1e-10)
    # the sign of u does not matter
    np.testing.assert_allclose(remove_component(x, -u), remove_component(x, u), atol=1e-12)


def test_rows_without_a_vector_are_left_out_of_the_moment_and_stay_empty():
    x = np.array([[1.0, 0.0], [np.nan, np.nan], [0.0, 2.0]])
    assert second_moment(x) == pytest.approx(np.array([[1.0, 0.0], [0.0, 4.0]]))
    out = remove_component(x, first_component(second_moment(x)))
    assert np.isnan(out[1]).all() and out[2] == pytest.approx([0.0, 0.0])
