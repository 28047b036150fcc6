"""distributed.contiguous_ranges: the corpus cut into ordered, balanced ranges, the same cut in any session."""

from __future__ import annotations

from pyspark.sql import functions as F

from embedpipe.distributed import contiguous_ranges


def _cut(spark, df, parts):
    out = contiguous_ranges(spark, df, parts, ["line_id", "piece"], F.size("ids"))
    return [tuple(r) for r in out.select(F.spark_partition_id(), "line_id", "piece", F.size("ids")).collect()]


def test_partition_p_holds_the_pth_range_in_order_balanced_by_weight(spark):
    rows = [(line, piece, [0] * ((line * 7 + piece) % 13 + 1)) for line in range(500) for piece in range(3)]
    df = spark.createDataFrame(rows, "line_id long, piece int, ids array<int>")
    got = _cut(spark, df, 4)
    assert sorted((line, piece) for _, line, piece, _ in got) == [(r[0], r[1]) for r in rows]  # every row once
    # Read partition by partition, the rows are the table in key order: each partition is one range.
    assert [(line, piece) for _, line, piece, _ in got] == [(r[0], r[1]) for r in rows]
    assert [p for p, *_ in got] == sorted(p for p, *_ in got)
    weight = {p: 0 for p in range(4)}
    for p, _, _, n in got:
        weight[p] += n
    total = sum(weight.values())
    assert all(abs(w - total / 4) < 0.15 * total / 4 for w in weight.values()), weight


def test_the_cut_does_not_depend_on_what_the_session_ran_before(spark):
    # repartitionByRange seeds its sample with the RDD's id, so the same rows
    # were cut differently once other jobs had run (and in another process).
    rows = [(line, piece, [0] * ((line * 5 + piece) % 17 + 1)) for line in range(3000) for piece in range(2)]
    df = spark.createDataFrame(rows, "line_id long, piece int, ids array<int>").repartition(3)
    first = _cut(spark, df, 5)
    for _ in range(3):
        spark.sparkContext.parallelize(range(10)).count()  # new RDD ids
    assert _cut(spark, df, 5) == first
