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
that touched it (embedpipe.training.averaging). Under this schedule every row, word
or context, is touched by exactly one replica per round, so the average is
exact: P replicas compute what one would, in 1/P of the time per round. An
epoch is P rounds; ``glove.sync_per_epoch = k`` splits each stratum into k.

Why: with every replica training every context row, the average gives each
context row 1/P of the step sequential training makes, and summing the
replicas' AdaGrad steps instead diverges (docs/design.md).

After every round the parameters must be finite; otherwise the stage stops
with advice and keeps the last epoch's checkpoint. ``--resume`` continues a
killed run from that checkpoint and ends where an uninterrupted run would.

Run it alone with ``embedpipe glove conf/demo.yaml [--resume]``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark.sql import SparkSession

from embedpipe import tables
from embedpipe.config import PipelineConfig
from embedpipe.distributed import Shared, staged, training_cores, tuples_of_staged
from embedpipe.kernels.blocks import assign_blocks, derive_seed
from embedpipe.kernels.glove import combine_output, glove_epoch, glove_epoch_hogwild, init_params, shuffled_order
from embedpipe.kernels.rows import init_uniform_rows, local_index
from embedpipe.stage import StageResult, fingerprint
from embedpipe.training.averaging import train_with_averaging
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
from embedpipe.training.packed import PackedTotals, pack_entries, pack_rounds, packed_row, packed_totals, unpack
from embedpipe.training.rotation import Cell, RotationPlan, train_with_rotation, vector_rows
from embedpipe.training.schedule import choose_distribution, shard_balance_advice, stratified_schedule

log = logging.getLogger(__name__)

GROUPS = (
    ParamGroup("word", ("W", "b", "gW", "gb")),
    ParamGroup("context", ("Wc", "bc", "gWc", "gbc")),
)


