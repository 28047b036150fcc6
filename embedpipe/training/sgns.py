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
are merged by ``sgns.merge`` (embedpipe.training.averaging). Seeds come from
(seed, partition, epoch, round), so a run is deterministic for a given seed
and partition count.

Run it alone with ``embedpipe sgns conf/demo.yaml [--resume]``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from embedpipe import tables
from embedpipe.batches import coalesce_batches
from embedpipe.config import PipelineConfig
from embedpipe.distributed import (
    Shared,
    cached_tuples,
    contiguous_ranges,
    partition_id,
    session_conf,
    share,
    training_cores,
)
from embedpipe.kernels.blocks import (
    assign_blocks,
    attached_cap,
    block_samplers,
    bucket_pairs,
    derive_seed,
    generate_pairs,
    rounds_of_pieces,
    train_cell_attached,
)
from embedpipe.kernels.rows import init_uniform_rows, local_index
from embedpipe.kernels.sgns import build_noise_cdf, init_weights, sgns_train_hogwild
from embedpipe.kernels.subsampling import keep_probabilities
from embedpipe.stage import StageResult, fingerprint
from embedpipe.training.averaging import ROUND_COLUMN, RoundResult, train_with_averaging
from embedpipe.training.loop import (
    Health,
    ParamGroup,
    RoundInfo,
    Training,
    averaging_driver_bytes,
    block_task_bytes,
    check_model_fits,
    moved_mb_per_epoch,
)
from embedpipe.training.merge import clipped_sum_floor
from embedpipe.training.rotation import CHUNK_BYTES, Cell, RotationPlan, train_with_rotation, vector_rows
from embedpipe.training.schedule import (
    ROUNDS_SCHEMA,
    RoundAssigner,
    choose_distribution,
    effective_sync_rounds,
    learning_rate_schedule,
)

log = logging.getLogger(__name__)

GROUPS = (ParamGroup("in", ("w_in",)), ParamGroup("out", ("w_out",)))
GROUP_PARAMS = tuple(g.params for g in GROUPS)


@dataclass(frozen=True)
class SgnsRoundTask:
    """Executor side of one round: train the partition's slice with the kernel."""

    tables_shared: Shared[dict[str, np.ndarray]]
    window: int
    negative: int
    cbow: bool
    threads: int = 1

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
        loss, words, pairs = sgns_train_hogwild(
            params["w_in"], params["w_out"], ids, offsets,
            const["keep_prob"], const["noise_cdf"],
            self.window, self.negative,
            float(info.extra["alpha_start"]), float(info.extra["alpha_end"]),
            info.task_seed(partition), self.cbow, touch_in, touch_out, self.threads,
        )  # fmt: skip
        return {"loss": float(loss), "words": float(words), "pairs": float(pairs)}, {"in": touch_in, "out": touch_out}


def untrained_loss(negative: int) -> float:
    """word2vec's loss per pair at the start: output vectors are zero, so each
    of the 1 + ``negative`` terms is log 2."""
    return (1 + negative) * math.log(2.0)


