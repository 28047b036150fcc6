"""The merge rule of parameter averaging, on hand-made replicas (no Spark)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from embedpipe.averaging import (
    DivergenceError,
    ParamGroup,
    RoundInfo,
    _replica_batches,
    _stats_batch,
    check_finite,
    merge_replicas,
    round_stats,
)

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


def test_non_finite_parameters_stop_training_with_advice():
    state = fresh_state()
    state["W"][2, 1] = np.inf
    with pytest.raises(DivergenceError, match=r"glove training diverged in epoch 3.*\['W'\].*Lower the rate"):
        check_finite(state, 2, "glove", "Lower the rate.", "")
