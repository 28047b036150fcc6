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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from pyspark.sql import SparkSession

from embedpipe.config import PipelineConfig
from embedpipe.errors import DivergenceError, ModelTooLargeError
from embedpipe.stage import new_run_id
from embedpipe.train import checkpoint
from embedpipe.vectors import write_vectors

if TYPE_CHECKING:
    from embedpipe.train.averaging import RoundResult

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


def check_finite(state: Mapping[str, np.ndarray], epoch: int, model: str, advice: str, checkpoint_note: str) -> None:
    bad = [name for name, arr in state.items() if not np.isfinite(arr).all()]
    if bad:
        raise DivergenceError(
            f"{model} training diverged in epoch {epoch + 1}: parameters {bad} became NaN or infinite. "
            f"{advice} {checkpoint_note}".strip()
        )


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


def check_model_fits(model: str, vocab_size: int, dim: int, need_bytes: int, budget_mb: int) -> None:
    """Fail before training when the model would not fit ``<model>.max_model_mb``.

    Raises
    ------
    ModelTooLargeError
        With the estimate and the settings that shrink it.
    """
    if need_bytes > budget_mb * 1024 * 1024:
        raise ModelTooLargeError(
            f"{model} with {vocab_size} words × dim {dim} needs about {need_bytes / 2**20:.0f} MB on the driver "
            f"({model}.max_model_mb = {budget_mb}); raise vocab.min_count, set vocab.max_size, "
            f"lower {model}.dim, or raise {model}.max_model_mb and the driver's memory"
        )
    log.info("%s: %d words × dim %d, model estimate %.0f MB", model, vocab_size, dim, need_bytes / 2**20)


def averaging_driver_bytes(vocab_size: int, floats_per_row: int, partitions: int) -> int:
    """Driver memory of parameter averaging: the model (``floats_per_row``
    float32 per word), the replicas' touched rows during a merge (one copy per
    partition), and float64 work space."""
    return vocab_size * floats_per_row * 4 * (3 + partitions)


@dataclass
class Training:
    """One trainer's run: its checkpoint, per-epoch losses and write-out.

    ``loss_stat`` / ``count_stat`` name the per-task statistics whose ratio is
    the epoch's mean loss (skip-gram: ``loss`` / ``pairs``; GloVe: ``cost`` /
    ``entries``); ``series`` names the list of them in the checkpoint and the
    vectors' metadata (``losses``, ``costs``).
    """

    model: str
    fingerprint: str
    checkpoint_dir: str
    loss_stat: str
    count_stat: str
    series: str
    start_epoch: int = 0
    losses: list[float] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        model: str,
        output_path: str,
        fingerprint: str,
        state: dict[str, np.ndarray],
        *,
        resume: bool,
        loss_stat: str,
        count_stat: str,
        series: str,
    ) -> tuple[Training, dict[str, np.ndarray]]:
        """A new run, or with ``resume`` the one its checkpoint left off: (run, state to train)."""
        ckpt_dir = checkpoint.checkpoint_dir(output_path, model)
        run = cls(model, fingerprint, ckpt_dir, loss_stat, count_stat, series)
        if not resume:
            return run, state
        ck = checkpoint.load(run.checkpoint_dir, fingerprint)
        if ck is None:
            log.info("%s: no matching checkpoint in %s; starting from scratch", model, run.checkpoint_dir)
            return run, state
        run.start_epoch, run.losses = ck.epoch + 1, list(ck.info.get(series, []))
        log.info("%s: resuming after epoch %d from %s", model, run.start_epoch, run.checkpoint_dir)
        return run, ck.state

    def epoch_end(self, epoch: int, state: dict[str, np.ndarray], history: Sequence[RoundResult]) -> None:
        """Record the epoch's mean loss and checkpoint the model."""
        rounds = [h for h in history if h.epoch == epoch]
        total = sum(h.stats[self.loss_stat] for h in rounds)
        self.losses.append(total / max(sum(h.stats[self.count_stat] for h in rounds), 1))
        checkpoint.save(self.checkpoint_dir, epoch, state, {"fingerprint": self.fingerprint, self.series: self.losses})

    def checkpoint_note(self) -> str:
        return checkpoint.describe(self.checkpoint_dir)

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
        meta = {
            "config": cfg.to_dict(),
            "corpus_fingerprint": self.fingerprint,
            self.series: self.losses,
            "train_seconds": round(sum(h.seconds for h in history), 2),
            **metadata,
        }
        write_vectors(
            spark, cfg.output.path, model=self.model, run_id=run_id, words=words, counts=counts, matrix=matrix,
            metadata=meta,
        )  # fmt: skip
        return run_id