@dataclass(frozen=True)
class SgnsCells:
    """Executor side of rotation: one cell's pairs with routed negatives,
    attached to their word's pairs (:func:`embedpipe.kernels.blocks.train_cell_attached`).

    The input rows are context words (``w_in``), the output rows centre words
    (``w_out``), as in the sequential kernel. Every input word ``c`` draws
    ``Binomial(negative × n_c, Π(q))`` negatives from the output block ``q``
    it holds, from unigram^0.75 restricted to the block (``Π(q)`` its noise
    mass), so over an epoch each (word, negative) pair is met as often as in
    word2vec. ``n_c`` is the word's expected positive pairs in one round
    (``rounds`` rounds an epoch): ``count × keep-probability × (window + 1) /
    rounds``. A cell sees only its own pairs, so the round's realized count is
    not known to it; its expectation is. The progress line's loss is the
    kernel's: each pair's example with its attached negatives, weights before
    the update, as word2vec's.
    """

    dim: int
    window: int
    negative: int
    seed: int
    vocab: Shared[dict[str, Any]]  # counts, keep_prob (by word id), total noise mass
    rounds: int = 1
    data_dtypes: tuple[Any, ...] = (np.int32, np.int32)
    stats: tuple[str, ...] = ("loss", "pairs", "negatives")

    @property
    def in_width(self) -> int:
        return self.dim

    @property
    def out_width(self) -> int:
        return self.dim

    def init_rows(self, ids: np.ndarray, side: int) -> np.ndarray:
        # word2vec: input vectors uniform in [-0.5/dim, 0.5/dim), output vectors zero.
        if side == 0:
            return init_uniform_rows(ids, self.dim, self.seed, 0)
        return np.zeros((len(ids), self.dim), np.float32)

    def train(self, cell: Cell) -> dict[str, float]:
        v = self.vocab.value
        inp, out = (local_index(cell.in_ids, cell.data[0]), local_index(cell.out_ids, cell.data[1]))
        noise = v["counts"][cell.out_ids].astype(np.float64) ** 0.75
        if len(cell.out_ids) == 0 or noise.sum() <= 0:
            return {"loss": 0.0, "pairs": float(len(inp)), "negatives": 0.0}
        _, words, prob, alias, _ = block_samplers(noise, np.zeros(len(cell.out_ids), np.int32), 1)
        # Negatives owed by each input word this round, rounded once (rounding
        # per negative would bias rare words by up to half a pair each).
        owed = v["counts"][cell.in_ids] * v["keep_prob"][cell.in_ids] * (self.window + 1) * self.negative / self.rounds
        loss, negatives = train_cell_attached(
            cell.in_vals, cell.out_vals, inp, out, np.rint(owed).astype(np.int64),
            float(noise.sum() / v["noise_total"]), 0, len(cell.out_ids), words, prob, alias,
            cell.alpha_start, cell.alpha_end,
            np.uint64(derive_seed(self.seed, cell.epoch, cell.sub, cell.task)), np.zeros((0, 0), np.int64),
            attached_cap(self.negative),
        )  # fmt: skip
        return {"loss": float(loss), "pairs": float(len(inp)), "negatives": float(negatives)}


# A chunk of the corpus that one epoch's cells are made from at a time: a
# 16 MB Arrow batch of token ids (about 4M tokens).
CHUNK_TOKENS_BYTES = 16 << 20
CHUNKS_DDL = "part int, n int, position long, ids binary, lengths binary"
# Most pairs in one cells record (two int32 arrays of CHUNK_BYTES at most).
PAIRS_PER_RECORD = CHUNK_BYTES // 4
CHUNKS_ARROW = pa.schema(
    [("part", pa.int32()), ("n", pa.int32()), ("position", pa.int64()), ("ids", pa.binary()), ("lengths", pa.binary())]
)


@dataclass(frozen=True)
class CorpusChunks:
    """mapInArrow over the corpus cut into contiguous ranges (one per
    partition, ``first_token[p]`` the global position of partition p's first
    token): one row per chunk, with its partition, its number within the
    partition, the global position of its first token, its token ids (int32
    bytes) and its sentences' lengths (int64 bytes).

    Made once a run: every epoch's cells come from these rows in Python
    (:class:`CellsOfCorpus`), without converting the corpus again.
    """

    first_token: tuple[int, ...]

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        part = partition_id()
        position = self.first_token[part] if part < len(self.first_token) else 0
        for n, batch in enumerate(coalesce_batches(batches, CHUNK_TOKENS_BYTES)):
            ids_col = batch.column("ids")
            ids = pc.list_flatten(ids_col).to_numpy(zero_copy_only=False).astype(np.int32)
            lengths = pc.list_value_length(ids_col).to_numpy(zero_copy_only=False).astype(np.int64)
            row = {"part": [part], "n": [n], "position": [position], "ids": [ids.tobytes()],
                   "lengths": [lengths.tobytes()]}  # fmt: skip
            yield pa.RecordBatch.from_pydict(row, schema=CHUNKS_ARROW)
            position += len(ids)


