"""Tests for the block-rotated (DSGD) skip-gram kernels (pure numpy/numba, no Spark)."""

from __future__ import annotations

import numpy as np
import pytest

from embedpipe.kernels.blocks import (
    assign_blocks,
    attached_cap,
    block_samplers,
    bucket_pairs,
    generate_pairs,
    rounds_of_pairs,
    rounds_of_pieces,
    sgd_pairs,
    simulate_epoch,
    train_cell_attached,
    train_cell_restricted,
    train_cell_routed,
)

NO_TALLY = np.zeros((0, 0), dtype=np.int64)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + np.exp(-x))


# ---------------------------------------------------------------------------
# block assignment
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("n_blocks", [1, 8, 32])
def test_assign_blocks_balanced(n_blocks: int) -> None:
    mass = 1.0 / (np.arange(5000) + 50.0)
    block, block_mass = assign_blocks(mass, n_blocks, seed=3)
    assert block.dtype == np.int32 and block.shape == (5000,)
    assert block.min() >= 0 and block.max() < n_blocks
    np.testing.assert_allclose(np.bincount(block, weights=mass, minlength=n_blocks), block_mass)
    # Greedy largest-first: max <= mean + largest item.
    bound = 1.0 + mass.max() / block_mass.mean()
    assert block_mass.max() / block_mass.mean() <= bound + 1e-12
    assert block_mass.max() / block_mass.mean() < 1.01
    # Random hashing is visibly worse on the same mass (the reason for LPT).
    if n_blocks > 1:
        rnd = np.random.default_rng(0).integers(0, n_blocks, 5000)
        hashed = np.bincount(rnd, weights=mass, minlength=n_blocks)
        assert hashed.max() / hashed.mean() > block_mass.max() / block_mass.mean()


def test_assign_blocks_deterministic_per_seed() -> None:
    mass = np.random.default_rng(1).integers(1, 20, 3000).astype(np.float64)
    a, _ = assign_blocks(mass, 16, seed=5)
    b, _ = assign_blocks(mass, 16, seed=5)
    c, _ = assign_blocks(mass, 16, seed=6)
    np.testing.assert_array_equal(a, b)
    assert (a != c).mean() > 0.5  # a re-draw, not a relabelling of a few words


# ---------------------------------------------------------------------------
# pair generation and bucketing
# ---------------------------------------------------------------------------


def _brute_pairs(ids: np.ndarray, offsets: np.ndarray, window: int) -> tuple[list[int], list[int]]:
    inp, out = [], []
    for s in range(len(offsets) - 1):
        piece = ids[offsets[s] : offsets[s + 1]]
        for i in range(len(piece)):
            for m in range(max(0, i - window), min(len(piece), i + window + 1)):
                if m != i:
                    inp.append(int(piece[m]))
                    out.append(int(piece[i]))
    return inp, out


def test_generate_pairs_fixed_window_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 30, 257).astype(np.int32)
    offsets = np.array([0, 1, 40, 40, 41, 150, 257], dtype=np.int64)
    keep = np.ones(30, dtype=np.float32)
    for window in (1, 3, 5):
        inp, out = generate_pairs(ids, offsets, keep, window, seed=1, dynamic=False)
        ref_in, ref_out = _brute_pairs(ids, offsets, window)
        assert inp.tolist() == ref_in
        assert out.tolist() == ref_out


def test_generate_pairs_dynamic_window_distribution() -> None:
    n, window = 30000, 5
    ids = np.arange(n, dtype=np.int32)  # every position its own word
    offsets = np.array([0, n], dtype=np.int64)
    inp, out = generate_pairs(ids, offsets, np.ones(n, np.float32), window, seed=2)
    # Pairs of a centre are contiguous, and contexts are exactly i-r..i+r minus i.
    centres, starts, sizes = np.unique(out, return_index=True, return_counts=True)
    assert np.all(np.diff(starts) > 0)
    radii = []
    for c, st, sz in zip(centres, starts, sizes, strict=True):
        if window <= c < n - window:
            r = sz // 2
            assert sz == 2 * r
            assert inp[st : st + sz].tolist() == [m for m in range(c - r, c + r + 1) if m != c]
            radii.append(r)
    freq = np.bincount(radii, minlength=window + 1)[1:] / len(radii)
    np.testing.assert_allclose(freq, np.full(window, 1.0 / window), atol=0.015)


