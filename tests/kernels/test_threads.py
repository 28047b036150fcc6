"""Kernels on several threads: Hogwild training and the helpers under it (pure numpy, no Spark)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from embedpipe.kernels.glove import glove_epoch, glove_epoch_hogwild, init_params, shuffled_order
from embedpipe.kernels.sgns import build_noise_cdf, init_weights, sgns_train_chunk, sgns_train_hogwild
from embedpipe.kernels.threads import run_parallel, split_by_weight


def test_split_by_weight_cuts_at_unit_boundaries_into_about_equal_parts() -> None:
    lengths = np.array([5, 1, 1, 1, 5, 3, 4, 0, 2], np.int64)
    cumulative = np.concatenate([[0], np.cumsum(lengths)])
    cuts = split_by_weight(cumulative, 3)
    assert cuts[0] == 0 and cuts[-1] == len(lengths)
    assert np.all(np.diff(cuts) >= 0)
    weights = [int(cumulative[b] - cumulative[a]) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    assert sum(weights) == cumulative[-1]
    assert max(weights) - min(weights) <= lengths.max()


def test_split_by_weight_with_more_parts_than_units_leaves_some_parts_empty() -> None:
    cuts = split_by_weight(np.array([0, 10, 20], np.int64), 4)
    assert list(cuts[[0, -1]]) == [0, 2] and np.all(np.diff(cuts) >= 0)
    assert list(split_by_weight(np.array([0], np.int64), 2)) == [0, 0, 0]
    with pytest.raises(ValueError, match="parts must be >= 1"):
        split_by_weight(np.array([0, 1], np.int64), 0)


def test_run_parallel_runs_jobs_at_once_and_keeps_their_order() -> None:
    # Two jobs that each wait for the other can only finish if they run at once.
    barrier = threading.Barrier(2, timeout=10)

    def job(k: int) -> int:
        barrier.wait()
        return k * 10

    assert run_parallel([lambda: job(1), lambda: job(2)], threads=2) == [10, 20]
    assert run_parallel([lambda: 1, lambda: 2, lambda: 3], threads=1) == [1, 2, 3]


def test_run_parallel_raises_a_jobs_error() -> None:
    def bad() -> int:
        raise RuntimeError("kernel failed")

    with pytest.raises(RuntimeError, match="kernel failed"):
        run_parallel([lambda: 1, bad], threads=2)


def _topics(n_sent: int = 400, sent_len: int = 20, per_topic: int = 20) -> tuple[np.ndarray, np.ndarray, int]:
    rng = np.random.default_rng(0)
    topic = rng.integers(0, 2, size=n_sent)
    ids = (rng.integers(0, per_topic, size=(n_sent, sent_len)) + topic[:, None] * per_topic).astype(np.int32)
    return ids.ravel(), np.arange(0, n_sent * sent_len + 1, sent_len, dtype=np.int64), 2 * per_topic


def _separation(w: np.ndarray, per_topic: int) -> float:
    x = w.astype(np.float64) / np.linalg.norm(w, axis=1, keepdims=True)
    sim = x @ x.T
    topic = np.arange(len(w)) // per_topic
    same = (topic[:, None] == topic[None, :]) & ~np.eye(len(w), dtype=bool)
    return float(sim[same].mean() - sim[topic[:, None] != topic[None, :]].mean())


def _sgns(threads: int, epochs: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[float], int]:
    ids, offsets, v = _topics()
    cdf = build_noise_cdf(np.bincount(ids, minlength=v).astype(np.int64))
    keep = np.ones(v, np.float32)
    w_in, w_out = init_weights(v, 16, seed=3)
    t_in, t_out = np.zeros(v, np.int64), np.zeros(v, np.int64)
    per_pair, total_pairs = [], 0
    for ep in range(epochs):
        a0, a1 = 0.01 * (1 - ep / epochs), 0.01 * (1 - (ep + 1) / epochs) + 1e-4
        loss, words, pairs = sgns_train_hogwild(
            w_in, w_out, ids, offsets, keep, cdf, 3, 5, a0, a1, 100 + ep, False, t_in, t_out, threads
        )
        assert words == len(ids)
        per_pair.append(loss / pairs)
        total_pairs += pairs
    return w_in, t_in, t_out, per_pair, total_pairs


def test_sgns_hogwild_on_one_thread_is_the_chunk_kernel() -> None:
    ids, offsets, v = _topics(n_sent=50)
    cdf = build_noise_cdf(np.bincount(ids, minlength=v).astype(np.int64))
    keep = np.ones(v, np.float32)
    runs = []
    for train in (sgns_train_chunk, lambda *a: sgns_train_hogwild(*a, 1)):
        w_in, w_out = init_weights(v, 8, seed=1)
        t_in, t_out = np.zeros(v, np.int64), np.zeros(v, np.int64)
        got = train(w_in, w_out, ids, offsets, keep, cdf, 3, 5, 0.02, 0.01, 7, False, t_in, t_out)
        runs.append((got, w_in, w_out, t_in))
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1:], runs[1][1:], strict=True):
        np.testing.assert_array_equal(a, b)


def test_sgns_hogwild_on_two_threads_learns_as_one_thread_does_and_counts_every_update() -> None:
    one = _sgns(threads=1)
    two = _sgns(threads=2)
    for w_in, t_in, t_out, per_pair, pairs in (one, two):
        assert per_pair[-1] < 0.8 * per_pair[0], per_pair
        assert _separation(w_in, 20) > 0.3
        # Skip-gram updates one input row per pair: the threads' counters all arrive.
        assert t_in.sum() == pairs
        assert t_out.sum() > pairs  # the positive row, plus the negatives
    # Same data, same schedule: the threads' loss tracks one thread's.
    assert abs(two[3][-1] - one[3][-1]) < 0.1 * one[3][-1]


def _glove_problem() -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    rng = np.random.default_rng(5)
    v = 60
    rows, cols = np.meshgrid(np.arange(v, dtype=np.int32), np.arange(v, dtype=np.int32), indexing="ij")
    same_topic = (rows // 30) == (cols // 30)
    vals = np.where(same_topic, 20.0, 0.5) * rng.uniform(0.5, 1.5, size=rows.shape)
    return rows.ravel().copy(), cols.ravel().copy(), vals.ravel().astype(np.float64), v


def _glove(threads: int, epochs: int = 15) -> tuple[dict[str, np.ndarray], list[float], np.ndarray]:
    rows, cols, vals, v = _glove_problem()
    p = init_params(v, 8, seed=2)
    touch_w, touch_c = np.zeros(v, np.int64), np.zeros(v, np.int64)
    costs = []
    for ep in range(epochs):
        order = shuffled_order(len(vals), ep)
        cost = glove_epoch_hogwild(
            p["W"], p["Wc"], p["b"], p["bc"], p["gW"], p["gWc"], p["gb"], p["gbc"],
            rows, cols, vals, order, 100.0, 0.75, 0.05, 100.0, touch_w, touch_c, threads,
        )  # fmt: skip
        costs.append(cost / len(vals))
    assert touch_w.sum() == touch_c.sum() == epochs * len(vals)
    return p, costs, touch_w


def test_glove_hogwild_on_one_thread_is_the_epoch_kernel() -> None:
    rows, cols, vals, v = _glove_problem()
    order = shuffled_order(len(vals), 0)
    got = []
    for threads in (None, 1):
        p = init_params(v, 8, seed=2)
        touch = (np.zeros(v, np.int64), np.zeros(v, np.int64))
        args = (p["W"], p["Wc"], p["b"], p["bc"], p["gW"], p["gWc"], p["gb"], p["gbc"], rows, cols, vals, order,
                100.0, 0.75, 0.05, 100.0, *touch)  # fmt: skip
        cost = glove_epoch(*args) if threads is None else glove_epoch_hogwild(*args, threads)
        got.append((cost, p["W"]))
    assert got[0][0] == got[1][0]
    np.testing.assert_array_equal(got[0][1], got[1][1])


def test_glove_hogwild_on_two_threads_fits_the_matrix_as_one_thread_does() -> None:
    _, one, _ = _glove(threads=1)
    p, two, _ = _glove(threads=2)
    assert two[-1] < 0.2 * two[0], two
    assert abs(two[-1] - one[-1]) < 0.25 * one[-1] + 1e-3
    assert _separation(p["W"] + p["Wc"], 30) > 0.3
