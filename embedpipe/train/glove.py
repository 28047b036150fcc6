"""GloVe training with parameter averaging across executors.

Reads ``cooccurrence`` and ``vocab``; writes the ``glove`` rows of ``vectors``.

The model is Pennington et al. (2014): minimise
``f(X_ij) (w_i·w̃_j + b_i + b̃_j − log X_ij)²`` with
``f(x) = min(1, (x / x_max)^power)``, by AdaGrad with gradient clipping, as
Stanford's ``glove.c`` does (embedpipe.kernels.glove).

Distribution: shard s of the matrix goes to replica s mod P of the P =
``spark.partitions`` replicas, so each word row ``w_i`` lives in exactly one
replica (shard = i mod shards). Context rows are scheduled the same way, by
stratum (stratified SGD, Gemulla et al. 2011): in round r of an epoch,
replica p trains only its entries whose context j has ``(j mod P − p) mod P
= r``. Each round the driver broadcasts all parameters and AdaGrad
accumulators, every partition runs one seeded, shuffled pass over that
round's entries and sends back the rows it touched, and each row
(parameters and accumulators alike) becomes the average over the partitions
that touched it (embedpipe.train.averaging). Under this schedule every row, word
or context, is touched by exactly one replica per round, so the average is
exact: P replicas compute what one would, in 1/P of the time per round. An
epoch is P rounds; ``glove.sync_per_epoch = k`` splits each stratum into k.

Why: with every replica training every context row, the average gives each
context row 1/P of the step sequential training makes (3.9 analogy points
lost at 8 partitions on wiki17m), and summing the replicas' AdaGrad steps
instead diverges at 8 partitions (cost 0.09 in epoch 1, 1.2e9 by epoch 5).

After every round the parameters must be finite; otherwise the stage stops
with advice and keeps the last epoch's checkpoint. ``--resume`` continues a
killed run from that checkpoint and ends where an uninterrupted run would.

Run it alone with ``embedpipe glove conf/demo.yaml [--resume]``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from embedpipe import tables
from embedpipe.config import PipelineConfig
from embedpipe.errors import ModelTooLargeError
from embedpipe.kernels.glove import combine_output, glove_epoch, init_params, shuffled_order
from embedpipe.stage import StageResult, fingerprint, new_run_id
from embedpipe.train import checkpoint
from embedpipe.train.averaging import ROUND_COLUMN, RoundResult, train_with_averaging
from embedpipe.train.loop import ParamGroup, RoundInfo
from embedpipe.vectors import write_vectors

log = logging.getLogger(__name__)

GROUPS = (
    ParamGroup("word", ("W", "b", "gW", "gb")),
    ParamGroup("context", ("Wc", "bc", "gWc", "gbc")),
)


def estimate_model_bytes(vocab_size: int, dim: int, partitions: int) -> int:
    """Driver memory: 4 (V, dim) float32 arrays plus biases, and during a merge
    the replicas' touched rows (one copy per partition) and float64 work space."""
    params = 4 * vocab_size * (dim + 1) * 4
    return params * (3 + partitions)