def test_generate_pairs_subsampling_rate_and_seed() -> None:
    n = 40000
    ids = (np.arange(n) % 2).astype(np.int32)
    keep = np.array([0.25, 1.0], dtype=np.float32)
    inp, out = generate_pairs(ids, np.array([0, n], np.int64), keep, 2, seed=4, dynamic=False)
    # Centres of word 0 kept about a quarter of the time, word 1 always.
    n0 = np.unique(np.flatnonzero(out == 0)).size / 4  # 4 contexts per interior centre
    assert abs(n0 / (n / 2) - 0.25) < 0.02
    again = generate_pairs(ids, np.array([0, n], np.int64), keep, 2, seed=4, dynamic=False)
    np.testing.assert_array_equal(inp, again[0])
    other = generate_pairs(ids, np.array([0, n], np.int64), keep, 2, seed=5, dynamic=False)
    assert other[0].shape != inp.shape or np.any(other[0] != inp)


def test_bucket_pairs_stable_by_cell() -> None:
    rng = np.random.default_rng(3)
    inp = rng.integers(0, 50, 2000).astype(np.int32)
    out = rng.integers(0, 50, 2000).astype(np.int32)
    block = rng.integers(0, 4, 50).astype(np.int32)
    start, s_in, s_out = bucket_pairs(inp, out, block, 4)
    assert start[0] == 0 and start[-1] == 2000
    for p in range(4):
        for q in range(4):
            sel = (block[inp] == p) & (block[out] == q)
            lo, hi = start[p * 4 + q], start[p * 4 + q + 1]
            np.testing.assert_array_equal(s_in[lo:hi], inp[sel])
            np.testing.assert_array_equal(s_out[lo:hi], out[sel])



def test_rounds_of_pairs_deals_every_pair_once_in_order_and_at_random() -> None:
    order, cuts = rounds_of_pairs(100_000, 8, seed=3)
    assert sorted(order.tolist()) == list(range(100_000))
    sizes = np.diff(cuts)
    assert len(sizes) == 8 and np.all(np.abs(sizes - 12_500) < 600)  # ~5 sigma of a binomial
    for r in range(8):
        assert np.all(np.diff(order[cuts[r] : cuts[r + 1]]) > 0)  # corpus order within a round
    # Not consecutive parts: round 0 holds pairs from all over the batch.
    assert order[cuts[0] : cuts[1]].max() > 90_000
    again, _ = rounds_of_pairs(100_000, 8, seed=3)
    other, _ = rounds_of_pairs(100_000, 8, seed=4)
    np.testing.assert_array_equal(order, again)
    assert not np.array_equal(order, other)
    one, one_cuts = rounds_of_pairs(5, 1, seed=3)
    assert one.tolist() == [0, 1, 2, 3, 4] and one_cuts.tolist() == [0, 5]

def test_rounds_of_pieces_cuts_the_corpus_into_consecutive_parts_by_each_pieces_middle() -> None:
    # Ten pieces of 10 tokens, the corpus's tokens 0..99, in 4 rounds of 25 tokens.
    cuts = rounds_of_pieces(0, np.full(10, 10), 4, 100)
    # Middles 5, 15, 25, ...: pieces 0-1 in round 0, 2-4 in round 1, 5-6 in 2, 7-9 in 3.
    assert cuts.tolist() == [0, 2, 5, 7, 10]
    # A later run of the same corpus (tokens 50..99) starts in round 2.
    assert rounds_of_pieces(50, np.full(5, 10), 4, 100).tolist() == [0, 0, 0, 2, 5]
    # One round holds everything; no pieces, no rounds.
    assert rounds_of_pieces(0, np.array([3, 9]), 1, 12).tolist() == [0, 2]
    assert rounds_of_pieces(0, np.zeros(0, np.int64), 3, 0).tolist() == [0, 0, 0, 0]


