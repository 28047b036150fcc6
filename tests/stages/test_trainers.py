"""GloVe and skip-gram stages: cost goes down, runs repeat, divergence stops, resume."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pyarrow as pa
import pytest
from pyspark.sql import functions as F

from embedpipe import cooccur, encode, ingest, tables, vocab
from embedpipe.config import build_config
from embedpipe.distributed import TrainingCores, plan_training_cores, session_conf, share, training_cores
from embedpipe.errors import ConfigError, DivergenceError
from embedpipe.training import glove, rotation, sgns
from embedpipe.training import packed as packing
from embedpipe.training.averaging import ROUND_COLUMN
from embedpipe.vectors import read_vectors

# Every test here trains; together they take minutes, so `make test-fast` leaves them out.
pytestmark = pytest.mark.slow

# Two topics that never share a line: their words must end up apart.
ANIMALS = "cat dog horse cow sheep goat pig duck".split()
COLORS = "red blue green yellow purple orange black white".split()


@pytest.fixture(scope="module")
def topic_corpus(tmp_path_factory):
    rng = np.random.default_rng(3)
    lines = []
    for k in range(600):
        topic = ANIMALS if k % 2 else COLORS
        lines.append(" ".join(rng.choice(topic, 12)))
    path = tmp_path_factory.mktemp("corpus") / "topics.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def make_cfg(out, corpus, **over):
    raw = {
        "input": {"path": str(corpus)},
        "output": {"path": str(out)},
        "clean": {"preset": "text8"},
        "vocab": {"min_count": 1},
        "spark": {"partitions": 2},
        "cooccur": {"window": 4},
        "glove": {"dim": 10, "x_max": 10, "epochs": 6, "seed": 3},
        "sgns": {"dim": 10, "window": 3, "negative": 3, "sample": 0, "epochs": 3, "sync_rounds": 2, "seed": 3},
    }
    for section, values in over.items():
        raw[section] = {**raw.get(section, {}), **values}
    return build_config(raw)


@pytest.fixture(scope="module")
def prepared(spark, tmp_path_factory, topic_corpus):
    """ingest + vocab + encode + cooccur once; trainers write their own vectors."""
    out = tmp_path_factory.mktemp("run")
    cfg = make_cfg(out, topic_corpus)
    ingest.run(spark, cfg)
    vocab.run(spark, cfg)
    encode.run(spark, cfg)
    cooccur.run(spark, cfg)
    return out


def test_ids_of_a_rebuilt_vocabulary_are_refused_until_encoded_again(spark, tmp_path, topic_corpus):
    cfg = make_cfg(tmp_path / "out", topic_corpus)
    for stage in (ingest, vocab, encode, cooccur):
        stage.run(spark, cfg)
    root = cfg.output.path
    # The vocab is rebuilt with another min_count: its ids may now name other words.
    vocab.run(spark, make_cfg(tmp_path / "out", topic_corpus, vocab={"min_count": 400}))
    before = {t: tables.current_version(spark, root, t) for t in ("corpus", "cooccurrence", "vectors")}
    with pytest.raises(tables.StaleTableError, match=r"'corpus'.*vocab version 0.*now at version 1.*encode stage"):
        sgns.run(spark, cfg)
    with pytest.raises(tables.StaleTableError, match=r"'corpus'.*run the encode stage again"):
        cooccur.run(spark, cfg)
    with pytest.raises(tables.StaleTableError, match=r"'cooccurrence'.*run the encode and cooccur stages again"):
        glove.run(spark, cfg)
    assert {t: tables.current_version(spark, root, t) for t in before} == before  # nothing was written
    encode.run(spark, cfg)
    cooccur.run(spark, cfg)
    assert tables.vocab_version_of(spark, root, "corpus") == tables.vocab_version_of(spark, root, "cooccurrence") == 1


def topic_margin(vec) -> float:
    m = vec.matrix / np.linalg.norm(vec.matrix, axis=1, keepdims=True)
    idx = {w: i for i, w in enumerate(vec.words)}
    a = m[[idx[w] for w in ANIMALS]]
    c = m[[idx[w] for w in COLORS]]
    within = (np.mean(a @ a.T) + np.mean(c @ c.T)) / 2
    across = np.mean(a @ c.T)
    return float(within - across)


DISTRIBUTIONS = ("averaging", "rotation")


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_glove_cost_decreases_and_topics_separate(spark, prepared, topic_corpus, distribution):
    cfg = make_cfg(prepared, topic_corpus, glove={"distribution": distribution})
    result = glove.run(spark, cfg)
    costs = result.stats["costs"]
    assert len(costs) == 6
    assert costs[-1] < 0.6 * costs[0]
    assert all(b <= a * 1.001 for a, b in zip(costs, costs[1:], strict=False))
    vec = read_vectors(spark, str(prepared), "glove")
    assert vec.dim == 10 and len(vec.words) == 16
    assert topic_margin(vec) > 0.3
    assert vec.metadata["costs"] == costs


@pytest.mark.parametrize("partitions, sync", [(3, 1), (2, 2)])
def test_glove_schedule_gives_every_row_one_replica_per_round(spark, prepared, partitions, sync):
    entries = tables.read(spark, str(prepared), "cooccurrence")
    data = glove.stratified_schedule(entries, partitions, sync, seed=3).persist()
    try:
        rows = data.withColumn("p", F.spark_partition_id()).collect()
    finally:
        data.unpersist()
    assert len(rows) == entries.count()
    assert sorted((r["i"], r["j"]) for r in rows) == sorted((r["i"], r["j"]) for r in entries.collect())
    assert {r[ROUND_COLUMN] for r in rows} == set(range(partitions * sync))
    owners: dict[tuple[str, int, int], set[int]] = {}
    for r in rows:
        owners.setdefault(("i", r[ROUND_COLUMN], r["i"]), set()).add(r["p"])
        owners.setdefault(("j", r[ROUND_COLUMN], r["j"]), set()).add(r["p"])
    # Averaging over the replicas that touched a row is then exact.
    assert all(len(ps) == 1 for ps in owners.values())
    # Each word row stays on one replica for the whole epoch.
    word_home: dict[int, set[int]] = {}
    for r in rows:
        word_home.setdefault(r["i"], set()).add(r["p"])
    assert all(len(ps) == 1 for ps in word_home.values())


def test_glove_rounds_travel_packed_with_each_rounds_entries_in_the_schedules_order(spark, prepared):
    entries = tables.read(spark, str(prepared), "cooccurrence")
    schedule = glove.stratified_schedule(entries, 2, 2, seed=3)
    expected: dict[tuple[int, int], list[tuple[int, int, float]]] = {}
    for p, i, j, x, rnd in schedule.select(F.spark_partition_id(), "i", "j", "x", ROUND_COLUMN).collect():
        expected.setdefault((p, rnd), []).append((i, j, x))
    # Small batches, so that a partition's round spans several packed rows.
    packed = schedule.mapInArrow(packing.PackRounds(10.0, 0.75, batch_bytes=256), packing.PACKED_DDL)
    with session_conf(spark, "spark.sql.execution.arrow.maxRecordsPerBatch", "8"):
        rows = packed.withColumn("p", F.spark_partition_id()).collect()
    assert len(expected) < len(rows) < entries.count()
    totals = packing.packed_totals(packed)
    assert totals.entries == entries.count()
    # The health check's reference: 0.5 f(x) (log x)^2 averaged over the entries, here by Spark's own functions.
    f = F.least(F.lit(1.0), F.pow(F.col("x") / F.lit(10.0), F.lit(0.75)))
    untrained = entries.agg(F.avg(0.5 * f * F.pow(F.log("x"), 2))).first()[0]
    assert untrained > 0 and totals.untrained_cost == pytest.approx(untrained, rel=1e-12)
    got = {}
    for key in expected:
        mine = [pa.RecordBatch.from_pylist([r.asDict() for r in rows if (r["p"], r[ROUND_COLUMN]) == key])]
        i, j, x = packing.unpack(iter(mine))
        assert (i.dtype, j.dtype, x.dtype) == (np.int32, np.int32, np.float64)
        got[key] = list(zip(i.tolist(), j.tolist(), x.tolist(), strict=True))
    assert got == expected
    assert all(len(column) == 0 for column in packing.unpack(iter([])))


def test_glove_entries_packed_for_rotation_keep_their_partitions_and_order(spark, prepared):
    entries = tables.read(spark, str(prepared), "cooccurrence")
    expected = entries.select(F.spark_partition_id().alias("p"), "i", "j", "x").collect()
    with session_conf(spark, "spark.sql.execution.arrow.maxRecordsPerBatch", "8"):
        rows = packing.pack_entries(entries, 100.0, 0.75).withColumn("p", F.spark_partition_id()).collect()
    assert {r[ROUND_COLUMN] for r in rows} == {0}
    got = []
    for p in sorted({r["p"] for r in expected}):
        batch = pa.RecordBatch.from_pylist([r.asDict() for r in rows if r["p"] == p])
        for i, j, x in packing.packed_runs(iter([batch])):
            got += [(p, *e) for e in zip(i.tolist(), j.tolist(), x.tolist(), strict=True)]
    assert got == [tuple(r) for r in expected]


def test_glove_cells_cut_from_packed_rows_hold_each_entry_once_in_its_cell_in_order(spark, prepared):
    entries = tables.read(spark, str(prepared), "cooccurrence")
    vocab_size = tables.read(spark, str(prepared), "vocab").count()
    blocks = 3
    block_of = np.random.default_rng(4).integers(0, blocks, size=vocab_size).astype(np.int32)
    assignment = share(spark, block_of)
    try:
        with session_conf(spark, "spark.sql.execution.arrow.maxRecordsPerBatch", "8"):
            rows = packing.pack_entries(entries, 100.0, 0.75).withColumn("p", F.spark_partition_id()).collect()
        cut = glove.CellsOfPacked(assignment, blocks)
        cut_entries = 0
        for p in sorted({r["p"] for r in rows}):
            mine = [tuple(r)[:-1] for r in rows if r["p"] == p]  # a partition's packed rows, in order
            cells = list(cut(p, iter(mine)))
            for n, row in enumerate(mine):
                i, j, x = packing.packed_row(row)
                task, sub = block_of[i], (block_of[j] - block_of[i]) % blocks
                # One tuple per (task, sub-epoch) the row's entries fall in, named by the row's place.
                of_row = [cell for cell in cells if cell[2] == (p << 32) | n]
                pairs = set(zip(task.tolist(), sub.tolist(), strict=True))
                assert sorted((t, u) for t, u, *_ in of_row) == sorted(pairs)
                for t, u, _, a, b, c in of_row:
                    keep = (task == t) & (sub == u)  # the cell's entries, in the row's order
                    assert np.array_equal(np.frombuffer(a, np.int32), i[keep])
                    assert np.array_equal(np.frombuffer(b, np.int32), j[keep])
                    assert np.array_equal(np.frombuffer(c, np.float64), x[keep])
                    cut_entries += int(keep.sum())
        assert cut_entries == entries.count() > 0
    finally:
        assignment.release()


@pytest.mark.parametrize("partitions", [2, 3])
def test_glove_places_shard_s_on_replica_s_mod_p_however_the_table_is_split(spark, prepared, partitions):
    # A session that has just written the table sees its files in another
    # order and split than a fresh one; the placement must not follow them.
    entries = tables.read(spark, str(prepared), "cooccurrence")
    shard_of = {(r["i"], r["j"]): r["shard"] for r in entries.collect()}
    assert len(set(shard_of.values())) > partitions

    def placement(source):
        data = glove.stratified_schedule(source, partitions, 2, seed=3)
        return sorted(tuple(r) for r in data.select(F.spark_partition_id(), "i", "j", ROUND_COLUMN).collect())

    one_file = placement(entries.coalesce(1))
    assert one_file == placement(entries.repartition(7)) == placement(entries.orderBy(F.desc("x")).repartition(5))
    assert all(p == shard_of[(i, j)] % partitions for p, i, j, _ in one_file)


def test_glove_advises_shard_counts_that_partitions_cannot_split_evenly():
    assert glove.shard_balance_advice(8, 2) is None
    assert glove.shard_balance_advice(16, 8) is None
    uneven = glove.shard_balance_advice(4, 3)
    assert uneven is not None
    assert "4 co-occurrence shards over 3 partitions" in uneven
    assert "holds 2 shards, 1.50× an even share" in uneven
    assert "no entries" not in uneven and "cooccur.shards a multiple of spark.partitions" in uneven
    too_few = glove.shard_balance_advice(4, 8)
    assert too_few is not None and "4 replicas get no entries" in too_few and "2.00×" in too_few


def test_glove_warns_about_the_tables_own_shard_count(spark, prepared, topic_corpus, caplog):
    # The table was built with 8 shards; a config saying 6 must not hide that 3 partitions split 8 unevenly.
    cfg = make_cfg(
        prepared, topic_corpus, spark={"partitions": 3}, cooccur={"shards": 6},
        glove={"epochs": 1, "distribution": "averaging"},
    )  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="embedpipe.training.glove"):
        glove.run(spark, cfg)
    assert any("8 co-occurrence shards over 3 partitions" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_glove_same_seed_same_vectors(spark, prepared, topic_corpus, distribution):
    cfg = make_cfg(prepared, topic_corpus, glove={"epochs": 2, "distribution": distribution})
    glove.run(spark, cfg)
    first = read_vectors(spark, str(prepared), "glove").matrix
    glove.run(spark, cfg)
    np.testing.assert_array_equal(read_vectors(spark, str(prepared), "glove").matrix, first)
    glove.run(spark, make_cfg(prepared, topic_corpus, glove={"epochs": 2, "seed": 4, "distribution": distribution}))
    assert not np.array_equal(read_vectors(spark, str(prepared), "glove").matrix, first)


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_glove_divergence_stops_with_advice_and_keeps_the_vectors(spark, prepared, topic_corpus, distribution):
    glove.run(spark, make_cfg(prepared, topic_corpus, glove={"epochs": 1}))
    version = tables.current_version(spark, str(prepared), "vectors")
    settings = {"learning_rate": 1e30, "grad_clip": 1e30, "epochs": 3, "distribution": distribution}
    bad = make_cfg(prepared, topic_corpus, glove=settings)
    with pytest.raises(DivergenceError, match=r"glove training diverged in epoch 1.*Lower glove\.learning_rate"):
        glove.run(spark, bad)
    assert tables.current_version(spark, str(prepared), "vectors") == version


def test_glove_on_an_empty_cooccurrence_table_stops_with_the_fix_and_writes_nothing(spark, tmp_path, caplog):
    # One word a line: the vocabulary is full, but no two words ever share a window.
    lonely = tmp_path / "lonely.txt"
    lonely.write_text("\n".join(ANIMALS * 5) + "\n")
    cfg = make_cfg(tmp_path / "out", lonely)
    for stage in (ingest, vocab, encode):
        stage.run(spark, cfg)
    with caplog.at_level(logging.WARNING, logger="embedpipe.cooccur"):
        cooccur.run(spark, cfg)
    assert tables.read(spark, cfg.output.path, "cooccurrence").count() == 0
    assert any("no two words share a window of 4" in r.getMessage() for r in caplog.records), "warned at once"
    for distribution in DISTRIBUTIONS:
        with pytest.raises(ValueError, match=r"cooccurrence table is empty; re-run the cooccur stage on a larger"):
            glove.run(spark, make_cfg(tmp_path / "out", lonely, glove={"distribution": distribution}))
    assert tables.current_version(spark, cfg.output.path, "vectors") is None


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_glove_resumed_run_ends_where_an_uninterrupted_one_does(spark, prepared, topic_corpus, distribution):
    def cfg(epochs):
        return make_cfg(prepared, topic_corpus, glove={"epochs": epochs, "distribution": distribution})

    glove.run(spark, cfg(4))
    uninterrupted = read_vectors(spark, str(prepared), "glove").matrix
    # A run "killed" after epoch 2 leaves its epoch-2 checkpoint behind...
    glove.run(spark, cfg(2))
    # ...and --resume trains epochs 3 and 4 from it.
    result = glove.run(spark, cfg(4), resume=True)
    assert len(result.stats["costs"]) == 4
    np.testing.assert_array_equal(read_vectors(spark, str(prepared), "glove").matrix, uninterrupted)


def test_sgns_loss_decreases_topics_separate_and_runs_repeat(spark, prepared, topic_corpus):
    cfg = make_cfg(prepared, topic_corpus)
    result = sgns.run(spark, cfg)
    losses = result.stats["losses"]
    assert losses[-1] < losses[0]
    first = read_vectors(spark, str(prepared), "sgns")
    assert topic_margin(first) > 0.3
    sgns.run(spark, cfg)
    np.testing.assert_array_equal(read_vectors(spark, str(prepared), "sgns").matrix, first.matrix)


def test_cbow_trains(spark, prepared, topic_corpus):
    result = sgns.run(spark, make_cfg(prepared, topic_corpus, sgns={"architecture": "cbow", "epochs": 4}))
    assert result.stats["losses"][-1] < result.stats["losses"][0]
    assert topic_margin(read_vectors(spark, str(prepared), "sgns")) > 0.3


def test_model_memory_is_checked_before_training(spark, prepared, topic_corpus):
    with pytest.raises(MemoryError, match=r"raise vocab\.min_count.*sgns\.max_model_mb"):
        sgns.run(spark, make_cfg(prepared, topic_corpus, sgns={"dim": 10_000, "max_model_mb": 1}))
    # Under rotation the budget is per task: each of the 2 task slots holds half the blocks.
    rotating = {"dim": 10_000, "max_model_mb": 1, "distribution": "rotation"}
    with pytest.raises(MemoryError, match=r"in each of 2 tasks.*run more tasks at once"):
        sgns.run(spark, make_cfg(prepared, topic_corpus, sgns=rotating, spark={"partitions": 4}))


def test_training_tasks_use_their_cores_as_kernel_threads(spark, prepared, topic_corpus, monkeypatch):
    # The test cluster's executors have one core each, so Spark cannot reserve
    # two per task: the trainers are told to run two threads regardless.
    monkeypatch.setattr(sgns, "training_cores", lambda spark, cpus: TrainingCores(cpus=2, slots=1, profile=None))
    result = sgns.run(spark, make_cfg(prepared, topic_corpus))
    assert result.stats["losses"][-1] < result.stats["losses"][0]
    assert topic_margin(read_vectors(spark, str(prepared), "sgns")) > 0.3


def test_cores_per_task_are_reserved_where_spark_can_and_refused_where_no_executor_has_them(spark):
    # This session is local-cluster[2,1,1024]: one core a task runs on both
    # executors; two cores a task fit no executor, and the run stops before training.
    assert training_cores(spark, 1) == TrainingCores(cpus=1, slots=2, profile=None)
    with pytest.raises(ConfigError, match=r"spark\.task_cpus=2 .* an executor has \(1\)"):
        training_cores(spark, 2)
    # local[2]: Spark reserves no cores per stage there, so two cores a task
    # means one task at a time, chosen by the engine.
    assert plan_training_cores("local[2]", 1, None, False, 2, 2) == TrainingCores(cpus=2, slots=1, profile=None)
    # A standalone cluster of 4 two-core executors takes a task profile for the training stage.
    got = plan_training_cores("spark://host:7077", 1, "2", False, 8, 2)
    assert (got.cpus, got.slots) == (2, 4)
    assert got.profile is not None and got.profile.taskResources["cpus"].amount == 2
    # With dynamic allocation Spark refuses task-only profiles: none is made.
    assert plan_training_cores("yarn", 1, "4", True, 16, 2).profile is None
    # Spark's own spark.task.cpus already reserves them for every task.
    assert plan_training_cores("yarn", 2, "4", False, 16, 2) == TrainingCores(cpus=2, slots=8, profile=None)
    with pytest.raises(ConfigError, match=r"spark\.task_cpus=2 .* an executor has \(1\).*spark\.executor\.cores"):
        plan_training_cores("local-cluster[2,1,1024]", 1, None, False, 2, 2)


def test_sgns_under_rotation_separates_topics_and_the_task_count_changes_only_the_visiting_order(
    spark, prepared, topic_corpus, monkeypatch
):
    cfg = make_cfg(prepared, topic_corpus, sgns={"distribution": "rotation"}, spark={"partitions": 4})
    result = sgns.run(spark, cfg)
    assert result.stats["losses"][-1] < result.stats["losses"][0]
    first = read_vectors(spark, str(prepared), "sgns")
    assert topic_margin(first) > 0.3
    sgns.run(spark, cfg)
    np.testing.assert_array_equal(read_vectors(spark, str(prepared), "sgns").matrix, first.matrix)
    # 4 replicas run as 2 tasks of 2 blocks each here, which train the round's
    # sub-epochs in the order 0, 2, 1, 3 (each task holds the output blocks of
    # two sub-epochs). Training a task's cells on 2 threads changes nothing.
    def run_as(slots: int, threads: int) -> np.ndarray:
        cores = TrainingCores(cpus=threads, slots=slots, profile=None)
        monkeypatch.setattr(rotation, "training_cores", lambda spark, cpus, c=cores: c)
        sgns.run(spark, cfg)
        return read_vectors(spark, str(prepared), "sgns").matrix

    np.testing.assert_array_equal(run_as(2, 2), first.matrix)
    # One task of all 4 blocks, or 4 tasks of one, train the sub-epochs in
    # their natural order: the same cells from the same seeds, so the same
    # vectors, and as good as the other order.
    natural = run_as(1, 1)
    np.testing.assert_array_equal(run_as(4, 1), natural)
    np.testing.assert_array_equal(run_as(1, 2), natural)
    assert not np.array_equal(natural, first.matrix)
    assert topic_margin(read_vectors(spark, str(prepared), "sgns")) > 0.3


def test_sgns_under_rotation_in_one_block_trains_every_epoch(spark, prepared, topic_corpus):
    # One block re-draws the same assignment every epoch: the epoch's data,
    # made with the first one, must stay usable.
    cfg = make_cfg(prepared, topic_corpus, sgns={"distribution": "rotation", "epochs": 3}, spark={"partitions": 1})
    result = sgns.run(spark, cfg)
    assert len(result.stats["losses"]) == 3
    assert result.stats["losses"][-1] < result.stats["losses"][0]
    assert topic_margin(read_vectors(spark, str(prepared), "sgns")) > 0.3


def test_glove_blocks_redrawn_every_epoch_train_and_resume_where_an_uninterrupted_run_ends(
    spark, prepared, topic_corpus
):
    def cfg(epochs, assignment="per_epoch"):
        settings = {"epochs": epochs, "distribution": "rotation", "block_assignment": assignment}
        return make_cfg(prepared, topic_corpus, glove=settings, spark={"partitions": 4})

    costs = glove.run(spark, cfg(4)).stats["costs"]
    assert costs[-1] < 0.8 * costs[0]
    redrawn = read_vectors(spark, str(prepared), "glove")
    assert topic_margin(redrawn) > 0.2
    # Other blocks, another visiting order: not the fixed blocks' vectors.
    glove.run(spark, cfg(4, "per_run"))
    assert not np.array_equal(read_vectors(spark, str(prepared), "glove").matrix, redrawn.matrix)
    # Killed after epoch 2: the resumed run re-blocks the checkpoint for epoch 3's assignment.
    glove.run(spark, cfg(2))
    glove.run(spark, cfg(4), resume=True)
    np.testing.assert_array_equal(read_vectors(spark, str(prepared), "glove").matrix, redrawn.matrix)


def test_sgns_under_rotation_killed_after_a_checkpoint_resumes_to_the_same_vectors(
    spark, prepared, topic_corpus, monkeypatch
):
    # Checkpoints after every epoch, not once a minute: the kill comes after epoch 2's.
    cfg = make_cfg(prepared, topic_corpus, sgns={"distribution": "rotation", "epochs": 3},
                   output={"checkpoint_seconds": 0})  # fmt: skip
    full = sgns.run(spark, cfg)
    uninterrupted = read_vectors(spark, str(prepared), "sgns").matrix

    class Killed(Exception):
        pass

    save = sgns.Training.epoch_end_blocks

    def save_then_die(self, epoch, blocks, losses):
        got = save(self, epoch, blocks, losses)
        if epoch == 1:
            raise Killed  # the process dies right after epoch 2's checkpoint commit
        return got

    monkeypatch.setattr(sgns.Training, "epoch_end_blocks", save_then_die)
    with pytest.raises(Killed):
        sgns.run(spark, cfg)
    monkeypatch.undo()
    result = sgns.run(spark, cfg, resume=True)
    assert len(result.stats["losses"]) == 3
    assert result.work * 3 == full.work, "the resumed run trains epoch 3 alone"
    np.testing.assert_array_equal(read_vectors(spark, str(prepared), "sgns").matrix, uninterrupted)


@pytest.mark.parametrize(
    "distribution",
    [
        {"distribution": "averaging"},
        {"distribution": "rotation", "block_assignment": "per_epoch"},  # re-dealt from the held blocks
        {"distribution": "rotation", "block_assignment": "per_run"},  # the held blocks as they are
    ],
    ids=["averaging", "rotation-per_epoch", "rotation-per_run"],
)
def test_a_trainer_checkpoints_after_its_last_epoch_and_between_only_once_the_interval_passed(
    spark, prepared, topic_corpus, distribution
):
    name = tables.CHECKPOINTS["glove"]

    def checkpoints_made(seconds: float) -> tuple[int, np.ndarray]:
        before = tables.current_version(spark, str(prepared), name)
        settings = {**distribution, "epochs": 3}
        glove.run(spark, make_cfg(prepared, topic_corpus, glove=settings, output={"checkpoint_seconds": seconds}))
        assert tables.head_metadata(spark, str(prepared), name)["epoch"] == 2  # the last epoch's, always
        made = tables.current_version(spark, str(prepared), name) - (-1 if before is None else before)
        return made, read_vectors(spark, str(prepared), "glove").matrix

    # 3 short epochs inside an hour: the last one only. Under rotation the next
    # epoch starts from the blocks the tasks hold instead of a checkpoint's rows.
    once, held = checkpoints_made(3600)
    every, read_back = checkpoints_made(0)
    assert (once, every) == (1, 3)
    np.testing.assert_array_equal(held, read_back)  # the same vectors either way


def test_a_checkpoint_keeps_only_its_newest_epoch_on_disk(spark, prepared, topic_corpus):
    cfg = make_cfg(prepared, topic_corpus, sgns={"distribution": "rotation", "epochs": 3})
    sgns.run(spark, cfg)
    name = tables.CHECKPOINTS["sgns"]
    folder = Path(tables.table_path(str(prepared), name))

    def newest_files() -> set[str]:
        return {Path(urlparse(f).path).name for f in spark.read.format("delta").load(str(folder)).inputFiles()}

    assert {f.name for f in folder.glob("*.parquet")} == newest_files()
    assert tables.head_metadata(spark, str(prepared), name)["epoch"] == 2
    # A run killed between its commit and the clean-up leaves files behind;
    # the next clean-up takes them too, and the checkpoint still reads whole.
    (folder / "part-00000-left-by-a-killed-run.parquet").write_bytes(b"PAR1")
    rows = spark.read.format("delta").load(str(folder)).count()
    assert tables.drop_superseded_files(spark, str(prepared), name) == 1
    assert {f.name for f in folder.glob("*.parquet")} == newest_files()
    assert spark.read.format("delta").load(str(folder)).count() == rows


def test_only_checkpoint_tables_have_superseded_files_dropped(spark, prepared):
    with pytest.raises(ValueError, match="not a checkpoint table"):
        tables.drop_superseded_files(spark, str(prepared), "vectors")


def test_cbow_under_rotation_is_refused_before_spark_starts(prepared, topic_corpus):
    with pytest.raises(ConfigError, match=r"sgns\.distribution: rotation trains skip-gram only"):
        make_cfg(prepared, topic_corpus, sgns={"distribution": "rotation", "architecture": "cbow"})
