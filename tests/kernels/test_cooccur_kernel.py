"""Tests for embedpipe.kernels.cooccur against a pure-Python reference."""

from __future__ import annotations

import tracemalloc
from collections import defaultdict
from collections.abc import Iterable

import numpy as np
import pytest

from embedpipe.kernels.cooccur import (
    BYTES_PER_BUFFER_ENTRY,
    estimate_pairs,
    iter_cooccurrence_triples,
    pack_by_bucket,
    plan_cooccurrence_memory,
    sum_partial_counts,
)


def brute_force_cooccurrence(
    sentences: list[list[int]], window: int, harmonic: bool
) -> dict[tuple[int, int], float]:
    """Reference GloVe symmetric counts (cooccur.c semantics), one pair at a time.

    For positions ``p < q`` in the same sentence with ``d = q - p <= window``
    add ``w(d)`` to ``X[a, b]`` and to ``X[b, a]`` (so a repeated word adds
    ``2 w(d)`` to its diagonal cell).
    """
    counts: dict[tuple[int, int], float] = defaultdict(float)
    for sent in sentences:
        for q in range(len(sent)):
            for p in range(max(0, q - window), q):
                w = 1.0 / (q - p) if harmonic else 1.0
                a, b = int(sent[p]), int(sent[q])
                counts[(a, b)] += w
                counts[(b, a)] += w
    return dict(counts)


def _flatten(sentences: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    ids = np.array([t for s in sentences for t in s], dtype=np.int32)
    offsets = np.zeros(len(sentences) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(s) for s in sentences])
    return ids, offsets


def _collect(
    batches: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]], vocab_size: int
) -> tuple[dict[tuple[int, int], float], int]:
    """Sum all batches per (i, j), checking the per-batch contract on the way."""
    total: dict[tuple[int, int], float] = defaultdict(float)
    n_batches = 0
    for i, j, x in batches:
        n_batches += 1
        assert i.dtype == np.int32 and j.dtype == np.int32 and x.dtype == np.float64
        assert len(i) == len(j) == len(x) > 0
        keys = i.astype(np.int64) * vocab_size + j
        assert np.all(np.diff(keys) > 0), "pairs within a batch must be unique and sorted"
        assert np.all(x > 0)
        for a, b, c in zip(i.tolist(), j.tolist(), x.tolist(), strict=True):
            total[(a, b)] += c
    return dict(total), n_batches


def _assert_same(got: dict, ref: dict) -> None:
    assert set(got) == set(ref)
    for k, v in ref.items():
        assert got[k] == pytest.approx(v, rel=1e-12, abs=1e-9), k


def _random_corpus(rng: np.random.Generator, vocab_size: int, n_sent: int) -> list[list[int]]:
    # Small vocabularies make repeated words (diagonal cells) common.
    return [
        rng.integers(0, vocab_size, size=int(rng.integers(0, 25))).tolist() for _ in range(n_sent)
    ]