# ---------------------------------------------------------------------------
# negatives: routed is exact in expectation, restricted is not
# ---------------------------------------------------------------------------


def _tally_epoch(variant: str, inp, out, block, weights, P: int, negative: int, seed: int) -> np.ndarray:
    V = len(weights)
    start, s_in, s_out = bucket_pairs(inp, out, block, P)
    seg, words, prob, alias, block_noise = block_samplers(weights, block, P)
    n_row = np.bincount(s_in, minlength=V).astype(np.int64)
    w_in = np.zeros((V, 4), np.float32)
    w_out = np.zeros((V, 4), np.float32)
    tally = np.zeros((V, V), np.int64)
    for p in range(P):
        for q in range(P):
            lo, hi = start[p * P + q], start[p * P + q + 1]
            cseed = np.uint64(1000 * seed + 10 * p + q)
            if variant == "attached":
                owed = np.where(block == p, negative * n_row, 0).astype(np.int64)
                train_cell_attached(w_in, w_out, s_in[lo:hi], s_out[lo:hi], owed, float(block_noise[q]),
                                    int(seg[q]), int(seg[q + 1] - seg[q]), words, prob, alias, 0.0, 0.0, cseed,
                                    tally, attached_cap(negative))  # fmt: skip
            elif variant == "routed":
                train_cell_routed(w_in, w_out, s_in[lo:hi], s_out[lo:hi], words[seg[p] : seg[p + 1]], n_row,
                                  float(block_noise[q]), int(seg[q]), int(seg[q + 1] - seg[q]), words, prob, alias,
                                  negative, 0.0, 0.0, cseed, 64, tally)  # fmt: skip
            else:
                train_cell_restricted(w_in, w_out, s_in[lo:hi], s_out[lo:hi], int(seg[q]), int(seg[q + 1] - seg[q]),
                                      words, prob, alias, negative, 0.0, 0.0, cseed, tally)  # fmt: skip
    return tally


def _skewed_example():
    # Block 0 = {0, 1, 2}, block 1 = {3, 4, 5}.  Input 0 co-occurs only with
    # block 0, input 3 mostly with block 1: restricted noise follows that.
    block = np.array([0, 0, 0, 1, 1, 1], dtype=np.int32)
    weights = np.array([5.0, 3.0, 2.0, 4.0, 1.0, 5.0])
    inp = np.array([0] * 300 + [3] * 200 + [3] * 50 + [4] * 100, dtype=np.int32)
    out = np.array([1] * 300 + [4] * 200 + [2] * 50 + [0] * 100, dtype=np.int32)
    return inp, out, block, weights


def _within(tally: np.ndarray, expected: np.ndarray) -> bool:
    return bool(np.all(np.abs(tally - expected) <= 5.0 * np.sqrt(expected) + 2.0))


def test_routed_negative_counts_match_word2vec_expectation() -> None:
    inp, out, block, weights = _skewed_example()
    pi = weights / weights.sum()
    negative, reps = 5, 20
    n_c = np.bincount(inp, minlength=6)
    expected = reps * negative * np.outer(n_c, pi)
    routed = sum(_tally_epoch("routed", inp, out, block, weights, 2, negative, s) for s in range(reps))
    assert _within(routed, expected)
    # Total negatives ~ k per positive.
    assert abs(routed.sum() / (reps * len(inp)) - negative) < 0.05
    # The same tolerance catches the restricted scheme's bias.
    restricted = sum(_tally_epoch("restricted", inp, out, block, weights, 2, negative, s) for s in range(reps))
    assert not _within(restricted, expected)
    assert restricted[0, 3:].sum() == 0  # input 0 never sees block 1's noise