@dataclass(frozen=True)
class CellsOfCorpus:
    """flatMap over the corpus's chunks (:class:`CorpusChunks`): one epoch's
    positive pairs (word2vec's subsampling and reduced windows, drawn anew
    each epoch), one ``(task, sub, seq, a, b, None)`` tuple (CELLS_DDL's
    order) per cell per chunk: task = block of the input word, sub-epoch =
    round × P + (block of the output word - task) mod P, seq orders the
    chunks (and a cell's pieces within one) as the corpus does.

    A sentence belongs to the round its middle falls in: round r holds the
    r-th of R consecutive parts of the corpus, as word2vec would meet them
    in one pass.
    """

    epoch: int
    seed: int
    window: int
    blocks: int
    rounds: int
    total_tokens: int
    assignment: Shared[np.ndarray]
    vocab: Shared[dict[str, Any]]

    def __call__(self, chunk: Any) -> Iterator[tuple[int, int, int, bytes, bytes, None]]:
        part, n, position, ids_bytes, lengths_bytes = chunk
        block_of = self.assignment.value
        keep = self.vocab.value["keep_prob"].astype(np.float32)
        ids = np.frombuffer(ids_bytes, np.int32)
        lengths = np.frombuffer(lengths_bytes, np.int64)
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        cuts = rounds_of_pieces(position, lengths, self.rounds, self.total_tokens)
        for rnd in range(self.rounds):
            a, b = int(cuts[rnd]), int(cuts[rnd + 1])
            if a == b:
                continue
            part_in, part_out = generate_pairs(
                ids[offsets[a] : offsets[b]], offsets[a : b + 1] - offsets[a], keep, self.window,
                derive_seed(self.seed, self.epoch, part, n, rnd),
            )  # fmt: skip
            start, inp, out = bucket_pairs(part_in, part_out, block_of, self.blocks)
            for cell in np.flatnonzero(np.diff(start)):
                task, q = divmod(int(cell), self.blocks)
                sub = rnd * self.blocks + (q - task) % self.blocks
                # Pieces of at most CHUNK_BYTES: PySpark's shuffle packs many
                # records into one value, which the JVM holds whole.
                for piece, lo in enumerate(range(int(start[cell]), int(start[cell + 1]), PAIRS_PER_RECORD)):
                    hi = min(lo + PAIRS_PER_RECORD, int(start[cell + 1]))
                    yield (task, sub, (part << 43) | (n << 23) | piece,
                           inp[lo:hi].tobytes(), out[lo:hi].tobytes(), None)  # fmt: skip


