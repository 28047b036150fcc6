"""The merge rule of parameter averaging, on hand-made replicas (no Spark)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from embedpipe.errors import DivergenceError
from embedpipe.training.averaging import _nonfinite, _replica_batches, _stats_batch, round_stats
from embedpipe.training.loop import Health, ParamGroup, RoundInfo
from embedpipe.training.merge import clipped_sum_floor, merge_replicas

GROUP = ParamGroup("w", ("W", "b"))


def replica(state, rows, touches, new_values):
    """What one partition sends back after changing `rows` of W (and b) to new_values."""
    values = np.hstack([new_values, np.full((len(rows), 1), 7.0, np.float32)])
    return list(_replica_batches(GROUP, np.asarray(rows), np.asarray(touches), values.astype(np.float32)))


def table(*replicas, stats=()):
    batches = [b for r in replicas for b in r] + [_stats_batch(s) for s in stats]
    return pa.Table.from_batches(batches)


def fresh_state():
    return {"W": np.zeros((4, 2), np.float32), "b": np.zeros(4, np.float32)}


def test_average_takes_the_mean_over_the_partitions_that_touched_each_row():
    state = fresh_state()
    a = replica(state, [0, 1], [1, 1], np.array([[2, 2], [4, 4]], np.float32))
    b = replica(state, [1, 2], [5, 1], np.array([[8, 8], [6, 6]], np.float32))
    touched = merge_replicas(state, [GROUP], table(a, b), "average")
    np.testing.assert_allclose(state["W"], [[2, 2], [6, 6], [6, 6], [0, 0]])
    np.testing.assert_allclose(state["b"], [7, 7, 7, 0])  # accumulators/biases averaged alike
    np.testing.assert_array_equal(touched["w"], [1, 2, 1, 0])


def test_touch_weighted_weights_each_replicas_change_by_its_touch_count():
    state = fresh_state()
    a = replica(state, [1], [1], np.array([[4, 4]], np.float32))
    b = replica(state, [1], [3], np.array([[8, 8]], np.float32))
    merge_replicas(state, [GROUP], table(a, b), "touch_weighted")
    # (1·4 + 3·8) / 4 = 7, where plain averaging would give 6.
    np.testing.assert_allclose(state["W"][1], [7, 7])
    np.testing.assert_allclose(state["W"][0], [0, 0])


def test_a_row_touched_by_one_replica_takes_its_value_under_both_rules():
    for rule in ("average", "touch_weighted"):
        state = fresh_state()
        merge_replicas(state, [GROUP], table(replica(state, [3], [9], np.array([[1, -1]], np.float32))), rule)
        np.testing.assert_allclose(state["W"][3], [1, -1])


# clipped_sum needs skip-gram's two one-matrix groups: w_in rows are measured
# against the w_out rows they train with and vice versa.
IN, OUT = ParamGroup("in", ("w_in",)), ParamGroup("out", ("w_out",))


def sg_state():
    """w_out row 0 = (1, 0): the only partner, so an in-row's logit change is its x change."""
    w_out = np.zeros((4, 2), np.float32)
    w_out[0] = [1, 0]
    return {"w_in": np.zeros((4, 2), np.float32), "w_out": w_out}


def sg_replica(state, in_rows, in_new):
    """One partition: moved `in_rows` of w_in to in_new, touched w_out row 0 (unchanged) 5 times."""
    rows = np.asarray(in_rows)
    return list(_replica_batches(IN, rows, np.full(len(rows), 3), np.asarray(in_new, np.float32))) + list(
        _replica_batches(OUT, np.array([0]), np.array([5]), state["w_out"][[0]])
    )


@pytest.mark.parametrize("floor", [1.0, 4.0])
def test_clipped_sum_sums_small_changes_and_caps_saturated_ones_at_one_replicas_move(floor):
    state = sg_state()
    # `floor`: the logits a merged change may always move.
    # Row 0: each replica moved the logit by 0.1 -> linear regime -> the sum (0.2).
    # Row 1: each moved it by 2·floor -> saturated -> capped at 2·floor (the average), not 4·floor.
    # Row 2: each moved it by 0.8·floor -> the sum 1.6·floor is capped at the floor.
    moves = [[0.1, 0], [2 * floor, 0], [0.8 * floor, 0]]
    a = sg_replica(state, [0, 1, 2], moves)
    b = sg_replica(state, [0, 1, 2], moves)
    touched = merge_replicas(state, [IN, OUT], table(a, b), "clipped_sum", floor=floor)
    np.testing.assert_allclose(state["w_in"], [[0.2, 0], [2 * floor, 0], [floor, 0], [0, 0]], rtol=1e-6)
    np.testing.assert_allclose(state["w_out"], [[1, 0], [0, 0], [0, 0], [0, 0]])
    np.testing.assert_array_equal(touched["in"], [2, 2, 2, 0])
    np.testing.assert_array_equal(touched["out"], [2, 0, 0, 0])


