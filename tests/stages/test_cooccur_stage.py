"""The cooccur stage equals a brute-force count and respects its memory bound."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow as pa
import pytest
from pyspark.sql import functions as F

from embedpipe import cooccur, encode, ingest, tables, vocab
from embedpipe.config import build_config
from embedpipe.kernels.cooccur import pack_by_bucket


def brute_force(pieces: list[list[int]], window: int, harmonic: bool) -> dict[tuple[int, int], float]:
    """GloVe's symmetric counting, one pair at a time."""
    x: dict[tuple[int, int], float] = defaultdict(float)
    for ids in pieces:
        for q in range(len(ids)):
            for d in range(1, window + 1):
                p = q - d
                if p < 0:
                    break
                w = 1.0 / d if harmonic else 1.0
                x[ids[p], ids[q]] += w
                x[ids[q], ids[p]] += w
    return dict(x)


def run_stages(spark, tmp_path, text_path, *, window, weighting="harmonic", memory_mb=64, max_len=10_000, min_count=1):
    cfg = build_config(
        {
            "input": {"path": str(text_path), "max_sentence_length": max_len},
            "output": {"path": str(tmp_path / "out")},
            "clean": {"preset": "none"},
            "vocab": {"min_count": min_count},
            "cooccur": {"window": window, "weighting": weighting, "memory_mb": memory_mb, "shards": 3},
            "spark": {"partitions": 2},
        }
    )
    ingest.run(spark, cfg)
    vocab.run(spark, cfg)
    encode.run(spark, cfg)
    result = cooccur.run(spark, cfg)
    return cfg, result


def corpus_pieces(spark, cfg) -> list[list[int]]:
    return [list(r["ids"]) for r in tables.read(spark, cfg.output.path, "corpus").collect()]


def table_dict(spark, cfg) -> dict[tuple[int, int], float]:
    rows = tables.read(spark, cfg.output.path, "cooccurrence").collect()
    assert all(r["shard"] == r["i"] % 3 for r in rows), "shard = i mod cooccur.shards"
    keys = [(r["i"], r["j"]) for r in rows]
    assert len(keys) == len(set(keys)), "one row per (i, j)"
    return {(r["i"], r["j"]): r["x"] for r in rows}


def assert_same(got, want):
    assert got.keys() == want.keys()
    for k, v in want.items():
        assert got[k] == pytest.approx(v, rel=1e-6), k


@pytest.mark.parametrize(("weighting", "window"), [("harmonic", 3), ("uniform", 2)])
def test_table_equals_brute_force_and_windows_stop_at_sentence_breaks(spark, tmp_path, write_text, weighting, window):
    text = "a b c a b\nc c a\nb a d e a\n\nd d d a b c\n"
    cfg, result = run_stages(spark, tmp_path, write_text("c.txt", text), window=window, weighting=weighting)
    pieces = corpus_pieces(spark, cfg)
    assert len(pieces) == 4
    want = brute_force(pieces, window, weighting == "harmonic")
    assert_same(table_dict(spark, cfg), want)
    # Across the break between line 1 and 2 no pair exists: brute force over
    # the joined stream would have more weight.
    joined = brute_force([sum(pieces, [])], window, weighting == "harmonic")
    assert sum(joined.values()) > sum(want.values())
    assert result.stats["nnz"] == len(want)
    assert result.stats["total_weight"] == pytest.approx(sum(want.values()))
    meta = tables.latest_metadata(spark, cfg.output.path, "cooccurrence")
    assert meta["stats"]["memory_mb_per_task"] == 64
    assert meta["stats"]["tokens"] == sum(len(p) for p in pieces)


def test_piece_boundaries_of_long_lines_are_sentence_breaks(spark, tmp_path, write_text):
    line = " ".join("abcdefg"[i % 7] for i in range(40))
    cfg, _ = run_stages(spark, tmp_path, write_text("long.txt", line), window=4, max_len=15)
    pieces = corpus_pieces(spark, cfg)
    assert sorted(len(p) for p in pieces) == [10, 15, 15]
    assert_same(table_dict(spark, cfg), brute_force(pieces, 4, True))


def test_a_matrix_larger_than_the_task_memory_is_flushed_not_grown(spark, tmp_path, write_text):
    rng = np.random.default_rng(7)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = ["".join(rng.choice(letters, 3)) for _ in range(3000)]
    # 12k tokens, ~230k distinct pairs (3.5 MB of entries against a 1 MB budget). The summing
    # buckets grow with the tokens (cooccur.sum_buckets), so a bigger corpus only adds tasks.
    lines = [" ".join(rng.choice(words, 400)) for _ in range(30)]
    cfg, result = run_stages(spark, tmp_path, write_text("big.txt", "\n".join(lines)), window=10, memory_mb=1)
    pieces = corpus_pieces(spark, cfg)
    want = brute_force(pieces, 10, True)
    assert len(want) * 16 > 2 * 1024 * 1024, "the matrix must exceed the 1 MB budget for this test to mean anything"
    assert result.stats["nnz"] == len(want)
    assert result.stats["total_weight"] == pytest.approx(sum(want.values()), rel=1e-9)


