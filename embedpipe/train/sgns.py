"""Skip-gram (or CBOW) with negative sampling, trained with parameter averaging.

Reads ``corpus`` and ``vocab``; writes the ``sgns`` rows of ``vectors``.

Model: word2vec's (Mikolov et al. 2013) with ``sgns.negative`` negatives from
the unigram^0.75 distribution, a dynamic window uniform in 1..``sgns.window``,
subsampling with word2vec's keep-probability (``sgns.sample``, stored in the
vocab table), and a learning rate that decays linearly from ``sgns.alpha`` to
``sgns.min_alpha`` with *global* progress over all epochs and partitions.
``sgns.architecture: cbow`` averages the context instead (word2vec's
``-cbow 1``). The hot loop is embedpipe.kernels.sgns.

Distribution: the corpus is hash-partitioned into ``spark.partitions``
replicas and cached; in a seeded random order, every piece of a partition
goes to the one of ``sgns.sync_rounds`` rounds that holds the fewest tokens
so far, so the partitions' slices of a round are the same size. In a
round the driver broadcasts both weight matrices, every partition trains
its slice of that round, and the rows each replica touched
are merged by ``sgns.merge`` (embedpipe.train.averaging). Seeds come from
(seed, partition, epoch, round), so a run is deterministic for a given seed
and partition count.

Run it alone with ``embedpipe sgns conf/demo.yaml [--resume]``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from embedpipe import tables
from embedpipe.config import PipelineConfig
from embedpipe.distributed import Shared, share
from embedpipe.kernels.sgns import build_noise_cdf, init_weights, sgns_train_chunk
from embedpipe.kernels.subsampling import keep_probabilities
from embedpipe.stage import StageResult, fingerprint
from embedpipe.train.averaging import ROUND_COLUMN, RoundResult, train_with_averaging
from embedpipe.train.loop import ParamGroup, RoundInfo, Training, averaging_driver_bytes, check_model_fits
from embedpipe.train.merge import clipped_sum_floor
from embedpipe.train.schedule import (
    ROUNDS_SCHEMA,
    RoundAssigner,
    effective_sync_rounds,
    learning_rate_schedule,
)

log = logging.getLogger(__name__)

GROUPS = (ParamGroup("in", ("w_in",)), ParamGroup("out", ("w_out",)))


@dataclass(frozen=True)
class SgnsRoundTask:
    """Executor side of one round: train the partition's slice with the kernel."""

    tables_shared: Shared[dict[str, np.ndarray]]
    window: int
    negative: int
    cbow: bool

    def __call__(
        self, params: dict[str, np.ndarray], batches: Iterator[pa.RecordBatch], info: RoundInfo, partition: int
    ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        lists = [b.column("ids") for b in batches if b.num_rows]
        vocab_size = params["w_in"].shape[0]
        touch_in = np.zeros(vocab_size, dtype=np.int64)
        touch_out = np.zeros(vocab_size, dtype=np.int64)
        if not lists:
            return {"loss": 0.0, "words": 0.0, "pairs": 0.0}, {"in": touch_in, "out": touch_out}
        ids = np.concatenate([pc.list_flatten(a).to_numpy(zero_copy_only=False) for a in lists]).astype(np.int32)
        lengths = np.concatenate([pc.list_value_length(a).to_numpy(zero_copy_only=False) for a in lists]).astype(
            np.int64
        )
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        const = self.tables_shared.value
        loss, words, pairs = sgns_train_chunk(
            params["w_in"], params["w_out"], ids, offsets,
            const["keep_prob"], const["noise_cdf"],
            self.window, self.negative,
            float(info.extra["alpha_start"]), float(info.extra["alpha_end"]),
            info.task_seed(partition), self.cbow, touch_in, touch_out,
        )  # fmt: skip
        return {"loss": float(loss), "words": float(words), "pairs": float(pairs)}, {"in": touch_in, "out": touch_out}


def run(spark: SparkSession, cfg: PipelineConfig, *, resume: bool = False) -> StageResult:
    """Skip-gram stage: train and write the ``sgns`` vectors.

    Raises
    ------
    ModelTooLargeError
        The estimated model memory exceeds ``sgns.max_model_mb``.
    DivergenceError
        Weights became NaN or infinite.
    """
    t0 = time.perf_counter()
    s, root, partitions = cfg.sgns, cfg.output.path, cfg.spark.partitions
    # The corpus's ids must index the vocab the vectors are named by.
    vocab_version = tables.vocab_version_of(spark, root, "corpus")
    words, counts, _ = tables.read_vocab_arrays(spark, root, version=vocab_version)
    need = averaging_driver_bytes(len(words), 2 * s.dim, partitions)
    check_model_fits("sgns", len(words), s.dim, need, s.max_model_mb)
    # Subsampling depends on sgns.sample, so it is computed here, not stored
    # with the vocabulary: tuning skip-gram never rebuilds the upstream tables.
    keep_prob = keep_probabilities(counts, s.sample)

    corpus_version = tables.current_version(spark, root, "corpus")
    fp = fingerprint(cfg.section_json("sgns", "vocab", "clean", "input"), corpus_version, partitions)
    rounds = effective_sync_rounds(s.sync_rounds, partitions)
    data = (
        tables.read(spark, root, "corpus")
        .repartition(partitions, "line_id", "piece")
        # A seeded random order inside each partition, fixed so that runs are
        # deterministic; rounds are then filled in that order (RoundAssigner).
        .sortWithinPartitions(F.xxhash64("line_id", "piece", F.lit(s.seed)), "line_id", "piece")
        .select("ids")
        .mapInArrow(RoundAssigner(rounds), ROUNDS_SCHEMA)
        .persist()
    )
    const = share(spark, {"keep_prob": keep_prob.astype(np.float32), "noise_cdf": build_noise_cdf(counts)})
    try:
        per_round = {
            int(r[ROUND_COLUMN]): int(r["n"])
            for r in data.groupBy(ROUND_COLUMN).agg(F.sum(F.size("ids")).alias("n")).collect()
        }
        words_per_round = [per_round.get(r, 0) for r in range(rounds)]
        total_words = sum(words_per_round)
        if total_words == 0:
            raise ValueError("the corpus table has no tokens; re-run ingest and vocab on a larger corpus")
        schedule = learning_rate_schedule(s.alpha, s.min_alpha, words_per_round, s.epochs)
        w_in, w_out = init_weights(len(words), s.dim, s.seed)
        training, state = Training.start(
            "sgns", root, fp, {"w_in": w_in, "w_out": w_out},
            resume=resume, loss_stat="loss", count_stat="pairs", series="losses",
        )  # fmt: skip

        def describe(r: RoundResult) -> str:
            _, a1 = schedule[(r.epoch, r.round)]
            return f"lr {a1:.5f} | loss {r.stats['loss'] / max(r.stats['pairs'], 1):.4f}"

        floor = f" (floor {clipped_sum_floor(partitions):g} logits)" if s.merge == "clipped_sum" else ""
        log.info("sgns: %d partitions, %d rounds an epoch, merge %s%s", partitions, rounds, s.merge, floor)
        history = train_with_averaging(
            spark, data, state, GROUPS, SgnsRoundTask(const, s.window, s.negative, s.architecture == "cbow"),
            model="sgns", epochs=s.epochs, rounds_per_epoch=rounds, seed=s.seed, num_partitions=partitions,
            merge=s.merge, start_epoch=training.start_epoch,
            round_extra=lambda e, r: dict(zip(("alpha_start", "alpha_end"), schedule[(e, r)], strict=True)),
            describe=describe, on_epoch_end=training.epoch_end,
            divergence_advice=f"Lower sgns.alpha (now {s.alpha}).", checkpoint_note=training.checkpoint_note,
            work_units="words",
        )  # fmt: skip
    finally:
        const.release()
        data.unpersist()
    vectors = state["w_in"] if s.output == "in" else state["w_in"] + state["w_out"]
    run_id = training.write(spark, cfg, words, counts, vectors, history, train_words=total_words)
    seconds = time.perf_counter() - t0
    losses = training.losses
    log.info(
        "sgns: %s, %d epochs over %d words, final loss %.4f (%.1f s)",
        s.architecture, s.epochs, total_words, losses[-1] if losses else float("nan"), seconds,
    )  # fmt: skip
    return StageResult(
        "sgns", run_id, seconds, rows=len(words), words=total_words * (s.epochs - training.start_epoch),
        stats={"losses": losses, "model_mb_estimate": round(need / 2**20, 1)},
    )  # fmt: skip
