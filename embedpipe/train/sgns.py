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
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from embedpipe import tables
from embedpipe.config import PipelineConfig
from embedpipe.distributed import Shared, share
from embedpipe.errors import ModelTooLargeError
from embedpipe.kernels.rounds import assign_rounds
from embedpipe.kernels.sgns import build_noise_cdf, init_weights, sgns_train_chunk
from embedpipe.kernels.subsampling import keep_probabilities
from embedpipe.stage import StageResult, fingerprint, new_run_id
from embedpipe.train import checkpoint
from embedpipe.train.averaging import ROUND_COLUMN, RoundResult, train_with_averaging
from embedpipe.train.loop import ParamGroup, RoundInfo
from embedpipe.train.merge import clipped_sum_floor
from embedpipe.vectors import write_vectors

log = logging.getLogger(__name__)

GROUPS = (ParamGroup("in", ("w_in",)), ParamGroup("out", ("w_out",)))


def estimate_model_bytes(vocab_size: int, dim: int, partitions: int) -> int:
    """Driver memory: two (V, dim) float32 matrices, the replicas' touched
    rows during a merge (one copy per partition) and float64 work space."""
    return 2 * vocab_size * dim * 4 * (3 + partitions)


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


def effective_sync_rounds(configured: int, partitions: int) -> int:
    """Rounds per epoch: the configured number, or for 0 (auto)
    ``max(4 × partitions, partitions²)``.

    Why: with the clipped_sum merge, quality depends on how often replicas
    merge, more so the more replicas there are. On wiki17m (README,
    skip-gram) 2 partitions went from 0.345 to 0.358 analogy accuracy with 8
    rounds instead of 4; 8 partitions from 0.318 (16 rounds) to 0.331 (32)
    to 0.350 (64), against gensim's 0.358 in the same session. The square
    takes over from 4 × partitions above 4 partitions; at 4 partitions (16
    rounds) the latest bench scored 0.334 against gensim's 0.360, so more
    rounds may pay off there too (not measured).
    """
    return configured if configured > 0 else max(4 * partitions, partitions * partitions)


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


def run(spark: SparkSession, cfg: PipelineConfig, *, resume: bool = False) -> StageResult:
    """Skip-gram stage: train and write the ``sgns`` vectors.

    Raises
    ------
    ModelTooLargeError
        The estimated model memory exceeds ``sgns.max_model_mb``.
    embedpipe.train.averaging.DivergenceError
        Weights became NaN or infinite.
    """
    t0 = time.perf_counter()
    s = cfg.sgns
    root = cfg.output.path
    # The corpus's ids must index the vocab the vectors are named by.
    vocab_version = tables.vocab_version_of(spark, root, "corpus")
    words, counts, _ = tables.read_vocab_arrays(spark, root, version=vocab_version)
    vocab_size = len(words)
    partitions = cfg.spark.partitions
    need = estimate_model_bytes(vocab_size, s.dim, partitions)
    if need > s.max_model_mb * 1024 * 1024:
        raise ModelTooLargeError(
            f"skip-gram with {vocab_size} words × dim {s.dim} needs about {need / 2**20:.0f} MB on the driver "
            f"(sgns.max_model_mb = {s.max_model_mb}); raise vocab.min_count, set vocab.max_size, "
            "lower sgns.dim, or raise sgns.max_model_mb and the driver's memory"
        )
    log.info("sgns: %d words × dim %d, model estimate %.0f MB", vocab_size, s.dim, need / 2**20)
    # Subsampling depends on sgns.sample, so it is computed here, not stored
    # with the vocabulary: tuning skip-gram never rebuilds the upstream tables.
    keep_prob = keep_probabilities(counts, s.sample)

    corpus_version = tables.current_version(spark, root, "corpus")
    corpus = tables.read(spark, root, "corpus")
    fp = fingerprint(cfg.section_json("sgns", "vocab", "clean", "input"), corpus_version, partitions)
    rounds = effective_sync_rounds(s.sync_rounds, partitions)
    data = (
        corpus.repartition(partitions, "line_id", "piece")
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

        ckpt_dir = checkpoint.checkpoint_dir(root, "sgns")
        w_in, w_out = init_weights(vocab_size, s.dim, s.seed)
        state: dict[str, np.ndarray] = {"w_in": w_in, "w_out": w_out}
        start_epoch, losses = 0, []  # type: int, list[float]
        if resume:
            ck = checkpoint.load(ckpt_dir, fp)
            if ck is not None:
                state, start_epoch = ck.state, ck.epoch + 1
                losses = list(ck.info.get("losses", []))
                log.info("sgns: resuming after epoch %d from %s", ck.epoch + 1, ckpt_dir)

        def round_extra(epoch: int, rnd: int) -> dict[str, Any]:
            a0, a1 = schedule[(epoch, rnd)]
            return {"alpha_start": a0, "alpha_end": a1}

        def describe(r: RoundResult) -> str:
            _, a1 = schedule[(r.epoch, r.round)]
            return f"lr {a1:.5f} | loss {r.stats['loss'] / max(r.stats['pairs'], 1):.4f}"

        def on_epoch_end(epoch: int, st: dict[str, np.ndarray], hist: list[RoundResult]) -> None:
            ep = [h for h in hist if h.epoch == epoch]
            losses.append(sum(h.stats["loss"] for h in ep) / max(sum(h.stats["pairs"] for h in ep), 1))
            checkpoint.save(ckpt_dir, epoch, st, {"fingerprint": fp, "losses": losses})

        log.info(
            "sgns: %d partitions, %d rounds an epoch, merge %s%s",
            partitions,
            rounds,
            s.merge,
            f" (floor {clipped_sum_floor(partitions):g} logits)" if s.merge == "clipped_sum" else "",
        )
        task = SgnsRoundTask(const, s.window, s.negative, s.architecture == "cbow")
        history = train_with_averaging(
            spark,
            data,
            state,
            GROUPS,
            task,
            model="sgns",
            epochs=s.epochs,
            rounds_per_epoch=rounds,
            seed=s.seed,
            num_partitions=partitions,
            merge=s.merge,
            start_epoch=start_epoch,
            round_extra=round_extra,
            describe=describe,
            on_epoch_end=on_epoch_end,
            divergence_advice=f"Lower sgns.alpha (now {s.alpha}).",
            checkpoint_note=lambda: checkpoint.describe(ckpt_dir),
            work_units="words",
        )
    finally:
        const.release()
        data.unpersist()
    vectors = state["w_in"] if s.output == "in" else state["w_in"] + state["w_out"]
    run_id = new_run_id()
    meta = {
        "config": cfg.to_dict(),
        "corpus_fingerprint": fp,
        "losses": losses,
        "train_words": total_words,
        "train_seconds": round(sum(h.seconds for h in history), 2),
    }
    write_vectors(spark, root, model="sgns", run_id=run_id, words=words, counts=counts, matrix=vectors, metadata=meta)
    seconds = time.perf_counter() - t0
    log.info(
        "sgns: %s, %d epochs over %d words, final loss %.4f (%.1f s)",
        s.architecture,
        s.epochs,
        total_words,
        losses[-1] if losses else float("nan"),
        seconds,
    )
    return StageResult(
        "sgns",
        run_id,
        seconds,
        rows=vocab_size,
        words=total_words * (s.epochs - start_epoch),
        stats={"losses": losses, "model_mb_estimate": round(need / 2**20, 1)},
    )
