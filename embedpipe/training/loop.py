"""The parts of training that both trainers and both distributions share.

A trainer hands the engine its parameter groups, a kernel and a learning-rate
schedule; this module holds what surrounds them: the parameter groups' type,
what a task knows of its round, the health check, progress lines, the memory
estimate, resume from a checkpoint, the epoch-end checkpoint and the write-out
of the vectors.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from embedpipe import tables
from embedpipe.config import PipelineConfig
from embedpipe.errors import DivergenceError, ModelTooLargeError
from embedpipe.stage import new_run_id
from embedpipe.training import checkpoint
from embedpipe.vectors.table import write_vector_rows, write_vectors

if TYPE_CHECKING:
    from embedpipe.training.averaging import RoundResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ParamGroup:
    """Parameters whose rows share one touch count (e.g. W, its bias and AdaGrad state)."""

    name: str
    params: tuple[str, ...]


@dataclass(frozen=True)
class RoundInfo:
    """What a partition knows about the round it trains (all plain data)."""

    epoch: int
    round: int
    rounds_per_epoch: int
    epochs: int
    num_partitions: int
    seed: int
    extra: Mapping[str, float] = field(default_factory=dict)

    def task_seed(self, partition: int) -> int:
        """Deterministic seed from (seed, partition, epoch, round)."""
        ss = np.random.SeedSequence([self.seed & 0xFFFFFFFF, partition, self.epoch, self.round])
        return int(ss.generate_state(1, dtype=np.uint64)[0] & 0x7FFFFFFFFFFFFFFF)


# A loss this many times its first value has run away: a healthy run's loss falls.
RUNAWAY_FACTOR = 10.0
# Epochs in a row whose mean loss rose, by RISING_MARGIN in all: a healthy run's
# may rise once, not this often and this much.
RISING_EPOCHS = 3
# Skip-gram's sampled loss creeps up in late epochs of a healthy run (wiki17m,
# one replica: 2.150, 2.151, 2.168, 2.203, a 2.5 % rise over three epochs), so
# a rise only counts when it is this large a fraction of where it started.
RISING_MARGIN = 0.2


@dataclass
class Health:
    """The run's health check, after every round or sub-epoch.

    It stops training with :class:`~embedpipe.errors.DivergenceError` when a
    parameter became NaN or infinite (the task's ``nonfinite`` statistic), or
    when the loss ran away: above :data:`RUNAWAY_FACTOR` × its first value or
    × ``reference`` (the loss of the untrained model, which catches a run that
    blows up within its first round), or rising for :data:`RISING_EPOCHS`
    epochs in a row by more than :data:`RISING_MARGIN` in all. The message gives the trainer's advice and says where
    the last good checkpoint is.
    """

    advice: str
    checkpoint_note: Callable[[], str]
    reference: float | None = None
    first: float | None = None
    epoch_means: list[float] = field(default_factory=list)
    model: str = "training"

    def _fail(self, model: str, epoch: int, what: str) -> DivergenceError:
        return DivergenceError(
            f"{model} training diverged in epoch {epoch + 1}: {what}. {self.advice} {self.checkpoint_note()}".strip()
        )

    def check(self, model: str, epoch: int, stats: Mapping[str, float], loss_stat: str, count_stat: str) -> float:
        """The step's mean loss, after checking it; raises when training went wrong."""
        self.model = model
        loss = stats.get(loss_stat, 0.0) / max(stats.get(count_stat, 0.0), 1.0)
        if stats.get("nonfinite", 0.0) > 0 or not math.isfinite(loss):
            raise self._fail(model, epoch, "parameters became NaN or infinite")
        if stats.get(count_stat, 0.0) <= 0:
            return loss
        if self.reference and loss > RUNAWAY_FACTOR * self.reference:
            raise self._fail(
                model, epoch, f"the loss ran away to {loss:.4g}, {loss / self.reference:.0f}× the untrained model's "
                f"{self.reference:.4g}"
            )
        if self.first is None:
            self.first = loss
        elif loss > RUNAWAY_FACTOR * self.first:
            raise self._fail(
                model, epoch, f"the loss ran away to {loss:.4g}, {loss / max(self.first, 1e-300):.0f}× its first value "
                f"{self.first:.4g}"
            )
        return loss

    def epoch_done(self, losses: Sequence[float]) -> None:
        """Record an epoch's mean loss; raises when it rose for RISING_EPOCHS
        epochs in a row, by more than RISING_MARGIN of where the rise began."""
        if not losses:
            return
        self.epoch_means.append(float(np.mean(losses)))
        recent = self.epoch_means[-(RISING_EPOCHS + 1) :]
        rising = len(recent) == RISING_EPOCHS + 1 and all(b > a for a, b in zip(recent, recent[1:], strict=False))
        if rising and recent[-1] > (1.0 + RISING_MARGIN) * recent[0]:
            raise self._fail(
                self.model, len(self.epoch_means) - 1,
                f"the loss rose for {RISING_EPOCHS} epochs in a row ({', '.join(f'{x:.4g}' for x in recent)})",
            )  # fmt: skip


def moved_mb_per_epoch(history: Sequence[Any]) -> float:
    """Model and data megabytes moved per trained epoch: through the driver
    (averaging) or the shuffle (rotation), from each round's ``moved_bytes``."""
    epochs = len({h.epoch for h in history})
    return round(sum(h.stats.get("moved_bytes", 0.0) for h in history) / max(epochs, 1) / 2**20, 1)


def format_duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{(s % 3600) // 60:02d}:{s % 60:02d}"


def format_rate(x: float) -> str:
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e3:
        return f"{x / 1e3:.1f}k"
    return f"{x:.0f}"




# ---------------------------------------------------------------------------
# what both trainers do around training


def check_model_fits(
    model: str, vocab_size: int, dim: int, need_bytes: int, budget_mb: int, *, where: str = "the driver"
) -> None:
    """Fail before training when the model would not fit ``<model>.max_model_mb``.

    Raises
    ------
    ModelTooLargeError
        With the estimate and the settings that shrink it.
    """
    if need_bytes > budget_mb * 1024 * 1024:
        raise ModelTooLargeError(
            f"{model} with {vocab_size} words × dim {dim} needs about {need_bytes / 2**20:.0f} MB in {where} "
            f"({model}.max_model_mb = {budget_mb}); "
            + (
                "run more tasks at once (more executors or cores: each task holds its share of the blocks), "
                if where.startswith("each of")
                else f"use {model}.distribution: rotation (the model in blocks on the executors), "
            )
            + f"raise vocab.min_count, set vocab.max_size, lower {model}.dim, or raise {model}.max_model_mb "
            "and the memory behind it"
        )
    log.info("%s: %d words × dim %d, %.0f MB in %s", model, vocab_size, dim, need_bytes / 2**20, where)


def block_task_bytes(vocab_size: int, floats_per_word: int, blocks: int, tasks: int) -> int:
    """One rotation task's model memory: the input and output blocks it holds
    (``ceil(blocks / tasks)`` of each; ``floats_per_word`` float32 over both
    sides, 1/``blocks`` of the words per block, with a fifth for uneven
    blocks), held twice while a step hands them over."""
    per_block = -(-vocab_size // blocks) * 6 // 5
    held = -(-blocks // max(1, min(tasks, blocks)))
    return 2 * held * per_block * floats_per_word * 4


def averaging_driver_bytes(vocab_size: int, floats_per_row: int, partitions: int) -> int:
    """Driver memory of parameter averaging: the model (``floats_per_row``
    float32 per word), the replicas' touched rows during a merge (one copy per
    partition), and float64 work space."""
    return vocab_size * floats_per_row * 4 * (3 + partitions)


@dataclass
class Training:
    """One trainer's run: resume, per-epoch losses, the epoch-end checkpoint, write-out.

    ``loss_stat`` / ``count_stat`` name the per-task statistics whose ratio is
    the mean loss (skip-gram: ``loss`` / ``pairs``; GloVe: ``cost`` /
    ``entries``); ``series`` names the list of epoch losses in the checkpoint
    and the vectors' metadata (``losses``, ``costs``). Checkpoints are tables
    under ``output.path`` (:mod:`embedpipe.training.checkpoint`) in both
    distributions.
    """

    spark: SparkSession
    model: str
    output_path: str
    fingerprint: str
    loss_stat: str
    count_stat: str
    series: str
    epochs: int = 0  # the run's; its last epoch is always checkpointed
    checkpoint_seconds: float = 0.0  # least seconds between checkpoints (output.checkpoint_seconds)
    start_epoch: int = 0
    losses: list[float] = field(default_factory=list)
    _checkpointed_at: float = field(default_factory=time.monotonic, repr=False)

    def resume_blocks(self, resume: bool) -> DataFrame | None:
        """With ``resume``, the checkpoint's blocks (and the epoch to go on from); else None."""
        if not resume:
            return None
        got = checkpoint.load_blocks(self.spark, self.output_path, self.model, self.fingerprint)
        if got is None:
            log.info("%s: no matching checkpoint under %s; starting from scratch", self.model, self.output_path)
            return None
        blocks, info = got
        self.start_epoch, self.losses = int(info["epoch"]) + 1, list(info.get(self.series, []))
        log.info("%s: resuming after epoch %d from its checkpoint", self.model, self.start_epoch)
        return blocks

    def resume_arrays(
        self, resume: bool, fresh: dict[str, np.ndarray], groups: Sequence[tuple[str, ...]]
    ) -> dict[str, np.ndarray]:
        """Averaging: the model to train, from the checkpoint with ``resume``, else ``fresh``."""
        blocks = self.resume_blocks(resume)
        return fresh if blocks is None else checkpoint.arrays_of_blocks(blocks, fresh, groups)

    def _info(self, epoch: int) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "epoch": epoch, self.series: self.losses}

    def epoch_end_arrays(
        self,
        epoch: int,
        state: dict[str, np.ndarray],
        history: Sequence[RoundResult],
        groups: Sequence[tuple[str, ...]],
    ) -> None:
        """Averaging: record the epoch's mean loss, and checkpoint the driver's model
        after the run's last epoch or once ``checkpoint_seconds`` have passed since the last checkpoint.

        A checkpoint is a Delta commit of the whole model (about 1.2 s for the
        demo's 18,944 words, against 4.6 s an epoch), so small models train
        several epochs between two; a killed run resumes from the last one
        and trains the epochs since again, to the same vectors.
        """
        rounds = [h for h in history if h.epoch == epoch]
        total = sum(h.stats[self.loss_stat] for h in rounds)
        self.losses.append(total / max(sum(h.stats[self.count_stat] for h in rounds), 1))
        if not self._checkpoint_due(epoch):
            return
        blocks = checkpoint.blocks_of_arrays(self.spark, state, groups)
        checkpoint.save_blocks(blocks, self.output_path, self.model, self._info(epoch))
        self._checkpointed_at = time.monotonic()

    def epoch_end_blocks(self, epoch: int, blocks: DataFrame, sub_losses: Sequence[float]) -> DataFrame | None:
        """Rotation: record the epoch's mean loss, and checkpoint the blocks when
        averaging would (:meth:`epoch_end_arrays`); the blocks read back from the
        checkpoint, or None when none was due and the engine goes on from the
        blocks its tasks hold."""
        self.losses.append(float(np.mean(sub_losses)) if len(sub_losses) else float("nan"))
        if not self._checkpoint_due(epoch):
            return None
        saved = checkpoint.save_blocks(blocks, self.output_path, self.model, self._info(epoch))
        self._checkpointed_at = time.monotonic()
        return saved

    def _checkpoint_due(self, epoch: int) -> bool:
        """After the run's last epoch always; otherwise once ``checkpoint_seconds`` have passed since the last."""
        final = epoch == self.epochs - 1
        return final or time.monotonic() - self._checkpointed_at >= self.checkpoint_seconds

    def checkpoint_note(self) -> str:
        return checkpoint.describe_blocks(self.spark, self.output_path, self.model, self.fingerprint)

    def write_rows(
        self,
        spark: SparkSession,
        cfg: PipelineConfig,
        vectors: DataFrame,
        dim: int,
        vocab_size: int,
        history: Sequence[Any],
        *,
        vocab_version: int,
        **metadata: Any,
    ) -> str:
        """Write vectors made on the executors (``id, vector``) as this model's rows
        of ``vectors``, named by the vocab at ``vocab_version``; the run id."""
        run_id = new_run_id()
        vocab = tables.read(spark, cfg.output.path, "vocab", version=vocab_version).select("id", "word", "count")
        rows = vectors.join(vocab, "id").select(
            F.lit(self.model).alias("model"), F.lit(run_id).alias("run_id"), "word", "id", "vector", "count"
        )
        write_vector_rows(spark, cfg.output.path, rows, model=self.model, run_id=run_id, dim=dim,
                          vocab_size=vocab_size, metadata=self._metadata(cfg, history, metadata))  # fmt: skip
        return run_id

    def _metadata(self, cfg: PipelineConfig, history: Sequence[Any], extra: dict[str, Any]) -> dict[str, Any]:
        return {
            "config": cfg.to_dict(),
            "corpus_fingerprint": self.fingerprint,
            self.series: self.losses,
            "train_seconds": round(sum(h.seconds for h in history), 2),
            **extra,
        }

    def write(
        self,
        spark: SparkSession,
        cfg: PipelineConfig,
        words: list[str],
        counts: np.ndarray,
        matrix: np.ndarray,
        history: Sequence[RoundResult],
        **metadata: Any,
    ) -> str:
        """Write the trained vectors as this model's rows of ``vectors``; the run id."""
        run_id = new_run_id()
        write_vectors(
            spark, cfg.output.path, model=self.model, run_id=run_id, words=words, counts=counts, matrix=matrix,
            metadata=self._metadata(cfg, history, metadata),
        )  # fmt: skip
        return run_id
