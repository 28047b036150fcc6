"""The engine's task ring: records live in the partition of the task their key names."""

from __future__ import annotations

import pyarrow as pa

from embedpipe.distributed import TaskRing, cached_tuples


def test_cached_cells_join_each_step_in_place_without_another_shuffle(spark):
    ring = TaskRing(spark, 2)
    blocks = ring.place(
        spark.createDataFrame([(b,) for b in range(4)], "block int"), lambda r: (r[0] % 2, ("block", r[0]))
    )
    cells = ring.place(
        spark.sparkContext.parallelize([(b, sub) for b in range(4) for sub in range(3)], 3),
        lambda t: (t[0] % 2, ("cell", t[0], t[1])),
    ).cache()
    both = ring.add(blocks, cells)
    # A union that did not know both sides share the ring's partitioner
    # would have 2 + 2 partitions, each with only blocks or only cells.
    assert both.getNumPartitions() == 2
    per_task = both.glom().collect()
    for task, records in enumerate(per_task):
        assert {key for key, _ in records} == {task}
        assert sorted(v[1] for _, v in records if v[0] == "block") == [b for b in range(4) if b % 2 == task]
        assert len([v for _, v in records if v[0] == "cell"]) == 3 * 2
    cells.unpersist()


def _counted(calls):
    def double(batches):
        for batch in batches:
            calls.add(1)
            yield pa.RecordBatch.from_pydict({"x": [2 * v for v in batch.column("x").to_pylist()]})

    return double


def test_rows_a_python_function_makes_are_staged_before_the_rings_python_reads_them(spark):
    # Python over a mapInArrow's rows in one task chains two Python workers,
    # which hung once on Spark 4.2; staged, the mapInArrow runs in a job of
    # its own, once, however often the ring's records are read.
    calls = spark.sparkContext.accumulator(0)
    made = spark.createDataFrame([(v,) for v in range(6)], "x long").repartition(2).mapInArrow(
        _counted(calls), "x long"
    )
    ring = TaskRing(spark, 2)
    placed = ring.place(made, lambda r: (r[0] % 2, r[0]), stage=True)
    after_staging = calls.value
    assert after_staging > 0
    assert sorted(v for _, v in placed.collect()) == [0, 2, 4, 6, 8, 10]
    assert sorted(v for _, v in placed.collect()) == [0, 2, 4, 6, 8, 10]
    assert calls.value == after_staging
    assert made.is_cached
    ring.settle(placed)
    assert not made.is_cached  # released once the records are settled
    ring.release()


def test_cached_tuples_are_computed_once_and_leave_no_staged_copy(spark):
    calls = spark.sparkContext.accumulator(0)
    made = spark.createDataFrame([(v,) for v in range(4)], "x long").repartition(2).mapInArrow(
        _counted(calls), "x long"
    )
    rows = cached_tuples(made)
    once = calls.value
    assert sorted(rows.collect()) == [(0,), (2,), (4,), (6,)]
    assert rows.is_cached and not made.is_cached
    assert calls.value == once
    rows.unpersist()


def test_a_row_can_become_many_records_each_at_its_own_task(spark):
    # How the engine makes or deals blocks again: in the ring's own map over
    # rows the JVM reads, with nothing staged and no other job.
    ring = TaskRing(spark, 3)
    rows = spark.createDataFrame([(n,) for n in range(4)], "n int")
    placed = ring.place(rows, lambda r: [((r["n"] + k) % 3, (r["n"], k)) for k in range(r["n"])], many=True)
    per_task = placed.glom().collect()
    assert len(per_task) == 3
    for task, records in enumerate(per_task):
        assert all(key == task and (n + k) % 3 == task for key, (n, k) in records)
    assert sorted(v for records in per_task for _, v in records) == [(n, k) for n in range(4) for k in range(n)]
    assert not ring._staged