@pytest.mark.parametrize("harmonic", [True, False])
@pytest.mark.parametrize("window", [1, 2, 3, 4, 5])
def test_matches_brute_force(window: int, harmonic: bool) -> None:
    rng = np.random.default_rng(100 * window + harmonic)
    for _ in range(6):
        vocab_size = int(rng.integers(1, 40))
        sentences = _random_corpus(rng, vocab_size, int(rng.integers(1, 12)))
        ids, offsets = _flatten(sentences)
        ref = brute_force_cooccurrence(sentences, window, harmonic)
        # None, all-sparse, partly dense and all-dense must agree exactly.
        for dense_words in (None, 0, vocab_size // 3, vocab_size):
            got, _ = _collect(
                iter_cooccurrence_triples(
                    ids, offsets, vocab_size, window, harmonic, 1 << 20, dense_words
                ),
                vocab_size,
            )
            _assert_same(got, ref)


def test_sentence_boundaries_and_diagonal() -> None:
    sentences = [[0, 1], [2, 3], [4, 4, 4]]
    ids, offsets = _flatten(sentences)
    got, _ = _collect(iter_cooccurrence_triples(ids, offsets, 5, 5, True, 1 << 20, 0), 5)
    # Nothing across the break between "0 1" and "2 3".
    assert (1, 2) not in got and (2, 1) not in got and (0, 3) not in got
    assert got[(0, 1)] == got[(1, 0)] == 1.0
    # Diagonal: pairs (p, q) = (0,1), (1,2) at d=1 and (0,2) at d=2 -> 2*(1 + 1 + 1/2).
    assert got[(4, 4)] == pytest.approx(5.0)
    _assert_same(got, brute_force_cooccurrence(sentences, 5, True))


def test_empty_sentences_and_empty_input() -> None:
    ids, offsets = _flatten([[], [1], [], [2, 2], []])
    got, _ = _collect(iter_cooccurrence_triples(ids, offsets, 3, 2, False, 1 << 20), 3)
    assert got == {(2, 2): 2.0}
    empty = iter_cooccurrence_triples(
        np.empty(0, np.int32), np.zeros(1, np.int64), 10, 3, True, 1 << 20
    )
    assert list(empty) == []


def test_int64_ids_and_offsets_with_unused_tail() -> None:
    sentences = [[1, 2, 3, 1], [3, 3]]
    ids, offsets = _flatten(sentences)
    got, _ = _collect(
        iter_cooccurrence_triples(ids.astype(np.int64), offsets, 4, 2, True, 1 << 20, 2), 4
    )
    _assert_same(got, brute_force_cooccurrence(sentences, 2, True))


def test_tiny_budget_forces_many_flushes_within_budget() -> None:
    rng = np.random.default_rng(7)
    vocab_size = 300
    # Zipf-like ids so that both the dense block and the buffer are exercised.
    p = 1.0 / np.arange(1, vocab_size + 1)
    p /= p.sum()
    sentences = [
        rng.choice(vocab_size, size=int(rng.integers(1, 60)), p=p).tolist() for _ in range(150)
    ]
    ids, offsets = _flatten(sentences)
    window = 4
    budget = 200_000
    plan = plan_cooccurrence_memory(len(ids), vocab_size, window, budget, 20)
    assert plan.peak_bytes <= budget
    assert plan.dense_bytes + plan.buffer_bytes <= budget
    assert plan.buffer_bytes == BYTES_PER_BUFFER_ENTRY * plan.capacity
    # The buffer must be much smaller than the increments to force flushes.
    assert plan.capacity * 4 < estimate_pairs(len(ids), window)

    # Warm up compilation outside the traced region.
    list(iter_cooccurrence_triples(ids[:10], np.array([0, 10]), vocab_size, window, True, budget))
    # Batches are copied into arrays allocated *before* tracing starts, so the
    # traced peak is the kernel's own footprint: numpy reports its buffers to
    # tracemalloc (dense block, pair buffer, sort scratch, output batches).
    room = estimate_pairs(len(ids), window)
    all_i = np.empty(room, np.int32)
    all_j = np.empty(room, np.int32)
    all_x = np.empty(room, np.float64)
    bounds = np.zeros(room + 1, np.int64)
    n_batches = 0
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        for i, j, x in iter_cooccurrence_triples(
            ids, offsets, vocab_size, window, True, budget, 20
        ):
            lo = bounds[n_batches]
            hi = lo + len(x)
            all_i[lo:hi] = i
            all_j[lo:hi] = j
            all_x[lo:hi] = x
            n_batches += 1
            bounds[n_batches] = hi
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= budget, (peak, budget)
    # Sanity check that tracing saw the kernel's arrays at all.
    assert peak >= plan.dense_bytes + 16 * plan.capacity
    assert n_batches >= 5
    batches = [
        (all_i[lo:hi], all_j[lo:hi], all_x[lo:hi])
        for lo, hi in zip(bounds[:n_batches], bounds[1 : n_batches + 1], strict=True)
    ]
    assert max(len(b[0]) for b in batches) <= max(plan.capacity, plan.dense_batch)
    got, _ = _collect(batches, vocab_size)
    _assert_same(got, brute_force_cooccurrence(sentences, window, True))


def test_sentence_longer_than_buffer() -> None:
    rng = np.random.default_rng(3)
    vocab_size, window, n = 2_000, 10, 10_000
    sentence = rng.integers(0, vocab_size, size=n).tolist()
    ids, offsets = _flatten([sentence])
    budget = 400_000
    plan = plan_cooccurrence_memory(n, vocab_size, window, budget, 0)
    assert plan.capacity < estimate_pairs(n, window) // 10
    got, n_batches = _collect(
        iter_cooccurrence_triples(ids, offsets, vocab_size, window, False, budget, 0), vocab_size
    )
    assert n_batches > 10
    # Uniform weights: every pair (p, q) contributes 2.
    pairs = window * n - window * (window + 1) // 2
    assert sum(got.values()) == pytest.approx(2.0 * pairs)
    _assert_same(got, brute_force_cooccurrence([sentence], window, False))


def test_plan_defaults() -> None:
    budget = 256 * 2**20
    plan = plan_cooccurrence_memory(2_000_000, 70_000, 10, budget)
    # A quarter of the budget for the dense block by default.
    assert plan.dense_bytes <= budget // 4
    assert plan.dense_words == int(np.sqrt(budget / 4 / 8))
    assert plan.peak_bytes <= budget
    # Small inputs do not get a block larger than their increments.
    small = plan_cooccurrence_memory(1_000, 70_000, 10, budget)
    assert small.dense_words**2 <= estimate_pairs(1_000, 10)
    assert small.capacity <= estimate_pairs(1_000, 10) + 40
    assert estimate_pairs(7, 3) == 42


def test_invalid_inputs() -> None:
    ids, offsets = _flatten([[0, 1, 2]])
    with pytest.raises(ValueError):
        iter_cooccurrence_triples(ids, offsets, 2, 2, True, 1 << 20)  # id 2 >= V
    with pytest.raises(ValueError):
        iter_cooccurrence_triples(ids, np.array([0, 5]), 3, 2, True, 1 << 20)  # past end
    with pytest.raises(ValueError):
        iter_cooccurrence_triples(ids, np.array([0, 2, 1, 3]), 3, 2, True, 1 << 20)
    with pytest.raises(ValueError):
        iter_cooccurrence_triples(ids, offsets, 3, 0, True, 1 << 20)
    with pytest.raises(ValueError):
        iter_cooccurrence_triples(ids, offsets, 3, 2, True, 1_000)  # budget too small
    with pytest.raises(ValueError):
        # An explicit dense block that does not fit is an error, not silently shrunk.
        plan_cooccurrence_memory(10_000, 50_000, 5, 1 << 20, dense_words=10_000)


def test_many_tasks_partial_counts_packed_by_bucket_and_summed_give_the_exact_matrix() -> None:
    # Four "tasks" count their own sentences within a tiny budget (many
    # flushes, so the same pair leaves a task several times); each bucket's
    # partial counts, from every task, sum to that bucket's rows of the
    # matrix, sorted, each (i, j) once.
    rng = np.random.default_rng(3)
    vocab_size, buckets = 40, 3
    corpus = _random_corpus(rng, vocab_size, 400)
    per_bucket: dict[int, list[tuple[np.ndarray, np.ndarray]]] = defaultdict(list)
    for task in range(4):
        ids, offsets = _flatten(corpus[task::4])
        batches = list(iter_cooccurrence_triples(ids, offsets, vocab_size, 3, True, 131_072 + 4096, dense_words=5))
        assert len(batches) > 10, "the tiny budget must make a task flush many times"
        for i, j, x in batches:
            keys, vals, offsets_b = pack_by_bucket(i, j, x, vocab_size, buckets)
            for b in range(buckets):
                part = slice(offsets_b[b], offsets_b[b + 1])
                assert np.all(keys[part] // vocab_size % buckets == b)
                assert np.all(np.diff(keys[part]) > 0), "a sorted batch stays sorted within its bucket"
                per_bucket[b].append((keys[part].copy(), vals[part].copy()))
    got: dict[tuple[int, int], float] = {}
    for b, parts in per_bucket.items():
        i, j, x = sum_partial_counts(
            np.concatenate([k for k, _ in parts]), np.concatenate([v for _, v in parts]), vocab_size
        )
        assert i.dtype == np.int32 and j.dtype == np.int32 and x.dtype == np.float64
        keys = i.astype(np.int64) * vocab_size + j
        assert np.all(np.diff(keys) > 0) and np.all(i % buckets == b)
        got.update(zip(zip(i.tolist(), j.tolist(), strict=True), x.tolist(), strict=True))
    _assert_same(got, brute_force_cooccurrence(corpus, 3, True))


def test_summing_no_partial_counts_gives_no_triples() -> None:
    i, j, x = sum_partial_counts(np.empty(0, np.int64), np.empty(0, np.float64), 10)
    assert len(i) == len(j) == len(x) == 0
    keys, vals, offsets = pack_by_bucket(np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0), 10, 4)
    assert len(keys) == 0 and offsets.tolist() == [0, 0, 0, 0, 0]
    with pytest.raises(ValueError, match="buckets must be >= 1"):
        pack_by_bucket(np.zeros(1, np.int32), np.zeros(1, np.int32), np.ones(1), 10, 0)