def test_attached_negative_counts_match_word2vec_expectation_too() -> None:
    # Input 0 has no pair in block 1: its block-1 negatives are lone updates.
    inp, out, block, weights = _skewed_example()
    pi = weights / weights.sum()
    negative, reps = 5, 20
    expected = reps * negative * np.outer(np.bincount(inp, minlength=6), pi)
    attached = sum(_tally_epoch("attached", inp, out, block, weights, 2, negative, s) for s in range(reps))
    assert _within(attached, expected)
    assert attached[0, 3:].sum() > 0


def test_attached_negatives_go_with_their_words_pairs() -> None:
    # One word, 3 pairs, 7 negatives owed from a block of one word (9): every
    # pair gets 2 or 3 of them, in one example each, so each pair moves row 0
    # once; the lone word 1 (no pair) gets its 4 as one-term updates.
    w_in = np.full((2, 3), 0.1, np.float32)
    w_out = np.zeros((10, 3), np.float32)
    seg, words, prob, alias, _ = block_samplers(np.r_[np.zeros(9), 1.0], np.zeros(10, np.int32), 1)
    tally = np.zeros((10, 10), np.int64)
    loss, n_neg = train_cell_attached(
        w_in, w_out, np.zeros(3, np.int32), np.array([4, 5, 6], np.int32), np.array([7, 4], np.int64), 1.0,
        0, 10, words, prob, alias, 0.1, 0.1, np.uint64(5), tally, attached_cap(5),
    )  # fmt: skip
    assert n_neg == 11 and tally[0, 9] == 7 and tally[1, 9] == 4
    # Each example's loss, weights before: log 2 per term (all dot products 0 at first).
    assert loss > 3 * 3 * np.log(2.0) * 0.9
    assert np.all(w_out[[4, 5, 6]] > 0) and np.all(w_out[9] < 0)


def test_a_pair_carries_at_most_max_attached_negatives_and_the_surplus_trains_alone() -> None:
    # Word 0 has one pair in the cell but is owed 60 negatives (its other pairs
    # fell elsewhere): the pair's example takes 15, the other 45 are lone
    # one-term updates. With the learning rate 0 nothing moves, so the loss
    # is the one example's: 16 terms of log 2.
    w_in = np.full((1, 3), 0.1, np.float32)
    w_out = np.zeros((10, 3), np.float32)
    seg, words, prob, alias, _ = block_samplers(np.r_[np.zeros(9), 1.0], np.zeros(10, np.int32), 1)
    tally = np.zeros((1, 10), np.int64)
    loss, n_neg = train_cell_attached(
        w_in, w_out, np.zeros(1, np.int32), np.array([4], np.int32), np.array([60], np.int64), 1.0,
        0, 10, words, prob, alias, 0.0, 0.0, np.uint64(5), tally, 15,
    )  # fmt: skip
    assert n_neg == 60 and tally[0, 9] == 60
    assert loss == pytest.approx(16 * np.log(2.0), rel=1e-6)
    assert attached_cap(5) == 15


def test_attached_cell_without_negatives_is_pair_sgd() -> None:
    rng = np.random.default_rng(6)
    w_in = rng.normal(0, 0.3, (6, 5)).astype(np.float32)
    w_out = rng.normal(0, 0.3, (6, 5)).astype(np.float32)
    a_in, a_out = w_in.copy(), w_out.copy()
    inp = rng.integers(0, 6, 50).astype(np.int32)
    out = rng.integers(0, 6, 50).astype(np.int32)
    seg, words, prob, alias, _ = block_samplers(np.ones(6), np.zeros(6, np.int32), 1)
    _, n = train_cell_attached(w_in, w_out, inp, out, np.zeros(6, np.int64), 1.0, 0, 6, words, prob, alias,
                               0.2, 0.05, np.uint64(3), NO_TALLY, attached_cap(5))  # fmt: skip
    assert n == 0
    sgd_pairs(a_in, a_out, inp, out, np.ones(50), 0.2, 0.05)
    np.testing.assert_allclose(w_in, a_in, rtol=0, atol=1e-6)
    np.testing.assert_allclose(w_out, a_out, rtol=0, atol=1e-6)


