"""Table writes: layout choices that later stages rely on."""

from __future__ import annotations

import glob
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