@dataclass(frozen=True)
class GloveEpochTask:
    """Executor side of one round: a shuffled AdaGrad pass over the partition's entries."""

    vocab_size: int
    x_max: float
    power: float
    learning_rate: float
    grad_clip: float

    def __call__(
        self, params: dict[str, np.ndarray], batches: Iterator[pa.RecordBatch], info: RoundInfo, partition: int
    ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        cols = {"i": [], "j": [], "x": []}  # type: dict[str, list[np.ndarray]]
        for b in batches:
            for name in cols:
                cols[name].append(b.column(name).to_numpy(zero_copy_only=False))
        rows = np.concatenate(cols["i"]).astype(np.int32) if cols["i"] else np.zeros(0, np.int32)
        ctx = np.concatenate(cols["j"]).astype(np.int32) if cols["j"] else np.zeros(0, np.int32)
        vals = np.concatenate(cols["x"]).astype(np.float64) if cols["x"] else np.zeros(0, np.float64)
        touch_w = np.zeros(self.vocab_size, dtype=np.int64)
        touch_c = np.zeros(self.vocab_size, dtype=np.int64)
        order = shuffled_order(len(vals), info.task_seed(partition))
        cost = glove_epoch(
            params["W"], params["Wc"], params["b"], params["bc"],
            params["gW"], params["gWc"], params["gb"], params["gbc"],
            rows, ctx, vals, order,
            self.x_max, self.power, self.learning_rate, self.grad_clip,
            touch_w, touch_c,
        )  # fmt: skip
        return {"cost": float(cost), "entries": float(len(vals))}, {"word": touch_w, "context": touch_c}


def shard_balance_advice(shards: int, partitions: int) -> str | None:
    """Advice when ``partitions`` replicas cannot hold equal numbers of whole
    shards (None when they can).

    Shard s goes to replica s mod P, so with 4 shards over 3 partitions one
    replica holds 2 (1.5× an even share) and over 8 partitions four replicas
    get nothing (2×); every round waits for the largest replica.
    """
    if shards % partitions == 0:
        return None
    idle = max(partitions - shards, 0)
    largest = -(-shards // partitions)
    return (
        f"{shards} co-occurrence shards over {partitions} partitions: "
        + (f"{idle} replicas get no entries and " if idle else "")
        + f"the largest replica holds {largest} shards, {largest * partitions / shards:.2f}× an even share, "
        "so every round waits for it; re-run the cooccur stage with cooccur.shards a multiple of spark.partitions"
    )


def replica_keys(spark: SparkSession, partitions: int) -> list[int]:
    """For each replica r, the smallest long key that Spark's hash
    partitioning into ``partitions`` sends to partition r.

    Spark has no "put this row in partition r", but ``repartition(P, key)``
    puts a row in ``pmod(hash(key), P)``; asking Spark for the hashes keeps
    this exact whatever its hash function is.
    """
    candidates = 8 * partitions
    while True:
        hits = (
            spark.range(candidates)
            .groupBy(F.pmod(F.hash("id"), F.lit(partitions)).alias("replica"))
            .agg(F.min("id").alias("key"))
            .collect()
        )
        found = {int(r["replica"]): int(r["key"]) for r in hits}
        if len(found) == partitions:
            return [found[r] for r in range(partitions)]
        candidates *= 8


def stratified_schedule(entries: DataFrame, partitions: int, sync_per_epoch: int, seed: int) -> DataFrame:
    """Place co-occurrence entries on replicas and rounds (module docstring).

    Returns ``entries`` (i, j, x) in ``partitions`` partitions with the
    ``_round`` column: within a round no two partitions share a word row i or
    a context row j, and an epoch has ``partitions × sync_per_epoch`` rounds.
    Shard s lands in partition s mod P whatever the files and partitions of
    ``entries``, so a run trains the same way in any session.
    """
    # Whole shards on one replica: every word row is trained by one replica;
    # the stratum gives each context row one replica per round. Placement is
    # by hash of a key chosen per replica (not by range bounds, which Spark
    # samples and so depend on the order it lists the table's files in).
    # The sort makes each partition's row order (and so the seeded visiting
    # order) independent of shuffle fetch order.
    keys = F.array(*[F.lit(k).cast("long") for k in replica_keys(entries.sparkSession, partitions)])
    replica_key = F.element_at(keys, (F.pmod(F.col("shard"), F.lit(partitions)) + 1).cast("int"))
    stratum = F.pmod(F.pmod(F.col("j"), F.lit(partitions)) - F.spark_partition_id(), F.lit(partitions))
    split = F.pmod(F.xxhash64("i", "j", F.lit(seed)), F.lit(sync_per_epoch))
    return (
        entries.withColumn("_replica_key", replica_key)
        .repartition(partitions, "_replica_key")
        .withColumn(ROUND_COLUMN, (stratum * sync_per_epoch + split).cast("int"))
        .sortWithinPartitions("i", "j")
        .select("i", "j", "x", ROUND_COLUMN)
    )


def run(spark: SparkSession, cfg: PipelineConfig, *, resume: bool = False) -> StageResult:
    """GloVe stage: train and write the ``glove`` vectors.

    Raises
    ------
    ModelTooLargeError
        The estimated model memory exceeds ``glove.max_model_mb``.
    embedpipe.train.averaging.DivergenceError
        Parameters became NaN or infinite.
    """
    t0 = time.perf_counter()
    g = cfg.glove
    root = cfg.output.path
    # The co-occurrence ids must index the vocab the vectors are named by.
    vocab_version = tables.vocab_version_of(spark, root, "cooccurrence")
    words, counts, _ = tables.read_vocab_arrays(spark, root, version=vocab_version)
    vocab_size = len(words)
    partitions = cfg.spark.partitions
    need = estimate_model_bytes(vocab_size, g.dim, partitions)
    if need > g.max_model_mb * 1024 * 1024:
        raise ModelTooLargeError(
            f"GloVe with {vocab_size} words × dim {g.dim} needs about {need / 2**20:.0f} MB on the driver "
            f"(glove.max_model_mb = {g.max_model_mb}); raise vocab.min_count, set vocab.max_size, "
            "lower glove.dim, or raise glove.max_model_mb and the driver's memory"
        )
    log.info("glove: %d words × dim %d, model estimate %.0f MB", vocab_size, g.dim, need / 2**20)

    co_version = tables.current_version(spark, root, "cooccurrence")
    entries = tables.read(spark, root, "cooccurrence")
    # The table's own shard count: the cooccur stage may have run with another config.
    co_meta = tables.latest_metadata(spark, root, "cooccurrence") or {}
    shards = int(co_meta.get("config", {}).get("cooccur", {}).get("shards", cfg.cooccur.shards))
    advice = shard_balance_advice(shards, partitions)
    if advice:
        log.warning("glove: %s", advice)
    # AdaGrad has no schedule over epochs, so a checkpoint stays valid when
    # only glove.epochs changes: `--resume --set glove.epochs=40` trains on.
    glove_keys = {k: v for k, v in cfg.to_dict()["glove"].items() if k != "epochs"}
    fp = fingerprint(glove_keys, cfg.section_json("cooccur", "vocab", "clean", "input"), co_version, partitions)
    rounds = partitions * g.sync_per_epoch
    data = stratified_schedule(entries, partitions, g.sync_per_epoch, g.seed).persist()
    try:
        n_entries = data.count()
        if n_entries == 0:
            raise ValueError("the cooccurrence table is empty; re-run the cooccur stage on a larger corpus")
        ckpt_dir = checkpoint.checkpoint_dir(root, "glove")
        start_epoch, costs = 0, []  # type: int, list[float]
        state = init_params(vocab_size, g.dim, g.seed)
        if resume:
            ck = checkpoint.load(ckpt_dir, fp)
            if ck is not None:
                state, start_epoch = ck.state, ck.epoch + 1
                costs = list(ck.info.get("costs", []))
                log.info("glove: resuming after epoch %d from %s", ck.epoch + 1, ckpt_dir)
            else:
                log.info("glove: no matching checkpoint in %s; starting from scratch", ckpt_dir)

        def describe(r: RoundResult) -> str:
            return f"cost {r.stats['cost'] / max(r.stats['entries'], 1):.5f}"

        def on_epoch_end(epoch: int, st: dict[str, np.ndarray], hist: list[RoundResult]) -> None:
            ep = [h for h in hist if h.epoch == epoch]
            costs.append(sum(h.stats["cost"] for h in ep) / max(sum(h.stats["entries"] for h in ep), 1))
            checkpoint.save(ckpt_dir, epoch, st, {"fingerprint": fp, "costs": costs})

        task = GloveEpochTask(vocab_size, g.x_max, g.power, g.learning_rate, g.grad_clip)
        history = train_with_averaging(
            spark,
            data,
            state,
            GROUPS,
            task,
            model="glove",
            epochs=g.epochs,
            rounds_per_epoch=rounds,
            seed=g.seed,
            num_partitions=partitions,
            merge="average",
            start_epoch=start_epoch,
            describe=describe,
            on_epoch_end=on_epoch_end,
            divergence_advice=(
                f"Lower glove.learning_rate (now {g.learning_rate}) or glove.x_max (now {g.x_max}), "
                f"or keep glove.grad_clip (now {g.grad_clip}) near glove.c's default of 100."
            ),
            checkpoint_note=lambda: checkpoint.describe(ckpt_dir),
            work_units="entries",
        )
    finally:
        data.unpersist()
    vectors = combine_output(state["W"], state["Wc"], g.output)
    run_id = new_run_id()
    train_seconds = sum(h.seconds for h in history)
    meta = {
        "config": cfg.to_dict(),
        "corpus_fingerprint": fp,
        "costs": costs,
        "entries": n_entries,
        "train_seconds": round(train_seconds, 2),
    }
    write_vectors(spark, root, model="glove", run_id=run_id, words=words, counts=counts, matrix=vectors, metadata=meta)
    seconds = time.perf_counter() - t0
    log.info(
        "glove: %d epochs, final cost %.5f, %d vectors written (%.1f s)",
        g.epochs,
        costs[-1] if costs else float("nan"),
        vocab_size,
        seconds,
    )
    return StageResult(
        "glove",
        run_id,
        seconds,
        rows=vocab_size,
        words=n_entries * (g.epochs - start_epoch),
        stats={"costs": costs, "entries": n_entries, "model_mb_estimate": round(need / 2**20, 1)},
    )