def test_block_samplers_distribution() -> None:
    weights = np.array([1.0, 9.0, 0.0, 3.0, 3.0, 2.0])
    block = np.array([1, 0, 1, 1, 0, 0], dtype=np.int32)
    seg, words, prob, alias, block_noise = block_samplers(weights, block, 2)
    np.testing.assert_allclose(block_noise, [14 / 18, 4 / 18])
    assert words[seg[0] : seg[1]].tolist() == [1, 4, 5]
    # Draw through the restricted kernel with a big tally (positive = word 2, never drawn).
    V = 6
    tally = np.zeros((V, V), np.int64)
    w = np.zeros((V, 2), np.float32)
    n = 20000
    train_cell_restricted(w, w.copy(), np.zeros(n, np.int32), np.full(n, 2, np.int32), int(seg[1]),
                          int(seg[2] - seg[1]), words, prob, alias, 1, 0.0, 0.0, np.uint64(9), tally)  # fmt: skip
    np.testing.assert_allclose(tally[0] / n, [0.25, 0, 0, 0.75, 0, 0], atol=0.015)


# ---------------------------------------------------------------------------
# the SGD updates
# ---------------------------------------------------------------------------


def test_sgd_pairs_matches_numpy_steps() -> None:
    rng = np.random.default_rng(4)
    w_in = rng.normal(0, 0.3, (5, 8)).astype(np.float32)
    w_out = rng.normal(0, 0.3, (5, 8)).astype(np.float32)
    inp = np.array([1, 1, 3, 1], np.int32)
    out = np.array([2, 4, 2, 2], np.int32)
    label = np.array([1.0, 0.0, 1.0, 0.0])
    ref_in, ref_out = w_in.astype(np.float64), w_out.astype(np.float64)
    for i in range(4):
        alpha = 0.5 + (0.1 - 0.5) * i / 4
        h, u = ref_in[inp[i]].copy(), ref_out[out[i]].copy()
        g = alpha * (label[i] - _sigmoid(h @ u))
        ref_in[inp[i]] = h + g * u
        ref_out[out[i]] = u + g * h
    sgd_pairs(w_in, w_out, inp, out, label, 0.5, 0.1)
    np.testing.assert_allclose(w_in, ref_in, atol=1e-5)
    np.testing.assert_allclose(w_out, ref_out, atol=1e-5)


def test_restricted_cell_is_one_word2vec_example() -> None:
    rng = np.random.default_rng(5)
    w_in = rng.normal(0, 0.3, (4, 6)).astype(np.float32)
    w_out = rng.normal(0, 0.3, (4, 6)).astype(np.float32)
    # Block 1 = {2, 3}; word 2 has no noise weight, so all 3 negatives are word 3.
    block = np.array([0, 0, 1, 1], np.int32)
    seg, words, prob, alias, _ = block_samplers(np.array([1.0, 1.0, 0.0, 2.0]), block, 2)
    h = w_in[0].astype(np.float64)
    u = w_out.astype(np.float64)
    alpha = 0.3
    work = np.zeros(6)
    for t, lab in ((2, 1.0), (3, 0.0), (3, 0.0), (3, 0.0)):
        g = alpha * (lab - _sigmoid(h @ u[t]))
        work += g * u[t]
        u[t] = u[t] + g * h
    ref_h = h + work
    _, n_neg = train_cell_restricted(w_in, w_out, np.array([0], np.int32), np.array([2], np.int32), int(seg[1]),
                                     2, words, prob, alias, 3, alpha, 0.0, np.uint64(1), NO_TALLY)  # fmt: skip
    assert n_neg == 3
    np.testing.assert_allclose(w_in[0], ref_h, atol=1e-5)
    np.testing.assert_allclose(w_out, u, atol=1e-5)


