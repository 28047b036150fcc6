"""group_changes: the one-pass grouping of replicas' rows equals a plain per-row loop."""

from __future__ import annotations

import numpy as np

from embedpipe.kernels.merge import group_changes


def test_grouped_changes_match_a_plain_loop():
    rng = np.random.default_rng(3)
    vocab, width = 30, 5
    state = rng.standard_normal((vocab, width))
    # three replicas, each returning a sorted subset of rows
    rows = np.concatenate([np.sort(rng.choice(vocab, 12, replace=False)) for _ in range(3)]).astype(np.int32)
    values = (state[rows] + rng.standard_normal((len(rows), width))).astype(np.float32)
    touches = rng.integers(1, 9, len(rows)).astype(np.float64)

    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    starts = np.flatnonzero(np.r_[True, sorted_rows[1:] != sorted_rows[:-1]])
    hit = sorted_rows[starts]
    deltas, summed, weighted = group_changes(order, starts, values, touches, state[hit])

    for h, row in enumerate(hit):
        mine = np.flatnonzero(rows == row)
        expect = values[mine].astype(np.float64) - state[row]
        np.testing.assert_allclose(summed[h], expect.sum(axis=0), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(weighted[h], (touches[mine, None] * expect).sum(axis=0), rtol=1e-6, atol=1e-6)
        end = starts[h + 1] if h + 1 < len(starts) else len(rows)
        np.testing.assert_allclose(deltas[starts[h] : end], expect, rtol=1e-5, atol=1e-5)
    assert deltas.dtype == np.float32 and set(hit) == set(rows)


def test_a_rule_that_reads_only_the_sums_gets_the_same_sums_without_the_large_arrays():
    rng = np.random.default_rng(4)
    rows = np.concatenate([np.sort(rng.choice(20, 8, replace=False)) for _ in range(2)]).astype(np.int32)
    values = rng.standard_normal((len(rows), 4)).astype(np.float32)
    touches = rng.integers(1, 9, len(rows)).astype(np.float64)
    order = np.argsort(rows, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(rows[order]) != 0])
    old = rng.standard_normal((len(starts), 4)).astype(np.float32)

    _, full_sum, _ = group_changes(order, starts, values, touches, old)
    deltas, summed, weighted = group_changes(order, starts, values, touches, old, False, False)

    np.testing.assert_array_equal(summed, full_sum)
    assert deltas.shape == (0, 4) and weighted.shape == (0, 4)