@dataclass(frozen=True)
class GloveEpochTask:
    """Executor side of one round: a shuffled AdaGrad pass over the partition's
    entries, which come packed (embedpipe.training.packed.pack_rounds)."""

    vocab_size: int
    x_max: float
    power: float
    learning_rate: float
    grad_clip: float
    threads: int = 1

    def __call__(
        self, params: dict[str, np.ndarray], batches: Iterator[pa.RecordBatch], info: RoundInfo, partition: int
    ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        rows, ctx, vals = unpack(batches)
        touch_w = np.zeros(self.vocab_size, dtype=np.int64)
        touch_c = np.zeros(self.vocab_size, dtype=np.int64)
        order = shuffled_order(len(vals), info.task_seed(partition))
        cost = glove_epoch_hogwild(
            params["W"], params["Wc"], params["b"], params["bc"],
            params["gW"], params["gWc"], params["gb"], params["gbc"],
            rows, ctx, vals, order,
            self.x_max, self.power, self.learning_rate, self.grad_clip,
            touch_w, touch_c, self.threads,
        )  # fmt: skip
        return {"cost": float(cost), "entries": float(len(vals))}, {"word": touch_w, "context": touch_c}


@dataclass(frozen=True)
class GloveCells:
    """Executor side of rotation: AdaGrad over one cell with the task's two blocks.

    A row of either side is ``[vector (dim), bias, AdaGrad sums of the vector
    (dim), AdaGrad sum of the bias]``: the state travels with its row.
    """

    dim: int
    x_max: float
    power: float
    learning_rate: float
    grad_clip: float
    seed: int
    data_dtypes: tuple[Any, ...] = (np.int32, np.int32, np.float64)
    stats: tuple[str, ...] = ("cost", "entries")

    @property
    def in_width(self) -> int:
        return 2 * self.dim + 2

    @property
    def out_width(self) -> int:
        return 2 * self.dim + 2

    def init_rows(self, ids: np.ndarray, side: int) -> np.ndarray:
        # glove.c: vectors and biases uniform in [-0.5/dim, 0.5/dim), AdaGrad sums at 1.
        vec = init_uniform_rows(ids, self.dim, self.seed, 2 * side)
        bias = init_uniform_rows(ids, 1, self.seed, 2 * side + 1, scale_dim=self.dim)
        return np.hstack([vec, bias, np.ones((len(ids), self.dim + 1), np.float32)])

    def _split(self, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        d = self.dim
        return (np.ascontiguousarray(vals[:, :d]), np.ascontiguousarray(vals[:, d]),
                np.ascontiguousarray(vals[:, d + 1 : 2 * d + 1]), np.ascontiguousarray(vals[:, 2 * d + 1]))  # fmt: skip

    def train(self, cell: Cell) -> dict[str, float]:
        i, j, x = cell.data
        W, b, gW, gb = self._split(cell.in_vals)
        Wc, bc, gWc, gbc = self._split(cell.out_vals)
        order = shuffled_order(len(x), derive_seed(self.seed, cell.epoch, cell.sub, cell.task))
        cost = glove_epoch(
            W, Wc, b, bc, gW, gWc, gb, gbc,
            local_index(cell.in_ids, i), local_index(cell.out_ids, j), np.ascontiguousarray(x, np.float64), order,
            self.x_max, self.power, self.learning_rate, self.grad_clip,
            np.zeros(len(cell.in_ids), np.int64), np.zeros(len(cell.out_ids), np.int64),
        )  # fmt: skip
        for vals, (v, bias, g, gbias) in ((cell.in_vals, (W, b, gW, gb)), (cell.out_vals, (Wc, bc, gWc, gbc))):
            d = self.dim
            vals[:, :d], vals[:, d], vals[:, d + 1 : 2 * d + 1], vals[:, 2 * d + 1] = v, bias, g, gbias
        return {"cost": float(cost), "entries": float(len(x))}


@dataclass(frozen=True)
class CellsOfPacked:
    """mapPartitionsWithIndex over packed co-occurrence entries as tuples
    (embedpipe.training.packed): each packed run's entries as one CELLS_DDL
    tuple per cell (task = block of i, sub-epoch = (block of j - task) mod P,
    seq = the run's place in the table's order)."""

    assignment: Shared[np.ndarray]
    blocks: int

    def __call__(self, part: int, rows: Iterable[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
        block_of = self.assignment.value
        # A run is about 4 MB of entries (PACK_BATCH_BYTES). Cut per Arrow
        # batch of 2,048 entries, 8 blocks made ~30 entries a cell row, and a
        # wiki17m epoch 1.4M rows for the shuffle and each step to walk through.
        for n, row in enumerate(rows):
            i, j, x = packed_row(row)
            task = block_of[i]
            sub = (block_of[j] - task) % self.blocks
            cell = task.astype(np.int64) * self.blocks + sub
            if self.blocks**2 <= 1 << 16:
                # numpy's stable sort is a radix sort on 16-bit keys: 13 ms a
                # 4 MB run instead of 32 ms, the same order.
                cell = cell.astype(np.uint16)
            order = np.argsort(cell, kind="stable")
            bounds = np.flatnonzero(np.diff(cell[order])) + 1
            for sel in np.split(order, bounds):
                if len(sel):
                    yield (int(task[sel[0]]), int(sub[sel[0]]), (part << 32) | n,
                           i[sel].tobytes(), j[sel].tobytes(), x[sel].tobytes())  # fmt: skip


def nonempty(totals: PackedTotals) -> PackedTotals:
    """The packed entries' totals, or the error that names the fix when there are none."""
    if totals.entries == 0:
        raise ValueError("the cooccurrence table is empty; re-run the cooccur stage on a larger corpus")
    return totals


def run(spark: SparkSession, cfg: PipelineConfig, *, resume: bool = False) -> StageResult:
    """GloVe stage: train and write the ``glove`` vectors.

    Raises
    ------
    ModelTooLargeError
        The estimated model memory exceeds ``glove.max_model_mb``.
    DivergenceError
        Parameters became NaN or infinite, or the cost ran away.
    """
    t0 = time.perf_counter()
    g, root, partitions = cfg.glove, cfg.output.path, cfg.spark.partitions
    # The co-occurrence ids must index the vocab the vectors are named by.
    vocab_version = tables.vocab_version_of(spark, root, "cooccurrence")
    # Under rotation the driver never names a word: the counts are all it reads.
    counts = tables.read_vocab_counts(spark, root, version=vocab_version)
    vocab_size = len(counts)
    # Parameters and AdaGrad state of both sides: 4 arrays of (dim + 1) floats per word.
    averaging_need = averaging_driver_bytes(vocab_size, 4 * (g.dim + 1), partitions)
    distribution, why = choose_distribution(g.distribution, "glove", partitions, averaging_need, g.max_model_mb)
    log.info("glove: distribution %s (%s)", distribution, why)
    co_version = tables.current_version(spark, root, "cooccurrence")
    # AdaGrad has no schedule over epochs, so a checkpoint stays valid when
    # only glove.epochs changes: `--resume --set glove.epochs=40` trains on.
    glove_keys = {k: v for k, v in cfg.to_dict()["glove"].items() if k != "epochs"}
    fp = fingerprint(
        glove_keys, cfg.section_json("cooccur", "vocab", "clean", "input"), co_version, partitions, distribution
    )
    training = Training(spark, "glove", root, fp, loss_stat="cost", count_stat="entries", series="costs",
                        epochs=g.epochs, checkpoint_seconds=cfg.output.checkpoint_seconds)  # fmt: skip
    entries = tables.read(spark, root, "cooccurrence")
    health = Health(
        advice=(
            f"Lower glove.learning_rate (now {g.learning_rate}) or glove.x_max (now {g.x_max}), "
            f"or keep glove.grad_clip (now {g.grad_clip}) near glove.c's default of 100."
        ),
        checkpoint_note=training.checkpoint_note,
    )  # its reference, the untrained model's cost, comes with the packed entries' count below
    if distribution == "rotation":
        trainer = GloveCells(g.dim, g.x_max, g.power, g.learning_rate, g.grad_clip, g.seed)
        tasks = min(partitions, training_cores(spark, cfg.spark.task_cpus).slots)
        need = block_task_bytes(vocab_size, trainer.in_width + trainer.out_width, partitions, tasks)
        where = f"each of {tasks} tasks"
        check_model_fits("glove", vocab_size, g.dim, need, g.max_model_mb, where=where)
        mass = counts.astype(np.float64)
        block_of, _ = assign_blocks(mass, partitions, g.seed)

        def assignment(epoch: int) -> np.ndarray:
            # per_epoch: no two words share every epoch's cells, which brought
            # the final cost at 8 blocks to one replica's (fixed blocks ended
            # 0.7-0.8 % above it), at the price of making the cells every epoch
            # (bench/results/2026-12-04-glove-block-assignment).
            if g.block_assignment == "per_run":
                return block_of
            return assign_blocks(mass, partitions, derive_seed(g.seed, epoch, 1))[0]

        # Cells are cut from entries packed once, every epoch under per_epoch,
        # in the same Python pass that places them on their tasks. The packing
        # is staged, counted, and its rows cached as tuples: a Python function reading
        # another's rows in one task once hung (docs/design.md, "Python over Python").
        packed = staged(pack_entries(entries, g.x_max, g.power))
        try:
            totals = nonempty(packed_totals(packed))
            runs = tuples_of_staged(packed)
        finally:
            packed.unpersist()
        n_entries, health.reference = totals.entries, totals.untrained_cost
        try:
            plan = RotationPlan(
                model="glove", trainer=trainer, blocks=partitions, epochs=g.epochs, seed=g.seed,
                assignment=assignment,
                cells=lambda epoch, shared: runs.mapPartitionsWithIndex(CellsOfPacked(shared, partitions)),
                learning_rate=lambda epoch, sub: (g.learning_rate, g.learning_rate),
                loss_stat="cost", count_stat="entries", work_units="entries", advice=health.advice,
                task_cpus=cfg.spark.task_cpus,
            )  # fmt: skip
            checkpointed = training.resume_blocks(resume)  # sets training.start_epoch
            blocks = train_with_rotation(
                spark, plan, start_epoch=training.start_epoch, state=checkpointed,
                on_epoch_end=training.epoch_end_blocks,
                health=health,
            )  # fmt: skip
        finally:
            runs.unpersist()
        vectors = vector_rows(blocks, g.dim, trainer.in_width, g.output)
        run_id = training.write_rows(
            spark, cfg, vectors, g.dim * (2 if g.output == "concat" else 1), vocab_size, plan.history,
            vocab_version=vocab_version, entries=n_entries,
        )  # fmt: skip
        moved = moved_mb_per_epoch(plan.history)
    else:
        shards = int((tables.latest_metadata(spark, root, "cooccurrence") or {}).get("config", {})
                     .get("cooccur", {}).get("shards", cfg.cooccur.shards))  # fmt: skip
        advice = shard_balance_advice(shards, partitions)
        if advice:
            log.warning("glove: %s", advice)
        words, _, _ = tables.read_vocab_arrays(spark, root, version=vocab_version)
        need = averaging_need
        check_model_fits("glove", vocab_size, g.dim, need, g.max_model_mb, where="the driver")
        data = pack_rounds(stratified_schedule(entries, partitions, g.sync_per_epoch, g.seed), g.x_max, g.power)
        data = data.persist()
        try:
            totals = nonempty(packed_totals(data))
            n_entries, health.reference = totals.entries, totals.untrained_cost
            groups = tuple(gr.params for gr in GROUPS)
            state = training.resume_arrays(resume, init_params(vocab_size, g.dim, g.seed), groups)
            cores = training_cores(spark, cfg.spark.task_cpus)
            task = GloveEpochTask(len(words), g.x_max, g.power, g.learning_rate, g.grad_clip, cores.cpus)
            history = train_with_averaging(
                spark, data, state, GROUPS, task,
                model="glove", epochs=g.epochs, rounds_per_epoch=partitions * g.sync_per_epoch, seed=g.seed,
                num_partitions=partitions, merge="average", start_epoch=training.start_epoch, profile=cores.profile,
                describe=lambda r: f"cost {r.stats['cost'] / max(r.stats['entries'], 1):.5f}",
                on_epoch_end=lambda e, st, hist: training.epoch_end_arrays(e, st, hist, groups),
                health=health, loss_stat="cost", count_stat="entries", work_units="entries",
            )  # fmt: skip
        finally:
            data.unpersist()
        vectors_np = combine_output(state["W"], state["Wc"], g.output)
        run_id = training.write(spark, cfg, words, counts, vectors_np, history, entries=n_entries)
        moved = moved_mb_per_epoch(history)
    seconds = time.perf_counter() - t0
    costs = training.losses
    log.info(
        "glove: %d epochs (%s), final cost %.5f, %d vectors written (%.1f s)",
        g.epochs, distribution, costs[-1] if costs else float("nan"), vocab_size, seconds,
    )  # fmt: skip
    return StageResult(
        "glove", run_id, seconds, rows=vocab_size, work=n_entries * (g.epochs - training.start_epoch),
        unit="entries", stats={"costs": costs, "entries": n_entries, "model_mb_estimate": round(need / 2**20, 1),
                               "distribution": distribution, "moved_mb_per_epoch": moved},
    )  # fmt: skip