def test_routed_cell_without_negatives_is_pair_sgd() -> None:
    rng = np.random.default_rng(6)
    w_in = rng.normal(0, 0.3, (6, 5)).astype(np.float32)
    w_out = rng.normal(0, 0.3, (6, 5)).astype(np.float32)
    a_in, a_out = w_in.copy(), w_out.copy()
    inp = rng.integers(0, 6, 50).astype(np.int32)
    out = rng.integers(0, 6, 50).astype(np.int32)
    seg, words, prob, alias, _ = block_samplers(np.ones(6), np.zeros(6, np.int32), 1)
    zero_rows = np.zeros(6, np.int64)
    n = train_cell_routed(w_in, w_out, inp, out, words, zero_rows, 1.0, 0, 6, words, prob, alias, 5, 0.2, 0.05,
                          np.uint64(3), 16, NO_TALLY)  # fmt: skip
    assert n == 0
    sgd_pairs(a_in, a_out, inp, out, np.ones(50), 0.2, 0.05)
    np.testing.assert_array_equal(w_in, a_in)
    np.testing.assert_array_equal(w_out, a_out)


# ---------------------------------------------------------------------------
# the whole epoch
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["routed", "restricted"])
def test_simulate_epoch_deterministic_per_seed(variant: str) -> None:
    rng = np.random.default_rng(7)
    V = 40
    counts = np.sort(rng.integers(5, 500, V))[::-1].astype(np.int64)
    ids = rng.choice(V, 3000, p=counts / counts.sum()).astype(np.int32)
    offsets = np.array([0, 1000, 2000, 3000], np.int64)
    keep = np.minimum(1.0, 200.0 / counts).astype(np.float32)

    def run(seed: int):
        w_in = rng_w.normal(0, 0.01, (V, 8)).astype(np.float32)
        w_out = np.zeros((V, 8), np.float32)
        st = simulate_epoch(w_in, w_out, ids, offsets, keep, counts, n_blocks=4, variant=variant, window=3,
                            negative=5, alpha_start=0.025, alpha_end=0.01, seed=seed, epoch=0, chunk=100)  # fmt: skip
        return w_in, w_out, st

    rng_w = np.random.default_rng(0)
    a = run(1)
    rng_w = np.random.default_rng(0)
    b = run(1)
    rng_w = np.random.default_rng(0)
    c = run(2)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    assert a[2]["pairs"] > 0 and a[2]["blocks"] == 4
    assert 4.0 < a[2]["negatives"] / a[2]["pairs"] <= 5.5


def test_simulate_epoch_rounds_same_pairs_and_deterministic() -> None:
    rng = np.random.default_rng(8)
    V = 30
    counts = np.sort(rng.integers(5, 300, V))[::-1].astype(np.int64)
    ids = rng.choice(V, 2000, p=counts / counts.sum()).astype(np.int32)
    offsets = np.array([0, 1000, 2000], np.int64)
    keep = np.ones(V, np.float32)
    out = []
    for rounds in (1, 3, 3):
        w_in = np.random.default_rng(0).normal(0, 0.01, (V, 4)).astype(np.float32)
        w_out = np.zeros((V, 4), np.float32)
        st = simulate_epoch(w_in, w_out, ids, offsets, keep, counts, n_blocks=3, variant="routed", window=2,
                            negative=2, alpha_start=0.025, alpha_end=0.01, seed=4, epoch=1, rounds=rounds)  # fmt: skip
        out.append((w_in, st))
    assert out[0][1]["pairs"] == out[1][1]["pairs"] and out[1][1]["rounds"] == 3
    np.testing.assert_array_equal(out[1][0], out[2][0])
    assert not np.array_equal(out[0][0], out[1][0])