def _train_rotation(
    spark: SparkSession, cfg: PipelineConfig, training: Training, counts: np.ndarray, keep_prob: np.ndarray,
    resume: bool,
) -> tuple[DataFrame, RotationPlan, int]:  # fmt: skip
    """Skip-gram under rotation; the final blocks, the plan (its history) and the corpus's tokens."""
    s, P = cfg.sgns, cfg.spark.partitions
    # The corpus in its own order, cut into P contiguous ranges: a cell's
    # pairs (ordered by partition, then batch) follow the corpus as word2vec's
    # and gensim's do, and rounds are consecutive parts of it (CellsOfCorpus).
    # Pieces in a seeded random order, with pairs dealt to rounds at random,
    # scored 0.006 to 0.024 lower on WordSim-353 at 8 blocks in the one-process
    # emulation of this engine (bench/results/2026-12-03-sgns-corpus-order).
    # Adaptive execution would run each shuffle of these few small queries as
    # a Spark job of its own (4 jobs for the per-range counts alone), and the
    # engine's partitioning is set by hand anyway, as in the training loop.
    with session_conf(spark, "spark.sql.adaptive.enabled", "false"):
        ranges = contiguous_ranges(
            spark, tables.read(spark, cfg.output.path, "corpus"), P, ["line_id", "piece"], F.size("ids")
        )
        corpus = ranges.select("ids").persist()
        per_partition = corpus.groupBy(F.spark_partition_id().alias("p")).agg(F.sum(F.size("ids")).alias("n"))
        tokens_of: dict[int, int] = dict(per_partition.collect())
        tokens = [int(tokens_of.get(p) or 0) for p in range(max(tokens_of, default=-1) + 1)]
        first_token = tuple(int(x) for x in np.concatenate(([0], np.cumsum(tokens)[:-1])))
        total_words = sum(tokens)
        if total_words == 0:
            corpus.unpersist()
            raise ValueError("the corpus table has no tokens; re-run ingest and vocab on a larger corpus")
        chunks = cached_tuples(corpus.mapInArrow(CorpusChunks(first_token), CHUNKS_DDL))
        corpus.unpersist()
    noise = counts.astype(np.float64) ** 0.75
    vocab: Shared[dict[str, Any]] = share(
        spark, {"counts": counts, "keep_prob": keep_prob, "noise_total": float(noise.sum())}
    )
    mass = counts * np.minimum(keep_prob, 1.0)
    span = s.alpha - s.min_alpha
    rounds = effective_sync_rounds(s.sync_rounds, P, "rotation")
    steps = rounds * P  # sub-epochs per epoch

    def learning_rate(epoch: int, sub: int) -> tuple[float, float]:
        # Linear over global progress; every task of a sub-epoch shares its range.
        done, total = epoch * steps + sub, s.epochs * steps
        return s.alpha - span * done / total, s.alpha - span * (done + 1) / total

    plan = RotationPlan(
        model="sgns", trainer=SgnsCells(s.dim, s.window, s.negative, s.seed, vocab, rounds), blocks=P, epochs=s.epochs,
        seed=s.seed, rounds=rounds,
        # Blocks balanced by training mass, re-drawn every epoch so that no two
        # words share every epoch's cells.
        assignment=lambda epoch: assign_blocks(mass, P, derive_seed(s.seed, epoch, 1))[0],
        cells=lambda epoch, shared: chunks.flatMap(
            CellsOfCorpus(epoch, s.seed, s.window, P, rounds, total_words, shared, vocab)
        ),
        learning_rate=learning_rate, loss_stat="loss", count_stat="pairs", work_units="pairs",
        advice=f"Lower sgns.alpha (now {s.alpha}).", task_cpus=cfg.spark.task_cpus,
    )  # fmt: skip
    try:
        checkpointed = training.resume_blocks(resume)  # sets training.start_epoch
        blocks = train_with_rotation(
            spark, plan, start_epoch=training.start_epoch, state=checkpointed,
            on_epoch_end=training.epoch_end_blocks,
            health=Health(plan.advice, training.checkpoint_note, reference=untrained_loss(s.negative)),
        )  # fmt: skip
    finally:
        chunks.unpersist()
        vocab.release()
    return blocks, plan, total_words


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
    # Under rotation the driver never names a word: the counts are all it reads.
    counts = tables.read_vocab_counts(spark, root, version=vocab_version)
    vocab_size = len(counts)
    # Subsampling depends on sgns.sample, so it is computed here, not stored
    # with the vocabulary: tuning skip-gram never rebuilds the upstream tables.
    keep_prob = keep_probabilities(counts, s.sample)
    need = averaging_driver_bytes(vocab_size, 2 * s.dim, partitions)
    distribution, why = choose_distribution(
        s.distribution, "sgns", partitions, need, s.max_model_mb, rotation_possible=s.architecture == "skipgram"
    )
    log.info("sgns: distribution %s (%s)", distribution, why)
    corpus_version = tables.current_version(spark, root, "corpus")
    fp = fingerprint(cfg.section_json("sgns", "vocab", "clean", "input"), corpus_version, partitions, distribution)
    training = Training(spark, "sgns", root, fp, loss_stat="loss", count_stat="pairs", series="losses",
                        epochs=s.epochs, checkpoint_seconds=cfg.output.checkpoint_seconds)  # fmt: skip
    if distribution == "rotation":
        tasks = min(partitions, training_cores(spark, cfg.spark.task_cpus).slots)
        need = block_task_bytes(vocab_size, 2 * s.dim, partitions, tasks)
        where = f"each of {tasks} tasks"
        check_model_fits("sgns", vocab_size, s.dim, need, s.max_model_mb, where=where)
        blocks, plan, total_words = _train_rotation(spark, cfg, training, counts, keep_prob, resume)
        run_id = training.write_rows(
            spark, cfg, vector_rows(blocks, s.dim, s.dim, s.output), s.dim, vocab_size, plan.history,
            vocab_version=vocab_version, train_words=total_words,
        )  # fmt: skip
        return _result(cfg, training, run_id, vocab_size, total_words, need, time.perf_counter() - t0,
                       plan.history, distribution)  # fmt: skip
    words, _, _ = tables.read_vocab_arrays(spark, root, version=vocab_version)
    check_model_fits("sgns", vocab_size, s.dim, need, s.max_model_mb, where="the driver")
    rounds = effective_sync_rounds(s.sync_rounds, partitions)
    cores = training_cores(spark, cfg.spark.task_cpus)
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
        state = training.resume_arrays(resume, {"w_in": w_in, "w_out": w_out}, GROUP_PARAMS)

        def describe(r: RoundResult) -> str:
            _, a1 = schedule[(r.epoch, r.round)]
            return f"lr {a1:.5f} | loss {r.stats['loss'] / max(r.stats['pairs'], 1):.4f}"

        floor = f" (floor {clipped_sum_floor(partitions):g} logits)" if s.merge == "clipped_sum" else ""
        log.info("sgns: %d partitions, %d rounds an epoch, merge %s%s", partitions, rounds, s.merge, floor)
        history = train_with_averaging(
            spark, data, state, GROUPS,
            SgnsRoundTask(const, s.window, s.negative, s.architecture == "cbow", cores.cpus),
            model="sgns", epochs=s.epochs, rounds_per_epoch=rounds, seed=s.seed, num_partitions=partitions,
            merge=s.merge, start_epoch=training.start_epoch, profile=cores.profile,
            round_extra=lambda e, r: dict(zip(("alpha_start", "alpha_end"), schedule[(e, r)], strict=True)),
            describe=describe, on_epoch_end=lambda e, st, hist: training.epoch_end_arrays(e, st, hist, GROUP_PARAMS),
            health=Health(
                f"Lower sgns.alpha (now {s.alpha}).", training.checkpoint_note, reference=untrained_loss(s.negative)
            ),
            loss_stat="loss", count_stat="pairs", work_units="words",
        )  # fmt: skip
    finally:
        const.release()
        data.unpersist()
    vectors = state["w_in"] if s.output == "in" else state["w_in"] + state["w_out"]
    run_id = training.write(spark, cfg, words, counts, vectors, history, train_words=total_words)
    seconds = time.perf_counter() - t0
    return _result(cfg, training, run_id, vocab_size, total_words, need, seconds, history, distribution)


def _result(
    cfg: PipelineConfig, training: Training, run_id: str, vocab_size: int, total_words: int, need: int, seconds: float,
    history: Sequence[Any], distribution: str,
) -> StageResult:  # fmt: skip
    s, losses = cfg.sgns, training.losses
    log.info(
        "sgns: %s (%s), %d epochs over %d words, final loss %.4f (%.1f s)",
        s.architecture, distribution, s.epochs, total_words, losses[-1] if losses else float("nan"), seconds,
    )  # fmt: skip
    return StageResult(
        "sgns", run_id, seconds, rows=vocab_size, work=total_words * (s.epochs - training.start_epoch), unit="words",
        stats={"losses": losses, "model_mb_estimate": round(need / 2**20, 1), "distribution": distribution,
               "moved_mb_per_epoch": moved_mb_per_epoch(history)},
    )  # fmt: skip
