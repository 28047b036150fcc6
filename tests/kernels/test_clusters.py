"""Cluster centroids and central words: the kernel against a brute-force reading of its definition."""

from __future__ import annotations

import numpy as np
import pytest

from embedpipe.kernels.clusters import central_rows, centroids
from embedpipe.kernels.similarity import normalize_rows


def test_centroid_is_the_unit_mean_of_the_members_and_zero_for_an_empty_cluster():
    unit = normalize_rows(np.random.default_rng(1).normal(size=(40, 6)))
    labels = np.random.default_rng(2).integers(0, 3, size=40)
    labels[:4] = -1  # in no cluster: left out
    got = centroids(unit, labels, 4)
    for c in range(3):
        mean = unit[labels == c].astype(np.float64).mean(axis=0)
        assert np.allclose(got[c], mean / np.linalg.norm(mean), atol=1e-12)
    assert np.array_equal(got[3], np.zeros(6)), "cluster 3 has no member"


def test_central_rows_are_the_members_of_highest_cosine_with_the_centre():
    rng = np.random.default_rng(3)
    unit = normalize_rows(rng.normal(size=(200, 8)))
    labels = rng.integers(-1, 5, size=200)
    centres = centroids(unit, labels, 5)
    got = central_rows(unit, labels, centres, 7)
    for c in range(5):
        members = np.flatnonzero(labels == c)
        cos = [float(unit[r].astype(np.float64) @ centres[c]) for r in members]
        want = [int(r) for _, r in sorted(zip(cos, members, strict=True), key=lambda t: (-t[0], t[1]))][:7]
        assert got[c].tolist() == want


def test_ties_go_to_the_more_frequent_row_and_short_clusters_list_what_they_have():
    unit = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]], dtype=np.float32)
    labels = np.array([0, 0, 0, 1])
    got = central_rows(unit, labels, centroids(unit, labels, 2), 5)
    assert got[0].tolist() == [0, 2, 1] and got[1].tolist() == [3]


def test_labels_out_of_range_are_refused():
    unit = np.eye(3, dtype=np.float32)
    with pytest.raises(ValueError, match=r"labels must be in 0\.\.1"):
        centroids(unit, np.array([0, 1, 2]), 2)
    with pytest.raises(ValueError, match=r"2 labels for 3 rows"):
        centroids(unit, np.array([0, 1]), 2)
