"""Which data trains in which round, and the learning-rate schedule.

Skip-gram under averaging: each partition's pieces are dealt to the epoch's
rounds so every round's slice is the same size (:class:`RoundAssigner`), and
the learning rate decays with global progress (:func:`learning_rate_schedule`).

GloVe under averaging: whole co-occurrence shards sit on one replica and each
round trains one stratum of context rows, so no two replicas touch the same
row in a round (:func:`stratified_schedule`, Gemulla et al. 2011).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from embedpipe import tables
from embedpipe.kernels.rounds import assign_rounds
from embedpipe.training.averaging import ROUND_COLUMN

# The corpus table's token ids, with the round each piece trains in.
ROUNDS_SCHEMA = T.StructType([tables.CORPUS["ids"], T.StructField(ROUND_COLUMN, T.IntegerType(), False)])


@dataclass(frozen=True)
class RoundAssigner:
    """mapInArrow function: each piece of a partition (in the partition's
    order) goes to the round that holds the fewest of its tokens so far, so
    that every round's slice of the partition is within one piece of the
    same size and no round waits on an oversized slice
    (embedpipe.kernels.rounds)."""

    rounds: int

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        held = np.zeros(self.rounds, dtype=np.int64)
        for batch in batches:
            ids = batch.column("ids")
            lengths = pc.list_value_length(ids).to_numpy(zero_copy_only=False).astype(np.int64)
            yield pa.RecordBatch.from_arrays([ids, pa.array(assign_rounds(lengths, held))], names=["ids", ROUND_COLUMN])


# Skip-gram rotation's rounds per epoch when sgns.sync_rounds is 0 (auto).
ROTATION_ROUNDS = 4


def effective_sync_rounds(configured: int, partitions: int, distribution: str = "averaging") -> int:
    """Rounds per epoch: the configured number, or for 0 (auto)
    ``max(4 × partitions, partitions²)`` under averaging (1 for one
    partition) and :data:`ROTATION_ROUNDS` under rotation.

    Why: with the clipped_sum merge, quality depends on how often replicas
    merge, and more so the more replicas there are; the square is what kept
    gensim's analogy accuracy at 8 partitions on wiki17m
    (bench/results/2026-11-24-sgns-sync-rounds, docs/design.md). Under
    rotation nothing is merged, but a row must meet each output block in
    short bursts: 4 rounds kept gensim's quality at 8 and 32 blocks in the
    one-process simulation, 2 did not by as wide a margin, and every round
    costs P engine steps (bench/results/2026-12-02-block-schedule).
    """
    if configured > 0:
        return configured
    if distribution == "rotation":
        return ROTATION_ROUNDS
    if partitions == 1:
        return 1  # one replica has nothing to merge with
    return max(4 * partitions, partitions * partitions)


# The most replicas the `auto` distribution trains under averaging. Skip-gram:
# at 2 it meets gensim's quality and time with 8 rounds an epoch; at 8 it
# needs 64 rounds, and rotation was faster (bench/results/2026-12-03-scale-out).
# GloVe: averaging broadcasts all eight of its V x d arrays P times an epoch,
# rotation moves only the output blocks (bench/results/2026-12-03-glove-scale-out).
AVERAGING_MAX_REPLICAS = 2


def choose_distribution(
    configured: str, model: str, partitions: int, averaging_bytes: int, budget_mb: int, *,
    rotation_possible: bool = True,
) -> tuple[str, str]:  # fmt: skip
    """The distribution a trainer runs, and why, for ``<model>.distribution``.

    ``rotation`` and ``averaging`` are taken as set. ``auto`` picks:

    * ``averaging`` when rotation cannot train this model (CBOW);
    * ``rotation`` when averaging's driver memory (``averaging_bytes``)
      exceeds ``<model>.max_model_mb``: the blocks live on the executors;
    * ``rotation`` beyond :data:`AVERAGING_MAX_REPLICAS` replicas, where
      skip-gram's averaging needs ``partitions²`` merges an epoch to keep
      quality and GloVe's broadcasts its whole state ``partitions`` times;
    * otherwise ``averaging``, the faster at few replicas.
    """
    if configured != "auto":
        return configured, f"{model}.distribution: {configured}"
    if not rotation_possible:
        return "averaging", "auto: CBOW trains under averaging only"
    if averaging_bytes > budget_mb * 2**20:
        return "rotation", (
            f"auto: averaging would hold {averaging_bytes / 2**20:.0f} MB on the driver, over "
            f"{model}.max_model_mb = {budget_mb}"
        )
    if partitions > AVERAGING_MAX_REPLICAS:
        cost = f"{partitions}² merges" if model == "sgns" else f"{partitions} broadcasts of the whole model"
        return "rotation", (
            f"auto: {partitions} replicas, over the {AVERAGING_MAX_REPLICAS} that averaging trains well "
            f"without {cost} an epoch"
        )
    return "averaging", f"auto: {partitions} replica(s) and the model fits the driver"


def learning_rate_schedule(
    alpha: float, min_alpha: float, words_per_round: list[int], epochs: int
) -> dict[tuple[int, int], tuple[float, float]]:
    """(epoch, round) -> (alpha at the round's first word, at its last word).

    Progress is global: all partitions of a round train concurrently, so when
    each is a fraction f through its slice, the whole job is f through the
    round's words. The rate is never restarted per partition or epoch.
    """
    total = float(sum(words_per_round) * epochs) or 1.0
    out: dict[tuple[int, int], tuple[float, float]] = {}
    done = 0.0
    for e in range(epochs):
        for r, w in enumerate(words_per_round):
            a0 = alpha - (alpha - min_alpha) * done / total
            done += w
            a1 = alpha - (alpha - min_alpha) * done / total
            out[(e, r)] = (max(a0, min_alpha), max(a1, min_alpha))
    return out


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
