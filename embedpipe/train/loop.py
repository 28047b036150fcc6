"""The parts of training that both trainers and both distributions share.

A trainer hands the engine its parameter groups, a kernel and a learning-rate
schedule; this module holds what surrounds them: the parameter groups' type,
what a task knows of its round, the health check, progress lines, the memory
estimate, resume from a checkpoint, the epoch-end checkpoint and the write-out
of the vectors.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from embedpipe.errors import DivergenceError


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


