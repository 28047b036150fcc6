"""assign_rounds: a partition's pieces spread over the rounds of an epoch."""

from __future__ import annotations

import numpy as np

from embedpipe.kernels.rounds import assign_rounds


def test_each_piece_goes_to_the_round_holding_the_fewest_tokens_so_far():
    held = np.zeros(3, dtype=np.int64)
    rounds = assign_rounds(np.array([5, 2, 2, 1, 4, 3], dtype=np.int64), held)
    # 5 -> r0; 2 -> r1; 2 -> r2; 1 -> r1 (2 < 5, ties go low); 4 -> r2 (2 < 3 < 5); 3 -> r1 (3 < 5 < 6)
    assert rounds.tolist() == [0, 1, 2, 1, 2, 1]
    assert held.tolist() == [5, 6, 6]


def test_rounds_stay_within_one_piece_of_each_other_where_hashing_would_not():
    rng = np.random.default_rng(7)
    lengths = rng.integers(1, 10_001, 400).astype(np.int64)
    rounds = 16
    held = np.zeros(rounds, dtype=np.int64)
    assigned = assign_rounds(lengths, held)

    tokens = np.bincount(assigned, weights=lengths, minlength=rounds)
    assert tokens.max() - tokens.min() <= lengths.max()
    np.testing.assert_array_equal(tokens, held)
    # hashing the same pieces to rounds leaves the largest round far above the mean
    hashed = np.bincount(rng.integers(0, rounds, len(lengths)), weights=lengths, minlength=rounds)
    assert hashed.max() / hashed.mean() > 1.15 > tokens.max() / tokens.mean()


def test_a_partition_arriving_in_batches_gets_the_same_rounds_as_in_one_piece():
    rng = np.random.default_rng(8)
    lengths = rng.integers(1, 500, 1000).astype(np.int64)
    whole = assign_rounds(lengths, np.zeros(8, dtype=np.int64))
    held = np.zeros(8, dtype=np.int64)
    batched = np.concatenate([assign_rounds(part, held) for part in np.array_split(lengths, 7)])
    np.testing.assert_array_equal(whole, batched)


def test_no_pieces_give_no_rounds_and_leave_the_totals_alone():
    held = np.array([3, 1], dtype=np.int64)
    assert assign_rounds(np.empty(0, dtype=np.int64), held).shape == (0,)
    assert held.tolist() == [3, 1]
