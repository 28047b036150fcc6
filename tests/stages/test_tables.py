"""Table writes: layout choices that later stages rely on."""

from __future__ import annotations

import glob
import json
import os
import random

import pyarrow as pa
import pyarrow.parquet as pq

from embedpipe import tables


def test_a_tokens_table_written_by_one_task_can_be_read_by_several(spark, tmp_path):
    # 40 MB of incompressible text in one partition: one task, one file.
    # With Parquet's default 128 MB row groups it would be one read split.
    rng = random.Random(0)
    texts = [" ".join(f"{rng.getrandbits(64):x}" for _ in range(6000)) for _ in range(400)]
    rows = pa.table(
        {
            "line_id": pa.array(range(400), pa.int64()),
            "piece": pa.array([0] * 400, pa.int32()),
            "text": texts,
            "word": pa.nulls(400, pa.string()),
            "count": pa.nulls(400, pa.int64()),
        }
    )
    df = spark.createDataFrame(rows, tables.TOKENS).coalesce(1)
    spark.conf.set("parquet.block.size", "134217728")
    tables.write(df, str(tmp_path), "tokens", metadata={"stage": "test"})

    files = glob.glob(os.path.join(tmp_path, "tokens", "*.parquet"))
    assert len(files) == 1
    assert pq.ParquetFile(files[0]).metadata.num_row_groups >= 2
    assert tables.read(spark, str(tmp_path), "tokens").rdd.getNumPartitions() >= 2
    # The row-group size was set for that write only.
    assert spark.conf.get("parquet.block.size") == "134217728"
    spark.conf.unset("parquet.block.size")


def test_tokens_and_cooccurrence_are_written_without_delta_statistics_and_other_tables_with_them(spark, tmp_path):
    # Statistics on the long piece texts cost the tokens write most of its
    # time, and on 46M co-occurrence rows a quarter of the cooccur stage's;
    # the setting must not leak into the session or other tables.
    pieces = spark.createDataFrame([(0, 0, "a b", None, None), (None, None, None, "a", 1)], tables.TOKENS)
    tables.write(pieces, str(tmp_path), "tokens", metadata={})
    assert spark.conf.get("spark.databricks.delta.stats.collect", None) is None
    entries = spark.createDataFrame([(0, 0, 1, 1.0)], tables.COOCCURRENCE)
    tables.write(entries, str(tmp_path), "cooccurrence", metadata={})
    vocab = spark.createDataFrame([("a", 0, 1, 1.0)], tables.VOCAB)
    tables.write(vocab, str(tmp_path), "vocab", metadata={})

    def file_stats(name):
        log = os.path.join(tmp_path, name, "_delta_log", f"{0:020d}.json")
        adds = [json.loads(line)["add"] for line in open(log) if '"add"' in line]
        return [a.get("stats") for a in adds]

    assert file_stats("tokens") and all(st is None for st in file_stats("tokens"))
    assert file_stats("cooccurrence") and all(st is None for st in file_stats("cooccurrence"))
    assert all(st and json.loads(st)["numRecords"] == 1 for st in file_stats("vocab"))


def test_a_cooccurrence_task_holding_many_shards_still_writes_each_shard_once(spark, tmp_path):
    # A summing task holds one shard, so the write keeps files open instead
    # of sorting the task's rows by shard; a task whose rows reach more
    # shards than that (interleaved, in one partition) falls back to the sort
    # and must still write every row, one file per shard, and leave the
    # session's setting as it was.
    rows = [(i % 3, i, i + 1, float(i)) for i in range(3000)]
    entries = spark.createDataFrame(rows, tables.COOCCURRENCE).coalesce(1)
    before = spark.conf.get("spark.sql.maxConcurrentOutputFileWriters")
    tables.write(entries, str(tmp_path), "cooccurrence", metadata={}, partition_by=["shard"])

    back = tables.read(spark, str(tmp_path), "cooccurrence").collect()
    assert sorted((r["shard"], r["i"], r["j"], r["x"]) for r in back) == sorted(rows)
    for shard in range(3):
        assert len(glob.glob(os.path.join(tmp_path, "cooccurrence", f"shard={shard}", "*.parquet"))) == 1
    assert spark.conf.get("spark.sql.maxConcurrentOutputFileWriters") == before


def test_vocab_rows_come_back_in_id_order_however_they_were_collected():
    rows = pa.table({"id": pa.array([2, 0, 3, 1], pa.int32()), "word": ["c", "a", "d", "b"]})
    assert tables.by_id(rows).column("word").to_pylist() == ["a", "b", "c", "d"]
    assert tables.by_id(rows.slice(0, 0)).num_rows == 0
