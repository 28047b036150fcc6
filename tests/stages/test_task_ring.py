"""The engine's task ring: records live in the partition of the task their key names."""

from __future__ import annotations

from embedpipe.distributed import TaskRing


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