def partial_rows(i, j, x, vocab_size, routes):
    """Triples as the map side's PARTIAL rows (bucket, route, key bytes, value bytes)."""
    keys, vals, bounds = pack_by_bucket(np.asarray(i), np.asarray(j), np.asarray(x, float), vocab_size, len(routes))
    return [(b, routes[b], keys[bounds[b]:bounds[b + 1]].tobytes(), vals[bounds[b]:bounds[b + 1]].tobytes())
            for b in range(len(routes)) if bounds[b + 1] > bounds[b]]  # fmt: skip


def test_the_summing_shuffle_gives_each_task_one_bucket_and_sums_it(spark):
    # 200 rows i in 4 buckets (i mod 4), every entry sent twice. Spark's hash
    # of a few small numbers collides (3 of 4 shards once went to one task
    # and left two empty); bucket b is summed by task b alone.
    buckets, vocab_size, shards = 4, 200, 2
    routes = cooccur.route_keys(spark, buckets)
    i, j = np.repeat(np.arange(200), 5), np.tile(np.arange(5), 200)
    rows = partial_rows(i, j, np.ones(1000), vocab_size, routes)
    partial = spark.createDataFrame(rows + rows, cooccur.PARTIAL)
    summed = cooccur.sum_partials(partial, buckets, vocab_size, shards)
    per_task = summed.select(F.spark_partition_id().alias("task"), (F.col("i") % buckets).alias("bucket")).distinct()
    assert sorted((r["task"], r["bucket"]) for r in per_task.collect()) == [(0, 0), (1, 1), (2, 2), (3, 3)]
    got = {(r["i"], r["j"]): (r["x"], r["shard"]) for r in summed.collect()}
    assert got == {(a, b): (2.0, a % shards) for a in range(200) for b in range(5)}


def test_buckets_are_shards_times_enough_for_the_memory_bound():
    # A multiple of the shards (a summing task writes one shard), at least the
    # partitions, and enough that every increment as its own entry fits a task.
    assert cooccur.sum_buckets(shards=8, partitions=2, tokens=1000, window=10, memory_bytes=512 << 20) == 8
    assert cooccur.sum_buckets(shards=8, partitions=12, tokens=1000, window=10, memory_bytes=512 << 20) == 16
    need = 2 * 10 * 17_000_000 * cooccur.SUM_BYTES_PER_ENTRY / (512 << 20)  # wiki17m: 40.5 tasks' worth
    assert cooccur.sum_buckets(shards=8, partitions=2, tokens=17_000_000, window=10, memory_bytes=512 << 20) == 48
    assert 40 < need <= 48


def test_a_task_counts_its_small_batches_together_so_each_pair_leaves_it_once():
    # Spark hands a task many small batches on a many-line corpus; counting
    # each batch alone sent every frequent pair through the shuffle once per
    # batch. Within the memory budget a task must emit each (i, j) once.
    piece = pa.array([[0, 1, 2, 1, 0]] * 50, pa.list_(pa.int32()))
    batches = [pa.RecordBatch.from_arrays([piece], names=["ids"]) for _ in range(20)]
    count = cooccur.make_counter(vocab_size=3, window=2, harmonic=True, memory_bytes=8 << 20, routes=[10, 11])
    out = pa.Table.from_batches(list(count(iter(batches))))
    keys = np.concatenate([np.frombuffer(k, np.int64) for k in out.column("keys").to_pylist()])
    vals = np.concatenate([np.frombuffer(v, np.float64) for v in out.column("vals").to_pylist()])
    buckets = np.repeat(out.column("bucket").to_numpy(), [len(k) // 8 for k in out.column("keys").to_pylist()])
    assert len(keys) == len(set(keys.tolist()))
    assert np.all(keys // 3 % 2 == buckets), "bucket = i mod buckets"
    routed = zip(out.column("bucket").to_pylist(), out.column("route").to_pylist(), strict=True)
    assert set(routed) <= {(0, 10), (1, 11)}, "each bucket's rows carry its route"
    want = brute_force([[0, 1, 2, 1, 0]] * 1000, window=2, harmonic=True)
    assert_same({(int(k) // 3, int(k) % 3): float(v) for k, v in zip(keys, vals, strict=True)}, want)
