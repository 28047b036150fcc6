"""Running top-k lists: any blocking and any merge order give brute force's lists."""

from __future__ import annotations

import numpy as np
import pytest

from embedpipe.kernels.similarity import normalize_rows, top_k
from embedpipe.kernels.topk import block_pair_lists, empty_lists, exact_neighbors, merge_lists, offer_block


@pytest.fixture(scope="module")
def unit() -> np.ndarray:
    rng = np.random.default_rng(5)
    m = rng.normal(size=(41, 6))
    m[7] = m[3]  # identical rows: ties go to the lower id
    m[12] = 0.0
    return normalize_rows(m)


def _reference(unit: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.full((len(unit), k), -1)
    sims = np.full((len(unit), k), -np.inf)
    for r in range(len(unit)):
        i, s = top_k(unit, unit[r], k, exclude=[r])
        ids[r, : len(i)], sims[r, : len(s)] = i, s
    return ids, sims


def test_exact_neighbors_is_top_k_row_by_row(unit: np.ndarray) -> None:
    ids, sims = exact_neighbors(unit, np.arange(len(unit)), 5)
    want_ids, want_sims = _reference(unit, 5)
    assert np.array_equal(ids, want_ids)
    assert np.allclose(sims, want_sims, atol=1e-6)
    assert list(ids[3][:1]) == [7] and list(ids[7][:1]) == [3]


@pytest.mark.parametrize(("tile_rows", "tile_candidates"), [(7, 5), (1, 41), (41, 1), (16, 64)])
def test_exact_neighbors_in_any_tiling_is_top_k_row_by_row(unit, monkeypatch, tile_rows, tile_candidates) -> None:
    from embedpipe.kernels import topk

    # Tiles smaller than the matrix: rows 3 and 7 (a tie) and row 12 (a zero vector) fall in different tiles.
    monkeypatch.setattr(topk, "_TILE_ROWS", tile_rows)
    monkeypatch.setattr(topk, "_TILE_CANDIDATES", tile_candidates)
    rows = np.random.default_rng(tile_rows).permutation(len(unit))  # in no particular order
    ids, sims = exact_neighbors(unit, rows, 5)
    want_ids, want_sims = _reference(unit, 5)
    assert np.array_equal(ids, want_ids[rows])
    assert np.allclose(sims, want_sims[rows], atol=1e-6)
    empty_ids, empty_sims = exact_neighbors(unit, np.array([], dtype=np.int64), 5)
    assert empty_ids.shape == empty_sims.shape == (0, 5)


@pytest.mark.parametrize("block", [1, 4, 9, 41])
def test_block_pairs_merged_in_any_order_give_the_same_lists(unit: np.ndarray, block: int) -> None:
    k = 6
    starts = list(range(0, len(unit), block))
    lists = {s: empty_lists(len(unit[s : s + block]), k) for s in starts}
    rng = np.random.default_rng(block)
    pairs = [(a, b) for a in starts for b in starts if a <= b]
    for n in rng.permutation(len(pairs)):
        a, b = pairs[n]
        qa, qb = np.arange(a, min(a + block, len(unit))), np.arange(b, min(b + block, len(unit)))
        (ai, as_), other = block_pair_lists(qa, unit[qa], qb, unit[qb], k, both=a != b)
        merge_lists(*lists[a], ai, as_)
        if other is not None:
            merge_lists(*lists[b], *other)
    ids = np.concatenate([lists[s][0] for s in starts])
    want_ids, want_sims = _reference(unit, k)
    assert np.array_equal(ids, want_ids)
    assert np.allclose(np.concatenate([lists[s][1] for s in starts]), want_sims, atol=1e-6)


@pytest.mark.parametrize(("tile_rows", "tile_candidates"), [(3, 2), (1, 41), (16, 5)])
def test_block_pairs_in_any_tiling_give_the_same_lists_both_ways(unit, monkeypatch, tile_rows, tile_candidates) -> None:
    from embedpipe.kernels import topk

    monkeypatch.setattr(topk, "_TILE_ROWS", tile_rows)
    monkeypatch.setattr(topk, "_TILE_CANDIDATES", tile_candidates)
    a, b = np.arange(0, 20), np.arange(20, len(unit))  # rows 3 and 7 (a tie) and 12 (zero) in the first block
    lists = {0: empty_lists(len(a), 6), 20: empty_lists(len(b), 6)}
    for qa, qb in ((a, a), (b, b), (a, b)):
        (qi, qs), other = block_pair_lists(qa, unit[qa], qb, unit[qb], 6, both=qa[0] != qb[0])
        merge_lists(*lists[int(qa[0])], qi, qs)
        if other is not None:
            merge_lists(*lists[int(qb[0])], *other)
    want_ids, want_sims = _reference(unit, 6)
    assert np.array_equal(np.concatenate([lists[0][0], lists[20][0]]), want_ids)
    assert np.allclose(np.concatenate([lists[0][1], lists[20][1]]), want_sims, atol=1e-6)


def test_fewer_candidates_than_k_leave_empty_slots_and_nan_is_never_kept() -> None:
    ids, sims = empty_lists(1, 3)
    offer_block(ids, sims, np.array([[0.5, np.nan, 0.9]], np.float32), np.array([4, 5, 6]), np.array([0]))
    assert ids.tolist() == [[6, 4, -1]] and sims[0, 2] == -np.inf
    with pytest.raises(ValueError, match=r"scores \(1, 2\) must be"):
        offer_block(ids, sims, np.zeros((1, 2), np.float32), np.array([1, 2, 3]), np.array([0]))
