"""The inverted-file kernels (embedpipe.kernels.ivf) against brute force, on planted clusters (numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

from embedpipe.kernels.ivf import nearest_lists, scan_lists, spherical_kmeans
from embedpipe.kernels.topk import exact_neighbors

N, DIM, GROUPS = 1200, 20, 40  # 40 planted groups of 30 rows


def _planted(seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(GROUPS, DIM))
    group = rng.permutation(np.repeat(np.arange(GROUPS), N // GROUPS))
    x = centres[group] + 0.2 * rng.normal(size=(N, DIM))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), group


def _filed(unit: np.ndarray, lists: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Centroids, labels and the stored rows list after list, as the index files them."""
    centroids, labels = spherical_kmeans(unit, lists, seed=0)
    order = np.argsort(labels, kind="stable")
    offsets = np.r_[0, np.cumsum(np.bincount(labels, minlength=lists))].astype(np.int64)
    return centroids, labels, np.ascontiguousarray(unit[order]), order.astype(np.int32), offsets


def test_kmeans_finds_the_planted_groups_with_unit_centroids_and_no_empty_list():
    unit, group = _planted()
    centroids, labels = spherical_kmeans(unit, GROUPS, seed=0)
    assert centroids.shape == (GROUPS, DIM) and centroids.dtype == np.float32
    assert np.allclose(np.linalg.norm(centroids, axis=1), 1.0, atol=1e-5)
    assert np.bincount(labels, minlength=GROUPS).min() > 0
    # Each planted group lies almost wholly in one list.
    purity = np.mean([np.bincount(labels[group == g]).max() / (N // GROUPS) for g in range(GROUPS)])
    assert purity > 0.9
    # Each row's label is its nearest centroid.
    assert (labels == np.argmax(unit @ centroids.T, axis=1)).all()
    again, again_labels = spherical_kmeans(unit, GROUPS, seed=0)
    assert np.array_equal(again, centroids) and np.array_equal(again_labels, labels)


def test_kmeans_with_more_lists_than_distinct_rows_files_each_row_at_its_own_point():
    unit = np.repeat(np.eye(3, dtype=np.float32), 4, axis=0)  # 3 distinct points, 12 rows
    centroids, labels = spherical_kmeans(unit, 5, seed=1)
    assert np.allclose(np.einsum("nd,nd->n", unit, centroids[labels]), 1.0, atol=1e-6)
    assert np.isfinite(centroids).all()
    with pytest.raises(ValueError, match=r"k must be in \[1, 12\]"):
        spherical_kmeans(unit, 13)


def test_nearest_lists_rank_the_centroids_by_cosine_ties_to_the_lower():
    unit, _ = _planted()
    centroids, *_ = _filed(unit, 16)
    probes = nearest_lists(unit[:50], centroids, 5)
    scores = unit[:50] @ centroids.T
    assert probes.shape == (50, 5) and probes.dtype == np.int32
    assert (probes == np.argsort(-scores, axis=1, kind="stable")[:, :5]).all()
    tied = nearest_lists(np.ones((1, 2), np.float32), np.array([[1, 0], [0, 1], [1, 0]], np.float32), 3)
    assert tied.tolist() == [[0, 1, 2]]
    assert nearest_lists(unit[:3], centroids, 100).shape == (3, 16)  # never more probes than lists
    many = _planted(6)[0][:200]  # long rankings are sorted rather than inserted into: the same order
    by_sort = np.argsort(-(unit[:50] @ many.T), axis=1, kind="stable")[:, :150]
    assert (nearest_lists(unit[:50], many, 150) == by_sort).all()
    assert (nearest_lists(unit[:50], many, 150)[:, :60] == nearest_lists(unit[:50], many, 60)).all()
    ties = np.array([[1, 0], [1, 0], [0, 1], [1, 0], [-1, 0]], np.float32)  # centroids 0, 1, 3 tie for first
    assert nearest_lists(np.array([[1, 0]], np.float32), np.repeat(ties, 20, axis=0)[::20], 2).tolist() == [[0, 1]]
    wide = np.repeat(ties, 30, axis=0)  # 150 centroids in runs of 30 equal ones: a cut among ties
    assert nearest_lists(np.array([[1, 0]], np.float32), wide, 100).tolist() == [
        list(range(0, 60)) + list(range(90, 120)) + list(range(60, 70))
    ]


def test_every_list_probed_is_brute_force():
    unit, _ = _planted()
    centroids, _, stored, stored_ids, offsets = _filed(unit, 16)
    rows = np.arange(0, N, 7)
    probes = nearest_lists(unit[rows], centroids, 16)
    ids, sims = scan_lists(stored, stored_ids, offsets, unit[rows], rows.astype(np.int32), probes, 10)
    exact_ids, exact_sims = exact_neighbors(unit, rows, 10)
    assert (ids == exact_ids).all()
    assert np.allclose(sims, exact_sims, atol=1e-6)
    assert not (ids == rows[:, None]).any()  # a row is never its own neighbour


def test_a_query_gets_the_exact_top_k_of_the_rows_in_its_probed_lists():
    unit, _ = _planted()
    centroids, labels, stored, stored_ids, offsets = _filed(unit, 30)
    rows = np.arange(3, N, 11)
    probes = nearest_lists(unit[rows], centroids, 2)
    ids, sims = scan_lists(stored, stored_ids, offsets, unit[rows], np.full(len(rows), -1, np.int32), probes, 5)
    for i, r in enumerate(rows):
        allowed = np.flatnonzero(np.isin(labels, probes[i]))
        scores = (unit[allowed] @ unit[r]).astype(np.float64)
        order = np.lexsort((allowed, -scores))[:5]  # higher first, ties to the lower row
        assert ids[i].tolist() == allowed[order].tolist()
        assert np.allclose(sims[i], scores[order], atol=1e-6)
    assert (ids[:, 0] == rows).all()  # own -1: the query's own row may answer


def test_threads_split_the_queries_without_changing_an_answer():
    unit, _ = _planted()
    centroids, _, stored, stored_ids, offsets = _filed(unit, 30)
    rows = np.arange(N)
    probes = nearest_lists(unit, centroids, 3)
    one = scan_lists(stored, stored_ids, offsets, unit, rows.astype(np.int32), probes, 10, threads=1)
    three = scan_lists(stored, stored_ids, offsets, unit, rows.astype(np.int32), probes, 10, threads=3)
    assert np.array_equal(one[0], three[0]) and np.array_equal(one[1], three[1])


def test_fewer_rows_than_k_leave_empty_slots_and_shapes_are_checked():
    unit, _ = _planted()
    centroids, _, stored, stored_ids, offsets = _filed(unit[:6], 2)
    ids, sims = scan_lists(stored, stored_ids, offsets, unit[:1], np.array([0], np.int32),
                           nearest_lists(unit[:1], centroids, 2), 8)  # fmt: skip
    assert (ids[0, :5] >= 0).all() and (ids[0, 5:] == -1).all() and np.isneginf(sims[0, 5:]).all()
    with pytest.raises(ValueError, match="must agree"):
        scan_lists(stored, stored_ids, offsets, unit[:2], np.array([0], np.int32), np.zeros((2, 1), np.int32), 3)
