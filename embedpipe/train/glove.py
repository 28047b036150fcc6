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
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from pyspark.sql import SparkSession

from embedpipe import tables
from embedpipe.config import PipelineConfig
from embedpipe.kernels.glove import combine_output, glove_epoch, init_params, shuffled_order
from embedpipe.stage import StageResult, fingerprint
from embedpipe.train.averaging import train_with_averaging
from embedpipe.train.loop import ParamGroup, RoundInfo, Training, averaging_driver_bytes, check_model_fits
from embedpipe.train.schedule import shard_balance_advice, stratified_schedule

log = logging.getLogger(__name__)

GROUPS = (
    ParamGroup("word", ("W", "b", "gW", "gb")),
    ParamGroup("context", ("Wc", "bc", "gWc", "gbc")),
)


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


def run(spark: SparkSession, cfg: PipelineConfig, *, resume: bool = False) -> StageResult:
    """GloVe stage: train and write the ``glove`` vectors.

    Raises
    ------
    ModelTooLargeError
        The estimated model memory exceeds ``glove.max_model_mb``.
    DivergenceError
        Parameters became NaN or infinite.
    """
    t0 = time.perf_counter()
    g, root, partitions = cfg.glove, cfg.output.path, cfg.spark.partitions
    # The co-occurrence ids must index the vocab the vectors are named by.
    vocab_version = tables.vocab_version_of(spark, root, "cooccurrence")
    words, counts, _ = tables.read_vocab_arrays(spark, root, version=vocab_version)
    # Parameters and AdaGrad state of both sides: 4 arrays of (dim + 1) floats per word.
    need = averaging_driver_bytes(len(words), 4 * (g.dim + 1), partitions)
    check_model_fits("glove", len(words), g.dim, need, g.max_model_mb)

    co_version = tables.current_version(spark, root, "cooccurrence")
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
    data = stratified_schedule(tables.read(spark, root, "cooccurrence"), partitions, g.sync_per_epoch, g.seed)
    data = data.persist()
    try:
        n_entries = data.count()
        if n_entries == 0:
            raise ValueError("the cooccurrence table is empty; re-run the cooccur stage on a larger corpus")
        training, state = Training.start(
            "glove", root, fp, init_params(len(words), g.dim, g.seed),
            resume=resume, loss_stat="cost", count_stat="entries", series="costs",
        )  # fmt: skip
        history = train_with_averaging(
            spark, data, state, GROUPS, GloveEpochTask(len(words), g.x_max, g.power, g.learning_rate, g.grad_clip),
            model="glove", epochs=g.epochs, rounds_per_epoch=partitions * g.sync_per_epoch, seed=g.seed,
            num_partitions=partitions, merge="average", start_epoch=training.start_epoch,
            describe=lambda r: f"cost {r.stats['cost'] / max(r.stats['entries'], 1):.5f}",
            on_epoch_end=training.epoch_end,
            divergence_advice=(
                f"Lower glove.learning_rate (now {g.learning_rate}) or glove.x_max (now {g.x_max}), "
                f"or keep glove.grad_clip (now {g.grad_clip}) near glove.c's default of 100."
            ),
            checkpoint_note=training.checkpoint_note, work_units="entries",
        )  # fmt: skip
    finally:
        data.unpersist()
    vectors = combine_output(state["W"], state["Wc"], g.output)
    run_id = training.write(spark, cfg, words, counts, vectors, history, entries=n_entries)
    seconds = time.perf_counter() - t0
    costs = training.losses
    log.info(
        "glove: %d epochs, final cost %.5f, %d vectors written (%.1f s)",
        g.epochs, costs[-1] if costs else float("nan"), len(words), seconds,
    )  # fmt: skip
    return StageResult(
        "glove", run_id, seconds, rows=len(words), words=n_entries * (g.epochs - training.start_epoch),
        stats={"costs": costs, "entries": n_entries, "model_mb_estimate": round(need / 2**20, 1)},
    )  # fmt: skip