def test_the_clipped_sum_floor_is_4_logits_at_2_partitions_and_1_from_8_on():
    # Chosen at 2 and 8 partitions on wiki17m and checked at 4 (README, skip-gram).
    assert [clipped_sum_floor(p) for p in (1, 2, 4, 8, 16)] == [8.0, 4.0, 2.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="partitions must be >= 1"):
        clipped_sum_floor(0)


def test_clipped_sum_measures_moves_in_logits_not_in_length():
    state = sg_state()
    # Both replicas made the same long move, but y is orthogonal to every
    # partner: the logits moved by 0.1 only, so the sum is kept whole (a cap
    # on the length would have averaged it to (0.1, 5)).
    a = sg_replica(state, [1], [[0.1, 5]])
    b = sg_replica(state, [1], [[0.1, 5]])
    merge_replicas(state, [IN, OUT], table(a, b), "clipped_sum")
    np.testing.assert_allclose(state["w_in"][1], [0.2, 10], rtol=1e-6)


def test_clipped_sum_keeps_a_single_replicas_change_and_uses_the_other_matrix_as_partners():
    state = sg_state()
    state["w_in"][3] = [0, 2]  # out-rows are measured against w_in rows after the round
    one = list(_replica_batches(IN, np.array([3]), np.array([4]), np.array([[0, 2]], np.float32)))
    out_a = list(_replica_batches(OUT, np.array([2]), np.array([1]), np.array([[1, 3]], np.float32)))
    out_b = list(_replica_batches(OUT, np.array([2]), np.array([1]), np.array([[1, 3]], np.float32)))
    merge_replicas(state, [IN, OUT], table(one, out_a, out_b), "clipped_sum")
    # Partner (0, 2): the y change 3 moves the logit by 6 per replica, the sum by 12 -> capped at 6:
    # factor 1/2, so the x change (1 + 1, invisible to the partner) is halved with it.
    np.testing.assert_allclose(state["w_out"][2], [1, 3], rtol=1e-6)
    np.testing.assert_allclose(state["w_in"][3], [0, 2])


def test_clipped_sum_needs_the_two_skipgram_groups():
    state = fresh_state()
    with pytest.raises(ValueError, match="two one-matrix groups"):
        merge_replicas(state, [GROUP], table(replica(state, [0], [1], np.ones((1, 2), np.float32))), "clipped_sum")


def test_round_stats_are_summed_over_partitions():
    t = table(stats=[{"loss": 1.5, "words": 10}, {"loss": 2.0, "words": 30}])
    assert round_stats(t) == {"loss": 3.5, "words": 40.0}


def test_task_seeds_differ_by_partition_epoch_and_round_and_repeat():
    seeds = {
        RoundInfo(epoch=e, round=r, rounds_per_epoch=2, epochs=2, num_partitions=2, seed=1).task_seed(p)
        for e in range(2)
        for r in range(2)
        for p in range(2)
    }
    assert len(seeds) == 8
    info = RoundInfo(epoch=1, round=0, rounds_per_epoch=2, epochs=2, num_partitions=2, seed=1)
    assert info.task_seed(1) == RoundInfo(1, 0, 2, 2, 2, 1).task_seed(1)


def test_non_finite_merged_parameters_are_counted_for_the_health_check():
    state = fresh_state()
    assert _nonfinite(state) == 0
    state["W"][2, 1] = np.inf
    state["b"][0] = np.nan
    assert _nonfinite(state) == 2
    with pytest.raises(DivergenceError, match=r"glove training diverged in epoch 3: parameters became NaN"):
        Health("Lower the rate.", lambda: "").check("glove", 2, {"cost": 1.0, "entries": 1.0, "nonfinite": 2.0},
                                                    "cost", "entries")  # fmt: skip
